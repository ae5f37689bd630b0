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
#include "../../core/core.h"
#include "../../core/uri.h"
#include "errnames.h"

static int fault_parse_ops(struct mblk__uri *u, const char *key, const char *v,
			   unsigned *ops)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "read", MBLK_FAULT_READ },
		{ "write", MBLK_FAULT_WRITE },
		{ "flush", MBLK_FAULT_FLUSH },
		{ "discard", MBLK_FAULT_DISCARD },
		{ "write_zeroes", MBLK_FAULT_WRITE_ZEROES },
		{ "write-zeroes", MBLK_FAULT_WRITE_ZEROES },
		{ "any", MBLK_FAULT_ANY },
	};
	*ops = 0;
	const char *p = v;
	while (*p) {
		size_t n = strcspn(p, ",");
		bool found = false;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    strncmp(names[i].name, p, n) == 0) {
				*ops |= names[i].bit;
				found = true;
			}
		if (!found)
			return mblk_set_error(-EINVAL,
					      "%s=%s in URI '%s': '%.*s' is not "
					      "an operation; use read, write, "
					      "flush, discard, write_zeroes or "
					      "any, separated by commas",
					      key, v, u->text, (int)n, p);
		p += n;
		if (*p == ',')
			p++;
	}
	if (*ops == 0)
		return mblk_set_error(-EINVAL,
				      "%s= in URI '%s' names no "
				      "operation",
				      key, u->text);
	return 0;
}

int mblk__open_fault_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
			 mblk_dev **devp)
{
	struct mblk_fault_rule fail = { 0 }, delay = { 0 };
	uint64_t from = 0, to = 0;
	int r;

	const char *inner = mblk__uri_get(u, "inner");
	const char *fail_ops = mblk__uri_get(u, "fail");
	const char *err = mblk__uri_get(u, "errno");
	const char *delay_ops = mblk__uri_get(u, "delay");
	bool have_delay = mblk__uri_get(u, "delay-us") != NULL;

	if ((r = mblk__uri_get_uint(u, "every", &fail.every)) < 0 ||
	    (r = mblk__uri_get_uint(u, "after", &fail.after)) < 0 ||
	    (r = mblk__uri_get_uint(u, "at", &fail.at)) < 0 ||
	    (r = mblk__uri_get_uint(u, "from", &from)) < 0 ||
	    (r = mblk__uri_get_uint(u, "to", &to)) < 0 ||
	    (r = mblk__uri_get_uint(u, "delay-us", &delay.delay_us)) < 0 ||
	    (r = mblk__uri_get_uint(u, "delay-every", &delay.every)) < 0 ||
	    (r = mblk__uri_finish(u,
				  "inner, fail, errno, every, after, at, "
				  "from, to, delay, delay-us, delay-every")) <
		    0)
		return r;
	if (u->path[0] != '\0' || inner == NULL || *inner == '\0')
		return mblk_set_error(-EINVAL,
				      "URI '%s': write the device to wrap as "
				      "fault:?inner=<URI>&... (with '&' in it "
				      "written %%26)",
				      u->text);
	if (to != 0 && to <= from)
		return mblk_set_error(-EINVAL,
				      "URI '%s': from=%llu to=%llu is an empty "
				      "range",
				      u->text, (unsigned long long)from,
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
					      err, u->text);
		fail.from = from;
		fail.to = to;
		rules[n++] = fail;
	} else if (fail.every || fail.after || fail.at) {
		return mblk_set_error(-EINVAL,
				      "URI '%s': every/after/at need fail=OPS "
				      "(or errno=E)",
				      u->text);
	}
	if (have_delay || delay_ops != NULL) {
		if (!have_delay)
			return mblk_set_error(-EINVAL,
					      "URI '%s': delay=OPS needs "
					      "delay-us=MICROSECONDS",
					      u->text);
		delay.ops = MBLK_FAULT_ANY;
		if (delay_ops != NULL &&
		    (r = fault_parse_ops(u, "delay", delay_ops, &delay.ops)) <
			    0)
			return r;
		delay.from = from;
		delay.to = to;
		rules[n++] = delay;
	}

	mblk_dev *in;
	r = mblk_open(loop, inner, flags | MBLK_OPEN_NO_SAFE, &in);
	if (r < 0)
		return r;
	r = mblk_fault_wrap(in, rules, n, devp);
	if (r < 0)
		mblk_close(in, NULL, NULL);
	return r;
}
