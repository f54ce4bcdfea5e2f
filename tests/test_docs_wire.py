"""docs/wire.md cannot drift from the code: its worked example is rebuilt and its shell runs.

Markers in the doc that this test reads:

- fenced blocks whose info string is ``hex <name>``: hex, with ``#`` comments and whitespace
  ignored; every name must be one of ``EXPECTED_HEX`` and appear once;
- ``pem private-key`` / ``pem public-key``, ``cbor-diag payload`` and ``json record-show``;
- the one ``sh`` block, run with bash in a temporary directory with the venv's ``coalgate``;
- ``<!-- name -->`` HTML comments right before the tables whose first column must list exactly
  the fields (or codes) the code has.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from wire import cbor, cose
from wire.bodies import (
    EventBody,
    EvidenceBody,
    ScaleInfo,
    Stability,
    StatusBody,
    WeighingBody,
)
from wire.errors import (
    HeaderError,
    NonCanonicalError,
    SchemaError,
    SignatureError,
    UndecodableError,
    UnknownKeyError,
)
from wire.jsonform import record_to_json
from wire.keys import KeySet, PublicKey, SigningKey
from wire.plates import PLATE_REASONS
from wire.records import ZERO_HASH, Record, sign_record, verify_record

DOC = Path(__file__).resolve().parents[1] / "docs" / "wire.md"

# The worked example's fixed inputs, exactly as the doc's input table states them.
SEED = bytes(range(32))
KID = "yl-mine-a-gate-1"
SITE = "yl-mine-a"
TS = 1_795_977_600_000
BODY = WeighingBody(
    lane="lane-1",
    direction="out",
    pass_="single",
    plate="陕K12345",
    plate_conf=97,
    plate_source="camera",
    ticket=bytes.fromhex("00112233445566778899aabbccddeeff"),
    gross_kg=49_020,
    tare_kg=15_020,
    net_kg=34_000,
    tare_source="stored",
    axles=6,
    decision="release",
    reasons=("ok",),
    evidence=b"\xee" * 32,
    operator=None,
)

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@functools.cache
def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


@functools.cache
def _blocks() -> tuple[tuple[str, str, str], ...]:
    """Every fenced block as (language, name, body)."""
    found = []
    for match in _FENCE.finditer(_doc()):
        words = match["info"].split()
        language = words[0] if words else ""
        name = words[1] if len(words) > 1 else ""
        found.append((language, name, match["body"]))
    return tuple(found)


def _block(language: str, name: str = "") -> str:
    bodies = [body for lang, nm, body in _blocks() if (lang, nm) == (language, name)]
    assert len(bodies) == 1, f"docs/wire.md needs exactly one ```{language} {name} block"
    return bodies[0]


def _hex_block(name: str) -> bytes:
    """The bytes of a ```hex block: comments after '#' and all whitespace are not content."""
    text = "".join(line.split("#", 1)[0] for line in _block("hex", name).splitlines())
    digits = re.sub(r"\s+", "", text)
    assert re.fullmatch(r"(?:[0-9a-f]{2})+", digits), f"```hex {name} is not lower-case hex bytes"
    return bytes.fromhex(digits)


@functools.cache
def _key() -> SigningKey:
    return SigningKey.from_seed(SEED, kid=KID)


@functools.cache
def _record() -> Record:
    return sign_record(_key(), site=SITE, device=KID, seq=1, prev=ZERO_HASH, ts=TS, body=BODY)


@functools.cache
def _message() -> cose.Sign1:
    return cose.parse_sign1(_record().raw)


def _spki_der() -> bytes:
    return _key().public.key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


EXPECTED_HEX = {
    "seed": lambda: SEED,
    "public-key": lambda: _key().public.raw,
    "public-key-spki": _spki_der,
    "cose-annotated": lambda: _record().raw,
    "cose": lambda: _record().raw,
    "sig-structure": lambda: cose.to_be_signed(_message()),
    "record-id": lambda: _record().id,
}


def test_fenced_blocks_are_the_ones_this_test_checks() -> None:
    hex_names = sorted(name for lang, name, _ in _blocks() if lang == "hex")
    assert hex_names == sorted(EXPECTED_HEX), "every ```hex block must be checked here"
    named = {(lang, name) for lang, name, _ in _blocks() if lang in {"pem", "json", "cbor-diag"}}
    assert named == {
        ("pem", "private-key"),
        ("pem", "public-key"),
        ("json", "record-show"),
        ("cbor-diag", "payload"),
    }
    assert [lang for lang, _, _ in _blocks()].count("sh") == 1


@pytest.mark.parametrize("name", sorted(EXPECTED_HEX))
def test_hex_block_equals_what_the_code_produces(name: str) -> None:
    assert _hex_block(name).hex() == EXPECTED_HEX[name]().hex()


def test_pem_blocks_equal_the_key_files_the_code_writes() -> None:
    assert _block("pem", "private-key") == _key().to_pem().decode()
    assert _block("pem", "public-key") == _key().public.to_pem().decode()


def test_doc_bytes_verify_using_only_the_doc() -> None:
    """A third party holding only this page can check the example with any Ed25519 library."""
    raw = _hex_block("cose")
    public = PublicKey.from_pem(_block("pem", "public-key").encode(), kid=KID)
    record = verify_record(raw, KeySet([public]))
    assert (record.site, record.device, record.seq, record.prev, record.ts) == (
        SITE,
        KID,
        1,
        ZERO_HASH,
        TS,
    )
    assert record.body == BODY
    assert hashlib.sha256(raw).digest() == _hex_block("record-id")
    assert public.raw == _hex_block("public-key")
    # Independently of wire.cose: the signature is the last 64 bytes, over the Sig_structure.
    raw_key = Ed25519PublicKey.from_public_bytes(_hex_block("public-key"))
    raw_key.verify(raw[-64:], _hex_block("sig-structure"))
    assert _hex_block("sig-structure").startswith(b"\x84\x6aSignature1")


def _diag(value: Any) -> str:
    """CBOR diagnostic notation (RFC 8949 §8) for the value types the contract allows."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, list):
        return "[" + ", ".join(_diag(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_diag(k)}: {_diag(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def test_payload_diagnostic_notation_is_the_payload_in_wire_order() -> None:
    decoded = cbor.loads(_message().payload_bytes)  # keeps the order of the bytes
    shown = re.sub(r"\s+", "", _block("cbor-diag", "payload"))
    assert shown == re.sub(r"\s+", "", _diag(decoded))


def test_json_form_is_what_record_show_prints() -> None:
    printed = json.dumps(record_to_json(_record()), ensure_ascii=False, indent=2) + "\n"
    assert _block("json", "record-show") == printed


def test_shell_offsets_point_at_the_parts_they_name() -> None:
    raw = _record().raw
    message = _message()
    protected_at = 2
    protected_len = len(cbor.dumps(message.protected))
    payload_at = protected_at + protected_len + 1  # after the a0 of the unprotected header
    payload_len = len(cbor.dumps(message.payload_bytes))
    assert raw[payload_at + payload_len :] == cbor.dumps(message.signature)
    script = _block("sh")
    cuts = [(int(a), int(b)) for a, b in re.findall(r"skip=(\d+) count=(\d+)", script)]
    assert cuts == [(protected_at, protected_len), (payload_at, payload_len)]
    (seek,) = (int(n) for n in re.findall(r"seek=(\d+)", script))
    assert raw[seek - 4 : seek + 1] == b"\x63seq\x01"
    doc = _doc()
    assert f"offset {protected_at}, {protected_len} bytes long" in doc
    assert f"offset {payload_at}, {payload_len} bytes long" in doc
    assert f"at offset {seek}" in doc
    assert f"{len(raw)} bytes" in doc
    assert f"{len(cose.to_be_signed(message))} bytes" in doc


def _table_rows(marker: str) -> list[list[str]]:
    """The cells of the body rows of the table right after ``<!-- marker -->``."""
    after = _doc().split(f"<!-- {marker} -->\n", 1)
    assert len(after) == 2, f"docs/wire.md lacks <!-- {marker} -->"
    lines = []
    for line in after[1].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    return [line.split("|")[1:-1] for line in lines[2:]]  # after the header and separator


def _table_keys(marker: str) -> list[str]:
    """The backticked first cells of the table right after ``<!-- marker -->``."""
    keys = []
    for row in _table_rows(marker):
        match = re.search(r"`([^`]+)`", row[0])
        assert match, f"row without a backticked key after <!-- {marker} -->: {row}"
        keys.append(match[1])
    return keys


_SAMPLE_BODIES = {
    "weighing": BODY,
    "evidence": EvidenceBody(
        lane="lane-1",
        scale=ScaleInfo(protocol="mt-sics", division_kg=20, capacity_kg=100_000),
        stability=Stability(band_e=1, window_ms=1000),
        readings=((0, 49_020),),
        beams={"front": ((0, True),)},
        plate_reads=(),
        photos=(),
    ),
    "event": EventBody(lane=None, kind="escape", severity="alarm", detail={}, ref=None),
    "status": StatusBody(uptime_s=1, lanes={}, backlog=0, bundle_version=None, version="0.1.0"),
}


@pytest.mark.parametrize("record_type", sorted(_SAMPLE_BODIES))
def test_body_table_lists_exactly_the_body_fields(record_type: str) -> None:
    keys = _table_keys(f"body-table {record_type}")
    assert keys == list(_SAMPLE_BODIES[record_type].to_map())


def test_payload_table_lists_exactly_the_payload_fields() -> None:
    assert _table_keys("payload-table") == list(_record().payload())


def test_reason_code_table_names_each_error_class() -> None:
    classes = (
        UndecodableError,
        NonCanonicalError,
        HeaderError,
        UnknownKeyError,
        SignatureError,
        SchemaError,
    )
    assert _table_keys("reason-codes") == [cls.reason for cls in classes]
    for cls in classes:
        assert f"| `{cls.reason}` | `{cls.__name__}` |" in _doc()
    reasons_column = "".join(row[2] for row in _table_rows("verify-order"))
    order_reasons = set(re.findall(r"`([a-z_]+)`", reasons_column))
    assert order_reasons == {cls.reason for cls in classes}


def test_plate_reason_table_lists_exactly_the_plate_reasons() -> None:
    keys = _table_keys("plate-reasons")
    assert len(keys) == len(set(keys))
    assert set(keys) == PLATE_REASONS


def _coalgate_bin() -> Path:
    beside = Path(sys.executable).parent / "coalgate"
    if beside.exists():
        return beside.parent
    found = shutil.which("coalgate")
    assert found, "the coalgate console script is not installed in this environment"
    return Path(found).parent


def test_shell_block_runs_and_reproduces_the_example() -> None:
    assert shutil.which("openssl"), "docs/wire.md's shell example needs openssl >= 3.0"
    record = _record()
    record_hex = record.id.hex()
    env = {
        **os.environ,
        "PATH": f"{_coalgate_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUTF8": "1",
    }
    with tempfile.TemporaryDirectory(prefix="docs-wire-") as tmp:
        work = Path(tmp)
        script = work / "example.sh"
        script.write_text(_block("sh"), encoding="utf-8")
        done = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", str(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
        out = done.stdout
        assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"
        assert f"wrote example.cose: weighing seq 1, id {record_hex}" in out
        assert _block("json", "record-show") in out
        assert f"example.cose: ok weighing device {KID} seq 1 id {record_hex}" in out
        assert f"{record_hex}  example.cose" in out
        assert "Signature Verified Successfully" in out
        assert "fresh.cose: ok weighing device yl-mine-a-gate-2 seq 1 id " in out
        assert "tampered.cose: bad_signature: " in out
        assert (work / "example.cose").read_bytes() == record.raw
        assert (work / "tbs.bin").read_bytes() == cose.to_be_signed(_message())
        private = work / "keys" / "yl-mine-a-gate-2.key"
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert (work / "keys" / "yl-mine-a-gate-2.pub").is_file()
    assert not work.exists()
