"""Helpers shared by the native (C library) tests."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fluxmq.native import ffi

REPO = Path(__file__).resolve().parents[2]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long

MAP_FAILED = ctypes.c_void_p(-1).value
PROT_NONE = 0  # not exported by the mmap module


def libc_syscall(number: int, *args) -> tuple[int, int]:
    """(return value, errno) of a raw syscall."""
    ctypes.set_errno(0)
    rc = _libc.syscall(ctypes.c_long(number), *args)
    return rc, ctypes.get_errno()


def run_python(code: str, **env: str) -> str:
    """Runs code in a fresh interpreter (load-time choices depend on the
    environment) and returns its stdout; fails the test on a non-zero exit."""
    full_env = dict(os.environ)
    full_env.update(env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


class GuardedBuffer:
    """Bytes placed so that they end exactly where an inaccessible page
    starts: any read past the end faults instead of passing silently."""

    def __init__(self, data: bytes):
        page = mmap.PAGESIZE
        self.data_pages = max(1, -(-len(data) // page))
        self.size = (self.data_pages + 1) * page
        addr = _libc.mmap(None, self.size, mmap.PROT_READ | mmap.PROT_WRITE,
                          mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert addr not in (None, MAP_FAILED), "mmap failed"
        self.addr = addr
        guard = addr + self.data_pages * page
        assert _libc.mprotect(guard, page, PROT_NONE) == 0, "mprotect failed"
        start = guard - len(data)
        ctypes.memmove(start, data, len(data))
        self.ptr = ffi.cast("uint8_t *", start)
        self.len = len(data)

    def close(self) -> None:
        if self.addr:
            _libc.munmap(self.addr, self.size)
            self.addr = None

    def __enter__(self) -> "GuardedBuffer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
