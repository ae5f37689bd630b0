/* fault.c - the fault-injection decorator: fail or delay chosen requests.
 *
 * Design notes
 *
 * A fault device has one child (the inner device) and up to
 * MBLK_FAULT_MAX_RULES rules (mblk/fault.h). Every read, write, flush,
 * discard and write_zeroes is tested against the rules when it arrives;
 * the decision (delay until when, fail with what) is made then, once, and
 * stored in the request's context, so replacing the rules later never
 * changes what happens to a request already waiting.
 *
 * Delays use ONE uv_timer per device, never a handle per request
 * (handles need an asynchronous close, which a request cannot wait for).
 * Delayed requests sit in a list sorted by deadline (in uv_hrtime
 * nanoseconds); the timer is armed for the head. Insertion walks from the
 * tail because requests delayed by the same rule arrive in deadline
 * order, which makes the common case O(1). When the timer fires, every
 * request whose deadline has passed leaves the list in order and is
 * failed or forwarded; the timer is re-armed for the next one.
 *
 * Lifetime: the core disconnects a device only when no request is in
 * flight, so the list is empty by then; destroy closes the timer, whose
 * close callback frees the state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>
#include <mblk/fault.h>

#include "errnames.h"

struct fault {
	struct mblk_fault_rule rules[MBLK_FAULT_MAX_RULES];
	uint64_t counts[MBLK_FAULT_MAX_RULES]; /* matches per rule */
	int nrules;
	struct mblk_fault_stats stats;
	uv_timer_t timer;
	mblk_dev *dev;
	/* Delayed requests, sorted by deadline. */
	struct fault_ctx *head, *tail;
};

/* Per-request decision and list links. */
struct fault_ctx {
	struct fault_ctx *prev, *next;
	mblk_req *req;
	uint64_t deadline; /* uv_hrtime() ns */
	int error;         /* > 0: fail with -error */
	int rule;          /* the rule that failed it (1-based), for the text */
	uint64_t n;        /* that rule's match number */
};

static unsigned fault_op_bit(enum mblk_op op)
{
	switch (op) {
	case MBLK_OP_READ: return MBLK_FAULT_READ;
	case MBLK_OP_WRITE: return MBLK_FAULT_WRITE;
	case MBLK_OP_FLUSH: return MBLK_FAULT_FLUSH;
	case MBLK_OP_DISCARD: return MBLK_FAULT_DISCARD;
	case MBLK_OP_WRITE_ZEROES: return MBLK_FAULT_WRITE_ZEROES;
	default: return 0;
	}
}

static bool fault_matches(const struct mblk_fault_rule *r, const mblk_req *req)
{
	if (!(r->ops & fault_op_bit(req->op)))
		return false;
	if (req->op == MBLK_OP_FLUSH)
		return true;
	uint64_t end = req->sector + req->count;
	uint64_t to = r->to ? r->to : UINT64_MAX;
	/* An empty request touches the sector it starts at. */
	if (req->count == 0)
		return req->sector >= r->from && req->sector < to;
	return req->sector < to && end > r->from;
}

static bool fault_fires(const struct mblk_fault_rule *r, uint64_t n)
{
	if (r->every > 0 && n % r->every != 0)
		return false;
	if (r->after > 0 && n <= r->after)
		return false;
	if (r->at > 0 && n != r->at)
		return false;
	return true;
}

static void fault_run(struct fault *f, struct fault_ctx *c)
{
	mblk_req *req = c->req;
	if (c->error > 0) {
		mblk_req_fail(req, -c->error,
			      "fault: injected %s (%s) by rule %d at match %llu",
			      mblk__errno_name(c->error),
			      mblk_strerror(c->error), c->rule,
			      (unsigned long long)c->n);
		return;
	}
	mblk_req_forward(req, mblk_dev_child(f->dev, 0));
}

static void fault_timer_cb(uv_timer_t *t);

static void fault_arm(struct fault *f)
{
	if (f->head == NULL) {
		uv_timer_stop(&f->timer);
		return;
	}
	uint64_t now = uv_hrtime();
	uint64_t ms = 0;
	if (f->head->deadline > now)
		ms = (f->head->deadline - now + 999999) / 1000000;
	uv_timer_start(&f->timer, fault_timer_cb, ms, 0);
}

static void fault_timer_cb(uv_timer_t *t)
{
	struct fault *f = t->data;
	/* Take the due requests off first: running one may submit more. */
	uint64_t now = uv_hrtime() + 500000; /* due within half a tick */
	struct fault_ctx *due = NULL, **dtail = &due;
	while (f->head != NULL && f->head->deadline <= now) {
		struct fault_ctx *c = f->head;
		f->head = c->next;
		if (f->head != NULL)
			f->head->prev = NULL;
		else
			f->tail = NULL;
		c->next = NULL;
		*dtail = c;
		dtail = &c->next;
	}
	fault_arm(f);
	while (due != NULL) {
		struct fault_ctx *c = due;
		due = c->next;
		fault_run(f, c);
	}
}

/* The only op: decide, then run now or queue for the timer. */
static void fault_io(mblk_dev *dev, mblk_req *req)
{
	struct fault *f = mblk_dev_priv(dev);
	struct fault_ctx *c = mblk_req_ctx(req);
	uint64_t delay_us = 0;
	bool matched = false;

	c->req = req;
	c->error = 0;
	c->rule = 0;
	c->n = 0;
	for (int i = 0; i < f->nrules; i++) {
		const struct mblk_fault_rule *r = &f->rules[i];
		if (!fault_matches(r, req))
			continue;
		matched = true;
		uint64_t n = ++f->counts[i];
		if (!fault_fires(r, n))
			continue;
		if (r->delay_us > delay_us)
			delay_us = r->delay_us;
		if (c->error == 0 && r->error > 0) {
			c->error = r->error;
			c->rule = i + 1;
			c->n = n;
		}
	}
	if (matched)
		f->stats.matched++;
	if (c->error > 0)
		f->stats.failed++;
	if (delay_us == 0) {
		fault_run(f, c);
		return;
	}
	f->stats.delayed++;
	c->deadline = uv_hrtime() + delay_us * 1000;
	/* Sorted insert from the tail. */
	struct fault_ctx *p = f->tail;
	while (p != NULL && p->deadline > c->deadline)
		p = p->prev;
	c->prev = p;
	c->next = p ? p->next : f->head;
	if (c->next != NULL)
		c->next->prev = c;
	else
		f->tail = c;
	if (p != NULL)
		p->next = c;
	else
		f->head = c;
	if (f->head == c)
		fault_arm(f);
}

static void fault_get_info(mblk_dev *dev, struct mblk_info *info)
{
	mblk_get_info(mblk_dev_child(dev, 0), info);
}

/* Appends the operation names of ops ("read,write") to buf. */
static void fault_ops_names(unsigned ops, char *buf, size_t len)
{
	buf[0] = '\0';
	if (ops == MBLK_FAULT_ANY) {
		snprintf(buf, len, "any");
		return;
	}
	for (int i = 0; i < MBLK__FAULT_NBITS; i++)
		if (ops & (1u << i)) {
			size_t n = strlen(buf);
			snprintf(buf + n, len - n, "%s%s", n ? "," : "",
				 mblk_op_name(mblk__fault_bit_op[i]));
		}
}

/* fault:?inner=<inner URI, '&' and '%' encoded>, then the first failing
 * rule and the first delaying rule as URI keys (the URI form holds at
 * most one of each; the C API can set more). */
static int fault_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	struct fault *f = mblk_dev_priv(dev);
	char in[1024], enc[3072], q[512] = "", ops[64];
	int r = mblk_get_uri(mblk_dev_child(dev, 0), in, sizeof(in));
	if (r < 0)
		return r;
	if (mblk_uri_nest(enc, sizeof(enc), in) < 0)
		return -ENOMEM;
	const struct mblk_fault_rule *fail = NULL, *delay = NULL;
	for (int i = 0; i < f->nrules; i++) {
		if (f->rules[i].error > 0 && fail == NULL)
			fail = &f->rules[i];
		else if (f->rules[i].error == 0 && f->rules[i].delay_us > 0 &&
			 delay == NULL)
			delay = &f->rules[i];
	}
	const struct mblk_fault_rule *any = fail ? fail : delay;
	size_t n = 0;
	if (fail != NULL) {
		fault_ops_names(fail->ops, ops, sizeof(ops));
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&fail=%s&errno=%s",
				      ops, mblk__errno_name(fail->error));
		if (fail->every)
			n += (size_t)snprintf(q + n, sizeof(q) - n,
					      "&every=%llu",
					      (unsigned long long)fail->every);
		if (fail->after)
			n += (size_t)snprintf(q + n, sizeof(q) - n,
					      "&after=%llu",
					      (unsigned long long)fail->after);
		if (fail->at)
			n += (size_t)snprintf(q + n, sizeof(q) - n, "&at=%llu",
					      (unsigned long long)fail->at);
	}
	if (delay != NULL) {
		fault_ops_names(delay->ops, ops, sizeof(ops));
		n += (size_t)snprintf(q + n, sizeof(q) - n,
				      "&delay=%s&delay-us=%llu", ops,
				      (unsigned long long)delay->delay_us);
		if (delay->every)
			n += (size_t)snprintf(q + n, sizeof(q) - n,
					      "&delay-every=%llu",
					      (unsigned long long)delay->every);
	}
	if (any != NULL && (any->from || any->to))
		n += (size_t)snprintf(q + n, sizeof(q) - n,
				      "&from=%llu&to=%llu",
				      (unsigned long long)any->from,
				      (unsigned long long)any->to);
	(void)n;
	return snprintf(buf, len, "fault:?inner=%s%s", enc, q);
}

static void fault_free(uv_handle_t *h)
{
	free(h->data);
}

static void fault_destroy(mblk_dev *dev)
{
	struct fault *f = mblk_dev_priv(dev);
	uv_close((uv_handle_t *)&f->timer, fault_free);
}

static const struct mblk_dev_ops fault_ops = {
	.kind = "fault",
	.req_ctx_size = sizeof(struct fault_ctx),
	.read = fault_io,
	.write = fault_io,
	.flush = fault_io,
	.discard = fault_io,
	.write_zeroes = fault_io,
	.get_info = fault_get_info,
	.get_uri = fault_get_uri,
	.destroy = fault_destroy,
};

static int fault_check_rules(const struct mblk_fault_rule *rules, int nrules)
{
	if (nrules < 0 || nrules > MBLK_FAULT_MAX_RULES ||
	    (nrules > 0 && rules == NULL))
		return mblk_set_error(-EINVAL,
				      "fault: %d rules (0 to %d, and not NULL)",
				      nrules, MBLK_FAULT_MAX_RULES);
	for (int i = 0; i < nrules; i++) {
		if (rules[i].ops & ~MBLK_FAULT_ANY)
			return mblk_set_error(-EINVAL,
					      "fault: rule %d has unknown "
					      "operation bits 0x%x",
					      i + 1, rules[i].ops);
		if (rules[i].error < 0)
			return mblk_set_error(-EINVAL,
					      "fault: rule %d: error must be a "
					      "positive errno, not %d",
					      i + 1, rules[i].error);
		if (rules[i].to != 0 && rules[i].to <= rules[i].from)
			return mblk_set_error(-EINVAL,
					      "fault: rule %d: empty sector "
					      "range %llu-%llu",
					      i + 1,
					      (unsigned long long)rules[i].from,
					      (unsigned long long)rules[i].to);
	}
	return 0;
}

int mblk_fault_wrap(mblk_dev *inner, const struct mblk_fault_rule *rules,
		    int nrules, mblk_dev **devp)
{
	if (inner == NULL || devp == NULL)
		return mblk_set_error(-EINVAL,
				      "mblk_fault_wrap: inner and devp "
				      "must not be NULL");
	int r = fault_check_rules(rules, nrules);
	if (r < 0)
		return r;
	struct fault *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return mblk_set_error(-ENOMEM, "fault: no memory");
	if (nrules > 0)
		memcpy(f->rules, rules, sizeof(*rules) * (size_t)nrules);
	f->nrules = nrules;
	struct mblk_info info;
	mblk_get_info(inner, &info);
	char name[300];
	snprintf(name, sizeof(name), "fault:%s", mblk_dev_name(inner));
	r = mblk_dev_create(mblk_dev_loop(inner), &fault_ops, f, name, &info,
			    &inner, 1, 0, devp);
	if (r < 0) {
		free(f);
		return r;
	}
	f->dev = *devp;
	uv_timer_init(mblk_dev_loop(inner), &f->timer);
	f->timer.data = f;
	return 0;
}

/* The fault device at or below dev along child 0, or NULL. */
static struct fault *fault_find(mblk_dev *dev)
{
	for (; dev != NULL; dev = mblk_dev_child(dev, 0))
		if (mblk_dev_ops(dev) == &fault_ops)
			return mblk_dev_priv(dev);
	return NULL;
}

int mblk_fault_set_rules(mblk_dev *dev, const struct mblk_fault_rule *rules,
			 int nrules)
{
	struct fault *f = fault_find(dev);
	if (f == NULL)
		return mblk_set_error(-EINVAL, "mblk_fault_set_rules: not a "
					       "fault device");
	int r = fault_check_rules(rules, nrules);
	if (r < 0)
		return r;
	if (nrules > 0)
		memcpy(f->rules, rules, sizeof(*rules) * (size_t)nrules);
	f->nrules = nrules;
	memset(f->counts, 0, sizeof(f->counts));
	memset(&f->stats, 0, sizeof(f->stats));
	return 0;
}

int mblk_fault_get_stats(mblk_dev *dev, struct mblk_fault_stats *stats)
{
	struct fault *f = fault_find(dev);
	if (f == NULL || stats == NULL)
		return mblk_set_error(-EINVAL, "mblk_fault_get_stats: not a "
					       "fault device");
	*stats = f->stats;
	return 0;
}
