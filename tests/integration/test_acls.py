"""ACLs with Kafka's StandardAuthorizer semantics, against a real broker process
configured the way Kafka is: a SASL_PLAINTEXT listener with PLAIN users,
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer,
super.users and allow.everyone.if.no.acl.found at its default (false).

The matrix (produce, consume, commit, describe, create, delete, configs, the
ACL APIs themselves; per principal, allowed or denied, with the error each
client reports) runs unchanged against Apache Kafka 4.4 from the Maven jars:
`pytest tests/integration/test_acls.py --acl-reference-kafka`. User:ANONYMOUS
is a super user on both because Kafka's own broker reaches its controller over
the PLAINTEXT controller listener as that principal; every client here logs in
over SASL, so none is ANONYMOUS.

ACLs are managed with confluent-kafka's AdminClient and with Kafka's kafka-acls
(AclCommand). Each test uses topics, groups and prefixes of its own, so the
ACLs of one never apply to another.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import javautil
import pytest
from brokerproc import BrokerProcess
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from fluxmq.tools.client import KafkaWireClient, sasl_authenticate
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ConfigResource, NewPartitions, NewTopic, ResourcePatternType, ResourceType)

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        'password="admin-secret" ' + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# What both brokers are given (FluxMQ from a server.properties, Kafka beside its KRaft settings).
PROPS = {"sasl.enabled.mechanisms": "PLAIN",
         "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
         "authorizer.class.name": STANDARD_AUTHORIZER,
         "super.users": "User:admin;User:ANONYMOUS",
         "group.initial.rebalance.delay.ms": "0",
         "offsets.topic.num.partitions": "1"}
TIMEOUT = 30
ANY = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                       AclPermissionType.ANY)


def fluxmq(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluxmq", *args], capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("acls")
    if request.config.getoption("--acl-reference-kafka"):
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
        import brokers  # benchmarks/brokers.py: Kafka 4.4 from the Maven jars
        b = brokers.KafkaBroker(base / "kafka", {**PROPS, "sasl.mechanism.inter.broker.protocol": "PLAIN"},
                                protocol="SASL_PLAINTEXT")
        b.start()
        b.reference = True
        yield b
        b.stop()
        return
    props = base / "server.properties"
    props.write_text("listeners=SASL_PLAINTEXT://127.0.0.1:0\n" + "".join(f"{k}={v}\n" for k, v in PROPS.items()))
    b = BrokerProcess(base / "data", ["--config", str(props)]).start()
    b.reference = False
    yield b
    b.stop()


def conf(broker, user: str, **extra) -> dict:
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": user, "sasl.password": USERS[user], **extra}


def admin(broker, user: str = "admin") -> AdminClient:
    return AdminClient(conf(broker, user))


def uid() -> str:
    return uuid.uuid4().hex[:8]


def binding(principal: str, op, name: str, rtype=ResourceType.TOPIC, pattern=ResourcePatternType.LITERAL,
            permission=AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(rtype, name, pattern, f"User:{principal}", "*", op, permission)


def add_acls(broker, *bindings) -> None:
    """Creates the bindings as admin and waits until DescribeAcls lists them all: that
    answer comes from the broker's authorizer, so they are in force from then on."""
    a = admin(broker)
    for f in a.create_acls(list(bindings)).values():
        f.result(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while not set(bindings) <= set(a.describe_acls(ANY).result(TIMEOUT)):
        assert time.monotonic() < deadline, "ACLs never listed"
        time.sleep(0.1)


def create_topic(broker, name: str, partitions: int = 1) -> None:
    a = admin(broker)  # kept while the future is pending: a client destroyed first fails it
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def produce(broker, user: str, topic: str, n: int = 5, **extra) -> list:
    """Delivery errors (None for a delivered record), one per record."""
    errors = []
    p = Producer(conf(broker, user, **extra))
    for i in range(n):
        p.produce(topic, value=f"{user}-{i}".encode(), on_delivery=lambda err, msg: errors.append(err))
    p.flush(TIMEOUT)
    assert len(errors) == n
    return errors


def consume(broker, user: str, topic: str, group: str, n: int):
    """(values, the first consumer error) of a group consumer that stops after n records or an error."""
    c = Consumer(conf(broker, user, **{"group.id": group, "auto.offset.reset": "earliest",
                                       "enable.auto.commit": False}))
    c.subscribe([topic])
    values, error, deadline = [], None, time.monotonic() + TIMEOUT
    try:
        while len(values) < n and error is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                error = m.error()
                continue
            values.append(m.value().decode())
        if values and error is None:
            c.commit(asynchronous=False)
    except KafkaException as e:
        error = e.args[0]
    finally:
        c.close()
    return values, error


def code(err) -> int | None:
    return None if err is None else err.code()


# ------------------------------------------------------------------ the ACL APIs
def test_acl_apis_create_describe_and_delete_with_filters(acl_broker):
    p = f"acl-api-{uid()}"
    bindings = [binding("alice", AclOperation.READ, f"{p}-orders"),
                binding("alice", AclOperation.WRITE, f"{p}-", pattern=ResourcePatternType.PREFIXED),
                binding("bob", AclOperation.READ, f"{p}-g", rtype=ResourceType.GROUP,
                        permission=AclPermissionType.DENY)]
    add_acls(acl_broker, *bindings)
    a = admin(acl_broker)
    add_acls(acl_broker, bindings[0])  # creating one again changes nothing
    mine = lambda got: sorted((b for b in got if b.name.startswith(p)), key=str)  # noqa: E731
    assert mine(a.describe_acls(ANY).result(TIMEOUT)) == sorted(bindings, key=str)
    match = AclBindingFilter(ResourceType.TOPIC, f"{p}-orders", ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert mine(a.describe_acls(match).result(TIMEOUT)) == sorted(bindings[:2], key=str)
    by_principal = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:bob", None,
                                    AclOperation.ANY, AclPermissionType.ANY)
    assert mine(a.describe_acls(by_principal).result(TIMEOUT)) == [bindings[2]]
    prefixed = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.PREFIXED, "User:alice", None,
                                AclOperation.ANY, AclPermissionType.ALLOW)
    deleted = next(iter(a.delete_acls([prefixed]).values())).result(TIMEOUT)
    assert mine(deleted) == [bindings[1]]
    assert mine(a.describe_acls(ANY).result(TIMEOUT)) == sorted([bindings[0], bindings[2]], key=str)
    for f in a.delete_acls([AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                             AclOperation.ANY, AclPermissionType.ANY)]).values():
        f.result(TIMEOUT)
    assert mine(a.describe_acls(ANY).result(TIMEOUT)) == []


def wire_describe_acls(broker, user: str):
    """DescribeAcls v3 on the wire: librdkafka's describe_acls drops the response's error code."""
    with KafkaWireClient(broker.bootstrap, timeout=TIMEOUT) as c:
        sasl_authenticate(c, "PLAIN", user, USERS[user])
        return c.request(29, 3, {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                                 "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1})


def test_acl_apis_need_the_cluster_alter_and_describe_acls(acl_broker):
    a = admin(acl_broker, "alice")
    assert int(wire_describe_acls(acl_broker, "alice").error_code) == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        next(iter(a.create_acls([binding("alice", AclOperation.ALL, "x")]).values())).result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        next(iter(a.delete_acls([ANY]).values())).result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # Given ALTER and DESCRIBE on the cluster, alice manages ACLs herself.
    add_acls(acl_broker, binding("alice", AclOperation.ALTER, "kafka-cluster", rtype=ResourceType.BROKER))
    described = wire_describe_acls(acl_broker, "alice")  # ALTER implies DESCRIBE
    assert int(described.error_code) == 0 and any(r.resource_name == "kafka-cluster" for r in described.resources)
    mine = binding("alice", AclOperation.READ, f"acl-self-{uid()}")
    for f in a.create_acls([mine]).values():
        f.result(TIMEOUT)
    root = admin(acl_broker)
    for f in root.delete_acls([AclBindingFilter(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL,
                                                "User:alice", None, AclOperation.ANY, AclPermissionType.ANY)]).values():
        assert len(f.result(TIMEOUT)) == 1


def test_a_cluster_binding_must_name_kafka_cluster(acl_broker):
    a = admin(acl_broker)
    with pytest.raises(KafkaException) as e:
        next(iter(a.create_acls(
            [binding("alice", AclOperation.ALTER, "my-cluster", rtype=ResourceType.BROKER)]).values())).result(TIMEOUT)
    err = e.value.args[0]
    assert err.code() == KafkaError.INVALID_REQUEST
    assert "The only valid name for the CLUSTER resource is kafka-cluster" in err.str()


# ------------------------------------------------------------------ the matrix
def test_produce_needs_write_on_the_topic(acl_broker):
    topic = f"acl-produce-{uid()}"
    create_topic(acl_broker, topic)
    add_acls(acl_broker, binding("alice", AclOperation.WRITE, topic))
    assert produce(acl_broker, "alice", topic) == [None] * 5
    assert [code(e) for e in produce(acl_broker, "bob", topic)] == [KafkaError.TOPIC_AUTHORIZATION_FAILED] * 5
    # The idempotent producer's InitProducerId needs WRITE on some topic (or IDEMPOTENT_WRITE): alice has it.
    assert produce(acl_broker, "alice", topic, **{"enable.idempotence": True}) == [None] * 5


def test_deny_beats_allow(acl_broker):
    p = f"acl-deny-{uid()}"
    open_topic, closed = f"{p}-open", f"{p}-closed"
    for t in (open_topic, closed):
        create_topic(acl_broker, t)
    add_acls(acl_broker, binding("alice", AclOperation.WRITE, f"{p}-", pattern=ResourcePatternType.PREFIXED),
             AclBinding(ResourceType.TOPIC, closed, ResourcePatternType.LITERAL, "User:*", "*", AclOperation.WRITE,
                        AclPermissionType.DENY))
    assert produce(acl_broker, "alice", open_topic) == [None] * 5
    assert [code(e) for e in produce(acl_broker, "alice", closed)] == [KafkaError.TOPIC_AUTHORIZATION_FAILED] * 5


def test_consume_and_commit_need_read_on_the_topic_and_the_group(acl_broker):
    topic, group = f"acl-consume-{uid()}", f"acl-group-{uid()}"
    create_topic(acl_broker, topic)
    assert produce(acl_broker, "admin", topic) == [None] * 5
    add_acls(acl_broker, binding("alice", AclOperation.READ, topic),
             binding("alice", AclOperation.READ, group, rtype=ResourceType.GROUP),
             binding("bob", AclOperation.READ, topic),  # no group: GROUP_AUTHORIZATION_FAILED
             binding("carol", AclOperation.READ, group, rtype=ResourceType.GROUP))  # no topic
    values, error = consume(acl_broker, "alice", topic, group, 5)
    assert (values, error) == ([f"admin-{i}" for i in range(5)], None)
    committed = Consumer(conf(acl_broker, "alice", **{"group.id": group})).committed(
        [TopicPartition(topic, 0)], timeout=TIMEOUT)
    assert committed[0].offset == 5
    _, error = consume(acl_broker, "bob", topic, f"{group}-bob", 5)
    assert code(error) == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    _, error = consume(acl_broker, "carol", topic, group, 5)
    assert code(error) == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


def test_metadata_lists_only_the_topics_a_principal_may_describe(acl_broker):
    p = f"acl-meta-{uid()}"
    seen, hidden = f"{p}-seen", f"{p}-hidden"
    for t in (seen, hidden):
        create_topic(acl_broker, t)
    add_acls(acl_broker, binding("alice", AclOperation.DESCRIBE, seen))
    for _ in range(2):  # asked twice: the second answer may come from the metadata cache
        assert {t for t in admin(acl_broker, "alice").list_topics(timeout=TIMEOUT).topics if t.startswith(p)} == {seen}
        assert {t for t in admin(acl_broker, "bob").list_topics(timeout=TIMEOUT).topics if t.startswith(p)} == set()
        assert {t for t in admin(acl_broker).list_topics(timeout=TIMEOUT).topics if t.startswith(p)} == {seen, hidden}
    # Asked for by name, a topic bob may not describe is TOPIC_AUTHORIZATION_FAILED, existing or not.
    md = admin(acl_broker, "bob").list_topics(hidden, timeout=TIMEOUT)
    assert md.topics[hidden].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_create_needs_create_and_delete_needs_delete(acl_broker):
    p = f"acl-admin-{uid()}"
    add_acls(acl_broker, binding("alice", AclOperation.CREATE, f"{p}-", pattern=ResourcePatternType.PREFIXED),
             binding("alice", AclOperation.DELETE, f"{p}-doomed"))
    a = admin(acl_broker, "alice")
    for name in (f"{p}-kept", f"{p}-doomed"):
        a.create_topics([NewTopic(name, 1, 1)])[name].result(TIMEOUT)
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(f"other-{p}", 1, 1)])[f"other-{p}"].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        a.delete_topics([f"{p}-kept"])[f"{p}-kept"].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        a.create_partitions([NewPartitions(f"{p}-kept", 2)])[f"{p}-kept"].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    a.delete_topics([f"{p}-doomed"])[f"{p}-doomed"].result(TIMEOUT)
    remaining = set(admin(acl_broker).list_topics(timeout=TIMEOUT).topics)
    assert f"{p}-kept" in remaining and f"{p}-doomed" not in remaining and f"other-{p}" not in remaining


def test_configs_need_describe_configs_and_alter_configs(acl_broker):
    topic = f"acl-configs-{uid()}"
    create_topic(acl_broker, topic)
    add_acls(acl_broker, binding("alice", AclOperation.DESCRIBE_CONFIGS, topic))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    alice, bob = admin(acl_broker, "alice"), admin(acl_broker, "bob")
    configs = alice.describe_configs([resource])[resource].result(TIMEOUT)
    assert configs["retention.ms"].value == "604800000"
    with pytest.raises(KafkaException) as e:
        bob.describe_configs([resource])[resource].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    change = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        alice.incremental_alter_configs([change])[change].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    broker_resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    with pytest.raises(KafkaException) as e:
        alice.describe_configs([broker_resource])[broker_resource].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_group_admin_needs_describe_and_delete_on_the_group(acl_broker):
    topic, group = f"acl-gadmin-{uid()}", f"acl-gadmin-{uid()}"
    create_topic(acl_broker, topic)
    assert produce(acl_broker, "admin", topic, n=1) == [None]
    assert consume(acl_broker, "admin", topic, group, 1) == (["admin-0"], None)
    add_acls(acl_broker, binding("alice", AclOperation.DESCRIBE, group, rtype=ResourceType.GROUP))
    alice, bob = admin(acl_broker, "alice"), admin(acl_broker, "bob")
    listed = lambda a: {g.group_id for g in a.list_consumer_groups().result(TIMEOUT).valid}  # noqa: E731
    assert group in listed(alice) and group not in listed(bob)
    assert alice.describe_consumer_groups([group])[group].result(TIMEOUT).group_id == group
    with pytest.raises(KafkaException) as e:
        bob.describe_consumer_groups([group])[group].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        alice.delete_consumer_groups([group])[group].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    root = admin(acl_broker)
    root.delete_consumer_groups([group])[group].result(TIMEOUT)


# ------------------------------------------------------------------ Java
@pytest.fixture(scope="module")
def java_built():
    javautil.build()


def java_config(tmp_path, user: str) -> str:
    path = tmp_path / f"{user}.properties"
    path.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                    "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="{user}" password="{USERS[user]}";\n')
    return str(path)


def kafka_acls(broker, tmp_path, *args: str, user: str = "admin") -> javautil.JavaResult:
    return javautil.run_class("org.apache.kafka.tools.AclCommand", "--bootstrap-server", broker.bootstrap,
                              "--command-config", java_config(tmp_path, user), *args, timeout=90)


def test_kafka_acls_tool_and_java_clients(acl_broker, java_built, tmp_path):
    """kafka-acls --add --producer / --consumer, then Kafka's console producer (idempotent by
    default, so InitProducerId is authorized too) and console consumer as alice; bob is refused."""
    topic, group = f"acl-java-{uid()}", f"acl-java-{uid()}"
    create_topic(acl_broker, topic)
    r = kafka_acls(acl_broker, tmp_path, "--add", "--allow-principal", "User:alice", "--producer", "--topic", topic)
    assert r.returncode == 0, r.describe()
    r = kafka_acls(acl_broker, tmp_path, "--add", "--allow-principal", "User:alice", "--consumer", "--topic", topic,
                   "--group", group)
    assert r.returncode == 0, r.describe()
    r = kafka_acls(acl_broker, tmp_path, "--list", "--topic", topic)
    assert r.returncode == 0, r.describe()
    for op in ("WRITE", "DESCRIBE", "CREATE", "READ"):
        assert f"(principal=User:alice, host=*, operation={op}, permissionType=ALLOW)" in r.stdout, r.describe()
    deadline = time.monotonic() + TIMEOUT  # in force once DescribeAcls lists them (see add_acls)
    root = admin(acl_broker)
    while len([b for b in root.describe_acls(ANY).result(TIMEOUT) if b.name in (topic, group)]) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    r = javautil.run_class("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", acl_broker.bootstrap,
                           "--topic", topic, "--command-config", java_config(tmp_path, "alice"),
                           stdin="first\nsecond\n", timeout=90)
    assert r.returncode == 0, r.describe()
    r = javautil.run_class("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                           acl_broker.bootstrap, "--topic", topic, "--group", group, "--from-beginning",
                           "--max-messages", "2", "--timeout-ms", "30000",
                           "--command-config", java_config(tmp_path, "alice"), timeout=90)
    assert r.stdout.split() == ["first", "second"], r.describe()
    r = javautil.run_class("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", acl_broker.bootstrap,
                           "--topic", topic, "--command-config", java_config(tmp_path, "bob"), stdin="x\n",
                           timeout=90)
    assert f"TopicAuthorizationException: Not authorized to access topics: [{topic}]" in r.stderr, r.describe()
    r = kafka_acls(acl_broker, tmp_path, "--remove", "--force", "--allow-principal", "User:alice", "--producer",
                   "--topic", topic)
    assert r.returncode == 0, r.describe()
    r = kafka_acls(acl_broker, tmp_path, "--list", "--topic", topic)
    assert "operation=WRITE" not in r.stdout and "operation=READ" in r.stdout, r.describe()


# ---------------------------------------------------------- FluxMQ's own start-up
def fluxmq_only(broker):
    if broker.reference:
        pytest.skip("FluxMQ's command line and data dir")


def test_acls_survive_a_restart(acl_broker):
    fluxmq_only(acl_broker)
    topic = f"acl-restart-{uid()}"
    create_topic(acl_broker, topic)
    add_acls(acl_broker, binding("alice", AclOperation.WRITE, topic))
    acl_broker.stop()
    acl_broker.start()
    root = admin(acl_broker)
    assert binding("alice", AclOperation.WRITE, topic) in root.describe_acls(ANY).result(TIMEOUT)
    assert produce(acl_broker, "alice", topic) == [None] * 5
    stored = json.loads((acl_broker.data_dir / "acls.json").read_text())
    assert {"resource_type": "TOPIC", "resource_name": topic, "pattern_type": "LITERAL", "principal": "User:alice",
            "host": "*", "operation": "WRITE", "permission": "ALLOW"} in stored


def test_enable_acl_with_an_acl_config_file_and_super_users(tmp_path, acl_broker):
    """The seed's flags: --enable-acl --acl-config acl.json --super-users admin."""
    fluxmq_only(acl_broker)
    acl_file = tmp_path / "acl.json"
    acl_file.write_text(json.dumps({"acls": [
        {"principal": "User:alice", "resource_type": "TOPIC", "pattern_type": "PREFIXED", "resource_name": "app-",
         "operation": "WRITE"},
        {"principal": "User:alice", "resource_type": "TOPIC", "resource_name": "app-secret", "operation": "ALL",
         "permission": "DENY"}]}))
    props = tmp_path / "server.properties"
    props.write_text("listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n"
                     f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}\n")
    b = BrokerProcess(tmp_path / "data", ["--config", str(props), "--enable-acl", "--acl-config", str(acl_file),
                                          "--super-users", "admin"]).start()
    try:
        for t in ("app-orders", "app-secret"):
            create_topic(b, t)  # as admin, a super user
        assert produce(b, "alice", "app-orders") == [None] * 5
        assert [code(e) for e in produce(b, "alice", "app-secret")] == [KafkaError.TOPIC_AUTHORIZATION_FAILED] * 5
        root = admin(b)
        assert len(root.describe_acls(ANY).result(TIMEOUT)) == 2
    finally:
        b.stop()
    assert "StandardAuthorizer: super.users=User:admin" in b.log_text()


@pytest.mark.parametrize("args,message", [
    (["--acl-config", "acl.json"], "--acl-config given without an authorizer"),
    (["--super-users", "admin"], "--super-users given without an authorizer"),
    (["--override", "allow.everyone.if.no.acl.found=true"], "allow.everyone.if.no.acl.found given without"),
    (["--override", "authorizer.class.name=com.example.MyAuthorizer"], "is not available in FluxMQ"),
    (["--enable-acl", "--acl-config", "bad.json"], "ACL 1: operation 'FLY' is not one of"),
])
def test_authorizer_settings_that_cannot_work_refuse_to_start(tmp_path, args, message):
    (tmp_path / "acl.json").write_text("[]")
    (tmp_path / "bad.json").write_text(json.dumps([{"principal": "User:a", "resource_type": "TOPIC",
                                                    "resource_name": "t", "operation": "FLY"}]))
    r = fluxmq("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), *args, cwd=tmp_path)
    assert r.returncode != 0 and message in r.stderr, r.stderr


# ------------------------------------------------------------ on the wire
def wire(broker, user: str) -> KafkaWireClient:
    c = KafkaWireClient(broker.bootstrap, timeout=TIMEOUT)
    sasl_authenticate(c, "PLAIN", user, USERS[user])
    return c


ACL_FILTER = {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
              "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1}
CREATION = {"resource_type": 2, "resource_name": "x", "resource_pattern_type": 3, "principal": "User:alice",
            "host": "*", "operation": 3, "permission_type": 3}
ALL_OPS_OMITTED = -2147483648


@pytest.mark.parametrize("api,version,body", [
    (30, 3, {"creations": [dict(CREATION, permission_type=0)]}),
    (30, 3, {"creations": [dict(CREATION, resource_type=0)]}),
    (29, 3, dict(ACL_FILTER, operation=0)),
    (31, 3, {"filters": [dict(ACL_FILTER, pattern_type_filter=0)]}),
], ids=["create-permission", "create-resource-type", "describe-operation", "delete-pattern-type"])
def test_an_unknown_code_0_is_a_malformed_acl_request(acl_broker, api, version, body):
    with wire(acl_broker, "admin") as c:
        c.send(api, version, body)
        assert c.wait_closed(10)


def test_acl_codes_this_version_does_not_know(acl_broker):
    """A code above the known ones reads as UNKNOWN and is answered, as Kafka 4.4 does."""
    with wire(acl_broker, "admin") as c:
        r = c.request(30, 3, {"creations": [dict(CREATION, resource_type=99), dict(CREATION, operation=99),
                                            dict(CREATION, host=""), dict(CREATION, principal="alice"),
                                            dict(CREATION, resource_name="")]})
        assert [(int(x.error_code), x.error_message) for x in r.results] == [
            (42, "Invalid resourceType UNKNOWN"), (42, "Invalid operation UNKNOWN"),
            (42, "Host pattern cannot be null or empty"),
            (42, "Could not parse principal from `alice` (no colon is present separating the principal type "
                 "from the principal name)"),
            (42, "Invalid empty resource name")]
        d = c.request(29, 3, dict(ACL_FILTER, resource_type_filter=99))
        assert (int(d.error_code), d.resources) == (0, ())
        r = c.request(31, 3, {"filters": [dict(ACL_FILTER, resource_type_filter=99), dict(ACL_FILTER, operation=99)]})
        assert [(int(x.error_code), x.error_message) for x in r.filter_results] == [
            (42, "Unknown patternFilter."), (42, "Unknown entryFilter.")]


def test_what_each_api_answers_a_principal_without_acls(acl_broker):
    """alice may READ the topic and DESCRIBE the group; bob has no ACL at all."""
    topic, group = f"acl-wire-{uid()}", f"acl-wire-{uid()}"
    missing = f"missing-{topic}"
    with wire(acl_broker, "admin") as c:
        topic_id = c.request(19, 7, {"topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1}],
                                     "timeout": 5000}).topics[0].topic_id
    add_acls(acl_broker, binding("alice", AclOperation.READ, topic),
             binding("alice", AclOperation.DESCRIBE, group, rtype=ResourceType.GROUP))
    read_describe = (1 << 3) | (1 << 8)
    for user, allowed in (("alice", True), ("bob", False)):
        with wire(acl_broker, user) as c:
            md = c.request(3, 12, {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": True}).topics[0]
            by_id = c.request(3, 12, {"topics": [{"name": None, "topic_id": topic_id}],
                                      "allow_auto_topic_creation": False,
                                      "include_topic_authorized_operations": True}).topics[0]
            if allowed:
                assert (int(md.error_code), md.topic_id, md.topic_authorized_operations) == (0, topic_id, read_describe)
                assert (by_id.name, int(by_id.error_code)) == (topic, 0)
            else:
                assert (int(md.error_code), md.topic_id, md.topic_authorized_operations) == (29, None, ALL_OPS_OMITTED)
                assert (by_id.name, int(by_id.error_code), by_id.topic_id) == (None, 29, topic_id)  # the name is hidden
            v10 = c.request(3, 10, {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                                    "include_topic_authorized_operations": False,
                                    "include_cluster_authorized_operations": True})
            assert v10.cluster_authorized_operations == 0  # no DESCRIBE on the cluster
            assert c.request(60, 1, {"include_cluster_authorized_operations": True}).cluster_authorized_operations == 0
            dtp = c.request(75, 0, {"topics": [{"name": topic}, {"name": missing}], "response_partition_limit": 10,
                                    "cursor": None})
            assert {x.name: int(x.error_code) for x in dtp.topics} == {topic: 0 if allowed else 29, missing: 29}
            fc = c.request(10, 4, {"key_type": 0, "coordinator_keys": [group]}).coordinators[0]
            assert int(fc.error_code) == (0 if allowed else 30)
            of = c.request(9, 8, {"groups": [{"group_id": group, "topics": [
                {"name": topic, "partition_indexes": [0]}, {"name": missing, "partition_indexes": [0]}]}],
                "require_stable": False}).groups[0]
            if allowed:
                assert {t.name: int(t.partitions[0].error_code) for t in of.topics} == {topic: 0, missing: 29}
            else:
                assert (int(of.error_code), of.topics) == (30, ())
            lo = c.request(2, 9, {"replica_id": -1, "isolation_level": 0, "topics": [
                {"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})
            assert int(lo.topics[0].partitions[0].error_code) == (0 if allowed else 29)
            ep = c.request(23, 4, {"replica_id": -1, "topics": [
                {"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1, "leader_epoch": 0}]}]})
            assert int(ep.topics[0].partitions[0].error_code) == (0 if allowed else 29)
            ld = c.request(35, 4, {"topics": None})
            assert (int(ld.error_code), ld.results) == (31, ())
            dr = c.request(21, 2, {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": 0}]}],
                                   "timeout": 5000}).topics[0].partitions[0]
            assert (int(dr.error_code), dr.low_watermark) == (29, -1)
            fetch = c.request(1, 16, {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                                      "isolation_level": 0, "session_id": 0, "session_epoch": -1, "rack_id": "",
                                      "topics": [{"topic_id": topic_id, "partitions": [
                                          {"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                                           "log_start_offset": -1, "partition_max_bytes": 1 << 20,
                                           "last_fetched_epoch": -1}]}]})
            assert [int(p.error_code) for t in fetch.responses for p in t.partitions] == [0 if allowed else 29]
            dg = c.request(15, 5, {"groups": [group], "include_authorized_operations": True}).groups[0]
            assert (int(dg.error_code), dg.authorized_operations) == ((0, 1 << 8) if allowed else (30, ALL_OPS_OMITTED))


def test_an_idempotent_producer_needs_write_somewhere(acl_broker):
    """InitProducerId without a transactional id: IDEMPOTENT_WRITE on the cluster, or
    WRITE on at least one topic (any pattern), else CLUSTER_AUTHORIZATION_FAILED."""
    body = {"transactional_id": None, "transaction_timeout": 60000, "producer_id": -1, "producer_epoch": -1}
    with wire(acl_broker, "bob") as c:
        assert int(c.request(22, 4, body).error_code) == 31
    add_acls(acl_broker, binding("bob", AclOperation.WRITE, f"acl-pid-{uid()}-", pattern=ResourcePatternType.PREFIXED))
    with wire(acl_broker, "bob") as c:
        r = c.request(22, 4, body)
        assert (int(r.error_code), r.producer_id >= 0) == (0, True)
    transactional = dict(body, transactional_id=f"tx-{uid()}")
    with wire(acl_broker, "bob") as c:
        assert int(c.request(22, 4, transactional).error_code) == 53  # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
