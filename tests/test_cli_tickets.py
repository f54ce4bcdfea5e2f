"""``coalgate ticket decode`` and ``coalgate receipt verify``, run as a checkpoint officer would."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.test_cli_wire import COALGATE
from tests.wire import factories
from wire.certificates import issue_certificate
from wire.keys import KeySet, SigningKey
from wire.keysets import encode_cose_key_set, jwks
from wire.receipts import encode_receipt
from wire.records import sign_record
from wire.tickets import issue_ticket, ticket_qr

CENTRAL = SigningKey.from_seed(b"\x01" * 32, kid="central-20261129")
DEVICE = SigningKey.from_seed(b"\x02" * 32, kid="yl-shenmu-mine-0012-gate-02")
SITE = "yl-shenmu-mine-0012"
ISSUED = 1_795_977_600
TICKET = issue_ticket(
    CENTRAL,
    iss="yulin-energy-bureau",
    iat=ISSUED,
    cti=bytes(range(16)),
    seller_site=SITE,
    seller="yl-shenmu-coal-co-0012",
    buyer="yl-fugu-magnesium-0003",
    plate="陕K12345",
    coal="5500-lump",
    max_net_kg=35_000,
    dest_site="yl-fugu-magnesium-0003",
    no="YL2026112900001",
)
CERTIFICATE = issue_certificate(
    CENTRAL, iss="yulin-energy-bureau", device_key=DEVICE.public, site=SITE, iat=ISSUED
)


def receipt(**weighing: object) -> str:
    body = factories.weighing(ticket=TICKET.cti, lane="lane-02", **weighing)
    record = sign_record(
        DEVICE, site=SITE, device=DEVICE.kid, seq=4711, prev=os.urandom(32),
        ts=(ISSUED + 3600) * 1000, body=body,
    )  # fmt: skip
    return encode_receipt(ticket=TICKET.raw, record=record.raw, certificate=CERTIFICATE.raw)


def run(*args: str, ok: bool, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [COALGATE, *args], capture_output=True, text=True, timeout=60, input=stdin, check=False
    )
    assert (result.returncode == 0) is ok, result
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(params=["jwks", "cose", "pem"])
def central_keys(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    keys = KeySet([CENTRAL.public])
    if request.param == "jwks":
        path = tmp_path / "keys.json"
        path.write_text(json.dumps(jwks(keys)))
    elif request.param == "cose":
        path = tmp_path / "keys.cbor"
        path.write_bytes(encode_cose_key_set(keys))
    else:
        path = tmp_path / f"{CENTRAL.kid}.pub"
        path.write_bytes(CENTRAL.public.to_pem())
    return path


def test_decode_without_keys_shows_claims_unverified() -> None:
    result = run("ticket", "decode", ticket_qr(TICKET), "--now", str(ISSUED), ok=True)
    claims = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert claims["plate"] == "陕K12345"
    assert claims["cti"] == TICKET.id
    assert "signature: not checked" in result.stdout
    assert "(open at 2026-11-29" in result.stdout


def test_decode_with_each_key_set_format(central_keys: Path) -> None:
    result = run("ticket", "decode", ticket_qr(TICKET), "--keys", str(central_keys), ok=True)
    assert "signature: ok (central key central-20261129)" in result.stdout


def test_decode_from_stdin_reports_a_passed_deadline() -> None:
    late = str(TICKET.exp + 1)
    result = run("ticket", "decode", "-", "--now", late, ok=True, stdin=ticket_qr(TICKET) + "\n")
    assert "(passed at" in result.stdout


def test_decode_with_the_wrong_keys_fails(tmp_path: Path) -> None:
    other = SigningKey.from_seed(b"\x03" * 32, kid="central-20261129")
    (tmp_path / "central-20261129.pub").write_bytes(other.public.to_pem())
    result = run("ticket", "decode", ticket_qr(TICKET), "--keys", str(tmp_path), ok=False)
    assert "signature: FAILED: bad_signature" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CR1:ABC", "expected QR text starting 'CT1:'"),
        ("CT1:abc", "not a Base45 character"),
        ("CT1:" + "A" * 4, "cannot be complete"),
    ],
)
def test_bad_ticket_text_gets_one_clear_line(text: str, message: str) -> None:
    result = run("ticket", "decode", text, ok=False)
    assert message in result.stderr


def test_receipt_verifies_with_each_key_set_format(central_keys: Path) -> None:
    result = run("receipt", "verify", receipt(), "--keys", str(central_keys), ok=True)
    assert result.stdout.startswith("receipt: ok — ticket YL2026112900001")
    assert "net 34000 kg of max 35000 kg" in result.stdout


@pytest.mark.parametrize(
    ("weighing", "check"),
    [
        ({"net_kg": 36_000}, "max_net"),
        ({"net_kg": -5}, "net"),
        ({"decision": "hold", "reasons": ("overload_gross",)}, "decision"),
        ({"plate": "陕K54321"}, "plate"),
        ({"direction": "in"}, "direction"),
    ],
)
def test_receipt_failures_name_the_check(
    central_keys: Path, weighing: dict[str, object], check: str
) -> None:
    result = run("receipt", "verify", receipt(**weighing), "--keys", str(central_keys), ok=False)
    assert result.stdout.startswith(f"receipt: FAILED ({check}): receipt_mismatch")


def test_receipt_with_a_device_key_as_central_key_fails(tmp_path: Path) -> None:
    (tmp_path / f"{DEVICE.kid}.pub").write_bytes(DEVICE.public.to_pem())
    result = run("receipt", "verify", receipt(), "--keys", str(tmp_path), ok=False)
    assert "unknown_central_key" in result.stdout
