/* tls.c - TLS for the NBD client (nbds://, nbds+unix://) with GnuTLS.
 *
 * Design notes
 *
 * GnuTLS never touches the socket. Its pull function takes ciphertext
 * from t->in, which the read callback fills (conn.c), and says EAGAIN
 * when that is empty; its push function appends ciphertext to t->out,
 * which the caller then hands to uv_write. So the TLS session sits
 * between the parsers and the libuv stream, on the same loop, and the
 * rest of the client sees plaintext:
 *
 *   read_cb -> t->in -> gnutls_record_recv -> k->rbuf -> parser steps
 *   parser -> uv_bufs -> gnutls_record_send -> t->out -> uv_write
 *
 * t->out belongs to at most one write at a time: mblk__nbdc_tls_encrypt
 * hands it over and starts on the spare, and the caller gives it back
 * with mblk__nbdc_tls_release when libuv is done (two buffers ping-pong,
 * so the data path allocates only while they grow).
 *
 * Credentials: tls-certificates=DIR (X.509: ca-cert.pem to verify the
 * server, with the host name for TCP; client-cert.pem and client-key.pem
 * when present, for servers that verify clients) or tls-psk-file=FILE
 * (the "username:hexkey" lines of psktool and nbdkit --tls-psk; the line
 * of tls-username, or of the login name, or the only one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#ifdef MBLK_HAVE_GNUTLS
#include <gnutls/gnutls.h>

struct mblk__nbdc_tls {
	gnutls_session_t s;
	gnutls_certificate_credentials_t xcred;
	gnutls_psk_client_credentials_t pcred;
	uint8_t *in;
	size_t in_len, in_pos, in_cap;
	uint8_t *out, *spare;
	size_t out_len, out_cap, spare_cap;
};

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct mblk__nbdc_conn *k = p;
	struct mblk__nbdc_tls *t = k->tls;
	size_t avail = t->in_len - t->in_pos;
	if (avail == 0) {
		gnutls_transport_set_errno(t->s, EAGAIN);
		return -1;
	}
	if (len > avail)
		len = avail;
	memcpy(buf, t->in + t->in_pos, len);
	t->in_pos += len;
	if (t->in_pos == t->in_len)
		t->in_pos = t->in_len = 0;
	return (ssize_t)len;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct mblk__nbdc_conn *k = p;
	struct mblk__nbdc_tls *t = k->tls;
	if (t->out_len + len > t->out_cap) {
		size_t cap = t->out_cap ? t->out_cap : 65536;
		while (cap < t->out_len + len)
			cap *= 2;
		uint8_t *nb = realloc(t->out, cap);
		if (nb == NULL) {
			gnutls_transport_set_errno(t->s, ENOMEM);
			return -1;
		}
		t->out = nb;
		t->out_cap = cap;
	}
	memcpy(t->out + t->out_len, buf, len);
	t->out_len += len;
	return (ssize_t)len;
}

/* The PSK line for user (or the login name, or the only line). */
static int tls_read_psk(const struct mblk__nbdc_cfg *cfg, char **user,
			char **key, char *err, size_t errlen)
{
	FILE *f = fopen(cfg->tls_psk_file, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read tls-psk-file %s: %s",
			 cfg->tls_psk_file, strerror(errno));
		return -errno;
	}
	const char *want = cfg->tls_username ? cfg->tls_username : getlogin();
	char line[1024];
	int lines = 0;
	char first_u[512] = "", first_k[512] = "";
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *colon = strchr(line, ':');
		if (colon == NULL || colon == line)
			continue;
		*colon = '\0';
		if (lines++ == 0) {
			snprintf(first_u, sizeof(first_u), "%.511s", line);
			snprintf(first_k, sizeof(first_k), "%.511s", colon + 1);
		}
		if (want && strcmp(line, want) == 0) {
			*user = strdup(line);
			*key = strdup(colon + 1);
			fclose(f);
			return *user && *key ? 0 : -ENOMEM;
		}
	}
	fclose(f);
	if (lines == 1 && cfg->tls_username == NULL) {
		*user = strdup(first_u);
		*key = strdup(first_k);
		return *user && *key ? 0 : -ENOMEM;
	}
	snprintf(err, errlen, "tls-psk-file %s has no key for user '%s'",
		 cfg->tls_psk_file, want ? want : "(unknown)");
	return -ENOENT;
}

static bool tls_file_exists(const char *dir, const char *name, char *path,
			    size_t len)
{
	snprintf(path, len, "%s/%s", dir, name);
	return access(path, R_OK) == 0;
}

int mblk__nbdc_tls_new(struct mblk__nbdc_conn *k, char *err, size_t errlen)
{
	const struct mblk__nbdc_cfg *cfg = k->cfg;
	struct mblk__nbdc_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	k->tls = t;
	int r = gnutls_init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (r < 0)
		goto gnutls_fail;
	if (cfg->tls_psk_file) {
		char *user = NULL, *key = NULL;
		int e = tls_read_psk(cfg, &user, &key, err, errlen);
		if (e < 0) {
			free(user);
			free(key);
			return e;
		}
		r = gnutls_psk_allocate_client_credentials(&t->pcred);
		if (r == 0) {
			gnutls_datum_t d = { (unsigned char *)key,
					     (unsigned)strlen(key) };
			r = gnutls_psk_set_client_credentials(
				t->pcred, user, &d, GNUTLS_PSK_KEY_HEX);
		}
		free(user);
		free(key);
		if (r < 0)
			goto gnutls_fail;
		r = gnutls_priority_set_direct(t->s,
					       "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK",
					       NULL);
		if (r == 0)
			r = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK,
						   t->pcred);
		if (r < 0)
			goto gnutls_fail;
	} else {
		r = gnutls_certificate_allocate_credentials(&t->xcred);
		if (r < 0)
			goto gnutls_fail;
		char path[1100], key[1100];
		if (cfg->tls_certificates) {
			if (!tls_file_exists(cfg->tls_certificates,
					     "ca-cert.pem", path,
					     sizeof(path))) {
				snprintf(err, errlen,
					 "tls-certificates: %s is missing or "
					 "unreadable",
					 path);
				return -ENOENT;
			}
			r = gnutls_certificate_set_x509_trust_file(
				t->xcred, path, GNUTLS_X509_FMT_PEM);
			if (r < 0)
				goto gnutls_fail;
			if (tls_file_exists(cfg->tls_certificates,
					    "client-cert.pem", path,
					    sizeof(path)) &&
			    tls_file_exists(cfg->tls_certificates,
					    "client-key.pem", key,
					    sizeof(key))) {
				r = gnutls_certificate_set_x509_key_file(
					t->xcred, path, key,
					GNUTLS_X509_FMT_PEM);
				if (r < 0)
					goto gnutls_fail;
			}
		} else {
			r = gnutls_certificate_set_x509_system_trust(t->xcred);
			if (r < 0)
				goto gnutls_fail;
		}
		r = gnutls_set_default_priority(t->s);
		if (r == 0)
			r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE,
						   t->xcred);
		if (r < 0)
			goto gnutls_fail;
		const char *host = cfg->unix_socket ? NULL : cfg->host;
		if (host && !strchr(host, ':'))
			gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, host,
					       strlen(host));
		gnutls_session_set_verify_cert(t->s, host, 0);
	}
	gnutls_transport_set_ptr(t->s, k);
	gnutls_transport_set_push_function(t->s, tls_push);
	gnutls_transport_set_pull_function(t->s, tls_pull);
	return 0;
gnutls_fail:
	snprintf(err, errlen, "setting up TLS: %s", gnutls_strerror(r));
	return -EPROTO;
}

void mblk__nbdc_tls_free(struct mblk__nbdc_conn *k)
{
	struct mblk__nbdc_tls *t = k->tls;
	if (t == NULL)
		return;
	if (t->s)
		gnutls_deinit(t->s);
	if (t->xcred)
		gnutls_certificate_free_credentials(t->xcred);
	if (t->pcred)
		gnutls_psk_free_client_credentials(t->pcred);
	free(t->in);
	free(t->out);
	free(t->spare);
	free(t);
	k->tls = NULL;
}

int mblk__nbdc_tls_handshake(struct mblk__nbdc_conn *k, char *err,
			     size_t errlen)
{
	int r = gnutls_handshake(k->tls->s);
	if (r == 0)
		return 0;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
	    !gnutls_error_is_fatal(r))
		return -EAGAIN;
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_datum_t out;
		unsigned status =
			gnutls_session_get_verify_cert_status(k->tls->s);
		if (gnutls_certificate_verification_status_print(
			    status, GNUTLS_CRT_X509, &out, 0) == 0) {
			snprintf(err, errlen,
				 "the server's certificate is not trusted: "
				 "%s",
				 out.data);
			gnutls_free(out.data);
			return -EACCES;
		}
	}
	snprintf(err, errlen, "TLS handshake failed: %s", gnutls_strerror(r));
	return r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ? -EACCES : -EPROTO;
}

uint8_t *mblk__nbdc_tls_in_space(struct mblk__nbdc_conn *k, size_t *len)
{
	struct mblk__nbdc_tls *t = k->tls;
	if (t->in_cap - t->in_len < 16384) {
		size_t cap = t->in_cap ? t->in_cap * 2 : 65536;
		uint8_t *nb = realloc(t->in, cap);
		if (nb == NULL) {
			*len = t->in_cap - t->in_len;
			return t->in + t->in_len;
		}
		t->in = nb;
		t->in_cap = cap;
	}
	*len = t->in_cap - t->in_len;
	return t->in + t->in_len;
}

void mblk__nbdc_tls_in_add(struct mblk__nbdc_conn *k, const uint8_t *p,
			   size_t n)
{
	struct mblk__nbdc_tls *t = k->tls;
	if (p != t->in + t->in_len) {
		size_t room;
		uint8_t *dst = mblk__nbdc_tls_in_space(k, &room);
		while (room < n) {
			t->in_cap *= 2;
			uint8_t *nb = realloc(t->in, t->in_cap);
			if (nb == NULL)
				return;
			t->in = nb;
			room = t->in_cap - t->in_len;
			dst = t->in + t->in_len;
		}
		memcpy(dst, p, n);
	}
	t->in_len += n;
}

ssize_t mblk__nbdc_tls_recv(struct mblk__nbdc_conn *k, uint8_t *buf, size_t len,
			    char *err, size_t errlen)
{
	ssize_t r = gnutls_record_recv(k->tls->s, buf, len);
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	snprintf(err, errlen, "TLS: %s", gnutls_strerror((int)r));
	return -EPROTO;
}

int mblk__nbdc_tls_encrypt(struct mblk__nbdc_conn *k, const uv_buf_t *bufs,
			   int n, struct mblk__nbdc_tls_buf *out)
{
	struct mblk__nbdc_tls *t = k->tls;
	for (int i = 0; i < n; i++) {
		size_t done = 0;
		while (done < bufs[i].len) {
			ssize_t r = gnutls_record_send(t->s,
						       bufs[i].base + done,
						       bufs[i].len - done);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue;
			if (r < 0)
				return -EPROTO;
			done += (size_t)r;
		}
	}
	/* Hand the ciphertext over; the spare collects the next. */
	out->base = t->out;
	out->len = t->out_len;
	out->cap = t->out_cap;
	t->out = t->spare;
	t->out_cap = t->spare_cap;
	t->out_len = 0;
	t->spare = NULL;
	t->spare_cap = 0;
	return 0;
}

void mblk__nbdc_tls_release(struct mblk__nbdc_conn *k,
			    struct mblk__nbdc_tls_buf *b)
{
	struct mblk__nbdc_tls *t = k->tls;
	if (t != NULL && t->spare == NULL) {
		t->spare = b->base;
		t->spare_cap = b->cap;
	} else {
		free(b->base);
	}
	b->base = NULL;
	b->len = b->cap = 0;
}

#else /* !MBLK_HAVE_GNUTLS: the opener refuses nbds:// before these. */

int mblk__nbdc_tls_new(struct mblk__nbdc_conn *k, char *err, size_t errlen)
{
	(void)k;
	snprintf(err, errlen, "this mblk was built without GnuTLS");
	return -ENOTSUP;
}

void mblk__nbdc_tls_free(struct mblk__nbdc_conn *k)
{
	(void)k;
}

int mblk__nbdc_tls_handshake(struct mblk__nbdc_conn *k, char *err,
			     size_t errlen)
{
	(void)k;
	snprintf(err, errlen, "this mblk was built without GnuTLS");
	return -ENOTSUP;
}

uint8_t *mblk__nbdc_tls_in_space(struct mblk__nbdc_conn *k, size_t *len)
{
	(void)k;
	*len = 0;
	return NULL;
}

void mblk__nbdc_tls_in_add(struct mblk__nbdc_conn *k, const uint8_t *p,
			   size_t n)
{
	(void)k;
	(void)p;
	(void)n;
}

ssize_t mblk__nbdc_tls_recv(struct mblk__nbdc_conn *k, uint8_t *buf, size_t len,
			    char *err, size_t errlen)
{
	(void)k;
	(void)buf;
	(void)len;
	snprintf(err, errlen, "this mblk was built without GnuTLS");
	return -ENOTSUP;
}

int mblk__nbdc_tls_encrypt(struct mblk__nbdc_conn *k, const uv_buf_t *bufs,
			   int n, struct mblk__nbdc_tls_buf *out)
{
	(void)k;
	(void)bufs;
	(void)n;
	(void)out;
	return -ENOTSUP;
}

void mblk__nbdc_tls_release(struct mblk__nbdc_conn *k,
			    struct mblk__nbdc_tls_buf *b)
{
	(void)k;
	free(b->base);
	b->base = NULL;
}

#endif
