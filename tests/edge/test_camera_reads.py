"""``parse_push``, pure: good pushes become normalised ``PlateRead``s, every bad one a
``CameraPushError`` with the stable reason, and no byte string raises anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.camera.reads import (
    PUSH_REASONS,
    CameraSpot,
    PlateRead,
    Side,
    default_cameras,
    parse_push,
)
from edge.errors import CameraPushError

CAMERAS = default_cameras(["lane1", "lane2"])
SHA = "9f" * 32
GOOD = {
    "plate": "陕K12345",
    "confidence": 93,
    "camera": "lane1-entry",
    "ts": 1_796_000_000_000,
    "image_sha256": SHA,
}


def push(**changes: object) -> bytes:
    body = {**GOOD, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not DROP}, ensure_ascii=False).encode()


DROP = object()


def test_a_good_push_becomes_a_read() -> None:
    read = parse_push(push(), cameras=CAMERAS, received_ms=5)
    assert read == PlateRead(
        lane="lane1",
        side=Side.ENTRY,
        camera="lane1-entry",
        plate="陕K12345",
        raw_plate="陕K12345",
        confidence=93,
        ts_ms=1_796_000_000_000,
        image_sha256=bytes.fromhex(SHA),
        received_ms=5,
    )
    assert not read.trailer


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("陕k·12345", "陕K12345"),  # case and the middle dot
        ("陕\uff2b \uff11\uff12\uff13\uff14\uff15", "陕K12345"),  # full width, a space
        ("蒙AD12345", "蒙AD12345"),  # new energy
        ("陕K1234挂", "陕K1234挂"),  # a semi-trailer's plate is a read too
    ],
)
def test_plates_are_normalised_and_the_raw_text_kept(raw: str, plate: str) -> None:
    read = parse_push(push(plate=raw, camera="lane2-exit", image_sha256=None), cameras=CAMERAS)
    assert (read.plate, read.raw_plate, read.lane, read.side) == (plate, raw, "lane2", Side.EXIT)
    assert read.image_sha256 is None
    assert read.received_ms is None
    assert read.trailer == plate.endswith("挂")


def test_cameras_may_have_names_of_their_own() -> None:
    cameras = {"gate-north-anpr": CameraSpot(lane="lane7", side=Side.EXIT)}
    read = parse_push(push(camera="gate-north-anpr"), cameras=cameras)
    assert (read.lane, read.side) == ("lane7", Side.EXIT)


BAD: dict[str, tuple[bytes, str, str]] = {
    "not utf-8": (b'{"plate": "\xff"}', "not_json", "body is not UTF-8 (byte 11)"),
    "not json": (b"plate=1", "not_json", "body is not JSON: Expecting value at line 1 column 1"),
    "an array": (b"[1]", "not_json", "body must be a JSON object, not an array"),
    "deep": (b"[" * 5000 + b"]" * 5000, "too_large", "body of 10000 bytes exceeds 8192"),
    "nested deeper than the stack": (
        b"[" * 4000,
        "not_json",
        "body is not JSON this edge can read",
    ),
    "duplicate key": (
        b'{"plate": "\xe9\x99\x95K12345", "plate": "x"}',
        "not_json",
        "duplicate key 'plate'",
    ),
    "missing field": (push(ts=DROP), "schema", "field 'ts' is missing"),
    "unknown field": (push(lane="lane1"), "schema", "unknown field 'lane'"),
    "unknown camera": (
        push(camera="lane3-entry"),
        "camera",
        "camera 'lane3-entry' is not a camera of this site (known: lane1-entry, lane1-exit, "
        "lane2-entry, lane2-exit)",
    ),
    "confidence too high": (
        push(confidence=101),
        "confidence",
        "confidence: Input should be less than or equal to 100",
    ),
    "confidence negative": (
        push(confidence=-1),
        "confidence",
        "confidence: Input should be greater than or equal to 0",
    ),
    "confidence as text": (
        push(confidence="93"),
        "confidence",
        "confidence: Input should be a valid integer",
    ),
    "confidence a boolean": (
        push(confidence=True),
        "confidence",
        "confidence: Input should be a valid integer",
    ),
    "confidence a fraction": (
        push(confidence=93.5),
        "confidence",
        "confidence: Input should be a valid integer",
    ),
    "ts negative": (push(ts=-1), "ts", "ts: Input should be greater than or equal to 0"),
    "sha256 short": (
        push(image_sha256="9f"),
        "image_sha256",
        "image_sha256 must be 64 hex digits or null",
    ),
    "sha256 not hex": (
        push(image_sha256="zz" * 32),
        "image_sha256",
        "image_sha256 must be 64 hex digits or null",
    ),
    "plate misread 8 for B": (
        push(plate="陕812345"),
        "plate",
        "plate '陕812345' has '8' after the province where the issuing authority's letter "
        "(A-Z) belongs (authority_letter)",
    ),
    "plate with O": (
        push(plate="陕KO2345"),
        "plate",
        "plate '陕KO2345' has 'O' at position 3; I and O are never used in plates, so the read "
        "is rejected rather than guessed as 1 or 0 (i_or_o)",
    ),
    "plate empty": (
        push(plate=""),
        "plate",
        "plate read is empty (nothing but spaces or separators) (empty)",
    ),
    "plate too long": (
        push(plate="陕" * 33),
        "plate",
        "plate: String should have at most 32 characters",
    ),
    "plate a number": (push(plate=12345), "plate", "plate: Input should be a valid string"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_push_is_refused_with_its_reason(case: str) -> None:
    body, reason, detail = BAD[case]
    with pytest.raises(CameraPushError) as caught:
        parse_push(body, cameras=CAMERAS)
    assert (caught.value.reason, caught.value.message) == (reason, detail)
    assert reason in PUSH_REASONS


def test_the_size_cap_is_a_parameter() -> None:
    with pytest.raises(CameraPushError, match="exceeds 100") as caught:
        parse_push(push(), cameras=CAMERAS, max_bytes=100)
    assert caught.value.reason == "too_large"


def outcome(body: bytes) -> PlateRead | CameraPushError:
    try:
        return parse_push(body, cameras=CAMERAS)
    except CameraPushError as exc:
        return exc


@given(st.binary(max_size=300))
def test_any_bytes_give_a_read_or_a_push_error(body: bytes) -> None:
    result = outcome(body)
    if isinstance(result, CameraPushError):
        assert result.reason in PUSH_REASONS
        assert "\n" not in result.message


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_near_valid = st.fixed_dictionaries(
    {},
    optional={
        "plate": st.sampled_from(["陕K12345", "陕B8Z5S0", "陕812345", "陕KI2345"]) | _scalars,
        "confidence": st.integers(-5, 105) | _scalars,
        "camera": st.sampled_from(["lane1-entry", "lane2-exit", "lane9-exit"]) | _scalars,
        "ts": st.integers(-1, 2**64) | _scalars,
        "image_sha256": st.sampled_from([SHA, SHA.upper(), None]) | _scalars,
        "extra": _scalars,
    },
)


@given(_near_valid)
def test_near_valid_objects_give_a_read_or_a_push_error(value: dict[str, object]) -> None:
    result = outcome(json.dumps(value).encode())
    if isinstance(result, CameraPushError):
        assert result.reason in PUSH_REASONS
        return
    assert set(value) == {"plate", "confidence", "camera", "ts", "image_sha256"}
    assert result.confidence == value["confidence"]
    assert result.camera in CAMERAS
