"""Feeds for downstream platforms (docs/feeds.md): credit, mu-efficiency, trucks, tax.

Roles: ``platform``, ``regulator`` and ``admin`` see every enterprise; an ``enterprise``
token sees its own items only (its events; trips and anomalies where it is seller, buyer or
site owner; its own rows of the period feeds); any other role is a 403.

Format: JSON by default; CSV with ``?format=csv`` or ``Accept: text/csv`` (``format`` wins).
The CSV has a header row; nested values (evidence, details) are JSON text in their cell.

Cursors: the journal feeds (credit, trucks) page by item id — pass the answer's ``cursor`` as
``?after=`` on the next poll (it is the last id served, or the one given when nothing new
came); the period feeds page by period key in the same way. ``more`` says a next page is
waiting now.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from typing_extensions import TypedDict

from central.api.auth import Principal, allow
from central.api.context import ApiContext, Context
from central.api.errors import forbidden, invalid
from central.api.routes_records import ID, MAX_INT
from central.feeds import credit, periods, service
from central.feeds.efficiency import EfficiencyRow
from central.feeds.model import FeedItem, FeedName
from central.feeds.periods import PeriodKind

router = APIRouter(prefix="/api/v1/feeds", tags=["feeds"])

FEED_ROLES = ("platform", "regulator", "admin", "enterprise")
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="`csv` for CSV; default JSON, or CSV when Accept is text/csv"),
]
Accept = Annotated[str | None, Header(max_length=1000)]
After = Annotated[int, Query(ge=0, le=MAX_INT, description="Cursor: the last id you have")]
Limit = Annotated[int, Query(ge=1, le=1000)]
EnterpriseQ = Annotated[str | None, Query(pattern=ID, description="Only this enterprise's")]
PeriodKindQ = Annotated[PeriodKind, Query(description="Calendar day or month, CST")]
PeriodAfter = Annotated[
    str | None,
    Query(max_length=10, description="Cursor: the last period you have (YYYY-MM-DD or YYYY-MM)"),
]


class Evidence(TypedDict):
    type: str
    id: str
    url: str


class FeedItemView(TypedDict):
    id: int
    kind: str
    subject: str  # enterprise id (credit) or plate (trucks)
    at: int
    added_at: int
    key: str
    parties: list[str]
    body: dict[str, Any]


class ScoreLineView(TypedDict):
    kind: str
    weight: int
    count: int
    points: int
    events: list[int]


class ScoreView(TypedDict):
    enterprise: str
    score: int
    start: int
    since: int
    until: int
    lines: list[ScoreLineView]


class CreditPage(TypedDict):
    items: list[FeedItemView]
    cursor: int
    more: bool
    scores: list[ScoreView]  # of the enterprises on this page (and the one asked for)


class TrucksPage(TypedDict):
    items: list[FeedItemView]
    cursor: int
    more: bool


class EfficiencyView(TypedDict):
    enterprise: str
    period: str
    sold_kg: int
    received_kg: int
    value_yuan: int
    land_mu: float
    sold_t_per_mu: float | None
    value_yuan_per_mu: float | None
    capacity_t: int
    capacity_share: float | None
    rank: int | None
    grade: str | None
    ranked: int


class EfficiencyPage(TypedDict):
    period: str
    items: list[EfficiencyView]
    cursor: str | None
    more: bool


def wants_csv(fmt: str | None, accept: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return accept is not None and "text/csv" in accept.lower()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_response(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def item_view(item: FeedItem) -> FeedItemView:
    return {
        "id": item.id or 0,
        "kind": item.kind,
        "subject": item.subject,
        "at": item.at,
        "added_at": item.added_at or 0,
        "key": item.key,
        "parties": list(item.parties),
        "body": item.body,
    }


def score_view(score: credit.CreditScore) -> ScoreView:
    return {
        "enterprise": score.enterprise,
        "score": score.score,
        "start": score.start,
        "since": score.since,
        "until": score.until,
        "lines": [
            {
                "kind": line.kind,
                "weight": line.weight,
                "count": line.count,
                "points": line.points,
                "events": list(line.events),
            }
            for line in score.lines
        ],
    }


def scope(principal: Principal, enterprise: str | None) -> str | None:
    """The enterprise whose items the caller gets (``None``: everyone's)."""
    if principal.role != "enterprise":
        return enterprise
    if enterprise is not None and enterprise != principal.enterprise:
        raise forbidden(f"an enterprise token sees {principal.enterprise}'s feed only")
    return principal.enterprise


def _journal(
    context: ApiContext, feed: FeedName, *, after: int, limit: int, party: str | None
) -> tuple[list[FeedItem], bool]:
    now = context.clock()
    if feed == "credit":
        service.refresh_credit(context.store, now_ms=now)
    else:
        service.refresh_trucks(context.store, context.settings.feeds, now_ms=now)
    found = context.store.feed_items(feed, after=after, limit=limit + 1, party=party)
    return found[:limit], len(found) > limit


ITEM_COLUMNS = ("id", "kind", "subject", "at", "added_at", "key", "parties", "body")
CREDIT_COLUMNS = (
    "id",
    "kind",
    "enterprise",
    "at",
    "added_at",
    "site",
    "device",
    "evidence",
    "detail",
    "key",
)


@router.get(
    "/credit",
    summary="Credit events per enterprise, with evidence, and the score",
    response_model=CreditPage,
    responses=CSV_RESPONSE,
)
def credit_feed(
    *,
    context: Context,
    principal: Annotated[Principal, allow(*FEED_ROLES)],
    after: After = 0,
    limit: Limit = 100,
    enterprise: EnterpriseQ = None,
    format: Format = None,  # noqa: A002 - the documented query parameter
    accept: Accept = None,
) -> CreditPage | Response:
    """Events ascending by id after ``after``. JSON also carries the score of each enterprise
    on the page (docs/feeds.md "Score"); CSV has the events only (scores:
    ``/api/v1/feeds/credit/scores``)."""
    party = scope(principal, enterprise)
    items, more = _journal(context, "credit", after=after, limit=limit, party=party)
    if wants_csv(format, accept):
        return csv_response(
            CREDIT_COLUMNS,
            ({**i.body, "id": i.id, "added_at": i.added_at, "key": i.key} for i in items),
        )
    enterprises = sorted({i.subject for i in items} | ({party} if party else set()))
    scores = service.scores(
        context.store, context.settings.feeds, now_ms=context.clock(), enterprises=enterprises
    )
    return {
        "items": [item_view(i) for i in items],
        "cursor": items[-1].id or after if items else after,
        "more": more,
        "scores": [score_view(s) for s in scores],
    }


SCORE_COLUMNS = (
    "enterprise",
    "score",
    "since",
    "until",
    "kind",
    "weight",
    "count",
    "points",
    "events",
)


@router.get(
    "/credit/scores",
    summary="Credit scores with their breakdown",
    response_model=list[ScoreView],
    responses=CSV_RESPONSE,
)
def credit_scores(
    *,
    context: Context,
    principal: Annotated[Principal, allow(*FEED_ROLES)],
    enterprise: EnterpriseQ = None,
    format: Format = None,  # noqa: A002 - the documented query parameter
    accept: Accept = None,
) -> list[ScoreView] | Response:
    """Every enterprise's score now (an enterprise token: its own). CSV: one row per
    enterprise and event kind."""
    party = scope(principal, enterprise)
    now = context.clock()
    service.refresh_credit(context.store, now_ms=now)
    names = [party] if party else [e.id for e in context.store.list_enterprises()]
    views = [
        score_view(s)
        for s in service.scores(
            context.store, context.settings.feeds, now_ms=now, enterprises=names
        )
    ]
    if wants_csv(format, accept):
        return csv_response(
            SCORE_COLUMNS,
            (
                {**{k: v for k, v in view.items() if k != "lines"}, **line}
                for view in views
                for line in view["lines"]
            ),
        )
    return views


@router.get(
    "/trucks",
    summary="Trips per plate and truck anomalies",
    response_model=TrucksPage,
    responses=CSV_RESPONSE,
)
def trucks_feed(
    *,
    context: Context,
    principal: Annotated[Principal, allow(*FEED_ROLES)],
    after: After = 0,
    limit: Limit = 100,
    enterprise: EnterpriseQ = None,
    format: Format = None,  # noqa: A002 - the documented query parameter
    accept: Accept = None,
) -> TrucksPage | Response:
    """Items ascending by id after ``after``: ``trip`` (on arrival), ``overdue``,
    ``impossible_travel``, ``two_in_transit``, ``two_sites_at_once``, ``tare_drift``."""
    party = scope(principal, enterprise)
    items, more = _journal(context, "trucks", after=after, limit=limit, party=party)
    if wants_csv(format, accept):
        return csv_response(ITEM_COLUMNS, (dict(item_view(i)) for i in items))
    return {
        "items": [item_view(i) for i in items],
        "cursor": items[-1].id or after if items else after,
        "more": more,
    }


def period_keys(
    context: ApiContext, *, kind: PeriodKind, after: str | None, limit: int
) -> service.PeriodPage:
    if after is not None:
        try:
            periods.parse(after, kind)
        except ValueError as exc:
            raise invalid("after", str(exc)) from None
    return service.period_page(
        context.store,
        kind=kind,
        after=after,
        limit=limit,
        now_ms=context.clock(),
        settle_ms=context.settings.feeds.settle_ms,
    )


def efficiency_view(row: EfficiencyRow) -> EfficiencyView:
    return {
        "enterprise": row.enterprise,
        "period": row.period,
        "sold_kg": row.sold_kg,
        "received_kg": row.received_kg,
        "value_yuan": row.value_yuan,
        "land_mu": row.land_mu,
        "sold_t_per_mu": row.sold_t_per_mu,
        "value_yuan_per_mu": row.value_yuan_per_mu,
        "capacity_t": row.capacity_t,
        "capacity_share": row.capacity_share,
        "rank": row.rank,
        "grade": row.grade,
        "ranked": row.ranked,
    }


EFFICIENCY_COLUMNS = tuple(EfficiencyView.__annotations__)


@router.get(
    "/mu-efficiency",
    summary="Tonnage, value, per-mu figures, capacity used, rank and grade per period",
    response_model=EfficiencyPage,
    responses=CSV_RESPONSE,
)
def mu_efficiency_feed(
    *,
    context: Context,
    principal: Annotated[Principal, allow(*FEED_ROLES)],
    period: PeriodKindQ = "month",
    after: PeriodAfter = None,
    limit: Annotated[int, Query(ge=1, le=366, description="Periods per page")] = 12,
    enterprise: EnterpriseQ = None,
    format: Format = None,  # noqa: A002 - the documented query parameter
    accept: Accept = None,
) -> EfficiencyPage | Response:
    """Periods (CST days or months) that ended at least the settle time ago, ascending after
    ``after`` (from the first weighing's period without it); every enterprise ranked within
    each period. An enterprise token gets its own rows (ranked among all)."""
    party = scope(principal, enterprise)
    page = period_keys(context, kind=period, after=after, limit=limit)
    rows = service.efficiency_rows(
        context.store, context.settings.feeds, kind=period, keys=page.keys
    )
    views = [efficiency_view(r) for r in rows if party is None or r.enterprise == party]
    if wants_csv(format, accept):
        return csv_response(EFFICIENCY_COLUMNS, (dict(v) for v in views))
    return {"period": period, "items": views, "cursor": page.cursor, "more": page.more}
