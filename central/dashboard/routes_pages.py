"""The pages (dashboard, checkpoint, login), their static files, and the session routes.

Log in: ``POST /dashboard/api/session`` with ``{"token": "cg_…"}`` sets the session cookie
(HttpOnly, SameSite=Strict, Secure over HTTPS) and answers who is logged in and the CSRF
secret the pages send in ``X-CSRF-Token``; ``GET`` answers the same for the current session,
``DELETE`` logs out. The pages themselves hold no data: every figure comes from a route that
checks the session and scopes by role.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from central.api import tokens
from central.api.context import ApiContext, Context
from central.api.errors import forbidden, unauthorized
from central.dashboard.sessions import ABSOLUTE_MS, COOKIE, CSRF_HEADER, Session, SessionTable
from central.errors import NotFoundError
from central.store.model import ApiToken

STATIC = Path(__file__).parent / "static"
PAGE_ROLES = frozenset({"regulator", "admin", "enterprise", "checkpoint"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, Field(min_length=1, max_length=200)]


def home_of(role: str) -> str:
    return "/checkpoint/" if role == "checkpoint" else "/dashboard/"


def session_auth(table: SessionTable, context: ApiContext, request: Request) -> ApiToken | None:
    """The active token behind the request's session cookie (see ``central.api.auth``);
    a request that changes something must carry the session's CSRF secret."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    session = table.get(session_id, now_ms=context.clock())
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise forbidden(f"a dashboard request that changes something needs {CSRF_HEADER}")
    token = context.store.token_by_digest(session.token_digest)
    if token is None or token.revoked_at is not None or token.id != session.token_id:
        table.close(session_id)
        return None
    return token


FEATURE_ROUTES = {
    "transparency": "/api/v1/transparency/inclusion/{record_id}",
    "feeds": "/api/v1/feeds/mu-efficiency",
}
"""Panels shown only when the app serves their routes (the transparency log and the feeds
are optional parts of central)."""


def features(app: FastAPI) -> dict[str, bool]:
    """Which optional parts the app serves, read from its OpenAPI paths (built once, cached)."""
    paths = app.openapi().get("paths", {})
    return {name: path in paths for name, path in FEATURE_ROUTES.items()}


def _who(
    context: ApiContext, token: ApiToken, session: Session, request: Request
) -> dict[str, Any]:
    name = None
    try:
        if token.enterprise is not None:
            name = context.store.get_enterprise(token.enterprise).name
    except NotFoundError:
        name = None
    if token.checkpoint is not None:
        names = {c.id: c.name for c in context.store.list_checkpoints()}
        name = names.get(token.checkpoint)
    return {
        "role": token.role,
        "enterprise": token.enterprise,
        "checkpoint": token.checkpoint,
        "name": name,
        "csrf": session.csrf,
        "expires_at": session.expires_at,
        "home": home_of(token.role),
        "features": features(request.app),
    }


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def pages_router(table: SessionTable) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/dashboard")
    @router.get("/checkpoint")
    def bare(request: Request) -> RedirectResponse:
        return RedirectResponse(request.url.path + "/", status_code=308)

    @router.get("/dashboard/")
    def dashboard_page() -> FileResponse:
        return _page("dashboard.html")

    @router.get("/checkpoint/")
    def checkpoint_page() -> FileResponse:
        return _page("checkpoint.html")

    @router.get("/dashboard/login")
    def login_page() -> FileResponse:
        return _page("login.html")

    @router.post("/dashboard/api/session")
    def login(context: Context, body: LoginBody, request: Request, response: Response) -> Any:
        token = tokens.lookup(context.store, body.token.strip())
        if token is None:
            raise unauthorized("the token is unknown or revoked", code="invalid_token")
        if token.role not in PAGE_ROLES:
            raise forbidden(f"the {token.role} role has no pages; use the API")
        session_id, session = table.open(token, now_ms=context.clock())
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=ABSOLUTE_MS // 1000,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return _who(context, token, session, request)

    @router.get("/dashboard/api/session")
    def current(context: Context, request: Request) -> Any:
        session_id = request.cookies.get(COOKIE, "")
        token = session_auth(table, context, request)
        session = table.get(session_id, now_ms=context.clock()) if token else None
        if token is None or session is None:
            raise unauthorized("not logged in")
        return _who(context, token, session, request)

    @router.delete("/dashboard/api/session")
    def logout(context: Context, request: Request, response: Response) -> dict[str, bool]:
        session_id = request.cookies.get(COOKIE)
        if session_id:
            session_auth(table, context, request)  # a cross-site logout needs the CSRF secret
            table.close(session_id)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return {"logged_out": True}

    return router
