"""Helpers shared by the fault tests: watching a broker's log for the line a
fault should produce, and checking that a broker still serves."""

from __future__ import annotations

import re
import time

from wire import api_versions, connect, metadata

from fluxmq.tools.client import ConnectionClosed, KafkaWireClient

LOG_TIMEOUT = 5.0


class LogWatch:
    """Looks only at what a broker logged after `mark()`."""

    def __init__(self, broker):
        self.broker = broker
        self.start = len(broker.log_text())

    def mark(self) -> "LogWatch":
        self.start = len(self.broker.log_text())
        return self

    def new_text(self) -> str:
        return self.broker.log_text()[self.start:]

    def wait_for(self, pattern: str, timeout: float = LOG_TIMEOUT) -> list[str]:
        """The new log lines matching `pattern` (a regex, case-insensitive);
        fails with what was logged if none shows up within timeout."""
        rx = re.compile(pattern, re.IGNORECASE)
        deadline = time.monotonic() + timeout
        while True:
            lines = [ln for ln in self.new_text().splitlines() if rx.search(ln)]
            if lines:
                return lines
            if time.monotonic() >= deadline:
                raise AssertionError(f"no broker log line matching {pattern!r}; new log lines:\n"
                                     + "\n".join(self.new_text().splitlines()[-30:]))
            time.sleep(0.05)


def assert_serves(broker, *open_clients: KafkaWireClient) -> None:
    """Every already-open connection and a brand-new one still get answers."""
    def dead(what: str, e: Exception) -> AssertionError:
        time.sleep(0.3)  # let a dying process finish, so alive() and the log tell the story
        return AssertionError(f"{what} failed ({e!r}); broker alive: {broker.alive()}; log tail:\n"
                              + broker.log_text()[-2500:])

    for c in open_clients:
        try:
            resp = metadata(c, None)
        except (OSError, ConnectionClosed, TimeoutError) as e:
            raise dead("a round trip on a connection opened before the fault", e) from None
        assert resp.brokers and resp.brokers[0].port == broker.port
    try:
        with connect(broker) as fresh:
            resp = metadata(fresh, None)
    except (OSError, ConnectionClosed, TimeoutError) as e:
        raise dead("a round trip on a new connection", e) from None
    assert resp.brokers and resp.brokers[0].port == broker.port
    assert broker.alive()


def start_ready(broker):
    """Starts `broker` and returns it once it answers a request: the broker
    may accept connections before its logs are loaded, so the process
    listening is not yet proof that recovery has finished."""
    broker.start()
    with connect(broker, timeout=60) as c:
        api_versions(c)
    return broker
