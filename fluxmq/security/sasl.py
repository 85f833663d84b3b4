"""SASL on SASL_PLAINTEXT (and, with TLS, SASL_SSL) listeners: the per-listener
configuration and the server side of Kafka's SaslServerAuthenticator.

Each connection of a SASL listener gets a SaslAuthenticator. Until it has
authenticated, only ApiVersions, SaslHandshake and SaslAuthenticate are
served; any other request closes the connection (Kafka: "Unexpected Kafka
request of type X during SASL handshake"). SaslHandshake v1 is followed by
SaslAuthenticate requests; after a v0 handshake the client sends bare SASL
tokens, each framed by its size only, and gets bare tokens back.

A failed handshake (UNSUPPORTED_SASL_MECHANISM) or authentication
(SASL_AUTHENTICATION_FAILED, with Kafka's message) is answered after
connection.failed.authentication.delay.ms (100 ms, as in Kafka: it slows
down password guessing), and the connection is closed once the answer is
written.

KIP-368: with connections.max.reauth.ms > 0, SaslAuthenticate v1+ tells the
client its session lifetime; once it is over, any request but a SaslHandshake
(which starts re-authentication) closes the connection. Re-authentication
keeps the mechanism and the principal: a different mechanism closes the
connection at its first token, a different principal fails with Kafka's
"Cannot change principals during re-authentication" message. A second
re-authentication within a second of the last is ILLEGAL_SASL_STATE, as in Kafka.

Mechanisms: PLAIN (users from the listener's JAAS config, PlainLoginModule's
user_<name>="<password>") and SCRAM-SHA-256/512 (credentials from the
metadata image, managed with AlterUserScramCredentials). GSSAPI and
OAUTHBEARER are refused at start-up with a clear message.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from fluxmq.listener import SASL_PROTOCOLS, listener_value
from fluxmq.security import jaas
from fluxmq.security.scram import MECHANISMS as SCRAM_MECHANISMS


PLAIN = "PLAIN"
SUPPORTED_MECHANISMS = (PLAIN, *SCRAM_MECHANISMS)
API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
# Kafka's default sasl.enabled.mechanisms.
DEFAULT_MECHANISMS = "GSSAPI"
MIN_REAUTH_INTERVAL_MS = 1000  # KafkaChannel: re-authentication at most once a second


class SaslAuthenticationFailed(Exception):
    """The client's credentials were refused; str(e) goes back to the client,
    `detail` (what the broker's log says) may say more."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True)
class SaslListenerConfig:
    """What one SASL listener accepts (its listener.name.<l>. keys, else the broker's)."""
    listener: str
    mechanisms: tuple[str, ...]
    plain_users: dict[str, str] = field(default_factory=dict)
    max_reauth_ms: int = 0  # connections.max.reauth.ms; 0: sessions never expire
    failed_delay_ms: int = 100  # connection.failed.authentication.delay.ms


def listener_config(config, listener: str) -> SaslListenerConfig:
    """The SASL configuration of `listener`; ValueError says what is missing or not supported."""
    raw = listener_value(config, listener, "sasl.enabled.mechanisms", DEFAULT_MECHANISMS)
    mechanisms = tuple(m.strip().upper() for m in str(raw).split(",") if m.strip())
    if not mechanisms:
        raise ValueError(f"listener {listener}: sasl.enabled.mechanisms is empty")
    unsupported = [m for m in mechanisms if m not in SUPPORTED_MECHANISMS]
    if unsupported:
        raise ValueError(f"listener {listener}: SASL mechanism {', '.join(unsupported)} is not supported "
                         f"(FluxMQ offers {', '.join(SUPPORTED_MECHANISMS)}; sasl.enabled.mechanisms defaults to "
                         "GSSAPI, as in Kafka: set it; see docs/security.md)")
    for key in ("sasl.server.callback.handler.class", "sasl.login.callback.handler.class", "sasl.login.class"):
        for mechanism in mechanisms:
            name = f"listener.name.{listener.lower()}.{mechanism.lower()}.{key}"
            if config.values.get(name) or config.values.get(key):
                raise ValueError(f"{name if config.values.get(name) else key}: FluxMQ cannot load Java callback "
                                 "handlers or login classes")
    plain_users: dict[str, str] = {}
    for mechanism in mechanisms:
        key = f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
        text = config.values.get(key)
        if text is None:
            if mechanism == PLAIN:
                raise ValueError(f"listener {listener} enables PLAIN, but {key} is not set: its PlainLoginModule "
                                 'entry names the users (user_<name>="<password>")')
            continue  # SCRAM's users are its stored credentials; Kafka's ScramLoginModule entry adds nothing
        entry = jaas.parse(text, key)
        expected = jaas.PLAIN_LOGIN_MODULE if mechanism == PLAIN else jaas.SCRAM_LOGIN_MODULE
        if entry.login_module != expected:
            raise ValueError(f"{key}: {mechanism} needs {expected}, not {entry.login_module}")
        if mechanism == PLAIN:
            plain_users = jaas.plain_users(entry)
    reauth = int(listener_value(config, listener, "connections.max.reauth.ms", 0))
    if reauth < 0:
        raise ValueError(f"listener {listener}: connections.max.reauth.ms must be 0 or more, not {reauth}")
    delay = config["connection.failed.authentication.delay.ms"]
    return SaslListenerConfig(listener, mechanisms, plain_users, reauth, delay)


def listener_configs(config, listeners) -> dict[str, SaslListenerConfig]:
    """The SASL configuration of each SASL listener, by name; ValueError as listener_config."""
    return {lst.name: listener_config(config, lst.name) for lst in listeners if lst.security_protocol in SASL_PROTOCOLS}


# ------------------------------------------------------------------ mechanisms
class PlainServer:
    """RFC 4616: one token, authzid NUL authcid NUL password (Kafka's PlainSaslServer)."""
    name = PLAIN

    def __init__(self, users: dict[str, str]):
        self.users = users
        self.complete = False
        self.username: str | None = None

    def evaluate(self, token: bytes) -> bytes:
        parts = token.decode("utf-8", errors="replace").split("\0", 3)
        if len(parts) != 3:
            raise SaslAuthenticationFailed(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        authzid, username, password = parts
        if not username:
            raise SaslAuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationFailed("Authentication failed: password not specified")
        expected = self.users.get(username)
        # Compared in constant time, unknown users too, as PlainServerCallbackHandler does.
        if not hmac.compare_digest((expected or "\0").encode(), password.encode()) or expected is None:
            raise SaslAuthenticationFailed("Authentication failed: Invalid username or password")
        if authzid and authzid != username:
            raise SaslAuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is different from username")
        self.username = username
        self.complete = True
        return b""


class ScramServer:
    """RFC 5802 through scramp: client-first, server-first, client-final,
    server-final. Kafka's ScramSaslServer: the username is a saslname (=2C is
    ',' and =3D is '='), credentials are looked up by (user, mechanism)."""

    def __init__(self, mechanism: str, credentials):
        """`credentials(user, mechanism)`: a ScramCredential or None."""
        import scramp  # here, not at start-up: importing it takes longer than the broker's own start
        self._scramp = scramp
        self.name = mechanism
        self.credentials = credentials
        self.complete = False
        self.username: str | None = None
        self.unknown_user = False
        self._server = scramp.ScramMechanism(mechanism).make_server(self._auth_info)

    def _auth_info(self, saslname: str):
        username = saslname.replace("=2C", ",").replace("=3D", "=")
        self.username = username
        cred = self.credentials(username, self.name)
        if cred is None:
            self.unknown_user = True
            raise self._scramp.ScramException("unknown user")
        return cred.salt, cred.stored_key, cred.server_key, cred.iterations

    def evaluate(self, token: bytes) -> bytes:
        try:
            text = token.decode("utf-8")
            if self._server.stage is None:
                self._server.set_client_first(text)
                return self._server.get_server_first().encode()
            self._server.set_client_final(text)
            final = self._server.get_server_final()
        except (self._scramp.ScramException, UnicodeDecodeError, ValueError, KeyError, IndexError) as e:
            # Kafka tells the client no more than this, whatever went wrong.
            raise SaslAuthenticationFailed("Authentication failed during authentication due to invalid credentials "
                                           f"with SASL mechanism {self.name}", f"user {self.username!r}: "
                                           + (f"no {self.name} credential" if self.unknown_user else str(e))) from None
        self.complete = True
        return final.encode()


# -------------------------------------------------------------- authenticator
HANDSHAKE, AUTHENTICATE, RAW_AUTHENTICATE, COMPLETE, REAUTH_BAD_MECHANISM, FAILED = (
    "HANDSHAKE", "AUTHENTICATE", "RAW_AUTHENTICATE", "COMPLETE", "REAUTH_BAD_MECHANISM", "FAILED")


class SaslAuthenticator:
    """One connection's SASL state (sans-I/O; the server and the two SASL
    handlers drive it). `close_reason` is set when the connection must close
    after the answer now being sent."""

    def __init__(self, config: SaslListenerConfig, credentials, clock):
        self.config = config
        self.credentials = credentials
        self.clock = clock
        self.state = HANDSHAKE
        self.mechanism: PlainServer | ScramServer | None = None
        self.principal: str | None = None
        self.session_expires_ms: int | None = None  # monotonic; None: never
        self.reauthenticating = False
        self._original_mechanism: str | None = None  # while re-authenticating
        self._last_reauth_ms: int | None = None  # when the last re-authentication began
        self.close_reason: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.state == COMPLETE

    @property
    def raw(self) -> bool:
        """After SaslHandshake v0: frames are bare SASL tokens."""
        return self.state == RAW_AUTHENTICATE

    def refusal(self, api_key: int, name: str) -> str | None:
        """Why a request with this API key closes the connection now, or None to serve it."""
        state = self.state
        if state == FAILED:
            return f"{name} after a failed SASL handshake or authentication"
        if state == COMPLETE:
            if api_key == SASL_HANDSHAKE or self.session_expires_ms is None:
                return None
            if self.clock.monotonic_ms() >= self.session_expires_ms:
                return f"its SASL session expired (connections.max.reauth.ms), and {name} is not a SaslHandshake"
            return None
        if state == HANDSHAKE and api_key in (API_VERSIONS, SASL_HANDSHAKE):
            return None
        if state in (AUTHENTICATE, REAUTH_BAD_MECHANISM) and api_key == SASL_AUTHENTICATE:
            if state == REAUTH_BAD_MECHANISM:
                return (f"SASL mechanism '{self.mechanism.name}' requested by client is not supported for "
                        f"re-authentication of mechanism '{self._original_mechanism}'")
            return None
        if state == AUTHENTICATE and api_key == SASL_HANDSHAKE:
            return None  # answered ILLEGAL_SASL_STATE, then closed (handshake())
        return f"unexpected {name} request during SASL {'authentication' if state != HANDSHAKE else 'handshake'}"

    def starts_reauthentication(self) -> bool:
        """A SaslHandshake after authentication: re-authentication when sessions
        expire (KIP-368) and the last one began at least a second ago (Kafka's
        KafkaChannel guard), else an ILLEGAL_SASL_STATE answer as Kafka gives."""
        if self.state != COMPLETE or self.session_expires_ms is None:
            return False
        now = self.clock.monotonic_ms()
        if self._last_reauth_ms is not None and now - self._last_reauth_ms < MIN_REAUTH_INTERVAL_MS:
            return False
        self._last_reauth_ms = now
        return True

    def handshake(self, mechanism: str, version: int) -> tuple[str | None, tuple[str, ...]]:
        """(error name or None, the enabled mechanisms) for a SaslHandshake."""
        enabled = self.config.mechanisms
        if self.state == AUTHENTICATE:
            self._fail("a second SaslHandshake during SASL authentication")
            return "ILLEGAL_SASL_STATE", ()
        if self.state == COMPLETE:
            self.reauthenticating = True
            self._original_mechanism = self.mechanism.name
        if mechanism not in enabled:
            self._fail(f"SASL mechanism {mechanism!r} is not enabled (enabled: {', '.join(enabled)})")
            return "UNSUPPORTED_SASL_MECHANISM", enabled
        bad_reauth = self.reauthenticating and mechanism != self._original_mechanism
        self.mechanism = self._new_mechanism(mechanism)
        if bad_reauth:
            self.state = REAUTH_BAD_MECHANISM
        else:
            self.state = AUTHENTICATE if version >= 1 else RAW_AUTHENTICATE
        return None, enabled

    def _fail(self, reason: str) -> None:
        """The connection closes once the answer now being made is sent."""
        self.state = FAILED
        self.close_reason = reason

    def _new_mechanism(self, name: str):
        if name == PLAIN:
            return PlainServer(self.config.plain_users)
        return ScramServer(name, self.credentials)

    def authenticate(self, token: bytes) -> tuple[bytes, int]:
        """One SASL token: (the challenge to send back, the session lifetime in ms,
        0 until complete or when sessions do not expire). Raises
        SaslAuthenticationFailed (close_reason is then set)."""
        try:
            challenge = self.mechanism.evaluate(bytes(token))
        except SaslAuthenticationFailed as e:
            self._fail(f"SASL {self.mechanism.name} authentication failed: {e.detail}")
            raise
        if not self.mechanism.complete:
            return challenge, 0
        principal = f"User:{self.mechanism.username}"
        if self.reauthenticating and principal != self.principal:
            self._fail(f"re-authentication as {principal} on a connection of {self.principal}")
            raise SaslAuthenticationFailed(  # Kafka writes KafkaPrincipal as type.name here
                "Cannot change principals during re-authentication from "
                f"{self.principal.replace(':', '.', 1)}: {principal.replace(':', '.', 1)}")
        self.principal = principal
        self.state = COMPLETE
        self.reauthenticating = False
        lifetime = self.config.max_reauth_ms
        self.session_expires_ms = self.clock.monotonic_ms() + lifetime if lifetime > 0 else None
        return challenge, lifetime
