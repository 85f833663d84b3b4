"""Two PLAINTEXT listeners, each advertised on another host and port than it is
bound to (a TCP forwarder stands for the NAT or port mapping in between): every
client is told the advertised endpoint of the listener it came in on, in
Metadata, DescribeCluster and FindCoordinator, and reaches the broker there.
Checked with the raw protocol, confluent-kafka and the Java AdminClient and
producer."""

from __future__ import annotations

import uuid

import javautil
import pytest
from brokerproc import free_port
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from tcpproxy import TcpForwarder
from wire import connect

METADATA, FIND_COORDINATOR, DESCRIBE_CLUSTER = 3, 10, 60


@pytest.fixture
def two_listeners(broker_factory):
    """(broker, {listener: (bind port, advertised host, forwarder)})."""
    internal_port = free_port()
    b = broker_factory([])
    external, internal = TcpForwarder("127.0.0.1", b.port), TcpForwarder("127.0.0.1", internal_port)
    b.extra_args = [
        "--override", f"listeners=PLAINTEXT://127.0.0.1:{b.port},INTERNAL://127.0.0.1:{internal_port}",
        "--override", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{external.port},"
                      f"INTERNAL://localhost:{internal.port}",
    ]
    b.start()
    try:
        yield b, {"PLAINTEXT": (b.port, "127.0.0.1", external), "INTERNAL": (internal_port, "localhost", internal)}
    finally:
        external.close()
        internal.close()


def test_each_listener_answers_its_own_advertised_endpoint(two_listeners):
    _b, listeners = two_listeners
    for bind_port, host, forwarder in listeners.values():
        with connect(f"127.0.0.1:{bind_port}") as w:
            meta = w.request(METADATA, 12, {"topics": [], "allow_auto_topic_creation": False})
            assert [(x.host, x.port) for x in meta.brokers] == [(host, forwarder.port)]
            cluster = w.request(DESCRIBE_CLUSTER, 1, {"include_cluster_authorized_operations": False})
            assert [(x.host, x.port) for x in cluster.brokers] == [(host, forwarder.port)]
            coord = w.request(FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": ["g"]}).coordinators[0]
            assert (int(coord.error_code), coord.host, coord.port) == (0, host, forwarder.port)


def test_confluent_kafka_reaches_each_advertised_endpoint(two_listeners):
    _b, listeners = two_listeners
    for name, (bind_port, host, forwarder) in listeners.items():
        bootstrap = f"127.0.0.1:{bind_port}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        md = admin.list_topics(timeout=10)
        assert [(x.host, x.port) for x in md.brokers.values()] == [(host, forwarder.port)]
        nodes = admin.describe_cluster(request_timeout=10).result(10).nodes
        assert [(n.host, n.port) for n in nodes] == [(host, forwarder.port)]
        before = forwarder.connections
        p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 20000})
        errors = []
        p.produce(f"listeners-{name}-{uuid.uuid4().hex[:6]}", b"v", on_delivery=lambda e, m: errors.append(e))
        assert p.flush(20) == 0 and errors == [None]
        assert forwarder.connections > before  # the producer went through the advertised endpoint


def test_java_admin_client_and_producer_use_the_advertised_endpoint(two_listeners, topic_name):
    javautil.build()
    _b, listeners = two_listeners
    for name, (bind_port, host, forwarder) in listeners.items():
        before = forwarder.connections
        r = javautil.run_scenario("AdvertisedEndpoints", f"127.0.0.1:{bind_port}", f"{topic_name}-{name.lower()}",
                                  "--expect", f"{host}:{forwarder.port}")
        assert f"ENDPOINT leader {host}:{forwarder.port}" in r.stdout
        assert forwarder.connections > before


@pytest.mark.parametrize("listeners,why", [
    ("SSL://127.0.0.1:0", "listener SSL: an SSL listener needs a keystore"),
    ("PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0", "each listener must have a different name"),
    ("OTHER://127.0.0.1:0", "not in listener.security.protocol.map"),
    ("127.0.0.1:9092", "is not of the form NAME://host:port"),
])
def test_invalid_listeners_refuse_to_start(broker_factory, listeners, why):
    b = broker_factory(["--override", f"listeners={listeners}"])
    with pytest.raises(RuntimeError) as e:
        b.start(timeout=20)
    assert why in str(e.value)
