"""What the lane says (``Say`` outputs): one ``Display`` interface, two implementations.

- ``ConsoleDisplay`` keeps the latest lines of every lane in memory: what the operator console
  shows (``GET /api/lanes`` serves them) and what the log records;
- ``LedDisplay`` sends the text to a generic LED sign: plain text over a serial line (pyserial
  ``serial_for_url``: a port, a pty, ``socket://host:port``) or an HTTP ``POST`` (``text/plain``)
  to a URL. Most signs take one line; ``language`` picks Chinese, English or both, ``encoding``
  the bytes (GB 2312/GBK for the usual Chinese controllers).

A display never stops a lane: ``show`` logs and swallows its own failures (a dead sign is an
inconvenience, not a reason to keep a truck). ``FanOut`` feeds several displays in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.request
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import serial  # type: ignore[import-untyped]  # pyserial ships no type hints

from edge.errors import ConfigError
from edge.gate.outputs import Say

#: Lines kept per lane by the console buffer.
CONSOLE_LINES: Final = 50

Language = Literal["zh", "en", "both"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayLine:
    """One ``Say`` as shown on ``lane`` at ``at_ms`` (UTC ms)."""

    lane: str
    at_ms: int
    text_zh: str
    text_en: str


class Display(Protocol):
    """Anything that shows a lane's ``Say``; ``show`` must not raise for a device failure."""

    async def show(self, say: Say, *, lane: str, at_ms: int) -> None: ...

    async def aclose(self) -> None: ...


class ConsoleDisplay:
    """The latest ``CONSOLE_LINES`` lines of each lane, newest last."""

    def __init__(self, *, keep: int = CONSOLE_LINES, logger: logging.Logger | None = None) -> None:
        if keep < 1:
            raise ConfigError("the console keeps at least one line", option="keep")
        self.keep = keep
        self.log = logger or logging.getLogger(__name__)
        self._lines: dict[str, deque[DisplayLine]] = {}

    async def show(self, say: Say, *, lane: str, at_ms: int) -> None:
        line = DisplayLine(lane=lane, at_ms=at_ms, text_zh=say.text_zh, text_en=say.text_en)
        self._lines.setdefault(lane, deque(maxlen=self.keep)).append(line)
        self.log.info("lane %s says: %s / %s", lane, say.text_zh, say.text_en)

    def lines(self, lane: str) -> tuple[DisplayLine, ...]:
        """Oldest first."""
        return tuple(self._lines.get(lane, ()))

    def current(self, lane: str) -> DisplayLine | None:
        """What the lane shows now (its latest line)."""
        lines = self._lines.get(lane)
        return lines[-1] if lines else None

    async def aclose(self) -> None:
        return None


def render(say: Say, language: Language) -> str:
    """The one line a sign shows."""
    if language == "zh":
        return say.text_zh
    if language == "en":
        return say.text_en
    return f"{say.text_zh} {say.text_en}"


class LedDisplay:
    """A generic LED sign at ``target``: ``http://…``/``https://…`` (POST ``text/plain``) or
    anything pyserial's ``serial_for_url`` opens (each line ends with ``line_end``)."""

    def __init__(
        self,
        *,
        target: str,
        language: Language = "zh",
        encoding: str = "utf-8",
        baudrate: int = 9600,
        line_end: bytes = b"\r\n",
        timeout_s: float = 2.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if not target:
            raise ConfigError("an LED display needs a target (URL or serial port)", option="led")
        if language not in ("zh", "en", "both"):
            raise ConfigError(f"language {language!r} is not zh, en or both", option="language")
        try:
            "".encode(encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}", option="encoding") from None
        self.target = target
        self.http = target.startswith(("http://", "https://"))
        self.language: Language = language
        self.encoding = encoding
        self.baudrate = baudrate
        self.line_end = line_end
        self.timeout_s = timeout_s
        self.log = logger or logging.getLogger(__name__)
        self.sent = 0
        self.failures = 0
        self._port: Any = None
        self._lock = asyncio.Lock()

    async def show(self, say: Say, *, lane: str, at_ms: int) -> None:
        del at_ms
        data = render(say, self.language).encode(self.encoding, "replace")
        async with self._lock:  # one line at a time, in order
            try:
                async with asyncio.timeout(self.timeout_s):
                    if self.http:
                        await asyncio.to_thread(self._post, data)
                    else:
                        await asyncio.to_thread(self._write, data + self.line_end)
            except (OSError, TimeoutError, serial.SerialException) as exc:
                self.failures += 1
                self._drop_port()
                self.log.warning(
                    "LED display %s (lane %s): %s", self.target, lane, exc or "timeout"
                )
                return
            self.sent += 1

    def _post(self, data: bytes) -> None:
        # urllib raises HTTPError (an OSError) for any status >= 400
        request = urllib.request.Request(  # noqa: S310  # the operator's own http(s) URL
            self.target,
            data=data,
            method="POST",
            headers={"content-type": f"text/plain; charset={self.encoding}"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            response.read()

    def _write(self, data: bytes) -> None:
        if self._port is None:
            self._port = serial.serial_for_url(
                self.target, baudrate=self.baudrate, timeout=self.timeout_s,
                write_timeout=self.timeout_s,
            )  # fmt: skip
        self._port.write(data)
        self._port.flush()

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    async def aclose(self) -> None:
        async with self._lock:
            self._drop_port()


class FanOut:
    """Several displays fed in order (the console first)."""

    def __init__(self, displays: Sequence[Display]) -> None:
        self.displays = tuple(displays)

    async def show(self, say: Say, *, lane: str, at_ms: int) -> None:
        for display in self.displays:
            await display.show(say, lane=lane, at_ms=at_ms)

    async def aclose(self) -> None:
        for display in self.displays:
            await display.aclose()
