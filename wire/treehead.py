"""Signed tree heads of central's transparency log (WIRE.md "Signed tree head").

Payload ``{"size": n, "root": bstr(32), "ts": ms}``, signed by central. With a tree head, the
Merkle proofs of :mod:`wire.merkle` show that a record is in the log, and that the log only grew.
"""

from __future__ import annotations

from dataclasses import dataclass

from wire import central
from wire.fields import Fields
from wire.keys import KeySet, SigningKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeHead:
    raw: bytes
    kid: str
    size: int
    root: bytes
    ts: int


def _read(payload: dict[object, object], *, raw: bytes, kid: str) -> TreeHead:
    fields = Fields(payload, where="tree_head")
    head = TreeHead(
        raw=raw,
        kid=kid,
        size=fields.uint("size"),
        root=fields.bstr("root", size=32),
        ts=fields.uint("ts"),
    )
    if fields.extras():
        raise fields.fail(next(iter(fields.extras())), "is not a tree head field")
    return head


def sign_tree_head(key: SigningKey, *, size: int, root: bytes, ts: int) -> TreeHead:
    payload: dict[object, object] = {"size": size, "root": root, "ts": ts}
    _read(payload, raw=b"", kid=key.kid)
    return _read(payload, raw=central.sign_central(dict(payload), key), kid=key.kid)


def verify_tree_head(data: bytes, keys: KeySet) -> TreeHead:
    message = central.verify_central(data, keys, what="tree head")
    return _read(message.payload_map(what="tree head"), raw=data, kid=message.kid)
