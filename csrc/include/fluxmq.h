/*
 * fluxmq.h - the one header cffi parses (build_ffi.py). Every function is
 * prefixed fmq_. C does mechanism (sockets, bytes, CRC, disk I/O); Kafka policy
 * lives in the Python package.
 *
 * Ownership and blocking are stated per function. Unless stated otherwise a
 * function does not block and does not keep pointers it was given.
 * This header must stay parseable by cffi: no macros with arguments, no
 * includes, plain C declarations only.
 */

#define FMQ_ABI_VERSION 3

/* ------------------------------------------------------------------ crc32c */
/* CRC-32C (Castagnoli), as used by Kafka record batches (magic 2).
 * fmq_crc32c(0, buf, n) is the CRC of buf; pass a previous result as `crc`
 * to continue a running CRC. Implementation picked once at load time from
 * cpuid (SSE4.2 with three interleaved streams for large buffers, otherwise
 * slicing-by-8); FLUXMQ_FORCE_SOFTWARE_CRC=1 in the environment forces the
 * software path. */
uint32_t fmq_crc32c(uint32_t crc, const uint8_t *buf, size_t len);
/* "sse4.2" or "software": the path fmq_crc32c uses now. */
const char *fmq_crc32c_impl(void);
/* Tests: 1 forces the software path, 0 returns to the cpuid choice. */
void fmq_crc32c_force_software(int on);

/* -------------------------------------------------------------------- copy */
/* Copy routines for assembling bytes on the data path. */
void fmq_copy(uint8_t *dst, const uint8_t *src, size_t len);
/* Gathers n buffers back to back into dst; returns the bytes written.
 * dst must hold the sum of lens. */
size_t fmq_gather(uint8_t *dst, const uint8_t **srcs, const size_t *lens, int n);
/* "avx2", "sse2" or "memcpy". */
const char *fmq_copy_impl(void);
void fmq_copy_force_fallback(int on);

/* -------------------------------------------------------------------- numa */
/* Allocation on the NUMA node of the calling thread; plain allocation where
 * the machine has one node or the kernel refuses. Free with fmq_numa_free and
 * the same size. Returns NULL on failure. */
void *fmq_numa_alloc(size_t size);
void fmq_numa_free(void *ptr, size_t size);
int fmq_numa_nodes(void);
/* "mbind" when memory is bound to the local node, "none" otherwise. */
const char *fmq_numa_impl(void);

/* ----------------------------------------------------------------- records */
/* Kafka record batch (magic 2) header, as scanned by fmq_batches_scan.
 * position is the byte offset of the batch inside the scanned buffer and
 * size the whole batch size (12 + batch_length). */
typedef struct {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
    uint64_t position;
    uint64_t size;
} fmq_batch_info;

#define FMQ_SCAN_OK 0
#define FMQ_SCAN_TRUNCATED -1
#define FMQ_SCAN_BAD_MAGIC -2
#define FMQ_SCAN_BAD_CRC -3
#define FMQ_SCAN_BAD_LENGTH -4
#define FMQ_SCAN_TOO_MANY -5

/* Walks the record batches in buf[0:len]. Fills up to max_out entries of out
 * and sets *valid_len to the size of the prefix made of whole, valid batches.
 * verify_crc=1 checks each batch's CRC-32C. Returns the number of batches
 * when the whole buffer is valid, else a negative FMQ_SCAN_* code (out and
 * *valid_len then describe the valid prefix; *n_valid its batch count). */
int fmq_batches_scan(const uint8_t *buf, size_t len, int verify_crc,
                     fmq_batch_info *out, int max_out,
                     uint64_t *valid_len, int *n_valid);

/* Patches, in place, baseOffset of each of the n batches (consecutively from
 * base_offset) and partitionLeaderEpoch. Both lie outside the CRC. Returns the
 * next offset (last offset + 1). */
int64_t fmq_batches_assign_offsets(uint8_t *buf, const fmq_batch_info *batches,
                                   int n, int64_t base_offset, int32_t leader_epoch);

/* LogAppendTime: sets the timestamp-type bit and maxTimestamp of the batch at
 * buf+position and recomputes its CRC. */
void fmq_batch_set_log_append_time(uint8_t *buf, uint64_t position, int64_t timestamp_ms);

/* ----------------------------------------------------------------- segment */
/* Segment writes: whole produce requests in one call, through io_uring with
 * a pwritev fallback. FLUXMQ_FORCE_PWRITEV=1 forces the fallback. */
typedef struct fmq_io fmq_io;
typedef struct {
    int fd;
    int64_t offset;
    const uint8_t *buf;
    size_t len;
} fmq_write;

/* force_fallback=1 never tries io_uring. Returns NULL on allocation failure
 * (io_uring setup failure falls back silently; see fmq_io_impl). */
fmq_io *fmq_io_new(unsigned queue_depth, int force_fallback);
void fmq_io_free(fmq_io *io);
/* "io_uring" or "pwritev". */
const char *fmq_io_impl(fmq_io *io);
/* Writes all n buffers at their offsets; blocks until every byte is written
 * (short writes retried). Returns 0 or -errno of the first failure.
 * Not thread-safe for one fmq_io; buffers are not kept. */
int fmq_io_write(fmq_io *io, const fmq_write *writes, int n);
/* fdatasync of each of the n fds (group commit: many produce requests, one
 * sync per dirty file). Blocks; thread-safe; call it from a worker thread.
 * Returns 0 or -errno of the first failure. */
int fmq_sync_fds(const int *fds, int n);
/* The same group commit through io_uring: every fd's fdatasync
 * (IORING_OP_FSYNC + IORING_FSYNC_DATASYNC) in one submission, so the kernel
 * runs them in parallel and ext4 can commit them in one journal transaction
 * (sequential fdatasyncs cost one round trip each). Falls back to
 * fmq_sync_fds on the pwritev path. Blocks; not thread-safe for one fmq_io,
 * so the flusher thread owns its own. Returns 0 or -errno of the first failure. */
int fmq_io_sync(fmq_io *io, const int *fds, int n);

/* --------------------------------------------------------------------- net */
/* epoll-based Kafka listeners. The event loop watches fmq_net_fd() and calls
 * fmq_net_poll() on wake-up: one call returns every complete request frame
 * of every ready connection. Responses are queued per connection in the
 * order they are given and flushed with writev / sendfile. Every byte goes
 * through the connection's transport, taken from its listener (cleartext,
 * or TLS with the listener's fmq_tls_ctx; see net.c). Single-threaded: every fmq_net_* call must
 * come from the loop thread. */
typedef struct fmq_net fmq_net;

/* --------------------------------------------------------------------- tls */
/* OpenSSL server contexts for SSL and SASL_SSL listeners (csrc/tls.c). The
 * caller (fluxmq/security/tls.py) reads Kafka's ssl.* keys and the files they
 * name; these calls only configure. Each returns 0 (or a count) on success,
 * -1 with a message in err. */
typedef struct fmq_tls_ctx fmq_tls_ctx;

#define FMQ_TLS_CLIENT_AUTH_NONE 0
#define FMQ_TLS_CLIENT_AUTH_REQUESTED 1
#define FMQ_TLS_CLIENT_AUTH_REQUIRED 2

/* TLS 1.2 and 1.3, no renegotiation, no compression; kTLS when the kernel has it. */
fmq_tls_ctx *fmq_tls_ctx_new(char *err, size_t errlen);
/* Drops the caller's reference; listeners using it keep theirs. */
void fmq_tls_ctx_free(fmq_tls_ctx *ctx);
/* Leaf certificate and chain from PEM text, the key (PEM, perhaps encrypted
 * with key_password) from key_pem; the two may be the same text. */
int fmq_tls_ctx_use_pem(fmq_tls_ctx *ctx, const char *cert_chain_pem, const char *key_pem,
                        const char *key_password, char *err, size_t errlen);
int fmq_tls_ctx_use_pkcs12(fmq_tls_ctx *ctx, const uint8_t *data, size_t len, const char *password,
                           char *err, size_t errlen);
/* Trusted CAs for client certificates; return how many were added. */
int fmq_tls_ctx_trust_pem(fmq_tls_ctx *ctx, const char *pem, char *err, size_t errlen);
int fmq_tls_ctx_trust_pkcs12(fmq_tls_ctx *ctx, const uint8_t *data, size_t len, const char *password,
                             char *err, size_t errlen);
int fmq_tls_ctx_set_client_auth(fmq_tls_ctx *ctx, int mode);
/* Versions as on the wire: 0x0303 (TLS 1.2), 0x0304 (TLS 1.3). */
int fmq_tls_ctx_set_protocols(fmq_tls_ctx *ctx, int min_version, int max_version, char *err, size_t errlen);
/* Comma-separated standard (IANA) names, as Kafka's ssl.cipher.suites. */
int fmq_tls_ctx_set_cipher_suites(fmq_tls_ctx *ctx, const char *names, char *err, size_t errlen);
/* 1 when the context hands established sessions to kernel TLS. */
int fmq_tls_ctx_ktls(fmq_tls_ctx *ctx);
/* 1 when the kernel offers the tls ULP (/proc/sys/net/ipv4/tcp_available_ulp). */
int fmq_tls_ktls_available(void);
const char *fmq_tls_library_version(void);

#define FMQ_EV_FRAME 0     /* data/len: one request frame, size prefix removed */
#define FMQ_EV_ACCEPT 1    /* a new connection; listener = the id fmq_net_listen gave */
#define FMQ_EV_CLOSED 2    /* closed by peer or error; reason = errno or 0 */
#define FMQ_EV_OVERSIZED 3 /* frame size above max_frame or negative; the
                              connection is closed; len = announced size */
#define FMQ_EV_TLS_FAILED 4 /* the TLS handshake or a record failed; the connection
                               is closed; data/len: the reason, as text */

typedef struct {
    uint64_t conn;
    int32_t kind;
    int32_t reason;
    const uint8_t *data;
    int64_t len;
    int32_t listener;
} fmq_event;

#define FMQ_NET_GONE -1    /* fmq_net_send*: the connection is closed */

/* max_frame: socket.request.max.bytes, checked against the size prefix
 * before any allocation. */
fmq_net *fmq_net_new(int64_t max_frame);
void fmq_net_free(fmq_net *net);
/* Binds and listens; returns the listener's id (0, 1, ... in call order;
 * accept events carry it) and writes the bound port to *bound_port (port 0
 * picks a free one), or returns -errno. At most 8 listeners. With tls, each
 * accepted connection speaks TLS with that context (NULL: cleartext). */
int fmq_net_listen(fmq_net *net, const char *host, int port, int *bound_port, fmq_tls_ctx *tls);
/* Stops accepting (listeners closed); open connections keep working. */
void fmq_net_stop_listening(fmq_net *net);
/* The epoll fd to watch for readability. */
int fmq_net_fd(fmq_net *net);
/* Reads every ready socket, accepts pending connections and returns up to
 * max events. Frame data stays valid until the next fmq_net_poll call.
 * Returns the number of events (more may remain: call again while it
 * returns max). Never blocks. */
int fmq_net_poll(fmq_net *net, fmq_event *events, int max);
/* Queues a copy of buf on the connection. Returns 0, FMQ_NET_GONE if the
 * connection is closed, or -ENOMEM (nothing queued: the caller should close
 * the connection, whose response order is broken). */
int fmq_net_send(fmq_net *net, uint64_t conn, const uint8_t *buf, size_t len);
/* Queues len bytes of file fd from offset, sent with sendfile. The fd is
 * dup()ed, so the caller may close its own. Returns 0, FMQ_NET_GONE or
 * -errno (as fmq_net_send). */
int fmq_net_send_file(fmq_net *net, uint64_t conn, int fd, int64_t offset, size_t len);
/* Writes what it can of every connection's queue without blocking; the
 * rest is sent when the socket becomes writable (during fmq_net_poll).
 * Returns the number of connections still holding unsent bytes. */
int fmq_net_flush(fmq_net *net);
/* Bytes queued and not yet sent on conn (0 if gone). */
int64_t fmq_net_pending(fmq_net *net, uint64_t conn);
/* Closes conn now (queued bytes are dropped). No FMQ_EV_CLOSED follows. */
void fmq_net_close(fmq_net *net, uint64_t conn);
/* Closes conn once its queued bytes are written (a last response, such as a
 * failed SASL authentication's, still reaches the client); nothing more is
 * read from it or may be sent to it. No FMQ_EV_CLOSED follows. */
void fmq_net_close_after_flush(fmq_net *net, uint64_t conn);
/* Writes "ip:port" of the peer into buf; returns 0 or -1. */
int fmq_net_peer(fmq_net *net, uint64_t conn, char *buf, size_t buflen);
/* TLS state of conn: -1 (gone, or not TLS), 0 (handshake under way), 1 (established). */
int fmq_net_tls_state(fmq_net *net, uint64_t conn);
/* The RFC 2253 subject of conn's verified client certificate: returns 1 and
 * writes it to buf, 0 when there is none, -1 when conn is gone or not TLS. */
int fmq_net_tls_peer_subject(fmq_net *net, uint64_t conn, char *buf, size_t buflen);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" of an established conn; returns 0 or -1. */
int fmq_net_tls_session(fmq_net *net, uint64_t conn, char *buf, size_t buflen);
/* Number of open client connections. */
int fmq_net_connections(fmq_net *net);
