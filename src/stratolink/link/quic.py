"""QUIC configuration for stratolink links: mutual TLS 1.3 with pinned keys, over aioquic.

Both ends present certificates from `stratolink.link.keys`. The balloon (client) trusts only
its ground's self-signed certificate (passed as the sole trust anchor, so aioquic verifies it
during the handshake) and also checks the pin; the ground (server) asks every client for a
certificate and accepts the connection only if its public key matches a known balloon's pin.
"""

from __future__ import annotations

import ssl

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stratolink.link import congestion
from stratolink.link.keys import TlsIdentity, spki_fingerprint
from stratolink.link.quic_internals import peer_certificate, request_client_certificate

ALPN = "stratolink/1"
CONGESTION_ALGORITHM = congestion.NAME  # aioquic's "reno" or "cubic" for comparisons
MAX_DATAGRAM_BYTES = 1350


def _base(identity: TlsIdentity, is_client: bool, idle_timeout: float) -> QuicConfiguration:
    config = QuicConfiguration(
        is_client=is_client, alpn_protocols=[ALPN], idle_timeout=idle_timeout,
        congestion_control_algorithm=CONGESTION_ALGORITHM, max_datagram_size=MAX_DATAGRAM_BYTES,
    )
    config.load_cert_chain(identity.certificate_path, identity.key_path)
    return config


def client_configuration(identity: TlsIdentity, ground_certificate_pem: bytes,
                         server_name: str, idle_timeout: float = 20.0) -> QuicConfiguration:
    """The balloon's side: present `identity`, trust only the ground's certificate."""
    config = _base(identity, True, idle_timeout)
    config.verify_mode = ssl.CERT_REQUIRED
    config.load_verify_locations(cadata=ground_certificate_pem)
    config.server_name = server_name
    return config


def server_configuration(identity: TlsIdentity, idle_timeout: float = 20.0) -> QuicConfiguration:
    """The ground's side: present `identity`; clients are checked against pins after TLS."""
    return _base(identity, False, idle_timeout)


def certificate_pem(identity: TlsIdentity) -> bytes:
    """The identity's certificate as PEM bytes (to give to the other end)."""
    return identity.certificate().public_bytes(serialization.Encoding.PEM)


def _dns_name(certificate: x509.Certificate) -> str:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.DNSName)[0])


def certificate_dns_name(identity: TlsIdentity) -> str:
    """The DNS name in the certificate's SAN (what a client must ask for)."""
    return _dns_name(identity.certificate())


def pem_dns_name(pem: bytes) -> str:
    """The DNS name in a PEM certificate's SAN."""
    return _dns_name(x509.load_pem_x509_certificate(pem))


def pem_pin(pem: bytes) -> str:
    """The SHA-256 pin of a PEM certificate's public key."""
    return spki_fingerprint(x509.load_pem_x509_certificate(pem))


class MutualTlsServerConnection(QuicConnection):
    """A server connection that requests the client's certificate (TLS 1.3 mutual auth).

    aioquic can verify a client certificate but exposes the switch that requests one only on
    its TLS context, so it is set right after the context is created.
    """

    def _initialize(self, peer_cid: bytes) -> None:  # aioquic's hook (see quic_internals)
        super()._initialize(peer_cid)
        request_client_certificate(self)


def peer_fingerprint(connection: QuicConnection) -> str | None:
    """SHA-256 pin of the peer's certificate once the handshake is done (None if none)."""
    certificate = peer_certificate(connection)
    return None if certificate is None else spki_fingerprint(certificate)
