"""``AgentConsole``: the operator console's backend (``edge.console.backend.ConsoleBackend``)
over the running agent's lane runners, journal and uplink.

- ``lanes()``: each runner's ``LaneTracker`` view, read under the runner's ``view_lock`` (the
  step loop feeds the tracker on the event loop; the console may read from a worker thread);
- ``link()``: the journal's seqs and backlog, the uplink's connection and rejection, when
  central's ack last moved (``last_ack``) and the bundle the lanes hold;
- ``weighings()``: the journal's weighing records, decoded once and kept (the newest
  ``KEPT_WEIGHINGS``); records pruned from the journal before the agent started are not there;
- ``record(seq)``: the COSE bytes the journal holds; ``certificate()``: the enrollment's
  ``<device key>.cert`` (base64 COSE, ``edge.runtime.enroll``), read when asked;
- ``submit(lane, item)``: through ``LaneRunner.submit`` — the input is queued into the lane's
  step loop (never stepped from the request) and the answer is that step's outcome.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from edge.console.backend import (
    LaneView,
    LinkView,
    OperatorInput,
    Outcome,
    WeighingView,
    weighing_views,
)
from edge.errors import LocalError
from edge.journal.store import Journal
from edge.runtime.enroll import CERT_SUFFIX
from edge.runtime.lane_runner import LaneRunner
from edge.uplink.client import Uplink
from wire.bodies import WeighingBody
from wire.bundles import Bundle
from wire.errors import WireError
from wire.records import decode_record

#: Weighings kept decoded for ``weighings()`` (a shift's worth and more).
KEPT_WEIGHINGS: Final = 5_000
#: How long an operator's input may wait for its lane's step.
SUBMIT_S: Final = 10.0


def certificate_path(device_key: Path) -> Path:
    """Where ``coalgate edge enroll`` wrote the certificate of the key at ``device_key``."""
    return device_key.with_name(device_key.name + CERT_SUFFIX)


class AgentConsole:
    """See the module docstring; ``last_ack`` says when central's ack last moved (UTC ms)."""

    def __init__(
        self,
        *,
        site: str,
        device: str,
        runners: Mapping[str, LaneRunner],
        journal: Journal,
        uplink: Uplink,
        last_ack: Callable[[], int | None],
        certificate: Path,
        clock: Callable[[], int],
        logger: logging.Logger | None = None,
    ) -> None:
        self._site = site
        self._device = device
        self.runners = runners
        self.journal = journal
        self.uplink = uplink
        self.last_ack = last_ack
        self.certificate_path = certificate
        self.clock = clock
        self.log = logger or logging.getLogger(__name__)
        self._scan_lock = threading.Lock()
        self._scanned = 0
        self._weighings: deque[tuple[int, int, WeighingBody]] = deque(maxlen=KEPT_WEIGHINGS)

    # --- ConsoleBackend ------------------------------------------------------------------

    @property
    def site(self) -> str:
        return self._site

    @property
    def device(self) -> str:
        return self._device

    def lanes(self) -> list[LaneView]:
        views = []
        for runner in self.runners.values():
            with runner.view_lock:
                views.append(runner.tracker.view())
        return views

    def link(self) -> LinkView:
        journal, uplink = self.journal, self.uplink
        highest, acked = journal.highest_seq, journal.acked_seq
        bundle = self.bundle()
        return LinkView(
            now_ms=self.clock(), connected=uplink.connected, backlog=max(0, highest - acked),
            highest_seq=highest, acked_seq=acked, last_ack_ms=self.last_ack(),
            bundle_version=None if bundle is None else bundle.version, rejected=uplink.rejected,
        )  # fmt: skip

    def bundle(self) -> Bundle | None:
        bundles = [r.lane.bundle for r in self.runners.values() if r.lane.bundle is not None]
        return max(bundles, key=lambda b: b.version) if bundles else None

    def weighings(self, *, since_ms: int, limit: int) -> list[WeighingView]:
        with self._scan_lock:
            self._scan()
            entries = list(self._weighings)
        return weighing_views(entries, since_ms=since_ms, limit=limit)

    def record(self, seq: int) -> bytes | None:
        if seq < 1:
            return None
        for entry in self.journal.entries(from_seq=seq, to_seq=seq):
            return entry.data
        return None

    def certificate(self) -> bytes | None:
        try:
            text = self.certificate_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.log.warning("console: cannot read %s: %s", self.certificate_path, exc)
            return None
        try:
            return base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            self.log.warning("console: %s is not base64", self.certificate_path)
            return None

    async def submit(self, lane: str, item: OperatorInput) -> Outcome:
        runner = self.runners.get(lane)
        if runner is None:
            raise LocalError(f"no lane {lane!r}")
        try:
            async with asyncio.timeout(SUBMIT_S):
                return await runner.submit(item)
        except TimeoutError as exc:
            raise LocalError(f"lane {lane} did not take the input within {SUBMIT_S:g} s") from exc

    # --- helpers -------------------------------------------------------------------------

    def _scan(self) -> None:
        """Decode the weighings written since the last scan (caller holds ``_scan_lock``)."""
        for entry in self.journal.entries(from_seq=self._scanned + 1):
            self._scanned = entry.seq
            try:
                record = decode_record(entry.data)
            except WireError:
                continue
            if isinstance(record.body, WeighingBody):
                self._weighings.append((record.seq, record.ts, record.body))
