"""Values of the feeds, as the store keeps them and the pure computations exchange them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FeedName = Literal["credit", "trucks"]
"""The journal feeds: items appended once and served by id (the others are computed per period)."""
FEED_NAMES: tuple[FeedName, ...] = ("credit", "trucks")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedItem:
    """One item of a journal feed. ``key`` names what it was derived from (``alarm:17``,
    ``record:<hex>``, ``trip:<cti hex>``…) and is unique per feed, so deriving it again adds
    nothing. ``enterprise`` is whose item it is (credit), ``parties`` who may see it (trucks:
    seller and buyer, or the owners of the sites concerned). ``id`` and ``added_at`` are set by
    the store."""

    feed: FeedName
    key: str
    kind: str
    subject: str
    at: int
    body: dict[str, Any]
    enterprise: str | None = None
    parties: tuple[str, ...] = ()
    id: int | None = None
    added_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TonnageFact:
    """Released net of one (China Standard Time day, site, direction, coal type)."""

    day: str
    site: str
    direction: Literal["out", "in"]
    coal: str | None  # the ticket's coal type; None for a weighing without a known ticket
    net_kg: int
    weighings: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WeighingRow:
    """A released weighing with a net, with its record (the trucks feed decodes the tare)."""

    record_id: bytes
    device: str
    site: str
    direction: Literal["out", "in"]
    ts: int
    net_kg: int
    plate: str
    ticket: bytes | None
    raw: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxDeclaration:
    """Declared sales of one enterprise in one month (``YYYY-MM``, China Standard Time)."""

    enterprise: str
    period: str
    sold_kg: int
    value_yuan: int
    submitted_at: int = 0
    submitted_by: str = ""


TaxOutcome = Literal["added", "replaced", "unchanged"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """A subscription: items of ``feed`` (an enterprise token's: its own) are POSTed to
    ``url``, signed with ``secret``."""

    id: int
    token: int
    enterprise: str | None
    feed: FeedName
    url: str
    secret: str
    created_at: int
    deleted_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One outbox row due for delivery."""

    id: int
    webhook: Webhook
    item: FeedItem
    attempts: int
    next_at: int
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedMarks:
    """How far the builders have read their sources (see :mod:`central.feeds.service`)."""

    values: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        return self.values.get(name, 0)
