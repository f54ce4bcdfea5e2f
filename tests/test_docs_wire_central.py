"""docs/wire.md's part on central-signed objects cannot drift from the code.

tests/test_docs_wire.py owns the record part's markers (``hex``, ``pem``, ``json``,
``cbor-diag``, the one ``sh`` block). This test owns these, and nothing else in the doc:

- fenced blocks ``hex-central <name>``: hex bytes, with ``#`` comments and whitespace ignored;
  every name must be one of ``EXPECTED_HEX`` and appear once;
- ``json-central jwks``, ``cbor-diag-central ack-reject``, and ``qr-central ticket`` /
  ``qr-central receipt``: QR texts wrapped over several lines (the line breaks are not part
  of the text);
- ``bash-central walkthrough``: run with bash in a temporary directory with the venv's
  ``coalgate`` on PATH, after ``ticket.qr`` and ``receipt.qr`` are written there from the
  ``qr-central`` blocks as shown; its standard output must equal the
  ``text-central walkthrough-output`` block;
- ``<!-- name -->`` HTML comments right before the tables listed in ``TABLES`` and the
  receipt, ticket-order and reason-code tables below.

It also checks that the table of contents lists every section and that every in-page link
resolves.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from wire import cbor, central, cose, merkle, qr, receipts
from wire.acks import Ack, build_ack, verify_ack
from wire.bodies import EventBody, WeighingBody
from wire.bundles import Bundle, BundleTicket, Vehicle, build_bundle, verify_bundle
from wire.certificates import TWO_YEARS_S, Certificate, issue_certificate, verify_certificate
from wire.errors import (
    ExpiredError,
    IssuerError,
    QrError,
    ReceiptError,
    StaleError,
    UnknownCentralKeyError,
    WireError,
)
from wire.keys import KeySet, SigningKey
from wire.keysets import decode_cose_key_set, encode_cose_key_set, jwks, parse_jwks
from wire.merkle import ProofError
from wire.records import Record, sign_record, verify_record
from wire.tickets import (
    CLAIM_NAMES,
    HOURS_48,
    Ticket,
    issue_ticket,
    ticket_from_qr,
    ticket_qr,
    verify_ticket,
)
from wire.treehead import TreeHead, sign_tree_head, verify_tree_head

DOC = Path(__file__).resolve().parents[1] / "docs" / "wire.md"

# The worked example's fixed inputs, exactly as the doc's input table states them.
CENTRAL = SigningKey.from_seed(bytes([1]) * 32, kid="central-20261129")
DEVICE = SigningKey.from_seed(bytes([2]) * 32, kid="yl-shenmu-mine-0012-gate-02")
ISS = "yulin-energy-bureau"
IAT = 1_795_977_600
SITE = "yl-shenmu-mine-0012"
DEST = "yl-fugu-magnesium-0003"
WEIGHED_MS = 1_795_981_200_000
TICKET_ARGS: dict[str, Any] = {
    "iss": ISS,
    "iat": IAT,
    "cti": bytes(range(16)),
    "seller_site": SITE,
    "seller": "yl-shenmu-coal-co-0012",
    "buyer": DEST,
    "plate": "陕K12345",
    "coal": "5500-lump",
    "max_net_kg": 35_000,
    "dest_site": DEST,
    "no": "YL2026112900001",
}
BODY: dict[str, Any] = {
    "lane": "lane-02",
    "direction": "out",
    "pass_": "second",
    "plate": "陕K12345",
    "plate_conf": 96,
    "plate_source": "camera",
    "ticket": bytes(range(16)),
    "gross_kg": 49_020,
    "tare_kg": 15_020,
    "net_kg": 34_000,
    "tare_source": "weighed",
    "axles": 6,
    "decision": "release",
    "reasons": ("ok",),
    "evidence": b"\xcd" * 32,
    "operator": None,
}
# The Certificate Transparency test leaves (RFC 6962 reference vectors).
CT_LEAVES = [
    bytes.fromhex(text)
    for text in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
DOC_ZLIB = re.compile(r"made\s+with\s+zlib\s+(\d+\.\d+\.\d+)\s+at\s+level\s+9")

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


# --- the worked example, rebuilt -----------------------------------------------------------


@functools.cache
def _keys() -> KeySet:
    return KeySet([CENTRAL.public])


@functools.cache
def _ticket() -> Ticket:
    return issue_ticket(CENTRAL, **TICKET_ARGS)


@functools.cache
def _certificate() -> Certificate:
    return issue_certificate(CENTRAL, iss=ISS, device_key=DEVICE.public, site=SITE, iat=IAT)


def _weighing(
    key: SigningKey = DEVICE, *, site: str = SITE, ts: int = WEIGHED_MS, **changes: Any
) -> Record:
    body = WeighingBody(**(BODY | changes))
    return sign_record(
        key, site=site, device=key.kid, seq=4711, prev=b"\xab" * 32, ts=ts, body=body
    )


@functools.cache
def _record() -> Record:
    return _weighing()


def _receipt_text(record: bytes | None = None, ticket: bytes | None = None) -> str:
    return receipts.encode_receipt(
        ticket=_ticket().raw if ticket is None else ticket,
        record=_record().raw if record is None else record,
        certificate=_certificate().raw,
    )


@functools.cache
def _ack() -> Ack:
    return build_ack(CENTRAL, device=DEVICE.kid, seq=4711, ts=WEIGHED_MS + 1000)


@functools.cache
def _reject_ack() -> Ack:
    return build_ack(CENTRAL, device=DEVICE.kid, seq=4711, ts=WEIGHED_MS + 1000, reject="revoked")


@functools.cache
def _bundle() -> Bundle:
    return build_bundle(
        CENTRAL,
        site=SITE,
        version=7,
        ts=IAT * 1000 + 20 * 60 * 1000,
        tickets=[
            BundleTicket(ticket=_ticket(), state="issued", loaded_at=None, source_net_kg=None)
        ],
        revoked=[bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")],
        vehicles={
            "陕K12345": Vehicle(
                axles=6, kind="combination", single_drive=False, tare_kg=15_020, trailer="陕K6789挂"
            )
        },
    )


@functools.cache
def _tree_head() -> TreeHead:
    return sign_tree_head(
        CENTRAL, size=1, root=merkle.leaf_hash(_record().raw), ts=WEIGHED_MS + 60_000
    )


def _payload(raw: bytes) -> Any:
    """A signed object's payload, decoded with its map keys in wire order."""
    return cbor.loads(cose.parse_sign1(raw).payload_bytes)


def _receipt_inner() -> bytes:
    return cbor.dumps([_ticket().raw, _record().raw, _certificate().raw])


def _ct_hashes() -> list[bytes]:
    return [merkle.leaf_hash(leaf) for leaf in CT_LEAVES]


EXPECTED_HEX: dict[str, Callable[[], bytes]] = {
    "central-public-key": lambda: CENTRAL.public.raw,
    "device-public-key": lambda: DEVICE.public.raw,
    "cose-key-set": lambda: encode_cose_key_set(_keys()),
    "ticket-annotated": lambda: _ticket().raw,
    "certificate-annotated": lambda: _certificate().raw,
    "receipt-record": lambda: _record().raw,
    "receipt-record-id": lambda: _record().id,
    "ack-annotated": lambda: _ack().raw,
    "bundle-annotated": lambda: _bundle().raw,
    "tree-head-annotated": lambda: _tree_head().raw,
    "merkle-roots": lambda: b"".join(merkle.root_hash(CT_LEAVES[:n]) for n in (3, 7, 8)),
    "merkle-inclusion": lambda: b"".join(merkle.inclusion_proof(_ct_hashes()[:7], 2)),
    "merkle-consistency": lambda: b"".join(merkle.consistency_proof(_ct_hashes(), 3, 7)),
}
OTHER_BLOCKS = {
    ("json-central", "jwks"),
    ("cbor-diag-central", "ack-reject"),
    ("qr-central", "ticket"),
    ("qr-central", "receipt"),
    ("bash-central", "walkthrough"),
    ("text-central", "walkthrough-output"),
}


# --- reading the doc ------------------------------------------------------------------------


@functools.cache
def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


@functools.cache
def _prose() -> str:
    """The doc with every run of whitespace made one space, for sentences that wrap."""
    return " ".join(_doc().split())


@functools.cache
def _blocks() -> tuple[tuple[str, str, str], ...]:
    found = []
    for match in _FENCE.finditer(_doc()):
        words = match["info"].split()
        found.append((words[0] if words else "", words[1] if len(words) > 1 else "", match["body"]))
    return tuple(found)


def _block(language: str, name: str) -> str:
    bodies = [body for lang, nm, body in _blocks() if (lang, nm) == (language, name)]
    assert len(bodies) == 1, f"docs/wire.md needs exactly one ```{language} {name} block"
    return bodies[0]


def _hex_block(name: str) -> bytes:
    text = "".join(line.split("#", 1)[0] for line in _block("hex-central", name).splitlines())
    digits = re.sub(r"\s+", "", text)
    assert re.fullmatch(r"(?:[0-9a-f]{2})+", digits), f"```hex-central {name} is not hex bytes"
    return bytes.fromhex(digits)


def _qr_block(name: str) -> str:
    lines = _block("qr-central", name).splitlines()
    for line in lines:
        # A space is a Base45 character: one at either end of a line would be lost to an
        # editor trimming whitespace, or be invisible to a reader.
        assert line == line.strip(), f"```qr-central {name}: a line starts or ends with a space"
    return "".join(lines)


def _table_rows(marker: str) -> list[list[str]]:
    after = _doc().split(f"<!-- {marker} -->\n", 1)
    assert len(after) == 2, f"docs/wire.md lacks <!-- {marker} -->"
    lines = []
    for line in after[1].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    assert len(lines) > 2, f"no table after <!-- {marker} -->"
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:]]


def _ticks(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _column(marker: str, index: int) -> list[str]:
    """The first backticked word of column ``index`` of each row of a marked table."""
    found = []
    for row in _table_rows(marker):
        ticks = _ticks(row[index])
        assert ticks, f"<!-- {marker} -->: no backticked value in column {index} of {row}"
        found.append(ticks[0])
    return found


# --- blocks and bytes ------------------------------------------------------------------------


def test_fenced_blocks_are_the_ones_this_test_checks() -> None:
    ours = [(lang, name) for lang, name, _ in _blocks() if lang.endswith("-central")]
    assert len(ours) == len(set(ours)), "a *-central block name is used twice"
    hex_names = {name for lang, name in ours if lang == "hex-central"}
    assert hex_names == set(EXPECTED_HEX), "every ```hex-central block must be checked here"
    assert {pair for pair in ours if pair[0] != "hex-central"} == OTHER_BLOCKS


@pytest.mark.parametrize("name", sorted(EXPECTED_HEX))
def test_hex_block_equals_what_the_code_produces(name: str) -> None:
    assert _hex_block(name).hex() == EXPECTED_HEX[name]().hex()


def _annotated_top_level_claims(name: str) -> list[tuple[int, str]]:
    """``(key, name)`` pairs in the comments of a block's payload lines indented by 3."""
    lines = _block("hex-central", name).splitlines()
    start = next(i for i, line in enumerate(lines) if "[2] payload" in line)
    found = []
    for line in lines[start + 1 :]:
        if line.startswith("   ") and not line.startswith("    "):
            match = re.search(r"# (-?\d+) \((\w+)\)", line)
            if match:
                found.append((int(match[1]), match[2]))
    return found


def test_ticket_annotation_names_every_claim_in_wire_order_with_its_value() -> None:
    payload = _payload(_ticket().raw)
    assert _annotated_top_level_claims("ticket-annotated") == [
        (key, CLAIM_NAMES[key]) for key in payload
    ]
    comments = "".join(
        line.partition("#")[2] for line in _block("hex-central", "ticket-annotated").splitlines()
    )
    for value in payload.values():
        if isinstance(value, str):
            assert json.dumps(value, ensure_ascii=False) in comments
        elif isinstance(value, int):
            assert str(value) in comments


def test_certificate_annotation_names_every_claim_in_wire_order() -> None:
    names = {1: "iss", 2: "sub", 4: "exp", 6: "iat", 8: "cnf", -65600: "site"}
    payload = _payload(_certificate().raw)
    assert _annotated_top_level_claims("certificate-annotated") == [
        (key, names[key]) for key in payload
    ]


def test_the_doc_alone_verifies_every_object() -> None:
    """A third party holding only this page can check every example object."""
    keys = decode_cose_key_set(_hex_block("cose-key-set"))
    assert list(keys) == [CENTRAL.kid]
    assert keys[CENTRAL.kid].raw == _hex_block("central-public-key")
    assert parse_jwks(json.loads(_block("json-central", "jwks")))[CENTRAL.kid].raw == (
        _hex_block("central-public-key")
    )
    ticket_raw = _hex_block("ticket-annotated")
    ticket = verify_ticket(ticket_raw, keys, now_s=IAT + 3600, issuer=ISS)
    assert ticket.exp == IAT + HOURS_48
    certificate = verify_certificate(_hex_block("certificate-annotated"), keys, now_s=IAT)
    assert certificate.key.raw == _hex_block("device-public-key")
    record_raw = _hex_block("receipt-record")
    record = verify_record(record_raw, KeySet([certificate.key]))
    assert record.id == _hex_block("receipt-record-id")
    text = receipts.encode_receipt(
        ticket=ticket_raw, record=record_raw, certificate=_hex_block("certificate-annotated")
    )
    assert receipts.verify_receipt(text, keys).weighing.net_kg == 34_000
    ack = verify_ack(_hex_block("ack-annotated"), keys)
    assert (ack.device, ack.seq, ack.reject) == (DEVICE.kid, 4711, None)
    bundle = verify_bundle(_hex_block("bundle-annotated"), keys, site=SITE, held_version=6)
    assert bundle.tickets[0].ticket.raw == ticket_raw
    head = verify_tree_head(_hex_block("tree-head-annotated"), keys)
    assert (head.size, head.root) == (1, merkle.leaf_hash(record_raw))
    # Independently of wire.cose: Ed25519 over the Sig_structure cut out of the ticket bytes.
    message = cose.parse_sign1(ticket_raw)
    key = Ed25519PublicKey.from_public_bytes(_hex_block("central-public-key"))
    key.verify(ticket_raw[-64:], cose.to_be_signed(message))


def test_jwks_block_is_what_the_code_writes() -> None:
    assert _block("json-central", "jwks") == json.dumps(jwks(_keys()), indent=2) + "\n"


def _diag(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{_diag(k)}:{_diag(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    return json.dumps(value, ensure_ascii=False)


def test_reject_ack_diagnostic_notation_is_its_payload_in_wire_order() -> None:
    shown = re.sub(r"\s+", "", _block("cbor-diag-central", "ack-reject"))
    assert shown == _diag(_payload(_reject_ack().raw))


def test_merkle_blocks_are_proofs_that_verify() -> None:
    roots = _hex_block("merkle-roots")
    root3, root7 = roots[:32], roots[32:64]
    inclusion = _hex_block("merkle-inclusion")
    merkle.verify_inclusion(
        leaf_hash=merkle.leaf_hash(CT_LEAVES[2]),
        index=2,
        tree_size=7,
        proof=[inclusion[i : i + 32] for i in range(0, len(inclusion), 32)],
        root=root7,
    )
    consistency = _hex_block("merkle-consistency")
    merkle.verify_consistency(
        first=3,
        second=7,
        first_root=root3,
        second_root=root7,
        proof=[consistency[i : i + 32] for i in range(0, len(consistency), 32)],
    )
    empty = merkle.EMPTY_ROOT.hex()
    assert f"{empty[:8]}…{empty[-4:]}" in _doc()


# --- QR texts ---------------------------------------------------------------------------------


def test_qr_blocks_hold_the_example_objects() -> None:
    assert ticket_from_qr(_qr_block("ticket")) == _ticket().raw
    assert receipts.split_receipt(_qr_block("receipt")) == (
        _ticket().raw,
        _record().raw,
        _certificate().raw,
    )
    assert len(_qr_block("receipt")) <= receipts.QR_BUDGET


def test_qr_blocks_are_what_this_zlib_writes() -> None:
    """Compressed bytes depend on the zlib build; the doc names the one it was made with."""
    match = DOC_ZLIB.search(_doc())
    assert match, "docs/wire.md must say which zlib made its QR texts"
    if match[1] != zlib.ZLIB_RUNTIME_VERSION:
        pytest.skip(
            f"the doc's QR texts come from zlib {match[1]}, this is {zlib.ZLIB_RUNTIME_VERSION}"
        )
    ticket_text, receipt_text = ticket_qr(_ticket()), _receipt_text()
    assert _qr_block("ticket") == ticket_text
    assert _qr_block("receipt") == receipt_text
    prose = _prose()
    assert f"Its QR text, {len(ticket_text)} characters" in prose
    assert f"zlib at level 9 makes {len(zlib.compress(_receipt_inner(), 9))} bytes" in prose
    assert f"Base45 makes those {len(receipt_text) - 4:,} characters" in prose
    assert f"the receipt's QR text is {len(receipt_text):,} characters" in prose
    assert f"worked example's receipt is {len(receipt_text):,} characters" in prose


def test_base45_example_in_the_prose() -> None:
    assert qr.b45encode(bytes.fromhex("78da")) == "NCF"
    assert zlib.compress(_ticket().raw, 9)[:2] == bytes.fromhex("78da")
    assert 23 + 45 * 12 + 2025 * 15 == 0x78DA
    assert "n = 30938 = 23 + 45·12 + 2025·15, which gives `N`, `C`, `F`" in _prose()
    assert f"`{qr.ALPHABET}`" in _doc()


# --- tables -----------------------------------------------------------------------------------


def _cbor_type(value: Any) -> str:
    if isinstance(value, str):
        return "tstr"
    if isinstance(value, bytes):
        return f"bstr({len(value)})"
    if isinstance(value, dict):
        return "map"
    assert isinstance(value, int)
    assert value >= 0
    return "uint"


def test_ticket_claim_table_is_the_claims_in_wire_order_with_their_types() -> None:
    rows = [
        (int(_ticks(r[0])[0]), _ticks(r[1])[0], _ticks(r[2])[0])
        for r in _table_rows("ticket-claims")
    ]
    payload = _payload(_ticket().raw)
    assert rows == [(key, CLAIM_NAMES[key], _cbor_type(value)) for key, value in payload.items()]
    assert sorted(CLAIM_NAMES) == sorted(payload)
    prose = _prose()
    for key in (-65537, -65545):
        head = cbor.dumps(key)
        assert f"`{head[:1].hex()} {head[1:].hex()}`" in prose


def test_certificate_claim_table_is_the_claims_in_wire_order_with_their_types() -> None:
    rows = [
        (int(_ticks(r[0])[0]), _ticks(r[1])[0], _ticks(r[2])[0])
        for r in _table_rows("certificate-claims")
    ]
    payload = _payload(_certificate().raw)
    assert [(key, kind) for key, _, kind in rows] == [
        (key, _cbor_type(value)) for key, value in payload.items()
    ]
    assert [name for _, name, _ in rows] == ["iss", "sub", "exp", "iat", "cnf", "site"]
    site = cbor.dumps(-65600)
    assert f"\N{MINUS SIGN}65600 is `{site[:1].hex()} {site[1:].hex()}`" in _prose()
    assert TWO_YEARS_S == 730 * 24 * 3600
    assert HOURS_48 == 48 * 3600


def test_cose_key_and_jwk_tables_are_what_the_code_writes() -> None:
    (cose_key,) = cbor.loads(encode_cose_key_set(_keys()))
    assert [int(label) for label in _column("cose-key", 0)] == list(cose_key)
    (jwk,) = jwks(_keys())["keys"]
    assert _column("jwk-members", 0) == list(jwk)


TABLES: dict[str, Callable[[], list[Any]]] = {
    "ack-payload": lambda: list(_payload(_reject_ack().raw)),
    "tree-head-payload": lambda: list(_payload(_tree_head().raw)),
    "bundle-payload": lambda: list(_payload(_bundle().raw)),
    "bundle-ticket": lambda: list(_payload(_bundle().raw)["tickets"][0]),
    "bundle-vehicle": lambda: list(_payload(_bundle().raw)["vehicles"]["陕K12345"]),
}


@pytest.mark.parametrize("marker", sorted(TABLES))
def test_payload_table_lists_the_keys_in_wire_order(marker: str) -> None:
    assert _column(marker, 0) == TABLES[marker]()


def test_extra_fields_in_acks_and_tree_heads_are_refused_as_the_doc_says() -> None:
    ack = central.sign_central(_payload(_ack().raw) | {"note": "x"}, CENTRAL)
    with pytest.raises(WireError) as caught:
        verify_ack(ack, _keys())
    assert caught.value.reason == "schema"
    head = central.sign_central(_payload(_tree_head().raw) | {"note": "x"}, CENTRAL)
    with pytest.raises(WireError) as caught:
        verify_tree_head(head, _keys())
    assert caught.value.reason == "schema"


def test_central_reason_code_table_names_each_error_class() -> None:
    classes = (
        UnknownCentralKeyError,
        IssuerError,
        ExpiredError,
        StaleError,
        ReceiptError,
        QrError,
        ProofError,
    )
    rows = [(_ticks(r[0])[0], _ticks(r[1])[0]) for r in _table_rows("central-reason-codes")]
    assert rows == [(cls.reason, cls.__name__) for cls in classes]
    assert f"`{central.CENTRAL_KID.pattern}`" in _doc()


def test_receipt_layout_table_gives_each_part_its_head_and_size() -> None:
    rows = _table_rows("receipt-layout")
    inner = _receipt_inner()
    assert _ticks(rows[0][0]) == [inner[:1].hex()]
    parts = (_ticket().raw, _record().raw, _certificate().raw)
    for row, part in zip(rows[1:], parts, strict=True):
        head = cbor.dumps(part)[:3]
        assert _ticks(row[0]) == [f"{head[:1].hex()} {head[1:].hex()}"]
        assert f"a byte string of {len(part)} bytes" in row[1]
    assert len(inner) == 1 + sum(3 + len(part) for part in parts)
    assert f"The receipt's CBOR array is {len(inner):,} bytes" in _prose()


def test_sizes_and_limits_in_the_prose() -> None:
    prose = _prose()
    assert f"These are the {len(_ticket().raw)} bytes of the ticket" in prose
    assert f"These are the {len(_certificate().raw)} bytes of the gate's certificate" in prose
    assert f"Its {len(_record().raw)} bytes" in prose
    assert f"It is {len(_ack().raw)} bytes" in prose
    assert f"It is {len(_bundle().raw)} bytes" in prose
    assert f"the {len(_record().raw)} record bytes). It is {len(_tree_head().raw)} bytes" in prose
    key_set = len(encode_cose_key_set(_keys()))
    assert f"COSE_KeySet is {key_set} bytes" in prose
    assert f'the {key_set} bytes of "Key sets"' in prose
    assert f"{qr.TICKET_INFLATE_CAP:,} bytes (4 KiB) for tickets" in prose
    assert f"{qr.RECEIPT_INFLATE_CAP:,} bytes (8 KiB) for receipts" in prose
    assert f"inflates to at most {qr.RECEIPT_INFLATE_CAP:,} bytes" in prose
    assert f"within {receipts.QR_BUDGET:,} characters" in prose
    assert (qr.TICKET_PREFIX, qr.RECEIPT_PREFIX) == ("CT1:", "CR1:")


# --- verification orders ------------------------------------------------------------------------


def _reasons(marker: str, column: int) -> dict[str, set[str]]:
    """Step number -> the backticked reason codes of that row."""
    return {row[0]: set(_ticks(row[column])) for row in _table_rows(marker)}


def _reason_of(action: Callable[[], object]) -> str:
    with pytest.raises(WireError) as caught:
        action()
    return caught.value.reason


def test_ticket_verification_fails_at_each_step_as_the_table_says() -> None:
    keys, raw = _keys(), _ticket().raw
    claims = _payload(raw)
    old_central = SigningKey.from_seed(bytes([9]) * 32, kid="central-20251129")
    by_device = cose.sign1(claims, DEVICE)
    tampered = raw[:-1] + bytes([raw[-1] ^ 1])
    steps: dict[str, Callable[[], object]] = {
        "1": lambda: verify_ticket(raw[:-1], keys, now_s=None),
        "2": lambda: verify_ticket(by_device, KeySet([CENTRAL.public, DEVICE.public]), now_s=None),
        "3": lambda: verify_ticket(issue_ticket(old_central, **TICKET_ARGS).raw, keys, now_s=None),
        "4": lambda: verify_ticket(tampered, keys, now_s=None),
        "5": lambda: verify_ticket(
            central.sign_central(claims | {8: 1}, CENTRAL), keys, now_s=None
        ),
        "6": lambda: verify_ticket(raw, keys, now_s=None, issuer="another-bureau"),
        "7": lambda: verify_ticket(raw, keys, now_s=_ticket().exp),
    }
    table = _reasons("ticket-verify-order", 2)
    assert set(table) == set(steps)
    for step, action in steps.items():
        assert _reason_of(action) in table[step], f"ticket step {step}"
    # The order: the kid before the claims, the signature before the deadline.
    assert (
        _reason_of(lambda: verify_ticket(cose.sign1(claims | {8: 1}, DEVICE), keys, now_s=None))
        == "wrong_issuer"
    )
    assert _reason_of(lambda: verify_ticket(tampered, keys, now_s=_ticket().exp)) == "bad_signature"
    assert verify_ticket(raw, keys, now_s=_ticket().exp - 1).raw == raw


def _required_checks() -> list[str]:
    """The ``.check`` names of verify_receipt's cross-checks, in the order of its source."""
    function = ast.parse(inspect.getsource(receipts.verify_receipt)).body[0]
    assert isinstance(function, ast.FunctionDef)
    names: list[str] = []
    for statement in function.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_require":
                check = node.args[1]
                assert isinstance(check, ast.Constant)
                assert isinstance(check.value, str)
                names.append(check.value)
    return names


def test_receipt_check_table_is_the_code_order() -> None:
    rows = _table_rows("receipt-checks")
    assert [row[0] for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
    checks = [_ticks(row[2])[0] for row in rows if _ticks(row[2])]
    assert checks == _required_checks()


def _check_of(text: str) -> str:
    with pytest.raises(ReceiptError) as caught:
        receipts.verify_receipt(text, _keys())
    return caught.value.check


def test_receipt_cross_checks_fail_with_the_check_the_table_names() -> None:
    exp_ms = _ticket().exp * 1000
    other = SigningKey.from_seed(bytes([3]) * 32, kid="yl-shenmu-mine-0012-gate-03")
    event = sign_record(
        DEVICE, site=SITE, device=DEVICE.kid, seq=4711, prev=b"\xab" * 32, ts=WEIGHED_MS,
        body=EventBody(lane=None, kind="escape", severity="alarm", detail={}, ref=None),
    )  # fmt: skip
    failing = {
        "certificate_validity": _weighing(ts=IAT * 1000 - 1),
        "site": _weighing(site="yl-shenmu-mine-0013"),
        "type": event,
        "ticket": _weighing(ticket=bytes(16)),
        "plate": _weighing(plate="陕K54321"),
        "direction": _weighing(direction="in"),
        "decision": _weighing(decision="hold", reasons=("over_ticket_max",)),
        "net": _weighing(net_kg=None),
        "max_net": _weighing(net_kg=35_001),
        "deadline": _weighing(ts=exp_ms + 1),
    }
    assert set(failing) | {"device"} == set(_required_checks())
    for check, record in failing.items():
        assert _check_of(_receipt_text(record.raw)) == check
    # Step 17 takes the deadline itself; a later check never hides an earlier one.
    assert receipts.verify_receipt(_receipt_text(_weighing(ts=exp_ms).raw), _keys())
    assert _check_of(_receipt_text(_weighing(plate="陕K54321", direction="in").raw)) == "plate"
    # "device" cannot be reached: another device's record stops at step 6 (doc, notes).
    text = _receipt_text(_weighing(other).raw)
    assert _reason_of(lambda: receipts.verify_receipt(text, _keys())) == "unknown_device"


def test_receipt_early_steps_fail_as_the_table_says() -> None:
    table = _reasons("receipt-checks", 3)
    parts = [_ticket().raw, _record().raw, _certificate().raw]
    non_shortest = b"\x83" + b"".join(b"\x5a" + len(p).to_bytes(4, "big") + p for p in parts)
    bad_ticket = parts[0][:-1] + bytes([parts[0][-1] ^ 1])
    bad_record = parts[1][:-1] + bytes([parts[1][-1] ^ 1])
    steps = {
        "1": "CR2:" + _receipt_text()[4:],
        "2": qr.encode_qr(qr.RECEIPT_PREFIX, cbor.dumps(parts[:2])),
        "3": qr.encode_qr(qr.RECEIPT_PREFIX, non_shortest),
        "4": _receipt_text(ticket=bad_ticket),
        "5": qr.encode_qr(qr.RECEIPT_PREFIX, cbor.dumps([parts[0], parts[1], parts[0]])),
        "6": _receipt_text(bad_record),
    }
    expected = {"1": "bad_qr", "2": "undecodable", "3": "non_canonical", "4": "bad_signature"}
    expected |= {"5": "schema", "6": "bad_signature"}
    for step, text in steps.items():
        reason = _reason_of(functools.partial(receipts.verify_receipt, text, _keys()))
        assert reason == expected[step], f"receipt step {step}"
        if step in {"1", "2", "3"}:  # later rows point at the tickets', certificates' tables
            assert table[step] == {reason}, f"receipt step {step}"


def test_bundle_refuses_a_version_not_above_the_held_one() -> None:
    raw = _bundle().raw
    assert verify_bundle(raw, _keys(), site=SITE, held_version=None).version == 7
    assert _reason_of(lambda: verify_bundle(raw, _keys(), site=SITE, held_version=7)) == "stale"
    assert _reason_of(lambda: verify_bundle(raw, _keys(), site=DEST, held_version=None)) == "schema"


# --- the table of contents ----------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_contents_lists_every_section_and_every_link_resolves() -> None:
    doc = _doc()
    outside_fences = _FENCE.sub("", doc)
    sections = re.findall(r"^## (.+)$", outside_fences, re.MULTILINE)
    contents = doc.split("Contents:\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^(\d+)\. \[(.+)\]\(#([^)]+)\)$", contents, re.MULTILINE)
    assert [int(number) for number, _, _ in listed] == list(range(1, len(listed) + 1))
    assert [title for _, title, _ in listed] == sections
    assert [anchor for _, _, anchor in listed] == [_slug(title) for title in sections]
    anchors: list[str] = []
    for heading in re.findall(r"^#{1,4} (.+)$", outside_fences, re.MULTILINE):
        slug = _slug(heading)
        repeats = sum(1 for anchor in anchors if re.fullmatch(rf"{re.escape(slug)}(-\d+)?", anchor))
        anchors.append(f"{slug}-{repeats}" if repeats else slug)  # GitHub numbers repeats
    for target in re.findall(r"\]\(#([^)]+)\)", outside_fences):
        assert target in anchors, f"link to #{target}, which no heading makes"


# --- the CLI walkthrough ------------------------------------------------------------------------


def _coalgate_dir() -> Path:
    beside = Path(sys.executable).parent / "coalgate"
    if beside.exists():
        return beside.parent
    found = shutil.which("coalgate")
    assert found, "the coalgate console script is not installed in this environment"
    return Path(found).parent


def test_walkthrough_runs_and_prints_what_the_doc_shows() -> None:
    env = {
        **os.environ,
        "PATH": f"{_coalgate_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUTF8": "1",
    }
    with tempfile.TemporaryDirectory(prefix="docs-wire-central-") as tmp:
        work = Path(tmp)
        for name in ("ticket", "receipt"):
            (work / f"{name}.qr").write_text(_block("qr-central", name), encoding="utf-8")
        script = work / "walkthrough.sh"
        script.write_text(_block("bash-central", "walkthrough"), encoding="utf-8")
        done = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", str(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
        assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        assert done.stdout == _block("text-central", "walkthrough-output")
        assert json.loads((work / "keys.json").read_text(encoding="utf-8")) == jwks(_keys())
        assert (work / "keys.cbor").read_bytes() == encode_cose_key_set(_keys())
        pem = (work / "yl-shenmu-mine-0012-gate-02.pub").read_bytes()
        assert pem == DEVICE.public.to_pem()
    assert not work.exists()
    commands = _block("bash-central", "walkthrough")
    assert re.search(r"^coalgate receipt verify .* --keys keys\.json$", commands, re.MULTILINE)
    assert re.search(r"coalgate ticket decode - --keys keys\.cbor ", commands)
    printed = done.stdout
    assert f"(record {_record().id.hex()})" in printed
    assert f"signature: ok (central key {CENTRAL.kid})" in printed
    assert (
        f"receipt: FAILED: unknown_central_key: ticket: central key '{CENTRAL.kid}' "
        "is not in the key set given" in printed
    )
