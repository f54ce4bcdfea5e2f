"""Signed acks from central to an edge (WIRE.md "Acks").

``seq`` is the highest n such that the device's records 1..n are all durably stored as valid;
``reject`` (``revoked``, ``unknown_device``) tells the edge central will take nothing from it.
An edge keeps the highest ack it has seen and ignores one above its own highest seq.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wire import central
from wire.fields import Fields
from wire.ids import check_device_id
from wire.keys import KeySet, SigningKey

REJECT_REVOKED = "revoked"
REJECT_UNKNOWN_DEVICE = "unknown_device"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    raw: bytes
    kid: str
    device: str
    seq: int
    ts: int
    reject: str | None


def build_ack(key: SigningKey, *, device: str, seq: int, ts: int, reject: str | None = None) -> Ack:
    payload: dict[str, object] = {"device": device, "seq": seq, "ts": ts}
    if reject is not None:
        payload["reject"] = reject
    _read(payload, raw=b"", kid=key.kid)
    return _read(payload, raw=central.sign_central(payload, key), kid=key.kid)


def _read(payload: Mapping[str, Any], *, raw: bytes, kid: str) -> Ack:
    fields = Fields(payload, where="ack")
    ack = Ack(
        raw=raw,
        kid=kid,
        device=check_device_id(fields.text("device", max_len=63), field="ack.device"),
        seq=fields.uint("seq"),
        ts=fields.uint("ts"),
        reject=fields.text("reject", max_len=63) if "reject" in payload else None,
    )
    if fields.extras():
        raise fields.fail(next(iter(fields.extras())), "is not an ack field")
    return ack


def verify_ack(data: bytes, keys: KeySet) -> Ack:
    """Verify an ack under central's keys (a forged ack must never delete a journal entry)."""
    message = central.verify_central(data, keys, what="ack")
    return _read(message.payload_map(what="ack"), raw=data, kid=message.kid)
