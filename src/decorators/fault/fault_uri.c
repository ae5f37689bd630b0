/* fault_uri.c - opening a fault device by URI.
 *
 *   fault:?inner=<percent-encoded URI>[&fail=OPS][&errno=E][&every=N]
 *         [&after=N][&at=N][&from=S][&to=S][&delay=OPS][&delay-us=U]
 *         [&delay-every=N]
 *
 * The inner device is a whole URI given as the value of `inner`, so its
 * own query cannot be confused with ours; it must have its '&' and '%'
 * percent-encoded (%26, %25). OPS is a comma-separated list of read,
 * write, flush, discard, write_zeroes, any. This makes at most two rules:
 * a failing one (fail/errno/every/after/at) and a delaying one
 * (delay/delay-us/delay-every), both limited to [from, to). docs/decorators/fault.md.
 */
#include <errno.h>
#include <string.h>

#include <mblk/backend.h>
#include <mblk/fault.h>
#include <stdlib.h>
#include "errnames.h"

static int fault_parse_ops(struct mblk_uri *u, const char *key, const char *v,
			   unsigned *ops)
{
	*ops = 0;
	const char *p = v;
	while (*p) {
		size_t n = strcspn(p, ",");
		bool found = false;
		if (n == 3 && strncmp(p, "any", 3) == 0) {
			*ops |= MBLK_FAULT_ANY;
			found = true;
		}
		for (int i = 0; i < MBLK__FAULT_NBITS && !found; i++) {
			const char *name = mblk_op_name(mblk__fault_bit_op[i]);
			/* write_zeroes may be written write-zeroes. */
			bool same = strlen(name) == n;
			for (size_t c = 0; same && c < n; c++)
				same = name[c] == p[c] ||
				       (name[c] == '_' && p[c] == '-');
			if (same) {
				*ops |= 1u << i;
				found = true;
			}
		}
		if (!found)
			return mblk_set_error(-EINVAL,
					      "%s=%s in URI '%s': '%.*s' is not "
					      "an operation; use read, write, "
					      "flush, discard, write_zeroes or "
					      "any, separated by commas",
					      key, v, mblk_uri_text(u), (int)n,
					      p);
		p += n;
		if (*p == ',')
			p++;
	}
	if (*ops == 0)
		return mblk_set_error(-EINVAL,
				      "%s= in URI '%s' names no "
				      "operation",
				      key, mblk_uri_text(u));
	return 0;
}

/* The inner device is opening; the rules wait here. */
struct fault_open {
	struct mblk_open_req *req;
	struct mblk_fault_rule rules[2];
	int n;
};

static void fault_inner_opened(void *data, int status, mblk_dev *in,
			       const char *error)
{
	struct fault_open *fo = data;
	struct mblk_open_req *req = fo->req;
	mblk_dev *dev;
	if (status < 0) {
		mblk_open_fail(req, status, "%s", error);
	} else if ((status = mblk_fault_wrap(in, fo->rules, fo->n, &dev)) < 0) {
		mblk_close(in, NULL, NULL);
		mblk_open_fail_last(req, status);
	} else {
		mblk_open_done(req, dev);
	}
	free(fo);
}

/* Reads the keys and starts opening the inner device; returns -errno
 * with the sentence in mblk_last_error when it cannot. */
static int fault_open_start(struct mblk_open_req *req, struct mblk_uri *u)
{
	struct mblk_fault_rule fail = { 0 }, delay = { 0 };
	uint64_t from = 0, to = 0;
	int r;

	const char *inner = mblk_uri_get(u, "inner");
	const char *fail_ops = mblk_uri_get(u, "fail");
	const char *err = mblk_uri_get(u, "errno");
	const char *delay_ops = mblk_uri_get(u, "delay");
	bool have_delay = mblk_uri_get(u, "delay-us") != NULL;

	if ((r = mblk_uri_get_uint(u, "every", &fail.every)) < 0 ||
	    (r = mblk_uri_get_uint(u, "after", &fail.after)) < 0 ||
	    (r = mblk_uri_get_uint(u, "at", &fail.at)) < 0 ||
	    (r = mblk_uri_get_uint(u, "from", &from)) < 0 ||
	    (r = mblk_uri_get_uint(u, "to", &to)) < 0 ||
	    (r = mblk_uri_get_uint(u, "delay-us", &delay.delay_us)) < 0 ||
	    (r = mblk_uri_get_uint(u, "delay-every", &delay.every)) < 0 ||
	    (r = mblk_uri_finish(u)) < 0)
		return r;
	if (mblk_uri_path(u)[0] != '\0' || inner == NULL || *inner == '\0')
		return mblk_set_error(-EINVAL,
				      "URI '%s': write the device to wrap as "
				      "fault:?inner=[URI]&... (the URI in "
				      "brackets, as it is)",
				      mblk_uri_text(u));
	if (to != 0 && to <= from)
		return mblk_set_error(-EINVAL,
				      "URI '%s': from=%llu to=%llu is an empty "
				      "range",
				      mblk_uri_text(u),
				      (unsigned long long)from,
				      (unsigned long long)to);

	struct mblk_fault_rule rules[2];
	int n = 0;
	if (fail_ops != NULL || err != NULL) {
		fail.ops = MBLK_FAULT_ANY;
		if (fail_ops != NULL &&
		    (r = fault_parse_ops(u, "fail", fail_ops, &fail.ops)) < 0)
			return r;
		fail.error = EIO;
		if (err != NULL && (fail.error = mblk__errno_parse(err)) < 0)
			return mblk_set_error(-EINVAL,
					      "errno=%s in URI '%s': not an "
					      "errno name (EIO, ENOSPC, ...) or "
					      "number",
					      err, mblk_uri_text(u));
		fail.from = from;
		fail.to = to;
		rules[n++] = fail;
	} else if (fail.every || fail.after || fail.at) {
		return mblk_set_error(-EINVAL,
				      "URI '%s': every/after/at need fail=OPS "
				      "(or errno=E)",
				      mblk_uri_text(u));
	}
	if (have_delay || delay_ops != NULL) {
		if (!have_delay)
			return mblk_set_error(-EINVAL,
					      "URI '%s': delay=OPS needs "
					      "delay-us=MICROSECONDS",
					      mblk_uri_text(u));
		delay.ops = MBLK_FAULT_ANY;
		if (delay_ops != NULL &&
		    (r = fault_parse_ops(u, "delay", delay_ops, &delay.ops)) <
			    0)
			return r;
		delay.from = from;
		delay.to = to;
		rules[n++] = delay;
	}

	struct fault_open *fo = calloc(1, sizeof(*fo));
	if (fo == NULL)
		return mblk_set_error(-ENOMEM, "fault: no memory");
	fo->req = req;
	fo->n = n;
	for (int i = 0; i < n; i++)
		fo->rules[i] = rules[i];
	r = mblk_open(mblk_open_req_loop(req), inner,
		      mblk_open_req_flags(req) | MBLK_OPEN_NO_SAFE,
		      fault_inner_opened, fo);
	if (r < 0)
		free(fo);
	return r;
}

static void fault_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	int r = fault_open_start(req, u);
	if (r < 0)
		mblk_open_fail_last(req, r);
}

static const struct mblk_uri_key fault_keys[] = {
	{ "inner", "URI", "the device to wrap (required), best in brackets" },
	{ "fail", "OPS",
	  "fail these operations: read, write, flush, discard, "
	  "write_zeroes, any (comma-separated)" },
	{ "errno", "name|number", "the error to fail with (default EIO)" },
	{ "every", "number", "fail every Nth matching request" },
	{ "after", "number", "let the first N matching requests pass" },
	{ "at", "number", "fail only the Nth matching request" },
	{ "from", "sector", "match requests touching sectors from here" },
	{ "to", "sector", "... up to here (exclusive; default the end)" },
	{ "delay", "OPS", "delay these operations" },
	{ "delay-us", "number", "by this many microseconds" },
	{ "delay-every", "number", "delay every Nth matching request" },
	{ NULL, NULL, NULL },
};

const struct mblk_scheme mblk__scheme_fault = {
	.name = "fault",
	.syntax = "fault:?inner=[URI][&fail=OPS][&errno=E][&every=N]...",
	.summary = "fail or delay chosen requests of another device, to test "
		   "what is stacked on it",
	.keys = fault_keys,
	.open = fault_open_uri,
};
