"""NUMA-local allocation (csrc/numa.c)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fluxmq.native import ffi, lib
from native_helpers import run_python

NODE_DIR = Path("/sys/devices/system/node")


def sysfs_node_count() -> int:
    nodes = [p for p in NODE_DIR.glob("node[0-9]*")] if NODE_DIR.exists() else []
    return max(len(nodes), 1)


def test_node_count_matches_sysfs():
    assert lib.fmq_numa_nodes() == sysfs_node_count()


def test_impl_follows_node_count():
    if os.environ.get("FLUXMQ_NUMA_IMPL"):
        pytest.skip("NUMA path chosen by the environment")
    impl = ffi.string(lib.fmq_numa_impl()).decode()
    if lib.fmq_numa_nodes() == 1:
        assert impl == "none"
    else:  # "none" only if the kernel refuses mbind (containers)
        assert impl in ("mbind", "none")


@pytest.mark.parametrize("size", [1, 4096, 4097, 1 << 20, 64 << 20])
def test_alloc_is_usable_and_zeroed(size):
    p = lib.fmq_numa_alloc(size)
    assert p != ffi.NULL
    try:
        buf = ffi.buffer(ffi.cast("uint8_t *", p), size)
        assert buf[0] == b"\x00" and buf[size - 1] == b"\x00"
        pattern = os.urandom(min(size, 8192))
        buf[0:1] = b"\x7f"
        assert buf[0] == b"\x7f"
        buf[size - len(pattern):] = pattern
        assert buf[size - len(pattern):] == pattern
    finally:
        lib.fmq_numa_free(p, size)


def test_zero_size_and_null_free():
    assert lib.fmq_numa_alloc(0) == ffi.NULL
    lib.fmq_numa_free(ffi.NULL, 0)
    lib.fmq_numa_free(ffi.NULL, 4096)


MBIND_CHECK = """
import ctypes, ctypes.util
from fluxmq.native import ffi, lib
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
SYS_get_mempolicy, MPOL_F_ADDR = 239, 2  # x86_64
impl = ffi.string(lib.fmq_numa_impl()).decode()
p = lib.fmq_numa_alloc(1 << 20)
ffi.buffer(ffi.cast("uint8_t *", p), 1 << 20)[0:1] = b"x"
mode = ctypes.c_int(-1)
rc = libc.syscall(ctypes.c_long(SYS_get_mempolicy), ctypes.byref(mode), None, ctypes.c_ulong(0),
                  ctypes.c_void_p(int(ffi.cast("uintptr_t", p))), ctypes.c_ulong(MPOL_F_ADDR))
print(impl, rc, mode.value)
lib.fmq_numa_free(p, 1 << 20)
"""
MPOL_DEFAULT, MPOL_PREFERRED = 0, 1


def test_mbind_path_sets_preferred_policy():
    """FLUXMQ_NUMA_IMPL=mbind exercises the binding path even on one node;
    the kernel must then report MPOL_PREFERRED for the allocation."""
    impl, rc, mode = run_python(MBIND_CHECK, FLUXMQ_NUMA_IMPL="mbind").split()
    if impl == "none":
        pytest.skip("the kernel refuses mbind here")
    assert impl == "mbind"
    assert (int(rc), int(mode)) == (0, MPOL_PREFERRED)


def test_none_path_leaves_default_policy():
    impl, rc, mode = run_python(MBIND_CHECK, FLUXMQ_NUMA_IMPL="none").split()
    assert impl == "none"
    if int(rc) == 0:
        assert int(mode) == MPOL_DEFAULT
