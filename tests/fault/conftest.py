"""Fixtures of the fault suite: private broker processes (a fault may kill
one, and must not take the shared broker of the client suites with it) and
a way to look for the log line a fault should produce."""

from __future__ import annotations

import uuid

import pytest
from brokerproc import BrokerProcess

from faultutil import LogWatch, start_ready
from wire import connect, metadata


@pytest.fixture(scope="module")
def fault_broker(tmp_path_factory):
    """A private broker shared by one test module. Overrides keep the
    size-limit cases small: requests above 1 MiB are refused at the frame,
    batches above 100 KB with MESSAGE_TOO_LARGE."""
    b = BrokerProcess(tmp_path_factory.mktemp("fault") / "data",
                     ["--override", "socket.request.max.bytes=1048576",
                      "--override", "message.max.bytes=100000"])
    start_ready(b)
    yield b
    if b.alive():
        b.stop()


@pytest.fixture
def live_broker(fault_broker):
    """The module's broker, started again if an earlier case killed it (that
    case fails on its own; the rest still run)."""
    if not fault_broker.alive():
        if fault_broker.proc is not None:
            fault_broker.kill()
        start_ready(fault_broker)
    return fault_broker


@pytest.fixture
def log_watch(live_broker):
    return LogWatch(live_broker)


@pytest.fixture
def witness(live_broker):
    """A connection opened before the fault, checked after it."""
    c = connect(live_broker)
    metadata(c, None)
    yield c
    c.close()


@pytest.fixture
def fresh_topic():
    return "fault-" + uuid.uuid4().hex[:12]
