"""The hand-framed Fetch response must equal kio's encoding byte for byte."""

import os
import random
import tempfile
import uuid

import pytest

from fluxmq.protocol import codec
from fluxmq.protocol.fetch_response import encode
from fluxmq.util.file_range import FileRange

FETCH = 1


def _random_topics(rng: random.Random, version: int, with_files: bool, fd: int, blob: bytes):
    topics = []
    for t in range(rng.randint(0, 3)):
        parts = []
        for p in range(rng.randint(0, 4)):
            kind = rng.choice(["empty", "bytes", "file", "null"]) if with_files else rng.choice(["empty", "bytes", "null"])
            if kind == "file":
                off = rng.randint(0, len(blob) - 1)
                records = FileRange(fd, off, rng.randint(0, len(blob) - off))
            elif kind == "bytes":
                records = rng.randbytes(rng.randint(1, 300))
            else:
                records = b"" if kind == "empty" else None
            aborted = None if rng.random() < 0.5 else [(rng.randint(0, 2**40), rng.randint(0, 2**40))
                                                       for _ in range(rng.randint(0, 3))]
            parts.append({"partition_index": p, "error_code": rng.choice([0, 1, 3]),
                          "high_watermark": rng.randint(-1, 2**50), "last_stable_offset": rng.randint(-1, 2**50),
                          "log_start_offset": rng.randint(-1, 2**40), "aborted_transactions": aborted,
                          "preferred_read_replica": -1, "records": records})
        topics.append({"topic": f"topic-{t}-{rng.randint(0, 999)}", "topic_id": uuid.UUID(int=rng.getrandbits(128)),
                       "partitions": parts})
    return topics


def _materialize(parts, blob: bytes) -> bytes:
    return b"".join(blob[p.offset:p.offset + p.length] if isinstance(p, FileRange) else p for p in parts)


def _kio_bytes(version, topics, blob, error_code, session_id):
    def records_of(r):
        if isinstance(r, FileRange):
            return blob[r.offset:r.offset + r.length]
        return r
    data = {"throttle_time": 7, "error_code": error_code, "session_id": session_id,
            "responses": [{"topic": t["topic"], "topic_id": t["topic_id"],
                           "partitions": [dict(p, records=records_of(p["records"]),
                                               aborted_transactions=None if p["aborted_transactions"] is None else
                                               [{"producer_id": a, "first_offset": b} for a, b in p["aborted_transactions"]])
                                          for p in t["partitions"]]}
                          for t in topics]}
    return codec.encode_response(FETCH, version, data)


@pytest.mark.parametrize("version", range(4, 19))
def test_matches_kio_byte_for_byte(version):
    rng = random.Random(version)
    blob = rng.randbytes(5000)
    with tempfile.TemporaryFile() as f:
        f.write(blob)
        f.flush()
        for _ in range(50):
            topics = _random_topics(rng, version, True, f.fileno(), blob)
            error_code = rng.choice([0, 70]) if version >= 7 else 0
            session_id = rng.randint(0, 5) if version >= 7 else 0
            parts, length = encode(version, topics, error_code, session_id, throttle_time_ms=7)
            mine = _materialize(parts, blob)
            assert len(mine) == length
            assert mine == _kio_bytes(version, topics, blob, error_code, session_id)


def test_file_ranges_stay_out_of_python_bytes():
    with tempfile.TemporaryFile() as f:
        f.write(os.urandom(100))
        topics = [{"topic": "t", "topic_id": uuid.uuid4(), "partitions": [
            {"partition_index": 0, "error_code": 0, "high_watermark": 10, "last_stable_offset": 10,
             "log_start_offset": 0, "aborted_transactions": None, "preferred_read_replica": -1,
             "records": FileRange(f.fileno(), 10, 50)}]}]
        parts, length = encode(17, topics)
        ranges = [p for p in parts if isinstance(p, FileRange)]
        assert ranges == [FileRange(f.fileno(), 10, 50)]
        assert length == sum(len(p) for p in parts)
