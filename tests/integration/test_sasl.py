"""SASL_PLAINTEXT listeners with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, against
a real broker process configured the way Kafka is (server.properties with a
listener-prefixed JAAS entry on continued lines).

One broker serves two SASL listeners: SASL_PLAINTEXT (sessions never expire)
and REAUTH (connections.max.reauth.ms=2000, KIP-368). Its first SCRAM users
are written by `fluxmq users --data-dir` before it starts, as
`kafka-storage format --add-scram` does for Kafka; more are added over the
wire with AlterUserScramCredentials (confluent-kafka's AdminClient, Kafka's
kafka-configs, `fluxmq users`).

What is checked: every client (librdkafka through confluent-kafka and kcat,
kafka-python, aiokafka, Java's console tools) produces and consumes with each
mechanism; wrong passwords and unknown users are refused with the error each
client reports for Kafka (Kafka's own messages); the protocol rules of
Kafka's SaslServerAuthenticator (nothing but ApiVersions and the SASL APIs
before authentication, SaslHandshake v0's bare tokens, ILLEGAL_SASL_STATE,
re-authentication keeping mechanism and principal, expired sessions closed);
credentials survive a restart and are stored without passwords; a SASL
listener that lacks what it needs refuses to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
import subprocess
import sys
import time
import uuid

import javautil
import pytest
from test_kcat import kcat  # noqa: F401 (the fixture: Debian's kcat, installed when missing)
from brokerproc import BrokerProcess, free_port
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                   UserScramCredentialUpsertion)

from fluxmq.tools.client import KafkaWireClient, SaslFailed, sasl_authenticate

API_VERSIONS, METADATA, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 3, 17, 36
ILLEGAL_SASL_STATE, UNSUPPORTED_SASL_MECHANISM, SASL_AUTHENTICATION_FAILED = 34, 33, 58
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# (mechanism, user, password) that the broker accepts.
ACCOUNTS = [("PLAIN", "alice", "alice-secret"), ("SCRAM-SHA-256", "bob", "bob-secret"),
            ("SCRAM-SHA-512", "carol", "carol-secret")]
ADMIN = ("PLAIN", "admin", "admin-secret")
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required \\\n'
              '    username="admin" password="admin-secret" \\\n'
              '    user_admin="admin-secret" \\\n'
              '    user_alice="alice-secret";\n')
# Kafka's messages (SaslServerAuthenticator, PlainSaslServer): what every client shows.
PLAIN_REFUSED = "Authentication failed: Invalid username or password"
SCRAM_REFUSED = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"
REAUTH_MS = 2000


def fluxmq(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluxmq", *args], capture_output=True, text=True, timeout=60, **kw)


def server_properties(reauth_port: int) -> str:
    return (f"listeners=SASL_PLAINTEXT://127.0.0.1:0,REAUTH://127.0.0.1:{reauth_port}\n"
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,REAUTH:SASL_PLAINTEXT\n"
            f"sasl.enabled.mechanisms={','.join(MECHANISMS)}\n"
            f"listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"
            f"listener.name.reauth.plain.sasl.jaas.config={PLAIN_JAAS}"
            f"listener.name.reauth.connections.max.reauth.ms={REAUTH_MS}\n"
            "group.initial.rebalance.delay.ms=0\n")


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    base = tmp_path_factory.mktemp("sasl")
    data = base / "data"
    for mechanism, user, password in ACCOUNTS[1:]:
        r = fluxmq("users", "--data-dir", str(data), "add", user, "--password", password, "--mechanism", mechanism)
        assert r.returncode == 0 and f"{user}: done" in r.stdout, r.stderr
    reauth_port = free_port()
    props = base / "server.properties"
    props.write_text(server_properties(reauth_port))
    b = BrokerProcess(data, ["--config", str(props)]).start()
    b.reauth_bootstrap = f"127.0.0.1:{reauth_port}"
    b.props = props
    yield b
    b.stop()


def client_conf(bootstrap: str, mechanism: str, user: str, password: str, **extra) -> dict:
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password, **extra}


def refused_message(mechanism: str) -> str:
    return PLAIN_REFUSED if mechanism == "PLAIN" else SCRAM_REFUSED.format(mechanism)


def new_topic() -> str:
    return f"sasl-{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------ librdkafka
@pytest.mark.parametrize("mechanism,user,password", ACCOUNTS, ids=MECHANISMS)
def test_confluent_kafka_produces_and_consumes_in_a_group(sasl_broker, mechanism, user, password):
    topic = new_topic()
    conf = client_conf(sasl_broker.bootstrap, mechanism, user, password)
    p = Producer(conf)
    for i in range(20):
        p.produce(topic, key=str(i).encode(), value=f"{user}-{i}".encode())
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 60
    while len(got) < 20 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.commit(asynchronous=False)
    c.close()
    assert sorted(got) == sorted(f"{user}-{i}" for i in range(20))


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "wrong"), ("PLAIN", "mallory", "alice-secret"),
    ("SCRAM-SHA-256", "bob", "wrong"), ("SCRAM-SHA-512", "mallory", "x"),
    ("SCRAM-SHA-512", "bob", "bob-secret"),  # bob has a SCRAM-SHA-256 credential only
], ids=["plain-password", "plain-user", "scram256-password", "scram512-user", "scram512-mechanism"])
def test_confluent_kafka_reports_kafkas_authentication_error(sasl_broker, mechanism, user, password):
    errors = []
    p = Producer(client_conf(sasl_broker.bootstrap, mechanism, user, password,
                             error_cb=lambda e: errors.append(e), **{"message.timeout.ms": 3000}))
    p.produce(new_topic(), b"never")
    deadline = time.monotonic() + 20
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    p.purge()
    assert errors, "no error reported"
    assert "SASL authentication error" in errors[0].str() and refused_message(mechanism) in errors[0].str(), \
        [e.str() for e in errors]


def test_confluent_kafka_re_authenticates_within_its_session(sasl_broker):
    """KIP-368: librdkafka re-authenticates before its 2 s session ends; a producer
    running for several sessions loses nothing and sees no error."""
    topic, errors, delivered = new_topic(), [], []
    p = Producer(client_conf(sasl_broker.reauth_bootstrap, *ACCOUNTS[1], error_cb=lambda e: errors.append(e.str()),
                             **{"linger.ms": 5}))
    end, n = time.monotonic() + 3 * REAUTH_MS / 1000, 0
    while time.monotonic() < end:
        p.produce(topic, f"m{n}".encode(), on_delivery=lambda err, msg: delivered.append(err))
        n += 1
        p.poll(0.05)
    assert p.flush(30) == 0
    assert not errors and len(delivered) == n and all(err is None for err in delivered), (errors, delivered[:3])
    text = sasl_broker.log_text()
    assert "SASL session expired" not in text


def test_admin_client_manages_scram_users(sasl_broker):
    admin = AdminClient(client_conf(sasl_broker.bootstrap, *ADMIN))
    user = f"dave-{uuid.uuid4().hex[:6]}"
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"dave-secret")])
    futures[user].result(30)
    described = admin.describe_user_scram_credentials([user])[user].result(30)
    assert [(i.mechanism, i.iterations) for i in described.scram_credential_infos] == \
        [(ScramMechanism.SCRAM_SHA_512, 8192)]
    p = Producer(client_conf(sasl_broker.bootstrap, "SCRAM-SHA-512", user, "dave-secret"))
    p.produce(new_topic(), b"as dave")
    assert p.flush(30) == 0
    admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)])[user] \
        .result(30)
    with pytest.raises(KafkaException, match="Attempt to describe a user credential that does not exist"):
        admin.describe_user_scram_credentials([user])[user].result(30)
    with pytest.raises(KafkaException, match="Too few iterations"):
        admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"pw")])[user].result(30)


def kcat_sasl(kcat, bootstrap, mechanism, user, password, *args, stdin=None):
    return subprocess.run([kcat, "-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}",
                           "-X", f"sasl.username={user}", "-X", f"sasl.password={password}", "-b", bootstrap,
                           *args], input=stdin, capture_output=True, text=True, timeout=60)


def librdkafka_version(kcat) -> tuple[int, ...]:
    out = subprocess.run([kcat, "-V"], capture_output=True, text=True, timeout=30).stdout
    return tuple(int(x) for x in re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out).groups())


def test_kcat_produces_and_consumes_with_plain(sasl_broker, kcat):
    topic = new_topic()
    r = kcat_sasl(kcat, sasl_broker.bootstrap, *ACCOUNTS[0], "-P", "-t", topic, stdin="one\ntwo\n")
    assert r.returncode == 0, r.stderr
    r = kcat_sasl(kcat, sasl_broker.bootstrap, *ACCOUNTS[0], "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert r.returncode == 0 and r.stdout.split() == ["one", "two"], r.stderr


def test_kcat_scram_needs_librdkafka_2_6_1_as_with_kafka_4(sasl_broker, kcat):
    """librdkafka before 2.6.1 repeats its client nonce in the SCRAM client-final
    message (librdkafka#4895); Kafka 4 checks the nonce strictly as RFC 5802 says
    (CVE-2024-56128) and refuses it, and so does FluxMQ. Debian's kcat links such
    a librdkafka; a newer one authenticates."""
    topic = new_topic()
    r = kcat_sasl(kcat, sasl_broker.bootstrap, *ACCOUNTS[1], "-P", "-t", topic, stdin="one\n")
    if librdkafka_version(kcat) >= (2, 6, 1):
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0 and refused_message("SCRAM-SHA-256") in r.stderr, r.stderr
        assert "Server nonce doesn't match" in sasl_broker.log_text()


# -------------------------------------------------------- kafka-python, aiokafka
@pytest.mark.parametrize("mechanism,user,password", ACCOUNTS, ids=MECHANISMS)
def test_kafka_python_produces_and_consumes(sasl_broker, mechanism, user, password):
    from kafka import KafkaConsumer, KafkaProducer
    topic = new_topic()
    auth = dict(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
    p = KafkaProducer(**auth)
    for i in range(10):
        p.send(topic, f"kp-{i}".encode())
    p.flush(30)
    p.close()
    c = KafkaConsumer(topic, group_id=f"g-{topic}", auto_offset_reset="earliest", consumer_timeout_ms=15000, **auth)
    got = [m.value.decode() for _, m in zip(range(10), c)]
    c.close()
    assert got == [f"kp-{i}" for i in range(10)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_cannot_bootstrap_with_a_wrong_password(sasl_broker, mechanism):
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError
    user = {m: u for m, u, _p in ACCOUNTS}[mechanism]
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaProducer(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password="wrong",
                      max_block_ms=5000)


@pytest.mark.parametrize("mechanism,user,password", ACCOUNTS, ids=MECHANISMS)
def test_aiokafka_produces_and_consumes_and_reports_refusals(sasl_broker, mechanism, user, password, caplog):
    import aiokafka
    from aiokafka.errors import KafkaConnectionError
    topic = new_topic()

    def auth(pw):
        return dict(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                    sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=pw)

    async def scenario():
        p = aiokafka.AIOKafkaProducer(**auth(password))
        await p.start()
        try:
            for i in range(10):
                await p.send_and_wait(topic, f"aio-{i}".encode())
        finally:
            await p.stop()
        c = aiokafka.AIOKafkaConsumer(topic, group_id=f"g-{topic}", auto_offset_reset="earliest", **auth(password))
        await c.start()
        try:
            got = []
            while len(got) < 10:
                m = await asyncio.wait_for(c.getone(), 30)
                got.append(m.value.decode())
        finally:
            await c.stop()
        bad = aiokafka.AIOKafkaProducer(**auth("wrong"), request_timeout_ms=5000)
        with pytest.raises(KafkaConnectionError):
            await bad.start()
        await bad.stop()
        return got

    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        assert asyncio.run(scenario()) == [f"aio-{i}" for i in range(10)]
    assert any("SaslAuthenticationFailed" in r.getMessage() and refused_message(mechanism) in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


# ------------------------------------------------------------------------ Java
@pytest.fixture(scope="module")
def java_built():
    javautil.build()


def java_client_config(tmp_path, mechanism: str, user: str, password: str) -> str:
    module = "plain.PlainLoginModule" if mechanism == "PLAIN" else "scram.ScramLoginModule"
    path = tmp_path / f"{user}-{mechanism}.properties"
    path.write_text("security.protocol=SASL_PLAINTEXT\n"
                    f"sasl.mechanism={mechanism}\n"
                    f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
                    f'username="{user}" password="{password}";\n')
    return str(path)


def kafka_configs(bootstrap: str, command_config: str, user: str, *args: str) -> javautil.JavaResult:
    """kafka-configs on one user entity; fails the test unless it exits 0."""
    r = javautil.run_class("org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", bootstrap,
                           "--command-config", command_config, "--entity-type", "users", "--entity-name", user,
                           *args, timeout=90)
    assert r.returncode == 0, r.describe()
    return r


def test_kafka_configs_adds_a_scram_user_and_java_clients_use_it(sasl_broker, java_built, tmp_path):
    """kafka-configs --alter --add-config 'SCRAM-SHA-256=[...]' --entity-type users, logged in
    with PLAIN; then the console producer and consumer as that user over SCRAM-SHA-256."""
    user, topic = f"erin-{uuid.uuid4().hex[:6]}", new_topic()
    admin = java_client_config(tmp_path, *ADMIN)
    r = kafka_configs(sasl_broker.bootstrap, admin, user, "--alter",
                      "--add-config", "SCRAM-SHA-256=[iterations=8192,password=erin-secret]")
    assert f"Completed updating config for user {user}." in r.stdout, r.describe()
    r = kafka_configs(sasl_broker.bootstrap, admin, user, "--describe")
    assert "SCRAM-SHA-256=iterations=8192" in r.stdout, r.describe()
    erin = java_client_config(tmp_path, "SCRAM-SHA-256", user, "erin-secret")
    r = javautil.run_class("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", sasl_broker.bootstrap,
                           "--topic", topic, "--command-config", erin, stdin="first\nsecond\n", timeout=90)
    assert r.returncode == 0, r.describe()
    r = javautil.run_class("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                           sasl_broker.bootstrap, "--topic", topic, "--group", f"g-{topic}", "--from-beginning",
                           "--max-messages", "2", "--timeout-ms", "30000", "--command-config", erin, timeout=90)
    assert r.stdout.split() == ["first", "second"], r.describe()
    r = kafka_configs(sasl_broker.bootstrap, admin, user, "--alter", "--delete-config", "SCRAM-SHA-256")
    assert f"Completed updating config for user {user}." in r.stdout, r.describe()
    r = kafka_configs(sasl_broker.bootstrap, admin, user, "--describe")
    assert "SCRAM-SHA-256" not in r.stdout, r.describe()


def test_java_producer_reports_kafkas_authentication_error(sasl_broker, java_built, tmp_path):
    bad = java_client_config(tmp_path, "SCRAM-SHA-256", "bob", "wrong")
    r = javautil.run_class("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", sasl_broker.bootstrap,
                           "--topic", new_topic(), "--command-config", bad, stdin="x\n", timeout=90)
    out = r.stdout + r.stderr
    assert "SaslAuthenticationException" in out and refused_message("SCRAM-SHA-256") in out, r.describe()


# ---------------------------------------------------------------- the protocol
def open_conn(bootstrap: str) -> KafkaWireClient:
    return KafkaWireClient(bootstrap, timeout=10, strict=True)


def metadata(c: KafkaWireClient):
    return c.request(METADATA, 12, {"topics": None, "allow_auto_topic_creation": False,
                                    "include_topic_authorized_operations": False})


def test_only_api_versions_and_sasl_before_authentication(sasl_broker):
    with open_conn(sasl_broker.bootstrap) as c:
        assert int(c.request(API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})
                   .error_code) == 0
        c.send(METADATA, 12, {"topics": None, "allow_auto_topic_creation": False,
                              "include_topic_authorized_operations": False})
        assert c.wait_closed(5)
    with open_conn(sasl_broker.bootstrap) as c:  # SaslAuthenticate before SaslHandshake
        c.send(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})
        assert c.wait_closed(5)
    assert "unexpected Metadata request during SASL handshake" in sasl_broker.log_text()


def test_unsupported_mechanism_is_answered_then_closed(sasl_broker):
    with open_conn(sasl_broker.bootstrap) as c:
        r = c.request(SASL_HANDSHAKE, 1, {"mechanism": "GSSAPI"})
        # Kafka 4.4 lists them in its own (hash) order: PLAIN, SCRAM-SHA-512, SCRAM-SHA-256.
        assert (int(r.error_code), sorted(r.mechanisms)) == (UNSUPPORTED_SASL_MECHANISM, sorted(MECHANISMS))
        assert c.wait_closed(5)


def test_failed_authentication_is_answered_then_closed(sasl_broker):
    with open_conn(sasl_broker.bootstrap) as c:
        assert int(c.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"}).error_code) == 0
        r = c.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0nope"})
        assert (int(r.error_code), r.error_message) == (SASL_AUTHENTICATION_FAILED, PLAIN_REFUSED)
        assert c.wait_closed(5)
    with open_conn(sasl_broker.bootstrap) as c:  # not three NUL-separated tokens
        c.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        r = c.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b"garbage"})
        assert (int(r.error_code), r.error_message) == (SASL_AUTHENTICATION_FAILED,
                                                        "Invalid SASL/PLAIN response: expected 3 tokens, got 1")
        assert c.wait_closed(5)
    with open_conn(sasl_broker.bootstrap) as c:  # a SCRAM client-first message that is not one
        c.request(SASL_HANDSHAKE, 1, {"mechanism": "SCRAM-SHA-256"})
        r = c.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\xff\xfe not scram"})
        assert int(r.error_code) == SASL_AUTHENTICATION_FAILED
        assert c.wait_closed(5)


def test_second_handshake_during_authentication_is_illegal(sasl_broker):
    with open_conn(sasl_broker.bootstrap) as c:
        c.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        r = c.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        assert int(r.error_code) == ILLEGAL_SASL_STATE
        assert c.wait_closed(5)


def test_handshake_v0_exchanges_bare_tokens(sasl_broker):
    """SaslHandshake v0: the PLAIN token goes without a Kafka header and the
    answer is an empty frame; then the connection serves requests."""
    with open_conn(sasl_broker.bootstrap) as c:
        assert int(c.request(SASL_HANDSHAKE, 0, {"mechanism": "PLAIN"}).error_code) == 0
        c.send_frame(b"\0alice\0alice-secret")
        assert c.recv_frame() == b""
        assert metadata(c).cluster_id
    with open_conn(sasl_broker.bootstrap) as c:
        c.request(SASL_HANDSHAKE, 0, {"mechanism": "PLAIN"})
        c.send_frame(b"\0alice\0wrong")
        assert c.wait_closed(5)  # no error answer exists in this flow


@pytest.mark.parametrize("mechanism,user,password", ACCOUNTS, ids=MECHANISMS)
def test_authenticated_connection_serves_requests(sasl_broker, mechanism, user, password):
    with open_conn(sasl_broker.bootstrap) as c:
        assert sasl_authenticate(c, mechanism, user, password) == 0  # no session lifetime on this listener
        assert metadata(c).cluster_id
        # Without session expiry a handshake is not re-authentication: ILLEGAL_SASL_STATE, and the connection stays.
        assert int(c.request(SASL_HANDSHAKE, 1, {"mechanism": mechanism}).error_code) == ILLEGAL_SASL_STATE
        r = c.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b""})
        assert (int(r.error_code), r.error_message) == (
            ILLEGAL_SASL_STATE, "SaslAuthenticate request received after successful authentication")
        assert metadata(c).cluster_id


def test_re_authentication_keeps_mechanism_and_principal(sasl_broker):
    with open_conn(sasl_broker.reauth_bootstrap) as c:
        assert sasl_authenticate(c, *ACCOUNTS[1]) == REAUTH_MS
        assert sasl_authenticate(c, *ACCOUNTS[1]) == REAUTH_MS  # the same principal again: a new session
        assert metadata(c).cluster_id
        # A second re-authentication within a second: ILLEGAL_SASL_STATE, and the connection stays (Kafka 4.4).
        assert int(c.request(SASL_HANDSHAKE, 1, {"mechanism": "SCRAM-SHA-256"}).error_code) == ILLEGAL_SASL_STATE
        assert metadata(c).cluster_id
    with open_conn(sasl_broker.reauth_bootstrap) as c:
        sasl_authenticate(c, "PLAIN", "alice", "alice-secret")
        with pytest.raises(SaslFailed, match="Cannot change principals during re-authentication from "
                                             "User.alice: User.admin"):
            sasl_authenticate(c, *ADMIN)
        assert c.wait_closed(5)
    with open_conn(sasl_broker.reauth_bootstrap) as c:
        sasl_authenticate(c, *ACCOUNTS[1])
        assert int(c.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"}).error_code) == 0
        c.send(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0bob\0bob-secret"})
        assert c.wait_closed(5)
    assert "not supported for re-authentication of mechanism 'SCRAM-SHA-256'" in sasl_broker.log_text()


def test_expired_session_is_closed(sasl_broker):
    with open_conn(sasl_broker.reauth_bootstrap) as c:
        assert sasl_authenticate(c, *ACCOUNTS[0]) == REAUTH_MS
        assert metadata(c).cluster_id
        time.sleep(REAUTH_MS / 1000 + 0.5)  # the session ends; nothing re-authenticates
        c.send(METADATA, 12, {"topics": None, "allow_auto_topic_creation": False,
                              "include_topic_authorized_operations": False})
        assert c.wait_closed(5)
    assert "SASL session expired" in sasl_broker.log_text()


def test_fluxmq_users_over_the_wire(sasl_broker, tmp_path):
    admin = java_client_config(tmp_path, *ADMIN)
    user = f"frank-{uuid.uuid4().hex[:6]}"
    r = fluxmq("users", "-b", sasl_broker.bootstrap, "--command-config", admin, "add", user, "--password", "pw-1",
               "--mechanism", "SCRAM-SHA-512", "--iterations", "5000")
    assert r.returncode == 0, r.stderr
    r = fluxmq("users", "-b", sasl_broker.bootstrap, "--command-config", admin, "list", user)
    assert r.returncode == 0 and r.stdout.strip() == f"{user}: SCRAM-SHA-512 (iterations=5000)", r.stderr
    with open_conn(sasl_broker.bootstrap) as c:
        sasl_authenticate(c, "SCRAM-SHA-512", user, "pw-1")
    r = fluxmq("users", "-b", sasl_broker.bootstrap, "--command-config", admin, "delete", user,
               "--mechanism", "SCRAM-SHA-512")
    assert r.returncode == 0, r.stderr
    r = fluxmq("users", "-b", sasl_broker.bootstrap, "--command-config", admin, "delete", user,
               "--mechanism", "SCRAM-SHA-512")
    assert r.returncode == 1 and "RESOURCE_NOT_FOUND" in r.stderr
    r = fluxmq("users", "-b", sasl_broker.bootstrap, "list")  # no credentials: the SASL listener closes
    assert r.returncode == 1 and "--command-config" in r.stderr
    broken = tmp_path / "broken.properties"
    broken.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=broken\n")
    r = fluxmq("users", "-b", sasl_broker.bootstrap, "--command-config", str(broken), "list")
    assert r.returncode == 1 and "is not a valid JAAS configuration" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------ durability, start-up
def test_credentials_survive_a_restart_without_passwords(sasl_broker):
    path = sasl_broker.data_dir / "scram-credentials.json"
    stored = path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    assert "bob-secret" not in stored and set(json.loads(stored)["bob"]) == {"SCRAM-SHA-256"}
    r = fluxmq("users", "--data-dir", str(sasl_broker.data_dir), "list")
    assert r.returncode == 1 and "in use by a running broker" in r.stderr
    assert sasl_broker.stop() == 0
    sasl_broker.start()
    with open_conn(sasl_broker.bootstrap) as c:
        sasl_authenticate(c, *ACCOUNTS[2])
        assert metadata(c).cluster_id


@pytest.mark.parametrize("lines,message", [
    ("listeners=SASL_PLAINTEXT://127.0.0.1:0\n", "SASL mechanism GSSAPI is not supported"),
    ("listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n",
     "listener.name.sasl_plaintext.plain.sasl.jaas.config is not set"),
    ("listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n"
     "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
     "required user_a=\"b\"\n", "is not a valid JAAS configuration"),
    ("listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=OAUTHBEARER\n",
     "SASL mechanism OAUTHBEARER is not supported"),
    ("listeners=SASL_SSL://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n",
     "listener.name.sasl_ssl.plain.sasl.jaas.config is not set"),
], ids=["default-gssapi", "plain-without-jaas", "bad-jaas", "oauthbearer", "sasl-ssl-without-jaas"])
def test_a_sasl_listener_without_what_it_needs_refuses_to_start(tmp_path, lines, message):
    props = tmp_path / "server.properties"
    props.write_text(lines)
    r = fluxmq("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--config", str(props))
    assert r.returncode == 2 and "invalid configuration: " in r.stderr and message in r.stderr, r.stderr
