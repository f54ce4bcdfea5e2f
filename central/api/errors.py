"""Every error the API answers is JSON ``{"code", "message"}``; this module makes them.

``ApiError`` is raised by the routes; central's and wire's errors are mapped to a status and a
stable code here, in one table, so a route never decides a status for a store error. FastAPI's
validation errors (422) are reshaped to the same form, naming the field. Anything else is a
500 ``internal`` (logged with its traceback; the answer shows no detail).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.errors import (
    CentralError,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    RegistryError,
    StoreUnavailableError,
    TicketError,
    TicketStateError,
)
from wire.errors import WireError

_log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success: HTTP ``status``, a stable ``code``, a sentence."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def unauthorized(message: str, *, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_request", f"{field}: {message}")


def from_central(exc: CentralError) -> ApiError:
    """The status and code of one of central's errors (most specific class first)."""
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found", exc.message)
    if isinstance(exc, QuotaExceededError):
        return ApiError(409, "quota_exceeded", exc.message)
    if isinstance(exc, TicketStateError):
        return ApiError(409, "ticket_state", exc.message)
    if isinstance(exc, ConflictError):
        return ApiError(409, "conflict", exc.message)
    if isinstance(exc, TicketError):
        return ApiError(422, "ticket_rejected", exc.message)
    if isinstance(exc, RegistryError):
        return ApiError(422, "invalid_request", exc.message)
    if isinstance(exc, StoreUnavailableError):
        return ApiError(503, "unavailable", "the database is unavailable; try again later")
    _log.error("central error answered as 500: %s", exc.message)
    return ApiError(500, "internal", "internal error")


def body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "max_net_kg") → "max_net_kg"; ("query", "limit") → "limit"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "body"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)  # registered for ApiError only
    return JSONResponse(body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)


async def _central_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CentralError)
    return await _api_error(request, from_central(exc))


async def _wire_error(_request: Request, exc: Exception) -> JSONResponse:
    # A wire error that reaches here came from input the caller sent (a plate, a PEM…).
    assert isinstance(exc, WireError)
    return JSONResponse(body("invalid_request", exc.message), status_code=422)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field(tuple(first.get("loc", ("body",))))
    message = f"{field}: {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return JSONResponse(body("invalid_request", message), status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
    }
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error in the API", exc_info=exc)
    return JSONResponse(body("internal", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the ``{code, message}`` shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(CentralError, _central_error)
    app.add_exception_handler(WireError, _wire_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
