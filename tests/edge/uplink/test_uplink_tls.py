"""``mqtts://``: the uplink presents its client certificate to a Mosquitto listener that
requires one, verifies the broker against the configured CA, and delivers as over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.errors import ConfigError
from edge.journal.store import Journal
from edge.uplink.broker import TlsFiles
from edge.uplink.client import Uplink
from tests.conftest import Mosquitto, free_port, service_missing
from tests.edge.journal.support import DEVICE, SITE, T0, body_for, device_key
from tests.edge.uplink.central_peer import CentralPeer, until
from tests.wire.central_factories import CENTRAL_KEYS

pytestmark = pytest.mark.mosquitto

NOW = dt.datetime.now(dt.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a broker certificate for 127.0.0.1 and a client certificate for the device."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("coalgate test CA"))
        .issuer_name(_name("coalgate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": _write(directory, "ca", ca, ca_key)[0]}
    for name, san in (
        ("broker", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
        ("device", x509.DNSName(DEVICE)),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(DEVICE if name == "device" else "127.0.0.1"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(hours=1))
            .not_valid_after(NOW + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        paths[f"{name}_cert"], paths[f"{name}_key"] = _write(directory, name, cert, key)
    return paths


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, int, dict[str, Path]]]:
    """A broker with a plain listener (for the test central) and a TLS one that requires a
    client certificate (for the edge)."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        service_missing("mosquitto is not installed")
    pki = make_pki(tmp_path)
    tls_port = free_port()
    broker = Mosquitto(
        tmp_path,
        extra_config=(
            # run as root, Mosquitto drops to its own user, which cannot read tmp_path (0700)
            "user root\n"
            f"listener {tls_port} 127.0.0.1\n"
            f"cafile {pki['ca']}\ncertfile {pki['broker_cert']}\nkeyfile {pki['broker_key']}\n"
            "require_certificate true\n"
        ),
    )
    broker.start()
    try:
        yield broker, tls_port, pki
    finally:
        broker.stop()


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_records_flow_over_mutual_tls(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, dict[str, Path]], version: str
) -> None:
    broker, tls_port, pki = tls_broker
    central = CentralPeer(port=broker.port)
    try:
        with Journal.open(tmp_path / "j.db", key=device_key(), site=SITE, device=DEVICE) as journal:
            for number in range(1, 11):
                body = body_for(number)
                journal.append(record_type=body.TYPE, body=body, ts_ms=T0 + number)
            uplink = Uplink(
                journal=journal,
                url=f"mqtts://127.0.0.1:{tls_port}",
                central_keys=CENTRAL_KEYS,
                mqtt_version=version,
                tls=TlsFiles(ca=pki["ca"], cert=pki["device_cert"], key=pki["device_key"]),
                backoff_initial_s=0.05,
                backoff_max_s=0.5,
            )
            task = asyncio.create_task(uplink.run(), name="uplink-tls")
            try:
                await until(lambda: journal.acked_seq == 10, what="10 records acked over TLS")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert set(central.counts) == set(range(1, 11))
    finally:
        central.close()


def test_tls_settings_are_checked_at_construction(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db", key=device_key(), site=SITE, device=DEVICE) as journal:
        with pytest.raises(ConfigError, match="does not exist"):
            Uplink(
                journal=journal,
                url="mqtts://broker.example:8883",
                central_keys=CENTRAL_KEYS,
                tls=TlsFiles(ca=tmp_path / "missing-ca.pem"),
            )
        with pytest.raises(ConfigError, match="needs its key"):
            TlsFiles(cert=tmp_path / "device.crt")
        with pytest.raises(ConfigError, match="mqtt://host:port"):
            Uplink(journal=journal, url="http://broker:1883", central_keys=CENTRAL_KEYS)
