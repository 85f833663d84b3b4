"""Hand-framed Produce response body (v3-v13): the hot path answers every
produce request, and kio's generic writer cost more than the append itself.
tests/protocol/test_produce_response.py checks it byte for byte against kio
for every version. Layout (ProduceResponse.json):

    responses [ name string (v3-12) / topic_id uuid (v13+)
                partition_responses [ index int32 | error_code int16 | base_offset int64
                                      | log_append_time_ms int64 | log_start_offset int64 (v5+)
                                      | record_errors [batch_index int32 | message nullable string] (v8+)
                                      | error_message nullable string (v8+) ] ]
    | throttle_time_ms int32
v9+ is flexible (compact arrays/strings, empty tagged-field sections);
current_leader and node_endpoints (tagged, v10+) keep their defaults and are
omitted.
"""

from __future__ import annotations

import struct

from fluxmq.protocol.fetch_response import NO_TAGGED_FIELDS, _array_len, _string

FIRST_FLEXIBLE = 9
FIRST_TOPIC_ID = 13
_PARTITION = struct.Struct(">ihqq")  # index, error, base offset, log append time
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")


def _nullable_string(s: str | None, flexible: bool) -> bytes:
    if s is None:
        return b"\x00" if flexible else _I16.pack(-1)
    return _string(s, flexible)


def encode(version: int, topics: list[dict], throttle_time_ms: int = 0) -> bytes:
    """topics: the dicts the Produce handler builds (see handlers/produce.py)."""
    flexible = version >= FIRST_FLEXIBLE
    out = [_array_len(len(topics), flexible)]
    for t in topics:
        out.append(t["topic_id"].bytes if version >= FIRST_TOPIC_ID else _string(t["name"], flexible))
        parts = t["partition_responses"]
        out.append(_array_len(len(parts), flexible))
        for p in parts:
            out.append(_PARTITION.pack(p["index"], int(p["error_code"]), p["base_offset"], p["log_append_time"]))
            if version >= 5:
                out.append(_I64.pack(p["log_start_offset"]))
            if version >= 8:
                errors = p["record_errors"]
                out.append(_array_len(len(errors), flexible))
                for e in errors:
                    out.append(_I32.pack(e["batch_index"]))
                    out.append(_nullable_string(e["batch_index_error_message"], flexible))
                    if flexible:
                        out.append(NO_TAGGED_FIELDS)
                out.append(_nullable_string(p["error_message"], flexible))
            if flexible:
                out.append(NO_TAGGED_FIELDS)
        if flexible:
            out.append(NO_TAGGED_FIELDS)
    out.append(_I32.pack(throttle_time_ms))
    if flexible:
        out.append(NO_TAGGED_FIELDS)
    return b"".join(out)


