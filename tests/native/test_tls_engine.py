"""The TLS transport of csrc/net.c (csrc/tls.c), driven directly through
native.Net with Python's ssl module as the client: handshake on the epoll loop,
framing and responses through TLS, file chunks encrypted in C, client
certificates, and bad input closing one connection with a reason.

The broker's SSL and SASL_SSL listeners, configured by the ssl.* keys, are
tested with real clients in tests/integration/test_tls.py."""

import datetime
import os
import socket
import ssl
import struct
import time

import pytest

cryptography = pytest.importorskip("cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from fluxmq import native  # noqa: E402

ffi, lib = native.ffi, native.lib


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FluxMQ Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn, key, issuer_name, issuer_key, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key, password=None):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    out = {}
    for ca_name in ("ca", "other-ca"):
        k = ec.generate_private_key(ec.SECP256R1())
        out[ca_name] = (_cert(ca_name, k, _name(ca_name), k, ca=True), k)
    ca, ca_key = out["ca"]
    server_key = ec.generate_private_key(ec.SECP256R1())
    out["server"] = (_cert("broker", server_key, ca.subject, ca_key,
                           san=[x509.DNSName("localhost"),
                                x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), server_key)
    for client, issuer in (("client", "ca"), ("stranger", "other-ca")):
        k = ec.generate_private_key(ec.SECP256R1())
        icert, ikey = out[issuer]
        out[client] = (_cert(client, k, icert.subject, ikey), k)
    for name, (cert, key) in out.items():
        (d / f"{name}.crt").write_text(_pem(cert))
        (d / f"{name}.key").write_text(_key_pem(key))
    out["dir"] = d
    return out


def _ctx(pki, client_auth="none", password=None):
    ctx = native.TlsContext()
    cert, key = pki["server"]
    ctx.use_pem(_pem(cert) + _pem(pki["ca"][0]), _key_pem(key, password), password)
    ctx.trust_pem(_pem(pki["ca"][0]))
    ctx.set_client_auth(client_auth)
    return ctx


class Loop:
    """A native.Net with one TLS listener, polled by hand."""

    def __init__(self, ctx):
        self.net = native.Net(1 << 20)
        self.listener, self.port = self.net.listen("127.0.0.1", 0, ctx)
        self.events = ffi.new("fmq_event[]", 64)
        self.frames, self.failures, self.closed, self.accepted = [], [], [], []

    def poll(self, seconds=0.2):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n = self.net.poll(self.events, 64)
            for i in range(n):
                ev = self.events[i]
                if ev.kind == lib.FMQ_EV_ACCEPT:
                    self.accepted.append(ev.conn)
                elif ev.kind == lib.FMQ_EV_FRAME:
                    self.frames.append((ev.conn, ffi.buffer(ev.data, ev.len)[:]))
                elif ev.kind == lib.FMQ_EV_TLS_FAILED:
                    self.failures.append((ev.conn, ffi.buffer(ev.data, ev.len)[:].decode()))
                elif ev.kind == lib.FMQ_EV_CLOSED:
                    self.closed.append(ev.conn)
            self.net.flush()
            time.sleep(0.002)


def _client_ctx(pki, cert=None):
    c = ssl.create_default_context(cafile=str(pki["dir"] / "ca.crt"))
    if cert:
        c.load_cert_chain(str(pki["dir"] / f"{cert}.crt"), str(pki["dir"] / f"{cert}.key"))
    return c


def _connect(loop, ctx):
    """A TLS client whose handshake the loop drives from another side of the socket."""
    raw = socket.create_connection(("127.0.0.1", loop.port))
    raw.setblocking(False)
    s = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
    for _ in range(500):
        try:
            s.do_handshake()
            break
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            loop.poll(0.01)
    else:
        raise AssertionError("handshake did not finish")
    loop.poll(0.05)  # TLS 1.3: the server's session tickets
    s.setblocking(True)
    s.settimeout(10)
    return s


def _recv_exact(loop, s, n):
    out = b""
    s.setblocking(False)
    for _ in range(2000):
        try:
            chunk = s.recv(n - len(out))
            if not chunk:
                break
            out += chunk
            if len(out) == n:
                break
        except (ssl.SSLWantReadError, BlockingIOError):
            loop.poll(0.005)
    return out


def test_frames_and_responses_travel_through_tls(pki):
    loop = Loop(_ctx(pki))
    s = _connect(loop, _client_ctx(pki))
    conn = loop.accepted[0]
    assert loop.net.tls_established(conn) is True
    assert loop.net.tls_session(conn).startswith("TLSv1.3 ")
    assert loop.net.tls_peer_subject(conn) is None  # no client certificate
    # Many frames, one of them larger than a TLS record, in one write.
    payloads = [os.urandom(n) for n in (1, 100, 40000, 7)]
    s.sendall(b"".join(struct.pack(">i", len(p)) + p for p in payloads))
    loop.poll(0.5)
    assert [f for _c, f in loop.frames] == payloads
    # A response larger than a record, then a file range encrypted in C.
    big = os.urandom(100000)
    assert loop.net.send(conn, big)
    path = pki["dir"] / "segment.bin"
    content = os.urandom(70000)
    path.write_bytes(content)
    with open(path, "rb") as f:
        assert loop.net.send_file(conn, f.fileno(), 1000, 50000)
    assert _recv_exact(loop, s, len(big) + 50000) == big + content[1000:51000]
    s.close()
    loop.poll(0.2)
    assert (loop.closed, loop.failures) == ([conn], [])


def test_client_certificate_subject_is_rfc2253(pki):
    loop = Loop(_ctx(pki, "required"))
    s = _connect(loop, _client_ctx(pki, cert="client"))
    assert loop.net.tls_peer_subject(loop.accepted[0]) == "CN=client,O=FluxMQ Test"
    s.close()


def test_encrypted_key_needs_its_password(pki):
    _ctx(pki, password="secret")  # loads
    with pytest.raises(ValueError, match="private key"):
        ctx = native.TlsContext()
        cert, key = pki["server"]
        ctx.use_pem(_pem(cert), _key_pem(key, "secret"), "wrong")


def _failure_for(loop, action):
    action()
    loop.poll(0.5)
    assert len(loop.failures) == 1, (loop.failures, loop.closed)
    return loop.failures[0][1]


def test_certificate_from_another_ca_is_refused_and_others_keep_working(pki):
    loop = Loop(_ctx(pki, "required"))
    good = _connect(loop, _client_ctx(pki, cert="client"))

    def stranger():
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            _connect(loop, _client_ctx(pki, cert="stranger")).recv(1)

    reason = _failure_for(loop, stranger)
    assert "certificate verify failed" in reason
    good.sendall(struct.pack(">i", 3) + b"abc")
    loop.poll(0.3)
    assert loop.frames[-1][1] == b"abc"


def test_plaintext_bytes_on_a_tls_port_close_with_a_reason(pki):
    loop = Loop(_ctx(pki))

    def plaintext():
        raw = socket.create_connection(("127.0.0.1", loop.port))
        raw.sendall(struct.pack(">ihhi", 10, 18, 3, 1) + b"\0\0")  # an ApiVersions header
        loop.poll(0.3)
        raw.close()

    reason = _failure_for(loop, plaintext)
    assert reason.startswith("TLS handshake failed: ")


def test_connect_and_close_without_a_byte_is_no_failure(pki):
    loop = Loop(_ctx(pki))
    socket.create_connection(("127.0.0.1", loop.port)).close()
    loop.poll(0.3)
    assert loop.failures == [] and len(loop.closed) == 1


def test_cipher_suites_take_standard_names(pki):
    ctx = _ctx(pki)
    ctx.set_cipher_suites(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"])
    with pytest.raises(ValueError, match="unknown cipher suite TLS_NOPE"):
        ctx.set_cipher_suites(["TLS_NOPE"])
    ctx = _ctx(pki)
    ctx.set_protocols(0x0303, 0x0303)
    ctx.set_cipher_suites(["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"])
    loop = Loop(ctx)
    s = _connect(loop, _client_ctx(pki))
    assert loop.net.tls_session(loop.accepted[0]) == "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"
    s.close()
