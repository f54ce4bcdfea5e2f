"""Which coil and which discrete input of the IO module carries each signal. Pure.

The default is PROTOCOLS.md §4: coils 0 barrier, 1 red light, 2 green light, 3 horn; discrete
inputs 0 entry beam, 1 on-deck front beam, 2 on-deck rear beam, 3 exit beam, 4 barrier-up limit
switch. A module wired differently moves signals to other channels: ``io_map_from_table`` takes
a table (from the site file) and ``io_map_from_text`` the ``signal=channel,…`` of the CLI (the
same syntax as ``coalgate sim io --io-map``). Signals left out keep their default channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

from edge.errors import ConfigError

#: Highest channel a map may name; the driver reads each kind in one request (FC01/FC02 allow
#: 2000 bits), so every channel of a kind fits one read.
MAX_CHANNEL: Final = 1999
COIL_SIGNALS: Final = ("barrier", "red", "green", "horn")
INPUT_SIGNALS: Final = ("entry", "deck_front", "deck_rear", "exit", "barrier_up")


@dataclass(frozen=True, slots=True, kw_only=True)
class IoMap:
    """Coil numbers (``barrier``, ``red``, ``green``, ``horn``) and discrete-input numbers
    (``entry``, ``deck_front``, ``deck_rear``, ``exit``, ``barrier_up``), 0-based."""

    barrier: int = 0
    red: int = 1
    green: int = 2
    horn: int = 3
    entry: int = 0
    deck_front: int = 1
    deck_rear: int = 2
    exit: int = 3
    barrier_up: int = 4

    def __post_init__(self) -> None:
        for name in (*COIL_SIGNALS, *INPUT_SIGNALS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"must be an integer, not {value!r}", option=name)
            if not 0 <= value <= MAX_CHANNEL:
                raise ConfigError(f"channel {value} is not 0-{MAX_CHANNEL}", option=name)
        for kind, group in (("coil", COIL_SIGNALS), ("input", INPUT_SIGNALS)):
            seen: dict[int, str] = {}
            for name in group:
                channel = getattr(self, name)
                if channel in seen:
                    raise ConfigError(
                        f"{kind} {channel} is given to both {seen[channel]} and {name}",
                        option=name,
                    )
                seen[channel] = name

    def coil(self, signal: str) -> int:
        """The coil of ``barrier``, ``red``, ``green`` or ``horn``."""
        if signal not in COIL_SIGNALS:
            raise ValueError(f"no coil signal {signal!r} (coils: {', '.join(COIL_SIGNALS)})")
        channel: int = getattr(self, signal)
        return channel

    @property
    def coil_span(self) -> tuple[int, int]:
        """(first coil, count) covering every mapped coil: one FC01 read."""
        return _span(self.barrier, self.red, self.green, self.horn)

    @property
    def input_span(self) -> tuple[int, int]:
        """(first input, count) covering every mapped input: one FC02 read."""
        return _span(self.entry, self.deck_front, self.deck_rear, self.exit, self.barrier_up)


DEFAULT_IO_MAP: Final = IoMap()


def _span(*channels: int) -> tuple[int, int]:
    first = min(channels)
    return first, max(channels) - first + 1


def io_map_from_table(table: Mapping[str, object], *, where: str) -> IoMap:
    """An IoMap from ``{signal: channel}``; ``ConfigError`` whose ``option`` is
    ``where.signal`` (``where`` is the dotted key of the table, e.g. ``lane[1].io``)."""
    known = {f.name for f in fields(IoMap)}
    prefix = f"{where}." if where else ""
    for key in table:
        if key not in known:
            raise ConfigError(
                f"unknown signal {key!r} (signals: {', '.join((*COIL_SIGNALS, *INPUT_SIGNALS))})",
                option=f"{prefix}{key}",
            )
    try:
        return IoMap(**dict(table))  # type: ignore[arg-type]  # values are checked in __post_init__
    except ConfigError as exc:
        raise ConfigError(exc.message, option=f"{prefix}{exc.option}") from None


def io_map_from_text(text: str, *, where: str = "io-map") -> IoMap:
    """An IoMap from ``signal=channel`` pairs, e.g. ``exit=5,barrier_up=6``."""
    table: dict[str, object] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, number = part.partition("=")
        if not sep or not number.strip().isdigit():
            raise ConfigError(f"{part!r}: write signal=channel, e.g. exit=5", option=where)
        table[name.strip()] = int(number)
    return io_map_from_table(table, where=where)
