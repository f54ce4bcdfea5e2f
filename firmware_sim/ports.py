"""Where a simulated device meets its host: a pseudo-terminal or a TCP port. Thin I/O.

Both hand out ``Session`` objects, one per connected host (a pty has exactly one, for as long
as it exists; TCP one per client). A pty ignores baud rates, so writers pace themselves with
``transmit_s``. A real serial line loses what nobody reads; a pty would instead hoard it
and hand a late reader stale frames, so unread output beyond a small backlog is dropped.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import termios
import tty
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from firmware_sim.errors import ConfigError, PortError

_STALE_BYTES = 512  # unread pty output beyond this is flushed, like an overrun UART FIFO
_TCP_BACKLOG_BYTES = 64 * 1024  # a TCP client this far behind has its frames dropped
_READ_CHUNK = 4096


def os_reason(exc: OSError) -> str:
    """The short reason (asyncio wraps bind errors in a long sentence of its own)."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def transmit_s(nbytes: int, baud: int) -> float:
    """Time ``nbytes`` take on a line at ``baud``, 8N1 (10 bits a byte)."""
    return nbytes * 10 / baud


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 0 = any free port), or ConfigError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"expected HOST:PORT, got {text!r}", option="tcp")
    return host.strip("[]"), int(port)


def check_link(link: Path) -> None:
    """A --link path must sit in an existing directory and not clobber a real file."""
    if not link.parent.is_dir():
        raise ConfigError(f"directory of link path does not exist: {link.parent}", option="link")
    if link.exists() and not link.is_symlink():
        raise ConfigError(f"link path exists and is not a symlink: {link}", option="link")


class Session:
    """One connected host: read what it sends, write to it."""

    def __init__(
        self,
        *,
        name: str,
        write: Callable[[bytes], None],
        incoming: asyncio.Queue[bytes],
    ) -> None:
        self.name = name
        self._write = write
        self._incoming = incoming
        self.closed = asyncio.Event()

    def write(self, data: bytes) -> None:
        """Send without blocking; bytes the host cannot take are lost, as on a cable."""
        if not self.closed.is_set() and data:
            self._write(data)

    async def read(self) -> bytes:
        """Next bytes from the host; b"" once the session is closed."""
        if self.closed.is_set() and self._incoming.empty():
            return b""
        getter = asyncio.ensure_future(self._incoming.get())
        closer = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (getter, closer):
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
        return getter.result() if getter in done else b""


SessionHandler = Callable[[Session], Coroutine[Any, Any, None]]


class PtyPort:
    """A pseudo-terminal; hosts open ``path`` (or the stable ``link``) like a serial port."""

    def __init__(self, *, link: Path | None = None, logger: logging.Logger | None = None) -> None:
        self._link = link
        self._log = logger or logging.getLogger(__name__)
        self._master: int | None = None
        self._slave: int | None = None
        self._session: Session | None = None
        self.path = ""

    @property
    def address(self) -> str:
        """What a host opens: the link if there is one, else the pty's own path."""
        return str(self._link) if self._link is not None else self.path

    def open(self, handler: SessionHandler, tasks: asyncio.TaskGroup) -> None:
        """Create the pty (raw, so no line discipline touches the bytes) and its link."""
        if self._link is not None:
            check_link(self._link)
        master, slave = os.openpty()
        tty.setraw(slave)  # persists for whoever opens the slave later
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self._link is not None:
            tmp = self._link.with_name(self._link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.path)
            tmp.replace(self._link)  # atomic: a host never sees the link missing
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        session = Session(name=self.path, write=self._write, incoming=queue)
        self._session = session
        asyncio.get_running_loop().add_reader(master, self._on_readable, queue)
        tasks.create_task(handler(session), name=f"session {self.path}")
        self._log.info("pty %s open (link %s)", self.path, self._link)

    def close(self, *, keep_link: bool = False) -> None:
        """Hang up: the host's reads fail, as when a cable is pulled."""
        if self._session is not None:
            self._session.closed.set()
            self._session = None
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            self._master = None
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        if self._link is not None and not keep_link:
            with contextlib.suppress(FileNotFoundError):
                if self._link.is_symlink():
                    self._link.unlink()

    def _on_readable(self, queue: asyncio.Queue[bytes]) -> None:
        assert self._master is not None  # reader removed before close
        try:
            data = os.read(self._master, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # no process has the slave open; not ours to fix
                return
            raise
        if data:
            queue.put_nowait(data)

    def _write(self, data: bytes) -> None:
        if self._master is None or self._slave is None:
            return
        pending = array.array("i", [0])
        fcntl.ioctl(self._slave, termios.FIONREAD, pending)
        if pending[0] > _STALE_BYTES:
            termios.tcflush(self._slave, termios.TCIFLUSH)
        with contextlib.suppress(BlockingIOError):
            os.write(self._master, data)


class TcpPort:
    """A TCP listener; hosts connect with ``socket://host:port``."""

    def __init__(self, *, host: str, port: int, logger: logging.Logger | None = None) -> None:
        self._host = host
        self._port = port
        self._log = logger or logging.getLogger(__name__)
        self._server: asyncio.Server | None = None
        self._clients: set[tuple[Session, asyncio.StreamWriter]] = set()

    @property
    def address(self) -> str:
        """``socket://host:port`` with the port actually bound."""
        return f"socket://{self._host}:{self._port}"

    async def open(self, handler: SessionHandler, tasks: asyncio.TaskGroup) -> None:
        """Listen; each client gets a session served by ``handler`` in ``tasks``."""

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            queue: asyncio.Queue[bytes] = asyncio.Queue()

            def write(data: bytes) -> None:
                if writer.transport.get_write_buffer_size() < _TCP_BACKLOG_BYTES:
                    writer.write(data)

            session = Session(name=f"tcp {peer}", write=write, incoming=queue)
            entry = (session, writer)
            self._clients.add(entry)
            served = tasks.create_task(handler(session), name=f"session {peer}")
            try:
                while data := await reader.read(_READ_CHUNK):
                    queue.put_nowait(data)
            except ConnectionError:
                pass
            finally:
                session.closed.set()
                self._clients.discard(entry)
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
                # Wait for the session's end without taking on its cancellation at shutdown
                # (asyncio's stream callback would log a cancelled client task as an error).
                await asyncio.wait({served})

        try:
            self._server = await asyncio.start_server(on_client, self._host, self._port)
        except OSError as exc:
            raise PortError(
                f"cannot listen on {self._host}:{self._port}: {os_reason(exc)}", port=self.address
            ) from exc
        self._port = self._server.sockets[0].getsockname()[1]
        self._log.info("listening on %s", self.address)

    async def close(self) -> None:
        """Stop listening and drop every client, as when a cable is pulled."""
        if self._server is not None:
            self._server.close()
            for session, writer in list(self._clients):
                session.closed.set()
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None
