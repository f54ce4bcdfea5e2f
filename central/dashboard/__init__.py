"""The regulator dashboard and the checkpoint page, served by central's API app.

``install(app)`` adds the pages and their static files, the session routes, the pages' JSON
routes and the live stream, and lets the API's routes accept a session cookie in place of a
bearer token (``app.state.session_auth``, see ``central.api.auth``). Everything the pages
load is served from ``static/`` (no CDN: the pages work without internet).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from central.api.context import ApiContext
from central.dashboard.live import live_router
from central.dashboard.routes_data import router as data_router
from central.dashboard.routes_pages import STATIC, pages_router, session_auth
from central.dashboard.sessions import SessionTable
from central.store.model import ApiToken

__all__ = ["install"]


def install(app: FastAPI, *, live_poll_s: float = 0.5, live_max_s: float = 15.0) -> None:
    """Mount the dashboard on ``app`` (made by ``central.api.app.create_app``)."""
    context = app.state.context
    assert isinstance(context, ApiContext)  # create_app sets it before installing
    table = SessionTable()
    app.state.sessions = table

    def authenticate(request: Request) -> ApiToken | None:
        return session_auth(table, context, request)

    app.state.session_auth = authenticate
    app.include_router(pages_router(table))
    app.include_router(data_router)
    app.include_router(live_router(poll_s=live_poll_s, max_s=live_max_s))
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
