"""MT-SICS command handling, pure: every command, its statuses, and malformed input."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware_sim.display import Display
from firmware_sim.faults import Faults
from firmware_sim.indicator import IndicatorConfig, IndicatorState, Protocol, power_loss
from firmware_sim.model import Deck, Scene, Truck
from firmware_sim.responder import respond

CONFIG = IndicatorConfig(protocol=Protocol.MT_SICS, display=Display(division_kg=10))
TRUCK = Truck(plate="陕K12345", axles=6, tare_kg=15_000, load_kg=34_000)


def standing() -> IndicatorState:
    return IndicatorState(scene=Scene(deck=Deck(noise_kg=1.0)).arrive(TRUCK, 0, settled=True))


def ask(state: IndicatorState, line: bytes | None, now: int = 1_000) -> bytes:
    _, response = respond(CONFIG, state, line, now, may_wait=False)
    return response.reply


def test_weights() -> None:
    state = standing()
    assert ask(state, b"S") == b"S S      49000 kg\r\n"
    assert ask(state, b"SI") == b"S S      49000 kg\r\n"
    _, response = respond(CONFIG, state, b"SIR", 1_000)
    assert response.repeat is True
    assert response.reply == b"S S      49000 kg\r\n"


def test_s_waits_for_stability_then_gives_up_with_i() -> None:
    moving = IndicatorState(scene=Scene().arrive(TRUCK, 0))
    _, response = respond(CONFIG, moving, b"S", 6_000)
    assert response.wait_for_stable
    assert ask(moving, b"S", 6_000) == b"S I\r\n"
    assert ask(moving, b"SI", 6_000).startswith(b"S D ")


def test_tare_and_clear() -> None:
    state, response = respond(CONFIG, standing(), b"T", 1_000)
    assert response.reply == b"T S      49000 kg\r\n"
    assert ask(state, b"SI") == b"S S          0 kg\r\n"
    assert ask(state, b"TA") == b"TA A      49000 kg\r\n"
    state, response = respond(CONFIG, state, b"TAC", 1_000)
    assert response.reply == b"TAC A\r\n"
    assert ask(state, b"SI") == b"S S      49000 kg\r\n"


def test_preset_tare() -> None:
    state, response = respond(CONFIG, standing(), b"TA 15000 kg", 1_000)
    assert response.reply == b"TA A      15000 kg\r\n"
    assert ask(state, b"SI") == b"S S      34000 kg\r\n"
    assert ask(state, b"TA 15000 t") == b"TA L\r\n"
    assert ask(state, b"TA 99999999 kg") == b"TA L\r\n"
    assert ask(state, b"TA lots kg") == b"ES\r\n"


def test_zero() -> None:
    assert ask(standing(), b"Z") == b"Z +\r\n"
    empty = IndicatorState(scene=Scene(deck=Deck(noise_kg=1.0)))
    assert ask(empty, b"Z") == b"Z A\r\n"
    assert ask(empty, b"ZI") == b"ZI S\r\n"


def test_identity_reset_and_calibration_counter() -> None:
    state = standing()
    assert ask(state, b"I4") == b'I4 A "SIM0000001"\r\n'
    _, response = respond(CONFIG, state, b"@", 1_000)
    assert response.reply == b'I4 A "SIM0000001"\r\n'
    assert response.repeat is False
    assert ask(replace(state, calibration_count=7), b"M27") == b"M27 A 7\r\n"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"XYZ", b"ES\r\n"),
        (b"s", b"ES\r\n"),
        (b"S 12", b"ES\r\n"),
        (b"S\x00I", b"ET\r\n"),
        (b"\xff\xfe", b"ET\r\n"),
        (b'D "hello"', b"EL\r\n"),
        (None, b"ES\r\n"),
    ],
)
def test_malformed_commands(line: bytes | None, reply: bytes) -> None:
    assert ask(standing(), line) == reply


def test_faults_shape_replies() -> None:
    state = standing()
    half = replace(state, faults=Faults(half_frames=1))
    new, response = respond(CONFIG, half, b"SI", 1_000)
    assert response.reply == b"S S      49000 kg\r\n"[:9]
    assert respond(CONFIG, new, b"SI", 1_000)[1].reply == b"S S      49000 kg\r\n"
    silent = replace(state, faults=Faults(silent_until_ms=5_000))
    assert ask(silent, b"SI") == b""
    assert ask(power_loss(state, 500, 1_000), b"SI") == b""
