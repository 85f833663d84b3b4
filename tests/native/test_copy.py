"""fmq_copy / fmq_gather (csrc/copy.c) on every path: the load-time choice,
memcpy (forced), and each SIMD path selected with FLUXMQ_COPY_IMPL in a
fresh interpreter."""

from __future__ import annotations

import os
import random

import pytest

from fluxmq.native import ffi, lib
from native_helpers import cpu_flags, run_python

FLAGS = cpu_flags()
MEMCPY_FORCED = os.environ.get("FLUXMQ_FORCE_MEMCPY", "0") not in ("", "0")
# Streaming stores start at 16 MiB (STREAM_THRESHOLD in copy.c).
STREAM_THRESHOLD = 16 << 20
SIZES = list(range(0, 300)) + [511, 4096, 65537, 1 << 20, STREAM_THRESHOLD - 1,
                               STREAM_THRESHOLD, STREAM_THRESHOLD + 77]
CANARY = b"\xa5" * 64


def check_copy(lib, ffi, sizes, seed=0):
    """Copies random data at every destination/source misalignment mod 32
    and checks the bytes and the untouched canaries around the target."""
    rng = random.Random(seed)
    big = max(sizes)
    src_raw = ffi.new("uint8_t[]", big + 128)
    pattern = rng.randbytes(big + 64)
    ffi.memmove(src_raw, pattern, len(pattern))
    dst_raw = ffi.new("uint8_t[]", big + 256)
    for n in sizes:
        for _ in range(3 if n > 4096 else 8):
            s_off, d_off = rng.randrange(32), rng.randrange(32)
            ffi.memmove(dst_raw, CANARY * ((n + 200) // 64 + 1), n + 160)
            lib.fmq_copy(dst_raw + 64 + d_off, src_raw + s_off, n)
            got = ffi.buffer(dst_raw, n + 160)
            assert got[64 + d_off:64 + d_off + n] == pattern[s_off:s_off + n], (n, s_off, d_off)
            assert got[:64 + d_off] == (CANARY * 2)[:64 + d_off], ("before", n)
            assert got[64 + d_off + n:n + 160] == (CANARY * 3)[:96 - d_off], ("after", n)


@pytest.fixture(params=["chosen", "memcpy"])
def path(request):
    lib.fmq_copy_force_fallback(1 if request.param == "memcpy" else 0)
    yield ffi.string(lib.fmq_copy_impl()).decode()
    lib.fmq_copy_force_fallback(0)


def test_copy_all_sizes(path):
    check_copy(lib, ffi, SIZES)


def test_gather(path):
    rng = random.Random(7)
    for _ in range(50):
        pieces = [rng.randbytes(rng.choice([0, rng.randrange(1, 50), rng.randrange(1, 5000)]))
                  for _ in range(rng.randrange(0, 20))]
        keep = [ffi.new("uint8_t[]", p) if p else ffi.NULL for p in pieces]
        srcs = ffi.new("uint8_t *[]", keep) if keep else ffi.NULL
        lens = ffi.new("size_t[]", [len(p) for p in pieces]) if pieces else ffi.NULL
        total = sum(map(len, pieces))
        dst = ffi.new("uint8_t[]", total + 8)
        assert lib.fmq_gather(dst, srcs, lens, len(pieces)) == total
        assert ffi.buffer(dst, total)[:] == b"".join(pieces)
        assert ffi.buffer(dst + total, 8)[:] == b"\x00" * 8


def test_gather_large_pieces(path):
    a, b = os.urandom(STREAM_THRESHOLD + 3), os.urandom(1000)
    pa, pb = ffi.new("uint8_t[]", a), ffi.new("uint8_t[]", b)
    dst = ffi.new("uint8_t[]", len(a) + len(b))
    srcs = ffi.new("uint8_t *[]", [pb, pa, pb])
    lens = ffi.new("size_t[]", [len(b), len(a), len(b)])
    dst = ffi.new("uint8_t[]", len(a) + 2 * len(b))
    assert lib.fmq_gather(dst, srcs, lens, 3) == len(a) + 2 * len(b)
    assert ffi.buffer(dst)[:] == b + a + b


def test_load_time_choice():
    if MEMCPY_FORCED or os.environ.get("FLUXMQ_COPY_IMPL"):
        pytest.skip("copy path chosen by the environment")
    expected = "avx2" if "avx2" in FLAGS else "sse2" if "sse2" in FLAGS else "memcpy"
    assert ffi.string(lib.fmq_copy_impl()).decode() == expected
    lib.fmq_copy_force_fallback(1)
    try:
        assert ffi.string(lib.fmq_copy_impl()).decode() == "memcpy"
    finally:
        lib.fmq_copy_force_fallback(0)
    assert ffi.string(lib.fmq_copy_impl()).decode() == expected


SUBPROCESS_CHECK = """
import sys
sys.path.insert(0, "tests/native")
from fluxmq.native import ffi, lib
from test_copy import check_copy, SIZES
print(ffi.string(lib.fmq_copy_impl()).decode())
check_copy(lib, ffi, SIZES, seed=3)
print("ok")
"""


@pytest.mark.parametrize("impl,flag", [("avx2", "avx2"), ("sse2", "sse2"), ("memcpy", None)])
def test_each_path_selected_by_environment(impl, flag):
    if flag and flag not in FLAGS:
        pytest.skip(f"CPU has no {flag}")
    out = run_python(SUBPROCESS_CHECK, FLUXMQ_COPY_IMPL=impl, FLUXMQ_FORCE_MEMCPY="0")
    assert out.split() == [impl, "ok"]


def test_force_memcpy_environment_wins():
    out = run_python(
        """
        from fluxmq.native import ffi, lib
        lib.fmq_copy_force_fallback(0)
        print(ffi.string(lib.fmq_copy_impl()).decode())
        """,
        FLUXMQ_FORCE_MEMCPY="1", FLUXMQ_COPY_IMPL="avx2",
    )
    assert out.strip() == "memcpy"
