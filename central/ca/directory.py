"""The device CA on disk: its key, its certificate, an index of what it issued, and its CRL.

Layout of the CA directory (mode 0700; ``coalgate central ca init`` makes it)::

    ca.key        Ed25519, PKCS#8 PEM, mode 0600, created once and never overwritten
    ca.crt        the self-signed CA certificate (the broker's ``cafile``; edges need it too)
    crl.pem       the current CRL (the broker's ``crlfile``), rewritten on every revocation
    index.json    every certificate issued: serial, kind, subject, site, validity, revocation
    issued/       a copy of each certificate, ``<serial hex>.pem``

The index is a file, not a table: the CA may live on another machine than the database, and
revocation needs only the serials. Changes take an exclusive ``flock`` on ``.lock`` and replace
the index atomically (write, fsync, rename), so two commands at once cannot lose an entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from central.ca.certs import (
    CA_DAYS,
    CRL_DAYS,
    DEVICE_DAYS,
    SERVER_DAYS,
    Revoked,
    SubjectKey,
    build_ca_certificate,
    build_crl,
    build_device_certificate,
    build_server_certificate,
)
from central.errors import CertificateError

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CRL = "crl.pem"
INDEX = "index.json"
ISSUED = "issued"
_LOCK = ".lock"

Kind = Literal["device", "server"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """One line of the index."""

    serial: int
    kind: Kind
    subject: str  # the device id, or the server's first host name
    site: str | None
    issued_ms: int
    not_after_ms: int
    revoked_ms: int | None = None

    @property
    def serial_hex(self) -> str:
        return f"{self.serial:x}"

    def to_json(self) -> dict[str, Any]:
        # the serial as hex: 159 bits do not survive JSON readers that use doubles
        return {**asdict(self), "serial": self.serial_hex}

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> IssuedCertificate:
        if item["kind"] not in ("device", "server"):
            raise ValueError(f"unknown kind {item['kind']!r}")
        return cls(
            serial=int(item["serial"], 16),
            kind=cast(Kind, item["kind"]),
            subject=str(item["subject"]),
            site=None if item["site"] is None else str(item["site"]),
            issued_ms=int(item["issued_ms"]),
            not_after_ms=int(item["not_after_ms"]),
            revoked_ms=None if item["revoked_ms"] is None else int(item["revoked_ms"]),
        )


def _pem(value: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return value.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Write a file that must not exist yet, with ``mode`` from its first byte on."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise CertificateError(f"{path} exists; it is never overwritten") from exc
    except OSError as exc:
        raise CertificateError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def load_device_public_key(pem: bytes, *, source: str) -> Ed25519PublicKey:
    """The Ed25519 public key of a device from its private key file (PKCS#8 PEM) or its public
    key file (SubjectPublicKeyInfo PEM): either works, only the public half is used."""
    loaded: object
    try:
        if b"PRIVATE KEY" in pem:
            loaded = serialization.load_pem_private_key(pem, password=None).public_key()
        else:
            loaded = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"{source}: not a PEM key") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise CertificateError(f"{source}: not an Ed25519 key (device keys are Ed25519)")
    return loaded


class DeviceCA:
    """A CA directory opened for use (``init`` makes one, ``open`` opens an existing one)."""

    def __init__(self, directory: Path, *, key: Ed25519PrivateKey, cert: x509.Certificate) -> None:
        self.directory = directory
        self._key = key
        self.certificate = cert

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def init(cls, directory: Path, *, issuer: str, now_ms: int, days: int = CA_DAYS) -> DeviceCA:
        """Make a new CA in ``directory`` (created 0700 if missing). Refuses when a CA key or
        certificate is already there: a CA is made once."""
        for name in (CA_KEY, CA_CERT):
            if (directory / name).exists():
                raise CertificateError(f"{directory / name} exists; a CA is never overwritten")
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            (directory / ISSUED).mkdir(mode=0o755, exist_ok=True)
        except OSError as exc:
            raise CertificateError(f"cannot create {directory}: {exc.strerror}") from exc
        key = Ed25519PrivateKey.generate()
        cert = build_ca_certificate(
            key, issuer=issuer, serial=x509.random_serial_number(), now_ms=now_ms, days=days
        )
        write_new(directory / CA_KEY, private_key_pem(key), mode=0o600)
        write_new(directory / CA_CERT, _pem(cert), mode=0o644)
        ca = cls(directory, key=key, cert=cert)
        with ca._locked():
            ca._write_index([], crl_number=0)
            ca._write_crl_locked(now_ms=now_ms, days=CRL_DAYS)
        return ca

    @classmethod
    def open(cls, directory: Path) -> DeviceCA:
        key_path, cert_path = directory / CA_KEY, directory / CA_CERT
        if not key_path.exists() or not cert_path.exists():
            raise CertificateError(
                f"no device CA in {directory} (make one with `coalgate central ca init`)"
            )
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise CertificateError(f"cannot read the CA in {directory}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey) or key.public_key() != cert.public_key():
            raise CertificateError(f"{key_path} is not the Ed25519 key of {cert_path}")
        return cls(directory, key=key, cert=cert)

    @property
    def crl_path(self) -> Path:
        return self.directory / CRL

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT

    # --- issuing -----------------------------------------------------------------------------

    def issue_device(
        self,
        *,
        device: str,
        site: str,
        public_key: Ed25519PublicKey,
        now_ms: int,
        days: int = DEVICE_DAYS,
    ) -> tuple[x509.Certificate, IssuedCertificate]:
        """A client certificate for the device's own key, recorded in the index."""
        with self._locked():
            serial = self._new_serial()
            cert = build_device_certificate(
                self._key, self.certificate, device=device, site=site, device_key=public_key,
                serial=serial, now_ms=now_ms, days=days,
            )  # fmt: skip
            return cert, self._record(cert, kind="device", subject=device, site=site, now_ms=now_ms)

    def issue_server(
        self, *, hosts: Sequence[str], server_key: SubjectKey, now_ms: int, days: int = SERVER_DAYS
    ) -> tuple[x509.Certificate, IssuedCertificate]:
        """The broker's server certificate for ``hosts``, recorded in the index."""
        with self._locked():
            serial = self._new_serial()
            cert = build_server_certificate(
                self._key, self.certificate, hosts=hosts, server_key=server_key, serial=serial,
                now_ms=now_ms, days=days,
            )  # fmt: skip
            return cert, self._record(
                cert, kind="server", subject=hosts[0], site=None, now_ms=now_ms
            )

    def _new_serial(self) -> int:
        taken = {item.serial for item in self._read_index()[0]}
        while True:
            serial = x509.random_serial_number()
            if serial not in taken:
                return serial

    def _record(
        self, cert: x509.Certificate, *, kind: Kind, subject: str, site: str | None, now_ms: int
    ) -> IssuedCertificate:
        entry = IssuedCertificate(
            serial=cert.serial_number, kind=kind, subject=subject, site=site, issued_ms=now_ms,
            not_after_ms=int(cert.not_valid_after_utc.timestamp() * 1000),
        )  # fmt: skip
        write_new(self.directory / ISSUED / f"{entry.serial_hex}.pem", _pem(cert), mode=0o644)
        entries, number = self._read_index()
        self._write_index([*entries, entry], crl_number=number)
        return entry

    # --- revoking ----------------------------------------------------------------------------

    def issued(self) -> list[IssuedCertificate]:
        return self._read_index()[0]

    def revoke(
        self, *, now_ms: int, device: str | None = None, serial: int | None = None
    ) -> list[IssuedCertificate]:
        """Mark the device's certificates (or the one with ``serial``) revoked and rewrite the
        CRL; returns those newly revoked (none when there were none, or all were already)."""
        if (device is None) == (serial is None):
            raise CertificateError("revoke by device or by serial, one of them")
        with self._locked():
            entries, number = self._read_index()
            if serial is not None and all(e.serial != serial for e in entries):
                raise CertificateError(f"this CA issued no certificate with serial {serial:x}")
            newly: list[IssuedCertificate] = []
            updated: list[IssuedCertificate] = []
            for entry in entries:
                hit = (entry.kind == "device" and entry.subject == device) or entry.serial == serial
                if hit and entry.revoked_ms is None:
                    entry = replace(entry, revoked_ms=now_ms)  # noqa: PLW2901 - the updated line
                    newly.append(entry)
                updated.append(entry)
            self._write_index(updated, crl_number=number)
            self._write_crl_locked(now_ms=now_ms, days=CRL_DAYS)
            return newly

    def write_crl(self, *, now_ms: int, days: int = CRL_DAYS) -> x509.CertificateRevocationList:
        """Sign a new CRL (the next number) over every revoked serial and write ``crl.pem``."""
        with self._locked():
            return self._write_crl_locked(now_ms=now_ms, days=days)

    def _write_crl_locked(self, *, now_ms: int, days: int) -> x509.CertificateRevocationList:
        entries, number = self._read_index()
        revoked = [
            Revoked(serial=e.serial, revoked_ms=e.revoked_ms)
            for e in entries
            if e.revoked_ms is not None
        ]
        crl = build_crl(
            self._key, self.certificate, revoked=revoked, number=number + 1, now_ms=now_ms,
            days=days,
        )  # fmt: skip
        self._write_index(entries, crl_number=number + 1)
        _replace(self.crl_path, _pem(crl))
        return crl

    # --- the index ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_index(self) -> tuple[list[IssuedCertificate], int]:
        path = self.directory / INDEX
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = [IssuedCertificate.from_json(item) for item in data["certificates"]]
            number = int(data["crl_number"])
        except FileNotFoundError:
            return [], 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CertificateError(f"{path} is not a CA index: {exc}") from exc
        return entries, number

    def _write_index(self, entries: list[IssuedCertificate], *, crl_number: int) -> None:
        data = {"crl_number": crl_number, "certificates": [e.to_json() for e in entries]}
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        _replace(self.directory / INDEX, text.encode(), mode=0o600)
