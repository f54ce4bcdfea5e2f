"""A plate camera's push (PROTOCOLS.md §5) checked and turned into a ``PlateRead``. Pure.

The body is untrusted: it is parsed here from bytes (not by FastAPI) so that every way it can
be wrong ends as one ``CameraPushError`` with a stable ``reason``, never as another exception.
The plate is normalised by ``wire.plates`` and never repaired: a camera that confused 0/D or
8/B either produced another valid plate (delivered as read, with its confidence: the gate
decides what a low confidence means) or an invalid one (refused, with the plate's reason).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from edge.errors import CameraPushError
from wire.errors import PlateError
from wire.plates import is_trailer_plate, normalize_plate

#: Largest body accepted; a push is ~200 bytes (the snapshot travels by hash only).
MAX_BODY_BYTES: Final = 8192
#: Longest raw plate text looked at (the longest valid plate is 9 characters).
MAX_PLATE_CHARS: Final = 32
#: Longest camera name (``<lane>-entry``; lane ids are at most 63 characters).
MAX_CAMERA_CHARS: Final = 80

#: Every ``reason`` a ``CameraPushError`` from this package can carry.
PUSH_REASONS: Final = frozenset(
    {
        "content_type",  # not application/json
        "too_large",  # body over the size cap
        "not_json",  # not UTF-8 JSON, a duplicate key, or not an object
        "schema",  # a field missing, unknown, or of the wrong type
        "camera",  # not a camera of this site
        "plate",  # not a valid plate (the detail names wire.plates' reason)
        "confidence",  # not a whole number 0-100
        "ts",  # not whole milliseconds >= 0
        "image_sha256",  # not 64 hex digits or null
    }
)


class Side(StrEnum):
    """Which camera of a lane read the plate."""

    ENTRY = "entry"
    EXIT = "exit"


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraSpot:
    """Where a camera stands: its lane and side."""

    lane: str
    side: Side


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateRead:
    """One accepted camera read.

    ``plate`` is normalised (``wire.plates.normalize_plate``), ``raw_plate`` is the text the
    camera sent; ``confidence`` 0-100 as the camera rated it; ``ts_ms`` the camera's clock,
    ``received_ms`` ours (``None`` when the caller did not stamp it); ``image_sha256`` the
    snapshot's hash (32 bytes) or ``None``.
    """

    lane: str
    side: Side
    camera: str
    plate: str
    raw_plate: str
    confidence: int
    ts_ms: int
    image_sha256: bytes | None
    received_ms: int | None = None

    @property
    def trailer(self) -> bool:
        """True when the camera read a semi-trailer's plate (``…挂``), not the tractor's."""
        return is_trailer_plate(self.plate)


def default_cameras(lanes: Iterable[str]) -> dict[str, CameraSpot]:
    """``<lane>-entry`` and ``<lane>-exit`` for each lane (the simulator's names)."""
    return {
        f"{lane}-{side.value}": CameraSpot(lane=lane, side=side) for lane in lanes for side in Side
    }


class CameraPush(BaseModel):
    """The JSON body of ``POST /camera``. Strict: ``"93"`` is not a confidence, ``true`` not 1."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    plate: Annotated[str, Field(max_length=MAX_PLATE_CHARS)]
    confidence: Annotated[int, Field(ge=0, le=100)]
    camera: Annotated[str, Field(min_length=1, max_length=MAX_CAMERA_CHARS)]
    ts: Annotated[int, Field(ge=0, le=2**63 - 1)]
    image_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] | None


_FIELD_REASONS: Final = {"plate", "confidence", "camera", "ts", "image_sha256"}


def parse_push(
    body: bytes,
    *,
    cameras: Mapping[str, CameraSpot],
    received_ms: int | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> PlateRead:
    """The read in ``body`` (raw bytes of a push), or ``CameraPushError``; nothing else raises."""
    if len(body) > max_bytes:
        raise CameraPushError(f"body of {len(body)} bytes exceeds {max_bytes}", reason="too_large")
    value = _json(body)
    try:
        push = CameraPush.model_validate(value)
    except ValidationError as exc:
        raise _schema_error(exc) from None
    spot = cameras.get(push.camera)
    if spot is None:
        known = ", ".join(sorted(cameras)) or "none"
        raise CameraPushError(
            f"camera {_show(push.camera)} is not a camera of this site (known: {known})",
            reason="camera",
        )
    try:
        plate = normalize_plate(push.plate)
    except PlateError as exc:
        raise CameraPushError(f"{exc.message} ({exc.reason})", reason="plate") from None
    return PlateRead(
        lane=spot.lane,
        side=spot.side,
        camera=push.camera,
        plate=plate,
        raw_plate=push.plate,
        confidence=push.confidence,
        ts_ms=push.ts,
        image_sha256=None if push.image_sha256 is None else bytes.fromhex(push.image_sha256),
        received_ms=received_ms,
    )


def _json(body: bytes) -> object:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CameraPushError(f"body is not UTF-8 (byte {exc.start})", reason="not_json") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except _KeyError as exc:
        raise CameraPushError(f"{exc.problem} {_show(exc.key)}", reason="not_json") from None
    except json.JSONDecodeError as exc:
        raise CameraPushError(
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            reason="not_json",
        ) from None
    except (ValueError, RecursionError):  # NaN-like oddities, nesting deeper than the stack
        raise CameraPushError("body is not JSON this edge can read", reason="not_json") from None
    if not isinstance(value, dict):
        raise CameraPushError(
            f"body must be a JSON object, not {_json_kind(value)}", reason="not_json"
        )
    return value


class _KeyError(ValueError):
    def __init__(self, problem: str, key: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a body that says two things is refused.
    out: dict[str, Any] = {}
    for key, item in pairs:
        if key in out:
            raise _KeyError("duplicate key", key)
        if not key.isascii() and not _is_text(key):
            raise _KeyError("key is not Unicode text (a lone surrogate escape):", key)
        out[key] = item
    return out


def _is_text(text: str) -> bool:
    # JSON's "\ud800" escape decodes to a lone surrogate, which no UTF-8 text can hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _schema_error(exc: ValidationError) -> CameraPushError:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = first["loc"]
    field = str(loc[0]) if loc else "body"
    if first["type"] == "extra_forbidden":
        return CameraPushError(f"unknown field {_show(field)}", reason="schema")
    if first["type"] == "missing":
        return CameraPushError(f"field {field!r} is missing", reason="schema")
    reason = field if field in _FIELD_REASONS else "schema"
    if field == "image_sha256":
        message = "image_sha256 must be 64 hex digits or null"
    else:
        message = f"{field}: {first['msg']}"
    return CameraPushError(message, reason=reason)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if not isinstance(value, bool) else "a boolean"


def _show(text: str) -> str:
    # repr() escapes control characters and lone surrogates, so the reason stays one line.
    if len(text) > MAX_CAMERA_CHARS:
        text = text[:MAX_CAMERA_CHARS] + "…"
    return repr(text)
