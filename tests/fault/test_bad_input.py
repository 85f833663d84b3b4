"""Bad input on raw sockets (DESIGN.md, "Bad input").

Every case checks three things:
 (a) the Kafka error code Apache Kafka 4 gives, or the connection closed
     where Kafka closes it;
 (b) one clear broker log line naming the problem (and no traceback);
 (c) the broker still answers a connection that was open before the fault
     and a new one opened after it.
The ordering, stall and concurrency cases at the end check (a) and (c) only:
nothing is wrong there that should be logged.

Where Kafka's behaviour is not obvious, the Kafka source it comes from is
named next to the case. All cases run against one private broker per module
(restarted if a case killed it) with socket.request.max.bytes=1 MiB and
message.max.bytes=100000, so size limits are hit with small requests.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time

import pytest

import batchgen as B
from faultutil import LogWatch, assert_serves, start_ready
from wire import (
    API_CREATE_TOPICS, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_PRODUCE, API_VERSIONS, CLIENT_ID,
    api_versions, connect, create_topic, encode_request, ensure_topic, fetch, fetch_body, log_end_offset,
    log_start_offset, metadata, produce, produce_body, supported_apis,
)

from fluxmq.tools.client import ConnectionClosed, KafkaWireClient, ProtocolError, decode_response, frame, request_header

NONE, OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 1, 2, 3
MESSAGE_TOO_LARGE, INVALID_TOPIC_EXCEPTION, INVALID_REQUIRED_ACKS = 10, 17, 21
UNSUPPORTED_VERSION, INVALID_PARTITIONS, INVALID_RECORD = 35, 37, 87

CLOSE_TIMEOUT = 10.0


def assert_closed(c: KafkaWireClient) -> None:
    assert c.wait_closed(CLOSE_TIMEOUT), "the broker kept the connection open"


def assert_clean_log(watch: LogWatch) -> None:
    text = watch.new_text()
    assert "Traceback" not in text, "bad input produced a traceback instead of a clear log line:\n" + text[-3000:]


def metadata_payload(correlation_id: int = 99) -> bytes:
    return encode_request(API_METADATA, 12, correlation_id,
                          {"topics": None, "allow_auto_topic_creation": False,
                           "include_topic_authorized_operations": False})


# ------------------------------------------------------------------ framing
@pytest.mark.parametrize("case", ["http", "random"])
def test_garbage_bytes(live_broker, witness, log_watch, case):
    with connect(live_broker) as c:
        if case == "http":
            # "GET " read as a size prefix is 1195725856: above the limit, closed unread.
            c.send_bytes(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            pattern = r"1195725856.*socket\.request\.max\.bytes"
        else:
            rng = random.Random(7)
            garbage = bytes([0x7E, 0x11]) + bytes(rng.getrandbits(8) for _ in range(38))  # api key 32273
            c.send_frame(garbage)
            pattern = r"unknown API key 32273"
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(pattern)
    assert_clean_log(log_watch)


@pytest.mark.parametrize("payload", [b"", b"\x00\x03", b"\x00\x03\x00\x0c", b"\x00\x03\x00\x0c\x00\x00\x00"],
                         ids=["0-bytes", "2-bytes", "4-bytes", "7-bytes"])
def test_frame_shorter_than_request_header(live_broker, witness, log_watch, payload):
    # Kafka: RequestHeader.parse fails -> InvalidRequestException -> connection closed.
    with connect(live_broker) as c:
        c.send_frame(payload)
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"shorter than a request header")
    assert_clean_log(log_watch)


def test_client_id_runs_past_the_frame(live_broker, witness, log_watch):
    with connect(live_broker) as c:
        c.send_frame(struct.pack(">hhih", API_METADATA, 1, 5, 100) + b"abc")
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"malformed.*client_id|client_id.*past the frame")
    assert_clean_log(log_watch)


def test_truncated_frame_then_close(live_broker, witness, log_watch):
    """A size prefix promising more than arrives, then the client goes away:
    the partial request is dropped, nothing is answered, nothing else is
    disturbed, and the log says a request was cut off."""
    payload = metadata_payload()
    with connect(live_broker) as c:
        c.send_bytes(frame(payload)[:len(payload) // 2])
        time.sleep(0.2)  # let the broker read the partial frame before the FIN
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"(incomplete|partial|truncated|cut off).*(request|frame)"
                       r"|(request|frame).*(incomplete|partial|truncated)")
    assert_clean_log(log_watch)


@pytest.mark.parametrize("size", [-1, -(2**31)], ids=["minus-1", "int32-min"])
def test_negative_size_prefix(live_broker, witness, log_watch, size):
    # Kafka: NetworkReceive -> InvalidReceiveException("Invalid receive (size = -1)") -> closed.
    with connect(live_broker) as c:
        c.send_bytes(struct.pack(">i", size) + b"\x00" * 16)
        assert_closed(c)
    assert_serves(live_broker, witness)
    lines = log_watch.wait_for(rf"{size}")
    assert any(w in ln.lower() for ln in lines for w in ("negative", "invalid")), \
        f"the log line for a negative size should say it is negative/invalid, not only too large: {lines}"
    assert_clean_log(log_watch)


def test_size_above_socket_request_max_bytes(live_broker, witness, log_watch):
    """2 MiB announced to a broker with socket.request.max.bytes=1 MiB: closed
    on the prefix alone, before any body byte is sent."""
    with connect(live_broker) as c:
        c.send_bytes(struct.pack(">i", 2 * 1024 * 1024))
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"2097152.*socket\.request\.max\.bytes.*1048576")
    assert_clean_log(log_watch)


def test_size_at_socket_request_max_bytes_is_served(live_broker, witness):
    """The limit itself is allowed: a Produce request of exactly 1 MiB (whose
    batch is then too large for message.max.bytes) gets an answer."""
    topic = "fault-exact-" + str(random.randrange(1 << 30))
    ensure_topic(witness, topic)
    with connect(live_broker) as c:
        target = 1024 * 1024
        value_len = target - len(encode_request(API_PRODUCE, 9, 1, produce_body(topic, 0, B.batch_of([b""]))))
        for _ in range(8):  # the length varints grow with the value: converge on the exact size
            payload = encode_request(API_PRODUCE, 9, 1, produce_body(topic, 0, B.batch_of([b"x" * value_len])))
            if len(payload) == target:
                break
            value_len -= len(payload) - target
        assert len(payload) == target, len(payload)
        c.send_frame(payload)
        resp = c.receive(API_PRODUCE, 9)
        assert int(resp.responses[0].partition_responses[0].error_code) == MESSAGE_TOO_LARGE
    assert_serves(live_broker, witness)


# ----------------------------------------------------------- APIs, versions
def test_unknown_api_key(live_broker, witness, log_watch):
    # Kafka: ApiKeys.forId fails -> InvalidRequestException -> connection closed.
    with connect(live_broker) as c:
        c.send_frame(request_header(999, 0, 3, CLIENT_ID, flexible=False) + b"\x00" * 8)
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"unknown API key 999")
    assert_clean_log(log_watch)


@pytest.mark.parametrize("api_key,name", [(API_METADATA, "Metadata"), (API_FETCH, "Fetch"),
                                          (API_PRODUCE, "Produce")])
def test_unsupported_version_of_known_api(live_broker, witness, log_watch, api_key, name):
    # Kafka: an unsupported version of anything but ApiVersions closes the connection.
    with connect(live_broker) as c:
        c.send_frame(request_header(api_key, 99, 4, CLIENT_ID, flexible=True) + b"\x00" * 8)
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(rf"{name} v99")
    assert_clean_log(log_watch)


def test_api_versions_unsupported_version(live_broker, witness, log_watch):
    """KIP-511: UNSUPPORTED_VERSION in a v0 body (header v0) that still lists
    the supported ApiVersions range; the connection stays usable."""
    with connect(live_broker) as c:
        c.send_frame(request_header(API_VERSIONS, 99, 41, CLIENT_ID, flexible=True) + b"\x00\x00\x00")
        cid, resp = decode_response(API_VERSIONS, 0, c.recv_frame())
        assert cid == 41
        assert int(resp.error_code) == UNSUPPORTED_VERSION
        ranges = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
        assert API_VERSIONS in ranges and ranges[API_VERSIONS][1] >= 3
        # The client retries with a version both know, on the same connection.
        assert int(api_versions(c, 3).error_code) == NONE
        assert int(api_versions(c, 0).error_code) == NONE
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"ApiVersions v99")
    assert_clean_log(log_watch)


@pytest.mark.parametrize("api_key,version,body", [
    (API_METADATA, 12, b"\x07\x01"),                         # 6 topics announced, 1 byte follows
    (API_METADATA, 1, struct.pack(">i", 2**31 - 1)),         # non-flexible array of 2^31-1 topics
    (API_METADATA, 12, b"\xff\xff\xff\xff\x0f"),             # compact array of 2^32-2 topics in 5 bytes
    (API_PRODUCE, 9, b"\x00\xff"),                           # acks cut short
    (API_FETCH, 12, b"\x00\x00\x00\x00\xff\xff\xff\xff\x0f"),  # nonsense after the first fields
], ids=["metadata-truncated", "metadata-v1-huge-array", "metadata-huge-compact-array",
        "produce-truncated", "fetch-garbage"])
def test_body_that_does_not_decode(live_broker, witness, log_watch, api_key, version, body):
    """A valid header and a body that does not decode. Kafka closes the
    connection (RequestContext.parseRequest -> InvalidRequestException); a
    length prefix far beyond the frame must be refused before anything is
    allocated for it (Kafka: "Tried to allocate a collection of size ...,
    but there are only ... bytes remaining")."""
    with connect(live_broker) as c:
        c.send_frame(request_header(api_key, version, 8, CLIENT_ID) + body)
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(rf"malformed .* v{version} request")
    assert_clean_log(log_watch)


# ------------------------------------------------------------------ produce
@pytest.fixture
def produce_topic(witness, fresh_topic):
    ensure_topic(witness, fresh_topic)
    return fresh_topic


def _bad_batches():
    good = B.batch_of([b"value-%d" % i for i in range(5)], keys=[b"k"] * 5)
    big = B.batch_of([b"x" * 150_000])  # message.max.bytes is 100000 on this broker
    return {
        # Kafka: UnifiedLog.analyzeAndValidateRecords -> batch.isValid false -> CorruptRecordException.
        "crc-record-byte": (B.with_byte_flipped(good, B.HEADER_SIZE + 3), CORRUPT_MESSAGE, r"CRC"),
        "crc-header-byte": (B.with_byte_flipped(good, 40), CORRUPT_MESSAGE, r"CRC"),
        # Kafka: ProduceRequest.validateRecords finds no whole batch -> InvalidRecordException
        # ("must have at least one record batch per partition") -> INVALID_RECORD.
        "truncated": (good[:-7], INVALID_RECORD, r"truncated|record batch"),
        "empty": (b"", INVALID_RECORD, r"record batch|no .*batch"),
        # Kafka: ProduceRequest.validateRecords: "only allowed to contain record batches
        # with magic version 2" -> INVALID_RECORD.
        "magic-1": (B.legacy_message_v1(b"old"), INVALID_RECORD, r"magic"),
        # Kafka: UnifiedLog.analyzeAndValidateRecords: batch size > max.message.bytes
        # -> RecordTooLargeException -> MESSAGE_TOO_LARGE.
        "too-large": (big, MESSAGE_TOO_LARGE, r"max\.message\.bytes|too large"),
        # Kafka: UnifiedLog.analyzeAndValidateRecords: "The baseOffset of the record batch
        # in the append to ... should be 0" -> InvalidRecordException -> INVALID_RECORD.
        "base-offset-not-0": (B.with_base_offset(good, 5), INVALID_RECORD, r"baseOffset|base offset"),
        # Kafka: ProduceRequest.validateRecords: "only allowed to contain exactly one record
        # batch per partition" -> INVALID_RECORD.
        "two-batches": (good + B.batch_of([b"second"]), INVALID_RECORD, r"one record batch|batches"),
    }


@pytest.mark.parametrize("case", list(_bad_batches()))
def test_produce_bad_batch(live_broker, witness, log_watch, produce_topic, case):
    records, code, log_pattern = _bad_batches()[case]
    with connect(live_broker) as c:
        before = log_end_offset(c, produce_topic)
        p = produce(c, produce_topic, 0, records)
        assert int(p.error_code) == code, f"{case}: error {p.error_code}, Kafka gives {code}"
        assert p.base_offset == -1
        assert log_end_offset(c, produce_topic) == before, "a rejected batch was appended"
        # The connection stays usable for the next, valid produce.
        ok = produce(c, produce_topic, 0, B.batch_of([b"after"]))
        assert int(ok.error_code) == NONE and ok.base_offset == before
    assert_serves(live_broker, witness)
    lines = log_watch.wait_for(log_pattern)
    assert any(produce_topic in ln for ln in lines), f"the log line should name the partition: {lines}"
    assert_clean_log(log_watch)


def test_produce_invalid_required_acks(live_broker, witness, log_watch, produce_topic):
    # Kafka: ReplicaManager.appendRecords -> !isValidRequiredAcks -> INVALID_REQUIRED_ACKS per partition.
    with connect(live_broker) as c:
        before = log_end_offset(c, produce_topic)
        p = produce(c, produce_topic, 0, B.batch_of([b"v"]), acks=5)
        assert int(p.error_code) == INVALID_REQUIRED_ACKS
        assert log_end_offset(c, produce_topic) == before
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"acks")
    assert_clean_log(log_watch)


@pytest.mark.parametrize("partition", [7, -1])
def test_produce_to_nonexistent_partition(live_broker, witness, log_watch, produce_topic, partition):
    with connect(live_broker) as c:
        p = produce(c, produce_topic, partition, B.batch_of([b"v"]))
        assert int(p.error_code) == UNKNOWN_TOPIC_OR_PARTITION
        assert p.base_offset == -1
    assert_serves(live_broker, witness)
    log_watch.wait_for(rf"{produce_topic}.*{partition}|partition {partition}")
    assert_clean_log(log_watch)


# ------------------------------------------------------------- topic names
@pytest.mark.parametrize("name", ["", "..", "a" * 250, "a/b"], ids=["empty", "dot-dot", "250-chars", "slash"])
def test_metadata_invalid_topic_name(live_broker, witness, log_watch, name):
    # Kafka: AutoTopicCreationManager.filterCreatableTopics -> INVALID_TOPIC_EXCEPTION.
    with connect(live_broker) as c:
        resp = metadata(c, [name], auto_create=True)
        assert len(resp.topics) == 1
        assert int(resp.topics[0].error_code) == INVALID_TOPIC_EXCEPTION
        assert resp.topics[0].name == name
        listed = {t.name for t in metadata(c, None).topics}
        assert name not in listed, "an illegal topic name was created"
    names = list(live_broker.data_dir.iterdir())
    assert not any(p.name.startswith(("-", "..-", "a" * 250)) for p in names)
    assert not (live_broker.data_dir / "a").exists()
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"illegal|invalid topic|topic name")
    assert_clean_log(log_watch)


@pytest.mark.parametrize("partitions", [0, -5])
def test_create_topics_invalid_partitions(live_broker, witness, log_watch, fresh_topic, partitions):
    with connect(live_broker) as c:
        apis = supported_apis(c)
        if API_CREATE_TOPICS not in apis:
            pytest.skip("CreateTopics (key 19) is not advertised by this broker build "
                        "(fluxmq/handlers/create_topics.py not loaded yet)")
        version = min(7, apis[API_CREATE_TOPICS][1])
        t = create_topic(c, fresh_topic, partitions, version=version)
        # Kafka: "Number of partitions was set to an invalid non-positive value."
        assert int(t.error_code) == INVALID_PARTITIONS
        assert fresh_topic not in {x.name for x in metadata(c, None).topics}
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"partitions")
    assert_clean_log(log_watch)


# -------------------------------------------------------------------- fetch
def test_fetch_beyond_log_end(live_broker, witness, log_watch, produce_topic):
    with connect(live_broker) as c:
        for i in range(3):
            assert int(produce(c, produce_topic, 0, B.batch_of([b"r%d" % i])).error_code) == NONE
        end = log_end_offset(c, produce_topic)
        at_end = fetch(c, produce_topic, 0, end)
        assert int(at_end.error_code) == NONE and not at_end.records
        for offset in (end + 1, end + 1000):
            p = fetch(c, produce_topic, 0, offset)
            assert int(p.error_code) == OFFSET_OUT_OF_RANGE
            # No offsets in an error partition: Kafka 4.4 answers -1 (createLogReadResult(e)).
            assert (p.high_watermark, p.last_stable_offset, p.log_start_offset) == (-1, -1, -1)
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"offset .*out(side| of range)|OFFSET_OUT_OF_RANGE")
    assert_clean_log(log_watch)


def test_fetch_negative_offset(live_broker, witness, log_watch, produce_topic):
    with connect(live_broker) as c:
        produce(c, produce_topic, 0, B.batch_of([b"r"]))
        p = fetch(c, produce_topic, 0, -5)
        assert int(p.error_code) == OFFSET_OUT_OF_RANGE
        assert (p.high_watermark, p.log_start_offset) == (-1, -1)  # as Kafka 4.4 answers
    assert_serves(live_broker, witness)
    log_watch.wait_for(r"offset .*out(side| of range)|OFFSET_OUT_OF_RANGE")
    assert_clean_log(log_watch)


def test_fetch_below_log_start(broker_factory, fresh_topic):
    """Retention moves the log start; a fetch below it is OFFSET_OUT_OF_RANGE
    (with no offsets, as Kafka 4.4 answers an error partition: its
    createLogReadResult(e) sets them to -1), a fetch at it returns data."""
    b = start_ready(broker_factory(["--override", "log.segment.bytes=2000", "--override", "log.retention.bytes=1",
                                    "--override", "log.retention.check.interval.ms=200"]))
    with connect(b) as c:
        ensure_topic(c, fresh_topic)
        for i in range(12):
            assert int(produce(c, fresh_topic, 0, B.batch_of([b"%03d" % i + b"y" * 400])).error_code) == NONE
        deadline = time.monotonic() + 20
        while log_start_offset(c, fresh_topic) == 0:
            assert time.monotonic() < deadline, "retention never moved the log start offset"
            time.sleep(0.2)
        start = log_start_offset(c, fresh_topic)
        watch = LogWatch(b)
        p = fetch(c, fresh_topic, 0, start - 1)
        assert int(p.error_code) == OFFSET_OUT_OF_RANGE
        assert (p.high_watermark, p.log_start_offset) == (-1, -1)
        ok = fetch(c, fresh_topic, 0, start)
        assert int(ok.error_code) == NONE
        got = B.parse_batches(ok.records)
        assert got and got[0].base_offset == start
    assert_serves(b)
    watch.wait_for(r"offset .*out(side| of range)|OFFSET_OUT_OF_RANGE")


# ------------------------------------------------------- ordering, stalls
def test_pipelined_requests_answered_in_order(live_broker, witness, fresh_topic):
    """Many requests written at once on one connection, some completed later
    than the ones after them (acks=all waits for fsync; a long-poll fetch on
    an empty partition waits its max_wait): responses come back in request
    order, one per request, acks=0 produce answered by nobody."""
    empty_topic = fresh_topic + "-empty"
    ensure_topic(witness, fresh_topic)
    ensure_topic(witness, empty_topic)
    plan = []  # (api_key, version, body, expects_response)
    for i in range(12):
        plan.append((API_PRODUCE, 9, produce_body(fresh_topic, 0, B.batch_of([b"p%d" % i]), acks=-1), True))
        plan.append((API_FETCH, 12, fetch_body(empty_topic, 0, 0, max_wait_ms=300 if i % 4 == 0 else 0), True))
        plan.append((API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"}, True))
        plan.append((API_PRODUCE, 9, produce_body(fresh_topic, 0, B.batch_of([b"q%d" % i]), acks=1), True))
        plan.append((API_METADATA, 12, {"topics": None, "allow_auto_topic_creation": False,
                                        "include_topic_authorized_operations": False}, True))
        plan.append((API_PRODUCE, 9, produce_body(fresh_topic, 0, B.batch_of([b"z%d" % i]), acks=0), False))
        plan.append((API_LIST_OFFSETS, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
            {"name": fresh_topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1,
                                                   "timestamp": -1}]}]}, True))
    with connect(live_broker, timeout=30) as c:
        wire = bytearray()
        expected = []
        for cid, (key, version, body, answered) in enumerate(plan, start=1000):
            wire += frame(encode_request(key, version, cid, body))
            if answered:
                expected.append((cid, key, version))
        c.send_bytes(bytes(wire))
        offsets = []
        for cid, key, version in expected:
            got, resp = decode_response(key, version, c.recv_frame())
            assert got == cid, f"response for correlation id {got} arrived where {cid} was due"
            if key == API_PRODUCE:
                p = resp.responses[0].partition_responses[0]
                assert int(p.error_code) == NONE
                offsets.append(p.base_offset)
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert c.is_open(0.3), "nothing else may arrive: acks=0 produce has no response"
        # acks=0 records were appended too: 12 * 3 records in all.
        assert log_end_offset(c, fresh_topic) == 36
    assert_serves(live_broker, witness)


def test_stalled_half_request_does_not_block_others(live_broker, witness, fresh_topic):
    ensure_topic(witness, fresh_topic)
    stalled = connect(live_broker)
    stalled_prefix_only = connect(live_broker)
    try:
        payload = frame(metadata_payload(correlation_id=77))
        stalled.send_bytes(payload[:len(payload) // 2])
        stalled_prefix_only.send_bytes(payload[:2])
        # Other clients keep working while the two sit on half requests.
        with connect(live_broker) as other:
            for i in range(20):
                p = produce(other, fresh_topic, 0, B.batch_of([b"v%d" % i]))
                assert int(p.error_code) == NONE and p.base_offset == i
                assert int(fetch(other, fresh_topic, 0, i).error_code) == NONE
        assert_serves(live_broker, witness)
        # The stalled clients finish their requests and are answered.
        stalled.send_bytes(payload[len(payload) // 2:])
        stalled_prefix_only.send_bytes(payload[2:])
        for c in (stalled, stalled_prefix_only):
            cid, resp = decode_response(API_METADATA, 12, c.recv_frame())
            assert cid == 77 and resp.brokers[0].port == live_broker.port
    finally:
        stalled.close()
        stalled_prefix_only.close()


def test_client_vanishes_with_requests_in_flight(live_broker, witness, fresh_topic):
    """A client resets its connection while an acks=all produce and a long-poll
    fetch are pending: their late completions find no connection and are
    dropped. A produce the broker read is appended once; one whose bytes the
    kernel discarded with the reset (unread data is lost on RST) is not
    appended at all - never twice."""
    ensure_topic(witness, fresh_topic)
    for _ in range(5):
        c = connect(live_broker)
        c.send_frame(encode_request(API_FETCH, 12, 1, fetch_body(fresh_topic, 0, 10_000_000, max_wait_ms=500)))
        c.send_frame(encode_request(API_FETCH, 12, 2, fetch_body(fresh_topic + "-none", 0, 0, max_wait_ms=500)))
        c.send_frame(encode_request(API_PRODUCE, 9, 3, produce_body(fresh_topic, 0, B.batch_of([b"x"]), acks=-1)))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        c.close()
    time.sleep(0.7)  # the long polls time out against closed connections
    assert_serves(live_broker, witness)
    with connect(live_broker) as c:
        appended = log_end_offset(c, fresh_topic)
        assert appended <= 5
        for offset in range(appended):
            assert int(fetch(c, fresh_topic, 0, offset).error_code) == NONE


def test_many_connections_in_parallel_with_faults(live_broker, witness, fresh_topic):
    """Good clients in threads keep round-tripping while other threads send
    garbage, oversize prefixes and truncated frames."""
    ensure_topic(witness, fresh_topic)
    errors: list[str] = []
    stop = threading.Event()

    def good(n: int) -> None:
        try:
            with connect(live_broker) as c:
                for i in range(n):
                    p = produce(c, fresh_topic, 0, B.batch_of([b"good"]))
                    if int(p.error_code) != NONE:
                        errors.append(f"produce error {p.error_code}")
                    metadata(c, [fresh_topic])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    def bad() -> None:
        faults = [struct.pack(">i", 2**30), struct.pack(">i", -7), frame(b"\x00\x01"),
                  frame(request_header(999, 0, 1, CLIENT_ID, flexible=False)), frame(metadata_payload())[:9]]
        i = 0
        while not stop.is_set():
            try:
                with connect(live_broker, timeout=2) as c:
                    c.send_bytes(faults[i % len(faults)])
                    i += 1
                    try:
                        c.wait_closed(0.05)
                    except ProtocolError:
                        pass
            except (OSError, ConnectionClosed):
                pass

    bad_threads = [threading.Thread(target=bad, daemon=True) for _ in range(2)]
    good_threads = [threading.Thread(target=good, args=(40,), daemon=True) for _ in range(3)]
    for t in bad_threads + good_threads:
        t.start()
    for t in good_threads:
        t.join(60)
    stop.set()
    for t in bad_threads:
        t.join(10)
    assert not any(t.is_alive() for t in good_threads), "a good client hung"
    assert not errors, errors
    assert_serves(live_broker, witness)
    with connect(live_broker) as c:
        assert log_end_offset(c, fresh_topic) == 120


# ------------------------------------------------------------- null fields
def _s(text: str) -> bytes:  # a non-flexible string
    return struct.pack(">h", len(text)) + text.encode()


_NULL_ARRAY, _NULL_STRING = struct.pack(">i", -1), struct.pack(">h", -1)


@pytest.mark.parametrize("api_key,version,body,field", [
    # Produce v9 (flexible): transactional_id null (allowed), acks 1, timeout 5000, topic_data null.
    (API_PRODUCE, 9, b"\x00" + struct.pack(">hi", 1, 5000) + b"\x00" + b"\x00", "topic_data"),
    # Produce v9: one topic whose name is null, no partitions.
    (API_PRODUCE, 9, b"\x00" + struct.pack(">hi", 1, 5000) + b"\x02" + b"\x00" + b"\x01\x00" + b"\x00",
     "name"),
    # ListOffsets v7 (flexible): replica_id -1, isolation_level 0, topics null.
    (API_LIST_OFFSETS, 7, struct.pack(">ib", -1, 0) + b"\x00" + b"\x00", "topics"),
    # CreateTopics v4: topics null, timeout, validate_only.
    (API_CREATE_TOPICS, 4, _NULL_ARRAY + struct.pack(">i?", 5000, False), "topics"),
    # JoinGroup v5: group "g", timeouts, member "", no instance id (allowed), "consumer", protocols null.
    (11, 5, _s("g") + struct.pack(">ii", 10000, 30000) + _s("") + _NULL_STRING + _s("consumer") + _NULL_ARRAY,
     "protocols"),
    # OffsetCommit v2: group "g", generation 1, member "", retention -1, topics null.
    (8, 2, _s("g") + struct.pack(">i", 1) + _s("") + struct.pack(">q", -1) + _NULL_ARRAY, "topics"),
    # SyncGroup v3: group_id null.
    (14, 3, _NULL_STRING + struct.pack(">i", 1) + _s("m") + _NULL_STRING + _NULL_ARRAY, "group_id"),
], ids=["produce-topic-data", "produce-topic-name", "list-offsets-topics", "create-topics-topics",
        "join-group-protocols", "offset-commit-topics", "sync-group-group-id"])
def test_null_in_a_non_nullable_field(live_broker, witness, log_watch, api_key, version, body, field):
    """A null where the schema has a non-nullable array or string. Kafka's generated
    readers refuse it ("non-nullable field X was serialized as null") and the
    request is malformed: the connection closes. It never reaches a handler."""
    with connect(live_broker) as c:
        c.send_frame(request_header(api_key, version, 8, CLIENT_ID) + body)
        assert_closed(c)
    assert_serves(live_broker, witness)
    log_watch.wait_for(rf"malformed .* v{version} request .*non-nullable field {field} was serialized as null")
    assert_clean_log(log_watch)
