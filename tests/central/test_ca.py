"""The device CA: certificates for devices' own keys, the index, the CRL, and the ACL text."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from central.ca.acl import AclDevice, render_acl
from central.ca.certs import DEVICE_DAYS
from central.ca.directory import DeviceCA, load_device_public_key
from central.errors import CertificateError
from coalgate.commands.central import central
from coalgate.commands.key import key

NOW_MS = 1_795_000_000_000
DAY_MS = 86_400_000


def new_ca(tmp_path: Path) -> DeviceCA:
    return DeviceCA.init(tmp_path / "ca", issuer="coalgate-central", now_ms=NOW_MS)


def test_init_makes_a_private_key_and_never_overwrites(tmp_path: Path) -> None:
    made = new_ca(tmp_path)
    directory = tmp_path / "ca"
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    before = (directory / "ca.key").read_bytes()

    with pytest.raises(CertificateError, match="never overwritten"):
        new_ca(tmp_path)

    assert (directory / "ca.key").read_bytes() == before
    opened = DeviceCA.open(directory)
    assert opened.certificate == made.certificate
    basic = opened.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca
    assert basic.path_length == 0
    crl = x509.load_pem_x509_crl((directory / "crl.pem").read_bytes())
    assert crl.is_signature_valid(opened.certificate.public_key())
    assert len(crl) == 0


def test_a_device_certificate_certifies_the_devices_own_key(tmp_path: Path) -> None:
    authority = new_ca(tmp_path)
    device_key = Ed25519PrivateKey.generate()

    cert, entry = authority.issue_device(
        device="yl-mine-a-gate-1", site="yl-mine-a", public_key=device_key.public_key(),
        now_ms=NOW_MS,
    )  # fmt: skip

    cert.verify_directly_issued_by(authority.certificate)
    assert cert.public_key() == device_key.public_key()
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in cn] == ["yl-mine-a-gate-1"]
    ou = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ou] == ["yl-mine-a"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    not_after_ms = int(cert.not_valid_after_utc.timestamp() * 1000)
    assert not_after_ms == NOW_MS // 1000 * 1000 + DEVICE_DAYS * DAY_MS
    assert cert.not_valid_before_utc.timestamp() * 1000 < NOW_MS  # back-dated for clock skew
    assert authority.issued() == [entry]
    assert entry.serial == cert.serial_number
    assert (tmp_path / "ca" / "issued" / f"{entry.serial_hex}.pem").read_bytes() == (
        cert.public_bytes(serialization.Encoding.PEM)
    )


def test_a_server_certificate_names_every_host(tmp_path: Path) -> None:
    authority = new_ca(tmp_path)
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert, entry = authority.issue_server(
        hosts=["broker.example", "10.1.2.3"], server_key=server_key.public_key(), now_ms=NOW_MS
    )
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["broker.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert entry.kind == "server"
    cert.verify_directly_issued_by(authority.certificate)


def test_revoking_a_device_puts_all_its_serials_in_a_new_crl(tmp_path: Path) -> None:
    authority = new_ca(tmp_path)
    public = Ed25519PrivateKey.generate().public_key()
    first, _ = authority.issue_device(device="d1", site="s1", public_key=public, now_ms=NOW_MS)
    renewed, _ = authority.issue_device(device="d1", site="s1", public_key=public, now_ms=NOW_MS)
    other, _ = authority.issue_device(device="d2", site="s1", public_key=public, now_ms=NOW_MS)
    number_before = _crl_number(authority)

    newly = authority.revoke(device="d1", now_ms=NOW_MS + 1000)

    assert {e.serial for e in newly} == {first.serial_number, renewed.serial_number}
    crl = x509.load_pem_x509_crl(authority.crl_path.read_bytes())
    assert crl.is_signature_valid(authority.certificate.public_key())
    assert {r.serial_number for r in crl} == {first.serial_number, renewed.serial_number}
    assert crl.get_revoked_certificate_by_serial_number(other.serial_number) is None
    assert _crl_number(authority) > number_before
    assert authority.revoke(device="d1", now_ms=NOW_MS + 2000) == []  # already revoked
    authority.revoke(serial=other.serial_number, now_ms=NOW_MS + 3000)
    assert len(x509.load_pem_x509_crl(authority.crl_path.read_bytes())) == 3
    with pytest.raises(CertificateError, match="no certificate with serial"):
        authority.revoke(serial=12345, now_ms=NOW_MS)


def _crl_number(authority: DeviceCA) -> int:
    crl = x509.load_pem_x509_crl(authority.crl_path.read_bytes())
    value: int = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return value


def test_concurrent_issues_lose_no_index_entry(tmp_path: Path) -> None:
    new_ca(tmp_path)
    public = Ed25519PrivateKey.generate().public_key()

    def issue(n: int) -> None:
        authority = DeviceCA.open(tmp_path / "ca")
        for i in range(5):
            authority.issue_device(device=f"d{n}-{i}", site="s", public_key=public, now_ms=NOW_MS)

    threads = [threading.Thread(target=issue, args=(n,), name=f"issuer-{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(DeviceCA.open(tmp_path / "ca").issued()) == 20


def test_device_keys_must_be_ed25519(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    assert load_device_public_key(pem, source="k") == private.public_key()
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(CertificateError, match="not an Ed25519 key"):
        load_device_public_key(ec_pem, source="k")
    with pytest.raises(CertificateError, match="not a PEM key"):
        load_device_public_key(b"garbage", source="k")
    with pytest.raises(CertificateError, match="no device CA"):
        DeviceCA.open(tmp_path / "nothing")


# --- the ACL ----------------------------------------------------------------------------------

ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True).filter(
    lambda s: not s.startswith("central-")
)


@given(st.lists(st.tuples(ids, ids), max_size=8))
def test_each_device_may_write_only_under_its_own_site(pairs: list[tuple[str, str]]) -> None:
    devices = [AclDevice(site=site, device=device) for site, device in pairs]
    text = render_acl(devices)
    blocks = [b for b in text.split("\n\n") if b.startswith("user ") and "central-" not in b]
    users: dict[str, list[str]] = {}
    for block in blocks:
        lines = block.strip().splitlines()
        users.setdefault(lines[0].removeprefix("user "), []).extend(lines[1:])
    for user, lines in users.items():
        allowed = {f"cg/v1/{d.site}/{d.device}" for d in devices if d.device == user}
        for line in lines:
            topic = line.split()[-1]
            if topic != "cg/v1/central/sth":
                assert topic.rsplit("/", 2)[0] in allowed, (user, line)
            if line.startswith("topic write"):
                assert topic.endswith("/up/#")
    assert "pattern" not in text  # patterns cannot bind the site (acl.py)
    assert render_acl(reversed(devices)) == text  # deterministic: unchanged input, same bytes


@pytest.mark.parametrize(
    ("device", "users"),
    [
        (AclDevice(site="s1", device="d1\ntopic readwrite #"), ("central-service",)),
        (AclDevice(site="s 1", device="d1"), ("central-service",)),
        (AclDevice(site="s1", device="central-x"), ("central-service",)),
        (AclDevice(site="s1", device="d1"), ("d1",)),
    ],
)
def test_the_acl_refuses_ids_that_would_rewrite_it(device: AclDevice, users: tuple[str]) -> None:
    with pytest.raises(CertificateError):
        render_acl([device], central_users=users)


# --- the commands -----------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str, ok: bool = True) -> str:
    env = {"COALGATE_DATA_DIR": str(tmp_path / "data"), "COALGATE_CA_DIR": ""}
    result = CliRunner().invoke(central, list(args), env=env)
    assert (result.exit_code == 0) is ok, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.output


def test_issue_needs_the_enrolled_key_at_the_enrolled_site(tmp_path: Path) -> None:
    keys = str(tmp_path / "keys")
    for device in ("d1", "d2"):
        assert CliRunner().invoke(key, ["new", "--device", device, "--out", keys]).exit_code == 0
    _cli(tmp_path, "enterprise", "add", "--id", "e1", "--name", "E", "--credit-code",
         "91610800MA6Y000A0A", "--land-mu", "1", "--capacity-t", "1")  # fmt: skip
    _cli(tmp_path, "site", "add", "--id", "s1", "--enterprise", "e1", "--kind", "coal_mine",
         "--name", "S")  # fmt: skip
    _cli(tmp_path, "enroll", "--site", "s1", "--device", "d1", "--pubkey", f"{keys}/d1.pub")
    out = str(tmp_path / "d1.crt")

    assert "no device CA" in _cli(tmp_path, "ca", "issue", "--device", "d1", "--key",
                                  f"{keys}/d1.pub", "--out", out, ok=False)  # fmt: skip
    _cli(tmp_path, "ca", "init")
    assert "never overwritten" in _cli(tmp_path, "ca", "init", ok=False)
    refusals = {
        ("d2", "d2.pub", None): "no device 'd2'",
        ("d1", "d2.pub", None): "not the one device d1 enrolled",
        ("d1", "d1.pub", "s2"): "enrolled at s1, not s2",
    }
    for (device, key_file, site), message in refusals.items():
        args = ["ca", "issue", "--device", device, "--key", f"{keys}/{key_file}", "--out", out]
        assert message in _cli(tmp_path, *args, *(["--site", site] if site else []), ok=False)
    assert not Path(out).exists()

    issued = _cli(tmp_path, "ca", "issue", "--device", "d1", "--key", f"{keys}/d1.key",
                  "--out", out)  # fmt: skip
    cert = x509.load_pem_x509_certificate(Path(out).read_bytes())
    assert f"certificate {cert.serial_number:x} for d1 at s1" in issued

    from_registry = tmp_path / "d1-registry.crt"  # no --key: the key the registry holds
    _cli(tmp_path, "ca", "issue", "--device", "d1", "--out", str(from_registry))
    again = x509.load_pem_x509_certificate(from_registry.read_bytes())
    assert again.public_key() == cert.public_key()
    assert again.serial_number != cert.serial_number

    acl = tmp_path / "acl"
    assert "(1 devices)" in _cli(tmp_path, "ca", "acl", "--out", str(acl))
    assert "unchanged" in _cli(tmp_path, "ca", "acl", "--out", str(acl))
    assert "topic write cg/v1/s1/d1/up/#" in acl.read_text()

    revoked = _cli(tmp_path, "revoke", "--device", "d1")
    assert f"{cert.serial_number:x}" in revoked
    assert f"{again.serial_number:x}" in revoked
    crl = x509.load_pem_x509_crl((tmp_path / "data" / "ca" / "crl.pem").read_bytes())
    for serial in (cert.serial_number, again.serial_number):
        assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert "is revoked" in _cli(tmp_path, "ca", "issue", "--device", "d1", "--key",
                                f"{keys}/d1.key", "--out", out, ok=False)  # fmt: skip
    _cli(tmp_path, "ca", "acl", "--out", str(acl))
    assert "d1" not in acl.read_text()
    assert "revoked" in _cli(tmp_path, "ca", "list")


def test_revoke_without_a_ca_only_revokes_in_the_registry(tmp_path: Path) -> None:
    keys = str(tmp_path / "keys")
    assert CliRunner().invoke(key, ["new", "--device", "d1", "--out", keys]).exit_code == 0
    _cli(tmp_path, "enterprise", "add", "--id", "e1", "--name", "E", "--credit-code",
         "91610800MA6Y000A0A", "--land-mu", "1", "--capacity-t", "1")  # fmt: skip
    _cli(tmp_path, "site", "add", "--id", "s1", "--enterprise", "e1", "--kind", "coal_mine",
         "--name", "S")  # fmt: skip
    _cli(tmp_path, "enroll", "--site", "s1", "--device", "d1", "--pubkey", f"{keys}/d1.pub")
    output = _cli(tmp_path, "revoke", "--device", "d1")
    assert output == "device d1 revoked above seq 0\n"
