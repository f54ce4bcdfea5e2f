"""``GET /dashboard/api/live``: weighings and alarms as Server-Sent Events.

The stream polls the store by cursor (records by arrival, alarms by id) rather than listening
to ingest in-process, so it works the same when ingest runs in another process or on another
machine. Each event's ``id`` is the cursor after it: the browser's EventSource sends it back as
``Last-Event-ID`` when it reconnects, and the stream resumes there. A stream ends after
``max_s`` (the browser reconnects at once), which bounds how long a closed tab or a stopping
server waits on it.

Rows committed out of arrival order (several ingest workers; PostgreSQL hands out alarm ids
before commit) are caught by re-reading a short window behind each cursor and skipping what was
already sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from central.api.auth import Principal, allow, own_sites
from central.api.context import ApiContext, Context
from central.api.views import alarm_view
from central.dashboard.routes_data import latest_alarm_id
from central.store.model import RecordCursor, RecordQuery, StoredRecord
from wire.bodies import WeighingBody
from wire.errors import WireError
from wire.records import decode_record

BACKFILL = 20
"""Weighings and alarms sent first to a new stream (the latest ones)."""
BACKFILL_WINDOWS_MS = (10 * 60_000, 3_600_000, 24 * 3_600_000)
"""Arrival windows tried, smallest first, for the backfill weighings."""
LOOKBACK_MS = 5_000
ALARM_LOOKBACK = 50
PAGE = 200
SEEN = 5_000
HEARTBEAT_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveCursor:
    received_at: int
    record_id: bytes
    alarm_id: int

    def encode(self) -> str:
        return f"{self.received_at}-{self.record_id.hex()}.{self.alarm_id}"

    @classmethod
    def decode(cls, text: str) -> LiveCursor | None:
        head, _, alarm = text.strip().partition(".")
        received, _, record = head.partition("-")
        if not (received.isdigit() and alarm.isdigit() and len(received) <= 18):
            return None
        if len(alarm) > 18 or len(record) != 64:
            return None
        try:
            return cls(
                received_at=int(received), record_id=bytes.fromhex(record), alarm_id=int(alarm)
            )
        except ValueError:
            return None


class _Seen:
    """The last ``SEEN`` keys sent, to skip rows the lookback window reads again."""

    def __init__(self) -> None:
        self._keys: OrderedDict[object, None] = OrderedDict()

    def add(self, key: object) -> bool:
        """True when ``key`` is new (and remember it)."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > SEEN:
            self._keys.popitem(last=False)
        return True


def weighing_event(record: StoredRecord) -> dict[str, Any] | None:
    try:
        body = decode_record(record.raw).body
    except WireError:
        return None
    if not isinstance(body, WeighingBody):
        return None
    return {
        "id": record.record_id.hex(),
        "site": record.site,
        "device": record.device,
        "seq": record.seq,
        "ts": record.ts,
        "received_at": record.received_at,
        "lane": body.lane,
        "direction": body.direction,
        "plate": body.plate,
        "decision": body.decision,
        "reasons": list(body.reasons),
        "gross_kg": body.gross_kg,
        "net_kg": body.net_kg,
        "ticket": None if body.ticket is None else body.ticket.hex(),
    }


class LiveFeed:
    """One stream's cursor and the store reads that advance it (sync: run in the pool)."""

    def __init__(
        self, context: ApiContext, principal: Principal, cursor: LiveCursor | None
    ) -> None:
        self._context = context
        self._sites = own_sites(context, principal)
        self._records = principal.role in ("regulator", "enterprise")
        self._alarms = principal.role in ("regulator", "admin")
        self._seen = _Seen()
        self.cursor = cursor
        self._primed = cursor is None
        """A resumed stream first marks what lies behind its cursor as sent (the browser had
        it): the lookback must not send it twice."""

    def _find(self, after: RecordCursor, limit: int) -> list[StoredRecord]:
        query = RecordQuery(sites=self._sites, type="weighing", after=after, limit=limit)
        return self._context.store.find_records(query)

    def _start(self) -> tuple[list[StoredRecord], list[Any], LiveCursor]:
        """The latest weighings and alarms, and the cursor after them."""
        now = self._context.clock()
        records: list[StoredRecord] = []
        if self._records:
            for window in BACKFILL_WINDOWS_MS:
                after = RecordCursor(received_at=now - window, record_id=bytes(32))
                records = []
                while batch := self._find(after, 1000):
                    records = (records + batch)[-BACKFILL:]
                    after = RecordCursor(
                        received_at=batch[-1].received_at, record_id=batch[-1].record_id
                    )
                if len(records) >= BACKFILL:
                    break
        last_alarm = latest_alarm_id(self._context) if self._alarms else 0
        alarms = self._alarm_rows(max(0, last_alarm - BACKFILL)) if self._alarms else []
        # The cursor *before* the backfill: each event's id then resumes right after it.
        first = records[0] if records else None
        cursor = LiveCursor(
            received_at=now if first is None else first.received_at,
            record_id=bytes(32),
            alarm_id=alarms[0]["id"] - 1 if alarms else last_alarm,
        )
        return records, alarms, cursor

    def _alarm_rows(self, after_id: int) -> list[Any]:
        store = self._context.store
        alarms = store.alarms(after_id=after_id, limit=PAGE)
        acks = store.alarm_acks([a.id for a in alarms if a.id is not None])
        return [alarm_view(a, acks.get(a.id or 0)) for a in alarms]

    def _prime(self, cursor: LiveCursor) -> None:
        if self._records:
            late = RecordCursor(received_at=cursor.received_at - LOOKBACK_MS, record_id=bytes(32))
            for record in self._find(late, PAGE):
                if (record.received_at, record.record_id) <= (cursor.received_at, cursor.record_id):
                    self._seen.add(record.record_id)
        if self._alarms:
            for alarm in self._context.store.alarms(
                after_id=max(0, cursor.alarm_id - ALARM_LOOKBACK), limit=ALARM_LOOKBACK
            ):
                self._seen.add(("alarm", alarm.id))
        self._primed = True

    def poll(self) -> list[str]:
        """The SSE chunks of what arrived since the cursor (and the cursor advanced)."""
        if self.cursor is None:
            records, alarms, self.cursor = self._start()
        else:
            cursor = self.cursor
            if not self._primed:
                self._prime(cursor)
            records = []
            if self._records:
                late = RecordCursor(
                    received_at=cursor.received_at - LOOKBACK_MS, record_id=bytes(32)
                )
                records = [
                    r
                    for r in self._find(late, PAGE)
                    if (r.received_at, r.record_id) <= (cursor.received_at, cursor.record_id)
                ]
                records += self._find(
                    RecordCursor(received_at=cursor.received_at, record_id=cursor.record_id),
                    PAGE,
                )
            alarms = (
                self._alarm_rows(max(0, cursor.alarm_id - ALARM_LOOKBACK)) if self._alarms else []
            )
        chunks: list[str] = []
        cursor = self.cursor
        for record in records:
            if not self._seen.add(record.record_id):
                continue
            if (record.received_at, record.record_id) > (cursor.received_at, cursor.record_id):
                cursor = LiveCursor(
                    received_at=record.received_at,
                    record_id=record.record_id,
                    alarm_id=cursor.alarm_id,
                )
            event = weighing_event(record)
            if event is not None:
                chunks.append(_chunk("weighing", event, cursor))
        for alarm in alarms:
            if not self._seen.add(("alarm", alarm["id"])):
                continue
            if alarm["id"] > cursor.alarm_id:
                cursor = LiveCursor(
                    received_at=cursor.received_at,
                    record_id=cursor.record_id,
                    alarm_id=alarm["id"],
                )
            chunks.append(_chunk("alarm", alarm, cursor))
        self.cursor = cursor
        return chunks


def _chunk(kind: str, data: dict[str, Any], cursor: LiveCursor) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {cursor.encode()}\nevent: {kind}\ndata: {text}\n\n"


def live_router(*, poll_s: float = 0.5, max_s: float = 15.0) -> APIRouter:
    """The SSE route: polls every ``poll_s``; each stream lasts at most ``max_s``."""
    router = APIRouter(prefix="/dashboard/api", include_in_schema=False)

    @router.get("/live")
    async def live(
        context: Context,
        principal: Annotated[Principal, allow("regulator", "admin", "enterprise")],
        after: Annotated[str | None, Query(max_length=120)] = None,
        last_event_id: Annotated[str | None, Header(max_length=120)] = None,
    ) -> StreamingResponse:
        """Weighings (regulator: all; enterprise: its sites') and alarms (regulator, admin)."""
        given = last_event_id or after
        feed = LiveFeed(context, principal, None if given is None else LiveCursor.decode(given))

        async def events() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            deadline = time.monotonic() + max_s
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                chunks = await run_in_threadpool(feed.poll)
                for chunk in chunks:
                    yield chunk
                if chunks:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > HEARTBEAT_S:
                    yield ": still here\n\n"
                    quiet_since = time.monotonic()
                await asyncio.sleep(poll_s)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
