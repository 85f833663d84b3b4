"""Shared fixtures: a real `fluxmq serve` process on 127.0.0.1, a random free
port and a temporary data dir. No mocked broker, no mocked socket."""

from __future__ import annotations

import uuid

import pytest
from brokerproc import BrokerProcess


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One broker shared by the client suites; each test uses its own topics."""
    b = BrokerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield b
    alive = b.alive()
    rc = b.stop()
    assert alive, "the shared broker died during the session:\n" + b.log_text()[-4000:]
    assert rc == 0, f"clean shutdown exited {rc}:\n" + b.log_text()[-4000:]


@pytest.fixture
def broker_factory(tmp_path):
    """Private brokers for tests that restart, kill or configure them."""
    made: list[BrokerProcess] = []

    def make(extra_args=None, env=None, data_dir=None) -> BrokerProcess:
        b = BrokerProcess(data_dir or tmp_path / f"data{len(made)}", extra_args, env)
        made.append(b)
        return b

    yield make
    for b in made:
        if b.alive():
            b.stop()


@pytest.fixture
def topic_name():
    return "t-" + uuid.uuid4().hex[:12]
