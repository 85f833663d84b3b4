"""Segment writes (csrc/segment.c) through io_uring and through pwritev:
the bytes on disk must be exactly what was written, whatever the path."""

from __future__ import annotations

import ctypes
import errno
import os
import random
import threading
from pathlib import Path

import pytest

from fluxmq.native import ffi, lib
from native_helpers import libc_syscall, run_python

NR_IO_URING_SETUP = 425  # x86_64
IO_URING_PARAMS_SIZE = 120  # sizeof(struct io_uring_params)


def io_uring_unavailable_reason() -> str | None:
    """None when io_uring_setup works here, else why it does not."""
    params = ctypes.create_string_buffer(IO_URING_PARAMS_SIZE)
    fd, err = libc_syscall(NR_IO_URING_SETUP, ctypes.c_uint(4), params)
    if fd >= 0:
        os.close(fd)
        return None
    reason = f"io_uring_setup failed: {errno.errorcode.get(err, err)} ({os.strerror(err)})"
    disabled = Path("/proc/sys/kernel/io_uring_disabled")
    if disabled.exists():
        reason += f"; kernel.io_uring_disabled={disabled.read_text().strip()}"
    return reason


IO_URING_REASON = io_uring_unavailable_reason()
PWRITEV_FORCED = os.environ.get("FLUXMQ_FORCE_PWRITEV", "0") not in ("", "0")


@pytest.fixture(params=["io_uring", "pwritev"])
def io(request):
    if request.param == "io_uring":
        if IO_URING_REASON:
            pytest.skip(IO_URING_REASON)
        if PWRITEV_FORCED:
            pytest.skip("FLUXMQ_FORCE_PWRITEV is set")
    handle = lib.fmq_io_new(8, 1 if request.param == "pwritev" else 0)
    assert handle != ffi.NULL
    assert ffi.string(lib.fmq_io_impl(handle)).decode() == request.param
    yield handle
    lib.fmq_io_free(handle)


class Writes:
    """Builds an fmq_write array and remembers the expected file contents."""

    def __init__(self):
        self.items = []
        self.keep = []
        self.expected: dict[int, bytearray] = {}

    def add(self, fd: int, offset: int, data: bytes) -> None:
        buf = ffi.new("uint8_t[]", data) if data else ffi.NULL
        self.keep.append(buf)
        self.items.append((fd, offset, buf, len(data)))
        exp = self.expected.setdefault(fd, bytearray())
        if len(exp) < offset + len(data):
            exp.extend(b"\x00" * (offset + len(data) - len(exp)))
        exp[offset:offset + len(data)] = data

    def array(self):
        arr = ffi.new("fmq_write[]", max(len(self.items), 1))
        for i, (fd, off, buf, n) in enumerate(self.items):
            arr[i].fd, arr[i].offset, arr[i].buf, arr[i].len = fd, off, buf, n
        return arr

    def run(self, io) -> int:
        return lib.fmq_io_write(io, self.array(), len(self.items))


def file_bytes(fd: int) -> bytes:
    return os.pread(fd, os.fstat(fd).st_size, 0)


@pytest.fixture
def files(tmp_path):
    fds = [os.open(tmp_path / f"{i:020d}.log", os.O_RDWR | os.O_CREAT, 0o644) for i in range(3)]
    yield fds
    for fd in fds:
        os.close(fd)


def test_appends_of_many_partitions(io, files):
    rng = random.Random(1)
    w = Writes()
    ends = {fd: 0 for fd in files}
    for _ in range(500):
        fd = rng.choice(files)
        data = rng.randbytes(rng.choice([rng.randrange(1, 100), rng.randrange(1, 20000)]))
        w.add(fd, ends[fd], data)
        ends[fd] += len(data)
    assert w.run(io) == 0
    for fd in files:
        assert file_bytes(fd) == w.expected[fd]


def test_scattered_offsets_and_holes(io, files):
    rng = random.Random(2)
    w = Writes()
    fd = files[0]
    offsets = rng.sample(range(0, 4_000_000, 4096), 200)
    for off in offsets:
        w.add(fd, off + rng.randrange(100), rng.randbytes(rng.randrange(1, 4000)))
    assert w.run(io) == 0
    assert file_bytes(fd) == w.expected[fd]


def test_long_contiguous_run_beyond_iov_limit(io, files):
    # > 1024 contiguous writes to one file: merged runs must be split.
    rng = random.Random(3)
    w = Writes()
    pos = 0
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(1, 64))
        w.add(files[1], pos, data)
        pos += len(data)
    assert w.run(io) == 0
    assert file_bytes(files[1]) == w.expected[files[1]]


def test_many_more_ops_than_queue_depth(io, files):
    w = Writes()
    for i in range(1000):  # gaps keep every write a separate operation
        w.add(files[2], i * 10, bytes([i % 251]) * 5)
    assert w.run(io) == 0
    assert file_bytes(files[2]) == w.expected[files[2]]


def test_large_buffer(io, files):
    data = os.urandom(24 << 20)
    w = Writes()
    w.add(files[0], 0, data)
    w.add(files[0], len(data), b"tail")
    assert w.run(io) == 0
    assert file_bytes(files[0]) == data + b"tail"


def test_zero_length_and_empty_requests(io, files):
    assert lib.fmq_io_write(io, ffi.NULL, 0) == 0
    w = Writes()
    w.add(files[0], 0, b"")
    w.add(files[0], 0, b"abc")
    w.add(files[0], 3, b"")
    w.add(files[0], 3, b"def")
    assert w.run(io) == 0
    assert file_bytes(files[0]) == b"abcdef"


def test_errors_are_returned_and_io_stays_usable(io, files, tmp_path):
    w = Writes()
    w.add(files[0], 0, b"good")
    w.add(987654, 0, b"bad fd")
    assert w.run(io) == -errno.EBADF
    ro = os.open(tmp_path / "ro.log", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        w = Writes()
        w.add(ro, 0, b"read-only")
        assert w.run(io) == -errno.EBADF
    finally:
        os.close(ro)
    w = Writes()
    w.add(files[1], 0, b"still works")
    assert w.run(io) == 0
    assert file_bytes(files[1]) == b"still works"


def test_short_write_then_error_is_reported(tmp_path):
    """RLIMIT_FSIZE makes the kernel write only up to the limit (a short
    write) and then fail with EFBIG: the retry must go to the right place."""
    for force in (0, 1):
        if force == 0 and (IO_URING_REASON or PWRITEV_FORCED):
            continue
        path = tmp_path / f"limited{force}.log"
        out = run_python(
            f"""
            import resource, signal, os
            from fluxmq.native import ffi, lib
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (10000, 10000))
            io = lib.fmq_io_new(4, {force})
            fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o644)
            data = bytes(range(256)) * 40
            a = ffi.new("uint8_t[]", data)
            w = ffi.new("fmq_write[1]")
            w[0].fd, w[0].offset, w[0].buf, w[0].len = fd, 5000, a, len(data)
            print(ffi.string(lib.fmq_io_impl(io)).decode(), lib.fmq_io_write(io, w, 1))
            """
        )
        impl, rc = out.split()
        assert impl == ("pwritev" if force else "io_uring")
        assert int(rc) == -errno.EFBIG
        assert path.read_bytes() == b"\x00" * 5000 + (bytes(range(256)) * 40)[:5000]


def test_negative_offset_is_rejected_before_any_write(io, files):
    # io_uring would read -1 as "current file position"; both paths refuse.
    w = Writes()
    w.add(files[0], 0, b"first")
    w.add(files[0], -1, b"bad")
    assert w.run(io) == -errno.EINVAL
    assert file_bytes(files[0]) == b""


def test_sync_fds(files, tmp_path):
    for fd in files:
        os.write(fd, b"data")
    fds = ffi.new("int[]", files)
    assert lib.fmq_sync_fds(fds, len(files)) == 0
    assert lib.fmq_sync_fds(ffi.NULL, 0) == 0
    bad = ffi.new("int[]", [files[0], 987654, files[1]])
    assert lib.fmq_sync_fds(bad, 3) == -errno.EBADF


def test_io_sync(io, tmp_path):
    # More files than the ring's 8 entries: the submission is refilled.
    fds = [os.open(tmp_path / f"s{i}.log", os.O_RDWR | os.O_CREAT, 0o644) for i in range(20)]
    try:
        for fd in fds:
            os.write(fd, b"data")
        assert lib.fmq_io_sync(io, ffi.new("int[]", fds), len(fds)) == 0
        assert lib.fmq_io_sync(io, ffi.new("int[]", fds[:1]), 1) == 0
        assert lib.fmq_io_sync(io, ffi.NULL, 0) == 0
        # One bad fd fails the call; the others are still synced and the
        # handle keeps working.
        bad = ffi.new("int[]", [fds[0], 987654, fds[1]])
        assert lib.fmq_io_sync(io, bad, 3) == -errno.EBADF
        assert lib.fmq_io_sync(io, ffi.new("int[]", fds), len(fds)) == 0
        assert ffi.string(lib.fmq_io_impl(io)).decode() in ("io_uring", "pwritev")
    finally:
        for fd in fds:
            os.close(fd)


def test_sync_from_a_worker_while_the_loop_writes(io, files):
    """Group commit: the flusher thread syncs through its own fmq_io of the
    same kind while the loop thread keeps submitting writes."""
    stop = threading.Event()
    results = []
    kind = ffi.string(lib.fmq_io_impl(io)).decode()
    sync_io = lib.fmq_io_new(8, 1 if kind == "pwritev" else 0)

    def syncer():
        fds = ffi.new("int[]", files)
        while not stop.is_set():
            results.append(lib.fmq_io_sync(sync_io, fds, len(files)))
            results.append(lib.fmq_sync_fds(fds, len(files)))

    t = threading.Thread(target=syncer)
    t.start()
    try:
        rng = random.Random(5)
        ends = {fd: 0 for fd in files}
        expected = {fd: bytearray() for fd in files}
        for _ in range(50):
            w = Writes()
            for _ in range(20):
                fd = rng.choice(files)
                data = rng.randbytes(rng.randrange(1, 3000))
                w.add(fd, ends[fd], data)
                ends[fd] += len(data)
                expected[fd] += data
            assert w.run(io) == 0
    finally:
        stop.set()
        t.join()
        lib.fmq_io_free(sync_io)
    assert results and all(r == 0 for r in results)
    for fd in files:
        assert file_bytes(fd) == expected[fd]


def test_io_uring_is_used_when_available():
    if IO_URING_REASON:
        pytest.skip(IO_URING_REASON)
    if PWRITEV_FORCED:
        pytest.skip("FLUXMQ_FORCE_PWRITEV is set")
    io = lib.fmq_io_new(0, 0)
    try:
        assert ffi.string(lib.fmq_io_impl(io)).decode() == "io_uring"
    finally:
        lib.fmq_io_free(io)


# Runs in a child: a seccomp filter makes io_uring_setup fail with the given
# errno, as container runtimes and kernel.io_uring_disabled do.
SECCOMP_DENY_IO_URING = """
import ctypes, errno, os, platform, sys
assert platform.machine() == "x86_64"
libc = ctypes.CDLL(None, use_errno=True)
class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
RET_ERRNO, RET_ALLOW = 0x00050000, 0x7FFF0000
prog = (SockFilter * 4)(
    SockFilter(LD_W_ABS, 0, 0, 0),                     # seccomp_data.nr
    SockFilter(JEQ_K, 0, 1, 425),                      # io_uring_setup?
    SockFilter(RET_K, 0, 0, RET_ERRNO | errno.{err}),
    SockFilter(RET_K, 0, 0, RET_ALLOW))
fprog = SockFprog(4, prog)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
from fluxmq.native import ffi, lib
io = lib.fmq_io_new(0, 0)
fd = os.open(sys.argv[1] if len(sys.argv) > 1 else {path!r}, os.O_RDWR | os.O_CREAT, 0o644)
data = ffi.new("uint8_t[]", b"fallback works")
w = ffi.new("fmq_write[1]")
w[0].fd, w[0].offset, w[0].buf, w[0].len = fd, 0, data, 14
print(ffi.string(lib.fmq_io_impl(io)).decode(), lib.fmq_io_write(io, w, 1))
"""


@pytest.mark.parametrize("err", ["EPERM", "ENOSYS"])
def test_io_uring_refused_falls_back_silently(err, tmp_path):
    path = tmp_path / "fallback.log"
    out = run_python(SECCOMP_DENY_IO_URING.format(err=err, path=str(path)))
    assert out.split() == ["pwritev", "0"]
    assert path.read_bytes() == b"fallback works"


def test_environment_forces_pwritev():
    out = run_python(
        """
        from fluxmq.native import ffi, lib
        io = lib.fmq_io_new(0, 0)
        print(ffi.string(lib.fmq_io_impl(io)).decode())
        lib.fmq_io_free(io)
        """,
        FLUXMQ_FORCE_PWRITEV="1",
    )
    assert out.strip() == "pwritev"


def test_free_of_null_is_harmless():
    lib.fmq_io_free(ffi.NULL)
    assert ffi.string(lib.fmq_io_impl(ffi.NULL)).decode() == "pwritev"
