"""Tax cross-check: declarations in (``POST /api/v1/tax/declarations``, CSV or JSON) and the
feed of measured sales against declared ones (``GET /api/v1/feeds/tax``), see docs/feeds.md.

Declaring: ``platform`` and ``regulator`` tokens for any enterprise, an ``enterprise`` token
for itself. All rows or none: every bad row is reported (one error each, naming the row and the
field) in a 422 ``invalid_declarations`` with ``errors``; a re-submission of the same figures
changes nothing (``unchanged``), other figures for a stored month replace them (``replaced``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from typing_extensions import TypedDict

from central.api.auth import Principal, allow
from central.api.context import Context
from central.api.errors import ApiError, body, invalid
from central.api.routes_feeds import (
    CSV_RESPONSE,
    FEED_ROLES,
    Accept,
    EnterpriseQ,
    Format,
    csv_response,
    period_keys,
    scope,
    wants_csv,
)
from central.feeds import service, tax
from central.feeds.tax import RowError, TaxRow

router = APIRouter(prefix="/api/v1", tags=["feeds"])

MAX_BODY = 2 * 1024 * 1024


class Declared(TypedDict):
    added: int
    replaced: int
    unchanged: int


class TaxView(TypedDict):
    enterprise: str
    period: str
    measured_kg: int
    measured_value_yuan: int
    declared: bool
    declared_kg: int
    declared_value_yuan: int
    diff_kg: int
    diff_value_yuan: int
    rank: int


class TaxPage(TypedDict):
    items: list[TaxView]
    cursor: str | None
    more: bool


class RowErrorView(TypedDict):
    row: int
    field: str
    message: str


class DeclarationErrors(TypedDict):
    code: str
    message: str
    errors: list[RowErrorView]


_ROW = {
    "type": "object",
    "properties": {
        "enterprise": {"type": "string"},
        "period": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
        "sold_kg": {"type": "integer", "minimum": 0},
        "value_yuan": {"type": "integer", "minimum": 0},
    },
    "required": list(tax.COLUMNS),
}
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"declarations": {"type": "array", "items": _ROW}},
                    "required": ["declarations"],
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "example": (
                        "enterprise,period,sold_kg,value_yuan\nyl-coal-co-a,2026-11,34000,27880\n"
                    ),
                }
            },
        },
    }
}


def _errors(errors: list[RowError]) -> JSONResponse:
    shown = "; ".join(str(e) for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    content: dict[str, Any] = body(
        "invalid_declarations", f"{len(errors)} bad row(s), nothing stored: {shown}{more}"
    )
    content["errors"] = [{"row": e.row, "field": e.field, "message": e.message} for e in errors]
    return JSONResponse(content, status_code=422)


def _json_rows(raw: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("body", "not JSON") from None
    rows = data.get("declarations") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise invalid("declarations", "a list of objects is required")
    return rows


@router.post(
    "/tax/declarations",
    summary="Declare sales per enterprise and month (CSV or JSON)",
    response_model=Declared,
    openapi_extra=_REQUEST_BODY,
    responses={422: {"model": DeclarationErrors, "description": "Bad rows; nothing stored"}},
)
async def declare(
    request: Request,
    context: Context,
    principal: Annotated[Principal, allow("platform", "regulator", "enterprise")],
    content_type: Annotated[str | None, Header(max_length=200)] = None,
) -> Declared | JSONResponse:
    """``Content-Type: text/csv`` with the header ``enterprise,period,sold_kg,value_yuan``, or
    JSON ``{"declarations": [{"enterprise", "period", "sold_kg", "value_yuan"}, …]}``."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"at most {MAX_BODY} bytes")
    media = (content_type or "").split(";")[0].strip().lower()
    errors: list[RowError] = []
    if media == "text/csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise invalid("body", "CSV must be UTF-8") from None
        rows, errors = tax.csv_rows(text)
    elif media in ("application/json", ""):
        rows = _json_rows(raw)
    else:
        raise ApiError(415, "unsupported_media_type", "send text/csv or application/json")
    store = context.store
    known = {e.id for e in await run_in_threadpool(store.list_enterprises)}
    allowed = principal.enterprise if principal.role == "enterprise" else None
    good, bad = tax.check_rows(rows, known=known, allowed=allowed)
    failed = {e.row for e in errors}
    errors += [e for e in bad if e.row not in failed]
    if errors:
        return _errors(sorted(errors, key=lambda e: e.row))
    now = context.clock()
    outcomes = await run_in_threadpool(
        store.put_tax_declarations, good, actor=principal.actor, at=now
    )
    return {
        "added": outcomes.count("added"),
        "replaced": outcomes.count("replaced"),
        "unchanged": outcomes.count("unchanged"),
    }


def tax_view(row: TaxRow) -> TaxView:
    return {
        "enterprise": row.enterprise,
        "period": row.period,
        "measured_kg": row.measured_kg,
        "measured_value_yuan": row.measured_value_yuan,
        "declared": row.declared,
        "declared_kg": row.declared_kg,
        "declared_value_yuan": row.declared_value_yuan,
        "diff_kg": row.diff_kg,
        "diff_value_yuan": row.diff_value_yuan,
        "rank": row.rank,
    }


TAX_COLUMNS = tuple(TaxView.__annotations__)


@router.get(
    "/feeds/tax",
    summary="Measured sales against declared ones per month, ranked by the difference",
    response_model=TaxPage,
    responses=CSV_RESPONSE,
)
def tax_feed(
    *,
    context: Context,
    principal: Annotated[Principal, allow(*FEED_ROLES)],
    after: Annotated[
        str | None, Query(max_length=7, description="Cursor: the last month you have (YYYY-MM)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=120, description="Months per page")] = 12,
    enterprise: EnterpriseQ = None,
    format: Format = None,  # noqa: A002 - the documented query parameter
    accept: Accept = None,
) -> TaxPage | Response:
    """Months that ended at least the settle time ago, ascending after ``after``; in each, the
    enterprises that sold or declared, ranked by measured - declared value (largest first)."""
    party = scope(principal, enterprise)
    page = period_keys(context, kind="month", after=after, limit=limit)
    rows = service.tax_rows(context.store, context.settings.feeds, keys=page.keys)
    views = [tax_view(r) for r in rows if party is None or r.enterprise == party]
    if wants_csv(format, accept):
        return csv_response(TAX_COLUMNS, (dict(v) for v in views))
    return {"items": views, "cursor": page.cursor, "more": page.more}
