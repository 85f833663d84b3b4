"""The only importer of fluxmq._native (the cffi build of csrc/).

Checks that the compiled library matches this package, exposes `ffi`/`lib` for
tests and benchmarks, and wraps the C calls the broker uses in functions that
check arguments and turn C errors into exceptions.
"""

from __future__ import annotations

import os
import threading

try:
    from fluxmq._native import ffi, lib
except ImportError as e:  # pragma: no cover - message for a broken install
    raise ImportError(
        "fluxmq's C library is not built; run `pip install -e .` (or `make native`)"
    ) from e

ABI_VERSION = 3
if lib.FMQ_ABI_VERSION != ABI_VERSION:  # pragma: no cover
    raise ImportError(
        f"fluxmq._native ABI {lib.FMQ_ABI_VERSION} != {ABI_VERSION}: rebuild with `make native`"
    )

SCAN_ERRORS = {
    lib.FMQ_SCAN_TRUNCATED: "truncated batch",
    lib.FMQ_SCAN_BAD_MAGIC: "unsupported magic byte (only record batch v2 is accepted)",
    lib.FMQ_SCAN_BAD_CRC: "CRC-32C mismatch",
    lib.FMQ_SCAN_BAD_LENGTH: "impossible batch length",
    lib.FMQ_SCAN_TOO_MANY: "too many batches",
}


class CorruptRecords(ValueError):
    """A records blob failed validation; `reason` says why."""

    def __init__(self, reason: str, valid_len: int, n_valid: int):
        super().__init__(reason)
        self.reason = reason
        self.valid_len = valid_len
        self.n_valid = n_valid


def crc32c(data: bytes, crc: int = 0) -> int:
    return lib.fmq_crc32c(crc, ffi.from_buffer(data), len(data))


def crc32c_impl() -> str:
    return ffi.string(lib.fmq_crc32c_impl()).decode()


def copy_impl() -> str:
    return ffi.string(lib.fmq_copy_impl()).decode()


def numa_impl() -> str:
    return ffi.string(lib.fmq_numa_impl()).decode()


_MAX_BATCHES = 4096


class _Scratch(threading.local):
    """Per-thread buffers for fmq_batches_scan: the event loop and the log cleaner's
    worker thread scan at the same time, and the produce path allocates nothing."""

    def __init__(self):
        self.infos = ffi.new("fmq_batch_info[]", _MAX_BATCHES)
        self.valid_len = ffi.new("uint64_t *")
        self.n_valid = ffi.new("int *")


_scratch = _Scratch()


def scan_batches(buf, verify_crc: bool = True, max_batches: int = _MAX_BATCHES):
    """Validates the record batches in `buf` (bytes-like).

    Returns (cdata array of fmq_batch_info, count). The array is this thread's
    scratch buffer: use it before this thread's next call. Raises CorruptRecords.
    """
    s = _scratch
    infos = s.infos if max_batches <= _MAX_BATCHES else ffi.new("fmq_batch_info[]", max_batches)
    n = lib.fmq_batches_scan(
        ffi.from_buffer(buf), len(buf), 1 if verify_crc else 0, infos, max_batches, s.valid_len, s.n_valid
    )
    if n < 0:
        raise CorruptRecords(SCAN_ERRORS.get(n, f"scan error {n}"), s.valid_len[0], s.n_valid[0])
    return infos, n


def scan_prefix(buf, verify_crc: bool = True, max_batches: int = _MAX_BATCHES):
    """Recovery scan: (infos, n_valid, valid_len, error or None); never raises.
    The infos array is the caller's own."""
    s = _scratch
    infos = ffi.new("fmq_batch_info[]", max_batches)
    n = lib.fmq_batches_scan(
        ffi.from_buffer(buf), len(buf), 1 if verify_crc else 0, infos, max_batches, s.valid_len, s.n_valid
    )
    if n >= 0:
        return infos, n, len(buf), None
    return infos, s.n_valid[0], s.valid_len[0], n


def assign_offsets(buf: bytearray, infos, n: int, base_offset: int, leader_epoch: int) -> int:
    return lib.fmq_batches_assign_offsets(ffi.from_buffer(buf), infos, n, base_offset, leader_epoch)


def set_log_append_time(buf: bytearray, position: int, timestamp_ms: int) -> None:
    lib.fmq_batch_set_log_append_time(ffi.from_buffer(buf), position, timestamp_ms)


def appends_use_uring() -> bool:
    """Buffered appends to the page cache go through pwritev unless
    FLUXMQ_SEGMENT_WRITES=io_uring: on ext4 the ring hands every buffered write
    to a kernel worker thread and a produce request took 1.5x as long (see
    csrc/segment.c). Syncs use the ring either way (SegmentIO.sync)."""
    return os.environ.get("FLUXMQ_SEGMENT_WRITES", "pwritev") == "io_uring"


class SegmentIO:
    """One fmq_io: whole-request segment writes and group-commit syncs
    (io_uring or pwritev/fdatasync). One thread per instance."""

    def __init__(self, force_fallback: bool = False, queue_depth: int = 256):
        force = force_fallback or os.environ.get("FLUXMQ_FORCE_PWRITEV") == "1"
        self._io = ffi.gc(lib.fmq_io_new(queue_depth, 1 if force else 0), lib.fmq_io_free)
        if self._io == ffi.NULL:
            raise MemoryError("fmq_io_new failed")
        self._max = 1024
        self._writes = ffi.new("fmq_write[]", self._max)

    @property
    def impl(self) -> str:
        return ffi.string(lib.fmq_io_impl(self._io)).decode()

    def write(self, writes: list[tuple[int, int, bytes]]) -> None:
        """writes: (fd, file offset, bytes-like). Blocks until all are written."""
        n = len(writes)
        if n > self._max:
            self._max = max(n, self._max * 2)
            self._writes = ffi.new("fmq_write[]", self._max)
        keep = []
        for i, (fd, off, data) in enumerate(writes):
            w = self._writes[i]
            w.fd = fd
            w.offset = off
            b = ffi.from_buffer(data)
            keep.append(b)
            w.buf = b
            w.len = len(data)
        rc = lib.fmq_io_write(self._io, self._writes, n)
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))


    def sync(self, fds: list[int]) -> None:
        """fdatasync every fd, all in flight at once on the io_uring path.
        Blocks (cffi releases the GIL): call it from the flusher thread."""
        if not fds:
            return
        rc = lib.fmq_io_sync(self._io, ffi.new("int[]", fds), len(fds))
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))


def sync_fds(fds: list[int]) -> None:
    """fdatasync each fd; blocks (cffi releases the GIL), so call it from a thread."""
    if not fds:
        return
    arr = ffi.new("int[]", fds)
    rc = lib.fmq_sync_fds(arr, len(fds))
    if rc < 0:
        raise OSError(-rc, os.strerror(-rc))


class Net:
    """The Kafka listeners and connections of csrc/net.c, for the event loop
    thread only. Every call's return code is checked: a send that could not be
    queued is never silently lost."""

    def __init__(self, max_frame: int):
        net = lib.fmq_net_new(max_frame)
        if net == ffi.NULL:
            raise OSError("fmq_net_new failed (epoll_create1)")
        self._net = ffi.gc(net, lib.fmq_net_free)
        self._port = ffi.new("int *")
        self._peer = ffi.new("char[]", 64)

    def listen(self, host: str, port: int, tls: "TlsContext | None" = None) -> tuple[int, int]:
        """(listener id, bound port); raises OSError. With tls, the listener speaks TLS."""
        rc = lib.fmq_net_listen(self._net, host.encode(), port, self._port, tls.ctx if tls else ffi.NULL)
        if rc < 0:
            raise OSError(-rc, f"cannot listen on {host}:{port}: {os.strerror(-rc)}")
        return rc, self._port[0]

    def stop_listening(self) -> None:
        lib.fmq_net_stop_listening(self._net)

    @property
    def fd(self) -> int:
        return lib.fmq_net_fd(self._net)

    def poll(self, events, max_events: int) -> int:
        return lib.fmq_net_poll(self._net, events, max_events)

    def send(self, conn: int, data) -> bool:
        """Queues bytes; False if the connection is gone. Raises MemoryError when
        nothing could be queued (the connection's response order is then broken)."""
        return self._checked(lib.fmq_net_send(self._net, conn, data, len(data)))

    def send_file(self, conn: int, fd: int, offset: int, length: int) -> bool:
        """Queues a file range (sendfile); as send()."""
        return self._checked(lib.fmq_net_send_file(self._net, conn, fd, offset, length))

    @staticmethod
    def _checked(rc: int) -> bool:
        if rc == 0:
            return True
        if rc == lib.FMQ_NET_GONE:
            return False
        raise MemoryError(f"cannot queue a response: {os.strerror(-rc)}")

    def flush(self) -> int:
        return lib.fmq_net_flush(self._net)

    def close(self, conn: int) -> None:
        lib.fmq_net_close(self._net, conn)

    def close_after_flush(self, conn: int) -> None:
        """Closes once what is queued for conn is written; nothing more is read."""
        lib.fmq_net_close_after_flush(self._net, conn)

    def peer(self, conn: int) -> str:
        if lib.fmq_net_peer(self._net, conn, self._peer, 64) != 0:
            return "?"
        return ffi.string(self._peer).decode()

    def connections(self) -> int:
        return lib.fmq_net_connections(self._net)

    def tls_established(self, conn: int) -> bool | None:
        """None when conn is gone or not TLS, else whether its handshake is done."""
        state = lib.fmq_net_tls_state(self._net, conn)
        return None if state < 0 else bool(state)

    def tls_peer_subject(self, conn: int) -> str | None:
        """The RFC 2253 subject of conn's verified client certificate, if it sent one."""
        buf = ffi.new("char[]", 1024)
        if lib.fmq_net_tls_peer_subject(self._net, conn, buf, 1024) != 1:
            return None
        return ffi.string(buf).decode("utf-8", "replace")

    def tls_session(self, conn: int) -> str | None:
        """"TLSv1.3 TLS_AES_256_GCM_SHA384" once established."""
        buf = ffi.new("char[]", 128)
        if lib.fmq_net_tls_session(self._net, conn, buf, 128) != 0:
            return None
        return ffi.string(buf).decode()


class TlsContext:
    """An OpenSSL server context (csrc/tls.c); every setter raises ValueError
    with OpenSSL's reason. What to load comes from fluxmq/security/tls.py."""

    CLIENT_AUTH = {"none": lib.FMQ_TLS_CLIENT_AUTH_NONE, "requested": lib.FMQ_TLS_CLIENT_AUTH_REQUESTED,
                   "required": lib.FMQ_TLS_CLIENT_AUTH_REQUIRED}

    def __init__(self):
        self._err = ffi.new("char[]", 512)
        ctx = lib.fmq_tls_ctx_new(self._err, 512)
        if ctx == ffi.NULL:
            raise ValueError(self._message())
        self.ctx = ffi.gc(ctx, lib.fmq_tls_ctx_free)

    def _message(self) -> str:
        return ffi.string(self._err).decode("utf-8", "replace")

    def _check(self, rc: int) -> int:
        if rc < 0:
            raise ValueError(self._message())
        return rc

    def use_pem(self, cert_chain: str, key: str, key_password: str | None) -> None:
        self._check(lib.fmq_tls_ctx_use_pem(self.ctx, cert_chain.encode(), key.encode(),
                                            (key_password or "").encode(), self._err, 512))

    def use_pkcs12(self, data: bytes, password: str | None) -> None:
        self._check(lib.fmq_tls_ctx_use_pkcs12(self.ctx, data, len(data), (password or "").encode(), self._err, 512))

    def trust_pem(self, pem: str) -> int:
        return self._check(lib.fmq_tls_ctx_trust_pem(self.ctx, pem.encode(), self._err, 512))

    def trust_pkcs12(self, data: bytes, password: str | None) -> int:
        return self._check(lib.fmq_tls_ctx_trust_pkcs12(self.ctx, data, len(data), (password or "").encode(),
                                                        self._err, 512))

    def set_client_auth(self, mode: str) -> None:
        if lib.fmq_tls_ctx_set_client_auth(self.ctx, self.CLIENT_AUTH[mode]) < 0:
            raise ValueError(f"ssl.client.auth {mode!r}")

    def set_protocols(self, min_version: int, max_version: int) -> None:
        self._check(lib.fmq_tls_ctx_set_protocols(self.ctx, min_version, max_version, self._err, 512))

    def set_cipher_suites(self, names: list[str]) -> None:
        self._check(lib.fmq_tls_ctx_set_cipher_suites(self.ctx, ",".join(names).encode(), self._err, 512))

    @property
    def ktls(self) -> bool:
        return bool(lib.fmq_tls_ctx_ktls(self.ctx))


def tls_info() -> str:
    """The TLS library and whether the kernel offers kTLS (for `fluxmq info`)."""
    ktls = "kTLS available" if lib.fmq_tls_ktls_available() else "no kTLS in this kernel: records encrypted by OpenSSL"
    return f"{ffi.string(lib.fmq_tls_library_version()).decode()} ({ktls})"


def info() -> dict[str, str]:
    """Which native paths run on this machine (for `fluxmq info`)."""
    syncs = SegmentIO().impl
    return {
        "crc32c": crc32c_impl(),
        "segment_writes": SegmentIO(force_fallback=not appends_use_uring()).impl,
        "segment_syncs": "io_uring" if syncs == "io_uring" else "fdatasync",
        "copy": copy_impl(),
        "numa": f"{numa_impl()} ({lib.fmq_numa_nodes()} node(s))",
        "tls": tls_info(),
    }
