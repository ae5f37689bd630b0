/* tls.h - TLS for NBD with GnuTLS: credentials (X.509 from a directory,
 * or a PSK keys file) and a session driven through callbacks, so that
 * the caller owns the socket and the event loop (not installed).
 *
 * Without GnuTLS (meson -Dgnutls=disabled) every function fails with
 * -ENOTSUP and a sentence saying so.
 *
 * A session never touches a file descriptor: GnuTLS asks `push` to send
 * ciphertext and `pull` to receive it. push must take everything (the
 * caller queues it); pull returns -EAGAIN when it has nothing, and the
 * caller feeds more when the socket has some and calls again.
 */
#ifndef MBLK_NBD_TLS_H
#define MBLK_NBD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mblk__nbd_tls;
struct mblk__nbd_tls_session;

/* Server credentials: X.509 from certs_dir (server-cert.pem,
 * server-key.pem, and ca-cert.pem to verify clients with verify_peer),
 * or PSK from psk_file (psktool's "username:hexkey" lines). Exactly one
 * of certs_dir and psk_file. Returns 0, or -errno with the sentence in
 * mblk_last_error(). */
int mblk__nbd_tls_server_new(const char *certs_dir, const char *psk_file,
			     bool verify_peer, struct mblk__nbd_tls **out);
void mblk__nbd_tls_free(struct mblk__nbd_tls *t);

typedef ssize_t (*mblk__nbd_tls_push)(void *data, const void *buf, size_t len);
typedef ssize_t (*mblk__nbd_tls_pull)(void *data, void *buf, size_t len);

/* A server session over push/pull. 0 or -errno (last error set). */
int mblk__nbd_tls_session_new(struct mblk__nbd_tls *t, mblk__nbd_tls_push push,
			      mblk__nbd_tls_pull pull, void *data,
			      struct mblk__nbd_tls_session **out);
void mblk__nbd_tls_session_free(struct mblk__nbd_tls_session *s);

/* Advances the handshake: 0 when done, -EAGAIN when it needs more input,
 * or -EPROTO/-EACCES with the cause in mblk__nbd_tls_error(s). */
int mblk__nbd_tls_handshake(struct mblk__nbd_tls_session *s);
/* Decrypts into buf: bytes, 0 at the peer's close, -EAGAIN, or -EPROTO. */
ssize_t mblk__nbd_tls_recv(struct mblk__nbd_tls_session *s, void *buf,
			   size_t len);
/* Encrypts all of buf (through push). 0 or -EPROTO. */
int mblk__nbd_tls_send(struct mblk__nbd_tls_session *s, const void *buf,
		       size_t len);
/* Decrypted bytes GnuTLS holds that recv has not returned yet. */
size_t mblk__nbd_tls_pending(struct mblk__nbd_tls_session *s);
/* Sends close_notify (through push). */
void mblk__nbd_tls_bye(struct mblk__nbd_tls_session *s);
/* The last failure, as a sentence ("" if none). */
const char *mblk__nbd_tls_error(struct mblk__nbd_tls_session *s);

#endif
