"""The API application: :func:`create_app` builds it from what ``main`` made.

Nothing is built at import time: the store, central's keys, settings, the bundle publisher and
the clock come in as arguments (the CLI opens them from the environment; tests pass a
temporary SQLite store). Routes are sync functions: FastAPI runs them in its thread pool, and
the store is synchronous and thread-safe. OpenAPI is served at ``/openapi.json``, its pages at
``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from central.api import (
    errors,
    routes_feeds,
    routes_metrics,
    routes_records,
    routes_registry,
    routes_sightings,
    routes_tax,
    routes_tickets,
    routes_transparency,
    routes_webhooks,
)
from central.api.context import ApiContext
from central.config import Settings
from central.dashboard import install as install_dashboard
from central.ingest.worker import wall_ms
from central.keyring import Keyring
from central.store.base import Store
from central.ticketing.bundles import BundlePublisher

DESCRIPTION = """Central's API for regulators, enterprises, checkpoints, platforms and devices.

Every route but `/healthz` and `GET /api/v1/keys` needs `Authorization: Bearer <token>` (made
by `coalgate central token create`). Errors are JSON `{"code", "message"}`. Byte strings are
lower-case hex; times are UTC milliseconds except ticket `iat`/`exp` (seconds); weights are
integer kilograms. See docs/central.md "API" for the roles of each route."""


def create_app(
    *,
    store: Store,
    keyring: Keyring,
    settings: Settings,
    publisher: BundlePublisher | None = None,
    clock: Callable[[], int] = wall_ms,
    logger: logging.Logger | None = None,
) -> FastAPI:
    """The FastAPI application on ``store`` (migrated by the caller, who also closes it)."""
    log = logger or logging.getLogger("central.api")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("API up on the %s store, issuer %s", store.backend, settings.issuer)
        yield
        log.info("API stopped")

    app = FastAPI(
        title="coalgate central",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.context = ApiContext(
        store=store,
        keyring=keyring,
        settings=settings,
        publisher=publisher,
        clock=clock,
        logger=log,
    )
    errors.install(app)
    app.include_router(routes_registry.router)
    app.include_router(routes_records.router)
    app.include_router(routes_tickets.router)
    app.include_router(routes_sightings.router)
    app.include_router(routes_transparency.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_feeds.router)
    app.include_router(routes_tax.router)
    app.include_router(routes_webhooks.router)
    install_dashboard(app)  # pages, session login, their JSON (docs/dashboard.md)
    return app
