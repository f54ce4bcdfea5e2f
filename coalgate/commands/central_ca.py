"""``coalgate central ca``: the device CA for the broker's TLS (docs/operations.md).

The CA directory is ``COALGATE_CA_DIR``, by default ``<COALGATE_DATA_DIR>/ca``. Device
certificates are issued only for a device enrolled and active in the registry, for the very key
it enrolled, at its enrolled site; revoking a device (``coalgate central revoke``) also revokes
its certificates here and rewrites the CRL when this CA exists.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from central.ca.acl import DEFAULT_CENTRAL_USER, AclDevice, render_acl
from central.ca.certs import CA_DAYS, CRL_DAYS, DEVICE_DAYS, SERVER_DAYS
from central.ca.directory import (
    CA_KEY,
    DeviceCA,
    IssuedCertificate,
    load_device_public_key,
    private_key_pem,
    write_new,
)
from central.config import Settings
from central.errors import CertificateError
from central.store import open_store
from central.store.base import Store


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _settings() -> Settings:
    return Settings.from_env(os.environ)


def ca_directory(env: Mapping[str, str], settings: Settings) -> Path:
    """``COALGATE_CA_DIR``, else ``<data dir>/ca``."""
    given = env.get("COALGATE_CA_DIR")
    return Path(given).resolve() if given else settings.data_dir / "ca"


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.database_url)
    try:
        store.migrate()
        yield store
    finally:
        store.close()


def _date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _publish(data: bytes, out: Path) -> None:
    """Write a file another program reads (the broker) by rename, so it never sees half."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.chmod(0o644)
        tmp.replace(out)
    except OSError as exc:
        raise CertificateError(f"cannot write {out}: {exc.strerror}") from exc


@click.group("ca")
def ca() -> None:
    """The device CA: TLS client certificates for devices, the broker's certificate, the CRL
    and the broker's ACL. Directory: COALGATE_CA_DIR (default <COALGATE_DATA_DIR>/ca)."""


def _context() -> tuple[Settings, Path]:
    settings = _settings()
    return settings, ca_directory(os.environ, settings)


@ca.command("init")
@click.option("--days", type=click.IntRange(365, 36500), default=CA_DAYS, show_default=True)
def ca_init(days: int) -> None:
    """Make the CA: an Ed25519 key (0600) and a self-signed certificate; never overwritten."""
    settings, directory = _context()
    made = DeviceCA.init(directory, issuer=settings.issuer, now_ms=_now_ms(), days=days)
    click.echo(f"device CA made in {directory}")
    click.echo(f"  {made.cert_path}: the broker's cafile, and every edge's ca_file")
    click.echo(f"  {directory / CA_KEY}: the CA key (0600); back it up offline")
    click.echo(f"  {made.crl_path}: the broker's crlfile (empty for now)")


def _check_enrolled(store: Store, *, device: str, site: str | None, key: Ed25519PublicKey) -> str:
    registered = store.get_device(device)  # NotFoundError: one line, "no device …"
    if registered.state != "active":
        raise CertificateError(f"device {device} is {registered.state}; no certificate for it")
    if site is not None and site != registered.site:
        raise CertificateError(f"device {device} is enrolled at {registered.site}, not {site}")
    if key.public_bytes(Encoding.Raw, PublicFormat.Raw) != registered.public_key:
        raise CertificateError(f"that key is not the one device {device} enrolled")
    return registered.site


@ca.command("issue")
@click.option("--device", required=True, help="An enrolled, active device id.")
@click.option("--site", help="Its site (checked against the registry when given).")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The device's public key PEM, or its private key (only the public half is used); it "
    "must be the enrolled key. Default: the key the registry holds for the device.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(1, 3650), default=DEVICE_DAYS, show_default=True)
def ca_issue(device: str, site: str | None, key_file: Path | None, out: Path, days: int) -> None:
    """A TLS client certificate (CN = device id) for the device's enrolled Ed25519 key."""
    settings, directory = _context()
    authority = DeviceCA.open(directory)
    with _store(settings) as store:
        if key_file is None:
            raw = store.get_device(device).public_key
            key = Ed25519PublicKey.from_public_bytes(raw)
        else:
            key = load_device_public_key(key_file.read_bytes(), source=str(key_file))
        enrolled_site = _check_enrolled(store, device=device, site=site, key=key)
    cert, entry = authority.issue_device(
        device=device, site=enrolled_site, public_key=key, now_ms=_now_ms(), days=days
    )
    _publish(cert.public_bytes(Encoding.PEM), out)
    click.echo(
        f"certificate {entry.serial_hex} for {device} at {enrolled_site}, valid until "
        f"{_date(entry.not_after_ms)}: {out}"
    )


@ca.command("server-cert")
@click.option("--host", "hosts", required=True, multiple=True, help="DNS name or IP; repeat.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key-out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the new server key goes (0600; never overwritten).",
)
@click.option(
    "--key-type", type=click.Choice(["ecdsa-p256", "ed25519"]), default="ecdsa-p256",
    show_default=True,
)  # fmt: skip
@click.option("--days", type=click.IntRange(1, 3650), default=SERVER_DAYS, show_default=True)
def ca_server_cert(
    hosts: tuple[str, ...], out: Path, key_out: Path, key_type: str, days: int
) -> None:
    """A new key and TLS server certificate for the broker, for every --host."""
    _, directory = _context()
    authority = DeviceCA.open(directory)
    private: ec.EllipticCurvePrivateKey | Ed25519PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if key_type == "ecdsa-p256"
        else Ed25519PrivateKey.generate()
    )
    write_new(key_out, private_key_pem(private), mode=0o600)
    cert, entry = authority.issue_server(
        hosts=list(hosts), server_key=private.public_key(), now_ms=_now_ms(), days=days
    )
    _publish(cert.public_bytes(Encoding.PEM), out)
    click.echo(
        f"server certificate {entry.serial_hex} for {', '.join(hosts)}, valid until "
        f"{_date(entry.not_after_ms)}: {out} (key {key_out})"
    )


def _crl_line(authority: DeviceCA, out: Path | None) -> str:
    data = authority.crl_path.read_bytes()
    if out is not None:
        _publish(data, out)
    revoked = sum(1 for e in authority.issued() if e.revoked_ms is not None)
    where = f"{authority.crl_path}" + ("" if out is None else f" and {out}")
    return f"CRL with {revoked} revoked certificate(s) written to {where}; reload the broker"


@ca.command("crl")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also copy it here.")
@click.option("--days", type=click.IntRange(1, 365), default=CRL_DAYS, show_default=True)
def ca_crl(out: Path | None, days: int) -> None:
    """Sign a fresh CRL (renew it daily: an expired CRL locks every device out)."""
    _, directory = _context()
    authority = DeviceCA.open(directory)
    crl = authority.write_crl(now_ms=_now_ms(), days=days)
    click.echo(_crl_line(authority, out))
    if crl.next_update_utc is not None:  # build_crl always sets it
        click.echo(f"next update {crl.next_update_utc:%Y-%m-%d %H:%M} UTC")


def _revoked_lines(device: str, newly: list[IssuedCertificate]) -> str:
    if not newly:
        return f"no unrevoked certificate of {device} in the device CA"
    return f"certificate(s) {', '.join(e.serial_hex for e in newly)} of {device} revoked"


@ca.command("revoke")
@click.option("--device", help="Revoke every certificate issued to this device.")
@click.option("--serial", help="Revoke one certificate by its serial (hex).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also copy the CRL.")
def ca_revoke(device: str | None, serial: str | None, out: Path | None) -> None:
    """Revoke certificates and rewrite the CRL (the registry is not changed: to stop a device,
    use `coalgate central revoke`, which does this too)."""
    if (device is None) == (serial is None):
        raise click.UsageError("give --device or --serial")
    number: int | None = None
    if serial is not None:
        try:
            number = int(serial, 16)
        except ValueError:
            raise click.BadParameter(f"{serial!r} is not hex", param_hint="--serial") from None
    _, directory = _context()
    authority = DeviceCA.open(directory)
    newly = authority.revoke(now_ms=_now_ms(), device=device, serial=number)
    click.echo(_revoked_lines(device or f"serial {serial}", newly))
    click.echo(_crl_line(authority, out))


def revoke_device_certificates(device: str, *, now_ms: int) -> str | None:
    """For ``coalgate central revoke``: revoke the device's certificates and rewrite the CRL
    when a device CA exists; the line to show, or None without a CA."""
    settings = _settings()
    directory = ca_directory(os.environ, settings)
    if not (directory / CA_KEY).exists():
        return None
    authority = DeviceCA.open(directory)
    newly = authority.revoke(now_ms=now_ms, device=device)
    return f"{_revoked_lines(device, newly)}; {_crl_line(authority, None)}"


@ca.command("acl")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--central-user", "central_users", multiple=True, default=[DEFAULT_CENTRAL_USER],
    show_default=True, help="The broker username(s) of central's services (central-…).",
)  # fmt: skip
def ca_acl(out: Path, central_users: tuple[str, ...]) -> None:
    """Write the broker's ACL from the registry: each active device may publish only under its
    own site/device. Exit status 0 and "unchanged" when the file already says the same."""
    settings, _ = _context()
    with _store(settings) as store:
        devices = [
            AclDevice(site=d.site, device=d.id) for d in store.list_devices() if d.state == "active"
        ]
    text = render_acl(devices, central_users=central_users).encode()
    if out.exists() and out.read_bytes() == text:
        click.echo(f"{out} unchanged ({len(devices)} devices)")
        return
    _publish(text, out)
    click.echo(f"wrote {out} ({len(devices)} devices); reload the broker")


@ca.command("list")
def ca_list() -> None:
    """Certificates issued: serial, kind, subject, site, valid until, revoked."""
    _, directory = _context()
    for e in DeviceCA.open(directory).issued():
        state = "valid" if e.revoked_ms is None else f"revoked {_date(e.revoked_ms)}"
        click.echo(
            f"{e.serial_hex}  {e.kind:<6}  {e.subject}  {e.site or '-'}  "
            f"until {_date(e.not_after_ms)}  {state}"
        )
