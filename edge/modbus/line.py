"""One Modbus line (a TCP connection or an RS-485 port) shared by every driver on it.

A weight transmitter and an IO module often hang on the same RS-485 pair (PROTOCOLS.md §4: IO
unit 1, transmitter unit 2). A serial port opens once, and RTU allows one transaction at a time
on the wire, so both drivers go through one ``ModbusLine``: every transaction runs on the
line's own one-thread executor, in order, with pymodbus's synchronous client (its blocking
calls return within ``timeout_s``; nothing blocks the event loop).

URLs (``parse_url``)::

    tcp://HOST[:PORT]                      Modbus TCP (default port 502)
    rtu+tcp://HOST:PORT                    RTU frames over a TCP serial server (gateway)
    rtu:///dev/ttyUSB0?baud=9600&parity=N&stopbits=1&bytesize=8
                                           Modbus RTU on a serial port or pty

The line never retries by itself and never gives up: a failed transaction raises a typed
``edge.errors.ModbusError`` (exception response, no response, line down) and leaves the line
ready for the next call, which reconnects if the connection was lost. After a timeout or a
connection error the client is closed, so a late reply cannot be taken for the answer to the
next request (on RTU there is no transaction id to tell them apart). Backoff belongs to the
polling drivers, which know their rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypedDict
from urllib.parse import parse_qs, urlsplit

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from edge.errors import (
    ConfigError,
    LineDownError,
    ModbusError,
    ModbusExceptionError,
    NoResponseError,
)

DEFAULT_TCP_PORT: Final = 502
#: Serial settings an ``rtu://`` URL may carry, with their defaults (8N1 at 9600 baud).
_SERIAL_DEFAULTS: Final = {"baud": "9600", "parity": "N", "stopbits": "1", "bytesize": "8"}
#: Most registers / bits one read may ask for (Modbus limits).
MAX_REGISTERS: Final = 125
MAX_BITS: Final = 2000


class _Where(TypedDict):
    """Which transaction failed (the keyword arguments of every ModbusError)."""

    device_id: int
    function: str
    address: int


class Transport(StrEnum):
    """How the line reaches its devices."""

    TCP = "tcp"
    RTU_OVER_TCP = "rtu+tcp"
    RTU = "rtu"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineAddress:
    """A parsed line URL."""

    transport: Transport
    host: str = ""  # TCP transports
    port: int = DEFAULT_TCP_PORT
    path: str = ""  # RTU: the serial device or pty
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __str__(self) -> str:
        if self.transport is Transport.RTU:
            return f"rtu://{self.path}?baud={self.baudrate}"
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        return f"{self.transport.value}://{host}:{self.port}"


def parse_url(url: str) -> LineAddress:
    """A line URL as ``LineAddress``, or ``ConfigError`` (option ``url``) saying what is wrong."""
    parts = urlsplit(url)
    try:
        transport = Transport(parts.scheme)
    except ValueError:
        raise ConfigError(
            f"{url!r}: a Modbus URL starts with tcp://, rtu+tcp:// or rtu://", option="url"
        ) from None
    if transport is Transport.RTU:
        return _serial_address(url, parts.netloc, parts.path, parts.query)
    if parts.path not in ("", "/") or parts.query or not parts.hostname:
        raise ConfigError(f"{url!r}: expected {transport.value}://HOST[:PORT]", option="url")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{url!r}: the port must be 1-65535", option="url") from None
    if port == 0:
        raise ConfigError(f"{url!r}: the port must be 1-65535", option="url")
    return LineAddress(transport=transport, host=parts.hostname, port=port or DEFAULT_TCP_PORT)


def _serial_address(url: str, netloc: str, path: str, query: str) -> LineAddress:
    if netloc or not path.startswith("/"):
        raise ConfigError(f"{url!r}: expected rtu:///dev/PORT (three slashes)", option="url")
    given = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = set(given) - set(_SERIAL_DEFAULTS)
    if unknown:
        raise ConfigError(
            f"{url!r}: unknown setting(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(_SERIAL_DEFAULTS)})",
            option="url",
        )
    settings = {key: values[-1] for key, values in given.items()} | {
        key: value for key, value in _SERIAL_DEFAULTS.items() if key not in given
    }
    parity = settings["parity"].upper()
    checks = {
        "baud": settings["baud"].isdigit() and 50 <= int(settings["baud"]) <= 4_000_000,
        "parity": parity in ("N", "E", "O"),
        "stopbits": settings["stopbits"] in ("1", "2"),
        "bytesize": settings["bytesize"] in ("7", "8"),
    }
    wrong = [key for key, ok in checks.items() if not ok]
    if wrong:
        raise ConfigError(
            f"{url!r}: bad {wrong[0]} {settings[wrong[0]]!r} "
            "(baud 50-4000000, parity N/E/O, stopbits 1/2, bytesize 7/8)",
            option="url",
        )
    return LineAddress(
        transport=Transport.RTU,
        path=path,
        baudrate=int(settings["baud"]),
        parity=parity,
        stopbits=int(settings["stopbits"]),
        bytesize=int(settings["bytesize"]),
    )


class ModbusLine:
    """Transactions on one line, one at a time, each within ``timeout_s``.

    Use as ``async with ModbusLine(url=…) as line:`` or call ``close()``: the line owns a thread.
    ``transactions``, ``failures`` (by reason) and ``connects`` are counters for diagnostics.
    """

    def __init__(
        self,
        *,
        url: str,
        timeout_s: float = 0.5,
        logger: logging.Logger | None = None,
    ) -> None:
        self.address = parse_url(url)
        self.url = url
        self.timeout_s = timeout_s
        self.log = logger or logging.getLogger(__name__)
        self.transactions = 0
        self.connects = 0
        self.failures: dict[str, int] = {}
        self._client: ModbusTcpClient | ModbusSerialClient | None = None
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="modbus-line"
        )
        self._lock = asyncio.Lock()
        self._answer_due = False  # a request went unanswered; its answer may still come

    async def __aenter__(self) -> ModbusLine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- transactions --------------------------------------------------------------------

    async def read_holding(self, address: int, count: int, *, device_id: int) -> list[int]:
        """FC03: ``count`` holding registers from ``address``."""
        _check_count(count, MAX_REGISTERS)
        response = await self._call("read_holding", address, device_id, count=count)
        return list(response.registers)

    async def read_input(self, address: int, count: int, *, device_id: int) -> list[int]:
        """FC04: ``count`` input registers from ``address``."""
        _check_count(count, MAX_REGISTERS)
        response = await self._call("read_input", address, device_id, count=count)
        return list(response.registers)

    async def write_register(self, address: int, value: int, *, device_id: int) -> None:
        """FC06: one holding register."""
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"a register holds 0-65535, not {value}")
        await self._call("write_register", address, device_id, value=value)

    async def read_coils(self, address: int, count: int, *, device_id: int) -> list[bool]:
        """FC01: ``count`` coils from ``address``."""
        _check_count(count, MAX_BITS)
        response = await self._call("read_coils", address, device_id, count=count)
        return [bool(bit) for bit in response.bits[:count]]

    async def write_coil(self, address: int, value: bool, *, device_id: int) -> None:
        """FC05: one coil on (``FF00``) or off (``0000``)."""
        await self._call("write_coil", address, device_id, value=value)

    async def read_discrete_inputs(self, address: int, count: int, *, device_id: int) -> list[bool]:
        """FC02: ``count`` discrete inputs from ``address``."""
        _check_count(count, MAX_BITS)
        response = await self._call("read_discrete_inputs", address, device_id, count=count)
        return [bool(bit) for bit in response.bits[:count]]

    async def close(self) -> None:
        """Close the connection and end the line's thread (after a transaction in flight)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._drop_client)
        executor.shutdown(wait=False)

    # --- machinery -----------------------------------------------------------------------

    async def _call(self, function: str, address: int, device_id: int, **args: Any) -> Any:
        if not 0 <= address <= 0xFFFF:
            raise ValueError(f"a Modbus address is 0-65535, not {address}")
        if not 0 <= device_id <= 247:
            raise ValueError(f"a Modbus unit id is 0-247, not {device_id}")
        executor = self._executor
        if executor is None:
            raise LineDownError(
                f"{self.address}: line closed",
                device_id=device_id,
                function=function,
                address=address,
            )
        where: _Where = {"device_id": device_id, "function": function, "address": address}
        loop = asyncio.get_running_loop()
        async with self._lock:
            self.transactions += 1
            job = loop.run_in_executor(executor, self._blocking, function, address, device_id, args)
            try:
                # the client's own timeout bounds the call; this guards a wedged driver/OS
                async with asyncio.timeout(self.timeout_s * 4 + 5):
                    return await asyncio.shield(job)
            except TimeoutError:
                job.add_done_callback(_consume)
                executor.submit(self._lost_answer)
                self._count("no_response")
                raise NoResponseError(
                    f"{self.address}: unit {device_id} {function} {address}: no answer",
                    **where,
                ) from None
            except ModbusError as exc:
                self._count(exc.reason)
                raise
            except asyncio.CancelledError:
                # a caller's own timeout: the transaction still ends on the thread (within
                # the client's timeout, before the next one starts); nobody reads its result
                job.add_done_callback(_consume)
                raise

    def _blocking(self, function: str, address: int, device_id: int, args: dict[str, Any]) -> Any:
        """On the line's thread: connect if needed, run one transaction, translate errors."""
        where: _Where = {"device_id": device_id, "function": function, "address": address}
        client = self._connected_client(where)
        methods: dict[str, Callable[..., Any]] = {
            "read_holding": client.read_holding_registers,
            "read_input": client.read_input_registers,
            "write_register": client.write_register,
            "read_coils": client.read_coils,
            "write_coil": client.write_coil,
            "read_discrete_inputs": client.read_discrete_inputs,
        }
        method = methods[function]
        value = args.pop("value", None)
        try:
            response = (
                method(address, **args, device_id=device_id)
                if value is None
                else method(address, value, device_id=device_id)
            )
        except ConnectionException as exc:
            self._drop_client()
            raise LineDownError(f"{self.address}: connection lost: {exc}", **where) from exc
        except (ModbusIOException, ModbusException, OSError, ValueError) as exc:
            # pymodbus raises ModbusIOException for no/garbled answers; a short or odd reply
            # may surface as another ModbusException or a ValueError from its decoder
            self._lost_answer()
            raise NoResponseError(
                f"{self.address}: unit {device_id} {function} {address}: no valid answer ({exc})",
                **where,
            ) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0) or 0)
            if code == 0:  # pymodbus's own error object (no answer), not a device exception
                self._lost_answer()
                raise NoResponseError(
                    f"{self.address}: unit {device_id} {function} {address}: no valid answer",
                    **where,
                )
            raise ModbusExceptionError(
                f"{self.address}: unit {device_id} {function} {address}: exception {code} "
                f"({_EXCEPTION_NAMES.get(code, 'unknown')})",
                code=code,
                **where,
            )
        return response

    def _connected_client(self, where: _Where) -> ModbusTcpClient | ModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._drop_client()
        client = self._new_client()
        try:
            connected = bool(client.connect())
        except (ConnectionException, OSError) as exc:
            connected = False
            self.log.debug("modbus %s: connect failed: %s", self.address, exc)
        if not connected:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
            raise LineDownError(f"{self.address}: cannot connect", **where)
        self._client = client
        self.connects += 1
        if self._answer_due:
            self._answer_due = False
            self._drain(client)
        return client

    def _lost_answer(self) -> None:
        """After a request got no valid answer: drop the connection, and on RTU let the
        answer that may still come pass before the next request (see ``_drain``)."""
        self._drop_client()
        self._answer_due = self.address.transport is not Transport.TCP

    def _drain(self, client: ModbusTcpClient | ModbusSerialClient) -> None:
        """Read and drop bytes until the line has been quiet for ``timeout_s`` (at most
        ``4 x timeout_s``). RTU has no transaction id: a late answer read after the next
        request would be taken for that request's answer. A reply later than twice the
        timeout can still be, as with any RTU master; the timeout must exceed the device's
        worst answer time."""
        port: Any = client.socket
        serial_timeout = None if isinstance(port, socket.socket) else port.timeout
        started = quiet_since = time.monotonic()
        dropped = 0
        try:
            while (now := time.monotonic()) - quiet_since < self.timeout_s:
                if now - started > 4 * self.timeout_s:
                    break  # a line that never goes quiet: let the next answer's CRC judge
                data = _read_some(port, 0.05)
                if data is None:
                    break  # the peer hung up: the next request finds out
                if data:
                    dropped += len(data)
                    quiet_since = time.monotonic()
        except OSError as exc:
            self.log.debug("modbus %s: draining: %s", self.address, exc)
        finally:
            if serial_timeout is not None:
                port.timeout = serial_timeout
        if dropped:
            self.log.debug("modbus %s: dropped %d late byte(s)", self.address, dropped)

    def _new_client(self) -> ModbusTcpClient | ModbusSerialClient:
        address = self.address
        if address.transport is Transport.RTU:
            return ModbusSerialClient(
                address.path,
                framer=FramerType.RTU,
                baudrate=address.baudrate,
                parity=address.parity,
                stopbits=address.stopbits,
                bytesize=address.bytesize,
                timeout=self.timeout_s,
                retries=0,
            )
        framer = FramerType.RTU if address.transport is Transport.RTU_OVER_TCP else None
        return ModbusTcpClient(
            address.host,
            port=address.port,
            framer=framer or FramerType.SOCKET,
            timeout=self.timeout_s,
            retries=0,
        )

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated

    def _count(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


_EXCEPTION_NAMES: Final = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}


def _read_some(port: Any, wait_s: float) -> bytes | None:
    """Up to 256 bytes from a pyserial port or a socket, waiting at most ``wait_s``;
    ``None`` when the socket's peer has closed it."""
    if isinstance(port, socket.socket):
        ready, _, _ = select.select([port], [], [], wait_s)
        if not ready:
            return b""
        return port.recv(256) or None
    port.timeout = wait_s
    data: bytes = port.read(256)
    return data


def _check_count(count: int, most: int) -> None:
    if not 1 <= count <= most:
        raise ValueError(f"a read takes 1-{most} items, not {count}")


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
