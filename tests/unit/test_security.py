"""security/ without a network: Kafka's JAAS syntax, the PLAIN and SCRAM servers,
the authenticator's state machine (KIP-368 included, with a manual clock), the
controller's SCRAM credential rules, and server.properties continuation lines."""

from __future__ import annotations

import pytest
import scramp

from fluxmq.config import BrokerConfig, read_properties
from fluxmq.errors import ErrorCode
from fluxmq.metadata.controller import MetadataController
from fluxmq.metadata.image import MetadataImage
from fluxmq.metadata.store import LocalMetadataStore
from fluxmq.security import jaas, scram
from fluxmq.security.sasl import (AUTHENTICATE, COMPLETE, FAILED, RAW_AUTHENTICATE, SaslAuthenticationFailed,
                                  SaslAuthenticator, SaslListenerConfig, listener_config)
from fluxmq.util.clock import ManualClock

METADATA, API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 3, 18, 17, 36
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


def test_jaas_options_quoted_and_bare():
    e = jaas.parse(f'{PLAIN_MODULE} required username="admin" password="a b;c" user_admin="a b;c" user_x=y;')
    assert (e.login_module, e.flag) == (PLAIN_MODULE, "required")
    assert jaas.plain_users(e) == {"admin": "a b;c", "x": "y"}


@pytest.mark.parametrize("text,why", [
    (f'{PLAIN_MODULE} required user_a="b"', "must end with ';'"),
    (f"{PLAIN_MODULE} mandatory;", "expected '<LoginModule>"),
    (f"{PLAIN_MODULE} required; {PLAIN_MODULE} required;", "contains 2 login modules"),
    (f"{PLAIN_MODULE} required user_a;", "expected name=value"),
])
def test_jaas_refuses_what_kafka_refuses(text, why):
    with pytest.raises(ValueError, match=why):
        jaas.parse(text)


def test_properties_continue_lines_ending_in_a_backslash(tmp_path):
    p = tmp_path / "server.properties"
    p.write_text("a=1\\\n    2\nb: x=y\n# c=3\nd=ends\\\\\ne=5\n")
    assert read_properties(str(p)) == {"a": "12", "b": "x=y", "d": "ends\\\\", "e": "5"}


def test_listener_config_reads_kafkas_keys():
    c = BrokerConfig()
    c.set("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512")
    c.set("listener.name.ext.sasl.enabled.mechanisms", "scram-sha-256")
    c.set("listener.name.int.plain.sasl.jaas.config", f'{PLAIN_MODULE} required user_u="p";')
    c.set("listener.name.ext.connections.max.reauth.ms", "5000")
    internal, external = listener_config(c, "INT"), listener_config(c, "EXT")
    assert (internal.mechanisms, internal.plain_users, internal.max_reauth_ms) == (("PLAIN", "SCRAM-SHA-512"),
                                                                                  {"u": "p"}, 0)
    assert (external.mechanisms, external.max_reauth_ms) == (("SCRAM-SHA-256",), 5000)


@pytest.mark.parametrize("values,why", [
    ({}, "SASL mechanism GSSAPI is not supported"),
    ({"sasl.enabled.mechanisms": "PLAIN"}, "plain.sasl.jaas.config is not set"),
    ({"sasl.enabled.mechanisms": "SCRAM-SHA-256", "listener.name.l.scram-sha-256.sasl.jaas.config":
      f"{PLAIN_MODULE} required;"}, "needs org.apache.kafka.common.security.scram.ScramLoginModule"),
    ({"sasl.enabled.mechanisms": "SCRAM-SHA-256", "sasl.server.callback.handler.class": "com.example.H"},
     "cannot load Java callback handlers"),
])
def test_listener_config_refuses_what_it_cannot_serve(values, why):
    c = BrokerConfig()
    for k, v in values.items():
        c.set(k, v)
    with pytest.raises(ValueError, match=why):
        listener_config(c, "L")


# ------------------------------------------------------------ authenticator
CREDS = {("bob", "SCRAM-SHA-256"): scram.from_password("SCRAM-SHA-256", "bob-secret", 4096)}


def authenticator(reauth_ms=0, clock=None, mechanisms=("PLAIN", "SCRAM-SHA-256")) -> SaslAuthenticator:
    cfg = SaslListenerConfig("L", mechanisms, {"alice": "alice-secret", "admin": "admin-secret"}, reauth_ms, 0)
    return SaslAuthenticator(cfg, lambda u, m: CREDS.get((u, m)), clock or ManualClock())


def plain(a: SaslAuthenticator, user: str, password: str, version: int = 1):
    assert a.handshake("PLAIN", version) == (None, a.config.mechanisms)
    return a.authenticate(b"\0" + user.encode() + b"\0" + password.encode())


def test_only_api_versions_and_the_handshake_come_first():
    a = authenticator()
    assert a.refusal(API_VERSIONS, "ApiVersions") is None and a.refusal(SASL_HANDSHAKE, "SaslHandshake") is None
    assert "unexpected Metadata request during SASL handshake" in a.refusal(METADATA, "Metadata")
    assert "during SASL handshake" in a.refusal(SASL_AUTHENTICATE, "SaslAuthenticate")


def test_plain_success_sets_the_principal():
    a = authenticator()
    assert plain(a, "alice", "alice-secret") == (b"", 0)
    assert (a.state, a.principal, a.session_expires_ms) == (COMPLETE, "User:alice", None)
    assert a.refusal(METADATA, "Metadata") is None


@pytest.mark.parametrize("token,message", [
    (b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
    (b"\0nobody\0alice-secret", "Authentication failed: Invalid username or password"),
    (b"\0\0pw", "Authentication failed: username not specified"),
    (b"\0alice\0", "Authentication failed: password not specified"),
    (b"admin\0alice\0alice-secret", "Authentication failed: Client requested an authorization id that is "
                                    "different from username"),
    (b"just one token", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
])
def test_plain_refusals_are_kafkas(token, message):
    a = authenticator()
    a.handshake("PLAIN", 1)
    with pytest.raises(SaslAuthenticationFailed, match=message):
        a.authenticate(token)
    assert a.state == FAILED and a.close_reason and "after a failed" in a.refusal(API_VERSIONS, "ApiVersions")


def scram_login(a: SaslAuthenticator, user: str, password: str, mechanism="SCRAM-SHA-256") -> int:
    assert a.handshake(mechanism, 1)[0] is None
    client = scramp.ScramClient([mechanism], user, password)
    first, _ = a.authenticate(client.get_client_first().encode())
    client.set_server_first(first.decode())
    final, lifetime = a.authenticate(client.get_client_final().encode())
    client.set_server_final(final.decode())  # the server proved it knows the credential
    return lifetime


def test_scram_success_and_refusals():
    a = authenticator()
    assert scram_login(a, "bob", "bob-secret") == 0 and a.principal == "User:bob"
    for user, password in [("bob", "wrong"), ("nobody", "x")]:
        b = authenticator()
        with pytest.raises(SaslAuthenticationFailed, match="Authentication failed during authentication due to "
                                                           "invalid credentials with SASL mechanism SCRAM-SHA-256"):
            scram_login(b, user, password)
        assert b.state == FAILED


def test_unknown_mechanism_and_a_second_handshake():
    a = authenticator()
    assert a.handshake("GSSAPI", 1) == ("UNSUPPORTED_SASL_MECHANISM", ("PLAIN", "SCRAM-SHA-256"))
    assert a.state == FAILED and "GSSAPI" in a.close_reason
    b = authenticator()
    b.handshake("PLAIN", 1)
    assert b.state == AUTHENTICATE and b.refusal(SASL_HANDSHAKE, "SaslHandshake") is None
    assert b.handshake("PLAIN", 1) == ("ILLEGAL_SASL_STATE", ()) and b.state == FAILED


def test_handshake_v0_expects_bare_tokens():
    a = authenticator()
    a.handshake("PLAIN", 0)
    assert a.state == RAW_AUTHENTICATE and a.raw
    assert a.authenticate(b"\0alice\0alice-secret") == (b"", 0) and not a.raw


def test_sessions_expire_and_re_authenticate():
    clock = ManualClock()
    a = authenticator(reauth_ms=1000, clock=clock)
    assert plain(a, "alice", "alice-secret") == (b"", 1000)
    assert a.starts_reauthentication()
    clock.advance(999)
    assert a.refusal(METADATA, "Metadata") is None
    clock.advance(1)
    assert "SASL session expired" in a.refusal(METADATA, "Metadata")
    assert a.refusal(SASL_HANDSHAKE, "SaslHandshake") is None  # re-authentication may still start
    assert plain(a, "alice", "alice-secret") == (b"", 1000)
    assert a.refusal(METADATA, "Metadata") is None and a.principal == "User:alice"


def test_re_authentication_keeps_principal_and_mechanism():
    a = authenticator(reauth_ms=1000)
    plain(a, "alice", "alice-secret")
    with pytest.raises(SaslAuthenticationFailed,
                       match="Cannot change principals during re-authentication from User.alice: User.admin"):
        plain(a, "admin", "admin-secret")
    assert a.state == FAILED
    b = authenticator(reauth_ms=1000)
    plain(b, "alice", "alice-secret")
    assert b.handshake("SCRAM-SHA-256", 1) == (None, ("PLAIN", "SCRAM-SHA-256"))  # answered, as by Kafka
    assert "not supported for re-authentication of mechanism 'PLAIN'" in b.refusal(SASL_AUTHENTICATE,
                                                                                     "SaslAuthenticate")


def test_re_authentication_at_most_once_a_second():
    clock = ManualClock()
    a = authenticator(reauth_ms=5000, clock=clock)
    plain(a, "alice", "alice-secret")
    assert a.starts_reauthentication()  # the first one at once
    plain(a, "alice", "alice-secret")
    clock.advance(999)
    assert not a.starts_reauthentication()  # answered ILLEGAL_SASL_STATE; the connection stays
    clock.advance(1)
    assert a.starts_reauthentication()


def test_without_session_expiry_a_handshake_is_not_re_authentication():
    a = authenticator()
    plain(a, "alice", "alice-secret")
    assert not a.starts_reauthentication()


# ------------------------------------------------------ SCRAM credentials
def controller(tmp_path) -> MetadataController:
    store = LocalMetadataStore(str(tmp_path), 1)
    image = MetadataImage(cluster_id="c", controller_id=1)
    return MetadataController(image, store, BrokerConfig(), 1)


def upsert(user, mechanism_type=1, iterations=4096, password=b"salted-password-bytes"):
    return (user, mechanism_type, iterations, b"salt", password)


def test_alter_scram_credentials_with_kafkas_rules(tmp_path):
    c = controller(tmp_path)
    results = c.alter_user_scram_credentials(
        [("ghost", 1)], [upsert("bob"), upsert("carol", 2, 8192), upsert(""), upsert("dan", 3), upsert("eve", 1, 100),
                         upsert("fay", 1, 20000), upsert("twice"), upsert("twice", 2)])
    assert results == [
        ("ghost", ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist"),
        ("bob", ErrorCode.NONE, None), ("carol", ErrorCode.NONE, None),
        ("", ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
        ("dan", ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        ("eve", ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
        ("fay", ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
        ("twice", ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request")]
    assert sorted(c.image.scram_credentials) == ["bob", "carol"]
    cred = c.image.scram_credential("carol", "SCRAM-SHA-512")
    assert cred == scram.from_salted_password("SCRAM-SHA-512", b"salt", b"salted-password-bytes", 8192)
    reloaded = LocalMetadataStore(str(tmp_path), 1).read_scram_credentials()
    assert reloaded["carol"]["SCRAM-SHA-512"] == cred
    assert c.alter_user_scram_credentials([("bob", 1)], []) == [("bob", ErrorCode.NONE, None)]
    assert sorted(c.image.scram_credentials) == ["carol"]


def test_describe_scram_credentials(tmp_path):
    c = controller(tmp_path)
    c.alter_user_scram_credentials([], [upsert("bob"), upsert("carol", 2, 8192)])
    c.alter_user_scram_credentials([], [upsert("carol", 1)])
    image = c.image
    assert image.describe_scram_credentials(None) == [("bob", ErrorCode.NONE, None, [(1, 4096)]),
                                                      ("carol", ErrorCode.NONE, None, [(1, 4096), (2, 8192)])]
    assert image.describe_scram_credentials(["zed", "bob", "bob"]) == [
        ("zed", ErrorCode.RESOURCE_NOT_FOUND, "Attempt to describe a user credential that does not exist: zed", []),
        ("bob", ErrorCode.DUPLICATE_RESOURCE,
         "Cannot describe SCRAM credentials for the same user twice in a single request: bob", [])]
