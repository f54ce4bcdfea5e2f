"""The transparency log: signed tree heads, inclusion and consistency proofs (docs/transparency.md).

Any valid token may read them, whatever its role: a proof names a record by its id and carries
hashes only, never a record's content, and the point of the log is that every party can check
it. An enterprise sees the leaf index of any record whose id it knows, which tells it no more
than that central holds that record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from central.api.auth import Principal, allow
from central.api.context import Context
from central.api.errors import invalid
from central.store.model import TOKEN_ROLES
from central.transparency import log
from central.transparency.jsonform import (
    ConsistencyView,
    InclusionView,
    TreeHeadView,
    consistency_view,
    head_view,
    inclusion_view,
)

router = APIRouter(prefix="/api/v1/transparency", tags=["transparency"])

MAX_SIZE = 2**62
AnyToken = Annotated[Principal, allow(*TOKEN_ROLES)]
Size = Annotated[int | None, Query(ge=0, le=MAX_SIZE, description="A signed tree size")]


@router.get("/sth", summary="The latest signed tree head, or the one of ?size=")
def sth(context: Context, _principal: AnyToken, size: Size = None) -> TreeHeadView:
    """A signed tree head (WIRE.md "Signed tree head"): `sth` is its COSE bytes in base64,
    the other fields repeat its payload. Without `size`, the latest; 404 before the first."""
    return head_view(log.head(context.store, size))


@router.get("/inclusion/{record_id}", summary="Proof that a record is in the log")
def inclusion(
    context: Context,
    _principal: AnyToken,
    record_id: Annotated[
        str, Path(pattern="^[0-9a-f]{64}$", description="Record id: SHA-256 of its bytes")
    ],
    size: Size = None,
) -> InclusionView:
    """The record's leaf index and RFC 9162 audit path in the tree of the latest signed head
    (or of `size`), with that head. 404 if the record is not in the log, 409 if it was
    appended after that head (ask again after the next one)."""
    return inclusion_view(log.inclusion(context.store, bytes.fromhex(record_id), size=size))


@router.get("/consistency", summary="Proof that a later tree extends an earlier one")
def consistency(
    context: Context,
    _principal: AnyToken,
    first: Annotated[int, Query(ge=0, le=MAX_SIZE, description="The earlier signed size")],
    second: Annotated[int, Query(ge=0, le=MAX_SIZE, description="The later signed size")],
) -> ConsistencyView:
    """RFC 9162 PROOF(first, D[second]) between two signed heads, with both heads; 404 unless
    both sizes were signed."""
    if first > second:
        raise invalid("first", f"{first} is larger than second ({second})")
    return consistency_view(log.consistency(context.store, first, second))
