"""The console's HTTP routes: pages, static files, sessions, the lanes' state (JSON and SSE) and
the operator's actions. ``console_router(...)`` is mounted by the edge's HTTP app.

- ``GET /console/`` the console, ``GET /console/login`` the login page, ``/console/static/…``;
- ``POST /console/api/session`` ``{"operator", "password"}`` logs in: an HttpOnly, SameSite=Strict
  cookie and the CSRF secret the page sends in ``X-CSRF-Token``; ``GET`` who is logged in;
  ``DELETE`` logs out;
- ``GET /console/api/state`` every lane and the uplink; ``GET /console/api/live`` the same as
  Server-Sent Events (``state`` events, sent when something changed, at least every second for
  the clock; a stream ends after ``stream_s`` and the browser reconnects);
- ``GET /console/api/weighings`` the shift's weighings; ``GET /console/api/tickets`` tickets to
  choose from; ``GET /console/api/receipt/{seq}`` the driver's receipt QR text;
  ``GET /console/api/reasons`` the reason codes' texts;
- ``POST /console/api/lanes/{lane}/plate|ticket|override|zero|ack|io-checked``: the operator's
  inputs, fed to the lane with the operator's id (``ManualPlate``, ``ChooseTicket``,
  ``Override``, ``ZeroRequest``, ``AlarmAck``, ``ClearIoFault``); the answer says what the lane
  did and said; 409 when the lane was not given the input (no IO command fault to clear).

Every ``/console/api`` route but the login needs a session; every ``POST``/``DELETE`` needs the
CSRF header too. Errors are ``{"detail": {"code", "message"}}``.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime,
# and ``Operator`` (the session dependency) is local to ``console_router``.
import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from edge.console import present
from edge.console.accounts import MAX_PASSWORD, Accounts
from edge.console.backend import ConsoleBackend, LaneView, OperatorInput
from edge.console.sessions import (
    ABSOLUTE_MS,
    COOKIE,
    CSRF_HEADER,
    LoginThrottle,
    Session,
    SessionTable,
)
from edge.errors import AccountError, LocalError
from edge.gate.inputs import (
    AlarmAck,
    ChooseTicket,
    ClearIoFault,
    ManualPlate,
    Override,
    ZeroRequest,
)
from wire.errors import WireError
from wire.tickets import ticket_from_qr

STATIC: Final = Path(__file__).parent / "static"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
MAX_WEIGHINGS: Final = 500
MIN_REASON: Final = 4
CTI_HEX: Final = 32


def _error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"code": code, "message": message})


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD)]


class PlateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plate: Annotated[str, Field(min_length=2, max_length=16)]


class TicketBody(BaseModel):
    """A ticket id from the bundle (32 hex digits) or the driver's ticket QR text (``CT1:``)."""

    model_config = ConfigDict(extra="forbid")
    ticket: Annotated[str | None, Field(max_length=CTI_HEX)] = None
    qr: Annotated[str | None, Field(max_length=2000)] = None


class OverrideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=200)]


class IoCheckedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=200)]


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    ref: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None


def _static_files() -> dict[str, Path]:
    return {
        path.relative_to(STATIC).as_posix(): path
        for path in STATIC.rglob("*")
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


class _Console:
    """What the routes share: the backend, the accounts, the sessions and the settings."""

    def __init__(
        self,
        *,
        backend: ConsoleBackend,
        accounts: Accounts,
        clock: Callable[[], int],
        poll_s: float,
        stream_s: float,
        shift_hours: Sequence[int],
        logger: logging.Logger,
    ) -> None:
        self.backend = backend
        self.accounts = accounts
        self.clock = clock
        self.poll_s = poll_s
        self.stream_s = stream_s
        self.shift_hours = tuple(shift_hours)
        self.log = logger
        self.table = SessionTable()
        self.throttle = LoginThrottle()

    def session(self, request: Request) -> Session:
        """The request's live session (401), with the CSRF secret on a change (403)."""
        session_id = request.cookies.get(COOKIE)
        found = None if not session_id else self.table.get(session_id, now_ms=self.clock())
        if found is None:
            raise _error(401, "login", "log in first")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), found.csrf.encode()):
                raise _error(403, "csrf", f"a request that changes something needs {CSRF_HEADER}")
        return found

    def who(self, found: Session) -> dict[str, Any]:
        return {
            "operator": found.operator,
            "name": found.name,
            "csrf": found.csrf,
            "expires_at": found.expires_at,
            "site": self.backend.site,
            "device": self.backend.device,
        }

    def lane_of(self, lane: str) -> LaneView:
        for view in self.backend.lanes():
            if view.lane == lane:
                return view
        raise _error(404, "lane", f"no lane {lane!r}")

    def state(self) -> dict[str, Any]:
        return {
            "lanes": [present.lane_json(view) for view in self.backend.lanes()],
            "link": present.link_json(self.backend.link()),
        }

    async def act(self, found: Session, lane: str, item: OperatorInput) -> dict[str, Any]:
        """Hand ``item`` to ``lane`` for a logged-in, still enabled operator."""
        self.lane_of(lane)
        enabled = await run_in_threadpool(_enabled, self.accounts, found.operator)
        if not enabled:
            self.table.close_operator(found.operator)
            raise _error(401, "login", "this operator account is disabled")
        try:
            outcome = await self.backend.submit(lane, item)
        except LocalError as exc:  # the lane did not take the input in time (a busy queue)
            raise _error(503, "busy", f"lane {lane} did not take the input: {exc.message}") from exc
        if outcome.refused is not None:
            raise _error(409, "refused", f"lane {lane}: {outcome.refused}")
        self.log.info(
            "console: operator %s on lane %s: %s -> %s", found.operator, lane,
            type(item).__name__, outcome.state,
            extra={"lane": lane, "operator": found.operator, "input": type(item).__name__},
        )  # fmt: skip
        return present.outcome_json(outcome)

    async def events(self) -> AsyncIterator[str]:
        """The live stream: the state when it changed, at least every second (the clock)."""
        yield "retry: 1000\n\n"
        deadline = time.monotonic() + self.stream_s
        sent_lanes: object = None
        sent_at = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            current = self.state()
            if current["lanes"] != sent_lanes or now - sent_at >= 1.0:
                sent_lanes, sent_at = current["lanes"], now
                text = json.dumps(current, ensure_ascii=False, separators=(",", ":"))
                yield f"event: state\ndata: {text}\n\n"
            await asyncio.sleep(self.poll_s)


def console_router(
    *,
    backend: ConsoleBackend,
    accounts: Accounts,
    clock: Callable[[], int],
    poll_s: float = 0.25,
    stream_s: float = 30.0,
    shift_hours: Sequence[int] = present.SHIFT_HOURS,
    logger: logging.Logger | None = None,
) -> APIRouter:
    """The console's routes (see the module docstring); ``clock`` (UTC ms) times sessions.
    ``poll_s``: how often the live stream looks at the lanes; ``stream_s``: how long a stream
    lasts before the browser reconnects; ``shift_hours``: when shifts start, China time."""
    console = _Console(
        backend=backend, accounts=accounts, clock=clock, poll_s=poll_s, stream_s=stream_s,
        shift_hours=shift_hours, logger=logger or logging.getLogger(__name__),
    )  # fmt: skip
    router = APIRouter(include_in_schema=False)
    _page_routes(router)
    _session_routes(router, console)
    _view_routes(router, console)
    _action_routes(router, console)
    return router


def _page_routes(router: APIRouter) -> None:
    files = _static_files()

    @router.get("/console")
    def bare() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    @router.get("/console/")
    def console_page() -> FileResponse:
        return FileResponse(STATIC / "console.html", headers=PAGE_HEADERS)

    @router.get("/console/login")
    def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html", headers=PAGE_HEADERS)

    @router.get("/console/static/{name:path}")
    def static(name: str) -> FileResponse:
        path = files.get(name)
        if path is None:
            raise _error(404, "not_found", "no such file")
        return FileResponse(
            path, media_type=MEDIA_TYPES[path.suffix],
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
        )  # fmt: skip


def _session_routes(router: APIRouter, console: _Console) -> None:
    Operator = Annotated[Session, Depends(console.session)]  # noqa: N806  # a type alias
    log = console.log

    @router.post("/console/api/session")
    def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
        operator = body.operator.strip()
        if console.throttle.blocked(operator, now_ms=console.clock()):
            log.warning("console: login as %r refused: too many failures", operator)
            raise _error(429, "throttled", "too many failed logins: wait five minutes")
        try:
            found = console.accounts.verify(operator, body.password)
        except AccountError as exc:
            log.error("console: %s", exc.message)  # noqa: TRY400  # one line says it all
            raise _error(503, "accounts", "the accounts file cannot be read") from exc
        if found is None:
            console.throttle.failed(operator, now_ms=console.clock())
            log.warning("console: failed login as %r", operator)
            raise _error(401, "credentials", "unknown operator or wrong password")
        console.throttle.succeeded(operator)
        session_id, opened = console.table.open(found.id, name=found.name, now_ms=console.clock())
        response.set_cookie(
            COOKIE, session_id, max_age=ABSOLUTE_MS // 1000, path="/console", httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        log.info("console: operator %s logged in", found.id, extra={"operator": found.id})
        return console.who(opened)

    @router.get("/console/api/session")
    def current(found: Operator) -> dict[str, Any]:
        return console.who(found)

    @router.delete("/console/api/session")
    def logout(found: Operator, request: Request, response: Response) -> dict[str, bool]:
        console.table.close(request.cookies.get(COOKIE, ""))
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        log.info("console: operator %s logged out", found.operator)
        return {"logged_out": True}


def _view_routes(router: APIRouter, console: _Console) -> None:
    Operator = Annotated[Session, Depends(console.session)]  # noqa: N806  # a type alias
    backend = console.backend

    @router.get("/console/api/reasons")
    def reasons(found: Operator) -> dict[str, Any]:
        del found
        return {"reasons": present.reason_texts()}

    @router.get("/console/api/state")
    def get_state(found: Operator) -> dict[str, Any]:
        del found
        return console.state()

    @router.get("/console/api/live")
    async def live(found: Operator) -> StreamingResponse:
        del found
        return StreamingResponse(
            console.events(), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )  # fmt: skip

    @router.get("/console/api/weighings")
    async def weighings(
        found: Operator, limit: Annotated[int, Query(ge=1, le=MAX_WEIGHINGS)] = 200
    ) -> dict[str, Any]:
        del found
        since = present.shift_start(backend.link().now_ms, console.shift_hours)
        views = await run_in_threadpool(lambda: backend.weighings(since_ms=since, limit=limit))
        return {"since_ms": since, "weighings": [present.weighing_json(v) for v in views]}

    @router.get("/console/api/tickets")
    def tickets(
        found: Operator,
        lane: Annotated[str, Query(max_length=64)],
        plate: Annotated[str | None, Query(max_length=16)] = None,
    ) -> dict[str, Any]:
        del found
        view = console.lane_of(lane)
        choices = present.ticket_choices(
            backend.bundle(), site=backend.site, direction=view.direction, plate=plate or None
        )
        return {"tickets": choices}

    @router.get("/console/api/receipt/{seq}")
    async def receipt(found: Operator, seq: int) -> dict[str, Any]:
        del found
        record, certificate = await run_in_threadpool(
            lambda: (backend.record(seq), backend.certificate())
        )
        try:
            text, view = present.receipt_text(
                record=record, bundle=backend.bundle(), certificate=certificate
            )
        except present.ReceiptUnavailable as exc:
            status = 404 if exc.code == "not_found" else 409
            raise _error(status, exc.code, exc.message) from exc
        return {"text": text, "weighing": present.weighing_json(view)}


def _action_routes(router: APIRouter, console: _Console) -> None:
    Operator = Annotated[Session, Depends(console.session)]  # noqa: N806  # a type alias

    @router.post("/console/api/lanes/{lane}/plate")
    async def manual_plate(found: Operator, lane: str, body: PlateBody) -> dict[str, Any]:
        plate = body.plate.strip().upper()
        return await console.act(found, lane, ManualPlate(operator=found.operator, plate=plate))

    @router.post("/console/api/lanes/{lane}/ticket")
    async def choose_ticket(found: Operator, lane: str, body: TicketBody) -> dict[str, Any]:
        chosen = _chosen_ticket(body)
        return await console.act(found, lane, ChooseTicket(operator=found.operator, ticket=chosen))

    @router.post("/console/api/lanes/{lane}/override")
    async def override(found: Operator, lane: str, body: OverrideBody) -> dict[str, Any]:
        reason = " ".join(body.reason.split())
        if len(reason) < MIN_REASON:
            raise _error(400, "reason", "an override needs a reason (at least 4 characters)")
        return await console.act(found, lane, Override(operator=found.operator, reason=reason))

    @router.post("/console/api/lanes/{lane}/io-checked")
    async def io_checked(found: Operator, lane: str, body: IoCheckedBody) -> dict[str, Any]:
        reason = " ".join(body.reason.split())
        if len(reason) < MIN_REASON:
            raise _error(400, "reason", "an IO check needs a reason (at least 4 characters)")
        item = ClearIoFault(operator=found.operator, reason=reason)
        return await console.act(found, lane, item)

    @router.post("/console/api/lanes/{lane}/zero")
    async def zero(found: Operator, lane: str) -> dict[str, Any]:
        return await console.act(found, lane, ZeroRequest(operator=found.operator))

    @router.post("/console/api/lanes/{lane}/ack")
    async def ack(found: Operator, lane: str, body: AckBody) -> dict[str, Any]:
        ref = None if body.ref is None else bytes.fromhex(body.ref)
        item = AlarmAck(operator=found.operator, kind=body.kind, ref=ref)
        return await console.act(found, lane, item)


def _chosen_ticket(body: TicketBody) -> bytes:
    """The ``ChooseTicket`` bytes: a ticket id, or the COSE bytes of a scanned ticket QR."""
    if (body.ticket is None) == (body.qr is None):
        raise _error(400, "ticket", "send either a ticket id or the ticket's QR text")
    if body.ticket is not None:
        try:
            chosen = bytes.fromhex(body.ticket)
        except ValueError:
            chosen = b""
        if len(chosen) != CTI_HEX // 2:
            raise _error(400, "ticket", "a ticket id is 32 hex digits")
        return chosen
    try:
        return ticket_from_qr((body.qr or "").strip())
    except WireError as exc:
        raise _error(400, "ticket", f"not a ticket QR: {exc}") from exc


def _enabled(accounts: Accounts, operator: str) -> bool:
    try:
        return any(o.id == operator and not o.disabled for o in accounts.list())
    except AccountError:
        return False
