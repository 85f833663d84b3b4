/*
 * tls.c - TLS for SSL:// and SASL_SSL:// listeners: OpenSSL server contexts
 * configured from Kafka's ssl.* keys (the policy, reading the keys and the
 * files, is Python's: fluxmq/security/tls.py), and the per-connection engine
 * that net.c's TLS transport calls.
 *
 * Handshakes are non-blocking and driven by the same epoll loop as every
 * other byte: a read performs as much of the handshake as the socket allows.
 * Writes are cut into records of at most 16 KiB (the TLS maximum) and retried
 * from the same bytes after EAGAIN, as OpenSSL requires; net.c keeps queued
 * output until a write reports it taken, so a retry always offers the same
 * prefix again (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets it come from a fresh
 * copy). File chunks (Fetch payloads) are read from the segment into a
 * buffer and encrypted here, never through Python; where the kernel offers
 * kTLS and OpenSSL switched the socket to it, SSL_sendfile keeps them
 * zero-copy.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "fluxmq.h"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLS_RECORD_MAX 16384
#define TLS_ERROR_MAX 200

struct fmq_tls_ctx {
    SSL_CTX *ssl_ctx;
    int refs;      /* Python's handle plus each listener using it */
    int ktls;      /* SSL_OP_ENABLE_KTLS was set */
};

struct tls_conn {
    SSL *ssl;
    int wants;
    int ktls_send;
    /* Set once the first handshake completes: a fatal alert puts OpenSSL back
     * "in init", so SSL_is_init_finished cannot tell a handshake failure from
     * a bad record after it. */
    int handshake_done;
    char error[TLS_ERROR_MAX];
};

/* ------------------------------------------------------------- errors */

static void set_err(char *err, size_t errlen, const char *what) {
    if (!err || !errlen) return;
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason) snprintf(err, errlen, "%s: %s", what, reason);
    else snprintf(err, errlen, "%s", what);
    ERR_clear_error();
}

/* ------------------------------------------------------------ context */

int fmq_tls_ktls_available(void) {
#ifdef SSL_OP_ENABLE_KTLS
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
    if (!f) return 0;
    char line[256] = {0};
    int found = 0;
    if (fgets(line, sizeof(line), f)) {
        for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n"))
            if (strcmp(tok, "tls") == 0) found = 1;
    }
    fclose(f);
    return found;
#else
    return 0;
#endif
}

const char *fmq_tls_library_version(void) { return OpenSSL_version(OPENSSL_VERSION); }

fmq_tls_ctx *fmq_tls_ctx_new(char *err, size_t errlen) {
    fmq_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx->ssl_ctx) {
        set_err(err, errlen, "SSL_CTX_new failed");
        free(ctx);
        return NULL;
    }
    ctx->refs = 1;
    SSL_CTX *s = ctx->ssl_ctx;
    /* Kafka's default ssl.enabled.protocols: TLSv1.2,TLSv1.3. */
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION);
    /* Renegotiation is a client-driven CPU sink and JSSE refuses it too. */
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* Clients close without close_notify all the time: an end, not an error. */
    SSL_CTX_set_options(s, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char sid_ctx[] = "fluxmq";
    SSL_CTX_set_session_id_context(s, sid_ctx, sizeof(sid_ctx) - 1);
#ifdef SSL_OP_ENABLE_KTLS
    if (fmq_tls_ktls_available()) {
        SSL_CTX_set_options(s, SSL_OP_ENABLE_KTLS);
        ctx->ktls = 1;
    }
#endif
    return ctx;
}

void tls_ctx_ref(fmq_tls_ctx *ctx) { ctx->refs++; }

void tls_ctx_unref(fmq_tls_ctx *ctx) {
    if (!ctx || --ctx->refs > 0) return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

void fmq_tls_ctx_free(fmq_tls_ctx *ctx) { tls_ctx_unref(ctx); }

int fmq_tls_ctx_ktls(fmq_tls_ctx *ctx) { return ctx->ktls; }

static BIO *mem_bio(const void *data, size_t len) { return BIO_new_mem_buf(data, (int)len); }

/* Leaf certificate first, then its chain, from PEM text (other blocks, such
 * as the key in a Kafka PEM keystore file, are skipped). */
static int use_pem_chain(SSL_CTX *s, const char *pem, char *err, size_t errlen) {
    BIO *bio = mem_bio(pem, strlen(pem));
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!leaf) {
        BIO_free(bio);
        set_err(err, errlen, "no certificate found in the keystore");
        return -1;
    }
    int rc = SSL_CTX_use_certificate(s, leaf) == 1 ? 0 : -1;
    X509_free(leaf);
    if (rc < 0) {
        BIO_free(bio);
        set_err(err, errlen, "the keystore's certificate is not usable");
        return -1;
    }
    SSL_CTX_clear_chain_certs(s);
    X509 *ca;
    while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(s, ca) != 1) {
            X509_free(ca);
            BIO_free(bio);
            set_err(err, errlen, "a chain certificate of the keystore is not usable");
            return -1;
        }
    }
    ERR_clear_error(); /* the end of the text */
    BIO_free(bio);
    return 0;
}

int fmq_tls_ctx_use_pem(fmq_tls_ctx *ctx, const char *cert_chain, const char *key, const char *key_password,
                        char *err, size_t errlen) {
    if (use_pem_chain(ctx->ssl_ctx, cert_chain, err, errlen) < 0) return -1;
    BIO *bio = mem_bio(key, strlen(key));
    /* A NULL callback with a password: OpenSSL uses it as the passphrase. */
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL,
                                                   (void *)(key_password && *key_password ? key_password : ""))
                         : NULL;
    BIO_free(bio);
    if (!pkey) {
        set_err(err, errlen, "cannot read the private key (wrong ssl.key.password, or no key)");
        return -1;
    }
    int ok = SSL_CTX_use_PrivateKey(ctx->ssl_ctx, pkey) == 1;
    EVP_PKEY_free(pkey);
    if (!ok || SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
        set_err(err, errlen, "the private key does not match the certificate");
        return -1;
    }
    return 0;
}

static PKCS12 *read_pkcs12(const uint8_t *data, size_t len) {
    BIO *bio = mem_bio(data, len);
    PKCS12 *p12 = bio ? d2i_PKCS12_bio(bio, NULL) : NULL;
    BIO_free(bio);
    return p12;
}

int fmq_tls_ctx_use_pkcs12(fmq_tls_ctx *ctx, const uint8_t *data, size_t len, const char *password,
                           char *err, size_t errlen) {
    PKCS12 *p12 = read_pkcs12(data, len);
    if (!p12) {
        set_err(err, errlen, "the keystore is not a PKCS12 file");
        return -1;
    }
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    int ok = PKCS12_parse(p12, password ? password : "", &pkey, &cert, &chain) == 1;
    PKCS12_free(p12);
    if (!ok) {
        set_err(err, errlen, "cannot open the PKCS12 keystore (wrong ssl.keystore.password?)");
        return -1;
    }
    int rc = -1;
    if (!pkey || !cert) {
        snprintf(err, errlen, "the PKCS12 keystore holds no private key entry");
    } else if (SSL_CTX_use_certificate(ctx->ssl_ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx->ssl_ctx, pkey) != 1 ||
               SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
        set_err(err, errlen, "the keystore's key and certificate are not usable");
    } else {
        rc = 0;
        SSL_CTX_clear_chain_certs(ctx->ssl_ctx);
        for (int i = 0; chain && i < sk_X509_num(chain); i++) {
            if (SSL_CTX_add1_chain_cert(ctx->ssl_ctx, sk_X509_value(chain, i)) != 1) {
                set_err(err, errlen, "a chain certificate of the keystore is not usable");
                rc = -1;
                break;
            }
        }
    }
    EVP_PKEY_free(pkey);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

static int trust_cert(fmq_tls_ctx *ctx, X509 *cert) {
    X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
    if (X509_STORE_add_cert(store, cert) != 1) return -1;
    /* The CA list sent in the CertificateRequest, so clients pick a matching certificate. */
    SSL_CTX_add_client_CA(ctx->ssl_ctx, cert);
    return 0;
}

int fmq_tls_ctx_trust_pem(fmq_tls_ctx *ctx, const char *pem, char *err, size_t errlen) {
    BIO *bio = mem_bio(pem, strlen(pem));
    int n = 0;
    X509 *cert;
    while (bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int rc = trust_cert(ctx, cert);
        X509_free(cert);
        if (rc < 0) {
            BIO_free(bio);
            set_err(err, errlen, "a truststore certificate is not usable");
            return -1;
        }
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0) {
        snprintf(err, errlen, "no certificate found in the truststore");
        return -1;
    }
    return n;
}

int fmq_tls_ctx_trust_pkcs12(fmq_tls_ctx *ctx, const uint8_t *data, size_t len, const char *password,
                             char *err, size_t errlen) {
    PKCS12 *p12 = read_pkcs12(data, len);
    if (!p12) {
        set_err(err, errlen, "the truststore is not a PKCS12 file");
        return -1;
    }
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *cas = NULL;
    int ok = PKCS12_parse(p12, password ? password : "", &pkey, &cert, &cas) == 1;
    PKCS12_free(p12);
    if (!ok) {
        set_err(err, errlen, "cannot open the PKCS12 truststore (wrong ssl.truststore.password?)");
        return -1;
    }
    int n = 0, rc = 0;
    if (cert) {
        rc |= trust_cert(ctx, cert);
        n++;
    }
    for (int i = 0; cas && i < sk_X509_num(cas); i++, n++) rc |= trust_cert(ctx, sk_X509_value(cas, i));
    EVP_PKEY_free(pkey);
    X509_free(cert);
    sk_X509_pop_free(cas, X509_free);
    if (rc) {
        set_err(err, errlen, "a truststore certificate is not usable");
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "no certificate found in the truststore");
        return -1;
    }
    return n;
}

int fmq_tls_ctx_set_client_auth(fmq_tls_ctx *ctx, int mode) {
    int verify = SSL_VERIFY_NONE;
    if (mode == FMQ_TLS_CLIENT_AUTH_REQUESTED) verify = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    else if (mode == FMQ_TLS_CLIENT_AUTH_REQUIRED)
        verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
    else if (mode != FMQ_TLS_CLIENT_AUTH_NONE) return -1;
    SSL_CTX_set_verify(ctx->ssl_ctx, verify, NULL);
    return 0;
}

int fmq_tls_ctx_set_protocols(fmq_tls_ctx *ctx, int min_version, int max_version, char *err, size_t errlen) {
    if (SSL_CTX_set_min_proto_version(ctx->ssl_ctx, min_version) != 1 ||
        SSL_CTX_set_max_proto_version(ctx->ssl_ctx, max_version) != 1) {
        set_err(err, errlen, "unsupported TLS protocol versions");
        return -1;
    }
    return 0;
}

static int append_name(char *list, size_t cap, const char *name) {
    size_t used = strlen(list);
    size_t need = strlen(name) + (used ? 1 : 0);
    if (used + need + 1 > cap) return -1;
    if (used) list[used++] = ':';
    strcpy(list + used, name);
    return 0;
}

/* ssl.cipher.suites holds the standard (IANA) names Java uses, such as
 * TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_AES_128_GCM_SHA256; OpenSSL
 * names TLS 1.2 suites its own way, so each is looked up by its standard
 * name. names: comma-separated. */
int fmq_tls_ctx_set_cipher_suites(fmq_tls_ctx *ctx, const char *names, char *err, size_t errlen) {
    char tls12[4096] = "", tls13[1024] = "";
    SSL *probe = SSL_new(ctx->ssl_ctx);
    if (!probe) {
        set_err(err, errlen, "SSL_new failed");
        return -1;
    }
    /* Every suite this OpenSSL knows (the context's list may be narrowed). */
    SSL_set_cipher_list(probe, "ALL:COMPLEMENTOFALL");
    STACK_OF(SSL_CIPHER) *all = SSL_get_ciphers(probe);
    char *copy = strdup(names);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        const SSL_CIPHER *found = NULL;
        for (int i = 0; all && i < sk_SSL_CIPHER_num(all); i++) {
            const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
            const char *std = SSL_CIPHER_standard_name(c);
            if (std && strcmp(std, tok) == 0) {
                found = c;
                break;
            }
        }
        int is13 = found ? strcmp(SSL_CIPHER_get_version(found), "TLSv1.3") == 0
                         : (strncmp(tok, "TLS_AES_", 8) == 0 || strncmp(tok, "TLS_CHACHA20_", 13) == 0);
        if (!found && !is13) {
            snprintf(err, errlen, "unknown cipher suite %s", tok);
            rc = -1;
            break;
        }
        if (append_name(is13 ? tls13 : tls12, is13 ? sizeof(tls13) : sizeof(tls12),
                        is13 ? tok : SSL_CIPHER_get_name(found)) < 0) {
            snprintf(err, errlen, "ssl.cipher.suites is too long");
            rc = -1;
            break;
        }
    }
    free(copy);
    SSL_free(probe);
    if (rc < 0) return -1;
    /* An empty TLS 1.2 list leaves only the TLS 1.3 suites, and the other way round. */
    if (SSL_CTX_set_cipher_list(ctx->ssl_ctx, *tls12 ? tls12 : "!ALL") != 1 && *tls12) {
        set_err(err, errlen, "ssl.cipher.suites: no usable TLS 1.2 cipher suite");
        return -1;
    }
    ERR_clear_error();
    if (SSL_CTX_set_ciphersuites(ctx->ssl_ctx, tls13) != 1) {
        set_err(err, errlen, "ssl.cipher.suites: an unusable TLS 1.3 cipher suite");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- connection */

static void on_info(const SSL *ssl, int where, int ret) {
    (void)ret;
    if (where & SSL_CB_HANDSHAKE_DONE) ((struct tls_conn *)SSL_get_app_data(ssl))->handshake_done = 1;
}

struct tls_conn *tls_conn_new(fmq_tls_ctx *ctx, int fd) {
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->ssl = SSL_new(ctx->ssl_ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_app_data(t->ssl, t);
    SSL_set_info_callback(t->ssl, on_info);
    SSL_set_accept_state(t->ssl);
    return t;
}

void tls_conn_close_notify(struct tls_conn *t) {
    /* Best effort: the socket is non-blocking and about to close. */
    if (SSL_is_init_finished(t->ssl) && !t->error[0]) SSL_shutdown(t->ssl);
    ERR_clear_error();
}

void tls_conn_free(struct tls_conn *t) {
    if (!t) return;
    SSL_free(t->ssl);
    ERR_clear_error();
    free(t);
}

static void record_failure(struct tls_conn *t, int ssl_err) {
    const char *stage = t->handshake_done ? "TLS error" : "TLS handshake failed";
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    long verify = SSL_get_verify_result(t->ssl);
    if (verify != X509_V_OK && reason && strstr(reason, "certificate"))
        snprintf(t->error, sizeof(t->error), "%s: %s (%s)", stage, reason, X509_verify_cert_error_string(verify));
    else if (reason)
        snprintf(t->error, sizeof(t->error), "%s: %s", stage, reason);
    else if (ssl_err == SSL_ERROR_SYSCALL && errno)
        snprintf(t->error, sizeof(t->error), "%s: %s", stage, strerror(errno));
    else
        snprintf(t->error, sizeof(t->error), "%s: the peer closed the connection", stage);
    ERR_clear_error();
}

/* Maps a failed SSL call to the errno convention of the transport seam;
 * returns 0 for an orderly end (read returns 0), else -1. */
static int fail(struct tls_conn *t, int ret, int wants_if_write) {
    int e = SSL_get_error(t->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (wants_if_write) t->wants |= TLS_WRITE_WANTS_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (!wants_if_write) t->wants |= TLS_READ_WANTS_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0; /* close_notify */
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
            /* EOF without close_notify: after the handshake clients do this all
             * the time; before anything was received it is a port probe. */
            if (t->handshake_done || SSL_in_before(t->ssl)) {
                ERR_clear_error();
                return 0;
            }
        }
        /* fallthrough */
    default:
        record_failure(t, e);
        errno = EPROTO;
        return -1;
    }
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t len) {
    t->wants &= ~TLS_READ_WANTS_WRITE;
    errno = 0;
    int r = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (r > 0) return r;
    return fail(t, r, 0);
}

static ssize_t write_record(struct tls_conn *t, const void *buf, size_t len) {
    errno = 0;
    int w = SSL_write(t->ssl, buf, (int)len);
    if (w > 0) return w;
    int r = fail(t, w, 1);
    if (r == 0) { /* close_notify from the peer while we write */
        errno = EPIPE;
        return -1;
    }
    return r;
}

/* Gathers the iovecs into records. Returns the bytes taken, or -1; bytes
 * taken before an EAGAIN are reported, and the record that met the EAGAIN is
 * offered again (same bytes, same length or more) by the next call. */
ssize_t tls_conn_writev(struct tls_conn *t, const struct iovec *iov, int iovcnt) {
    t->wants &= ~TLS_WRITE_WANTS_READ;
    uint8_t record[TLS_RECORD_MAX];
    ssize_t total = 0;
    int i = 0;
    size_t skip = 0; /* bytes of iov[i] already taken */
    while (i < iovcnt) {
        size_t n = 0;
        int j = i;
        size_t off = skip;
        /* One iovec of a full record or more goes out directly, without the copy. */
        if (iov[i].iov_len - skip >= TLS_RECORD_MAX) {
            ssize_t w = write_record(t, (const uint8_t *)iov[i].iov_base + skip, TLS_RECORD_MAX);
            if (w < 0) return total > 0 ? total : -1;
            total += w;
            skip += (size_t)w;
            if (skip == iov[i].iov_len) {
                i++;
                skip = 0;
            }
            continue;
        }
        while (j < iovcnt && n < TLS_RECORD_MAX) {
            size_t take = iov[j].iov_len - off;
            if (take > TLS_RECORD_MAX - n) take = TLS_RECORD_MAX - n;
            memcpy(record + n, (const uint8_t *)iov[j].iov_base + off, take);
            n += take;
            off += take;
            if (off == iov[j].iov_len) {
                j++;
                off = 0;
            }
        }
        ssize_t w = write_record(t, record, n);
        if (w < 0) return total > 0 ? total : -1;
        total += w;
        /* Advance (i, skip) by w bytes. */
        size_t left = (size_t)w;
        while (left > 0 && i < iovcnt) {
            size_t avail = iov[i].iov_len - skip;
            if (left >= avail) {
                left -= avail;
                i++;
                skip = 0;
            } else {
                skip += left;
                left = 0;
            }
        }
        if ((size_t)w < n) break; /* partial: let the caller account for it first */
    }
    return total;
}

ssize_t tls_conn_sendfile(struct tls_conn *t, int in_fd, off_t *offset, size_t len) {
    t->wants &= ~TLS_WRITE_WANTS_READ;
#ifdef SSL_OP_ENABLE_KTLS
    if (BIO_get_ktls_send(SSL_get_wbio(t->ssl))) {
        errno = 0;
        ossl_ssize_t w = SSL_sendfile(t->ssl, in_fd, *offset, len, 0);
        if (w >= 0) {
            *offset += w;
            return w;
        }
        if (errno != EAGAIN) record_failure(t, SSL_ERROR_SYSCALL);
        return -1;
    }
#endif
    uint8_t record[TLS_RECORD_MAX];
    ssize_t total = 0;
    while ((size_t)total < len) {
        size_t want = len - (size_t)total;
        if (want > TLS_RECORD_MAX) want = TLS_RECORD_MAX;
        ssize_t got = pread(in_fd, record, want, *offset);
        if (got <= 0) return total > 0 ? total : got; /* 0: the file shrank */
        ssize_t w = write_record(t, record, (size_t)got);
        if (w < 0) return total > 0 ? total : -1;
        total += w;
        *offset += w;
        if (w < got) break;
    }
    return total;
}

int tls_conn_wants(struct tls_conn *t) { return t->wants; }

int tls_conn_buffered(struct tls_conn *t) { return SSL_has_pending(t->ssl); }

int tls_conn_established(struct tls_conn *t) { return SSL_is_init_finished(t->ssl); }

const char *tls_conn_error(struct tls_conn *t) { return t->error; }

int tls_conn_peer_subject(struct tls_conn *t, char *buf, size_t buflen) {
    if (!SSL_is_init_finished(t->ssl)) return 0;
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    if (!peer) return 0;
    int ok = 0;
    if (SSL_get_verify_result(t->ssl) == X509_V_OK) {
        BIO *bio = BIO_new(BIO_s_mem());
        /* RFC 2253 as Java's X500Principal.getName() writes it: most specific
         * first, "," between, UTF-8 left as it is. */
        if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0,
                                      XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
            int n = BIO_read(bio, buf, (int)buflen - 1);
            buf[n > 0 ? n : 0] = 0;
            ok = n > 0;
        }
        BIO_free(bio);
    }
    X509_free(peer);
    return ok;
}

const char *tls_conn_protocol(struct tls_conn *t) { return SSL_get_version(t->ssl); }

const char *tls_conn_cipher(struct tls_conn *t) { return SSL_get_cipher_name(t->ssl); }
