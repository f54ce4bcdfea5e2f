"""The camera router served on its own by a real uvicorn, in a thread, on a free port.

The socket is bound and listening before the server starts, so a client may connect at once
(the kernel queues it): no wait for "started". Accepted reads and refusals both land in
``events`` (the router's sink and its logger), so a test waits for them event by event.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import threading
from collections.abc import Mapping
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from edge.camera.reads import MAX_BODY_BYTES, CameraSpot, PlateRead
from edge.camera.router import camera_router

STOP_S = 10.0


class _Refusals(logging.Handler):
    def __init__(self, events: queue.Queue[PlateRead | str]) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.put(record.getMessage())


class CameraServer:
    """``with CameraServer(cameras=…) as server:`` — ``server.url`` is ``http://…/camera``;
    ``server.events`` gets each accepted ``PlateRead`` and each refusal's log line (a str)."""

    def __init__(
        self,
        *,
        cameras: Mapping[str, CameraSpot],
        max_body_bytes: int = MAX_BODY_BYTES,
        queue_sink: asyncio.Queue[PlateRead] | None = None,
    ) -> None:
        self.events: queue.Queue[PlateRead | str] = queue.Queue()
        self._logger = logging.getLogger(f"tests.camera.{id(self)}")
        self._logger.propagate = False
        self._handler = _Refusals(self.events)
        self._logger.addHandler(self._handler)
        app = FastAPI()
        app.include_router(
            camera_router(
                cameras=cameras,
                sink=queue_sink if queue_sink is not None else self.events.put,
                clock_ms=lambda: 1_796_000_000_000,
                max_body_bytes=max_body_bytes,
                logger=self._logger,
            )
        )
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        port = self._socket.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/camera"
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", ws="none", http="h11"
        )
        self._server = uvicorn.Server(config)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="camera-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # noqa: BLE001 - reported by __exit__
            self._failure.append(exc)

    def __enter__(self) -> CameraServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_S)
        self._socket.close()
        self._logger.removeHandler(self._handler)
        assert not self._thread.is_alive(), "the camera server did not stop"
        assert not self._failure, self._failure

    def reads(self) -> list[PlateRead]:
        """Everything delivered so far that was a read (refusals skipped)."""
        out: list[PlateRead] = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return out
            if isinstance(event, PlateRead):
                out.append(event)
