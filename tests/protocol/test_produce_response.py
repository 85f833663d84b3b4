"""The hand-framed Produce response must equal kio's encoding byte for byte."""

import random
import uuid

import pytest

from fluxmq.protocol import codec
from fluxmq.protocol.produce_response import encode

PRODUCE = 0


def _random_topics(rng: random.Random):
    topics = []
    for t in range(rng.randint(0, 3)):
        parts = []
        for p in range(rng.randint(0, 4)):
            errors = [{"batch_index": rng.randint(0, 5),
                       "batch_index_error_message": rng.choice([None, "", "bad record é"])}
                      for _ in range(rng.randint(0, 2))]
            parts.append({"index": p, "error_code": rng.choice([0, 2, 3, 87]),
                          "base_offset": rng.randint(-1, 2**50), "log_append_time": rng.choice([-1, 1_700_000_000_123]),
                          "log_start_offset": rng.randint(-1, 2**40), "record_errors": errors,
                          "error_message": rng.choice([None, "", "something went wrong"])})
        topics.append({"name": f"topic-{t}-{rng.randint(0, 999)}", "topic_id": uuid.UUID(int=rng.getrandbits(128)),
                       "partition_responses": parts})
    return topics


@pytest.mark.parametrize("version", range(3, 14))
def test_matches_kio_byte_for_byte(version):
    rng = random.Random(version)
    for _ in range(100):
        topics = _random_topics(rng)
        throttle = rng.randint(0, 1000)
        expected = codec.encode_response(PRODUCE, version, {"responses": topics, "throttle_time": throttle})
        assert encode(version, topics, throttle) == expected
