"""Fuzzing every decoder that takes bytes or text from outside (issue 14).

The property, everywhere: a decoder returns a value or raises its module's documented error
type, never anything else; and a *signed* input that was mutated is never accepted as valid
unless it came out unchanged. Unit-level properties live beside each module (tests/wire/
test_qr.py, test_records.py, tests/edge/test_properties.py, test_camera_reads.py,
test_site_config.py …); this file fills what they leave open:

- central's ingest decision (``check_record_message``) on any topic and bytes, on mutated
  valid records, and on validly signed arbitrary payloads; the ``up/status`` parser;
- every central-signed object (ack, bundle, ticket, certificate, tree head) under byte
  mutations — insertions, deletions, truncations, splices, not only bit flips;
- ticket (``CT1:``) and receipt (``CR1:``) QR texts mutated character by character, and any
  text at all;
- the scale frame parsers *through* the kilogram conversion, Modbus register decoding through
  the same conversion, register-map tables, camera pushes and site files mutated byte-wise.

Budgets: each test sets its examples for the quick profile (the file runs in well under a
minute, some 9 000 cases); ``COALGATE_FUZZ=long`` (or ``COALGATE_FUZZ_EXAMPLES=N``) scales
every budget by the profile's examples / 100, which makes this file the long-run fuzzer
(``COALGATE_FUZZ=long pytest tests/reliability/test_fuzz.py``: 50 x the cases).
fuzz/targets.py runs the same decoders under atheris, coverage-guided.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from central.ingest.check import Accepted, DeviceView, Refused, check_record_message
from central.ingest.worker import parse_status
from edge.camera.reads import PUSH_REASONS, PlateRead, default_cameras, parse_push
from edge.config import SiteConfig, load_site_config
from edge.errors import CameraPushError, ConfigError, ConversionError, FrameError, SiteConfigError
from edge.modbus.regmap import RegisterMap, decode, map_from_table
from edge.scale.convert import Converter
from edge.scale.modbus_driver import reading_from_sample
from edge.scale.readings import Reading, SicsErrorReply, SicsReply
from tests.edge.test_properties import CASES, Case, streams
from tests.edge.test_regmap import maps
from tests.edge.test_site_config import make_site
from tests.wire import central_factories as cf
from tests.wire import factories
from wire import qr
from wire.acks import build_ack, verify_ack
from wire.bundles import BundleTicket, build_bundle, verify_bundle
from wire.certificates import verify_certificate
from wire.errors import WireError
from wire.receipts import encode_receipt, split_receipt, verify_receipt
from wire.records import Record
from wire.tickets import ticket_from_qr, ticket_qr, verify_ticket
from wire.topics import record_topic
from wire.treehead import sign_tree_head, verify_tree_head

_PROFILE_EXAMPLES = settings().max_examples  # 100 by default; the long profile's otherwise
if _PROFILE_EXAMPLES > 100:  # a long run: minutes per test, past the suite's 120 s timeout
    pytestmark = [pytest.mark.timeout(0)]


def budget(examples: int) -> settings:
    """``@settings`` for a test worth ``examples`` cases in the quick profile, scaled by the
    loaded profile (COALGATE_FUZZ=long, COALGATE_FUZZ_EXAMPLES)."""
    return settings(
        max_examples=max(1, examples * _PROFILE_EXAMPLES // 100),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


T = TypeVar("T")
E = TypeVar("E", bound=Exception)


def attempt(call: Callable[[], T], error: type[E]) -> T | E:
    """What ``call`` returns, or the ``error`` it raised; any other exception propagates (and
    fails the test: that is the property)."""
    try:
        return call()
    except error as exc:
        return exc


# --- mutations ---------------------------------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, others: Sequence[bytes] = ()) -> bytes:
    """``data`` with one to four edits: a bit flipped, a byte set, bytes inserted, deleted,
    duplicated, the end cut or extended, a piece of another message spliced in."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["flip", "set", "insert", "delete", "dup", "cut", "extend", "splice"])
        )
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and out:
            del out[at : at + draw(st.integers(1, 8))]
        elif kind == "dup" and out:
            out[at:at] = out[at : at + draw(st.integers(1, 16))]
        elif kind == "cut":
            del out[at:]
        elif kind == "extend":
            out += draw(st.binary(min_size=1, max_size=8))
        elif kind == "splice" and others:
            other = draw(st.sampled_from(others))
            start = draw(st.integers(0, max(len(other) - 1, 0)))
            piece = other[start : start + draw(st.integers(1, 40))]
            out[at : at + draw(st.integers(0, 16))] = piece
    return bytes(out)


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to three character edits (Base45 characters mostly, any sometimes)."""
    chars = list(text)
    alphabet = st.sampled_from(qr.ALPHABET) | st.characters() | st.sampled_from("abcz\n\t ")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "insert", "delete", "swap", "cut", "lower"]))
        at = draw(st.integers(0, max(len(chars) - 1, 0)))
        if kind == "set" and chars:
            chars[at] = draw(alphabet)
        elif kind == "insert":
            chars.insert(at, draw(alphabet))
        elif kind == "delete" and chars:
            del chars[at]
        elif kind == "swap" and at + 1 < len(chars):
            chars[at], chars[at + 1] = chars[at + 1], chars[at]
        elif kind == "cut":
            del chars[at:]
        elif kind == "lower" and chars:
            chars[at] = chars[at].lower()
    return "".join(chars)


# --- central: the ingest decision ----------------------------------------------------------------

KEY = factories.device_key()
SITE, DEVICE = factories.SITE, factories.DEVICE
TOPIC = record_topic(SITE, DEVICE)
CHAIN: list[Record] = factories.chain(KEY, 4)  # one record of each type
POOL = [r.raw for r in CHAIN]
VIEW = DeviceView.of(device=DEVICE, site=SITE, public_key=KEY.public.raw, revoked_above_seq=None)
DEVICES = {DEVICE: VIEW}
QUARANTINE_REASONS = {
    "undecodable",
    "non_canonical",
    "bad_header",
    "unknown_device",
    "bad_signature",
    "site_mismatch",
    "topic_mismatch",
    "schema",
    "revoked",
}  # fmt: skip  (WIRE.md "Quarantine")


def decide(topic: str, payload: bytes, devices: dict[str, DeviceView] = DEVICES) -> Any:
    decision = check_record_message(topic, payload, devices=devices, received_at=1)
    assert isinstance(decision, Accepted | Refused)
    if isinstance(decision, Refused):
        assert decision.item.reason in QUARANTINE_REASONS, decision.item
        assert decision.item.raw == payload  # quarantine keeps the bytes verbatim
        assert decision.reject in (None, "revoked", "unknown_device")
    return decision


_SEGMENT = st.sampled_from(["cg", "v1", SITE, DEVICE, "up", "down", "record", "status", "+", ""])
TOPICS = (
    st.just(TOPIC)
    | st.text(max_size=60)
    | st.lists(_SEGMENT | st.text(max_size=6), max_size=7).map("/".join)
)


@budget(800)
@given(
    topic=TOPICS,
    payload=st.binary(max_size=400) | st.sampled_from(POOL),
    revoked=st.none() | st.integers(0, 5),
)
def test_ingest_any_topic_and_bytes_are_accepted_or_quarantined(
    topic: str, payload: bytes, revoked: int | None
) -> None:
    view = DeviceView.of(
        device=DEVICE, site=SITE, public_key=KEY.public.raw, revoked_above_seq=revoked
    )
    decision = decide(topic, payload, {DEVICE: view})
    if isinstance(decision, Accepted):
        assert topic == TOPIC
        assert payload in POOL
        assert revoked is None or decision.record.seq <= revoked


@budget(1500)
@given(data=st.data(), original=st.sampled_from(POOL))
def test_ingest_never_accepts_a_mutated_record(data: st.DataObject, original: bytes) -> None:
    payload = data.draw(mutated_bytes(original, POOL), label="payload")
    decision = decide(TOPIC, payload)
    if payload in POOL:  # a mutation that undid itself, or spliced a whole other record
        assert isinstance(decision, Accepted)
        assert decision.record.raw == payload
    else:
        assert isinstance(decision, Refused)


@st.composite
def near(draw: st.DrawFn, valid: dict[str, Any]) -> dict[Any, Any]:
    """``valid`` with up to two fields dropped or given any CBOR value, maybe one extra field
    (so that most drawn maps are one or two steps from a valid one)."""
    out: dict[Any, Any] = dict(valid)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), max_size=2, unique=True)):
        if draw(st.booleans()):
            del out[key]
        else:
            out[key] = draw(cf.CBOR_VALUES)
    if draw(st.integers(0, 3)) == 0:
        out[draw(st.text(max_size=6) | st.integers(-3, 3))] = draw(cf.CBOR_VALUES)
    return out


@budget(800)
@given(data=st.data(), record=st.sampled_from(CHAIN))
def test_ingest_signed_arbitrary_payloads_are_accepted_or_refused(
    data: st.DataObject, record: Record
) -> None:
    """Authentic signatures over anything: the schema, site and topic checks decide."""
    valid = record.payload()
    payload = data.draw(near(valid), label="payload")
    if data.draw(st.booleans()):
        payload["body"] = data.draw(near(valid["body"]), label="body")
    raw = cf.raw_sign1(payload, KEY)
    decision = decide(TOPIC, raw)
    if isinstance(decision, Accepted):
        accepted = decision.record
        assert (accepted.raw, accepted.device, accepted.site) == (raw, DEVICE, SITE)
        assert (accepted.seq, accepted.type) == (payload["seq"], payload["type"])
    else:
        assert decision.item.reason in {"schema", "site_mismatch", "topic_mismatch"}, decision.item
    event("accepted" if isinstance(decision, Accepted) else decision.item.reason)


@budget(300)
@given(
    topic=st.just(f"cg/v1/{SITE}/{DEVICE}/up/status") | TOPICS,
    payload=st.binary(max_size=80)
    | st.dictionaries(
        st.sampled_from(["state", "since", "version", "x"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
        | st.sampled_from(["online", "offline"]),
    ).map(lambda d: json.dumps(d).encode()),
)  # fmt: skip
def test_status_messages_parse_or_raise_value_error(topic: str, payload: bytes) -> None:
    status = attempt(lambda: parse_status(topic, payload, received_at=1), ValueError)
    if isinstance(status, ValueError):
        assert "\n" not in str(status)
    else:
        assert status.state in ("online", "offline")
        assert status.device == DEVICE


# --- central-signed objects ----------------------------------------------------------------------

KEYS = cf.CENTRAL_KEYS
TICKET = cf.ticket()
CERT = cf.certificate()
BUNDLE = build_bundle(
    cf.CENTRAL,
    site=cf.SITE,
    version=7,
    ts=cf.LOADED_MS,
    tickets=[BundleTicket(ticket=TICKET, state="issued", loaded_at=None, source_net_kg=None)],
    revoked=[b"\x09" * 16],
    vehicles={},
)
ACK = build_ack(cf.CENTRAL, device=cf.DEVICE, seq=48_211, ts=cf.LOADED_MS)
HEAD = sign_tree_head(cf.CENTRAL, size=48_211, root=b"\x5a" * 32, ts=cf.LOADED_MS)
CENTRAL_SIGNED: dict[str, tuple[bytes, Callable[[bytes], object]]] = {
    "ack": (ACK.raw, lambda data: verify_ack(data, KEYS)),
    "bundle": (BUNDLE.raw, lambda d: verify_bundle(d, KEYS, site=cf.SITE, held_version=6)),
    "ticket": (TICKET.raw, lambda data: verify_ticket(data, KEYS, now_s=None)),
    "certificate": (CERT.raw, lambda data: verify_certificate(data, KEYS, now_s=None)),
    "tree head": (HEAD.raw, lambda data: verify_tree_head(data, KEYS)),
}
_ALL_SIGNED = [raw for raw, _ in CENTRAL_SIGNED.values()]


@pytest.mark.parametrize("what", sorted(CENTRAL_SIGNED))
@budget(200)
@given(data=st.data())
def test_central_signed_objects_mutated_never_verify(what: str, data: st.DataObject) -> None:
    original, verify = CENTRAL_SIGNED[what]
    mutated = data.draw(mutated_bytes(original, _ALL_SIGNED) | st.binary(max_size=300))
    try:
        verify(mutated)
    except WireError:
        assert mutated != original
    else:
        assert mutated == original


# --- QR texts ------------------------------------------------------------------------------------

TICKET_QR = ticket_qr(TICKET)
RECORD = cf.record()
RECEIPT = encode_receipt(ticket=TICKET.raw, record=RECORD.raw, certificate=CERT.raw)
RECEIPT_PARTS = (TICKET.raw, RECORD.raw, CERT.raw)


@budget(600)
@given(text=mutated_text(TICKET_QR) | st.text(max_size=120) | st.just(TICKET_QR))
def test_ticket_qr_texts_mutated_never_verify(text: str) -> None:
    try:
        ticket = verify_ticket(ticket_from_qr(text), KEYS, now_s=None)
    except WireError:
        assert text.strip() != TICKET_QR
    else:
        assert ticket.raw == TICKET.raw  # only the genuine ticket, however it was spelled


@budget(700)
@given(text=mutated_text(RECEIPT) | st.text(max_size=200) | st.just(" " + RECEIPT + "\n"))
def test_receipt_texts_mutated_never_verify(text: str) -> None:
    try:
        receipt = verify_receipt(text, KEYS)
    except WireError:
        assert text.strip() != RECEIPT
    else:
        assert split_receipt(text) == RECEIPT_PARTS
        assert receipt.record.raw == RECORD.raw


# --- edge: scale frames, Modbus registers, camera pushes, site files -----------------------------

DIVISIONS = st.sampled_from(["1", "2", "5", "10", "20", "50", "100"])


def convert_all(events: Sequence[object], converter: Converter) -> None:
    for item in events:
        if isinstance(item, Reading):
            weight = attempt(functools.partial(converter.convert, item), ConversionError)
            if isinstance(weight, ConversionError):
                assert weight.reason in {"unit", "not_whole_kg", "not_multiple", "not_finite"}
            else:
                assert weight.kg is None or weight.kg % converter.division_kg == 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@budget(150)
@given(data=st.data(), division=DIVISIONS)
def test_scale_bytes_become_kilograms_or_typed_errors(
    case: Case, data: st.DataObject, division: str
) -> None:
    stream = data.draw(streams(case) | st.binary(max_size=300), label="stream")
    parser: Any = case.make()
    events = parser.feed(stream) + parser.flush()
    for item in events:
        assert isinstance(item, Reading | SicsReply | SicsErrorReply | FrameError)
    convert_all(events, Converter(division_kg=division))


@st.composite
def polls(draw: st.DrawFn) -> tuple[RegisterMap, dict[int, int]]:
    regmap = draw(maps())
    used = [
        address
        for start, words in (
            (regmap.gross, regmap.value_type.words),
            (regmap.net, regmap.value_type.words),
            (regmap.tare, regmap.value_type.words),
            (regmap.status, regmap.status_words),
        )
        if start is not None
        for address in range(start, start + words)
    ]
    words = st.integers(0, 0xFFFF) | st.sampled_from([0, 0x7FFF, 0x8000, 0x7F80, 0xFF80, 0xFFFF])
    return regmap, {address: draw(words) for address in used}


@budget(600)
@given(poll=polls(), division=DIVISIONS)
def test_modbus_registers_decode_to_kilograms_or_typed_errors(
    poll: tuple[RegisterMap, dict[int, int]], division: str
) -> None:
    regmap, registers = poll
    sample = decode(regmap, registers)  # any 16-bit words decode: nothing may raise here
    reading = attempt(lambda: reading_from_sample(sample), ConversionError)
    if isinstance(reading, ConversionError):
        assert reading.reason == "not_finite"
    else:
        convert_all([reading], Converter(division_kg=division))


_MAP_VALUES = (
    st.none() | st.booleans() | st.integers(-2, 70_000) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["holding", "input", "int32", "uint32", "float32", "int16", "big",
                       "little", "zero", "tare"])
    | st.lists(st.integers(0, 20), max_size=3)
    | st.dictionaries(st.text(max_size=8) | st.sampled_from(["motion", "net", "1", "2"]),
                      st.integers(-1, 40) | st.text(max_size=6), max_size=3)
)  # fmt: skip
_MAP_KEYS = ["name", "area", "net", "tare", "displayed", "type", "word_order",
             "decimals", "status", "status_words", "status_bits", "errors", "division",
             "calibration", "command", "commands", "bogus"]  # fmt: skip


@budget(600)
@given(
    table=st.fixed_dictionaries(
        {"gross": st.integers(0, 70_000) | _MAP_VALUES},
        optional=dict.fromkeys(_MAP_KEYS, _MAP_VALUES),
    )
)
def test_register_map_tables_load_or_raise_config_error(table: dict[str, object]) -> None:
    regmap = attempt(lambda: map_from_table(table, where="fuzz.toml"), ConfigError)
    if isinstance(regmap, ConfigError):
        assert regmap.message.startswith("fuzz.toml")
        assert "\n" not in regmap.message
    else:
        assert isinstance(regmap, RegisterMap)


CAMERAS = default_cameras(["lane1", "lane2"])
PUSHES = [
    json.dumps(
        {"plate": plate, "confidence": 93, "camera": camera, "ts": 1_796_000_000_000,
         "image_sha256": "9f" * 32},
        ensure_ascii=ascii_only,
    ).encode()
    for plate, camera, ascii_only in (("陕K12345", "lane1-entry", False),
                                      ("陕B8Z5S0", "lane2-exit", True))
]  # fmt: skip


@budget(600)
@given(data=st.data(), original=st.sampled_from(PUSHES))
def test_camera_pushes_mutated_give_a_read_or_a_push_error(
    data: st.DataObject, original: bytes
) -> None:
    body = data.draw(mutated_bytes(original, PUSHES))
    read = attempt(lambda: parse_push(body, cameras=CAMERAS), CameraPushError)
    if isinstance(read, CameraPushError):
        assert read.reason in PUSH_REASONS
        assert "\n" not in read.message
    else:
        assert isinstance(read, PlateRead)
        assert read.camera in CAMERAS


@pytest.fixture(scope="module")
def site_file() -> Any:
    with tempfile.TemporaryDirectory(prefix="coalgate-fuzz-") as directory:
        yield make_site(Path(directory))


@budget(100)
@given(data=st.data())
def test_site_files_mutated_byte_wise_load_or_fail_in_one_line(
    site_file: Path, data: st.DataObject
) -> None:
    original = site_file.read_bytes()
    mutated = data.draw(mutated_bytes(original) | st.binary(max_size=200), label="file")
    path = site_file.parent / "fuzz.toml"
    path.write_bytes(mutated)
    config = attempt(lambda: load_site_config(path), SiteConfigError)
    if isinstance(config, SiteConfigError):
        assert str(config).startswith(str(path))
        assert "\n" not in str(config)
    else:
        assert isinstance(config, SiteConfig)


# --- the atheris targets (fuzz/targets.py) keep working without atheris -----------------------


def _load_targets() -> Any:
    path = Path(__file__).resolve().parents[2] / "fuzz" / "targets.py"
    spec = importlib.util.spec_from_file_location("coalgate_fuzz_targets", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FUZZ_TARGETS = _load_targets()
_TARGETS: dict[str, Callable[[bytes], None]] = FUZZ_TARGETS.targets()
_SEEDS: dict[str, list[bytes]] = FUZZ_TARGETS.seeds()


@pytest.mark.parametrize("name", sorted(_TARGETS))
@budget(30)
@given(data=st.data())
def test_atheris_targets_run_on_their_seeds_mutated(name: str, data: st.DataObject) -> None:
    seeds = _SEEDS[name]
    seed = data.draw(st.sampled_from(seeds))
    _TARGETS[name](seed)
    _TARGETS[name](data.draw(mutated_bytes(seed, seeds) if seed else st.binary(max_size=64)))
