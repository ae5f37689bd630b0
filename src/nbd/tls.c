/* tls.c - TLS for NBD with GnuTLS: loading credentials and driving a
 * session through push/pull callbacks. See tls.h.
 *
 * Design notes
 * - X.509 follows qemu-nbd's and nbdkit's directory layout (ca-cert.pem,
 *   server-cert.pem, server-key.pem), so one directory serves all three.
 *   With verify_peer the client must present a certificate signed by
 *   ca-cert.pem; the handshake fails otherwise
 *   (gnutls_session_set_verify_cert).
 * - PSK reads psktool's file; the priority string adds the PSK key
 *   exchanges to GnuTLS's defaults, as qemu and nbdkit do.
 * - The transport callbacks translate -EAGAIN into GnuTLS's errno
 *   convention, so the caller never sees GnuTLS types.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk/backend.h>

#ifdef MBLK_HAVE_GNUTLS

#include <gnutls/gnutls.h>

struct mblk__nbd_tls {
	gnutls_certificate_credentials_t x509;
	gnutls_psk_server_credentials_t psk;
	bool verify_peer;
};

struct mblk__nbd_tls_session {
	gnutls_session_t g;
	mblk__nbd_tls_push push;
	mblk__nbd_tls_pull pull;
	void *data;
	char error[256];
};

static int tls_file(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return access(buf, R_OK);
}

int mblk__nbd_tls_server_new(const char *certs_dir, const char *psk_file,
			     bool verify_peer, struct mblk__nbd_tls **out)
{
	if (!!certs_dir == !!psk_file)
		return mblk_set_error(-EINVAL, "TLS needs either a certificate "
					       "directory or a PSK file");
	struct mblk__nbd_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return mblk_set_error(-ENOMEM, "TLS: out of memory");
	t->verify_peer = verify_peer;
	int r;
	if (psk_file) {
		if (access(psk_file, R_OK) < 0) {
			r = -errno;
			free(t);
			return mblk_set_error(r,
					      "TLS: cannot read the PSK file "
					      "'%s': %s",
					      psk_file, strerror(-r));
		}
		r = gnutls_psk_allocate_server_credentials(&t->psk);
		if (r == 0)
			r = gnutls_psk_set_server_credentials_file(t->psk,
								   psk_file);
		if (r < 0) {
			mblk__nbd_tls_free(t);
			return mblk_set_error(-EINVAL,
					      "TLS: cannot load the PSK file "
					      "'%s': %s",
					      psk_file, gnutls_strerror(r));
		}
		*out = t;
		return 0;
	}
	char cert[4096], key[4096], ca[4096];
	if (tls_file(cert, sizeof(cert), certs_dir, "server-cert.pem") < 0 ||
	    tls_file(key, sizeof(key), certs_dir, "server-key.pem") < 0) {
		r = -errno;
		free(t);
		return mblk_set_error(r,
				      "TLS: the certificate directory '%s' "
				      "needs server-cert.pem and "
				      "server-key.pem: %s",
				      certs_dir, strerror(-r));
	}
	bool have_ca = tls_file(ca, sizeof(ca), certs_dir, "ca-cert.pem") == 0;
	if (verify_peer && !have_ca) {
		free(t);
		return mblk_set_error(-ENOENT,
				      "TLS: verifying clients needs "
				      "ca-cert.pem in '%s'",
				      certs_dir);
	}
	r = gnutls_certificate_allocate_credentials(&t->x509);
	if (r == 0 && have_ca) {
		r = gnutls_certificate_set_x509_trust_file(t->x509, ca,
							   GNUTLS_X509_FMT_PEM);
		if (r > 0)
			r = 0;
	}
	if (r == 0)
		r = gnutls_certificate_set_x509_key_file(t->x509, cert, key,
							 GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		mblk__nbd_tls_free(t);
		return mblk_set_error(-EINVAL,
				      "TLS: cannot load the certificates in "
				      "'%s': %s",
				      certs_dir, gnutls_strerror(r));
	}
	*out = t;
	return 0;
}

void mblk__nbd_tls_free(struct mblk__nbd_tls *t)
{
	if (!t)
		return;
	if (t->x509)
		gnutls_certificate_free_credentials(t->x509);
	if (t->psk)
		gnutls_psk_free_server_credentials(t->psk);
	free(t);
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct mblk__nbd_tls_session *s = p;
	ssize_t r = s->push(s->data, buf, len);
	if (r < 0) {
		gnutls_transport_set_errno(s->g, (int)-r);
		return -1;
	}
	return r;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct mblk__nbd_tls_session *s = p;
	ssize_t r = s->pull(s->data, buf, len);
	if (r < 0) {
		gnutls_transport_set_errno(s->g, (int)-r);
		return -1;
	}
	return r;
}

int mblk__nbd_tls_session_new(struct mblk__nbd_tls *t, mblk__nbd_tls_push push,
			      mblk__nbd_tls_pull pull, void *data,
			      struct mblk__nbd_tls_session **out)
{
	struct mblk__nbd_tls_session *s = calloc(1, sizeof(*s));
	if (!s)
		return mblk_set_error(-ENOMEM, "TLS: out of memory");
	s->push = push;
	s->pull = pull;
	s->data = data;
	int r = gnutls_init(&s->g, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (r < 0) {
		free(s);
		return mblk_set_error(-ENOMEM, "TLS: gnutls_init: %s",
				      gnutls_strerror(r));
	}
	if (t->psk) {
		r = gnutls_priority_set_direct(s->g,
					       "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK",
					       NULL);
		if (r == 0)
			r = gnutls_credentials_set(s->g, GNUTLS_CRD_PSK,
						   t->psk);
	} else {
		r = gnutls_set_default_priority(s->g);
		if (r == 0)
			r = gnutls_credentials_set(s->g, GNUTLS_CRD_CERTIFICATE,
						   t->x509);
		if (r == 0 && t->verify_peer) {
			gnutls_certificate_server_set_request(
				s->g, GNUTLS_CERT_REQUIRE);
			gnutls_session_set_verify_cert(s->g, NULL, 0);
		}
	}
	if (r < 0) {
		gnutls_deinit(s->g);
		free(s);
		return mblk_set_error(-EINVAL, "TLS: setting up a session: %s",
				      gnutls_strerror(r));
	}
	gnutls_transport_set_ptr(s->g, s);
	gnutls_transport_set_push_function(s->g, tls_push);
	gnutls_transport_set_pull_function(s->g, tls_pull);
	*out = s;
	return 0;
}

void mblk__nbd_tls_session_free(struct mblk__nbd_tls_session *s)
{
	if (!s)
		return;
	gnutls_deinit(s->g);
	free(s);
}

static int tls_failed(struct mblk__nbd_tls_session *s, const char *what, int r)
{
	snprintf(s->error, sizeof(s->error), "%s: %s", what,
		 gnutls_strerror(r));
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ||
	    r == GNUTLS_E_CERTIFICATE_ERROR ||
	    r == GNUTLS_E_NO_CERTIFICATE_FOUND)
		return -EACCES;
	return -EPROTO;
}

int mblk__nbd_tls_handshake(struct mblk__nbd_tls_session *s)
{
	int r = gnutls_handshake(s->g);
	if (r == 0)
		return 0;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
	    !gnutls_error_is_fatal(r))
		return -EAGAIN;
	return tls_failed(s, "the TLS handshake failed", r);
}

ssize_t mblk__nbd_tls_recv(struct mblk__nbd_tls_session *s, void *buf,
			   size_t len)
{
	ssize_t r = gnutls_record_recv(s->g, buf, len);
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	return tls_failed(s, "receiving", (int)r);
}

int mblk__nbd_tls_send(struct mblk__nbd_tls_session *s, const void *buf,
		       size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t r = gnutls_record_send(s->g, p, len);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue; /* push never refuses: cannot loop long */
		if (r < 0)
			return tls_failed(s, "sending", (int)r);
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

size_t mblk__nbd_tls_pending(struct mblk__nbd_tls_session *s)
{
	return gnutls_record_check_pending(s->g);
}

void mblk__nbd_tls_bye(struct mblk__nbd_tls_session *s)
{
	gnutls_bye(s->g, GNUTLS_SHUT_WR);
}

const char *mblk__nbd_tls_error(struct mblk__nbd_tls_session *s)
{
	return s->error;
}

#else /* !MBLK_HAVE_GNUTLS */

int mblk__nbd_tls_server_new(const char *certs_dir, const char *psk_file,
			     bool verify_peer, struct mblk__nbd_tls **out)
{
	(void)certs_dir;
	(void)psk_file;
	(void)verify_peer;
	(void)out;
	return mblk_set_error(-ENOTSUP, "TLS: this mblk was built without "
					"GnuTLS (meson -Dgnutls=enabled)");
}

void mblk__nbd_tls_free(struct mblk__nbd_tls *t)
{
	(void)t;
}

int mblk__nbd_tls_session_new(struct mblk__nbd_tls *t, mblk__nbd_tls_push push,
			      mblk__nbd_tls_pull pull, void *data,
			      struct mblk__nbd_tls_session **out)
{
	(void)t;
	(void)push;
	(void)pull;
	(void)data;
	(void)out;
	return -ENOTSUP;
}

void mblk__nbd_tls_session_free(struct mblk__nbd_tls_session *s)
{
	(void)s;
}

int mblk__nbd_tls_handshake(struct mblk__nbd_tls_session *s)
{
	(void)s;
	return -ENOTSUP;
}

ssize_t mblk__nbd_tls_recv(struct mblk__nbd_tls_session *s, void *buf,
			   size_t len)
{
	(void)s;
	(void)buf;
	(void)len;
	return -ENOTSUP;
}

int mblk__nbd_tls_send(struct mblk__nbd_tls_session *s, const void *buf,
		       size_t len)
{
	(void)s;
	(void)buf;
	(void)len;
	return -ENOTSUP;
}

size_t mblk__nbd_tls_pending(struct mblk__nbd_tls_session *s)
{
	(void)s;
	return 0;
}

void mblk__nbd_tls_bye(struct mblk__nbd_tls_session *s)
{
	(void)s;
}

const char *mblk__nbd_tls_error(struct mblk__nbd_tls_session *s)
{
	(void)s;
	return "built without GnuTLS";
}

#endif
