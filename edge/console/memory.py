"""``MemoryBackend``: the console's backend over real ``Lane`` s, with records kept in memory.

It does what the runtime does with a lane's outputs, without devices or disk: each
``WriteRecord`` is really signed and chained (``wire.records.sign_record``) with the device key,
so receipts made of its weighings verify offline; ``SetLights`` and ``Barrier`` take effect at
once (the IO module confirms at once); what the console shows is kept by a ``LaneTracker`` per
lane. Tests and demos feed the lanes' device inputs with ``feed`` and set the uplink's view
with ``set_link``; the console's operator inputs arrive through ``submit``. Thread-safe: one
lock around everything (a test thread feeds while the server's thread serves).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from edge.console.backend import (
    LaneView,
    LinkView,
    OperatorInput,
    Outcome,
    SayLine,
    WeighingView,
    weighing_views,
)
from edge.console.tracker import LaneTracker
from edge.errors import LocalError
from edge.gate.inputs import ClearIoFault, Input
from edge.gate.lane import Lane
from edge.gate.outputs import RecordBody, Say, WriteRecord, resolve_ref
from wire.bodies import WeighingBody
from wire.bundles import Bundle
from wire.keys import SigningKey
from wire.records import ZERO_HASH, Record, sign_record


class MemoryBackend:
    """A ``ConsoleBackend`` over ``lanes``; records signed with ``key`` (kid = device id)."""

    def __init__(
        self,
        *,
        lanes: Sequence[Lane],
        key: SigningKey,
        certificate: bytes | None,
        clock: Callable[[], int],
    ) -> None:
        if not lanes:
            raise LocalError("a backend needs at least one lane")
        self._site = lanes[0].site
        self._key = key
        self._certificate = certificate
        self.clock = clock
        self._lanes = {lane.config.lane: LaneTracker(lane) for lane in lanes}
        self._records: list[Record] = []
        self._last_release: dict[str, bytes | None] = {}
        self._link = LinkView(
            now_ms=0, connected=False, backlog=0, highest_seq=0, acked_seq=0, last_ack_ms=None,
            bundle_version=None,
        )  # fmt: skip
        self._lock = threading.Lock()

    # --- ConsoleBackend ------------------------------------------------------------------

    @property
    def site(self) -> str:
        return self._site

    @property
    def device(self) -> str:
        return self._key.kid

    def lanes(self) -> list[LaneView]:
        with self._lock:
            return [tracker.view() for tracker in self._lanes.values()]

    def link(self) -> LinkView:
        with self._lock:
            highest = len(self._records)
            acked = min(self._link.acked_seq, highest)
            bundle = self._bundle()
            return LinkView(
                now_ms=self.clock(), connected=self._link.connected, backlog=highest - acked,
                highest_seq=highest, acked_seq=acked, last_ack_ms=self._link.last_ack_ms,
                bundle_version=None if bundle is None else bundle.version,
                rejected=self._link.rejected,
            )  # fmt: skip

    def bundle(self) -> Bundle | None:
        with self._lock:
            return self._bundle()

    def weighings(self, *, since_ms: int, limit: int) -> list[WeighingView]:
        with self._lock:
            entries = [
                (r.seq, r.ts, r.body) for r in self._records if isinstance(r.body, WeighingBody)
            ]
        return weighing_views(entries, since_ms=since_ms, limit=limit)

    def record(self, seq: int) -> bytes | None:
        with self._lock:
            return self._records[seq - 1].raw if 0 < seq <= len(self._records) else None

    def certificate(self) -> bytes | None:
        return self._certificate

    async def submit(self, lane: str, item: OperatorInput) -> Outcome:
        with self._lock:
            tracker = self._lanes[lane]
            if isinstance(item, ClearIoFault) and "io" not in tracker.lane.faults:
                # the runtime refuses the same (it knows the fault's source; here any IO fault)
                return Outcome(
                    state=tracker.lane.state, said=(), refused="no IO command fault to clear"
                )
            said = self._step(tracker, item, self.clock())
            return Outcome(state=tracker.lane.state, said=said)

    # --- for tests and demos -------------------------------------------------------------

    def feed(self, lane: str, item: Input, *, now_ms: int | None = None) -> tuple[SayLine, ...]:
        """Step ``lane`` with a device input (at the clock's time unless ``now_ms``); return
        what it said."""
        with self._lock:
            return self._step(self._lanes[lane], item, self.clock() if now_ms is None else now_ms)

    def set_link(
        self,
        *,
        connected: bool,
        acked_seq: int | None = None,
        last_ack_ms: int | None = None,
        rejected: str | None = None,
    ) -> None:
        """The uplink as the console should see it."""
        with self._lock:
            link = self._link
            self._link = LinkView(
                now_ms=0, connected=connected, backlog=0, highest_seq=0,
                acked_seq=link.acked_seq if acked_seq is None else acked_seq,
                last_ack_ms=link.last_ack_ms if last_ack_ms is None else last_ack_ms,
                bundle_version=None, rejected=rejected,
            )  # fmt: skip

    def records(self) -> tuple[Record, ...]:
        """Every record signed so far, in seq order."""
        with self._lock:
            return tuple(self._records)

    def lane(self, lane: str) -> Lane:
        return self._lanes[lane].lane

    def zeroed(self, lane: str) -> int:
        """How many ``ZeroScale`` commands the lane gave."""
        with self._lock:
            return self._lanes[lane].zeroed

    # --- inside the lock -----------------------------------------------------------------

    def _bundle(self) -> Bundle | None:
        bundles = [t.lane.bundle for t in self._lanes.values() if t.lane.bundle is not None]
        return max(bundles, key=lambda b: b.version) if bundles else None

    def _step(self, tracker: LaneTracker, item: Input, now_ms: int) -> tuple[SayLine, ...]:
        """Step the lane and do with its outputs what the executor contract asks."""
        tracker.input(item, now_ms=now_ms)
        before = tracker.lane.state
        outputs = tracker.lane.step(item, now_ms=now_ms)
        said: list[SayLine] = []
        previous: bytes | None = None
        for output in outputs:
            if isinstance(output, WriteRecord):
                lane = tracker.lane.config.lane
                body = resolve_ref(output, previous, release_id=self._last_release.get(lane))
                record = self._sign(body, now_ms)
                if isinstance(body, WeighingBody) and body.decision == "release":
                    self._last_release[lane] = record.id
                tracker.written(body, seq=record.seq, record_id=record.id, now_ms=now_ms)
                previous = record.id
                continue
            tracker.command(output, now_ms=now_ms)
            if isinstance(output, Say):
                said.append(tracker.said[-1])
        tracker.stepped(before=before)
        return tuple(said)

    def _sign(self, body: RecordBody, now_ms: int) -> Record:
        prev = self._records[-1].id if self._records else ZERO_HASH
        record = sign_record(
            self._key, site=self._site, device=self._key.kid, seq=len(self._records) + 1,
            prev=prev, ts=now_ms, body=body,
        )  # fmt: skip
        self._records.append(record)
        return record
