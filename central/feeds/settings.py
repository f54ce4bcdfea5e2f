"""What the feeds are computed with: prices, grade quantiles, credit weights, truck limits.

Read once from the environment in ``main`` (through :class:`central.config.Settings`) and
passed down; every value has a documented default (docs/feeds.md).

| variable | default |
|---|---|
| ``COALGATE_COAL_PRICES`` | ``default=600``: yuan per tonne by coal type, e.g. |
|  | ``5500kcal-lump=820,default=600`` |
| ``COALGATE_GRADE_QUANTILES`` | ``0.2,0.5,0.8`` (the share of enterprises graded A, A-B, A-C) |
| ``COALGATE_MAX_SPEED_KMH`` | ``100`` (faster than this between two places is impossible) |
| ``COALGATE_FEED_SETTLE_S`` | ``86400`` (a period is published this long after it ended) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from central.errors import ConfigError

CREDIT_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
        "escape": 10,
        "overload_attempt": 5,
        "tamper": 15,
        "equivocation": 20,
        "forged_ticket": 15,
        "reused_ticket": 10,
        "expired_ticket": 3,
        "discrepancy": 5,
        "device_offline": 2,
        "record_gap": 2,
        "manual_override": 1,
    }
)
"""Points a credit event of each kind takes off the score of 100 (docs/feeds.md "Score")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTable:
    """Yuan per tonne by coal type (the ticket's ``coal`` code); ``default`` for any other."""

    yuan_per_t: Mapping[str, int] = field(default_factory=dict)
    default: int = 600

    def price(self, coal: str | None) -> int:
        return self.yuan_per_t.get(coal or "", self.default)

    @classmethod
    def parse(cls, text: str) -> PriceTable:
        """``type=yuan,type=yuan,default=yuan``."""
        prices: dict[str, int] = {}
        default = 600
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.rpartition("=")
            if not sep or not name.strip() or not value.strip().isdigit():
                raise ConfigError(
                    f"COALGATE_COAL_PRICES: {part!r} is not coal-type=whole-yuan-per-tonne"
                )
            if name.strip() == "default":
                default = int(value)
            else:
                prices[name.strip()] = int(value)
        return cls(yuan_per_t=MappingProxyType(prices), default=default)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSettings:
    prices: PriceTable = field(default_factory=PriceTable)
    grade_quantiles: tuple[float, float, float] = (0.2, 0.5, 0.8)
    """Cumulative cut points: ranks in the first 20 % are A, up to 50 % B, up to 80 % C, else D."""
    credit_weights: Mapping[str, int] = field(default_factory=lambda: CREDIT_WEIGHTS)
    credit_window_ms: int = 365 * 86_400_000
    """The rolling window of the credit score: events older than this no longer count."""
    max_speed_kmh: int = 100
    simultaneous_ms: int = 15 * 60_000
    """Two weighings of one plate at two sites closer in time than this: "at two sites at once"."""
    tare_drift_kg: int = 300
    """Weighed tares of one plate at two sites that differ by more than this: tare drift."""
    settle_ms: int = 86_400_000
    lookback_ms: int = 30 * 86_400_000
    """The trucks builder reads what happened from this long before its previous run on."""
    trucks_refresh_ms: int = 60_000
    """The trucks builder runs at most this often (readers and the webhook worker call it)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FeedSettings:
        prices = PriceTable.parse(env.get("COALGATE_COAL_PRICES", "default=600"))
        quantiles = _quantiles(env.get("COALGATE_GRADE_QUANTILES", "0.2,0.5,0.8"))
        speed = env.get("COALGATE_MAX_SPEED_KMH", "100")
        settle = env.get("COALGATE_FEED_SETTLE_S", "86400")
        if not speed.isdigit() or int(speed) < 1:
            raise ConfigError(f"COALGATE_MAX_SPEED_KMH {speed!r} must be a whole number ≥ 1")
        if not settle.isdigit():
            raise ConfigError(f"COALGATE_FEED_SETTLE_S {settle!r} must be whole seconds")
        return cls(
            prices=prices,
            grade_quantiles=quantiles,
            max_speed_kmh=int(speed),
            settle_ms=int(settle) * 1000,
        )


def _quantiles(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not 0 <= values[0] <= values[1] <= values[2] <= 1:
        raise ConfigError(
            f"COALGATE_GRADE_QUANTILES {text!r} must be three ascending shares in 0..1, "
            "e.g. 0.2,0.5,0.8"
        )
    return (values[0], values[1], values[2])
