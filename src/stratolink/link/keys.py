"""Keys: operators' Ed25519 signing keys and the TLS identities of balloons and grounds.

TLS identities are self-signed X.509 certificates on EC P-256 keys; peers are pinned by the
SHA-256 of the certificate's SubjectPublicKeyInfo (as in HPKP), so no certificate authority is
involved and a peer with any other key is refused. Private keys are written with mode 0600
and never overwritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from stratolink.errors import CallerError, InvalidParameterError, StratolinkError

KINDS = ("operator", "balloon", "ground")
DEFAULT_KEY_DIR = Path("stratolink-keys")


class KeyFileError(CallerError):
    """A key that is missing, unreadable or of the wrong type."""


def spki_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 (hex) of the certificate's public key info: what peers pin."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def public_key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of an operator's raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class TlsIdentity:
    """A node's TLS certificate and private key (PEM files) and its pin."""

    name: str
    certificate_path: Path
    key_path: Path

    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.certificate_path.read_bytes())

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's public key info."""
        return spki_fingerprint(self.certificate())


@dataclass(frozen=True)
class KeyInfo:
    """One entry of a key ring, for listings."""

    name: str
    kind: str
    fingerprint: str
    created: dt.datetime
    path: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _check_name(name: str) -> str:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name) \
            or name.startswith("."):
        raise InvalidParameterError(
            f"key name {name!r}: use 1-64 letters, digits, '-', '_' or '.'")
    return name


class KeyRing:
    """A directory of keys: `NAME.operator.key/.pub`, `NAME.balloon.key/.crt`, `NAME.ground...`."""

    def __init__(self, directory: str | Path = DEFAULT_KEY_DIR) -> None:
        self.directory = Path(directory)

    def _paths(self, name: str, kind: str) -> tuple[Path, Path]:
        if kind not in KINDS:
            raise InvalidParameterError(f"unknown key kind {kind!r}: use {', '.join(KINDS)}")
        stem = f"{_check_name(name)}.{kind}"
        public = f"{stem}.pub" if kind == "operator" else f"{stem}.crt"
        return self.directory / f"{stem}.key", self.directory / public

    def generate(self, name: str, kind: str) -> KeyInfo:
        """Create a new key of `kind` called `name`; refuses to overwrite an existing one."""
        private_path, public_path = self._paths(name, kind)
        if private_path.exists() or public_path.exists():
            raise InvalidParameterError(f"a {kind} key named {name!r} already exists in "
                                        f"{self.directory}; refusing to overwrite it")
        self.directory.mkdir(parents=True, exist_ok=True)
        if kind == "operator":
            key = Ed25519PrivateKey.generate()
            _write_private(private_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            public_path.write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        else:
            tls_key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{kind}/{name}")])
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(tls_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{name}.{kind}")]),
                               critical=False)
                .sign(tls_key, hashes.SHA256())
            )
            _write_private(private_path, tls_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            public_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return self.info(name, kind)

    def info(self, name: str, kind: str) -> KeyInfo:
        """What is known about one key."""
        private_path, public_path = self._paths(name, kind)
        if not public_path.exists():
            raise KeyFileError(f"no {kind} key named {name!r} in {self.directory}")
        created = dt.datetime.fromtimestamp(public_path.stat().st_mtime, dt.UTC)
        if kind == "operator":
            fingerprint = public_key_fingerprint(self.operator_public_key(name))
        else:  # the certificate alone: a ground holds balloons' certificates, not their keys
            fingerprint = spki_fingerprint(self.certificate(name, kind))
        return KeyInfo(name, kind, fingerprint, created, public_path)

    def list(self) -> list[KeyInfo]:
        """Every key in the ring, by kind then name."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            parts = path.name.split(".")
            if len(parts) >= 3 and parts[-2] in KINDS and parts[-1] in ("pub", "crt"):
                try:
                    found.append(self.info(".".join(parts[:-2]), parts[-2]))
                except (StratolinkError, ValueError):
                    continue  # unreadable entries are skipped, not fatal to a listing
        return sorted(found, key=lambda k: (KINDS.index(k.kind), k.name))

    def operator_private_key(self, name: str) -> Ed25519PrivateKey:
        """An operator's signing key."""
        private_path, _ = self._paths(name, "operator")
        try:
            key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot read operator key {private_path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{private_path} is not an Ed25519 key")
        return key

    def operator_public_key(self, name: str) -> Ed25519PublicKey:
        """An operator's verification key."""
        _, public_path = self._paths(name, "operator")
        try:
            key = serialization.load_pem_public_key(public_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot read operator public key {public_path}: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{public_path} is not an Ed25519 public key")
        return key

    def certificate(self, name: str, kind: str) -> x509.Certificate:
        """A balloon's or ground's certificate alone (what the other end pins); its private
        key need not be in this ring."""
        if kind == "operator":
            raise InvalidParameterError("operators have signing keys, not certificates")
        _, cert_path = self._paths(name, kind)
        try:
            return x509.load_pem_x509_certificate(cert_path.read_bytes())
        except FileNotFoundError as exc:
            raise KeyFileError(f"no {kind} certificate named {name!r} in "
                               f"{self.directory}") from exc
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot read certificate {cert_path}: {exc}") from exc

    def certificate_pem(self, name: str, kind: str) -> bytes:
        """The certificate of `certificate` as PEM bytes (checked to parse)."""
        return self.certificate(name, kind).public_bytes(serialization.Encoding.PEM)

    def tls_identity(self, name: str, kind: str) -> TlsIdentity:
        """A balloon's or ground's certificate and key."""
        if kind == "operator":
            raise InvalidParameterError("operators have signing keys, not TLS identities")
        private_path, cert_path = self._paths(name, kind)
        if not (private_path.exists() and cert_path.exists()):
            raise KeyFileError(f"no {kind} TLS identity named {name!r} in {self.directory}")
        try:
            identity = TlsIdentity(name, cert_path, private_path)
            identity.certificate()
        except ValueError as exc:
            raise KeyFileError(f"cannot read certificate {cert_path}: {exc}") from exc
        return identity

    def import_operator_public_key(self, name: str, raw: bytes) -> Path:
        """Write an operator's raw Ed25519 public key as NAME.operator.pub, the file a balloon
        trusts (an operator created on the ground exports this way). The same key again is a
        no-op; a different key under an existing name is refused."""
        _, public_path = self._paths(name, "operator")
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes(raw))
        except ValueError as exc:
            raise KeyFileError(f"operator {name!r}: not an Ed25519 public key") from exc
        pem = key.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        if public_path.exists():
            if public_path.read_bytes() == pem:
                return public_path
            raise InvalidParameterError(f"{public_path} holds another key; refusing to "
                                        "overwrite it")
        self.directory.mkdir(parents=True, exist_ok=True)
        public_path.write_bytes(pem)
        return public_path
