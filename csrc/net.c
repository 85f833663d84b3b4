/*
 * net.c - the Kafka listener: epoll, accept, non-blocking reads, frame
 * splitting, ordered per-connection output with writev and sendfile.
 *
 * Kafka framing: every request is a 4-byte big-endian size followed by that
 * many bytes. socket.request.max.bytes bounds the size; it is checked on the
 * prefix, before any buffer is grown for the frame.
 *
 * Lifetime rules that keep the frame pointers handed to Python valid:
 *  - frames returned by fmq_net_poll point into the connection's read buffer;
 *    a read buffer is compacted or reallocated only at the start of the next
 *    poll, or before any frame of that connection was returned in this poll;
 *  - a connection closed during a poll is freed at the start of the next one.
 *
 * Connection ids are (generation << 32 | fd), so a stale id never reaches a
 * newer connection that reused the fd.
 *
 * Transport seam: every byte a connection reads or writes goes through its
 * struct transport (read, writev, sendfile), chosen from its listener at
 * accept: cleartext, or TLS (csrc/tls.c) for listeners given a context.
 * Framing and response order are the same for both. TLS adds two things the
 * loop must know: an operation may wait for the other direction (a handshake
 * read that must write, a write that must read), and OpenSSL may hold
 * received bytes that epoll cannot see; such connections are read again at
 * the next poll, woken by an eventfd in the epoll set.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "fluxmq.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define FRAME_PREFIX 4
#define READ_BUF_INITIAL (64 * 1024)
#define OUT_CHUNK_SIZE (64 * 1024)
#define MAX_IOV 64
#define MAX_LISTENERS 8
#define EPOLL_BATCH 256
#define LISTENER_TAG (1ULL << 63)
#define WAKE_TAG (LISTENER_TAG | 0xffffffffULL) /* the eventfd that asks for a re-read */

enum chunk_kind { CHUNK_MEM, CHUNK_FILE };

struct conn;

/* How a connection moves bytes. Each call is non-blocking and returns what
 * read(2)/writev(2)/sendfile(2) return, with errno set on -1. */
struct transport {
    const char *name;
    ssize_t (*read)(struct conn *c, void *buf, size_t len);
    ssize_t (*writev)(struct conn *c, const struct iovec *iov, int iovcnt);
    ssize_t (*sendfile)(struct conn *c, int in_fd, off_t *offset, size_t len);
};

struct listener {
    int fd;                            /* -1 once stopped */
    const struct transport *transport; /* given to each accepted connection */
    fmq_tls_ctx *tls;                  /* TLS listeners: a reference to the context */
};

struct out_chunk {
    struct out_chunk *next;
    enum chunk_kind kind;
    size_t len;      /* bytes in the chunk */
    size_t sent;     /* bytes already written */
    size_t cap;      /* CHUNK_MEM: capacity of data */
    int file_fd;     /* CHUNK_FILE: our dup of the caller's fd */
    int64_t file_off;
    uint8_t data[];  /* CHUNK_MEM payload */
};

struct conn {
    uint64_t id;
    int fd;
    int listener;        /* index into fmq_net.listeners */
    const struct transport *transport;
    uint8_t *rbuf;
    size_t rcap;
    size_t rstart;       /* first byte not yet returned as a frame */
    size_t rend;         /* end of received bytes */
    int returned_frames; /* frames of this conn handed out in this poll */
    int backlog;         /* complete frames left because events[] was full */
    int closing;         /* closed during this poll; freed at the next */
    int out_armed;       /* EPOLLOUT registered */
    int dirty;           /* on the dirty list */
    int close_drained;   /* fmq_net_close_after_flush: close once out_head is written */
    int reread;          /* on the reread list: TLS holds bytes epoll cannot report */
    struct tls_conn *tls; /* TLS connections: the session */
    int64_t out_bytes;
    struct out_chunk *out_head, *out_tail;
    char peer[64];
};

struct fmq_net {
    int epfd;
    int64_t max_frame;
    struct listener listeners[MAX_LISTENERS];
    int n_listeners;
    struct conn **conns; /* indexed by fd */
    int conns_cap;
    int n_conns;
    uint32_t generation;
    uint64_t *dirty;     /* ids with queued output */
    int n_dirty, dirty_cap;
    uint64_t *backlog;   /* ids with unreturned complete frames */
    int n_backlog, backlog_cap;
    struct conn **graveyard;
    int n_graveyard, graveyard_cap;
    uint64_t *reread;    /* TLS ids to read again at the next poll */
    int n_reread, reread_cap;
    int wakefd;          /* eventfd: readable while the reread list is not empty */
};

/* -------------------------------------------------------------- transports */

static ssize_t plain_read(struct conn *c, void *buf, size_t len) { return read(c->fd, buf, len); }

static ssize_t plain_writev(struct conn *c, const struct iovec *iov, int iovcnt) {
    return writev(c->fd, iov, iovcnt);
}

static ssize_t plain_sendfile(struct conn *c, int in_fd, off_t *offset, size_t len) {
    return sendfile(c->fd, in_fd, offset, len);
}

static const struct transport plain_transport = {"plain", plain_read, plain_writev, plain_sendfile};

static ssize_t tls_read(struct conn *c, void *buf, size_t len) { return tls_conn_read(c->tls, buf, len); }

static ssize_t tls_writev(struct conn *c, const struct iovec *iov, int iovcnt) {
    return tls_conn_writev(c->tls, iov, iovcnt);
}

static ssize_t tls_sendfile(struct conn *c, int in_fd, off_t *offset, size_t len) {
    return tls_conn_sendfile(c->tls, in_fd, offset, len);
}

static const struct transport tls_transport = {"tls", tls_read, tls_writev, tls_sendfile};

static int wants(const struct conn *c, int what) { return c->tls && (tls_conn_wants(c->tls) & what); }

/* ------------------------------------------------------------ small lists */

static int push_id(uint64_t **arr, int *n, int *cap, uint64_t id) {
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 64;
        uint64_t *p = realloc(*arr, (size_t)ncap * sizeof(uint64_t));
        if (!p) return -1;
        *arr = p;
        *cap = ncap;
    }
    (*arr)[(*n)++] = id;
    return 0;
}

static struct conn *lookup(fmq_net *net, uint64_t id) {
    uint32_t fd = (uint32_t)(id & 0xffffffffu);
    if ((int)fd >= net->conns_cap) return NULL;
    struct conn *c = net->conns[fd];
    if (!c || c->id != id || c->closing) return NULL;
    return c;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* --------------------------------------------------------------- lifecycle */

fmq_net *fmq_net_new(int64_t max_frame) {
    fmq_net *net = calloc(1, sizeof(*net));
    if (!net) return NULL;
    net->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (net->epfd < 0) {
        free(net);
        return NULL;
    }
    net->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if (net->wakefd < 0 || epoll_ctl(net->epfd, EPOLL_CTL_ADD, net->wakefd, &ev) < 0) {
        if (net->wakefd >= 0) close(net->wakefd);
        close(net->epfd);
        free(net);
        return NULL;
    }
    net->max_frame = max_frame;
    return net;
}

static void free_chunks(struct conn *c) {
    struct out_chunk *ch = c->out_head;
    while (ch) {
        struct out_chunk *next = ch->next;
        if (ch->kind == CHUNK_FILE) close(ch->file_fd);
        free(ch);
        ch = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

static void free_conn(struct conn *c) {
    free_chunks(c);
    tls_conn_free(c->tls);
    free(c->rbuf);
    free(c);
}

/* Detaches the socket now; the struct (and its read buffer, which frames of
 * this poll may point into) waits in the graveyard until the next poll. */
static void close_conn(fmq_net *net, struct conn *c) {
    if (c->closing) return;
    c->closing = 1;
    epoll_ctl(net->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->tls) tls_conn_close_notify(c->tls);
    close(c->fd);
    net->n_conns--;
    if (net->n_graveyard == net->graveyard_cap) {
        int ncap = net->graveyard_cap ? net->graveyard_cap * 2 : 16;
        struct conn **p = realloc(net->graveyard, (size_t)ncap * sizeof(*p));
        if (!p) {
            /* Out of memory: keep the slot (leaks until fmq_net_free) rather
             * than free a buffer Python may still read. */
            return;
        }
        net->graveyard = p;
        net->graveyard_cap = ncap;
    }
    net->graveyard[net->n_graveyard++] = c;
}

/* The end of close_after_flush: what the peer sent meanwhile is read and
 * dropped first, since closing a socket with unread input sends a reset, which
 * may destroy the last answer before the peer has read it. */
static void close_drained_conn(fmq_net *net, struct conn *c) {
    uint8_t sink[4096];
    for (int i = 0; i < 256 && c->transport->read(c, sink, sizeof(sink)) > 0; i++) {}
    close_conn(net, c);
}

static void bury_graveyard(fmq_net *net) {
    for (int i = 0; i < net->n_graveyard; i++) {
        struct conn *c = net->graveyard[i];
        if (c->fd < net->conns_cap && net->conns[c->fd] == c) net->conns[c->fd] = NULL;
        free_conn(c);
    }
    net->n_graveyard = 0;
}

void fmq_net_free(fmq_net *net) {
    if (!net) return;
    fmq_net_stop_listening(net);
    bury_graveyard(net);
    for (int fd = 0; fd < net->conns_cap; fd++) {
        struct conn *c = net->conns[fd];
        if (c) {
            if (!c->closing) {
                if (c->tls) tls_conn_close_notify(c->tls);
                close(c->fd);
            }
            free_conn(c);
        }
    }
    for (int i = 0; i < net->n_listeners; i++) tls_ctx_unref(net->listeners[i].tls);
    close(net->wakefd);
    close(net->epfd);
    free(net->conns);
    free(net->dirty);
    free(net->backlog);
    free(net->graveyard);
    free(net->reread);
    free(net);
}

/* --------------------------------------------------------------- listening */

int fmq_net_listen(fmq_net *net, const char *host, int port, int *bound_port, fmq_tls_ctx *tls) {
    if (net->n_listeners == MAX_LISTENERS) return -EMFILE;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
    if (rc != 0) return -EADDRNOTAVAIL;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        freeaddrinfo(res);
        return rc;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        rc = -errno;
        close(fd);
        freeaddrinfo(res);
        return rc;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    int id = net->n_listeners;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER_TAG | (uint64_t)id};
    if (epoll_ctl(net->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    net->listeners[id] = (struct listener){.fd = fd, .transport = tls ? &tls_transport : &plain_transport, .tls = tls};
    if (tls) tls_ctx_ref(tls);
    net->n_listeners++;
    if (bound_port)
        *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return id;
}

void fmq_net_stop_listening(fmq_net *net) {
    for (int i = 0; i < net->n_listeners; i++) {
        struct listener *l = &net->listeners[i];
        if (l->fd < 0) continue;
        epoll_ctl(net->epfd, EPOLL_CTL_DEL, l->fd, NULL);
        close(l->fd);
        l->fd = -1;
    }
}

int fmq_net_fd(fmq_net *net) { return net->epfd; }

int fmq_net_connections(fmq_net *net) { return net->n_conns; }

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t n) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", ip, port);
}

static int ensure_conn_slot(fmq_net *net, int fd) {
    if (fd < net->conns_cap) return 0;
    int ncap = net->conns_cap ? net->conns_cap : 1024;
    while (ncap <= fd) ncap *= 2;
    struct conn **p = realloc(net->conns, (size_t)ncap * sizeof(*p));
    if (!p) return -1;
    memset(p + net->conns_cap, 0, (size_t)(ncap - net->conns_cap) * sizeof(*p));
    net->conns = p;
    net->conns_cap = ncap;
    return 0;
}

/* Accepts every pending connection on a listener; one ACCEPT event each,
 * carrying the listener's id. */
static int accept_all(fmq_net *net, int listener_id, fmq_event *events, int n, int max) {
    struct listener *l = &net->listeners[listener_id];
    int lfd = l->fd;
    if (lfd < 0) return n;
    while (n < max) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break; /* EAGAIN, or a transient error such as EMFILE */
        /* A previous connection on this fd may still wait in the graveyard. */
        if (ensure_conn_slot(net, fd) < 0 || (net->conns[fd] && !net->conns[fd]->closing)) {
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        if (net->conns[fd]) {
            /* Graveyard entry: drop the index slot, it is freed next poll. */
            net->conns[fd] = NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->listener = listener_id;
        c->transport = l->transport;
        if (l->tls && !(c->tls = tls_conn_new(l->tls, fd))) {
            close(fd);
            free(c);
            continue;
        }
        c->id = ((uint64_t)(++net->generation) << 32) | (uint32_t)fd;
        format_peer(&ss, c->peer, sizeof(c->peer));
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = c->id};
        if (epoll_ctl(net->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free_conn(c);
            continue;
        }
        net->conns[fd] = c;
        net->n_conns++;
        events[n++] = (fmq_event){.conn = c->id, .kind = FMQ_EV_ACCEPT, .listener = listener_id};
    }
    return n;
}

/* ----------------------------------------------------------------- reading */

/* Makes room to read: compacts (only when no frame of this poll points into
 * the buffer) and grows to hold the frame being received. */
static int make_room(fmq_net *net, struct conn *c) {
    if (c->rend < c->rcap) return 0;
    if (c->returned_frames) return -1; /* frames of this poll pin the buffer */
    if (c->rstart > 0) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
        if (c->rend < c->rcap) return 0;
    }
    size_t need = c->rcap ? c->rcap * 2 : READ_BUF_INITIAL;
    if (c->rend >= FRAME_PREFIX) {
        /* Grow to exactly the frame in progress if that is smaller. */
        int64_t size = (int32_t)be32(c->rbuf);
        if (size < 0 || size > net->max_frame) return -1; /* caught by split */
        size_t frame = (size_t)size + FRAME_PREFIX;
        if (frame <= c->rend) return -1; /* a complete frame waits: split first */
        if (frame < need) need = frame;
        if (need < c->rcap + 1) need = c->rcap + 1;
    }
    uint8_t *p = realloc(c->rbuf, need);
    if (!p) return -1;
    c->rbuf = p;
    c->rcap = need;
    return 0;
}

/* Reads until EAGAIN, until complete frames are waiting and the buffer is
 * full, or until the peer closes. Returns 0, or an errno (ECONNRESET for an
 * orderly close by the peer). */
static int read_conn(fmq_net *net, struct conn *c) {
    for (;;) {
        if (make_room(net, c) < 0) return 0;
        ssize_t r = c->transport->read(c, c->rbuf + c->rend, c->rcap - c->rend);
        if (r > 0) {
            c->rend += (size_t)r;
            continue;
        }
        if (r == 0) return ECONNRESET;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return errno;
    }
}

/* Splits complete frames into events. Returns the new event count; on an
 * oversized or negative size prefix, emits OVERSIZED and closes. */
static int split_frames(fmq_net *net, struct conn *c, fmq_event *events, int n, int max) {
    while (c->rend - c->rstart >= FRAME_PREFIX) {
        if (n == max) {
            if (!c->backlog) {
                c->backlog = 1;
                push_id(&net->backlog, &net->n_backlog, &net->backlog_cap, c->id);
            }
            return n;
        }
        int64_t size = (int32_t)be32(c->rbuf + c->rstart);
        if (size < 0 || size > net->max_frame) {
            events[n++] = (fmq_event){.conn = c->id, .kind = FMQ_EV_OVERSIZED, .len = size};
            close_conn(net, c);
            return n;
        }
        if (c->rend - c->rstart - FRAME_PREFIX < (uint64_t)size) break;
        events[n++] = (fmq_event){.conn = c->id, .kind = FMQ_EV_FRAME,
                                  .data = c->rbuf + c->rstart + FRAME_PREFIX, .len = size};
        c->rstart += FRAME_PREFIX + (size_t)size;
        c->returned_frames++;
    }
    return n;
}

/* ----------------------------------------------------------------- writing */

static void set_out_armed(fmq_net *net, struct conn *c, int on) {
    if (c->out_armed == on) return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.u64 = c->id};
    epoll_ctl(net->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = on;
}

static void pop_chunk(struct conn *c) {
    struct out_chunk *ch = c->out_head;
    c->out_head = ch->next;
    if (!c->out_head) c->out_tail = NULL;
    if (ch->kind == CHUNK_FILE) close(ch->file_fd);
    free(ch);
}

/* Writes as much of the queue as the socket takes. Returns 1 if bytes
 * remain, 0 if drained, -1 on a fatal socket error. */
static int flush_conn(fmq_net *net, struct conn *c) {
    while (c->out_head) {
        struct out_chunk *ch = c->out_head;
        ssize_t w;
        if (ch->kind == CHUNK_FILE) {
            off_t off = (off_t)(ch->file_off + (int64_t)ch->sent);
            w = c->transport->sendfile(c, ch->file_fd, &off, ch->len - ch->sent);
            if (w == 0) return -1; /* the file shrank under us */
        } else {
            struct iovec iov[MAX_IOV];
            int k = 0;
            for (struct out_chunk *p = ch; p && p->kind == CHUNK_MEM && k < MAX_IOV; p = p->next, k++) {
                iov[k].iov_base = p->data + p->sent;
                iov[k].iov_len = p->len - p->sent;
            }
            w = c->transport->writev(c, iov, k);
        }
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* A TLS write that waits for input resumes after the next read. */
                set_out_armed(net, c, !wants(c, TLS_WRITE_WANTS_READ) || wants(c, TLS_READ_WANTS_WRITE));
                return 1;
            }
            return -1;
        }
        c->out_bytes -= w;
        size_t left = (size_t)w;
        while (left > 0 && c->out_head) {
            struct out_chunk *h = c->out_head;
            size_t avail = h->len - h->sent;
            if (left >= avail) {
                left -= avail;
                pop_chunk(c);
            } else {
                h->sent += left;
                left = 0;
            }
        }
    }
    set_out_armed(net, c, wants(c, TLS_READ_WANTS_WRITE));
    return 0;
}

static void mark_dirty(fmq_net *net, struct conn *c) {
    if (c->dirty) return;
    c->dirty = 1;
    push_id(&net->dirty, &net->n_dirty, &net->dirty_cap, c->id);
}

static void append_chunk(struct conn *c, struct out_chunk *ch) {
    if (c->out_tail) c->out_tail->next = ch;
    else c->out_head = ch;
    c->out_tail = ch;
}

int fmq_net_send(fmq_net *net, uint64_t conn, const uint8_t *buf, size_t len) {
    struct conn *c = lookup(net, conn);
    if (!c || c->close_drained) return FMQ_NET_GONE;
    if (len == 0) return 0;
    struct out_chunk *t = c->out_tail;
    /* Small responses share a chunk, so one writev carries many of them. */
    if (t && t->kind == CHUNK_MEM && t->sent == 0 && t->cap - t->len >= len) {
        memcpy(t->data + t->len, buf, len);
        t->len += len;
    } else {
        size_t cap = len > OUT_CHUNK_SIZE ? len : OUT_CHUNK_SIZE;
        struct out_chunk *ch = malloc(sizeof(*ch) + cap);
        if (!ch) return -ENOMEM;
        *ch = (struct out_chunk){.kind = CHUNK_MEM, .len = len, .cap = cap};
        memcpy(ch->data, buf, len);
        append_chunk(c, ch);
    }
    c->out_bytes += (int64_t)len;
    mark_dirty(net, c);
    return 0;
}

int fmq_net_send_file(fmq_net *net, uint64_t conn, int fd, int64_t offset, size_t len) {
    struct conn *c = lookup(net, conn);
    if (!c || c->close_drained) return FMQ_NET_GONE;
    if (len == 0) return 0;
    struct out_chunk *ch = malloc(sizeof(*ch));
    if (!ch) return -ENOMEM;
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0) {
        int err = -errno;
        free(ch);
        return err;
    }
    *ch = (struct out_chunk){.kind = CHUNK_FILE, .len = len, .file_fd = dupfd, .file_off = offset};
    append_chunk(c, ch);
    c->out_bytes += (int64_t)len;
    mark_dirty(net, c);
    return 0;
}

int fmq_net_flush(fmq_net *net) {
    int pending = 0, keep = 0;
    for (int i = 0; i < net->n_dirty; i++) {
        struct conn *c = lookup(net, net->dirty[i]);
        if (!c) continue;
        int r = flush_conn(net, c);
        if (r < 0) {
            close_conn(net, c);
            continue;
        }
        if (r > 0) {
            /* Stays dirty; EPOLLOUT will resume it inside fmq_net_poll. */
            net->dirty[keep++] = c->id;
            pending++;
        } else {
            c->dirty = 0;
            if (c->close_drained) close_drained_conn(net, c);
        }
    }
    net->n_dirty = keep;
    return pending;
}

int64_t fmq_net_pending(fmq_net *net, uint64_t conn) {
    struct conn *c = lookup(net, conn);
    return c ? c->out_bytes : 0;
}

void fmq_net_close(fmq_net *net, uint64_t conn) {
    struct conn *c = lookup(net, conn);
    if (c) close_conn(net, c);
}

void fmq_net_close_after_flush(fmq_net *net, uint64_t conn) {
    struct conn *c = lookup(net, conn);
    if (!c) return;
    if (!c->out_head) {
        close_drained_conn(net, c);
        return;
    }
    c->close_drained = 1;
    /* Writable only: what the peer still sends is not read (nor does it wake us). */
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = c->id};
    epoll_ctl(net->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = 1;
    mark_dirty(net, c);
}

int fmq_net_tls_state(fmq_net *net, uint64_t conn) {
    struct conn *c = lookup(net, conn);
    if (!c || !c->tls) return -1;
    return tls_conn_established(c->tls) ? 1 : 0;
}

int fmq_net_tls_peer_subject(fmq_net *net, uint64_t conn, char *buf, size_t buflen) {
    struct conn *c = lookup(net, conn);
    if (!c || !c->tls || buflen == 0) return -1;
    return tls_conn_peer_subject(c->tls, buf, buflen);
}

int fmq_net_tls_session(fmq_net *net, uint64_t conn, char *buf, size_t buflen) {
    struct conn *c = lookup(net, conn);
    if (!c || !c->tls || !tls_conn_established(c->tls)) return -1;
    snprintf(buf, buflen, "%s %s", tls_conn_protocol(c->tls), tls_conn_cipher(c->tls));
    return 0;
}

int fmq_net_peer(fmq_net *net, uint64_t conn, char *buf, size_t buflen) {
    uint32_t fd = (uint32_t)(conn & 0xffffffffu);
    if ((int)fd >= net->conns_cap || !net->conns[fd] || net->conns[fd]->id != conn) return -1;
    snprintf(buf, buflen, "%s", net->conns[fd]->peer);
    return 0;
}

/* -------------------------------------------------------------------- poll */

/* Start of a poll: frames returned last time are no longer referenced. */
static void release_previous_poll(fmq_net *net) {
    bury_graveyard(net);
}

static void reset_returned(struct conn *c) {
    c->returned_frames = 0;
}

/* The close event of a connection that failed: TLS failures carry their reason. */
static fmq_event closed_event(struct conn *c, int err) {
    if (c->tls && tls_conn_error(c->tls)[0]) {
        const char *why = tls_conn_error(c->tls);
        return (fmq_event){.conn = c->id, .kind = FMQ_EV_TLS_FAILED, .data = (const uint8_t *)why,
                           .len = (int64_t)strlen(why)};
    }
    return (fmq_event){.conn = c->id, .kind = FMQ_EV_CLOSED, .reason = err == ECONNRESET ? 0 : err,
                       .len = (int64_t)(c->rend - c->rstart)};
}

/* TLS may hold received bytes that epoll will not report again: such a
 * connection goes on the reread list and the eventfd wakes the loop. */
static void note_buffered(fmq_net *net, struct conn *c) {
    if (!c->tls || c->closing || c->reread || !tls_conn_buffered(c->tls)) return;
    if (push_id(&net->reread, &net->n_reread, &net->reread_cap, c->id) < 0) return;
    c->reread = 1;
    uint64_t one = 1;
    if (write(net->wakefd, &one, sizeof(one)) < 0) { /* already readable */ }
}

/* Reads what conn has and splits it into frames; closes it on end of input
 * or an error. hangup: epoll reported EPOLLHUP/EPOLLERR. */
static int serve_input(fmq_net *net, struct conn *c, int hangup, fmq_event *events, int n, int max) {
    if (c->backlog || c->returned_frames) { /* served above; epoll is level-triggered */
        note_buffered(net, c);
        return n;
    }
    int err = read_conn(net, c);
    n = split_frames(net, c, events, n, max);
    if (err && !c->closing && n < max) {
        events[n++] = closed_event(c, err);
        close_conn(net, c);
    } else if (!err && hangup && !c->closing && n < max) {
        close_conn(net, c);
        events[n++] = (fmq_event){.conn = c->id, .kind = FMQ_EV_CLOSED, .reason = EPIPE};
    }
    if (c->closing) return n;
    if (wants(c, TLS_READ_WANTS_WRITE)) set_out_armed(net, c, 1);
    if (wants(c, TLS_WRITE_WANTS_READ) && c->out_head && flush_conn(net, c) < 0) {
        if (n < max) events[n++] = closed_event(c, EPIPE);
        close_conn(net, c);
        return n;
    }
    note_buffered(net, c);
    return n;
}

/* Connections whose TLS session held bytes at the end of the last poll. */
static int serve_rereads(fmq_net *net, fmq_event *events, int n, int max) {
    uint64_t drained;
    if (read(net->wakefd, &drained, sizeof(drained)) < 0) { /* nothing pending */ }
    int nr = net->n_reread;
    net->n_reread = 0;
    for (int i = 0; i < nr; i++) {
        struct conn *c = lookup(net, net->reread[i]);
        if (!c) continue;
        c->reread = 0;
        if (n < max) n = serve_input(net, c, 0, events, n, max);
        else note_buffered(net, c);
    }
    return n;
}

int fmq_net_poll(fmq_net *net, fmq_event *events, int max) {
    int n = 0;
    release_previous_poll(net);
    for (int fd = 0; fd < net->conns_cap; fd++)
        if (net->conns[fd]) reset_returned(net->conns[fd]);

    /* Connections whose complete frames did not fit last time go first. */
    int nb = net->n_backlog;
    net->n_backlog = 0;
    for (int i = 0; i < nb; i++) {
        struct conn *c = lookup(net, net->backlog[i]);
        if (!c) continue;
        c->backlog = 0;
        n = split_frames(net, c, events, n, max);
        if (n == max && i + 1 < nb) {
            for (int j = i + 1; j < nb; j++) {
                struct conn *r = lookup(net, net->backlog[j]);
                if (r && !r->backlog) {
                    r->backlog = 1;
                    net->backlog[net->n_backlog++] = r->id;
                }
            }
            return n;
        }
    }

    struct epoll_event evs[EPOLL_BATCH];
    int room = max - n;
    if (room <= 0) return n;
    int ne = epoll_wait(net->epfd, evs, room < EPOLL_BATCH ? room : EPOLL_BATCH, 0);
    for (int i = 0; i < ne; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag == WAKE_TAG) {
            n = serve_rereads(net, events, n, max);
            continue;
        }
        if (tag & LISTENER_TAG) {
            n = accept_all(net, (int)(tag & 0xffffffffu), events, n, max);
            continue;
        }
        struct conn *c = lookup(net, tag);
        if (!c) continue;
        if (c->close_drained) {
            /* Python has forgotten it: close when written or broken, silently. */
            int r = flush_conn(net, c);
            if (r == 0) close_drained_conn(net, c);
            else if (r < 0) close_conn(net, c);
            continue;
        }
        if (evs[i].events & EPOLLOUT) {
            if (flush_conn(net, c) < 0) {
                events[n++] = closed_event(c, EPIPE);
                close_conn(net, c);
                continue;
            }
        }
        int readable = evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
        if (!readable && !((evs[i].events & EPOLLOUT) && wants(c, TLS_READ_WANTS_WRITE))) continue;
        n = serve_input(net, c, evs[i].events & (EPOLLHUP | EPOLLERR), events, n, max);
        if (n == max) break;
    }
    return n;
}
