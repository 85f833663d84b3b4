"""Certificates for the TLS tests, made with `cryptography`: a CA the broker
and clients trust, another CA nobody trusts, a broker certificate for
localhost and 127.0.0.1, and client certificates. Files are written in every
form a Kafka user has them in: PEM files, one PEM keystore file (key and
chain), PKCS12 keystores and truststores, and stores made by Java's keytool."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

STORE_PASSWORD = "store-secret"


def _name(cn: str, ou: str | None = None):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FluxMQ Test")]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """Everything is written under `directory`; paths are returned as str."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keys, self.certs, self.issuers = {}, {}, {}
        for ca in ("ca", "other-ca"):
            self._issue(ca, None, ca=True)
        # A CA that names itself "ca" with a key of its own: what it issues looks trusted and is not.
        self._issue("fake-ca", None, ca=True, cn="ca")
        self._issue("broker", "ca", san=[x509.DNSName("localhost"),
                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])

    def _issue(self, name: str, issuer: str | None, ca: bool = False, san=None, ou: str | None = None,
               cn: str | None = None):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = _name(cn or name, ou)
        issuer_name = self.certs[issuer].subject if issuer else subject
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        self.keys[name] = key
        self.issuers[name] = issuer
        self.certs[name] = b.sign(self.keys[issuer] if issuer else key, hashes.SHA256())
        self.write_pem(name)

    def client(self, name: str, issuer: str = "ca", ou: str | None = None) -> str:
        """A client certificate with subject CN=<name>[,OU=<ou>],O=FluxMQ Test."""
        if name not in self.certs:
            self._issue(name, issuer, ou=ou)
        return name

    # PEM ---------------------------------------------------------------------
    def cert_pem(self, name: str) -> str:
        return self.certs[name].public_bytes(serialization.Encoding.PEM).decode()

    def chain_pem(self, name: str) -> str:
        """The certificate, then its CA's (what a keystore's chain holds)."""
        issuer = self.issuer(name)
        return self.cert_pem(name) + (self.cert_pem(issuer) if issuer else "")

    def issuer(self, name: str) -> str | None:
        """The name of the CA that signed `name` (None for a CA)."""
        return self.issuers.get(name)

    def key_pem(self, name: str, password: str | None = None) -> str:
        enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
        return self.keys[name].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             enc).decode()

    def write_pem(self, name: str) -> None:
        (self.dir / f"{name}.crt").write_text(self.chain_pem(name))
        (self.dir / f"{name}.key").write_text(self.key_pem(name))

    def crt(self, name: str) -> str:
        return str(self.dir / f"{name}.crt")

    def key(self, name: str) -> str:
        return str(self.dir / f"{name}.key")

    def pem_keystore(self, name: str, password: str | None = None) -> str:
        """One file with the (optionally encrypted) key and the chain: Kafka's PEM ssl.keystore.location."""
        path = self.dir / f"{name}-keystore{'-enc' if password else ''}.pem"
        path.write_text(self.key_pem(name, password) + self.chain_pem(name))
        return str(path)

    # PKCS12 ------------------------------------------------------------------
    def pkcs12_keystore(self, name: str, password: str = STORE_PASSWORD) -> str:
        issuer_chain = [self.certs[self.issuer(name)]] if self.issuer(name) else []
        data = pkcs12.serialize_key_and_certificates(name.encode(), self.keys[name], self.certs[name], issuer_chain,
                                                     serialization.BestAvailableEncryption(password.encode()))
        path = self.dir / f"{name}.p12"
        path.write_bytes(data)
        return str(path)

    def keytool_truststore(self, ca: str = "ca", store_type: str = "PKCS12",
                           password: str = STORE_PASSWORD) -> str:
        """A truststore made by Java's keytool (as Kafka's docs make one)."""
        path = self.dir / f"{ca}-truststore.{store_type.lower()}"
        if not path.exists():
            subprocess.run([keytool(), "-importcert", "-noprompt", "-alias", ca, "-file", str(self.dir / f"{ca}.crt"),
                            "-keystore", str(path), "-storetype", store_type, "-storepass", password],
                           check=True, capture_output=True, timeout=60)
        return str(path)

    def keytool_keystore(self, name: str, store_type: str = "PKCS12", password: str = STORE_PASSWORD) -> str:
        """The PKCS12 keystore converted by keytool (to JKS, or keytool's own PKCS12)."""
        path = self.dir / f"{name}-keytool.{store_type.lower()}"
        if not path.exists():
            subprocess.run([keytool(), "-importkeystore", "-noprompt", "-srckeystore", self.pkcs12_keystore(name),
                            "-srcstoretype", "PKCS12", "-srcstorepass", STORE_PASSWORD, "-destkeystore", str(path),
                            "-deststoretype", store_type, "-deststorepass", password],
                           check=True, capture_output=True, timeout=60)
        return str(path)

    # Python clients ----------------------------------------------------------
    def client_context(self, cert: str | None = None, ca: str = "ca") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.crt(ca))
        if cert:
            ctx.load_cert_chain(self.crt(cert), self.key(cert))
        return ctx


def keytool() -> str:
    path = shutil.which("keytool")
    if path is None:
        raise RuntimeError("keytool (Java) is not on PATH")
    return path
