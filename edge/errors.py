"""Errors of ``edge``.

Peer-caused errors (bytes or values from a device that are wrong) are separate from misuse and
misconfiguration by our side, as in h11. Every error carries a short stable ``reason`` code::

    EdgeError                 base of everything raised (or returned) here
    ├── RemoteError           a device sent something wrong
    │   ├── FrameError        bytes from an indicator that are not a valid frame; the parsers
    │   │                     *return* these as events, they never raise them
    │   ├── ConversionError   a reading that cannot become whole kilograms on the configured
    │   │                     division (off the division grid, not whole kg, unit not metric)
    │   └── CommandTimeoutError  a device did not answer a command in time
    └── LocalError            our side misused the API or is misconfigured
        └── ConfigError       a configuration that cannot work (also a ValueError)
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
    ``not_multiple`` (whole kg, but off the division grid). A wrong division in the site
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
