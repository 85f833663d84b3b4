"""Raw Kafka protocol for the protocol and fault suites: connections through
fluxmq.tools.client (the `fluxmq topics` client: framing, headers, kio
bodies, timeouts) in its strict mode, and request builders for the APIs the
tests use most.

Every socket wait is bounded by the client's timeout, so a broker that does
not answer fails the test instead of hanging it.
"""

from __future__ import annotations

from typing import Any

from batchgen import parse_batches

from fluxmq.tools.client import KafkaWireClient
from fluxmq.tools.client import encode_request as _encode_request

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_VERSIONS, API_CREATE_TOPICS, API_INIT_PRODUCER_ID = 18, 19, 22
CLIENT_ID = "fluxmq-tests"  # JoinGroup member ids start with it
DEFAULT_TIMEOUT = 10.0


def connect(broker, timeout: float = DEFAULT_TIMEOUT) -> KafkaWireClient:
    """A strict client (every response body must decode exactly) of `broker`:
    a BrokerProcess or a "host:port" string."""
    bootstrap = broker if isinstance(broker, str) else broker.bootstrap
    return KafkaWireClient(bootstrap, client_id=CLIENT_ID, timeout=timeout, strict=True)


def encode_request(api_key: int, version: int, correlation_id: int, body: dict | bytes) -> bytes:
    """Header (client id CLIENT_ID) + body of a hand-built frame, without the size prefix."""
    return _encode_request(api_key, version, correlation_id, body, CLIENT_ID)


# ------------------------------------------------------- common requests
def api_versions(c: KafkaWireClient, version: int = 3) -> Any:
    body = {"client_software_name": "fluxmq-fault", "client_software_version": "1"} if version >= 3 else {}
    return c.request(API_VERSIONS, version, body)


def supported_apis(c: KafkaWireClient) -> dict[int, tuple[int, int]]:
    resp = api_versions(c)
    assert int(resp.error_code) == 0
    return {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}


def metadata(c: KafkaWireClient, topics: list[str] | None, auto_create: bool = True, version: int = 12) -> Any:
    body: dict = {"allow_auto_topic_creation": auto_create, "include_topic_authorized_operations": False}
    body["topics"] = None if topics is None else [{"name": t, "topic_id": None} for t in topics]
    return c.request(API_METADATA, version, body)


def produce_body(topic: str, partition: int, records: bytes, acks: int = -1, timeout_ms: int = 10000) -> dict:
    return {"transactional_id": None, "acks": acks, "timeout": timeout_ms,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}


def produce(c: KafkaWireClient, topic: str, partition: int, records: bytes, acks: int = -1,
            version: int = 9) -> Any:
    """The single partition response of a one-partition produce."""
    resp = c.request(API_PRODUCE, version, produce_body(topic, partition, records, acks))
    return resp.responses[0].partition_responses[0]


def fetch_body(topic: str, partition: int, offset: int, max_wait_ms: int = 0, min_bytes: int = 1,
               max_bytes: int = 1 << 20) -> dict:
    return {"replica_id": -1, "max_wait": max_wait_ms, "min_bytes": min_bytes, "max_bytes": max_bytes,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1, "cluster_id": None,
            "topics": [{"topic": topic, "partitions": [
                {"partition": partition, "current_leader_epoch": -1, "fetch_offset": offset,
                 "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": max_bytes}]}],
            "forgotten_topics_data": [], "rack_id": ""}


def fetch(c: KafkaWireClient, topic: str, partition: int, offset: int, max_wait_ms: int = 0,
          max_bytes: int = 1 << 20, version: int = 12) -> Any:
    """The single partition of a one-partition fetch."""
    resp = c.request(API_FETCH, version, fetch_body(topic, partition, offset, max_wait_ms, max_bytes=max_bytes))
    return resp.responses[0].partitions[0]


def list_offset(c: KafkaWireClient, topic: str, partition: int, timestamp: int, version: int = 7) -> Any:
    body = {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                        "timestamp": timestamp}]}]}
    return c.request(API_LIST_OFFSETS, version, body).topics[0].partitions[0]


def log_end_offset(c: KafkaWireClient, topic: str, partition: int = 0) -> int:
    p = list_offset(c, topic, partition, -1)
    assert int(p.error_code) == 0, p
    return p.offset


def log_start_offset(c: KafkaWireClient, topic: str, partition: int = 0) -> int:
    p = list_offset(c, topic, partition, -2)
    assert int(p.error_code) == 0, p
    return p.offset


def fetch_all(c: KafkaWireClient, topic: str, partition: int = 0, start: int = 0, max_rounds: int = 10000):
    """Every batch (batchgen.ParsedBatch) from `start` to the high watermark (bounded)."""
    out = []
    offset = start
    for _ in range(max_rounds):
        p = fetch(c, topic, partition, offset)
        assert int(p.error_code) == 0, f"fetch at {offset}: error {p.error_code}"
        batches = parse_batches(p.records or b"")
        if not batches:
            if offset >= p.high_watermark:
                return out
            raise AssertionError(f"no batch at offset {offset} below the high watermark {p.high_watermark}")
        for b in batches:
            if b.last_offset >= offset:
                out.append(b)
                offset = b.last_offset + 1
    raise AssertionError("fetch_all did not reach the high watermark")


def create_topic(c: KafkaWireClient, name: str, partitions: int, version: int = 7,
                 configs: dict | None = None) -> Any:
    body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": -1,
                        "assignments": [], "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}],
            "timeout": 10000, "validate_only": False}
    return c.request(API_CREATE_TOPICS, version, body).topics[0]


def init_producer_id(c: KafkaWireClient, version: int = 4) -> tuple[int, int]:
    resp = c.request(API_INIT_PRODUCER_ID, version, {"transactional_id": None, "transaction_timeout": 60000,
                                                     "producer_id": -1, "producer_epoch": -1})
    assert int(resp.error_code) == 0, resp
    return resp.producer_id, resp.producer_epoch


def ensure_topic(c: KafkaWireClient, name: str) -> None:
    """Auto-creates `name` through Metadata (num.partitions partitions)."""
    resp = metadata(c, [name])
    assert int(resp.topics[0].error_code) == 0, resp.topics[0]
