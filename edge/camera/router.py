"""``POST /camera``: the HTTP adapter in front of ``parse_push`` (PROTOCOLS.md §5).

A FastAPI ``APIRouter`` that the edge's local server mounts. It reads the body itself, capped,
instead of letting FastAPI validate it, so that every bad push is answered 400 with one line
``{"error": reason, "detail": sentence}`` and nothing reaches the sink; a good push is
stamped with the arrival time, handed to the sink and answered 204. A full queue is answered
503 ``busy`` (the read is not taken, so the camera may retry).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request, Response

from edge.camera.reads import MAX_BODY_BYTES, CameraPush, CameraSpot, PlateRead, parse_push
from edge.errors import CameraPushError

PlateSink = Callable[[PlateRead], None] | asyncio.Queue[PlateRead]


def wall_clock_ms() -> int:
    """UTC milliseconds now: the arrival stamp of a read."""
    return time.time_ns() // 1_000_000


def camera_router(
    *,
    cameras: Mapping[str, CameraSpot],
    sink: PlateSink,
    clock_ms: Callable[[], int] = wall_clock_ms,
    max_body_bytes: int = MAX_BODY_BYTES,
    logger: logging.Logger | None = None,
) -> APIRouter:
    """A router with ``POST /camera`` for the cameras in ``cameras`` (name → lane and side;
    ``edge.camera.reads.default_cameras(lanes)`` gives the usual names). Accepted reads go to
    ``sink``: a callable (called on the event loop; it must not block) or an ``asyncio.Queue``
    (``put_nowait``)."""
    log = logger if logger is not None else logging.getLogger(__name__)
    known = dict(cameras)
    router = APIRouter()

    @router.post(
        "/camera",
        status_code=204,
        response_class=Response,
        summary="A plate camera's read (PROTOCOLS.md §5)",
        responses={
            400: {"description": '`{"error": reason, "detail": sentence}`'},
            503: {"description": "the edge is not taking reads right now"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CameraPush.model_json_schema()}},
            }
        },
    )
    async def camera(request: Request) -> Response:
        try:
            body = await _body(request, max_body_bytes)
            read = parse_push(body, cameras=known, received_ms=clock_ms(), max_bytes=max_body_bytes)
        except CameraPushError as exc:
            log.warning("camera push refused (%s): %s", exc.reason, exc.message)
            return _answer(400, exc.reason, exc.message)
        if isinstance(sink, asyncio.Queue):
            try:
                sink.put_nowait(read)
            except asyncio.QueueFull:
                log.warning("camera read of %s dropped: the queue is full", read.camera)
                return _answer(503, "busy", "the edge is not taking reads right now")
        else:
            sink(read)
        log.debug("camera %s read %s (%d%%)", read.camera, read.plate, read.confidence)
        return Response(status_code=204)

    return router


async def _body(request: Request, limit: int) -> bytes:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        shown = media or "none"
        raise CameraPushError(
            f"content type must be application/json, not {shown!r}", reason="content_type"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise CameraPushError(f"body of {int(declared)} bytes exceeds {limit}", reason="too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # chunked bodies declare no length: count them
        size += len(chunk)
        if size > limit:
            raise CameraPushError(f"body exceeds {limit} bytes", reason="too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, reason: str, detail: str) -> Response:
    # One line of JSON. A lone surrogate (JSON may carry "\ud800") cannot be encoded as UTF-8;
    # outside JSON's escapes it never appears, so backslash-escaping it keeps the JSON valid.
    text = json.dumps({"error": reason, "detail": detail}, ensure_ascii=False)
    return Response(
        content=text.encode("utf-8", "backslashreplace"),
        status_code=status,
        media_type="application/json",
    )
