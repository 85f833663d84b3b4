"""Record batch scanning and patching (csrc/records.c), checked against
batches built by tests/batchgen.py with the `crc32c` package."""

from __future__ import annotations

import random
import struct

import pytest

import batchgen as bg
from fluxmq.native import ffi, lib
from native_helpers import GuardedBuffer

OK = lib.FMQ_SCAN_OK
TRUNCATED = lib.FMQ_SCAN_TRUNCATED
BAD_MAGIC = lib.FMQ_SCAN_BAD_MAGIC
BAD_CRC = lib.FMQ_SCAN_BAD_CRC
BAD_LENGTH = lib.FMQ_SCAN_BAD_LENGTH
TOO_MANY = lib.FMQ_SCAN_TOO_MANY

INFO_FIELDS = ["base_offset", "batch_length", "partition_leader_epoch", "magic", "crc",
               "attributes", "last_offset_delta", "first_timestamp", "max_timestamp",
               "producer_id", "producer_epoch", "base_sequence", "records_count"]


class Scan:
    def __init__(self, rc, out, valid_len, n_valid):
        self.rc, self.valid_len, self.n_valid = rc, valid_len, n_valid
        self.out = out  # owns the memory the infos point into
        self.infos = [out[i] for i in range(max(n_valid, 0))]


def scan(data, verify_crc=True, max_out=64) -> Scan:
    """Scans data placed against a guard page, so an out-of-bounds read
    crashes the test instead of going unnoticed."""
    out = ffi.new("fmq_batch_info[]", max(max_out, 1))
    valid_len = ffi.new("uint64_t *", 12345)
    n_valid = ffi.new("int *", 12345)
    with GuardedBuffer(bytes(data)) as g:
        rc = lib.fmq_batches_scan(g.ptr, g.len, int(verify_crc), out, max_out, valid_len, n_valid)
    return Scan(rc, out, valid_len[0], n_valid[0])


def some_batches(count=3, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        recs = [bg.Record(rng.randbytes(rng.randrange(0, 200)), key=rng.choice([None, b"k%d" % j]),
                          headers=[("h", b"v")] if j % 2 else [], timestamp_delta=j)
                for j in range(rng.randrange(1, 6))]
        out.append(bg.build_batch(recs, producer_id=1000 + i, producer_epoch=i, base_sequence=10 * i,
                                  attributes=bg.ATTR_TRANSACTIONAL if i == 1 else 0,
                                  first_timestamp=1_700_000_000_000 + i))
    return out


def joined(batches) -> bytes:
    return b"".join(b for b, _ in batches)


def assert_info_matches(info, fields: bg.BatchFields, position: int, size: int):
    for name in INFO_FIELDS:
        assert getattr(info, name) == getattr(fields, name), name
    assert info.position == position
    assert info.size == size


# ----------------------------------------------------------------- valid


def test_empty_buffer():
    s = scan(b"")
    assert (s.rc, s.valid_len, s.n_valid) == (0, 0, 0)


def test_every_header_field():
    data, fields = bg.build_batch(
        [bg.Record(b"value", b"key", [("a", b"1")], 5), bg.Record(None, None, [], 9)],
        base_offset=0x0102030405060708, partition_leader_epoch=-7, attributes=0x1B,
        first_timestamp=-1, max_timestamp=0x7FFFFFFFFFFFFFFF, producer_id=-(2**63),
        producer_epoch=-32768, base_sequence=2**31 - 1)
    s = scan(data)
    assert (s.rc, s.valid_len, s.n_valid) == (1, len(data), 1)
    assert_info_matches(s.infos[0], fields, 0, len(data))
    assert s.infos[0].magic == 2
    assert s.infos[0].crc == bg.batch_crc(data)


def test_several_batches_positions():
    batches = some_batches(5)
    data = joined(batches)
    s = scan(data)
    assert (s.rc, s.valid_len, s.n_valid) == (5, len(data), 5)
    pos = 0
    for info, (b, f) in zip(s.infos, batches):
        assert_info_matches(info, f, pos, len(b))
        pos += len(b)


def test_header_only_batch_is_the_minimum():
    data, fields = bg.build_batch([], raw_records=b"", records_count=0)
    assert len(data) == 61 and fields.batch_length == 49
    s = scan(data)
    assert (s.rc, s.valid_len) == (1, 61)


# ------------------------------------------------------------- patching


def test_assign_offsets_and_leader_epoch():
    batches = some_batches(4, seed=7)
    buf = bytearray(joined(batches))
    s = scan(buf)
    infos = ffi.new("fmq_batch_info[]", s.infos)
    nxt = lib.fmq_batches_assign_offsets(ffi.from_buffer(buf), infos, len(batches), 1000, 42)
    expected = 1000
    for (orig, f), info in zip(batches, s.infos):
        chunk = bytes(buf[info.position:info.position + info.size])
        hdr = bg.parse_header(chunk)
        assert hdr.base_offset == expected
        assert hdr.partition_leader_epoch == 42
        # Only the two fields outside the CRC changed; the CRC still holds.
        assert chunk[16:] == orig[16:] and chunk[8:12] == orig[8:12]
        assert hdr.crc == bg.batch_crc(chunk)
        expected += f.last_offset_delta + 1
    assert nxt == expected
    assert scan(buf).rc == len(batches)


def test_assign_offsets_of_no_batch():
    assert lib.fmq_batches_assign_offsets(ffi.NULL, ffi.NULL, 0, 77, 0) == 77


def test_log_append_time_recomputes_crc():
    batches = some_batches(3, seed=9)
    buf = bytearray(joined(batches))
    s = scan(buf)
    target = s.infos[1]
    lib.fmq_batch_set_log_append_time(ffi.from_buffer(buf), target.position, 1_800_000_000_123)
    chunk = bytes(buf[target.position:target.position + target.size])
    hdr = bg.parse_header(chunk)
    orig = bg.parse_header(batches[1][0])
    assert hdr.attributes == orig.attributes | bg.ATTR_TIMESTAMP_LOG_APPEND
    assert hdr.max_timestamp == 1_800_000_000_123
    assert hdr.first_timestamp == orig.first_timestamp
    assert hdr.crc == bg.batch_crc(chunk) != orig.crc
    assert chunk[bg.HEADER_SIZE:] == batches[1][0][bg.HEADER_SIZE:]
    # neighbours untouched, whole buffer still valid
    assert bytes(buf[:target.position]) == batches[0][0]
    s2 = scan(buf)
    assert s2.rc == 3 and s2.infos[1].max_timestamp == 1_800_000_000_123


# ---------------------------------------------------------- bad input


def test_every_truncation_reports_valid_prefix():
    batches = some_batches(3, seed=11)
    data = joined(batches)
    ends = [0]
    for b, _ in batches:
        ends.append(ends[-1] + len(b))
    for cut in range(len(data) + 1):
        s = scan(data[:cut])
        complete = [e for e in ends if e <= cut]
        assert s.valid_len == complete[-1], cut
        assert s.n_valid == len(complete) - 1, cut
        if cut in ends:
            assert s.rc == s.n_valid
        else:
            assert s.rc == TRUNCATED, cut


def test_bad_magic():
    good, _ = bg.build_batch()
    for magic in (0, 1, 3, 0xFF):
        bad = bytearray(good)
        bad[bg.MAGIC_OFFSET] = magic
        s = scan(good + bytes(bad) + good)
        assert (s.rc, s.valid_len, s.n_valid) == (BAD_MAGIC, len(good), 1)


def test_magic_v1_message_set_is_bad_magic_not_bad_length():
    # A magic 1 message: offset, size=14+..., crc, magic=1 at offset 16.
    legacy = struct.pack(">qiIbbqii", 0, 26, 0, 1, 0, 0, -1, 0)
    s = scan(legacy)
    assert s.rc == BAD_MAGIC and s.valid_len == 0


@pytest.mark.parametrize("length", [-(2**31), -1, 0, 12, 48])
def test_bad_length(length):
    good, _ = bg.build_batch()
    bad = bytearray(good)
    struct.pack_into(">i", bad, bg.LENGTH_OFFSET, length)
    s = scan(good + bytes(bad))
    assert (s.rc, s.valid_len, s.n_valid) == (BAD_LENGTH, len(good), 1)


def test_length_past_the_end_is_truncated():
    good, _ = bg.build_batch()
    bad = bytearray(good)
    struct.pack_into(">i", bad, bg.LENGTH_OFFSET, 2**31 - 1)
    s = scan(good + bytes(bad))
    assert (s.rc, s.valid_len, s.n_valid) == (TRUNCATED, len(good), 1)


def test_bad_crc_anywhere_inside_the_crc_range():
    good, _ = bg.build_batch([bg.Record(b"x" * 50)])
    for pos in range(bg.CRC_OFFSET, len(good)):
        bad = bytearray(good)
        bad[pos] ^= 0x01
        s = scan(good + bytes(bad))
        assert (s.rc, s.valid_len, s.n_valid) == (BAD_CRC, len(good), 1), pos
        # without verification the same bytes frame fine
        assert scan(bytes(bad), verify_crc=False).rc == 1


def test_fields_outside_the_crc_are_not_checked():
    good, _ = bg.build_batch()
    bad = bytearray(good)
    bad[0:8] = b"\xff" * 8  # baseOffset
    bad[12:16] = b"\x00\x00\x00\x09"  # partitionLeaderEpoch
    assert scan(bytes(bad)).rc == 1


def test_too_many_batches_fills_the_prefix():
    batches = some_batches(5, seed=13)
    data = joined(batches)
    s = scan(data, max_out=3)
    assert s.rc == TOO_MANY and s.n_valid == 3
    assert s.valid_len == sum(len(b) for b, _ in batches[:3])
    for info, (b, f) in zip(s.infos, batches):
        assert info.base_sequence == f.base_sequence
    s0 = scan(data, max_out=0)
    assert (s0.rc, s0.valid_len, s0.n_valid) == (TOO_MANY, 0, 0)
    assert scan(data, max_out=5).rc == 5


def test_short_garbage_is_truncated():
    for n in range(1, 12):
        s = scan(b"\x00" * n)
        assert (s.rc, s.valid_len, s.n_valid) == (TRUNCATED, 0, 0)


# ----------------------------------------------------------------- fuzz


def reference_scan(data: bytes, verify_crc: bool, max_out: int) -> tuple[int, int, int]:
    """The scan rules in Python: (rc, valid_len, n_valid)."""
    pos = n = 0
    while pos < len(data):
        rest = len(data) - pos
        if rest < 12:
            return TRUNCATED, pos, n
        if rest > 16 and data[pos + 16] != 2:
            return BAD_MAGIC, pos, n
        (length,) = struct.unpack_from(">i", data, pos + 8)
        if length < 49:
            return BAD_LENGTH, pos, n
        if 12 + length > rest:
            return TRUNCATED, pos, n
        chunk = data[pos:pos + 12 + length]
        if verify_crc and struct.unpack_from(">I", chunk, 17)[0] != bg.batch_crc(chunk):
            return BAD_CRC, pos, n
        if n >= max_out:
            return TOO_MANY, pos, n
        n += 1
        pos += 12 + length
    return n, pos, n


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and buf:  # flip bytes
        for _ in range(rng.randrange(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif choice == 1:  # truncate
        del buf[rng.randrange(len(buf) + 1):]
    elif choice == 2 and len(buf) > 12:  # random length field in some batch
        pos = rng.randrange(len(buf) - 12)
        struct.pack_into(">i", buf, pos + 8, rng.choice([rng.randrange(-2**31, 2**31), rng.randrange(0, 200)]))
    elif choice == 3:  # append garbage
        buf += rng.randbytes(rng.randrange(1, 100))
    elif choice == 4:  # splice random bytes in
        pos = rng.randrange(len(buf) + 1)
        buf[pos:pos] = rng.randbytes(rng.randrange(1, 30))
    return bytes(buf)


def test_fuzz_mutated_batches_match_reference():
    rng = random.Random(2024)
    corpus = [joined(some_batches(rng.randrange(1, 4), seed=s)) for s in range(20)]
    for i in range(4000):
        data = mutate(rng, rng.choice(corpus))
        verify = rng.random() < 0.8
        max_out = rng.choice([0, 1, 2, 64])
        s = scan(data, verify_crc=verify, max_out=max_out)
        assert (s.rc, s.valid_len, s.n_valid) == reference_scan(data, verify, max_out), i
        assert s.valid_len <= len(data)


def test_fuzz_random_garbage_never_reads_out_of_bounds():
    rng = random.Random(99)
    for i in range(5000):
        n = rng.choice([rng.randrange(0, 80), rng.randrange(0, 2000)])
        data = bytearray(rng.randbytes(n))
        if n > 16 and rng.random() < 0.7:
            data[16] = 2  # get past the magic check more often
        if n > 12 and rng.random() < 0.5:
            struct.pack_into(">i", data, 8, rng.randrange(49, max(50, n)))
        s = scan(bytes(data), verify_crc=rng.random() < 0.5)
        assert s.rc in (0, 1, TRUNCATED, BAD_MAGIC, BAD_CRC, BAD_LENGTH, TOO_MANY) or s.rc > 0
        assert 0 <= s.valid_len <= n


def test_scans_from_two_threads_at_once_keep_their_own_results():
    """fluxmq.native.scan_batches / scan_prefix keep their out-parameters per thread: the
    event loop validates produce requests while the cleaner's worker thread recovers
    segments. Each thread scans its own data many times; a shared scratch buffer would
    hand one thread the other's counts or batch infos."""
    import threading

    from fluxmq import native

    good = bg.build_batch([bg.Record(value=b"v" * 50)] * 3, base_offset=7)[0]
    torn = joined(some_batches(5, seed=1))[:-10]  # the last batch is cut short
    failures: list[str] = []

    def loop_thread():
        for _ in range(20000):
            infos, n = native.scan_batches(good)
            if n != 1 or infos[0].base_offset != 7 or infos[0].records_count != 3:
                failures.append(f"scan_batches: n={n}, base={infos[0].base_offset}")
                return

    def cleaner_thread():
        for _ in range(20000):
            _infos, n_valid, valid_len, err = native.scan_prefix(torn)
            if (n_valid, err) != (4, lib.FMQ_SCAN_TRUNCATED) or valid_len >= len(torn):
                failures.append(f"scan_prefix: n_valid={n_valid}, valid_len={valid_len}, err={err}")
                return

    threads = [threading.Thread(target=loop_thread), threading.Thread(target=cleaner_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
