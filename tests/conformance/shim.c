/* shim.c - the test decorator described in shim.h.
 *
 * Design notes
 *
 * Every data-path op is forwarded to the child as a new request. With
 * `delay`, the child's completion does not complete the parent: the
 * parent joins a pending list (at its head or its tail, at random, so
 * the order is shuffled) and a zero-timeout timer completes the whole
 * list on the next loop iteration, outside any submission. The shim's
 * in-flight count therefore stays up until then, which is what a
 * disconnect must wait for. The capability mask and the alignment are
 * applied in get_info, so the core's checks (at the shim) and safe's
 * (above it) see them. The random order comes from a fixed-seed
 * generator: runs are reproducible.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>
#include <mblk/safe.h>
#include "shim.h"

struct shim {
	uint32_t caps_mask;
	uint32_t align; /* 0: the child's */
	bool delay;
	uv_timer_t timer;
	mblk_req *head, *tail; /* parents waiting for the timer */
	uint64_t rnd;
};

struct shim_ctx {
	mblk_req *child;
	mblk_req *next;
};

static uint64_t shim_rand(struct shim *sh)
{
	sh->rnd ^= sh->rnd << 13;
	sh->rnd ^= sh->rnd >> 7;
	sh->rnd ^= sh->rnd << 17;
	return sh->rnd;
}

static void shim_finish(mblk_req *parent, mblk_req *child)
{
	mblk_req_done_from(parent, child);
	mblk_req_free(child);
}

static void shim_timer_cb(uv_timer_t *t)
{
	struct shim *sh = t->data;
	mblk_req *r = sh->head;
	sh->head = sh->tail = NULL;
	while (r != NULL) {
		struct shim_ctx *c = mblk_req_ctx(r);
		mblk_req *next = c->next;
		shim_finish(r, c->child);
		r = next;
	}
}

static void shim_child_done(mblk_req *child)
{
	mblk_req *parent = child->done_data;
	struct shim *sh = mblk_dev_priv(parent->dev);
	struct shim_ctx *c = mblk_req_ctx(parent);
	if (!sh->delay) {
		shim_finish(parent, child);
		return;
	}
	c->child = child;
	c->next = NULL;
	if (sh->head == NULL) {
		sh->head = sh->tail = parent;
	} else if (shim_rand(sh) & 1) {
		c->next = sh->head;
		sh->head = parent;
	} else {
		((struct shim_ctx *)mblk_req_ctx(sh->tail))->next = parent;
		sh->tail = parent;
	}
	if (!uv_is_active((uv_handle_t *)&sh->timer))
		uv_timer_start(&sh->timer, shim_timer_cb, 0, 0);
}

static void shim_fwd(mblk_dev *dev, mblk_req *req)
{
	struct shim *sh = mblk_dev_priv(dev);
	if ((req->op == MBLK_OP_SEEK_MAPPED ||
	     req->op == MBLK_OP_SEEK_UNMAPPED) &&
	    !(sh->caps_mask & MBLK_CAP_SEEK)) {
		/* Without MBLK_CAP_SEEK: everything is data. */
		req->result = req->op == MBLK_OP_SEEK_MAPPED
				      ? req->sector
				      : mblk_dev_info(dev)->size_sectors;
		mblk_req_done(req, 0);
		return;
	}
	mblk_req *child = mblk_req_alloc(mblk_dev_child(dev, 0));
	if (child == NULL) {
		mblk_req_fail(req, -ENOMEM, "shim: no memory for a request");
		return;
	}
	mblk_req_copy(child, req);
	mblk_req_submit(child, shim_child_done, req);
}

static void shim_get_info(mblk_dev *dev, struct mblk_info *info)
{
	struct shim *sh = mblk_dev_priv(dev);
	mblk_get_info(mblk_dev_child(dev, 0), info);
	info->caps &= sh->caps_mask;
	if (!(info->caps & MBLK_CAP_WRITE_ZEROES))
		info->caps &= ~(uint32_t)MBLK_CAP_ZERO_IS_FAST;
	if (sh->align != 0)
		info->buf_align = sh->align;
}

static void shim_free(uv_handle_t *h)
{
	free(h->data);
}

static void shim_destroy(mblk_dev *dev)
{
	struct shim *sh = mblk_dev_priv(dev);
	uv_close((uv_handle_t *)&sh->timer, shim_free);
}

static const struct mblk_dev_ops shim_ops = {
	.kind = "shim",
	.req_ctx_size = sizeof(struct shim_ctx),
	.read = shim_fwd,
	.write = shim_fwd,
	.flush = shim_fwd,
	.discard = shim_fwd,
	.write_zeroes = shim_fwd,
	.resize = shim_fwd,
	.seek = shim_fwd,
	.get_info = shim_get_info,
	.destroy = shim_destroy,
};

uint32_t shim_cap_bit(const char *name)
{
	/* The one table of names is the library's (mblk_cap_name). */
	for (int b = 0; b < 32; b++) {
		const char *n = mblk_cap_name(1u << b);
		if (n != NULL && strcmp(n, name) == 0)
			return 1u << b;
	}
	return 0;
}

static int shim_parse(struct shim *sh, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	int r = 0;
	sh->caps_mask = ~0u;
	for (char *t = strtok_r(copy, ",", &save); t && r == 0;
	     t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "delay") == 0) {
			sh->delay = true;
		} else if (strncmp(t, "align=", 6) == 0) {
			unsigned long a = strtoul(t + 6, NULL, 10);
			if (a == 0 || (a & (a - 1)) != 0) {
				fprintf(stderr,
					"shim: %s: not a power of "
					"two\n",
					t);
				r = -EINVAL;
			}
			sh->align = (uint32_t)a;
		} else if (strncmp(t, "caps=", 5) == 0) {
			sh->caps_mask = 0;
			char *s2 = NULL;
			for (char *c = strtok_r(t + 5, "+", &s2); c;
			     c = strtok_r(NULL, "+", &s2)) {
				uint32_t bit = shim_cap_bit(c);
				if (bit != 0)
					sh->caps_mask |= bit;
				else if (strcmp(c, "none") != 0) {
					fprintf(stderr,
						"shim: unknown "
						"capability '%s'\n",
						c);
					r = -EINVAL;
				}
			}
		} else {
			fprintf(stderr,
				"shim: unknown option '%s' (delay, "
				"caps=A+B, align=N)\n",
				t);
			r = -EINVAL;
		}
	}
	free(copy);
	return r;
}

int shim_wrap(mblk_dev *inner, const char *spec, mblk_dev **devp)
{
	struct shim *sh = calloc(1, sizeof(*sh));
	if (sh == NULL)
		return -ENOMEM;
	sh->rnd = 0x9e3779b97f4a7c15ull;
	int r = shim_parse(sh, spec);
	if (r < 0) {
		free(sh);
		return r;
	}
	struct mblk_info info;
	mblk_get_info(inner, &info);
	info.caps &= sh->caps_mask;
	if (!(info.caps & MBLK_CAP_WRITE_ZEROES))
		info.caps &= ~(uint32_t)MBLK_CAP_ZERO_IS_FAST;
	if (sh->align != 0)
		info.buf_align = sh->align;
	r = mblk_dev_create(mblk_dev_loop(inner), &shim_ops, sh,
			    mblk_dev_name(inner), &info, &inner, 1, 0, devp);
	if (r < 0) {
		free(sh);
		return r;
	}
	uv_timer_init(mblk_dev_loop(inner), &sh->timer);
	sh->timer.data = sh;
	return 0;
}

int shim_open(uv_loop_t *loop, const char *uri, unsigned flags,
	      const char *spec, mblk_dev **devp)
{
	if (spec == NULL)
		return mblk_open_sync(loop, uri, flags, devp);
	mblk_dev *inner, *sh;
	int r = mblk_open_sync(loop, uri, flags | MBLK_OPEN_NO_SAFE, &inner);
	if (r < 0)
		return r;
	r = shim_wrap(inner, spec, &sh);
	if (r < 0) {
		mblk_close(inner, NULL, NULL);
		return r;
	}
	if (flags & MBLK_OPEN_NO_SAFE) {
		*devp = sh;
		return 0;
	}
	r = mblk_safe_wrap(sh, devp);
	if (r < 0)
		mblk_close(sh, NULL, NULL);
	return r;
}
