"""TLS on SSL and SASL_SSL listeners: Kafka's ssl.* keys read into the OpenSSL
context of csrc/tls.c, and the principal of a client certificate.

Every key is read per listener (listener.name.<l>.ssl.<key> before ssl.<key>),
as Kafka's broker reads them:

- Keystore (required): ssl.keystore.type PEM, with the key and chain inline
  (ssl.keystore.key, ssl.keystore.certificate.chain) or in one file
  (ssl.keystore.location), the key decrypted with ssl.key.password; or PKCS12
  (ssl.keystore.location, ssl.keystore.password). Kafka's default type JKS
  reads a PKCS12 file, as the JVM does; a real JKS file is refused with the
  keytool command that converts it.
- Truststore: PEM (ssl.truststore.certificates, or ssl.truststore.location),
  PKCS12 or JKS as above with ssl.truststore.password. It verifies client
  certificates, so ssl.client.auth requested or required needs one: FluxMQ
  does not fall back to a system CA store as the JVM falls back to cacerts.
- ssl.client.auth none/requested/required; ssl.enabled.protocols TLSv1.2 and
  TLSv1.3 (older versions are refused, as the JVM's java.security disables
  them); ssl.cipher.suites by their IANA names; ssl.protocol is checked
  (broker-side, the enabled protocols decide, as in Kafka).
- ssl.endpoint.identification.algorithm verifies the host name a client
  (or another broker) connects to; a broker accepting connections has none
  to verify, so it has no effect here, as on a Kafka listener.
- ssl.principal.mapping.rules: Kafka's SslPrincipalMapper rules
  (RULE:pattern/replacement/[LU], DEFAULT) turn the client certificate's
  subject (RFC 2253, "CN=client,O=Example") into the principal's name. A
  client without a certificate is User:ANONYMOUS; a subject no rule maps
  closes the connection, as Kafka fails its authentication.
- JVM-only keys (ssl.provider, ssl.engine.factory.class, a non-default
  ssl.keymanager.algorithm, ...) are refused with a clear message.

A TLS handshake must finish within fluxmq.ssl.handshake.timeout.ms, or the
connection is closed (Kafka bounds it by connections.max.idle.ms only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fluxmq import native
from fluxmq.listener import TLS_PROTOCOLS, listener_value

VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
REFUSED_VERSIONS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
JKS_MAGIC = b"\xfe\xed\xfe\xed"
PEM_KEY_KINDS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
# Keys of the JVM's security providers: only their defaults mean the same on OpenSSL.
JVM_DEFAULTS = {"ssl.provider": None, "ssl.engine.factory.class": None, "ssl.secure.random.implementation": None,
                "ssl.keymanager.algorithm": "SunX509", "ssl.trustmanager.algorithm": "PKIX"}


class NoMatchingRule(ValueError):
    """No ssl.principal.mapping.rules rule maps a certificate's subject."""


# ------------------------------------------------------------- principal mapping
@dataclass(frozen=True)
class MappingRule:
    """One rule of ssl.principal.mapping.rules (Kafka's SslPrincipalMapper.Rule)."""
    pattern: str | None = None  # None: DEFAULT (the subject as it is)
    replacement: str = ""
    case: str = ""  # "L", "U" or ""

    def apply(self, subject: str) -> str | None:
        if self.pattern is None:
            return subject
        regex = re.compile(self.pattern)
        if not regex.fullmatch(subject):
            return None
        # Like Java's replaceAll on the whole subject (an empty match at the end counts too).
        result = regex.sub(_python_replacement(self.replacement, regex.groups), subject)
        return result.lower() if self.case == "L" else result.upper() if self.case == "U" else result


def _python_replacement(java: str, groups: int) -> str:
    """A java.util.regex replacement as a re.sub template: \\c is a literal c,
    $n a group (digits taken while the number stays a group, as Java does; one
    that is not a group is literal text, as Kafka escapes it)."""
    out, i = [], 0
    while i < len(java):
        ch = java[i]
        if ch == "\\" and i + 1 < len(java):
            out.append(java[i + 1].replace("\\", "\\\\"))
            i += 2
        elif ch == "$" and i + 1 < len(java) and java[i + 1].isdigit():
            j, n = i + 2, int(java[i + 1])
            while j < len(java) and java[j].isdigit() and n * 10 + int(java[j]) <= groups:
                n, j = n * 10 + int(java[j]), j + 1
            out.append(f"\\g<{n}>" if n <= groups else java[i:j])
            i = j
        else:
            out.append("\\\\" if ch == "\\" else ch)
            i += 1
    return "".join(out)


def _split_rules(text: str) -> list[str]:
    """The rules of the comma-separated value; a comma inside RULE:.../.../ is the pattern's."""
    rules, i, text = [], 0, text.strip()
    while i < len(text):
        if text.startswith("RULE:", i):
            j, slashes = i + len("RULE:"), 0
            while j < len(text) and slashes < 2:
                if text[j] == "\\":
                    j += 1
                elif text[j] == "/":
                    slashes += 1
                j += 1
            end = text.find(",", j)
        else:
            end = text.find(",", i)
        end = len(text) if end < 0 else end
        rules.append(text[i:end].strip())
        i = end + 1
        while i < len(text) and text[i].isspace():
            i += 1
    return [r for r in rules if r]  # empty rules are ignored, as Kafka ignores them


def _rule_part(rule: str, start: int) -> tuple[str, int]:
    """The text up to the next unescaped '/' (escapes kept: the regex reads them)."""
    i = start
    while i < len(rule) and rule[i] != "/":
        i += 2 if rule[i] == "\\" else 1
    if i >= len(rule):
        raise ValueError(f"ssl.principal.mapping.rules: invalid rule {rule!r} (expected RULE:pattern/replacement/[LU])")
    return rule[start:i], i + 1


def parse_mapping_rules(text: str | None) -> tuple[MappingRule, ...]:
    """Kafka's ssl.principal.mapping.rules; ValueError names an invalid rule."""
    rules = []
    for rule in _split_rules(text or "DEFAULT"):
        if rule == "DEFAULT":
            rules.append(MappingRule())
            continue
        if not rule.startswith("RULE:"):
            raise ValueError(f"ssl.principal.mapping.rules: invalid rule {rule!r}")
        pattern, i = _rule_part(rule, len("RULE:"))
        replacement, i = _rule_part(rule, i)
        case = rule[i:i + 1] if rule[i:i + 1] in ("L", "U") else ""
        if rule[i + len(case):].strip():
            raise ValueError(f"ssl.principal.mapping.rules: invalid rule {rule!r}, "
                             f"unmatched substring {rule[i + len(case):]!r}")
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"ssl.principal.mapping.rules: invalid pattern {pattern!r} in {rule!r}: {e}") from None
        rules.append(MappingRule(pattern, replacement, case))
    return tuple(rules)


def map_principal(rules: tuple[MappingRule, ...], subject: str) -> str:
    """The principal name the first matching rule gives; NoMatchingRule otherwise."""
    for rule in rules:
        name = rule.apply(subject)
        if name is not None:
            return name
    raise NoMatchingRule(f"no ssl.principal.mapping.rules rule applies to {subject}")


# ------------------------------------------------------------------- listeners
@dataclass(frozen=True)
class TlsListenerConfig:
    """What one TLS listener serves with."""
    listener: str
    context: native.TlsContext
    client_auth: str
    mapping_rules: tuple[MappingRule, ...]
    handshake_timeout_ms: int

    def principal(self, subject: str | None) -> str:
        """Kafka's DefaultKafkaPrincipalBuilder for an SSL connection."""
        return "User:ANONYMOUS" if subject is None else "User:" + map_principal(self.mapping_rules, subject)


def listener_config(config, listener: str) -> TlsListenerConfig:
    """The TLS configuration of `listener`; ValueError says what is missing or refused."""
    def value(key, default=None):
        v = listener_value(config, listener, key, default)
        return None if v is None or str(v).strip() == "" else str(v).strip()

    where = f"listener {listener}"
    for key, default in JVM_DEFAULTS.items():
        if value(key) not in (None, default):
            raise ValueError(f"{where}: {key}={value(key)} configures the JVM's TLS; FluxMQ uses OpenSSL "
                             "and takes its default only (see docs/security.md)")
    ctx = native.TlsContext()
    try:
        _load_keystore(ctx, value)
        trusted = _load_truststore(ctx, value)
        client_auth = (value("ssl.client.auth") or "none").lower()
        if client_auth not in ctx.CLIENT_AUTH:
            raise ValueError(f"{where}: ssl.client.auth must be none, requested or required, not {client_auth!r}")
        if client_auth != "none" and not trusted:
            raise ValueError(f"{where}: ssl.client.auth={client_auth} needs ssl.truststore.location or "
                             "ssl.truststore.certificates (the CAs client certificates are checked against)")
        ctx.set_client_auth(client_auth)
        _set_protocols(ctx, value)
        suites = [s.strip() for s in (value("ssl.cipher.suites") or "").split(",") if s.strip()]
        if suites:
            ctx.set_cipher_suites(suites)
        rules = parse_mapping_rules(value("ssl.principal.mapping.rules"))
    except ValueError as e:
        raise ValueError(str(e) if str(e).startswith(where) else f"{where}: {e}") from None
    timeout = int(listener_value(config, listener, "fluxmq.ssl.handshake.timeout.ms", 10000))
    return TlsListenerConfig(listener, ctx, client_auth, rules, timeout)


def listener_configs(config, listeners) -> dict[str, TlsListenerConfig]:
    """The TLS configuration of each SSL and SASL_SSL listener, by name."""
    return {lst.name: listener_config(config, lst.name) for lst in listeners if lst.security_protocol in TLS_PROTOCOLS}


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"cannot read {what} {path}: {e.strerror}") from None


def _pem_blocks(text: str, *kinds: str) -> list[str]:
    """The PEM blocks of these kinds, each re-wrapped in 64-character lines: Kafka
    reads a PEM value written on one line of server.properties, OpenSSL does not."""
    out = []
    for m in _PEM_BLOCK.finditer(text):
        kind, body = m.group(1), m.group(2)
        if kind not in kinds:
            continue
        if ":" not in body:  # no RFC 1421 headers (Proc-Type: a legacy encrypted key): only base64
            b64 = "".join(body.split())
            body = "\n" + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n"
        out.append(f"-----BEGIN {kind}-----{body}-----END {kind}-----\n")
    return out


def _certificates(text: str, what: str) -> str:
    certs = _pem_blocks(text, "CERTIFICATE")
    if not certs:
        raise ValueError(f"{what} holds no PEM certificate")
    return "".join(certs)


def _private_key(text: str, what: str) -> str:
    keys = _pem_blocks(text, *PEM_KEY_KINDS)
    if len(keys) != 1:
        raise ValueError(f"{what} must hold one PEM private key, not {len(keys)}")
    return keys[0]


def _store_type(value, prefix: str) -> str:
    kind = (value(f"{prefix}.type") or "JKS").upper()
    if kind not in ("JKS", "PKCS12", "PEM"):
        raise ValueError(f"{prefix}.type {kind} is not supported (PEM, PKCS12, or JKS holding a PKCS12 file)")
    return kind


def _pkcs12(path: str, what: str) -> bytes:
    data = _read(path, what)
    if data[:4] == JKS_MAGIC:
        raise ValueError(f"{what} {path} is a JKS file, which OpenSSL cannot read: convert it with "
                         f"keytool -importkeystore -srckeystore {path} -destkeystore {path}.p12 "
                         "-deststoretype PKCS12, and set the type to PKCS12")
    return data


def _load_keystore(ctx, value) -> None:
    kind = _store_type(value, "ssl.keystore")
    location, chain, key = value("ssl.keystore.location"), value("ssl.keystore.certificate.chain"), \
        value("ssl.keystore.key")
    if chain or key:
        if kind != "PEM":
            raise ValueError("ssl.keystore.certificate.chain and ssl.keystore.key need ssl.keystore.type=PEM")
        if not (chain and key) or location:
            raise ValueError("an inline PEM keystore needs both ssl.keystore.certificate.chain and ssl.keystore.key, "
                             "and no ssl.keystore.location")
        ctx.use_pem(_certificates(chain, "ssl.keystore.certificate.chain"), _private_key(key, "ssl.keystore.key"),
                    value("ssl.key.password"))
        return
    if not location:
        raise ValueError("an SSL listener needs a keystore: set ssl.keystore.location "
                         "(or ssl.keystore.certificate.chain and ssl.keystore.key with ssl.keystore.type=PEM)")
    if kind == "PEM":
        if value("ssl.keystore.password"):
            raise ValueError("ssl.keystore.password cannot be given for a PEM keystore; "
                             "ssl.key.password decrypts its key")
        text = _read(location, "ssl.keystore.location").decode("utf-8", "replace")
        what = f"the PEM keystore {location}"
        ctx.use_pem(_certificates(text, what), _private_key(text, what), value("ssl.key.password"))
    else:
        ctx.use_pkcs12(_pkcs12(location, "ssl.keystore.location"), value("ssl.keystore.password"))


def _load_truststore(ctx, value) -> int:
    """Loads the CAs client certificates are verified against; how many."""
    kind = _store_type(value, "ssl.truststore")
    location, inline = value("ssl.truststore.location"), value("ssl.truststore.certificates")
    if inline:
        if kind != "PEM" or location:
            raise ValueError("ssl.truststore.certificates needs ssl.truststore.type=PEM and no ssl.truststore.location")
        return ctx.trust_pem(_certificates(inline, "ssl.truststore.certificates"))
    if not location:
        return 0
    if kind == "PEM":
        if value("ssl.truststore.password"):
            raise ValueError("ssl.truststore.password cannot be given for a PEM truststore")
        return ctx.trust_pem(_certificates(_read(location, "ssl.truststore.location").decode("utf-8", "replace"),
                                           f"the PEM truststore {location}"))
    return ctx.trust_pkcs12(_pkcs12(location, "ssl.truststore.location"), value("ssl.truststore.password"))


def _set_protocols(ctx, value) -> None:
    protocol = value("ssl.protocol") or "TLSv1.3"
    if protocol not in ("TLS", *VERSIONS):
        raise ValueError(f"ssl.protocol {protocol} is not supported (TLS, TLSv1.2 or TLSv1.3)")
    enabled = [p.strip() for p in (value("ssl.enabled.protocols") or "TLSv1.2,TLSv1.3").split(",") if p.strip()]
    old = [p for p in enabled if p in REFUSED_VERSIONS]
    if old:
        raise ValueError(f"ssl.enabled.protocols: {', '.join(old)} is disabled (as in the JVM's java.security); "
                         "FluxMQ serves TLSv1.2 and TLSv1.3")
    unknown = [p for p in enabled if p not in VERSIONS]
    if unknown or not enabled:
        raise ValueError(f"ssl.enabled.protocols {','.join(enabled) or '(empty)'}: use TLSv1.2 and/or TLSv1.3")
    versions = sorted(VERSIONS[p] for p in enabled)
    ctx.set_protocols(versions[0], versions[-1])
