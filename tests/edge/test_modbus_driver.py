"""The Modbus scale driver against ``coalgate sim modbus``, through the wire only, through faults.

Both presets and a vendor map (float32, low word first, one decimal) over Modbus TCP and RTU
on a real pty; through every fault the simulator offers a transmitter (exception answers,
no answer, replies slower than the timeout, a pulled cable, a transmitter replaced with
another division): readings of 49,000 kg resume after each fault, faults are reported as
events and counted by reason, the polling task is still alive. Zero/tare/clear-tare through the
command register, refused while the deck moves. Every wait is bounded and ends on an event.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import CommandRefusedError, ConfigError, ConversionError, ModbusExceptionError
from edge.modbus.line import ModbusLine
from edge.modbus.regmap import PRESETS, RegisterMap, Sample, load_register_map
from edge.scale.convert import Converter
from edge.scale.events import (
    Calibration,
    FaultKind,
    ScaleCalibration,
    ScaleEvent,
    ScaleFault,
    ScaleReading,
)
from edge.scale.modbus_driver import ModbusScaleDriver, reading_from_sample
from edge.scale.readings import ScaleProtocol
from tests.edge.simproc import EXPECTED_KG, Transmitter

WAIT_S = 15.0
LINE_TIMEOUT_S = 0.3

#: A vendor's transmitter: float32 low word first, one decimal, values apart with a gap
#: the device does not map (a merged read gets exception 02).
VENDOR_MAP = """\
name = "vendor-float"
area = "holding"
gross = 10
net = 20
type = "float32"
word_order = "little"
decimals = 1
status = 6
status_bits = { motion = 0, overload = 1, underload = 2, net = 3, zero = 4 }
command = 5
commands = { 1 = "zero", 2 = "tare", 3 = "clear-tare" }
"""


class Harness:
    """A driver polling as a named task, and its events read with bounded waits."""

    def __init__(self, driver: ModbusScaleDriver, transmitter: Transmitter) -> None:
        self.driver = driver
        self.transmitter = transmitter
        self.seen: list[ScaleEvent] = []
        self.expected_kg: int | None = EXPECTED_KG

    async def until(self, wanted: Callable[[ScaleEvent], bool], what: str) -> ScaleEvent:
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    event = await self.driver.events.get()
                    self.seen.append(event)
                    if isinstance(event, ScaleReading) and self.expected_kg is not None:
                        assert event.weight.kg == self.expected_kg, event
                    if wanted(event):
                        return event
        except TimeoutError:
            kinds = [e.kind for e in self.seen if isinstance(e, ScaleFault)]
            raise AssertionError(
                f"no {what} within {WAIT_S} s; faults seen {kinds}, "
                f"errors {dict(self.driver.error_counts)}"
            ) from None

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Until ``condition()`` holds, checked after each poll (counters raise no event)."""
        try:
            async with asyncio.timeout(WAIT_S):
                while not condition():
                    await self.driver.next_poll()
        except TimeoutError:
            raise AssertionError(
                f"no {what} within {WAIT_S} s; errors {dict(self.driver.error_counts)}"
            ) from None

    async def reading(
        self, wanted: Callable[[ScaleReading], bool] = lambda _r: True
    ) -> ScaleReading:
        event = await self.until(
            lambda e: isinstance(e, ScaleReading) and wanted(e), "matching reading"
        )
        assert isinstance(event, ScaleReading)
        return event

    async def readings(self, count: int) -> None:
        for _ in range(count):
            await self.reading()

    async def fault(self, kind: FaultKind) -> None:
        await self.until(lambda e: isinstance(e, ScaleFault) and e.kind is kind, kind.value)

    async def inject(self, kind: str, **fields: object) -> None:
        await asyncio.to_thread(self.transmitter.fault, kind, **fields)


@dataclass(frozen=True)
class Setup:
    map_spec: str  # a preset, or "vendor" for VENDOR_MAP
    pty: bool


SETUPS = {
    "hr-int32-tcp": Setup("hr-int32", pty=False),
    "ir-c500-pty": Setup("ir-c500", pty=True),
    "vendor-float-tcp": Setup("vendor", pty=False),
    "hr-int32-pty": Setup("hr-int32", pty=True),
}


def _regmap(spec: str, tmp_path: Path) -> tuple[RegisterMap, Path | None]:
    if spec != "vendor":
        return load_register_map(spec, where="test"), None
    path = tmp_path / "vendor.toml"
    path.write_text(VENDOR_MAP)
    return load_register_map(str(path), where="test"), path


async def _harness(
    transmitter: Transmitter, regmap: RegisterMap, **options: object
) -> AsyncIterator[Harness]:
    async with ModbusLine(url=transmitter.url, timeout_s=LINE_TIMEOUT_S) as line:
        settings: dict[str, object] = {
            "division_kg": 10,
            "poll_interval_s": 0.05,
            "silent_after_s": 0.8,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.5,
        }
        driver = ModbusScaleDriver(
            line=line,
            regmap=regmap,
            **(settings | options),  # type: ignore[arg-type]
        )
        task = asyncio.create_task(driver.run(), name="modbus scale driver under test")
        try:
            yield Harness(driver, transmitter)
            assert not task.done(), "the polling task stopped by itself"
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


@pytest.fixture(params=list(SETUPS))
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    setup = SETUPS[request.param]
    regmap, map_file = _regmap(setup.map_spec, tmp_path)
    transmitter = Transmitter(
        preset=setup.map_spec,
        map_file=map_file,
        pty_link=tmp_path / "modbus" if setup.pty else None,
    )
    try:
        async for harness in _harness(transmitter, regmap):
            yield harness
    finally:
        transmitter.stop()


@pytest.fixture
async def hr_tcp() -> AsyncIterator[Harness]:
    transmitter = Transmitter(preset="hr-int32")
    try:
        async for harness in _harness(transmitter, PRESETS["hr-int32"]):
            yield harness
    finally:
        transmitter.stop()


# --- readings and faults, every setup -------------------------------------------------------


async def test_readings_in_whole_kilograms(harness: Harness) -> None:
    reading = await harness.reading()
    weight = reading.weight
    assert weight.kg == EXPECTED_KG
    assert weight.stable is True
    assert weight.net is False
    assert (weight.overload, weight.underload) == (False, False)
    assert weight.reading.protocol is ScaleProtocol.MODBUS
    regmap = harness.driver.regmap
    assert weight.tare_kg == (0 if regmap.tare is not None else None)
    read = {address for address, _ in reading.registers}
    assert {
        address for start, words in regmap.spans() for address in range(start, start + words)
    } <= read
    assert weight.reading.raw == b"".join(word.to_bytes(2, "big") for _, word in reading.registers)
    await harness.readings(3)
    assert harness.driver.conversion_errors == 0


async def test_exception_answers_are_counted_and_polling_goes_on(harness: Harness) -> None:
    await harness.readings(2)
    for code in (6, 4):
        key = f"exception:{code}"
        before = harness.driver.error_counts[key]
        await harness.inject("exception", code=code, count=3)
        await harness.wait_for(lambda k=key, b=before: harness.driver.error_counts[k] >= b + 3, key)
        await harness.readings(3)


async def test_no_answer_is_silence_then_readings_resume(harness: Harness) -> None:
    await harness.readings(2)
    await harness.inject("timeout", duration_ms=1500)
    await harness.fault(FaultKind.SILENT)
    await harness.fault(FaultKind.RESUMED)
    await harness.readings(3)
    assert harness.driver.error_counts["no_response"] >= 1
    silent = next(
        e for e in harness.seen if isinstance(e, ScaleFault) and e.kind is FaultKind.SILENT
    )
    assert "no valid answer" in silent.detail


async def test_replies_slower_than_the_timeout(harness: Harness) -> None:
    await harness.readings(2)
    await harness.inject("slow", delay_ms=int(LINE_TIMEOUT_S * 1000 * 3), duration_ms=1500)
    await harness.fault(FaultKind.SILENT)
    await harness.fault(FaultKind.RESUMED)
    await harness.readings(5)
    assert harness.driver.error_counts["no_response"] >= 1


async def test_slow_replies_within_the_timeout_are_readings(hr_tcp: Harness) -> None:
    await hr_tcp.readings(2)
    await hr_tcp.inject("slow", delay_ms=int(LINE_TIMEOUT_S * 1000 / 3), duration_ms=60_000)
    readings_before = hr_tcp.driver.readings
    await hr_tcp.readings(5)
    assert hr_tcp.driver.readings >= readings_before + 5
    assert hr_tcp.driver.error_counts["no_response"] == 0


async def test_pulled_cable_disconnects_and_reconnects(harness: Harness) -> None:
    await harness.readings(2)
    connects = harness.driver.line.connects
    await harness.inject("disconnect", duration_ms=1200)
    await harness.fault(FaultKind.DISCONNECTED)
    await harness.fault(FaultKind.RECONNECTED)
    await harness.readings(3)
    assert harness.driver.line.connects > connects
    assert harness.driver.error_counts["line_down"] >= 1


# --- commands -------------------------------------------------------------------------------


async def test_tare_shows_net_then_clear_tare_shows_gross(harness: Harness) -> None:
    driver = harness.driver
    await harness.readings(1)
    harness.expected_kg = None
    await driver.tare()
    net = await harness.reading(lambda r: r.weight.net is True)
    assert net.weight.kg == 0
    if driver.regmap.tare is not None:
        assert net.weight.tare_kg == EXPECTED_KG
    if "clear-tare" in {c.value for c in driver.regmap.commands}:
        await driver.clear_tare()
        gross = await harness.reading(lambda r: r.weight.net is False)
        assert gross.weight.kg == EXPECTED_KG
    else:
        with pytest.raises(ConfigError, match="no clear-tare command"):
            await driver.clear_tare()


async def test_zero_with_a_truck_on_the_deck_is_refused(harness: Harness) -> None:
    await harness.readings(1)
    with pytest.raises(CommandRefusedError) as caught:
        await harness.driver.zero()
    assert (caught.value.code, caught.value.command) == (4, "zero")
    await harness.readings(2)  # still polling, still the truck's weight


async def test_zero_on_an_empty_deck_and_tare_refused_while_moving(tmp_path: Path) -> None:
    transmitter = Transmitter(preset="hr-int32", truck=None)
    try:
        async for harness in _harness(transmitter, PRESETS["hr-int32"]):
            harness.expected_kg = None
            await harness.reading(lambda r: r.weight.kg == 0)
            await harness.driver.zero()
            await asyncio.to_thread(
                transmitter.post,
                "/trucks",
                {"plate": "陕K12345", "axles": 6, "tare_kg": 15000, "load_kg": 34000},
            )
            await harness.reading(lambda r: r.weight.stable is False)
            with pytest.raises(CommandRefusedError) as caught:
                await harness.driver.tare()
            assert caught.value.command == "tare"
    finally:
        transmitter.stop()


async def test_a_command_the_device_rejects_otherwise_is_the_lines_error(hr_tcp: Harness) -> None:
    await hr_tcp.readings(1)
    await hr_tcp.inject("exception", code=6, count=1)
    with pytest.raises(ModbusExceptionError) as caught:
        await hr_tcp.driver.tare()
    assert caught.value.code == 6
    assert not isinstance(caught.value, CommandRefusedError)


# --- the map against the device ---------------------------------------------------------------


async def test_merged_read_refused_with_02_falls_back_to_one_read_per_value(
    tmp_path: Path,
) -> None:
    regmap, map_file = _regmap("vendor", tmp_path)
    assert len(regmap.read_plan()) < len(regmap.read_plan(max_gap=0))
    transmitter = Transmitter(map_file=map_file)
    try:
        async for harness in _harness(transmitter, regmap):
            await harness.readings(3)
            assert harness.driver.plan == regmap.read_plan(max_gap=0)
            assert harness.driver.error_counts["exception:2"] == 1
    finally:
        transmitter.stop()


async def test_a_unit_nobody_has_on_rtu_is_silence(tmp_path: Path) -> None:
    transmitter = Transmitter(preset="ir-c500", pty_link=tmp_path / "modbus")
    try:
        async for harness in _harness(transmitter, PRESETS["ir-c500"], device_id=7):
            await harness.fault(FaultKind.SILENT)
            assert harness.driver.error_counts["no_response"] >= 1
            assert harness.driver.readings == 0
    finally:
        transmitter.stop()


async def test_off_grid_weights_are_conversion_errors_never_rounded(tmp_path: Path) -> None:
    regmap, map_file = _regmap("vendor", tmp_path)
    transmitter = Transmitter(map_file=map_file, extra=("--division", "1"))
    try:
        # a 1 kg transmitter, configured as 20 kg: 49,000 is on the grid, a 5 kg step is not
        async for harness in _harness(transmitter, regmap, division_kg=20):
            await harness.readings(2)
            harness.expected_kg = None  # the step may pass through other weights
            await harness.inject("step", kg=5)
            await harness.wait_for(
                lambda h=harness: h.driver.conversion_errors > 0, "a conversion error"
            )
            error = harness.driver.last_conversion_error
            assert error is not None
            assert error.reason == "not_multiple"
            kg = int(error.value.removesuffix(" kg"))
            assert kg % 20 != 0  # a weight the division cannot hold is dropped, not rounded
            assert error.message == f"{kg} kg is not a multiple of the 20 kg division"
            dropped = harness.driver.conversion_errors
            await harness.wait_for(  # and the polling goes on
                lambda h=harness, n=dropped: h.driver.conversion_errors >= n + 3, "more polls"
            )
            assert harness.driver.readings >= 2
    finally:
        transmitter.stop()


async def test_a_transmitter_with_another_division_is_a_calibration_event(
    tmp_path: Path,
) -> None:
    link = tmp_path / "modbus"
    first = Transmitter(preset="hr-int32", pty_link=link)
    second: Transmitter | None = None
    try:
        async for harness in _harness(first, PRESETS["hr-int32"]):
            await harness.readings(2)
            assert harness.driver.calibration == Calibration(counter=0, division_kg=10)
            await asyncio.to_thread(first.stop)
            await harness.fault(FaultKind.DISCONNECTED)
            second = await asyncio.to_thread(
                Transmitter, preset="hr-int32", pty_link=link, extra=("--division", "20")
            )
            event = await harness.until(lambda e: isinstance(e, ScaleCalibration), "calibration")
            assert isinstance(event, ScaleCalibration)
            assert event.previous == Calibration(counter=0, division_kg=10)
            assert event.current == Calibration(counter=0, division_kg=20)
            assert FaultKind.RECONNECTED in {
                e.kind for e in harness.seen if isinstance(e, ScaleFault)
            }
            await harness.readings(2)
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_no_device_is_reported_and_retried_forever() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    async with ModbusLine(url=url, timeout_s=LINE_TIMEOUT_S) as line:
        driver = ModbusScaleDriver(
            line=line, regmap=PRESETS["hr-int32"], silent_after_s=0.3, backoff_max_s=0.2
        )
        async with asyncio.TaskGroup() as group:
            task = group.create_task(driver.run(), name="modbus scale driver without a device")
            kinds: set[FaultKind] = set()
            async with asyncio.timeout(WAIT_S):
                while kinds != {FaultKind.DISCONNECTED, FaultKind.SILENT}:
                    event = await driver.events.get()
                    assert isinstance(event, ScaleFault)
                    kinds.add(event.kind)
            assert not task.done()
            task.cancel()
    assert driver.error_counts["line_down"] >= 1
    assert line.connects == 0


async def test_a_command_the_map_lacks_is_a_config_error() -> None:
    async with ModbusLine(url="tcp://127.0.0.1:1") as line:
        driver = ModbusScaleDriver(line=line, regmap=PRESETS["ir-c500"])
        with pytest.raises(ConfigError, match="no clear-tare command"):
            await driver.clear_tare()
        assert line.transactions == 0
    with pytest.raises(ConfigError, match="unit id"):
        ModbusScaleDriver(line=line, regmap=PRESETS["ir-c500"], device_id=0)


# --- pure: a sample as a reading ------------------------------------------------------------


def _sample(**fields: object) -> Sample:
    values: dict[str, object] = {
        "gross": Decimal(49000), "net": None, "tare": None, "displayed": None, "motion": False,
        "overload": False, "underload": False, "net_mode": None, "zero": False, "errors": None,
        "division_kg": None, "calibration": None,
    }  # fmt: skip
    values.update(fields)
    return Sample(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "shown", "net"),
    [
        ({}, 49000, False),
        ({"displayed": Decimal(30000)}, 30000, None),
        ({"net_mode": False, "net": Decimal(34000)}, 49000, False),
        ({"net_mode": True, "net": Decimal(34000), "displayed": Decimal(1)}, 34000, True),
        ({"net_mode": True, "displayed": Decimal(34000)}, 34000, True),
        ({"net_mode": True, "tare": Decimal(15000)}, 34000, True),
        ({"net_mode": True}, 49000, False),
    ],
)
def test_the_weight_shown_follows_the_mode(
    fields: dict[str, object], shown: int, net: bool | None
) -> None:
    reading = reading_from_sample(_sample(**fields))
    assert (reading.value, reading.net) == (Decimal(shown), net)


def test_flags_and_exact_values() -> None:
    reading = reading_from_sample(
        _sample(motion=True, overload=True, gross=Decimal("4900.5"), tare=Decimal("12.25"))
    )
    assert (reading.stable, reading.overload, reading.underload) == (False, True, False)
    assert (reading.counts, reading.decimals, reading.tare) == (490050, 2, 1225)
    unknown = reading_from_sample(_sample(motion=None, overload=None))
    assert (unknown.stable, unknown.overload) == (None, False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_conversion_errors(value: float) -> None:
    exact = Decimal(struct.unpack(">f", struct.pack(">f", value))[0])
    with pytest.raises(ConversionError) as caught:
        reading_from_sample(_sample(gross=exact))
    assert caught.value.reason == "not_finite"


@given(
    raw=st.floats(width=32, allow_nan=False, allow_infinity=False),
    division=st.sampled_from([1, 2, 5, 10, 20, 50]),
    decimals=st.integers(0, 3),
)
def test_float_registers_become_kilograms_only_when_exact(
    raw: float, division: int, decimals: int
) -> None:
    shown = Decimal(raw).scaleb(-decimals)  # as decode gives it: register = kg x 10^decimals
    converter = Converter(division_kg=division)
    reading = reading_from_sample(_sample(gross=shown))
    exact = shown == shown.to_integral_value() and int(shown) % division == 0
    if not exact:
        with pytest.raises(ConversionError) as caught:
            converter.convert(reading)
        assert caught.value.reason in {"not_whole_kg", "not_multiple"}
        return
    kg = converter.convert(reading).kg
    assert kg is not None
    assert Decimal(kg) == shown  # exact, never rounded
