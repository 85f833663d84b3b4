"""Shared fixtures: a real `fluxmq serve` process on 127.0.0.1, a random free
port and a temporary data dir. No mocked broker, no mocked socket.

`--reference-bootstrap host:port` points the shared `broker` fixture at a
broker that is already running instead, e.g. Apache Kafka 4.4 started from the
Maven jars (`python compat/run.py --serve-kafka defaults`): that is how an assertion is
checked against Kafka before it is made of FluxMQ. `broker_factory` then
hands out that broker too (its extra arguments are not applied: start the
reference with the same configs), and tests that restart or kill a broker
are skipped.
"""

from __future__ import annotations

import uuid

import pytest
from brokerproc import BrokerProcess


def pytest_addoption(parser):
    parser.addoption("--reference-bootstrap", default=None, metavar="HOST:PORT",
                     help="run the shared-broker tests against this running broker instead of FluxMQ")
    parser.addoption("--acl-reference-kafka", action="store_true",
                     help="run tests/integration/test_acls.py against Apache Kafka 4.4 (Maven jars) "
                          "configured the same way, instead of FluxMQ")


class ReferenceBroker:
    """A broker this session did not start (see --reference-bootstrap)."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.host, port = bootstrap.rsplit(":", 1)
        self.port = int(port)

    def start(self, timeout: float = 0.0) -> "ReferenceBroker":
        return self

    def alive(self) -> bool:
        return True

    def _not_ours(self, *_args, **_kwargs):
        pytest.skip("restarts or kills a broker; the reference broker is not this session's")

    stop = kill = restart = _not_ours


@pytest.fixture(scope="session")
def broker(tmp_path_factory, request):
    """One broker shared by the client suites; each test uses its own topics."""
    reference = request.config.getoption("--reference-bootstrap")
    if reference:
        yield ReferenceBroker(reference)
        return
    b = BrokerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield b
    alive = b.alive()
    rc = b.stop()
    assert alive, "the shared broker died during the session:\n" + b.log_text()[-4000:]
    assert rc == 0, f"clean shutdown exited {rc}:\n" + b.log_text()[-4000:]


@pytest.fixture
def broker_factory(tmp_path, request):
    """Private brokers for tests that restart, kill or configure them."""
    made: list[BrokerProcess] = []
    reference = request.config.getoption("--reference-bootstrap")

    def make(extra_args=None, env=None, data_dir=None) -> BrokerProcess:
        if reference:
            return ReferenceBroker(reference)
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
