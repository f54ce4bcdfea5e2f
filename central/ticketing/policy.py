"""Ticketing policy values: the quota period and the reconciliation tolerance.

Kept apart from the rules so that the store's interface can name them without importing the
store (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # only a type here: importing the store would be a cycle
    from central.store.model import Enterprise


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaPolicy:
    """Quota per enterprise and calendar ``period`` in a fixed UTC offset (China Standard
    Time by default). The limit is the enterprise's approved annual capacity; a monthly
    period gets a twelfth of it."""

    period: Literal["year", "month"] = "year"
    utc_offset_h: int = 8

    def period_of(self, ts_ms: int) -> str:
        """``2026`` or ``2026-12``: the period a ticket issued at ``ts_ms`` is charged to."""
        zone = timezone(timedelta(hours=self.utc_offset_h))
        moment = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)).astimezone(zone)
        return f"{moment.year:04d}" if self.period == "year" else f"{moment:%Y-%m}"

    def limit_kg(self, enterprise: Enterprise) -> int:
        annual = enterprise.capacity_t * 1000
        return annual if self.period == "year" else annual // 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Tolerance:
    """Source and destination nets reconcile when they differ by at most the larger of
    ``basis_points`` of the source net (default 50 = 0.5 %) and ``floor_kg`` (default 100 kg).

    Relative to the *source* net because that is the net the sale and the quota were
    settled on; the floor keeps two scales' divisions (20 kg each on a 100 t truck scale)
    from flagging small loads; integer arithmetic, rounded down, so the rule is exact.
    """

    basis_points: int = 50
    floor_kg: int = 100

    def allowed_kg(self, source_net_kg: int) -> int:
        return max(self.floor_kg, source_net_kg * self.basis_points // 10_000)

    def exceeded(self, source_net_kg: int, dest_net_kg: int) -> bool:
        return abs(source_net_kg - dest_net_kg) > self.allowed_kg(source_net_kg)


DEFAULT_TOLERANCE = Tolerance()
DEFAULT_QUOTA = QuotaPolicy()
