"""MT-SICS command handling against an indicator's state (PROTOCOLS.md §1). Pure.

``respond`` takes one command line and returns the new state and what to send. Commands
that need a stable weight (S, Z, T) ask the caller to wait for stability first
(``Response.wait_for_stable``); the caller asks again with ``may_wait=False`` once the weight
is stable or its patience has run out, and then gets the final reply (``I`` on timeout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from firmware_sim.display import Reading
from firmware_sim.errors import ConfigError
from firmware_sim.faults import shape
from firmware_sim.indicator import (
    IndicatorConfig,
    IndicatorState,
    Outcome,
    clear_tare,
    preset_tare,
    reading,
    tare,
    zero,
    zero_now,
)
from firmware_sim.protocols import mt_sics
from firmware_sim.protocols.mt_sics import Command, LineError, Status

# Real MT-SICS commands this simulated device knows of but does not carry out: EL, not ES.
_KNOWN_UNSUPPORTED = frozenset(
    {"C0", "C1", "C2", "C3", "D", "DW", "I0", "I1", "I2", "I3", "I5", "K", "PWR", "SR"}
)
_NO_ARGUMENTS = frozenset({"@", "I4", "S", "SI", "SIR", "T", "TAC", "Z", "ZI"})
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """What to do after a command: bytes to send, whether to wait, SIR on/off/unchanged."""

    reply: bytes = b""
    wait_for_stable: bool = False
    repeat: bool | None = None


def respond(
    config: IndicatorConfig,
    state: IndicatorState,
    line: bytes | None,
    now_ms: int,
    *,
    may_wait: bool = True,
) -> tuple[IndicatorState, Response]:
    """Handle one command line (``None`` = a line too long to be a command)."""
    shown = reading(config, state, now_ms)
    if shown is None:
        return state, Response()  # no power, no answer
    parsed = LineError.SYNTAX if line is None else mt_sics.parse_line(line)
    if isinstance(parsed, LineError):
        return _send(state, mt_sics.error_reply(parsed), now_ms)
    state, response = _dispatch(config, state, parsed, shown, now_ms, may_wait=may_wait)
    if response.wait_for_stable:
        return state, response
    state, response_bytes = _shaped(state, response.reply, now_ms)
    return state, replace(response, reply=response_bytes)


def repeat_line(
    config: IndicatorConfig, state: IndicatorState, now_ms: int
) -> tuple[IndicatorState, bytes]:
    """One line of an SIR stream."""
    shown = reading(config, state, now_ms)
    if shown is None:
        return state, b""
    return _shaped(state, _weight_now(config, shown), now_ms)


def power_on_message(config: IndicatorConfig) -> bytes:
    """What an MT-SICS device sends when it comes back on (as after ``@``)."""
    return mt_sics.status_reply("I4", Status.ACK, f'"{config.serial_number}"')


def _send(state: IndicatorState, data: bytes, now_ms: int) -> tuple[IndicatorState, Response]:
    state, out = _shaped(state, data, now_ms)
    return state, Response(reply=out)


def _shaped(state: IndicatorState, data: bytes, now_ms: int) -> tuple[IndicatorState, bytes]:
    out, faults = shape(data, state.faults, now_ms=now_ms, seed=state.scene.seed, corrupt=None)
    return replace(state, faults=faults), out


def _weight(config: IndicatorConfig, ident: str, status: Status, kg: int) -> bytes:
    display = config.display
    return mt_sics.weight_reply(
        ident, status, display.counts(kg), display.decimals, display.unit.value
    )


def _weight_now(config: IndicatorConfig, shown: Reading) -> bytes:
    if shown.overload:
        return mt_sics.status_reply("S", Status.OVER)
    if shown.underload:
        return mt_sics.status_reply("S", Status.UNDER)
    status = Status.STABLE if shown.stable else Status.DYNAMIC
    return _weight(config, "S", status, shown.shown_kg)


def _dispatch(
    config: IndicatorConfig,
    state: IndicatorState,
    command: Command,
    shown: Reading,
    now_ms: int,
    *,
    may_wait: bool,
) -> tuple[IndicatorState, Response]:
    name, args = command.name, command.args
    wait = Response(wait_for_stable=True)
    if args and name in _NO_ARGUMENTS:
        return state, Response(reply=mt_sics.error_reply(LineError.SYNTAX))
    match name:
        case "S":
            if not (shown.stable or shown.overload or shown.underload):
                if may_wait:
                    return state, wait
                return state, Response(reply=mt_sics.status_reply("S", Status.NOT_NOW))
            return state, Response(reply=_weight_now(config, shown))
        case "SI":
            return state, Response(reply=_weight_now(config, shown))
        case "SIR":
            return state, Response(reply=_weight_now(config, shown), repeat=True)
        case "Z":
            new, outcome = zero(config, state, now_ms)
            if outcome is Outcome.UNSTABLE and may_wait:
                return state, wait
            status = {
                Outcome.DONE: Status.ACK,
                Outcome.UNSTABLE: Status.NOT_NOW,
                Outcome.ABOVE: Status.OVER,
                Outcome.BELOW: Status.UNDER,
            }[outcome]
            return new, Response(reply=mt_sics.status_reply("Z", status))
        case "ZI":
            new, outcome = zero_now(config, state, now_ms)
            status = {
                Outcome.DONE: Status.STABLE,
                Outcome.UNSTABLE: Status.DYNAMIC,
                Outcome.ABOVE: Status.OVER,
                Outcome.BELOW: Status.UNDER,
            }[outcome]
            return new, Response(reply=mt_sics.status_reply("ZI", status))
        case "T":
            new, outcome = tare(config, state, now_ms)
            if outcome is Outcome.UNSTABLE and may_wait:
                return state, wait
            if outcome is Outcome.DONE:
                return new, Response(reply=_weight(config, "T", Status.STABLE, new.tare_kg))
            status = {
                Outcome.UNSTABLE: Status.NOT_NOW,
                Outcome.ABOVE: Status.OVER,
                Outcome.BELOW: Status.UNDER,
            }[outcome]
            return new, Response(reply=mt_sics.status_reply("T", status))
        case "TA":
            return _preset_tare(config, state, args)
        case "TAC":
            return clear_tare(state), Response(reply=mt_sics.status_reply("TAC", Status.ACK))
        case "I4":
            serial = f'"{config.serial_number}"'
            return state, Response(reply=mt_sics.status_reply("I4", Status.ACK, serial))
        case "@":
            # Reset: as after switching on, without zeroing; any SIR stream stops.
            return clear_tare(state), Response(reply=power_on_message(config), repeat=False)
        case _ if name == config.cal_command:
            if args:
                return state, Response(reply=mt_sics.status_reply(name, Status.PARAM))
            count = str(state.calibration_count)
            return state, Response(reply=mt_sics.status_reply(name, Status.ACK, count))
        case _ if name in _KNOWN_UNSUPPORTED:
            return state, Response(reply=mt_sics.error_reply(LineError.LOGICAL))
        case _:
            return state, Response(reply=mt_sics.error_reply(LineError.SYNTAX))


def _preset_tare(
    config: IndicatorConfig, state: IndicatorState, args: tuple[str, ...]
) -> tuple[IndicatorState, Response]:
    """``TA`` reads the tare; ``TA <value> <unit>`` sets it."""
    display = config.display
    if args:
        if len(args) != 2 or not _NUMBER.fullmatch(args[0]):
            return state, Response(reply=mt_sics.error_reply(LineError.SYNTAX))
        value, unit = args
        whole, _, fraction = value.lstrip("-").partition(".")
        if unit != display.unit.value or len(fraction) > display.decimals or value.startswith("-"):
            return state, Response(reply=mt_sics.status_reply("TA", Status.PARAM))
        counts = int(whole + fraction.ljust(display.decimals, "0"))
        try:
            state = preset_tare(config, state, display.kg(counts))
        except ConfigError:
            return state, Response(reply=mt_sics.status_reply("TA", Status.PARAM))
    return state, Response(reply=_weight(config, "TA", Status.ACK, state.tare_kg))
