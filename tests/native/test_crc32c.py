"""CRC-32C (csrc/crc32c.c) against the independent `crc32c` package, on both
the SSE4.2 and the software path."""

from __future__ import annotations

import os
import random

import crc32c as reference
import pytest

from fluxmq.native import ffi, lib
from native_helpers import cpu_flags, run_python

HAS_SSE42 = "sse4_2" in cpu_flags()
FORCED_BY_ENV = os.environ.get("FLUXMQ_FORCE_SOFTWARE_CRC", "0") not in ("", "0")

# Sizes around the three-stream block boundaries (3 x 256 and 3 x 8192).
LARGE_SIZES = [767, 768, 769, 1000, 4095, 4096, 24575, 24576, 24577, 24576 + 768 + 13,
               65536, 100_003, 1 << 20, 3 * (1 << 20) + 5]


@pytest.fixture(params=["sse4.2", "software"])
def impl(request):
    if request.param == "sse4.2":
        if not HAS_SSE42:
            pytest.skip("CPU has no SSE4.2")
        if FORCED_BY_ENV:
            pytest.skip("FLUXMQ_FORCE_SOFTWARE_CRC is set")
    lib.fmq_crc32c_force_software(1 if request.param == "software" else 0)
    assert ffi.string(lib.fmq_crc32c_impl()).decode() == request.param
    yield request.param
    lib.fmq_crc32c_force_software(0)


def crc_at(data: bytes, misalign: int, crc: int = 0) -> int:
    """fmq_crc32c over a copy of data starting misalign bytes past an
    8-byte boundary."""
    raw = ffi.new("uint8_t[]", len(data) + 16)
    base = int(ffi.cast("uintptr_t", raw))
    start = (8 - base % 8) % 8 + misalign
    ffi.memmove(raw + start, data, len(data))
    assert (int(ffi.cast("uintptr_t", raw + start)) % 8) == misalign
    return lib.fmq_crc32c(crc, raw + start, len(data))


def test_check_value(impl):
    # The catalogued check value of CRC-32C ("123456789").
    assert lib.fmq_crc32c(0, b"123456789", 9) == 0xE3069283


def test_empty_buffer_keeps_crc(impl):
    assert lib.fmq_crc32c(0, ffi.NULL, 0) == 0
    assert lib.fmq_crc32c(0x12345678, b"", 0) == 0x12345678


def test_small_sizes_all_alignments(impl):
    rng = random.Random(1)
    for n in range(0, 301):
        data = rng.randbytes(n)
        for misalign in range(8):
            assert crc_at(data, misalign) == reference.crc32c(data), (n, misalign)


def test_large_sizes(impl):
    rng = random.Random(2)
    for n in LARGE_SIZES:
        data = rng.randbytes(n)
        want = reference.crc32c(data)
        for misalign in (0, 1, 5):
            assert crc_at(data, misalign) == want, (n, misalign)


def test_special_patterns(impl):
    for n in (1, 64, 1000, 30000):
        for data in (b"\x00" * n, b"\xff" * n, bytes(range(256)) * (n // 256) + bytes(n % 256)):
            assert lib.fmq_crc32c(0, data, len(data)) == reference.crc32c(data)


def test_running_crc_continuation(impl):
    rng = random.Random(3)
    for _ in range(200):
        data = rng.randbytes(rng.choice([rng.randrange(0, 600), rng.randrange(0, 100_000)]))
        cuts = sorted(rng.randrange(0, len(data) + 1) for _ in range(rng.randrange(1, 5)))
        crc, prev = 0, 0
        for cut in cuts + [len(data)]:
            piece = data[prev:cut]
            crc = crc_at(piece, rng.randrange(8), crc)
            prev = cut
        assert crc == reference.crc32c(data)


def test_continues_reference_values(impl):
    rng = random.Random(4)
    for n in (0, 7, 300, 50_000):
        seed = rng.getrandbits(32)
        data = rng.randbytes(n)
        assert lib.fmq_crc32c(seed, data, n) == reference.crc32c(data, seed)


def test_paths_agree():
    if not HAS_SSE42 or FORCED_BY_ENV:
        pytest.skip("only one path available")
    rng = random.Random(5)
    try:
        for n in list(range(0, 64)) + [5000, 77_777]:
            data = rng.randbytes(n)
            lib.fmq_crc32c_force_software(1)
            soft = lib.fmq_crc32c(0, data, n)
            lib.fmq_crc32c_force_software(0)
            assert lib.fmq_crc32c(0, data, n) == soft
    finally:
        lib.fmq_crc32c_force_software(0)


def test_load_time_choice():
    if FORCED_BY_ENV:
        pytest.skip("FLUXMQ_FORCE_SOFTWARE_CRC is set")
    expected = "sse4.2" if HAS_SSE42 else "software"
    assert ffi.string(lib.fmq_crc32c_impl()).decode() == expected


def test_environment_forces_software():
    out = run_python(
        """
        from fluxmq.native import ffi, lib
        print(ffi.string(lib.fmq_crc32c_impl()).decode())
        lib.fmq_crc32c_force_software(0)  # the environment still wins
        print(ffi.string(lib.fmq_crc32c_impl()).decode())
        print(lib.fmq_crc32c(0, b"123456789", 9))
        """,
        FLUXMQ_FORCE_SOFTWARE_CRC="1",
    )
    assert out.split() == ["software", "software", str(0xE3069283)]
