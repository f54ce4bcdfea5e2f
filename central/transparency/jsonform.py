"""The JSON of tree heads and proofs: what the API answers and ``coalgate audit verify`` reads.

Hashes are lower-case hex; a tree head travels as its signed COSE bytes in base64 (``sth``),
next to its fields for people. A verifier trusts only the signed bytes: :func:`parse_head`
returns them and :func:`wire.treehead.verify_tree_head` decides. Reading a file is reading
untrusted input, so the shapes are validated (pydantic, from the same typed dictionaries the
API documents) and every problem is one ``ValueError`` naming the field.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from central.store.model import StoredTreeHead
from central.transparency.log import Consistency, Inclusion


class TreeHeadView(TypedDict):
    size: int
    root: str  # hex
    ts: int  # UTC ms, when central signed it
    kid: str
    sth: str  # base64 of the signed COSE bytes (WIRE.md "Signed tree head")


class InclusionView(TypedDict):
    record_id: str  # hex: SHA-256 of the record's COSE bytes
    leaf_index: int
    tree_size: int
    audit_path: list[str]  # hex, RFC 9162 PATH, bottom-up
    sth: TreeHeadView  # the head of tree_size the path leads to


class ConsistencyView(TypedDict):
    first: int
    second: int
    proof: list[str]  # hex, RFC 9162 PROOF(first, D[second])
    first_sth: TreeHeadView
    second_sth: TreeHeadView


def head_view(head: StoredTreeHead) -> TreeHeadView:
    return {
        "size": head.size,
        "root": head.root.hex(),
        "ts": head.ts,
        "kid": head.kid,
        "sth": base64.b64encode(head.raw).decode(),
    }


def inclusion_view(proof: Inclusion) -> InclusionView:
    return {
        "record_id": proof.record_id.hex(),
        "leaf_index": proof.index,
        "tree_size": proof.head.size,
        "audit_path": [h.hex() for h in proof.path],
        "sth": head_view(proof.head),
    }


def consistency_view(proof: Consistency) -> ConsistencyView:
    return {
        "first": proof.first.size,
        "second": proof.second.size,
        "proof": [h.hex() for h in proof.path],
        "first_sth": head_view(proof.first),
        "second_sth": head_view(proof.second),
    }


# --- reading (untrusted files) ----------------------------------------------------------------

_HEAD = TypeAdapter(TreeHeadView)
_INCLUSION = TypeAdapter(InclusionView)
_CONSISTENCY = TypeAdapter(ConsistencyView)


def _validated(adapter: TypeAdapter[Any], data: object, what: str) -> Any:
    try:
        return adapter.validate_python(data, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or what
        raise ValueError(f"{what}: {where}: {error['msg']}") from None


def _hashes(values: list[str], what: str) -> list[bytes]:
    out: list[bytes] = []
    for i, text in enumerate(values):
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{what}[{i}] is not hex") from None
        if len(value) != 32:
            raise ValueError(f"{what}[{i}] is {len(value)} bytes, not 32")
        out.append(value)
    return out


def sth_bytes(view: TreeHeadView, what: str) -> bytes:
    try:
        return base64.b64decode(view["sth"], validate=True)
    except binascii.Error:
        raise ValueError(f"{what}.sth is not base64") from None


def parse_head(data: object, what: str = "tree head") -> bytes:
    """The signed COSE bytes of a tree head given as :class:`TreeHeadView` JSON."""
    view: TreeHeadView = _validated(_HEAD, data, what)
    return sth_bytes(view, what)


def parse_inclusion(data: object) -> tuple[bytes, int, int, list[bytes], bytes]:
    """(record id, leaf index, tree size, audit path, the signed head's bytes)."""
    view: InclusionView = _validated(_INCLUSION, data, "inclusion proof")
    (record_id,) = _hashes([view["record_id"]], "record_id")
    return (
        record_id,
        view["leaf_index"],
        view["tree_size"],
        _hashes(view["audit_path"], "audit_path"),
        sth_bytes(view["sth"], "sth"),
    )


def parse_consistency(data: object) -> tuple[int, int, list[bytes], bytes, bytes]:
    """(first, second, proof, the first head's bytes, the second head's bytes)."""
    view: ConsistencyView = _validated(_CONSISTENCY, data, "consistency proof")
    return (
        view["first"],
        view["second"],
        _hashes(view["proof"], "proof"),
        sth_bytes(view["first_sth"], "first_sth"),
        sth_bytes(view["second_sth"], "second_sth"),
    )
