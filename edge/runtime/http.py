"""The edge's local HTTP server: camera pushes, metrics, health and the lanes' state.

- ``POST /camera`` — ``edge.camera.router`` (PROTOCOLS.md §5); reads go to their lane;
- ``GET /metrics`` — Prometheus text (``edge.runtime.metrics``);
- ``GET /healthz`` — 200 ``{"status": "ok", …}`` while the agent runs (lane states, uplink);
- ``GET /api/lanes`` — every lane's state, weight, beams, lights, plate, faults, the last
  decisions with their reasons and the last alarms;
- ``/console`` — the operator console (``edge.console.routes``), when the agent gives its
  router (``console``).

Served by uvicorn on the agent's own event loop (``serve``), so handlers read the lanes'
state directly; uvicorn's own signal handling is switched off — the agent owns shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator, Mapping
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from edge.camera.reads import CameraSpot, PlateRead
from edge.camera.router import camera_router
from edge.runtime.metrics import Metrics

#: The Prometheus text format's content type.
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def build_app(
    *,
    cameras: Mapping[str, CameraSpot],
    on_plate: Callable[[PlateRead], None],
    metrics: Metrics,
    lanes: Callable[[], list[dict[str, Any]]],
    health: Callable[[], dict[str, Any]],
    console: APIRouter | None = None,
    logger: logging.Logger | None = None,
) -> FastAPI:
    """The app; the callables are read per request; ``console``: the console's routes."""
    app = FastAPI(title="coalgate edge", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(camera_router(cameras=cameras, sink=on_plate, logger=logger))
    if console is not None:
        app.include_router(console)

    @app.get("/metrics", response_class=PlainTextResponse)
    def get_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=PROMETHEUS_TYPE)

    @app.get("/healthz")
    def get_health() -> JSONResponse:
        return JSONResponse(health())

    @app.get("/api/lanes")
    def get_lanes() -> JSONResponse:
        return JSONResponse({"lanes": lanes()})

    return app


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the agent stops it (``should_exit``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def server(app: FastAPI, *, host: str, port: int) -> QuietServer:
    """A uvicorn server for ``app`` that logs through our handlers, without access lines."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=3,
    )  # fmt: skip
    return QuietServer(config)
