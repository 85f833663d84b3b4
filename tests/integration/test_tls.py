"""SSL and SASL_SSL listeners against a real broker process configured the way
Kafka is (server.properties with listener-prefixed ssl.* keys), and clients
configured the way their own docs say.

One broker serves five listeners:
- PLAINTEXT (the tests' control connection, and a TLS client's wrong door);
- SSL: a PEM keystore file whose key is encrypted (ssl.key.password);
- MTLS (SSL): a PKCS12 keystore, a truststore made by keytool,
  ssl.client.auth=required, mapping rules that turn OU=apps certificates into
  their CN (lower case) and others into the whole subject (DEFAULT), and a
  short handshake timeout;
- STRICT (SSL): ssl.client.auth=requested and one mapping rule without DEFAULT;
- SASL_SSL: an inline PEM keystore written on one line, PLAIN, SCRAM-SHA-256 and -512.
ACLs (StandardAuthorizer, allow.everyone.if.no.acl.found) grant the mapped
principals their own topic prefixes, so a wrong principal would be refused.

What is checked: every client (librdkafka through confluent-kafka and kcat,
kafka-python, aiokafka, Java's console tools) produces and consumes over TLS,
fetches of many record batches included (they are encrypted in C from the
segment); mTLS principals are what Kafka's DefaultKafkaPrincipalBuilder makes
of the certificate; bad input (no or untrusted client certificate, plaintext
on a TLS port, TLS on a plaintext port, a stalled handshake, a forged record
after the handshake, a subject no rule maps) closes that connection with one
log line naming the peer, and the others go on; a TLS listener without what
it needs refuses to start; `fluxmq serve --enable-tls` works as documented.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid

import javautil
import pytest
from brokerproc import BrokerProcess, free_port
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, ConfigResource,
                                   ResourcePatternType, ResourceType)
from test_kcat import kcat  # noqa: F401 (the fixture: Debian's kcat, installed when missing)
from tlsutil import STORE_PASSWORD, Pki

KEY_PASSWORD = "key-secret"
HANDSHAKE_TIMEOUT_MS = 1500
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
MTLS_RULES = "RULE:^CN=([^,]+),OU=apps,.*$/$1/L,DEFAULT"
STRICT_RULES = "RULE:^CN=([^,]+),OU=apps,.*$/strict-$1/"
TOPIC_AUTHORIZATION_FAILED = "TOPIC_AUTHORIZATION_FAILED"


def fluxmq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluxmq", *args], capture_output=True, text=True, timeout=60)


def one_line(pem: str) -> str:
    return " ".join(pem.strip().split("\n"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.client("app", ou="apps")      # MTLS maps it to User:app
    p.client("Other", ou="apps")    # ... and this one to User:other
    p.client("ops")                 # no OU=apps: User:CN=ops,O=FluxMQ Test (DEFAULT)
    p.client("intruder", issuer="other-ca")
    p.client("forger", issuer="fake-ca", ou="apps")  # its issuer has the trusted CA's name, not its key
    return p


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory, pki):
    base = tmp_path_factory.mktemp("tls")
    data = base / "data"
    for user, mechanism in (("bob", "SCRAM-SHA-256"), ("carol", "SCRAM-SHA-512")):
        r = fluxmq("users", "--data-dir", str(data), "add", user, "--password", f"{user}-secret",
                   "--mechanism", mechanism)
        assert r.returncode == 0, r.stderr
    ports = {name: free_port() for name in ("SSL", "MTLS", "STRICT", "SASL_SSL")}
    props = base / "server.properties"
    props.write_text(
        "listeners=PLAINTEXT://127.0.0.1:0," + ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()) + "\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,STRICT:SSL,SASL_SSL:SASL_SSL\n"
        # SSL: one PEM file, key encrypted
        "listener.name.ssl.ssl.keystore.type=PEM\n"
        f"listener.name.ssl.ssl.keystore.location={pki.pem_keystore('broker', KEY_PASSWORD)}\n"
        f"listener.name.ssl.ssl.key.password={KEY_PASSWORD}\n"
        # MTLS and STRICT: PKCS12 keystore, keytool truststore
        + "".join(f"listener.name.{n}.ssl.keystore.type=PKCS12\n"
                  f"listener.name.{n}.ssl.keystore.location={pki.pkcs12_keystore('broker')}\n"
                  f"listener.name.{n}.ssl.keystore.password={STORE_PASSWORD}\n"
                  f"listener.name.{n}.ssl.truststore.type=PKCS12\n"
                  f"listener.name.{n}.ssl.truststore.location={pki.keytool_truststore()}\n"
                  f"listener.name.{n}.ssl.truststore.password={STORE_PASSWORD}\n" for n in ("mtls", "strict")) +
        "listener.name.mtls.ssl.client.auth=required\n"
        f"listener.name.mtls.ssl.principal.mapping.rules={MTLS_RULES}\n"
        f"listener.name.mtls.fluxmq.ssl.handshake.timeout.ms={HANDSHAKE_TIMEOUT_MS}\n"
        "listener.name.strict.ssl.client.auth=requested\n"
        f"listener.name.strict.ssl.principal.mapping.rules={STRICT_RULES}\n"
        # SASL_SSL: inline PEM on one line, as Kafka's docs write it
        "listener.name.sasl_ssl.ssl.keystore.type=PEM\n"
        f"listener.name.sasl_ssl.ssl.keystore.certificate.chain={one_line(pki.chain_pem('broker'))}\n"
        f"listener.name.sasl_ssl.ssl.keystore.key={one_line(pki.key_pem('broker'))}\n"
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n"
        f"listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}\n"
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
        "allow.everyone.if.no.acl.found=true\n"
        "group.initial.rebalance.delay.ms=0\n")
    b = BrokerProcess(data, ["--config", str(props)]).start()
    b.ports = ports
    b.at = {n: f"127.0.0.1:{p}" for n, p in ports.items()}
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    grants = [("app-", "User:app"), ("other-", "User:other"), ("ops-", "User:CN=ops,O=FluxMQ Test"),
              ("strict-", "User:strict-app"), ("anon-", "User:ANONYMOUS"), ("sasl-", "User:alice"),
              ("sasl-", "User:bob"), ("sasl-", "User:carol"), ("ssl-", "User:ANONYMOUS")]
    bindings = [AclBinding(ResourceType.TOPIC, prefix, ResourcePatternType.PREFIXED, who, "*", AclOperation.ALL,
                           AclPermissionType.ALLOW) for prefix, who in grants]
    bindings += [AclBinding(ResourceType.GROUP, "g-", ResourcePatternType.PREFIXED, "User:*", "*", AclOperation.ALL,
                            AclPermissionType.ALLOW)]
    for f in admin.create_acls(bindings).values():
        f.result(30)
    yield b
    b.stop()


def new_topic(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def rdkafka_conf(pki, bootstrap: str, cert: str | None = None, **extra) -> dict:
    conf = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": pki.crt("ca"), **extra}
    if cert:
        conf.update({"ssl.certificate.location": pki.crt(cert), "ssl.key.location": pki.key(cert)})
    return conf


def produce_and_consume(conf: dict, topic: str, values: list[bytes], **consumer) -> list[bytes]:
    p = Producer(conf)
    for v in values:
        p.produce(topic, v)
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest", **consumer})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 60
    while len(got) < len(values) and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None:
            assert m.error() is None, m.error()
            got.append(m.value())
    c.close()
    return got


def delivery_error(conf: dict, topic: str) -> str | None:
    """The error of producing one record, or None."""
    errors = []
    p = Producer({**conf, "message.timeout.ms": 10000})
    p.produce(topic, b"x", on_delivery=lambda err, _m: errors.append(err))
    p.flush(30)
    return errors[0].name() if errors and errors[0] else None


# ------------------------------------------------------------------ librdkafka
def test_confluent_kafka_over_ssl_with_many_batches(tls_broker, pki):
    """Sizes from 1 byte to 200 KB, in batches the consumer fetches in several
    responses: every fetch payload is encrypted in C from the segment file."""
    values = [os.urandom(n) for n in (1, 100, 16383, 16384, 16385, 200_000)] * 10
    conf = rdkafka_conf(pki, tls_broker.at["SSL"])
    got = produce_and_consume(conf, new_topic("ssl-"), values, **{"max.partition.fetch.bytes": 65536})
    assert got == values


@pytest.mark.parametrize("cert,topic_prefix", [("app", "app-"), ("Other", "other-"), ("ops", "ops-")])
def test_mtls_principal_is_the_mapped_certificate_subject(tls_broker, pki, cert, topic_prefix):
    conf = rdkafka_conf(pki, tls_broker.at["MTLS"], cert)
    values = [f"{cert}-{i}".encode() for i in range(10)]
    assert produce_and_consume(conf, new_topic(topic_prefix), values) == values
    # Another principal's prefix is refused: the principal is the mapped one, not any.
    other_prefix = "ops-" if topic_prefix != "ops-" else "app-"
    assert delivery_error(conf, new_topic(other_prefix)) == TOPIC_AUTHORIZATION_FAILED


def test_requested_client_auth_without_a_certificate_is_anonymous(tls_broker, pki):
    conf = rdkafka_conf(pki, tls_broker.at["STRICT"])
    assert delivery_error(conf, new_topic("anon-")) is None
    assert delivery_error(conf, new_topic("strict-")) == TOPIC_AUTHORIZATION_FAILED
    conf = rdkafka_conf(pki, tls_broker.at["STRICT"], "app")
    assert delivery_error(conf, new_topic("strict-")) is None


def test_a_subject_no_mapping_rule_maps_is_closed(tls_broker, pki):
    """Kafka fails the authentication (NoMatchingRule): the client cannot bootstrap."""
    errors = []
    p = Producer(rdkafka_conf(pki, tls_broker.at["STRICT"], "ops", error_cb=lambda e: errors.append(e),
                              **{"message.timeout.ms": 3000}))
    p.produce(new_topic("ops-"), b"never")
    p.flush(10)
    assert errors, "no error reported"
    assert "SSL authentication failed: no ssl.principal.mapping.rules rule applies to CN=ops,O=FluxMQ Test" \
        in tls_broker.log_text()


@pytest.mark.parametrize("cert", [None, "intruder", "forger"],
                         ids=["no-certificate", "untrusted-ca", "forged-certificate"])
def test_required_client_auth_refuses_a_client_it_cannot_verify(tls_broker, pki, cert):
    """A client whose certificate's CA is not among those the broker names in its
    CertificateRequest sends none (OpenSSL and the JVM both choose so); one whose
    CA only has the trusted CA's name sends it, and it fails verification. The alerts
    are OpenSSL's: Kafka 4.4 (JSSE) sends bad_certificate and certificate_unknown
    instead, which librdkafka reports the same way (docs/security.md)."""
    errors = []
    p = Producer(rdkafka_conf(pki, tls_broker.at["MTLS"], cert, error_cb=lambda e: errors.append(e.str()),
                              **{"message.timeout.ms": 3000}))
    p.produce(new_topic("app-"), b"never")
    p.flush(10)
    alert, reason = (("alert certificate required", "peer did not return a certificate") if cert != "forger" else
                     ("alert decrypt error", "certificate verify failed"))
    assert any(alert in e for e in errors), errors
    assert any(reason in line and "closed connection from 127.0.0.1:" in line
               for line in tls_broker.log_text().splitlines()), tls_broker.log_text()[-3000:]


def test_a_client_that_does_not_trust_the_broker_gives_up(tls_broker, pki):
    errors = []
    p = Producer({**rdkafka_conf(pki, tls_broker.at["SSL"]), "ssl.ca.location": pki.crt("other-ca"),
                  "error_cb": lambda e: errors.append(e.str()), "message.timeout.ms": 3000})
    p.produce(new_topic("ssl-"), b"never")
    p.flush(10)
    assert any("certificate verify failed" in e for e in errors), errors


@pytest.mark.parametrize("mechanism,user,password", [("PLAIN", "alice", "alice-secret"),
                                                     ("SCRAM-SHA-256", "bob", "bob-secret"),
                                                     ("SCRAM-SHA-512", "carol", "carol-secret")])
def test_confluent_kafka_over_sasl_ssl(tls_broker, pki, mechanism, user, password):
    conf = {**rdkafka_conf(pki, tls_broker.at["SASL_SSL"]), "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}
    values = [f"{user}-{i}".encode() for i in range(10)]
    assert produce_and_consume(conf, new_topic("sasl-"), values) == values
    errors = []
    p = Producer({**conf, "sasl.password": "wrong", "error_cb": lambda e: errors.append(e.str()),
                  "message.timeout.ms": 3000})
    p.produce(new_topic("sasl-"), b"never")
    p.flush(10)
    assert any("SASL authentication error" in e for e in errors), errors


@pytest.mark.parametrize("listener", ["MTLS", "SASL_SSL"])
def test_kcat_over_mtls_and_sasl_ssl_with_plain(tls_broker, pki, kcat, listener):
    if listener == "MTLS":
        topic = new_topic("app-")
        conf = ["security.protocol=ssl", f"ssl.certificate.location={pki.crt('app')}",
                f"ssl.key.location={pki.key('app')}"]
    else:
        topic = new_topic("sasl-")
        conf = ["security.protocol=sasl_ssl", "sasl.mechanisms=PLAIN", "sasl.username=alice",
                "sasl.password=alice-secret"]
    args = [arg for kv in [*conf, f"ssl.ca.location={pki.crt('ca')}"] for arg in ("-X", kv)]
    args += ["-b", tls_broker.at[listener]]
    r = subprocess.run([kcat, *args, "-P", "-t", topic], input="one\ntwo\n", capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([kcat, *args, "-C", "-t", topic, "-o", "beginning", "-e", "-q"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["one", "two"], r.stderr


# -------------------------------------------------------- kafka-python, aiokafka
@pytest.mark.parametrize("listener", ["MTLS", "SASL_SSL"])
def test_kafka_python_over_mtls_and_sasl_ssl(tls_broker, pki, listener):
    from kafka import KafkaConsumer, KafkaProducer
    if listener == "MTLS":
        topic = new_topic("app-")
        tls = dict(security_protocol="SSL", ssl_certfile=pki.crt("app"), ssl_keyfile=pki.key("app"))
    else:
        topic = new_topic("sasl-")
        tls = dict(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="carol",
                   sasl_plain_password="carol-secret")
    tls.update(bootstrap_servers=tls_broker.at[listener], ssl_cafile=pki.crt("ca"))
    p = KafkaProducer(**tls)
    for i in range(10):
        p.send(topic, f"kp-{i}".encode())
    p.flush(30)
    p.close()
    c = KafkaConsumer(topic, group_id=f"g-{topic}", auto_offset_reset="earliest", consumer_timeout_ms=15000, **tls)
    got = [m.value.decode() for _, m in zip(range(10), c)]
    c.close()
    assert got == [f"kp-{i}" for i in range(10)]


def test_aiokafka_over_ssl_and_sasl_ssl(tls_broker, pki):
    import aiokafka

    async def roundtrip(topic, **conn):
        p = aiokafka.AIOKafkaProducer(**conn)
        await p.start()
        try:
            for i in range(5):
                await p.send_and_wait(topic, f"ai-{i}".encode())
        finally:
            await p.stop()
        c = aiokafka.AIOKafkaConsumer(topic, auto_offset_reset="earliest", **conn)
        await c.start()
        try:
            got = []
            while len(got) < 5:
                batch = await asyncio.wait_for(c.getmany(timeout_ms=1000), 30)
                got += [m.value.decode() for msgs in batch.values() for m in msgs]
            return got
        finally:
            await c.stop()

    context = pki.client_context()
    assert asyncio.run(roundtrip(new_topic("ssl-"), bootstrap_servers=tls_broker.at["SSL"],
                                 security_protocol="SSL", ssl_context=context)) == [f"ai-{i}" for i in range(5)]
    assert asyncio.run(roundtrip(new_topic("sasl-"), bootstrap_servers=tls_broker.at["SASL_SSL"],
                                 security_protocol="SASL_SSL", ssl_context=pki.client_context(),
                                 sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="bob",
                                 sasl_plain_password="bob-secret")) == [f"ai-{i}" for i in range(5)]


# ------------------------------------------------------------------------ Java
@pytest.fixture(scope="module")
def java_built():
    javautil.build()


def test_java_console_tools_over_mtls_with_kafkas_client_keys(tls_broker, pki, java_built, tmp_path):
    """A PEM truststore file and a PKCS12 keystore, as Kafka's docs configure a client;
    the JVM checks the broker's certificate against 127.0.0.1 (endpoint identification https)."""
    config = tmp_path / "client.properties"
    config.write_text("security.protocol=SSL\n"
                      "ssl.truststore.type=PEM\n"
                      f"ssl.truststore.location={pki.crt('ca')}\n"
                      "ssl.keystore.type=PKCS12\n"
                      f"ssl.keystore.location={pki.pkcs12_keystore('app')}\n"
                      f"ssl.keystore.password={STORE_PASSWORD}\n")
    topic = new_topic("app-")
    r = javautil.run_class("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", tls_broker.at["MTLS"],
                           "--topic", topic, "--command-config", str(config), stdin="first\nsecond\n", timeout=90)
    assert r.returncode == 0, r.describe()
    r = javautil.run_class("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                           tls_broker.at["MTLS"], "--topic", topic, "--group", f"g-{topic}", "--from-beginning",
                           "--max-messages", "2", "--timeout-ms", "30000", "--command-config", str(config),
                           timeout=90)
    assert r.stdout.split() == ["first", "second"], r.describe()


def test_java_tools_over_sasl_ssl(tls_broker, pki, java_built, tmp_path):
    """kafka-topics, then the console producer and consumer, as a SCRAM-SHA-512 user over TLS."""
    config = tmp_path / "admin.properties"
    config.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                      "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                      'username="carol" password="carol-secret";\n'
                      f"ssl.truststore.type=PEM\nssl.truststore.location={pki.crt('ca')}\n")
    topic, at = new_topic("sasl-"), tls_broker.at["SASL_SSL"]
    r = javautil.run_class("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", at,
                           "--command-config", str(config), "--create", "--topic", topic, "--partitions", "3",
                           timeout=90)
    assert r.returncode == 0 and f"Created topic {topic}." in r.stdout, r.describe()
    r = javautil.run_class("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", at, "--topic", topic,
                           "--command-config", str(config), stdin="first\nsecond\n", timeout=90)
    assert r.returncode == 0, r.describe()
    r = javautil.run_class("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", at,
                           "--topic", topic, "--group", f"g-{topic}", "--from-beginning", "--max-messages", "2",
                           "--timeout-ms", "30000", "--command-config", str(config), timeout=90)
    assert sorted(r.stdout.split()) == ["first", "second"], r.describe()


def test_describe_configs_hides_passwords_and_keys(tls_broker):
    """Kafka's sensitive configs: passwords and the inline PEM key are never shown."""
    admin = AdminClient({"bootstrap.servers": tls_broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    entries = admin.describe_configs([resource])[resource].result(30)
    for name in ("listener.name.ssl.ssl.key.password", "listener.name.mtls.ssl.keystore.password",
                 "listener.name.sasl_ssl.ssl.keystore.key"):
        assert entries[name].is_sensitive and entries[name].value is None, (name, entries[name].value)


# ------------------------------------------------------------------ bad input
def api_versions_request() -> bytes:
    body = struct.pack(">hhih", 18, 0, 7, 4) + b"test"
    return struct.pack(">i", len(body)) + body


def closed(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True when the broker closes the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def logged_for(broker, sock_name: tuple, text: str) -> bool:
    """One log line names this peer with `text` (it may take a moment to be written)."""
    peer = f"connection from {sock_name[0]}:{sock_name[1]}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(peer in line and text in line for line in broker.log_text().splitlines()):
            return True
        time.sleep(0.1)
    return False


def still_serves(broker, pki) -> None:
    with socket.create_connection(("127.0.0.1", broker.ports["SSL"])) as raw, \
            pki.client_context().wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(api_versions_request())
        s.settimeout(10)
        size, = struct.unpack(">i", s.recv(4))
        assert size > 0


def test_plaintext_bytes_on_a_tls_port(tls_broker, pki):
    with socket.create_connection(("127.0.0.1", tls_broker.ports["SSL"])) as s:
        s.sendall(api_versions_request())
        assert closed(s)
        assert logged_for(tls_broker, s.getsockname(), "TLS handshake failed")
    still_serves(tls_broker, pki)


def test_tls_on_a_plaintext_port(tls_broker, pki):
    errors = []
    p = Producer(rdkafka_conf(pki, tls_broker.bootstrap, error_cb=lambda e: errors.append(e.str()),
                              **{"message.timeout.ms": 3000}))
    p.produce(new_topic("ssl-"), b"never")
    p.flush(10)
    assert errors
    assert "it sent a TLS handshake to a PLAINTEXT listener (is the client's security.protocol right?)" \
        in tls_broker.log_text()
    still_serves(tls_broker, pki)


def test_a_stalled_handshake_is_closed(tls_broker, pki):
    with socket.create_connection(("127.0.0.1", tls_broker.ports["MTLS"])) as s:
        s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
        assert closed(s, timeout=HANDSHAKE_TIMEOUT_MS / 1000 + 10)
        assert logged_for(tls_broker, s.getsockname(),
                          f"TLS handshake not finished within {HANDSHAKE_TIMEOUT_MS} ms")
    still_serves(tls_broker, pki)


def test_a_forged_record_after_the_handshake(tls_broker, pki):
    """A record that does not decrypt: the connection is closed, the broker goes on."""
    sock = socket.create_connection(("127.0.0.1", tls_broker.ports["SSL"]))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = pki.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    sock.settimeout(10)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())
    tls.write(api_versions_request())
    sock.sendall(outgoing.read())
    sock.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))  # application data nobody encrypted
    assert closed(sock)
    assert logged_for(tls_broker, sock.getsockname(), "TLS error")
    sock.close()
    still_serves(tls_broker, pki)


@pytest.mark.parametrize("lines,message", [
    ("listeners=SSL://127.0.0.1:0\nssl.keystore.type=PKCS12\nssl.keystore.location=/nonexistent.p12\n",
     "listener SSL: cannot read ssl.keystore.location /nonexistent.p12"),
    ("listeners=SASL_SSL://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n"
     f"listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}\n",
     "listener SASL_SSL: an SSL listener needs a keystore"),
    ("listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\nssl.keystore.location={keystore}\n"
     "ssl.client.auth=required\n", "ssl.client.auth=required needs ssl.truststore.location"),
    ("listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\nssl.keystore.location={keystore}\n"
     "ssl.enabled.protocols=TLSv1,TLSv1.2\n", "TLSv1 is disabled"),
], ids=["missing-keystore-file", "sasl-ssl-without-keystore", "client-auth-without-truststore", "tls-1.0"])
def test_a_tls_listener_without_what_it_needs_refuses_to_start(tmp_path, pki, lines, message):
    props = tmp_path / "server.properties"
    props.write_text(lines.format(keystore=pki.pem_keystore("broker")))
    r = fluxmq("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--config", str(props))
    assert r.returncode == 2 and "invalid configuration: " in r.stderr and message in r.stderr, r.stderr


# ------------------------------------------------------------------------ CLI
def test_enable_tls_serves_the_first_listener_over_tls(tmp_path, pki):
    b = BrokerProcess(tmp_path / "data", ["--enable-tls", "--tls-cert", pki.crt("broker"),
                                          "--tls-key", pki.key("broker")], tls=pki.client_context()).start()
    try:
        values = [f"v{i}".encode() for i in range(5)]
        assert produce_and_consume(rdkafka_conf(pki, b.bootstrap), new_topic("cli-"), values) == values
        with pytest.raises(KafkaException):
            AdminClient({"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 3000}) \
                .list_topics(timeout=3)  # plaintext: refused
    finally:
        b.stop()


def test_enable_tls_needs_its_files(tmp_path, pki):
    r = fluxmq("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--enable-tls")
    assert r.returncode == 2 and "--enable-tls needs --tls-cert and --tls-key" in r.stderr, r.stderr
    r = fluxmq("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"),
               "--tls-cert", pki.crt("broker"))
    assert r.returncode == 2 and "--tls-cert and --tls-key need --enable-tls" in r.stderr, r.stderr
