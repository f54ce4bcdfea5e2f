"""Errors of ``edge``.

Peer-caused errors (bytes or values from a device that are wrong) are separate from misuse and
misconfiguration by our side, as in h11. Every error carries a short stable ``reason`` code::

    EdgeError                 base of everything raised (or returned) here
    ├── RemoteError           a device sent something wrong
    │   ├── FrameError        bytes from an indicator that are not a valid frame; the parsers
    │   │                     *return* these as events, they never raise them
    │   ├── ConversionError   a reading that cannot become whole kilograms on the configured
    │   │                     division (off the division grid, not whole kg, unit not metric)
    │   ├── CommandTimeoutError  a device did not answer a command in time
    │   ├── ModbusError       a Modbus transaction that failed (device, function, address)
    │   │   ├── ModbusExceptionError  the device answered with a Modbus exception code
    │   │   │   └── CommandRefusedError  a zero/tare the device refused (exception 04:
    │   │   │                     moving, outside the zero range)
    │   │   ├── NoResponseError       no (valid) answer within the timeout
    │   │   └── LineDownError         the line (TCP connection, serial port) cannot be opened
    │   ├── IoCommandError    an IO module command that did not take effect (coil readback
    │   │                     mismatch, barrier limit switch not confirming, a failed write)
    │   ├── CameraPushError   a plate camera's push that cannot be accepted (answered 400)
    │   └── EnrollError       central refused or did not answer an enrollment (status, code)
    └── LocalError            our side misused the API or is misconfigured
        ├── ConfigError       a configuration that cannot work (also a ValueError)
        │   └── SiteConfigError  a site file that cannot work: file, dotted key, TOML line
        ├── JournalError      the journal cannot be opened or written (``journal_fault``)
        │   └── JournalFullError  an append refused: the disk budget is spent; nothing
        │                     un-acked is ever deleted to make room
        └── AccountError      an operator account that cannot be made, changed or read (the
                              console's accounts file; ``code``: exists, unknown, invalid, file)
"""

from __future__ import annotations

from typing import Final

#: How many offending bytes a FrameError keeps (its ``size`` still counts all of them).
FRAME_ERROR_BYTES: Final = 64


class EdgeError(Exception):
    """Base of every error of ``edge``."""

    reason = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RemoteError(EdgeError):
    """A device sent bytes or values that are not what its protocol or our config allows."""


class LocalError(EdgeError):
    """Our side misused the API or is misconfigured."""


class ConfigError(LocalError, ValueError):
    """A configuration value that cannot work; raised at construction, i.e. at start."""

    reason = "config"

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option


class FrameError(RemoteError):
    """Bytes from an indicator that are not a valid frame.

    ``reason`` is one of ``checksum`` (a complete frame whose check does not match),
    ``syntax`` (frame-shaped bytes with a field that cannot be), ``garbage`` (bytes between
    frames that belong to none: noise, half frames), ``too_long`` (a line with no end within the
    parser's cap). ``data`` holds at most ``FRAME_ERROR_BYTES`` of the offending bytes and
    ``size`` how many there were. Two FrameErrors are equal when protocol, reason, data, size
    and message are, so parser outputs can be compared as values.
    """

    def __init__(self, message: str, *, protocol: str, reason: str, data: bytes) -> None:
        super().__init__(message)
        self.protocol = protocol
        self.reason = reason
        self.data = bytes(data[:FRAME_ERROR_BYTES])
        self.size = len(data)

    def _key(self) -> tuple[str, str, bytes, int, str]:
        return (self.protocol, self.reason, self.data, self.size, self.message)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameError):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"FrameError({self.message!r}, protocol={self.protocol!r}, reason={self.reason!r}, "
            f"data={self.data!r}, size={self.size})"
        )


class ConversionError(RemoteError):
    """A reading that cannot be turned into whole kilograms on the configured division.

    ``reason``: ``unit`` (not a metric mass unit), ``not_whole_kg`` (a fraction of a kilogram),
    ``not_multiple`` (whole kg, but off the division grid), ``not_finite`` (a float register
    holding NaN or infinity). A wrong division in the site
    config, a reconfigured indicator and a tampered one all look like this: never round.
    """

    def __init__(self, message: str, *, reason: str, value: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.value = value


class CommandTimeoutError(RemoteError):
    """A device did not answer ``command`` within the configured time."""

    reason = "timeout"

    def __init__(self, message: str, *, command: str) -> None:
        super().__init__(message)
        self.command = command


class ModbusError(RemoteError):
    """A Modbus transaction that failed; ``device_id``, ``function`` (e.g. ``read_holding``)
    and ``address`` say which."""

    reason = "modbus"

    def __init__(self, message: str, *, device_id: int, function: str, address: int) -> None:
        super().__init__(message)
        self.device_id = device_id
        self.function = function
        self.address = address


class ModbusExceptionError(ModbusError):
    """The device answered with Modbus exception ``code`` (1 illegal function, 2 illegal data
    address, 3 illegal data value, 4 device failure, 6 busy, …)."""

    reason = "exception"

    def __init__(
        self, message: str, *, device_id: int, function: str, address: int, code: int
    ) -> None:
        super().__init__(message, device_id=device_id, function=function, address=address)
        self.code = code


class CommandRefusedError(ModbusExceptionError):
    """A transmitter refused ``command`` (``zero``, ``tare``, ``clear-tare``) with exception
    ``code`` 04 (device failure): moving, or outside the zero-setting range."""

    reason = "refused"

    def __init__(
        self, message: str, *, device_id: int, function: str, address: int, code: int, command: str
    ) -> None:
        super().__init__(
            message, device_id=device_id, function=function, address=address, code=code
        )
        self.command = command


class NoResponseError(ModbusError):
    """No valid answer within the timeout (silence, a garbled or wrong-CRC reply)."""

    reason = "no_response"


class LineDownError(ModbusError):
    """The line cannot be opened: TCP refused or unreachable, serial port missing or lost."""

    reason = "line_down"


class IoCommandError(RemoteError):
    """An IO module command that did not take effect. ``reason``: ``mismatch`` (the coils read
    back differ from what was written), ``not_confirmed`` (the barrier-up limit switch did not
    show the barrier where it should be within the confirmation time), ``failed`` (a
    transaction of the command failed; the ``ModbusError`` is the ``__cause__``). ``command``
    names it (``raise_barrier``, ``set_lights``, …)."""

    def __init__(self, message: str, *, reason: str, command: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.command = command


class CameraPushError(RemoteError):
    """A plate camera's push that cannot be accepted; the edge answers 400 with ``reason``
    (one of ``edge.camera.reads.PUSH_REASONS``) and ``message`` as the detail."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SiteConfigError(ConfigError):
    """A site configuration file that cannot work. ``option`` is the dotted key
    (``lane[1].scale.division_kg``, empty for the file as a whole), ``line`` the TOML line
    where it is known; ``str()`` is the one line a person at the terminal sees."""

    def __init__(self, message: str, *, path: str, option: str, line: int | None = None) -> None:
        super().__init__(message, option=option)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        key = f" {self.option}:" if self.option else ""
        return f"{where}:{key} {self.message}"


class JournalError(LocalError):
    """The journal cannot be opened, read or written (a disk, permission or SQLite fault, or a
    journal that belongs to another device). The lane holds its barrier: ``journal_fault``."""

    reason = "journal_fault"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class JournalFullError(JournalError):
    """An append refused because it would take the journal past its disk budget."""

    def __init__(self, message: str, *, path: str, used_bytes: int, budget_bytes: int) -> None:
        super().__init__(message, path=path)
        self.used_bytes = used_bytes
        self.budget_bytes = budget_bytes


class AccountError(LocalError):
    """An operator account of the console that cannot be made or changed (``code``: ``exists``,
    ``unknown``, ``invalid``), or an accounts file that cannot be read or written (``file``)."""

    reason = "account"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class EnrollError(RemoteError):
    """Central refused the enrollment (``status`` and central's ``code``) or could not be
    reached (``status`` 0, ``code`` ``unreachable``)."""

    reason = "enroll"

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
