"""Capture a device's byte stream with timestamps, and replay it onto a pty or TCP port.

File format (JSON lines, UTF-8): a header line, then one line per chunk received::

    {"coalgate_capture": 1, "source": "/dev/ttyUSB0", "baud": 9600}
    {"t_ms": 0, "hex": "0232302030323436383030303030300d1b"}
    {"t_ms": 101, "hex": "..."}

``t_ms`` counts from the first chunk. The encoders and the reader are pure; ``record`` and
``replay`` are the thin I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import termios
import tty
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from firmware_sim.errors import CaptureError, ConfigError, PortError
from firmware_sim.ports import PtyPort, Session, TcpPort, os_reason, parse_host_port

FORMAT_VERSION = 1
_READ_CHUNK = 4096
_CONNECT_TIMEOUT_S = 10.0
_MIN_LOOP_GAP_S = 0.1  # between passes of a looped capture whose chunks share one timestamp


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """Bytes that arrived together, ``t_ms`` after the first chunk."""

    t_ms: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """A whole capture file."""

    source: str
    baud: int | None
    chunks: tuple[Chunk, ...]


def header_line(*, source: str, baud: int | None) -> str:
    """The first line of a capture file."""
    return json.dumps({"coalgate_capture": FORMAT_VERSION, "source": source, "baud": baud}) + "\n"


def chunk_line(chunk: Chunk) -> str:
    """One chunk as a line."""
    return json.dumps({"t_ms": chunk.t_ms, "hex": chunk.data.hex()}) + "\n"


def parse_capture(text: str, *, path: str) -> Capture:
    """Read a capture file's text, or CaptureError naming the bad line."""
    lines = text.splitlines()
    if not lines:
        raise CaptureError("empty capture file", path=path)
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise CaptureError("first line is not a capture header", path=path, line=1) from exc
    if not isinstance(header, dict) or header.get("coalgate_capture") != FORMAT_VERSION:
        raise CaptureError(f"not a version-{FORMAT_VERSION} coalgate capture", path=path, line=1)
    baud = header.get("baud")
    chunks = []
    last = 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            t_ms, data = record["t_ms"], bytes.fromhex(record["hex"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CaptureError("bad chunk line", path=path, line=number) from exc
        if isinstance(t_ms, bool) or not isinstance(t_ms, int) or t_ms < last:
            raise CaptureError(
                "t_ms must be an integer that never decreases", path=path, line=number
            )
        last = t_ms
        chunks.append(Chunk(t_ms=t_ms, data=data))
    return Capture(
        source=str(header.get("source", "")),
        baud=baud if isinstance(baud, int) and not isinstance(baud, bool) else None,
        chunks=tuple(chunks),
    )


def load(path: Path) -> Capture:
    """Read and parse a capture file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaptureError(f"cannot read capture: {os_reason(exc)}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise CaptureError("capture is not UTF-8 text", path=str(path)) from exc
    return parse_capture(text, path=str(path))


# --- recording -----------------------------------------------------------------------------------

_BAUD_CONSTANTS = {
    rate: getattr(termios, f"B{rate}")
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
}


async def _serial_chunks(device: str, baud: int) -> AsyncGenerator[bytes, None]:
    """Bytes from a serial device (or pty) opened raw at ``baud``."""
    if baud not in _BAUD_CONSTANTS:
        raise ConfigError(f"unsupported baud rate {baud}", option="baud")
    try:
        fd = os.open(device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise PortError(f"cannot open {device}: {os_reason(exc)}", port=device) from exc
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            queue.put_nowait(os.read(fd, _READ_CHUNK))
        except BlockingIOError:
            return
        except OSError:
            queue.put_nowait(b"")  # device gone (cable pulled, pty closed)

    try:
        if os.isatty(fd):
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = _BAUD_CONSTANTS[baud]
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        loop.add_reader(fd, readable)
        while data := await queue.get():
            yield data
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def _tcp_chunks(host: str, port: int) -> AsyncGenerator[bytes, None]:
    """Bytes from a TCP server (a device server, or our simulator on ``--tcp``)."""
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError as exc:
        raise PortError(
            f"cannot connect to {host}:{port}: no answer within {_CONNECT_TIMEOUT_S:g} s",
            port=f"{host}:{port}",
        ) from exc
    except OSError as exc:
        raise PortError(
            f"cannot connect to {host}:{port}: {os_reason(exc)}", port=f"{host}:{port}"
        ) from exc
    try:
        while data := await reader.read(_READ_CHUNK):
            yield data
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def source_chunks(source: str, *, baud: int) -> AsyncGenerator[bytes, None]:
    """``socket://host:port`` or a device path."""
    if source.startswith("socket://"):
        host, port = parse_host_port(source.removeprefix("socket://"))
        return _tcp_chunks(host, port)
    if "://" in source:
        raise ConfigError(f"unsupported source {source!r}: use a device path or socket://")
    return _serial_chunks(source, baud)


async def record(
    *,
    source: str,
    out: IO[str],
    baud: int,
    clock: Callable[[], float],
    duration_s: float | None = None,
    logger: logging.Logger | None = None,
) -> int:
    """Write what ``source`` sends to ``out`` until it closes or ``duration_s`` passes.

    ``clock`` returns seconds (the event loop's monotonic time in practice). Returns the
    number of bytes recorded.
    """
    log = logger or logging.getLogger(__name__)
    out.write(header_line(source=source, baud=baud))
    total = 0
    first: float | None = None
    chunks = source_chunks(source, baud=baud)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(duration_s):
            async for data in chunks:
                now = clock()
                first = now if first is None else first
                out.write(chunk_line(Chunk(t_ms=round((now - first) * 1000), data=data)))
                out.flush()
                total += len(data)
    await chunks.aclose()
    log.info("recorded %d bytes from %s", total, source)
    return total


# --- replay --------------------------------------------------------------------------------------


def loop_gap_s(capture: Capture) -> float:
    """Pause between two passes of a looped replay: the capture's mean chunk spacing.

    Never zero, so a capture whose chunks all share one timestamp (or a single chunk) repeats
    at a steady pace instead of spinning without ever yielding to the event loop.
    """
    chunks = capture.chunks
    spread_ms = chunks[-1].t_ms - chunks[0].t_ms if len(chunks) > 1 else 0
    mean_s = spread_ms / (len(chunks) - 1) / 1000.0 if spread_ms else 0.0
    return max(mean_s, _MIN_LOOP_GAP_S)


async def replay(
    capture: Capture,
    *,
    port: PtyPort | TcpPort,
    speed: float = 1.0,
    loop_forever: bool = False,
    start_delay_s: float = 0.0,
    linger_s: float = 1.0,
    started: Callable[[str], None] | None = None,
) -> None:
    """Send the captured chunks to every connected host with their original spacing.

    On TCP the clock starts when the first host connects; on a pty (which cannot tell) after
    ``start_delay_s``. Looped, the passes are ``loop_gap_s`` apart. The port stays open
    ``linger_s`` after the last chunk so a host can read it all before the line drops.
    """
    if not 0 < speed < math.inf:  # written so that NaN fails too
        raise ConfigError("speed must be a number > 0", option="speed")
    sessions: set[Session] = set()
    connected = asyncio.Event()

    async def serve(session: Session) -> None:
        sessions.add(session)
        connected.set()
        try:
            while await session.read():
                pass  # a replayed device does not listen
        finally:
            sessions.discard(session)

    async with asyncio.TaskGroup() as tasks:
        try:
            if isinstance(port, PtyPort):
                port.open(serve, tasks)
            else:
                await port.open(serve, tasks)
            if started is not None:
                started(port.address)
            if isinstance(port, TcpPort):
                await connected.wait()
            await asyncio.sleep(start_delay_s)
            loop = asyncio.get_running_loop()
            while True:
                t0 = loop.time()
                for chunk in capture.chunks:
                    wait = t0 + chunk.t_ms / 1000.0 / speed - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    for session in list(sessions):
                        session.write(chunk.data)
                if not loop_forever or not capture.chunks:
                    break
                await asyncio.sleep(loop_gap_s(capture) / speed)
            await asyncio.sleep(linger_s)
        finally:
            if isinstance(port, PtyPort):
                port.close()
            else:
                await port.close()
