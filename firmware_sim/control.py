"""The control interface: a small local HTTP/1.1 server with JSON bodies (stdlib only).

Endpoints (all answers are JSON; errors are ``{"error": "..."}`` with a 4xx status)::

    GET    /state                    reading, beams, trucks, faults, calibration counter
    POST   /trucks                   {"plate", "axles", "tare_kg", "load_kg"?, "kind"?,
                                      "stop_m"?, "speed_mps"?, "settled"?}  drive a truck on
    DELETE /trucks/{plate}           the truck drives off
    PUT    /trucks/{plate}/load      {"load_kg"}  the standing truck's load changes
    POST   /faults                   {"kind", "count"?, "duration_ms"?, "bytes"?, "delay_ms"?,
                                      "kg"?}  inject a fault
    DELETE /faults                   clear output faults
    POST   /calibration              bump the calibration event counter (a tamper)

One request per connection (``Connection: close``): curl and test clients need no more.
Numbers are bounded (kg within 10 000 000, ``duration_ms`` up to a day, ``bytes`` up to
64 KiB, ``delay_ms`` up to a minute, ``stop_m`` within 1000 m); outside, the answer is 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from firmware_sim.errors import ConfigError, ControlError, PortError
from firmware_sim.faults import FaultKind
from firmware_sim.model import MAX_KG, Truck, TruckKind
from firmware_sim.ports import os_reason
from firmware_sim.simulator import IndicatorSimulator

_MAX_BODY = 64 * 1024
_MAX_HEADER_LINES = 100
_REQUEST_TIMEOUT_S = 10.0
# Upper bounds on request fields: JSON integers are unbounded (and Python's json reads NaN),
# and a value the model cannot compute with would stop the simulator instead of getting a 400.
_MAX_COUNT = 10_000
_MAX_DURATION_MS = 24 * 3_600_000
_MAX_GARBAGE_BYTES = 65_536
_MAX_DELAY_MS = 60_000
_MAX_POSITION_M = 1_000.0


def _int(
    body: dict[str, Any],
    key: str,
    default: int | None = None,
    *,
    low: int = 0,
    high: int = MAX_KG,
) -> int:
    value = body.get(key, default)
    if value is None:
        raise ControlError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"field {key!r} must be an integer")
    if not low <= value <= high:
        raise ControlError(f"field {key!r} must be {low}-{high}")
    return value


def _optional_int(body: dict[str, Any], key: str, *, low: int = 0, high: int) -> int | None:
    return None if body.get(key) is None else _int(body, key, low=low, high=high)


def _number(body: dict[str, Any], key: str, *, limit: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"field {key!r} must be a number")
    if not abs(value) <= limit:  # written so that NaN and infinity fail too
        raise ControlError(f"field {key!r} must be a finite number within +/-{limit:g}")
    return float(value)


def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ControlError(f"unknown field(s): {', '.join(unknown)}")


class Controller:
    """Turns control requests into calls on a running simulator. No I/O of its own."""

    def __init__(self, simulator: IndicatorSimulator) -> None:
        self._sim = simulator

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """(status, JSON value) for one request; ControlError for a bad one."""
        parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
        match parts:
            case ["state"]:
                self._allow(method, "GET")
                return 200, self._sim.snapshot()
            case ["trucks"]:
                self._allow(method, "POST")
                self._add_truck(self._object(body))
                return 201, self._sim.snapshot()
            case ["trucks", plate]:
                self._allow(method, "DELETE")
                self._guard(lambda: self._sim.remove_truck(plate))
                return 202, self._sim.snapshot()
            case ["trucks", plate, "load"]:
                self._allow(method, "PUT")
                payload = self._object(body)
                _check_fields(payload, {"load_kg"})
                load = _int(payload, "load_kg")
                self._guard(lambda: self._sim.set_load(plate, load))
                return 200, self._sim.snapshot()
            case ["faults"]:
                self._allow(method, "POST", "DELETE")
                if method == "DELETE":
                    self._sim.clear_faults()
                else:
                    self._inject(self._object(body))
                return 200, self._sim.snapshot()
            case ["calibration"]:
                self._allow(method, "POST")
                return 200, {"calibration_count": self._sim.bump_calibration()}
            case _:
                raise ControlError(f"no such resource: {path}", status=404)

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ControlError(
                f"method {method} not allowed here; use {'/'.join(allowed)}", status=405
            )

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ControlError("the request body must be a JSON object")
        return body

    @staticmethod
    def _guard(action: Any) -> None:
        """Model refusals (no such truck, already leaving) become 404/409."""
        try:
            action()
        except ConfigError as exc:
            status = 404 if exc.message.startswith("no truck") else 409
            raise ControlError(exc.message, status=status) from exc

    def _add_truck(self, body: dict[str, Any]) -> None:
        _check_fields(
            body,
            {"plate", "axles", "kind", "tare_kg", "load_kg", "stop_m", "speed_mps", "settled"},
        )
        plate = body.get("plate")
        if not isinstance(plate, str) or not plate:
            raise ControlError("field 'plate' must be a non-empty string")
        kind = body.get("kind", TruckKind.COMBINATION.value)
        if kind not in {k.value for k in TruckKind}:
            raise ControlError("field 'kind' must be 'rigid' or 'combination'")
        settled = body.get("settled", False)
        if not isinstance(settled, bool):
            raise ControlError("field 'settled' must be true or false")
        try:
            truck = Truck(
                plate=plate,
                axles=_int(body, "axles", low=2, high=99),
                kind=TruckKind(kind),
                tare_kg=_int(body, "tare_kg", low=1),
                load_kg=_int(body, "load_kg", 0),
            )
        except ConfigError as exc:
            raise ControlError(exc.message) from exc
        speed = _number(body, "speed_mps", limit=30.0)
        if speed is not None and not 0 < speed <= 30:
            raise ControlError("field 'speed_mps' must be in (0, 30]")
        stop = _number(body, "stop_m", limit=_MAX_POSITION_M)
        self._guard(
            lambda: self._sim.add_truck(truck, stop_m=stop, speed_mps=speed or 1.5, settled=settled)
        )

    def _inject(self, body: dict[str, Any]) -> None:
        _check_fields(body, {"kind", "count", "duration_ms", "bytes", "delay_ms", "kg"})
        try:
            kind = FaultKind(str(body.get("kind")))
        except ValueError as exc:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ControlError(f"field 'kind' must be one of: {kinds}") from exc
        amount = 0
        if kind is FaultKind.GARBAGE:
            amount = _int(body, "bytes", 16, low=1, high=_MAX_GARBAGE_BYTES)
        elif kind is FaultKind.SLOW:
            amount = _int(body, "delay_ms", low=1, high=_MAX_DELAY_MS)
        elif kind is FaultKind.STEP:
            step = body.get("kg")
            if isinstance(step, bool) or not isinstance(step, int) or abs(step) > MAX_KG:
                raise ControlError(
                    f"field 'kg' must be an integer within +/-{MAX_KG} (negative to step down)"
                )
            amount = step
        self._sim.inject(
            kind,
            count=_int(body, "count", 1, low=1, high=_MAX_COUNT),
            duration_ms=_optional_int(body, "duration_ms", low=1, high=_MAX_DURATION_MS),
            amount=amount,
        )


class Handler(Protocol):
    """What ``ControlServer`` serves: an indicator's ``Controller`` or a lane's."""

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """(status, JSON value) for one request; ControlError for a bad one."""
        ...


class ControlServer:
    """Serves a ``Handler`` over HTTP/1.1 on a local TCP port."""

    def __init__(
        self,
        *,
        controller: Handler,
        host: str,
        port: int,
        logger: logging.Logger | None = None,
    ) -> None:
        self._controller = controller
        self._host = host
        self._port = port
        self._log = logger or logging.getLogger(__name__)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """Base URL, with the port actually bound."""
        return f"http://{self._host}:{self._port}"

    async def open(self) -> None:
        """Start listening."""
        try:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)
        except OSError as exc:
            raise PortError(
                f"control interface cannot listen on {self._host}:{self._port}: {os_reason(exc)}",
                port=f"{self._host}:{self._port}",
            ) from exc
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT_S):
                status, payload = await self._request(reader)
        except ControlError as exc:
            status, payload = exc.status, {"error": exc.message}
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            status, payload = 400, {"error": "incomplete or malformed HTTP request"}
        body = json.dumps(payload, ensure_ascii=False).encode() + b"\n"
        reason = HTTPStatus(status).phrase
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        method, _, rest = request_line.partition(" ")
        target, _, version = rest.partition(" ")
        # curl sends non-ASCII plates (陕K12345) as raw UTF-8 in the path; %-escapes work too.
        target = target.encode("latin-1").decode("utf-8", "replace")
        if not method or not target.startswith("/") or not version.startswith("HTTP/1."):
            raise ControlError("malformed request line")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, sep, value = line.partition(":")
            if not sep:
                raise ControlError("malformed header line")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ControlError("too many header lines", status=431)
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise ControlError("bad Content-Length")
        length = int(length_text)
        if length > _MAX_BODY:
            raise ControlError("request body too large", status=413)
        raw = await reader.readexactly(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ControlError(f"body is not JSON: {exc}") from exc
        self._log.info("control %s %s", method, target)
        return self._controller.handle(method, target, body)
