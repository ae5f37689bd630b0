/* rbd_conn.c - connecting to a Ceph cluster and opening an RBD image,
 * with one sentence for each way that fails.
 *
 * Design notes. Everything here blocks (librados and librbd's
 * synchronous calls: a monitor handshake, an image header read, a lock
 * request), so the device calls it from libuv's pool (rbd_uri.c) and
 * mblk_rbd_create from its caller's thread. No call waits without a
 * bound: the timeout key (MBLK__RBD_TIMEOUT_DEFAULT seconds unless set)
 * becomes `client_mount_timeout` (a monitor that never answers),
 * `rados_mon_op_timeout` and `rados_osd_op_timeout` (an OSD that never
 * answers an I/O fails it with -ETIMEDOUT instead of blocking forever).
 *
 * librados answers most failures with a bare errno: -ENOENT for "no
 * keyring", "no monitor address", "no such pool" and "no such image"
 * alike, -EACCES for a wrong key and an unknown client alike. The steps
 * are therefore taken one at a time, and what cannot be told from the
 * errno is checked before the call (the conf and keyring files are
 * readable, a monitor address is known) or after it (the image opens
 * without the snapshot), so that each cause gets its own sentence.
 *
 * Settings librbd reads at image open come from the cluster handle's
 * configuration, so they are set here, before rbd_open: rbd_cache from
 * the cache key (set either way: librbd's default is on, and it turns
 * write-back after the first flush), and rbd_skip_partial_discard off
 * (otherwise a discard that does not cover whole objects may leave the
 * old data readable, and mblk's discard promises zeros).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbd_int.h"

__attribute__((format(printf, 4, 5))) static int
rbdconn_fail(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err < 0 ? err : -EIO;
}

static const char *rbdconn_id(const struct mblk__rbd_params *p)
{
	return p->id != NULL ? p->id : "admin";
}

/* The value of a configuration option, or "" (buf has len bytes). */
static const char *rbdconn_conf_get(rados_t cluster, const char *opt, char *buf,
				    size_t len)
{
	if (rados_conf_get(cluster, opt, buf, len) < 0)
		buf[0] = '\0';
	return buf;
}

/* Reads the conf file the URI or CEPH_CONF names, or librados's search
 * list; a file named but unreadable is an error, none found is not (the
 * mon-host key may be all there is). */
static int rbdconn_read_conf(const struct mblk__rbd_params *p, rados_t cluster,
			     const char *name, char *msg, size_t len)
{
	const char *path = p->conf, *what = "conf key";
	if (path == NULL && getenv("CEPH_CONF") != NULL &&
	    getenv("CEPH_CONF")[0] != '\0') {
		path = getenv("CEPH_CONF");
		what = "CEPH_CONF";
	}
	if (path != NULL && access(path, R_OK) < 0)
		return rbdconn_fail(msg, len, -errno,
				    "%s: cannot read the Ceph configuration %s "
				    "(%s): %s",
				    name, path, what, strerror(errno));
	int r = rados_conf_read_file(cluster, path);
	if (r < 0 && (path != NULL || r != -ENOENT))
		return rbdconn_fail(
			msg, len, r,
			"%s: the Ceph configuration %s (%s) cannot be "
			"parsed: %s",
			name, path != NULL ? path : "(searched)", what,
			strerror(-r));
	return 0;
}

static int rbdconn_set(rados_t cluster, const char *opt, const char *val,
		       const char *name, char *msg, size_t len)
{
	int r = rados_conf_set(cluster, opt, val);
	if (r < 0)
		return rbdconn_fail(
			msg, len, r,
			"%s: librados refused the setting %s = %s: %s", name,
			opt, val, strerror(-r));
	return 0;
}

/* The sentence for a failed rados_connect. */
static int rbdconn_connect_fail(const struct mblk__rbd_params *p,
				rados_t cluster, int r, const char *name,
				char *msg, size_t len)
{
	char mon[512], keyring[1024];
	rbdconn_conf_get(cluster, "mon_host", mon, sizeof(mon));
	rbdconn_conf_get(cluster, "keyring", keyring, sizeof(keyring));
	char bound[64];
	if (p->timeout > 0)
		snprintf(bound, sizeof(bound), "%" PRIu64 " s", p->timeout);
	else
		snprintf(bound, sizeof(bound), "%s s (client_mount_timeout)",
			 rbdconn_conf_get(cluster, "client_mount_timeout",
					  keyring, sizeof(keyring)));
	rbdconn_conf_get(cluster, "keyring", keyring, sizeof(keyring));
	switch (r) {
	case -ETIMEDOUT:
		return rbdconn_fail(msg, len, r,
				    "%s: no Ceph monitor answered at %s within "
				    "%s (the timeout key sets this bound)",
				    name, mon[0] ? mon : "(no address)", bound);
	case -EACCES:
	case -EPERM:
		return rbdconn_fail(
			msg, len, -EACCES,
			"%s: the monitors at %s refused client.%s: the "
			"key in %s is not the one the cluster has for "
			"it, or the cluster has no such client",
			name, mon, rbdconn_id(p),
			p->keyring != NULL ? p->keyring : keyring);
	case -ENOENT:
		/* With no address librados tries DNS SRV records, and
		 * fails with the -ENOENT a missing keyring gives too. */
		if (mon[0] == '\0')
			return rbdconn_fail(msg, len, -EDESTADDRREQ,
					    "%s: no Ceph monitor address: no "
					    "ceph.conf names one (give it with "
					    "the conf key or CEPH_CONF) and no "
					    "mon-host key was given",
					    name);
		return rbdconn_fail(
			msg, len, r,
			"%s: no keyring holds client.%s's key (looked "
			"in %s); name one with the keyring key",
			name, rbdconn_id(p), keyring);
	default:
		return rbdconn_fail(msg, len, r,
				    "%s: cannot connect to the Ceph monitors at "
				    "%s: %s",
				    name, mon, strerror(-r));
	}
}

int mblk__rbd_connect(const struct mblk__rbd_params *p,
		      struct mblk__rbd_conn *c, char *msg, size_t len)
{
	char name[256];
	mblk__rbd_name(p, name, sizeof(name));
	memset(c, 0, sizeof(*c));

	int r = mblk__rbd_lib_load(msg, len);
	if (r < 0)
		return r;
	r = rados_create(&c->cluster, rbdconn_id(p));
	if (r < 0)
		return rbdconn_fail(msg, len, r,
				    "%s: cannot set up a Ceph client for "
				    "client.%s: %s",
				    name, rbdconn_id(p), strerror(-r));
	c->have_cluster = true;
	if ((r = rbdconn_read_conf(p, c->cluster, name, msg, len)) < 0)
		goto fail;
	if (p->keyring != NULL) {
		if (access(p->keyring, R_OK) < 0) {
			r = rbdconn_fail(msg, len, -errno,
					 "%s: cannot read the keyring %s "
					 "(keyring key): %s",
					 name, p->keyring, strerror(errno));
			goto fail;
		}
		if ((r = rbdconn_set(c->cluster, "keyring", p->keyring, name,
				     msg, len)) < 0)
			goto fail;
	}
	if (p->mon_host != NULL &&
	    (r = rbdconn_set(c->cluster, "mon_host", p->mon_host, name, msg,
			     len)) < 0)
		goto fail;
	if (p->timeout > 0) {
		char t[32];
		snprintf(t, sizeof(t), "%" PRIu64, p->timeout);
		if ((r = rbdconn_set(c->cluster, "client_mount_timeout", t,
				     name, msg, len)) < 0 ||
		    (r = rbdconn_set(c->cluster, "rados_mon_op_timeout", t,
				     name, msg, len)) < 0 ||
		    (r = rbdconn_set(c->cluster, "rados_osd_op_timeout", t,
				     name, msg, len)) < 0)
			goto fail;
	}
	if ((r = rbdconn_set(c->cluster, "rbd_cache",
			     p->cache ? "true" : "false", name, msg, len)) <
		    0 ||
	    (r = rbdconn_set(c->cluster, "rbd_skip_partial_discard", "false",
			     name, msg, len)) < 0)
		goto fail;

	r = rados_connect(c->cluster);
	if (r < 0) {
		r = rbdconn_connect_fail(p, c->cluster, r, name, msg, len);
		goto fail;
	}

	r = rados_ioctx_create(c->cluster, p->pool, &c->ioctx);
	if (r < 0) {
		if (r == -ENOENT)
			r = rbdconn_fail(
				msg, len, r,
				"%s: pool '%s' does not exist ('ceph osd "
				"pool ls' lists the pools)",
				name, p->pool);
		else
			r = rbdconn_fail(msg, len, r,
					 "%s: cannot open pool '%s': %s", name,
					 p->pool, strerror(-r));
		goto fail;
	}
	c->have_ioctx = true;
	if (p->ns != NULL && p->ns[0] != '\0') {
		bool exists = false;
		r = rbd_namespace_exists(c->ioctx, p->ns, &exists);
		if (r < 0 || !exists) {
			r = rbdconn_fail(msg, len, r < 0 ? r : -ENOENT,
					 "%s: namespace '%s' does not exist in "
					 "pool '%s'%s%s",
					 name, p->ns, p->pool,
					 r < 0 ? ": " : "",
					 r < 0 ? strerror(-r) : "");
			goto fail;
		}
		rados_ioctx_set_namespace(c->ioctx, p->ns);
	}
	return 0;
fail:
	mblk__rbd_teardown(c);
	return r;
}

/* "client.4135 at 127.0.0.1:0/2130920765", or what can be had. */
static void rbdconn_lock_owner(rbd_image_t image, char *buf, size_t len)
{
	char tag[128], clients[256], cookies[256], addrs[256];
	size_t tag_len = sizeof(tag), clients_len = sizeof(clients),
	       cookies_len = sizeof(cookies), addrs_len = sizeof(addrs);
	int exclusive = 0;
	ssize_t n = rbd_list_lockers(image, &exclusive, tag, &tag_len, clients,
				     &clients_len, cookies, &cookies_len, addrs,
				     &addrs_len);
	if (n > 0) {
		snprintf(buf, len, "%s at %s", clients, addrs);
		return;
	}
	rbd_lock_mode_t mode;
	char *owners[4];
	size_t nowners = 4;
	if (rbd_lock_get_owners(image, &mode, owners, &nowners) == 0 &&
	    nowners > 0) {
		snprintf(buf, len, "the client at %s", owners[0]);
		rbd_lock_get_owners_cleanup(owners, nowners);
		return;
	}
	snprintf(buf, len, "another client");
}

int mblk__rbd_open_image(const struct mblk__rbd_params *p,
			 struct mblk__rbd_conn *c, bool rdonly, char *msg,
			 size_t len)
{
	char name[256];
	mblk__rbd_name(p, name, sizeof(name));
	bool ro = rdonly || p->read_only || p->snap != NULL;
	int r = ro ? rbd_open_read_only(c->ioctx, p->image, &c->image, p->snap)
		   : rbd_open(c->ioctx, p->image, &c->image, NULL);
	if (r == -ENOENT && p->snap != NULL) {
		rbd_image_t head;
		if (rbd_open_read_only(c->ioctx, p->image, &head, NULL) == 0) {
			rbd_close(head);
			return rbdconn_fail(msg, len, r,
					    "%s: image '%s' has no snapshot '%s' "
					    "('rbd snap ls %s/%s' lists them)",
					    name, p->image, p->snap, p->pool,
					    p->image);
		}
	}
	if (r == -ENOENT)
		return rbdconn_fail(msg, len, r,
				    "%s: image '%s' does not exist in pool "
				    "'%s'%s%s ('mblk create rbd:%s/%s --size "
				    "SIZE' makes one)",
				    name, p->image, p->pool,
				    p->ns != NULL ? ", namespace " : "",
				    p->ns != NULL ? p->ns : "", p->pool,
				    p->image);
	if (r < 0)
		return rbdconn_fail(msg, len, r,
				    "%s: cannot open image '%s': %s", name,
				    p->image, strerror(-r));
	c->have_image = true;

	rbd_image_info_t info;
	if ((r = rbd_stat(c->image, &info, sizeof(info))) < 0 ||
	    (r = rbd_get_features(c->image, &c->features)) < 0)
		return rbdconn_fail(msg, len, r,
				    "%s: cannot read the image's header: %s",
				    name, strerror(-r));
	c->size = info.size;
	c->obj_size = info.obj_size;

	/* A writer takes the exclusive lock the way qemu's users expect
	 * of an image in use: librbd then refuses it to other clients
	 * instead of passing it back and forth with every write. */
	if (!ro && (c->features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		r = rbd_lock_acquire(c->image, RBD_LOCK_MODE_EXCLUSIVE);
		if (r < 0) {
			char owner[600];
			rbdconn_lock_owner(c->image, owner, sizeof(owner));
			if (r == -EROFS || r == -EBUSY)
				return rbdconn_fail(
					msg, len, -EBUSY,
					"%s: the image's exclusive lock is "
					"held by %s, another writer; close that "
					"one first, or open this one read-only "
					"(read-only=1)",
					name, owner);
			return rbdconn_fail(msg, len, r,
					    "%s: cannot take the image's "
					    "exclusive lock (held by %s): %s",
					    name, owner, strerror(-r));
		}
		c->locked = true;
	}
	return 0;
}

void mblk__rbd_teardown(struct mblk__rbd_conn *c)
{
	if (c->have_image)
		rbd_close(c->image); /* releases the exclusive lock */
	if (c->have_ioctx)
		rados_ioctx_destroy(c->ioctx);
	if (c->have_cluster)
		rados_shutdown(c->cluster);
	c->have_image = c->have_ioctx = c->have_cluster = false;
}
