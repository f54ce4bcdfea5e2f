"""Modbus devices served on a pty (RTU) or a TCP port (Modbus TCP). Thin I/O.

pymodbus does the protocol: its framers cut and build frames (RTU with CRC and resync on
garbage, or the MBAP header), its request PDUs read and write the ``SimDevice`` datastores. This
module only moves bytes between our ports and those framers, so a pty with a stable link, a
pulled cable and slow or missing answers work exactly as for the serial indicators. Several
devices on one line answer at their own unit ids, like an RS-485 bus; a request for an id
nobody has goes unanswered on RTU (as on a real bus) and gets exception 0B on TCP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.simulator import SimDevice
from pymodbus.simulator.simcore import SimCore

from firmware_sim.ports import PtyPort, Session, TcpPort, transmit_s

_MAX_BUFFER = 1024  # an RTU line that only ever carries noise is not buffered forever


@dataclass(frozen=True, slots=True, kw_only=True)
class LineFault:
    """What a unit does instead of answering properly (see ``ModbusLine.fault``)."""

    exception: int | None = None  # answer every request with this exception code
    exceptions_left: int = 0
    silent_until_ms: int = 0  # no answer at all (the host times out)
    slow_ms: int = 0
    slow_until_ms: int = 0


class ModbusLine:
    """Serve ``devices`` (each at its own unit id) on one port until cancelled."""

    def __init__(
        self,
        *,
        devices: list[SimDevice],
        port: PtyPort | TcpPort,
        baud: int = 9600,
        clock: Callable[[], int],
        fault: Callable[[int, int], LineFault | None],
        logger: logging.Logger | None = None,
    ) -> None:
        self.port = port
        self.baud = baud
        self.unit_ids = sorted(d.id for d in devices)
        self._core = SimCore(devices)
        self._clock = clock
        self._fault = fault
        self._log = logger or logging.getLogger(__name__)
        self._tasks: asyncio.TaskGroup | None = None
        self.connected = False
        self.requests = 0

    @property
    def rtu(self) -> bool:
        """RTU framing on a pty, MBAP framing on TCP."""
        return isinstance(self.port, PtyPort)

    async def open(self, tasks: asyncio.TaskGroup) -> None:
        """Start serving in ``tasks``."""
        self._tasks = tasks
        if isinstance(self.port, PtyPort):
            self.port.open(self._serve, tasks)
        else:
            await self.port.open(self._serve, tasks)
        self.connected = True

    async def close(self, *, keep_link: bool = False) -> None:
        """Hang up (the pty's link stays when the cable is only pulled)."""
        self.connected = False
        if isinstance(self.port, PtyPort):
            self.port.close(keep_link=keep_link)
        else:
            await self.port.close()

    async def pull_cable(self, duration_ms: int) -> None:
        """Disconnected for a while, then back on the same address."""
        assert self._tasks is not None  # only after open()
        self._log.info("modbus line disconnected for %d ms", duration_ms)
        await self.close(keep_link=True)
        await asyncio.sleep(duration_ms / 1000.0)
        await self.open(self._tasks)

    async def _serve(self, session: Session) -> None:
        decoder = DecodePDU(True)
        framer = FramerRTU(decoder) if self.rtu else FramerSocket(decoder)
        buffer = b""
        while data := await session.read():
            buffer = (buffer + data)[-_MAX_BUFFER:]
            while buffer:
                try:
                    used, request = framer.handleFrame(buffer, 0, 0)
                except ModbusIOException as exc:  # a function code nobody implements
                    buffer = b""
                    if exc.dev_id in self.unit_ids:
                        fcode = 0 if exc.fcode is None else exc.fcode
                        reply = ExceptionResponse(
                            fcode,
                            exception_code=ExcCodes.ILLEGAL_FUNCTION,
                            device_id=exc.dev_id,
                            transaction=exc.transaction_id,
                        )
                        session.write(framer.buildFrame(reply))
                    break
                buffer = buffer[used:]
                if request is None:
                    break
                await self._answer(session, framer, request)

    async def _answer(
        self, session: Session, framer: FramerRTU | FramerSocket, request: ModbusPDU
    ) -> None:
        self.requests += 1
        unit = request.dev_id
        response: ModbusPDU | None
        if unit not in self.unit_ids:
            if self.rtu:
                return  # nobody on the bus has that address
            response = ExceptionResponse(request.function_code, ExcCodes.GATEWAY_NO_RESPONSE)
        else:
            now = self._clock()
            fault = self._fault(unit, now)
            if fault is not None and now < fault.silent_until_ms:
                return
            if fault is not None and now < fault.slow_until_ms:
                await asyncio.sleep(fault.slow_ms / 1000.0)
            if fault is not None and fault.exception is not None:
                response = ExceptionResponse(request.function_code, fault.exception)
            else:
                try:
                    response = await request.datastore_update(self._core, unit)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - a device fault answers 04, as a device would
                    self._log.exception("device %d failed on a request", unit)
                    response = ExceptionResponse(request.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = request.transaction_id
        response.dev_id = unit
        frame = framer.buildFrame(response)
        session.write(frame)
        if self.rtu:
            await asyncio.sleep(transmit_s(len(frame), self.baud))
