"""Errors raised by the simulator.

One base class; every error carries a human sentence and, where it helps, the offending value::

    SimError                  base of everything the simulator raises on purpose
    ├── ConfigError           misuse: an option or setting the simulator cannot honour
    ├── ControlError          a bad request to the control interface (carries an HTTP status)
    ├── CaptureError          a capture file that cannot be read or written
    └── PortError             a pty or TCP port that cannot be opened or kept open
"""

from __future__ import annotations


class SimError(Exception):
    """Base of every error the simulator raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SimError):
    """An option or setting the simulator cannot honour (caller's mistake)."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class ControlError(SimError):
    """A control request that is malformed or cannot be applied; ``status`` is the HTTP code."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class CaptureError(SimError):
    """A capture file that cannot be read (bad header, bad line) or written."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class PortError(SimError):
    """A pty or TCP port that cannot be opened or kept open."""

    def __init__(self, message: str, *, port: str) -> None:
        super().__init__(message)
        self.port = port
