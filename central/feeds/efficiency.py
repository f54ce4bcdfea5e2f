"""The mu-efficiency (亩均效益) feed: per enterprise and period, tonnage sold and received, its
value, tonnage and value per mu, the share of approved capacity used, a rank and a grade.

Pure. Definitions (docs/feeds.md "mu-efficiency"):

- ``sold_kg``: released outbound net weighed at the enterprise's sites in the period (CST);
  ``received_kg``: released inbound net at its sites;
- ``value_yuan``: Σ outbound net x the price of the ticket's coal type (yuan per tonne), in
  whole yuan (Σ kg x yuan/t, divided by 1000, rounded half up);
- ``sold_t_per_mu`` = sold tonnes / land area (3 decimals); ``value_yuan_per_mu`` = value /
  land area (2 decimals); both null when the land area is 0;
- ``capacity_share`` = sold / (approved annual capacity x days of the period / days of its
  year) (4 decimals); null when the capacity is 0;
- rank: 1 = highest value per mu (ties: more tonnes sold, then enterprise id); enterprises
  without land area are not ranked. Grade by rank r of n ranked: with position
  p = (r - 1) / n and quantiles (q1, q2, q3): A if p < q1, B if p < q2, C if p < q3, else D.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from central.feeds import periods
from central.feeds.model import TonnageFact
from central.feeds.periods import PeriodKind
from central.feeds.settings import PriceTable
from central.store.model import Enterprise


@dataclass(slots=True, kw_only=True)
class Measured:
    """Running sums of one (enterprise, period)."""

    sold_kg: int = 0
    received_kg: int = 0
    value_milli: int = 0  # Σ kg x yuan/t: thousandths of a yuan
    weighings: int = 0

    @property
    def value_yuan(self) -> int:
        return (self.value_milli + 500) // 1000


def measure(
    facts: Sequence[TonnageFact],
    *,
    owners: Mapping[str, str],
    kind: PeriodKind,
    prices: PriceTable,
) -> dict[tuple[str, str], Measured]:
    """Sums per (enterprise, period key); ``owners`` maps site → enterprise."""
    sums: dict[tuple[str, str], Measured] = {}
    for fact in facts:
        owner = owners.get(fact.site)
        if owner is None:
            continue
        key = (owner, periods.key_of(date.fromisoformat(fact.day), kind))
        sum_ = sums.setdefault(key, Measured())
        sum_.weighings += fact.weighings
        if fact.direction == "out":
            sum_.sold_kg += fact.net_kg
            sum_.value_milli += fact.net_kg * prices.price(fact.coal)
        else:
            sum_.received_kg += fact.net_kg
    return sums


@dataclass(frozen=True, slots=True, kw_only=True)
class EfficiencyRow:
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
    ranked: int  # how many enterprises were ranked in the period


def grade(rank: int, ranked: int, quantiles: tuple[float, float, float]) -> str:
    """A/B/C/D of ``rank`` (1-based) among ``ranked`` (module docstring)."""
    position = (rank - 1) / ranked
    for letter, cut in zip("ABC", quantiles, strict=True):
        if position < cut:
            return letter
    return "D"


def rows(
    sums: Mapping[tuple[str, str], Measured],
    *,
    enterprises: Sequence[Enterprise],
    keys: Sequence[str],
    kind: PeriodKind,
    quantiles: tuple[float, float, float],
) -> list[EfficiencyRow]:
    """One row per enterprise and period in ``keys``, by period, then rank (unranked last,
    by id)."""
    out: list[EfficiencyRow] = []
    for key in keys:
        share_of_year = periods.days(key, kind) / periods.days_in_year(key, kind)
        measured = {e.id: sums.get((e.id, key), Measured()) for e in enterprises}
        ranked = sorted(
            (e for e in enterprises if e.land_mu > 0),
            key=lambda e: (
                -measured[e.id].value_yuan / e.land_mu,
                -measured[e.id].sold_kg,
                e.id,
            ),
        )
        ranks = {e.id: i for i, e in enumerate(ranked, start=1)}
        ordered = ranked + sorted((e for e in enterprises if e.land_mu <= 0), key=lambda e: e.id)
        for enterprise in ordered:
            m = measured[enterprise.id]
            land = enterprise.land_mu
            rank = ranks.get(enterprise.id)
            capacity_kg = enterprise.capacity_t * 1000 * share_of_year
            out.append(
                EfficiencyRow(
                    enterprise=enterprise.id,
                    period=key,
                    sold_kg=m.sold_kg,
                    received_kg=m.received_kg,
                    value_yuan=m.value_yuan,
                    land_mu=land,
                    sold_t_per_mu=round(m.sold_kg / 1000 / land, 3) if land > 0 else None,
                    value_yuan_per_mu=round(m.value_yuan / land, 2) if land > 0 else None,
                    capacity_t=enterprise.capacity_t,
                    capacity_share=round(m.sold_kg / capacity_kg, 4) if capacity_kg > 0 else None,
                    rank=rank,
                    grade=None if rank is None else grade(rank, len(ranked), quantiles),
                    ranked=len(ranked),
                )
            )
    return out
