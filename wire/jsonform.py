"""Records as JSON for people and integrators: byte strings as lower-case hex.

The JSON form is for display and for crafting bodies on the command line; the signed bytes
are always CBOR. Fields that are byte strings on the wire (ticket ids, hashes) are hex text here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wire.bodies import BODY_TYPES, Body, read_body
from wire.errors import SchemaError
from wire.fields import Fields
from wire.records import Record


def to_json_value(value: Any) -> Any:
    """Replace byte strings by hex, recursively; maps keep their keys as text."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def record_to_json(record: Record) -> dict[str, Any]:
    """The record's id, kid and payload, JSON-ready."""
    return {"id": record.id.hex(), "kid": record.kid, **to_json_value(record.payload())}


def _unhex(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_unhex(item, name) for item in value]
    if not isinstance(value, str):
        raise SchemaError(f"body.{name} must be hex text in JSON", field=f"body.{name}")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise SchemaError(f"body.{name} is not valid hex", field=f"body.{name}") from exc


def body_from_json(record_type: str, data: Any) -> Body:
    """Read a body given as JSON (hex for byte-string fields) with the wire's own rules."""
    Fields(data, where="body")  # a clear error when the JSON is not an object
    body_type = BODY_TYPES.get(record_type)
    if body_type is None:
        return read_body(record_type, data)  # raises the same error as for CBOR
    converted = dict(data)
    for name in body_type.BYTES_FIELDS:
        if name in converted:
            converted[name] = _unhex(converted[name], name)
    return read_body(record_type, converted)
