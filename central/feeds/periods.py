"""Calendar periods in China Standard Time (UTC+8, no daylight saving): days and months.

A day key is ``YYYY-MM-DD``, a month key ``YYYY-MM``. Weighings carry the CST day of their
``ts`` (computed exactly by ingest, :func:`central.store.rules.cst_day`): 2026-11-30T15:59:59Z
is on 2026-11-30, 2026-11-30T16:00:00Z on 2026-12-01.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Literal

PeriodKind = Literal["day", "month"]
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_CST_OFFSET_MS = 8 * 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse(key: str, kind: PeriodKind) -> date:
    """The first day of period ``key``; ``ValueError`` if it is not a valid key of ``kind``."""
    if kind == "day":
        if not _DAY.match(key):
            raise ValueError(f"{key!r} is not a day YYYY-MM-DD")
        return date.fromisoformat(key)
    if not _MONTH.match(key):
        raise ValueError(f"{key!r} is not a month YYYY-MM")
    return date.fromisoformat(key + "-01")


def key_of(day: date, kind: PeriodKind) -> str:
    return day.isoformat() if kind == "day" else f"{day.year:04d}-{day.month:02d}"


def last_day(key: str, kind: PeriodKind) -> date:
    first = parse(key, kind)
    if kind == "day":
        return first
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def next_key(key: str, kind: PeriodKind) -> str:
    return key_of(last_day(key, kind) + timedelta(days=1), kind)


def days(key: str, kind: PeriodKind) -> int:
    return (last_day(key, kind) - parse(key, kind)).days + 1


def days_in_year(key: str, kind: PeriodKind) -> int:
    return 366 if calendar.isleap(parse(key, kind).year) else 365


def start_ms(key: str, kind: PeriodKind) -> int:
    """UTC ms at which the period begins in CST (00:00 CST = 16:00 UTC the day before)."""
    first = datetime.combine(parse(key, kind), datetime.min.time(), tzinfo=UTC)
    return (first - _EPOCH) // timedelta(milliseconds=1) - _CST_OFFSET_MS


def end_ms(key: str, kind: PeriodKind) -> int:
    """UTC ms at which the period ends (exclusive): the start of the next one."""
    return start_ms(next_key(key, kind), kind)


def containing(ts_ms: int, kind: PeriodKind) -> str:
    """The key of the period holding the UTC ms time ``ts_ms``."""
    moment = _EPOCH + timedelta(milliseconds=ts_ms + _CST_OFFSET_MS)
    return key_of(moment.date(), kind)


def span(first: str, last: str, kind: PeriodKind) -> list[str]:
    """Every key from ``first`` to ``last``, both included (empty if ``last`` < ``first``)."""
    keys: list[str] = []
    key = key_of(parse(first, kind), kind)
    end = parse(last, kind)
    while parse(key, kind) <= end:
        keys.append(key)
        key = next_key(key, kind)
    return keys
