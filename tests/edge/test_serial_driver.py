"""The serial driver against the simulated indicator, through the wire only, through faults.

Toledo over a pty (with a stable link) and MT-SICS over TCP (``socket://``), each through
garbage, bad checksums (not MT-SICS: it has none), half frames, silence and a pulled cable:
readings of 49,000 kg resume after every fault, faults are reported as events, nothing
crashes. Every wait is bounded (``asyncio.timeout``) and ends on an event, never a blind sleep.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edge.errors import CommandTimeoutError, ConfigError
from edge.scale.readings import ScaleProtocol
from edge.scale.serial_driver import (
    FaultKind,
    ScaleEvent,
    ScaleFault,
    ScaleReading,
    SerialScaleDriver,
)
from tests.edge.simproc import EXPECTED_KG, Indicator

WAIT_S = 10.0


class Harness:
    """A driver running as a named task, and its events read with bounded waits."""

    def __init__(self, driver: SerialScaleDriver, indicator: Indicator) -> None:
        self.driver = driver
        self.indicator = indicator
        self.seen: list[ScaleEvent] = []

    async def until(self, wanted: Callable[[ScaleEvent], bool], what: str) -> ScaleEvent:
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    event = await self.driver.events.get()
                    self.seen.append(event)
                    if isinstance(event, ScaleReading):
                        assert event.weight.kg == EXPECTED_KG, event
                    if wanted(event):
                        return event
        except TimeoutError:
            kinds = [e.kind for e in self.seen if isinstance(e, ScaleFault)]
            raise AssertionError(f"no {what} within {WAIT_S} s; faults seen {kinds}") from None

    async def readings(self, count: int) -> None:
        for _ in range(count):
            await self.until(lambda e: isinstance(e, ScaleReading), "reading")

    async def fault(self, kind: FaultKind) -> None:
        await self.until(lambda e: isinstance(e, ScaleFault) and e.kind is kind, kind.value)

    async def inject(self, kind: str, **fields: object) -> None:
        await asyncio.to_thread(self.indicator.fault, kind, **fields)


async def _harness(indicator: Indicator, protocol: ScaleProtocol) -> AsyncIterator[Harness]:
    driver = SerialScaleDriver(
        protocol=protocol,
        url=indicator.url,
        division_kg=10,
        poll_interval_s=0.05,
        silent_after_s=0.6,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
    )
    task = asyncio.create_task(driver.run(), name="scale-driver under test")
    try:
        yield Harness(driver, indicator)
        assert not task.done(), "the driver stopped by itself"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
async def toledo_pty(tmp_path: Path) -> AsyncIterator[Harness]:
    indicator = Indicator("toledo", pty_link=tmp_path / "scale")
    try:
        async for harness in _harness(indicator, ScaleProtocol.TOLEDO):
            yield harness
    finally:
        indicator.stop()


@pytest.fixture
async def sics_tcp() -> AsyncIterator[Harness]:
    indicator = Indicator("mt-sics")
    try:
        async for harness in _harness(indicator, ScaleProtocol.MT_SICS):
            yield harness
    finally:
        indicator.stop()


#: The other streaming formats, one over each transport: (protocol, over a pty, faults).
MORE = {
    "xk3190-a12-pty": (ScaleProtocol.XK3190_A12, True, ["bad-checksum", "half-frame"]),
    "xk3190-eq-tcp": (ScaleProtocol.XK3190_EQ, False, ["garbage", "half-frame"]),
}


@pytest.fixture(params=list(MORE))
async def more(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    protocol, pty, _ = MORE[request.param]
    indicator = Indicator(protocol.value, pty_link=tmp_path / "scale" if pty else None)
    try:
        async for harness in _harness(indicator, protocol):
            yield harness
    finally:
        indicator.stop()


async def _corrupted_frames(harness: Harness, kinds: list[str]) -> None:
    await harness.readings(3)
    for kind in kinds:
        before = harness.driver.frame_errors
        await harness.inject(kind, **({"bytes": 40} if kind == "garbage" else {"count": 3}))
        await harness.until(
            lambda _e, before=before: harness.driver.frame_errors > before, f"{kind} counted"
        )
        await harness.readings(3)
        print(f"{kind}: {harness.driver.frame_errors - before} frame errors counted")


async def _silence_and_disconnect(harness: Harness) -> None:
    await harness.readings(2)
    await harness.inject("silence", duration_ms=1500)
    await harness.fault(FaultKind.SILENT)
    await harness.fault(FaultKind.RESUMED)
    await harness.readings(3)
    connections = harness.driver.connections
    await harness.inject("disconnect", duration_ms=1000)
    await harness.fault(FaultKind.DISCONNECTED)
    await harness.fault(FaultKind.RECONNECTED)
    await harness.readings(3)
    assert harness.driver.connections > connections


async def test_toledo_pty_readings_through_corrupt_frames(toledo_pty: Harness) -> None:
    await _corrupted_frames(toledo_pty, ["garbage", "bad-checksum", "half-frame"])
    assert toledo_pty.driver.conversion_errors == 0


async def test_toledo_pty_silence_and_pulled_cable(toledo_pty: Harness) -> None:
    await _silence_and_disconnect(toledo_pty)


async def test_sics_tcp_readings_through_corrupt_replies(sics_tcp: Harness) -> None:
    await _corrupted_frames(sics_tcp, ["garbage", "half-frame"])
    assert sics_tcp.driver.conversion_errors == 0


async def test_sics_tcp_silence_and_pulled_cable(sics_tcp: Harness) -> None:
    await _silence_and_disconnect(sics_tcp)


async def test_sics_zero_and_tare(sics_tcp: Harness) -> None:
    await sics_tcp.readings(1)
    tare = await sics_tcp.driver.tare()
    print(f"tare reply: {tare}")
    assert getattr(tare, "command", None) == "T"
    zero = await sics_tcp.driver.zero()
    print(f"zero reply: {zero}")
    assert getattr(zero, "command", None) == "Z"


async def test_more_formats_through_faults(more: Harness) -> None:
    protocol = more.driver.protocol
    faults = next(f for p, _, f in MORE.values() if p is protocol)
    await _corrupted_frames(more, faults)
    await _silence_and_disconnect(more)


async def test_sics_command_times_out_while_silent(sics_tcp: Harness) -> None:
    await sics_tcp.readings(1)
    await sics_tcp.inject("silence", duration_ms=2000)
    await sics_tcp.fault(FaultKind.SILENT)
    with pytest.raises(CommandTimeoutError) as caught:
        await sics_tcp.driver.zero()
    assert caught.value.command == "Z"
    await sics_tcp.fault(FaultKind.RESUMED)


async def test_no_device_is_reported_and_retried_forever() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{sock.getsockname()[1]}"
    driver = SerialScaleDriver(
        protocol=ScaleProtocol.TOLEDO, url=url, silent_after_s=0.3, backoff_max_s=0.2
    )
    async with asyncio.TaskGroup() as group:
        task = group.create_task(driver.run(), name="scale-driver without a device")
        kinds: set[FaultKind] = set()
        async with asyncio.timeout(WAIT_S):
            while kinds != {FaultKind.DISCONNECTED, FaultKind.SILENT}:
                event = await driver.events.get()
                assert isinstance(event, ScaleFault)
                kinds.add(event.kind)
        assert not task.done()
        with pytest.raises(ValueError, match="no commands"):
            await driver.zero()
        task.cancel()
    assert driver.connections == 0


async def test_a_url_pyserial_cannot_open_fails_at_start() -> None:
    driver = SerialScaleDriver(protocol=ScaleProtocol.TOLEDO, url="nope://x")
    with pytest.raises(ConfigError) as caught:
        async with asyncio.timeout(WAIT_S):
            await driver.run()
    assert caught.value.option == "url"
