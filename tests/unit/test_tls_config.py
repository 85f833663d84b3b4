"""security/tls.py without a network: Kafka's ssl.principal.mapping.rules
(SslPrincipalMapper's syntax and results) and the ssl.* keys of a listener
read into an OpenSSL context, with every refusal's message."""

from __future__ import annotations

import pytest
from tlsutil import STORE_PASSWORD, Pki

from fluxmq.config import BrokerConfig
from fluxmq.security.tls import NoMatchingRule, listener_config, map_principal, parse_mapping_rules

SUBJECT = "CN=app1,OU=ServiceUsers,O=Example,L=Berlin,C=DE"


# ------------------------------------------------------------- principal mapping
@pytest.mark.parametrize("rules,subject,name", [
    ("DEFAULT", SUBJECT, SUBJECT),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", SUBJECT, "app1"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=bob,OU=People,O=Example", "CN=bob,OU=People,O=Example"),
    ("RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),C=(.*?)$/$1@$3/L", SUBJECT, "app1@example"),
    ("RULE:^CN=(.*?),OU=(.*?).*$/$1/U", SUBJECT, "APP1"),
    # A comma inside RULE:.../.../ belongs to the pattern, not to the list.
    ("RULE:^CN=([^,]+),OU=ServiceUsers,.*$/svc-$1/, DEFAULT", SUBJECT, "svc-app1"),
    ("RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L", "OU=x,CN=Admin.One,O=y", "admin.one"),
    # \/ escapes a slash in the pattern; $9 that is not a group is literal text.
    (r"RULE:^CN=(.*)\/x$/$1$9/", "CN=a/x", "a$9"),
], ids=["default", "rule", "falls-to-default", "lower", "upper", "comma-in-pattern", "case", "escapes"])
def test_mapping_rules_map_as_kafka_maps(rules, subject, name):
    assert map_principal(parse_mapping_rules(rules), subject) == name


def test_a_subject_no_rule_maps_is_refused():
    with pytest.raises(NoMatchingRule, match="no ssl.principal.mapping.rules rule applies to CN=x,O=y"):
        map_principal(parse_mapping_rules("RULE:^CN=(.*),OU=apps$/$1/"), "CN=x,O=y")


@pytest.mark.parametrize("rules,why", [
    ("RULE:^CN=(.*)$/$1", "expected RULE:pattern/replacement/"),
    ("RULE:^CN=(.*)$/$1/X", "unmatched substring 'X'"),
    ("RULE:^CN=(.*$/$1/", "invalid pattern"),
    ("KERBEROS", "invalid rule 'KERBEROS'"),
])
def test_invalid_mapping_rules_are_refused(rules, why):
    with pytest.raises(ValueError, match=why):
        parse_mapping_rules(rules)


# ------------------------------------------------------------------- listeners
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.client("app", ou="apps")
    return p


def config(**keys) -> BrokerConfig:
    c = BrokerConfig()
    for key, value in keys.items():
        c.set(key.replace("_", "."), value)
    return c


def ssl_config(pki, **keys) -> BrokerConfig:
    """An SSL listener with the broker's PKCS12 keystore, and `keys` on top."""
    return config(ssl_keystore_type="PKCS12", ssl_keystore_location=pki.pkcs12_keystore("broker"),
                  ssl_keystore_password=STORE_PASSWORD, **keys)


def test_pkcs12_keystore_and_truststore(pki):
    c = ssl_config(pki, ssl_truststore_type="PKCS12", ssl_truststore_location=pki.keytool_truststore(),
                   ssl_truststore_password=STORE_PASSWORD, ssl_client_auth="required",
                   ssl_principal_mapping_rules="RULE:^CN=([^,]+),OU=apps,.*$/$1/")
    tls = listener_config(c, "SSL")
    assert tls.client_auth == "required" and tls.handshake_timeout_ms == 10000
    assert tls.principal("CN=app,OU=apps,O=FluxMQ Test") == "User:app"
    assert tls.principal(None) == "User:ANONYMOUS"


def test_kafkas_default_type_jks_reads_a_pkcs12_file(pki):
    """The JVM's JKS keystore type reads PKCS12 files; a keytool-made PKCS12 works unchanged."""
    c = config(ssl_keystore_location=pki.keytool_keystore("broker"), ssl_keystore_password=STORE_PASSWORD)
    assert listener_config(c, "SSL").client_auth == "none"


def test_a_real_jks_file_is_refused_with_the_conversion_command(pki):
    c = config(ssl_keystore_location=pki.keytool_keystore("broker", "JKS"), ssl_keystore_password=STORE_PASSWORD)
    with pytest.raises(ValueError, match="is a JKS file, which OpenSSL cannot read: convert it with "
                                         "keytool -importkeystore"):
        listener_config(c, "SSL")


@pytest.mark.parametrize("password,ok", [("key-secret", True), ("wrong", False)])
def test_pem_keystore_file_with_an_encrypted_key(pki, password, ok):
    c = config(ssl_keystore_type="PEM", ssl_keystore_location=pki.pem_keystore("broker", "key-secret"),
               ssl_key_password=password)
    if ok:
        listener_config(c, "SSL")
    else:
        with pytest.raises(ValueError, match="listener SSL: "):
            listener_config(c, "SSL")


def test_inline_pem_written_on_one_line_as_in_server_properties(pki):
    """Kafka's docs write PEM values on one line (server.properties has no newlines in a value)."""
    def one_line(pem):
        return " ".join(pem.split("\n"))
    c = config(listener_name_internal_ssl_keystore_type="PEM",
               **{"listener.name.internal.ssl.keystore.certificate.chain": one_line(pki.chain_pem("broker")),
                  "listener.name.internal.ssl.keystore.key": one_line(pki.key_pem("broker"))})
    listener_config(c, "INTERNAL")
    with pytest.raises(ValueError, match="listener OTHER: an SSL listener needs a keystore"):
        listener_config(c, "OTHER")  # the keys are INTERNAL's only


@pytest.mark.parametrize("keys,why", [
    ({}, "listener SSL: an SSL listener needs a keystore"),
    ({"ssl.keystore.type": "PEM", "ssl.keystore.key": "x"},
     "needs both ssl.keystore.certificate.chain and ssl.keystore.key"),
    ({"ssl.keystore.certificate.chain": "x", "ssl.keystore.key": "y"}, "need ssl.keystore.type=PEM"),
    ({"ssl.keystore.location": "/nonexistent/ks.p12", "ssl.keystore.type": "PKCS12"},
     "cannot read ssl.keystore.location /nonexistent/ks.p12"),
    ({"ssl.keystore.type": "BCFKS", "ssl.keystore.location": "/x"}, "ssl.keystore.type BCFKS is not supported"),
])
def test_keystore_refusals(keys, why):
    c = BrokerConfig()
    for key, value in keys.items():
        c.set(key, value)
    with pytest.raises(ValueError, match=why):
        listener_config(c, "SSL")


@pytest.mark.parametrize("keys,why", [
    ({"ssl.client.auth": "required"}, "ssl.client.auth=required needs ssl.truststore.location"),
    ({"ssl.client.auth": "requested"}, "ssl.client.auth=requested needs ssl.truststore.location"),
    ({"ssl.enabled.protocols": "TLSv1.1,TLSv1.2"}, "TLSv1.1 is disabled"),
    ({"ssl.enabled.protocols": "TLSv1.4"}, "use TLSv1.2 and/or TLSv1.3"),
    ({"ssl.protocol": "SSLv3"}, "ssl.protocol SSLv3 is not supported"),
    ({"ssl.cipher.suites": "TLS_NOT_A_SUITE"}, "TLS_NOT_A_SUITE"),
    ({"ssl.provider": "SunJSSE"}, "ssl.provider=SunJSSE configures the JVM's TLS"),
    ({"ssl.keymanager.algorithm": "PKIX"}, "ssl.keymanager.algorithm=PKIX configures the JVM's TLS"),
    ({"ssl.principal.mapping.rules": "RULE:x"}, "ssl.principal.mapping.rules: invalid rule"),
])
def test_listener_refusals(pki, keys, why):
    c = ssl_config(pki)
    for key, value in keys.items():
        c.set(key, value)
    with pytest.raises(ValueError, match=why):
        listener_config(c, "SSL")


def test_protocols_and_suites_kafka_names(pki):
    c = ssl_config(pki, ssl_enabled_protocols="TLSv1.2",
                   ssl_cipher_suites="TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    assert listener_config(c, "SSL").client_auth == "none"
