"""Runs a lane's output lists the way the adapter must: records signed with a real device key,
chained, read back; a failed write stops the list (the contract of ``edge.gate.outputs``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.gate.outputs import Output, WriteRecord, resolve_ref
from tests.wire import central_factories as cf
from wire.bodies import WeighingBody
from wire.records import ZERO_HASH, Record, decode_record, sign_record


@dataclass
class Executor:
    fail_next_write: bool = False
    records: list[Record] = field(default_factory=list)
    _prev: bytes = ZERO_HASH
    last_release: bytes | None = None

    def run(self, outputs: Sequence[Output], *, now_ms: int) -> tuple[list[Output], bool]:
        """(the outputs executed, whether a write failed and stopped the list)."""
        done: list[Output] = []
        previous: bytes | None = None
        for output in outputs:
            if isinstance(output, WriteRecord):
                if self.fail_next_write:
                    self.fail_next_write = False
                    return done, True
                record = sign_record(
                    cf.DEVICE_KEY,
                    site=cf.SITE,
                    device=cf.DEVICE,
                    seq=len(self.records) + 1,
                    prev=self._prev,
                    ts=now_ms,
                    body=(body := resolve_ref(output, previous, release_id=self.last_release)),
                )
                if decode_record(record.raw).raw != record.raw:
                    raise AssertionError("a record did not read back")
                self.records.append(record)
                self._prev = previous = record.id
                if isinstance(body, WeighingBody) and body.decision == "release":
                    self.last_release = record.id
            done.append(output)
        return done, False
