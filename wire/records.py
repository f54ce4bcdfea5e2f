"""Records: everything an edge asserts, as a signed, hash-chained COSE_Sign1 (WIRE.md "Records").

``sign_record`` builds one; ``verify_record`` checks one from a peer completely (structure,
deterministic CBOR, header, key, signature, schema, kid = device) and returns it typed;
``decode_record`` does the same without a key, for display.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wire import cose
from wire.bodies import RECORD_TYPES, Body, RecordType, read_body
from wire.errors import HeaderError, SchemaError
from wire.fields import Fields
from wire.ids import check_device_id, check_id
from wire.keys import KeySet, SigningKey

VERSION = 1
ZERO_HASH = bytes(32)


def record_id(data: bytes) -> bytes:
    """A record's id: SHA-256 of its complete COSE bytes."""
    return hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """A decoded record together with the exact bytes it came from."""

    raw: bytes
    id: bytes
    kid: str
    site: str
    device: str
    seq: int
    prev: bytes
    ts: int
    type: RecordType
    body: Body
    v: int = VERSION
    extras: Mapping[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        """The payload map this record carries (for re-signing tests and display)."""
        known = {
            "v": self.v,
            "site": self.site,
            "device": self.device,
            "seq": self.seq,
            "prev": self.prev,
            "ts": self.ts,
            "type": self.type,
            "body": self.body.to_map(),
        }
        return {**(self.extras or {}), **known}


def _payload(
    *, site: str, device: str, seq: int, prev: bytes, ts: int, body: Body
) -> dict[str, Any]:
    return {
        "v": VERSION,
        "site": site,
        "device": device,
        "seq": seq,
        "prev": prev,
        "ts": ts,
        "type": body.TYPE,
        "body": body.to_map(),
    }


def sign_record(
    key: SigningKey, *, site: str, device: str, seq: int, prev: bytes, ts: int, body: Body
) -> Record:
    """Build and sign a record. ``prev`` is the previous record's id (zeros for seq 1)."""
    if key.kid != device:
        raise ValueError(f"device {device!r} must sign with its own key, not {key.kid!r}")
    payload = _payload(site=site, device=device, seq=seq, prev=prev, ts=ts, body=body)
    # Reading our own payload back applies the same rules a verifier will, so a record that
    # would be rejected is never signed.
    _read_payload(payload)
    raw = cose.sign1(payload, key)
    return Record(
        raw=raw,
        id=record_id(raw),
        kid=key.kid,
        site=site,
        device=device,
        seq=seq,
        prev=prev,
        ts=ts,
        type=body.TYPE,  # type: ignore[arg-type]
        body=body,
    )


def _read_payload(payload: dict[Any, Any]) -> dict[str, Any]:
    fields = Fields(payload, where="record")
    version = fields.uint("v")
    if version != VERSION:
        raise SchemaError(
            f"record.v is {version}; this reader understands {VERSION}", field="record.v"
        )
    site = fields.text("site", max_len=63)
    device = fields.text("device", max_len=63)
    check_id(site, field="record.site")
    check_device_id(device, field="record.device")
    seq = fields.uint("seq")
    if seq < 1:
        raise fields.fail("seq", "must be 1 or more")
    prev = fields.bstr("prev", size=32)
    if seq == 1 and prev != ZERO_HASH:
        raise fields.fail("prev", "must be 32 zero bytes for seq 1")
    ts = fields.uint("ts")
    record_type = fields.text("type", choices=RECORD_TYPES)
    body = read_body(record_type, fields.map("body"))
    return {
        "site": site,
        "device": device,
        "seq": seq,
        "prev": prev,
        "ts": ts,
        "type": record_type,
        "body": body,
        "extras": fields.extras() or None,
    }


def _record(message: cose.Sign1) -> Record:
    values = _read_payload(message.payload_map(what="record"))
    if values["device"] != message.kid:
        raise HeaderError(
            f"record: kid {message.kid!r} does not match the device field {values['device']!r}"
        )
    return Record(raw=message.raw, id=record_id(message.raw), kid=message.kid, **values)


def decode_record(data: bytes) -> Record:
    """Decode a record and check everything but the signature (for display and triage)."""
    return _record(cose.parse_sign1(data, what="record"))


def verify_record(data: bytes, keys: KeySet) -> Record:
    """Check a record completely and return it typed; any failure is a typed ``WireError``.

    Order: structure and encoding, key, signature, then schema, so that a schema error is
    only ever reported for bytes the named device really signed.
    """
    message = cose.parse_sign1(data, what="record")
    cose.check_signature(message, keys, what="record")
    return _record(message)
