"""The shared Modbus line: URLs, and transactions against ``coalgate sim modbus``.

Modbus TCP, RTU on a real pty, and RTU over TCP through a small serial-server gateway written
here (TCP on one side, the simulator's pty on the other, as a Moxa-style box would be). Every
failure is a typed error with the unit, function and address, and leaves the line ready for
the next call; a late reply is never taken for the answer to a later request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tty
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edge.errors import (
    ConfigError,
    LineDownError,
    ModbusError,
    ModbusExceptionError,
    NoResponseError,
)
from edge.modbus.line import LineAddress, ModbusLine, Transport, parse_url
from tests.edge.simproc import EXPECTED_KG, Transmitter

WAIT_S = 15.0
SETTINGS_HELP = "(baud 50-4000000, parity N/E/O, stopbits 1/2, bytesize 7/8)"


@pytest.mark.parametrize(
    ("url", "address", "shown"),
    [
        (
            "tcp://10.0.0.5",
            LineAddress(transport=Transport.TCP, host="10.0.0.5"),
            "tcp://10.0.0.5:502",
        ),
        (
            "tcp://10.0.0.5:1502",
            LineAddress(transport=Transport.TCP, host="10.0.0.5", port=1502),
            "tcp://10.0.0.5:1502",
        ),
        ("tcp://[::1]:502", LineAddress(transport=Transport.TCP, host="::1"), "tcp://[::1]:502"),
        (
            "rtu+tcp://gw.local:4001",
            LineAddress(transport=Transport.RTU_OVER_TCP, host="gw.local", port=4001),
            "rtu+tcp://gw.local:4001",
        ),
        (
            "rtu:///dev/ttyUSB0",
            LineAddress(transport=Transport.RTU, path="/dev/ttyUSB0"),
            "rtu:///dev/ttyUSB0?baud=9600",
        ),
        (
            "rtu:///dev/ttyUSB0?baud=19200&parity=e&stopbits=2&bytesize=7",
            LineAddress(
                transport=Transport.RTU,
                path="/dev/ttyUSB0",
                baudrate=19200,
                parity="E",
                stopbits=2,
                bytesize=7,
            ),
            "rtu:///dev/ttyUSB0?baud=19200",
        ),
        (
            "rtu:///tmp/coalgate-modbus?baud=9600&baud=38400",  # the last one counts
            LineAddress(transport=Transport.RTU, path="/tmp/coalgate-modbus", baudrate=38400),
            "rtu:///tmp/coalgate-modbus?baud=38400",
        ),
    ],
)
def test_urls(url: str, address: LineAddress, shown: str) -> None:
    assert parse_url(url) == address
    assert str(address) == shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "'': a Modbus URL starts with tcp://, rtu+tcp:// or rtu://"),
        ("http://x", "'http://x': a Modbus URL starts with tcp://, rtu+tcp:// or rtu://"),
        ("/dev/ttyUSB0", "'/dev/ttyUSB0': a Modbus URL starts with tcp://, rtu+tcp:// or rtu://"),
        ("tcp://", "'tcp://': expected tcp://HOST[:PORT]"),
        ("tcp://h/x", "'tcp://h/x': expected tcp://HOST[:PORT]"),
        ("tcp://h?unit=2", "'tcp://h?unit=2': expected tcp://HOST[:PORT]"),
        ("rtu+tcp://", "'rtu+tcp://': expected rtu+tcp://HOST[:PORT]"),
        ("tcp://h:0", "'tcp://h:0': the port must be 1-65535"),
        ("tcp://h:99999", "'tcp://h:99999': the port must be 1-65535"),
        ("tcp://h:x", "'tcp://h:x': the port must be 1-65535"),
        ("rtu://dev/ttyUSB0", "'rtu://dev/ttyUSB0': expected rtu:///dev/PORT (three slashes)"),
        ("rtu:dev", "'rtu:dev': expected rtu:///dev/PORT (three slashes)"),
        (
            "rtu:///dev/x?speed=9600",
            "'rtu:///dev/x?speed=9600': unknown setting(s) speed "
            "(known: baud, parity, stopbits, bytesize)",
        ),
        ("rtu:///dev/x?baud=abc", f"'rtu:///dev/x?baud=abc': bad baud 'abc' {SETTINGS_HELP}"),
        ("rtu:///dev/x?baud=10", f"'rtu:///dev/x?baud=10': bad baud '10' {SETTINGS_HELP}"),
        ("rtu:///dev/x?parity=M", f"'rtu:///dev/x?parity=M': bad parity 'M' {SETTINGS_HELP}"),
        ("rtu:///dev/x?stopbits=3", f"'rtu:///dev/x?stopbits=3': bad stopbits '3' {SETTINGS_HELP}"),
        ("rtu:///dev/x?bytesize=9", f"'rtu:///dev/x?bytesize=9': bad bytesize '9' {SETTINGS_HELP}"),
    ],
)
def test_bad_urls_are_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    assert (caught.value.message, caught.value.option) == (message, "url")
    with pytest.raises(ConfigError):
        ModbusLine(url=url)


# --- against the simulator -------------------------------------------------------------------


@pytest.fixture
async def hr_tcp() -> AsyncIterator[tuple[Transmitter, ModbusLine]]:
    transmitter = Transmitter(preset="hr-int32")
    try:
        async with ModbusLine(url=transmitter.url, timeout_s=0.3) as line:
            yield transmitter, line
    finally:
        transmitter.stop()


async def test_reads_writes_and_exceptions_over_tcp(
    hr_tcp: tuple[Transmitter, ModbusLine],
) -> None:
    _, line = hr_tcp
    registers = await line.read_holding(1, 9, device_id=2)
    assert registers[1:3] == [0, EXPECTED_KG]
    assert registers[7] == 10  # division
    await line.write_register(0, 2, device_id=2)  # tare
    assert await line.read_holding(4, 4, device_id=2) == [0, 0, 0, EXPECTED_KG]  # net, tare

    failures = [
        (line.read_holding(10, 2, device_id=2), 2, "read_holding", 10),  # past the map
        (line.read_input(0, 2, device_id=2), 2, "read_input", 0),  # the other register type
        (line.write_register(0, 99, device_id=2), 3, "write_register", 0),  # unknown command
        (line.write_register(2, 1, device_id=2), 2, "write_register", 2),  # not the command reg
        (line.read_coils(0, 8, device_id=2), 2, "read_coils", 0),  # a transmitter has no coils
        (line.read_discrete_inputs(0, 8, device_id=2), 2, "read_discrete_inputs", 0),
        (line.write_coil(0, True, device_id=2), 2, "write_coil", 0),
        (line.read_holding(1, 2, device_id=9), 11, "read_holding", 1),  # TCP: gateway, no target
    ]
    for call, code, function, address in failures:
        with pytest.raises(ModbusExceptionError) as caught:
            await call
        error = caught.value
        assert (error.code, error.function, error.address) == (code, function, address)
        assert f"exception {code}" in error.message
    assert await line.read_holding(2, 2, device_id=2) == [0, EXPECTED_KG]  # still fine
    assert line.failures == {"exception": len(failures)}
    assert line.transactions == len(failures) + 4
    assert line.connects == 1


async def test_injected_exceptions_are_typed(hr_tcp: tuple[Transmitter, ModbusLine]) -> None:
    transmitter, line = hr_tcp
    await asyncio.to_thread(transmitter.fault, "exception", code=6, count=2)
    for _ in range(2):
        with pytest.raises(ModbusExceptionError, match=r"exception 6 \(device busy\)"):
            await line.read_holding(2, 2, device_id=2)
    assert await line.read_holding(2, 2, device_id=2) == [0, EXPECTED_KG]


async def test_bad_arguments_are_refused_before_the_wire(
    hr_tcp: tuple[Transmitter, ModbusLine],
) -> None:
    _, line = hr_tcp
    with pytest.raises(ValueError, match="1-125"):
        await line.read_holding(0, 126, device_id=2)
    with pytest.raises(ValueError, match="1-125"):
        await line.read_input(0, 0, device_id=2)
    with pytest.raises(ValueError, match="1-2000"):
        await line.read_coils(0, 2001, device_id=2)
    with pytest.raises(ValueError, match="0-65535"):
        await line.write_register(0, 65536, device_id=2)
    with pytest.raises(ValueError, match="0-65535"):
        await line.read_holding(65536, 1, device_id=2)
    with pytest.raises(ValueError, match="0-247"):
        await line.read_holding(0, 1, device_id=248)
    assert line.transactions == 0


async def test_a_closed_line_is_down() -> None:
    line = ModbusLine(url="tcp://127.0.0.1:1")
    await line.close()
    await line.close()  # twice is fine
    with pytest.raises(LineDownError, match="line closed") as caught:
        await line.read_holding(0, 1, device_id=2)
    assert (caught.value.device_id, caught.value.function) == (2, "read_holding")


async def test_nobody_there_is_line_down_and_the_line_stays_usable(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url in (f"tcp://127.0.0.1:{port}", f"rtu://{tmp_path / 'no-such-port'}"):
        async with ModbusLine(url=url, timeout_s=0.3) as line:
            for _ in range(2):
                with pytest.raises(LineDownError, match="cannot connect"):
                    await line.read_holding(0, 1, device_id=2)
            assert line.failures == {"line_down": 2}
            assert line.connects == 0


async def test_rtu_on_a_pty(tmp_path: Path) -> None:
    transmitter = Transmitter(preset="ir-c500", pty_link=tmp_path / "modbus")
    try:
        async with ModbusLine(url=transmitter.url, timeout_s=0.3) as line:
            registers = await line.read_input(0, 10, device_id=2)
            assert registers[:6] == [0, EXPECTED_KG] * 3
            assert registers[7] & 0b1000  # gross mode
            with pytest.raises(NoResponseError) as caught:  # RTU: nobody has unit 9
                await line.read_input(0, 2, device_id=9)
            assert caught.value.device_id == 9
            with pytest.raises(ModbusExceptionError) as refused:
                await line.read_holding(1, 1, device_id=2)
            assert refused.value.code == 2
            assert await line.read_input(0, 2, device_id=2) == [0, EXPECTED_KG]
            assert line.failures == {"no_response": 1, "exception": 1}
    finally:
        transmitter.stop()


async def _late_replies_never_answer_later_requests(
    transmitter: Transmitter, line: ModbusLine
) -> None:
    expected = {2: [0, EXPECTED_KG], 8: [10, 0]}  # gross; division and calibration counter
    # answers later than the timeout (300 ms), but within twice it: RTU cannot tell a late
    # answer from the next one, so the line lets it pass before the next request
    await asyncio.to_thread(transmitter.fault, "slow", delay_ms=500, duration_ms=250)
    answered: list[tuple[int, list[int]]] = []
    missed = 0
    async with asyncio.timeout(WAIT_S):
        address = 2
        while len(answered) < 8:
            try:
                answered.append((address, await line.read_holding(address, 2, device_id=2)))
            except NoResponseError:
                missed += 1
            address = 8 if address == 2 else 2
    assert missed >= 1
    assert all(words == expected[address] for address, words in answered), answered


async def test_late_replies_on_tcp(hr_tcp: tuple[Transmitter, ModbusLine]) -> None:
    await _late_replies_never_answer_later_requests(*hr_tcp)


async def test_late_replies_on_rtu(tmp_path: Path) -> None:
    transmitter = Transmitter(preset="hr-int32", pty_link=tmp_path / "modbus")
    try:
        async with ModbusLine(url=transmitter.url, timeout_s=0.3) as line:
            await _late_replies_never_answer_later_requests(transmitter, line)
    finally:
        transmitter.stop()


# --- RTU over TCP, through a serial server ---------------------------------------------------


@contextlib.asynccontextmanager
async def serial_server(
    pty_path: Path, noise: deque[Callable[[bytes], bytes]] | None = None
) -> AsyncIterator[int]:
    """A TCP port whose bytes go to and come from a serial line (here the simulator's pty).
    Each function in ``noise`` bends one chunk coming back from the line (a noisy cable)."""
    loop = asyncio.get_running_loop()
    bends = deque[Callable[[bytes], bytes]]() if noise is None else noise

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)

        def back() -> None:
            data = os.read(fd, 4096)
            writer.write(bends.popleft()(data) if bends else data)

        loop.add_reader(fd, back)
        try:
            while data := await reader.read(4096):
                os.write(fd, data)
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_rtu_over_tcp_through_a_serial_server(tmp_path: Path) -> None:
    transmitter = Transmitter(preset="hr-int32", pty_link=tmp_path / "modbus")
    try:
        async with (
            serial_server(tmp_path / "modbus") as port,
            ModbusLine(url=f"rtu+tcp://127.0.0.1:{port}", timeout_s=0.5) as line,
        ):
            assert await line.read_holding(2, 2, device_id=2) == [0, EXPECTED_KG]
            await line.write_register(0, 2, device_id=2)  # tare
            assert await line.read_holding(4, 4, device_id=2) == [0, 0, 0, EXPECTED_KG]
            with pytest.raises(ModbusExceptionError):
                await line.read_holding(10, 1, device_id=2)
            with pytest.raises(ModbusError):  # nobody answers unit 9 on the serial side
                await line.read_holding(2, 2, device_id=9)
            assert await line.read_holding(2, 2, device_id=2) == [0, EXPECTED_KG]
    finally:
        transmitter.stop()


async def test_rtu_garbage_and_bad_crc_are_no_answer_never_wrong_values(tmp_path: Path) -> None:
    noise: deque[Callable[[bytes], bytes]] = deque()
    transmitter = Transmitter(preset="hr-int32", pty_link=tmp_path / "modbus")
    try:
        async with (
            serial_server(tmp_path / "modbus", noise) as port,
            ModbusLine(url=f"rtu+tcp://127.0.0.1:{port}", timeout_s=0.3) as line,
        ):
            assert await line.read_holding(2, 2, device_id=2) == [0, EXPECTED_KG]
            noise.append(lambda data: data[:-1] + bytes([data[-1] ^ 0x5A]))  # a bad CRC
            with pytest.raises(NoResponseError, match="no valid answer"):
                await line.read_holding(2, 2, device_id=2)
            assert await line.read_holding(8, 2, device_id=2) == [10, 0]
            noise.append(lambda data: bytes(range(0x30, 0x50)) + data)  # garbage before it
            with contextlib.suppress(NoResponseError):  # pymodbus may resync on the frame
                assert await line.read_holding(2, 2, device_id=2) == [0, EXPECTED_KG]
            noise.append(lambda data: data[: len(data) // 2])  # half a frame
            with pytest.raises(NoResponseError):
                await line.read_holding(2, 2, device_id=2)
            assert await line.read_holding(8, 2, device_id=2) == [10, 0]
            assert line.failures["no_response"] >= 2
    finally:
        transmitter.stop()
