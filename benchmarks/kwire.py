"""Just enough of the Kafka wire protocol for the harness to probe a broker without a client
library: ApiVersions v0, Metadata v4 and ListOffsets v1, all non-flexible (request header v1,
response header v0). Used for the start-up clock (W6: the first successful Metadata response
must not include a client library's own start-up) and to see which APIs a broker offers.

Every version used here is supported by Apache Kafka 4.x (KIP-896 removed Metadata v0-3 and
ListOffsets v0) and by FluxMQ.

    request  = int32 size | int16 api_key | int16 api_version | int32 correlation_id
               | string client_id | body
    response = int32 size | int32 correlation_id | body
"""

from __future__ import annotations

import socket
import struct

API_VERSIONS, METADATA, LIST_OFFSETS = 18, 3, 2
CLIENT_ID = b"fluxmq-bench"

_HEADER = struct.Struct(">hhih")  # api_key, api_version, correlation_id, client_id length


class Reader:
    """Big-endian cursor over a response body."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        s = struct.Struct(">" + fmt)
        values = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return values if len(values) > 1 else values[0]

    def string(self) -> str | None:
        n = self.take("h")
        if n < 0:
            return None
        value = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return value

    def array(self, item):
        n = self.take("i")
        return [] if n < 0 else [item() for _ in range(n)]


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


class Connection:
    """One blocking connection; `connect` raises OSError while nothing listens."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv_exact(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = self.sock.recv(n - got)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def request(self, api_key: int, version: int, body: bytes) -> Reader:
        self.correlation += 1
        header = _HEADER.pack(api_key, version, self.correlation, len(CLIENT_ID)) + CLIENT_ID
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self._recv_exact(4))[0]
        payload = self._recv_exact(size)
        if struct.unpack_from(">i", payload)[0] != self.correlation:
            raise ConnectionError("correlation id mismatch")
        return Reader(payload[4:])

    def api_versions(self) -> dict[int, tuple[int, int]]:
        """api_key -> (min, max) offered by the broker."""
        r = self.request(API_VERSIONS, 0, b"")
        error = r.take("h")
        if error:
            raise ConnectionError(f"ApiVersions error {error}")
        return {k: (lo, hi) for k, lo, hi in r.array(lambda: r.take("hhh"))}

    def metadata(self, topics: list[str] | None = None) -> dict:
        """Metadata v4: {"brokers": [...], "topics": {name: {"error": e, "partitions": {p: (err, leader)}}}}."""
        if topics is None:
            body = struct.pack(">i", -1)
        else:
            body = struct.pack(">i", len(topics)) + b"".join(_string(t) for t in topics)
        body += b"\x00"  # allow_auto_topic_creation = false
        r = self.request(METADATA, 4, body)
        r.take("i")  # throttle_time_ms

        def broker():
            node, host, port = r.take("i"), r.string(), r.take("i")
            r.string()  # rack
            return (node, host, port)

        brokers = r.array(broker)
        r.string()  # cluster_id
        r.take("i")  # controller_id

        def partition():
            err, index, leader = r.take("hii")
            r.array(lambda: r.take("i"))  # replicas
            r.array(lambda: r.take("i"))  # isr
            return index, (err, leader)

        def topic():
            err, name = r.take("h"), r.string()
            r.take("?")  # is_internal
            return name, {"error": err, "partitions": dict(r.array(partition))}

        return {"brokers": brokers, "topics": dict(r.array(topic))}

    def end_offsets(self, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """ListOffsets v1, timestamp -1 (latest): partition -> (error, offset)."""
        body = struct.pack(">i", -1) + struct.pack(">i", 1) + _string(topic)
        body += struct.pack(">i", len(partitions)) + b"".join(struct.pack(">iq", p, -1) for p in partitions)
        r = self.request(LIST_OFFSETS, 1, body)
        out = {}
        for _name, parts in r.array(lambda: (r.string(), r.array(lambda: r.take("ihqq")))):
            for index, err, _ts, offset in parts:
                out[index] = (err, offset)
        return out


def topic_ready(md: dict, topic: str, partitions: int) -> bool:
    """Every partition of `topic` is listed with no error and a leader."""
    t = md["topics"].get(topic)
    if t is None or t["error"] != 0 or len(t["partitions"]) != partitions:
        return False
    return all(err == 0 and leader >= 0 for err, leader in t["partitions"].values())
