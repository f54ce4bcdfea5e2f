"""From a reading to the bytes a continuous-output indicator sends. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from firmware_sim.display import Reading, Unit
from firmware_sim.faults import shape
from firmware_sim.indicator import IndicatorConfig, IndicatorState, Protocol, reading
from firmware_sim.protocols import toledo, xk3190

_TOLEDO_UNITS = {
    Unit.KILOGRAM: toledo.UnitCode.PER_STATUS_B,
    Unit.GRAM: toledo.UnitCode.GRAM,
    Unit.TONNE: toledo.UnitCode.TONNE,
}


def encode_frame(config: IndicatorConfig, shown: Reading) -> bytes:
    """One frame of the configured continuous format for a reading."""
    display = config.display
    counts = display.counts(shown.shown_kg)
    match config.protocol:
        case Protocol.TOLEDO:
            return toledo.encode(
                toledo.ToledoFrame(
                    weight=abs(counts),
                    tare=display.counts(shown.tare_kg),
                    decimals=display.decimals,
                    division=display.division_counts,
                    net=shown.net_mode,
                    negative=counts < 0,
                    out_of_range=shown.overload or shown.underload,
                    motion=not shown.stable,
                    kg=True,  # metric; status C names g or t when the unit is not kg
                    unit=_TOLEDO_UNITS[display.unit],
                    power_up_not_zeroed=shown.power_up_not_zeroed,
                    with_tare=config.toledo_tare,
                )
            )
        case Protocol.XK3190_A9:
            return xk3190.encode_a9(counts=counts, decimals=display.decimals)
        case Protocol.XK3190_A12:
            if shown.overload:
                return xk3190.encode_a12_limit(xk3190.A12Limit.OVERLOAD)
            if shown.underload:
                return xk3190.encode_a12_limit(xk3190.A12Limit.UNDERLOAD)
            mode = xk3190.A12Mode.NET if shown.net_mode else xk3190.A12Mode.GROSS
            return xk3190.encode_a12(counts=counts, decimals=display.decimals, mode=mode)
        case Protocol.XK3190_EQ:
            return xk3190.encode_eq(counts=counts, decimals=display.decimals, order=config.eq_order)
        case Protocol.MT_SICS:
            raise ValueError("MT-SICS does not stream frames; see firmware_sim.responder")


def corrupter(protocol: Protocol) -> Callable[[bytes], bytes] | None:
    """How to break a frame's checksum, or None for formats without one."""
    return {
        Protocol.TOLEDO: toledo.corrupt_checksum,
        Protocol.XK3190_A9: xk3190.corrupt_a9,
        Protocol.XK3190_A12: xk3190.corrupt_a12,
    }.get(protocol)


def calibration_line(count: int) -> bytes:
    """The out-of-band status line streaming formats can interleave (``CAL 3\\r\\n``)."""
    return b"CAL %d\r\n" % count


def next_output(
    config: IndicatorConfig, state: IndicatorState, now_ms: int
) -> tuple[IndicatorState, bytes]:
    """The bytes to send for one frame period, and the state after sending them."""
    shown = reading(config, state, now_ms)
    if shown is None:
        return state, b""
    frame = encode_frame(config, shown)
    out, faults = shape(
        frame,
        state.faults,
        now_ms=now_ms,
        seed=state.scene.seed,
        corrupt=corrupter(config.protocol),
    )
    sent = state.frames_sent + 1
    every = config.cal_line_every
    if out and every and sent % every == 0:
        out += calibration_line(state.calibration_count)
    return replace(state, faults=faults, frames_sent=sent), out
