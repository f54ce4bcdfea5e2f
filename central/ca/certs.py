"""X.509 for the broker's TLS: the device CA's certificate, device and server certificates,
and the CRL. Pure: keys, serials and the time (``now_ms``) are arguments; nothing is read or
written here (``central.ca.directory`` keeps the files).

Device certificates certify the device's own Ed25519 key (WIRE.md "Device identity": the key is
made on the device and never leaves it) with subject CN = the device id, so that Mosquitto's
``use_identity_as_username`` makes the device id the MQTT username that the ACL names. The CA
key is Ed25519 too; the broker's server key may be Ed25519 or ECDSA P-256 (both verified with
Mosquitto 2.0.11 on OpenSSL 3.0 and paho on Python's ssl, docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
DEVICE_DAYS = 730  # as the device certificate (CWT) central issues at enrollment
SERVER_DAYS = 825
CRL_DAYS = 30  # a CRL past its next update makes OpenSSL refuse every client: renew daily
SKEW = dt.timedelta(hours=1)  # not-before is back-dated: clocks at a gate may run behind

SubjectKey = CertificatePublicKeyTypes


def _time(now_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).replace(microsecond=0)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def ca_name(issuer: str) -> x509.Name:
    """The CA's subject: central's name (COALGATE_ISSUER) and what the CA is for."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, issuer),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer} device CA"),
        ]
    )


def build_ca_certificate(
    key: Ed25519PrivateKey, *, issuer: str, serial: int, now_ms: int, days: int = CA_DAYS
) -> x509.Certificate:
    """The CA's self-signed certificate: it may sign end-entity certificates and CRLs only
    (path length 0)."""
    name = ca_name(issuer)
    now = _time(now_ms)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(now - SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, None)
    )


def _leaf(
    ca_key: Ed25519PrivateKey,
    ca_cert: x509.Certificate,
    *,
    subject: x509.Name,
    public_key: SubjectKey,
    serial: int,
    now_ms: int,
    days: int,
    usage: x509.ObjectIdentifier,
) -> x509.CertificateBuilder:
    now = _time(now_ms)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )


def build_device_certificate(
    ca_key: Ed25519PrivateKey,
    ca_cert: x509.Certificate,
    *,
    device: str,
    site: str,
    device_key: Ed25519PublicKey,
    serial: int,
    now_ms: int,
    days: int = DEVICE_DAYS,
) -> x509.Certificate:
    """A TLS client certificate for ``device_key``: CN = device id (the MQTT username under
    ``use_identity_as_username``), OU = site id (informational; the broker's ACL binds the
    site, from the registry)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site),
            x509.NameAttribute(NameOID.COMMON_NAME, device),
        ]
    )
    builder = _leaf(
        ca_key, ca_cert, subject=subject, public_key=device_key, serial=serial, now_ms=now_ms,
        days=days, usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )  # fmt: skip
    return builder.sign(ca_key, None)


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def build_server_certificate(
    ca_key: Ed25519PrivateKey,
    ca_cert: x509.Certificate,
    *,
    hosts: Sequence[str],
    server_key: SubjectKey,
    serial: int,
    now_ms: int,
    days: int = SERVER_DAYS,
) -> x509.Certificate:
    """The broker's TLS server certificate for ``hosts`` (DNS names or IP addresses, all in
    the subject alternative name, which is what clients check)."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    builder = _leaf(
        ca_key, ca_cert, subject=subject, public_key=server_key, serial=serial, now_ms=now_ms,
        days=days, usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )  # fmt: skip
    names = x509.SubjectAlternativeName([_alt_name(h) for h in hosts])
    return builder.add_extension(names, critical=False).sign(ca_key, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoked:
    serial: int
    revoked_ms: int


def build_crl(
    ca_key: Ed25519PrivateKey,
    ca_cert: x509.Certificate,
    *,
    revoked: Iterable[Revoked],
    number: int,
    now_ms: int,
    days: int = CRL_DAYS,
) -> x509.CertificateRevocationList:
    """The CA's CRL listing ``revoked``; valid for ``days`` (renew it well before)."""
    now = _time(now_ms)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    for item in sorted(revoked, key=lambda r: r.serial):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(item.serial)
            .revocation_date(_time(item.revoked_ms))
            .build()
        )
    return builder.sign(ca_key, None)
