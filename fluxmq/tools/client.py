"""A minimal blocking Kafka protocol client (for the CLI and tests).

Speaks request header v1/v2 and decodes responses with the same kio codecs
the broker uses. One request at a time; no retries.
"""

from __future__ import annotations

import socket
import struct

from fluxmq.protocol import codec
from fluxmq.protocol.header import API_VERSIONS_KEY, read_uvarint

_SIZE = struct.Struct(">i")


class KafkaWireClient:
    def __init__(self, bootstrap: str, client_id: str = "fluxmq-cli", timeout: float = 30.0):
        host, _, port = bootstrap.rpartition(":")
        self.sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
        self.client_id = client_id.encode()
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def header(self, api_key: int, version: int, flexible: bool) -> bytes:
        self.correlation_id += 1
        head = struct.pack(">hhih", api_key, version, self.correlation_id, len(self.client_id)) + self.client_id
        return head + (b"\x00" if flexible else b"")

    def send_raw(self, payload: bytes) -> None:
        self.sock.sendall(_SIZE.pack(len(payload)) + payload)

    def recv_frame(self) -> bytes:
        (size,) = _SIZE.unpack(self._recv_exact(4))
        return self._recv_exact(size)

    def _recv_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def request(self, api_key: int, version: int, body: dict):
        """Sends one request and returns the decoded kio response entity."""
        flexible = codec.is_flexible(api_key, version)
        self.send_raw(self.header(api_key, version, flexible) + codec.encode_request(api_key, version, body))
        frame = self.recv_frame()
        (correlation_id,) = struct.unpack_from(">i", frame, 0)
        if correlation_id != self.correlation_id:
            raise ConnectionError(f"correlation id {correlation_id} != {self.correlation_id}")
        pos = 4
        if flexible and api_key != API_VERSIONS_KEY:
            count, pos = read_uvarint(frame, pos)
            for _ in range(count):
                _tag, pos = read_uvarint(frame, pos)
                size, pos = read_uvarint(frame, pos)
                pos += size
        reader = codec._reader(codec.response_class(api_key, version))
        entity, _ = reader(frame, pos)
        return entity
