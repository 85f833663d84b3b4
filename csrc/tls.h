/*
 * tls.h - the TLS engine's side of the transport seam, for net.c only (the
 * public part, fmq_tls_ctx_*, is in include/fluxmq.h).
 *
 * A tls_conn wraps one accepted socket in a server-side OpenSSL session.
 * Reads drive the handshake; every call is non-blocking and answers like
 * read(2)/writev(2)/sendfile(2): -1 with errno EAGAIN when the socket is not
 * ready, -1 with errno EPROTO on a TLS failure (tls_conn_error says why).
 */
#ifndef FLUXMQ_TLS_H
#define FLUXMQ_TLS_H

#include <sys/types.h>
#include <sys/uio.h>

/* fluxmq.h (fmq_tls_ctx) comes first: it has no include guard, cffi parses it. */

struct tls_conn;

/* What the session waits for besides the obvious (set with an EAGAIN). */
#define TLS_READ_WANTS_WRITE 1 /* a read (or the handshake) must wait for EPOLLOUT */
#define TLS_WRITE_WANTS_READ 2 /* a write must wait for EPOLLIN */

struct tls_conn *tls_conn_new(fmq_tls_ctx *ctx, int fd);
/* Sends close_notify if it can; called before the socket is closed (its fd
 * may be reused at once). */
void tls_conn_close_notify(struct tls_conn *t);
void tls_conn_free(struct tls_conn *t); /* no I/O: the socket may be gone */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t len);
ssize_t tls_conn_writev(struct tls_conn *t, const struct iovec *iov, int iovcnt);
ssize_t tls_conn_sendfile(struct tls_conn *t, int in_fd, off_t *offset, size_t len);
int tls_conn_wants(struct tls_conn *t);
/* Decrypted bytes (or a whole record) held inside OpenSSL: epoll will not
 * report them, so the caller must read again without waiting. */
int tls_conn_buffered(struct tls_conn *t);
int tls_conn_established(struct tls_conn *t);
const char *tls_conn_error(struct tls_conn *t); /* "" until a failure */
/* RFC 2253 subject of the verified client certificate: 1 (written), 0 (none). */
int tls_conn_peer_subject(struct tls_conn *t, char *buf, size_t buflen);
const char *tls_conn_protocol(struct tls_conn *t);
const char *tls_conn_cipher(struct tls_conn *t);

void tls_ctx_ref(fmq_tls_ctx *ctx);
void tls_ctx_unref(fmq_tls_ctx *ctx);

#endif
