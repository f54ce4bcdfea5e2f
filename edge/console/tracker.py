"""``LaneTracker``: what the console shows of one lane beyond the core's own state.

The core (``edge.gate.lane.Lane``) knows its state, barrier command and faults; the console
also wants the last reading, the plate in use, the ticket, the lights, the latest decisions,
the alarms not yet acknowledged (with their record ids, which ``AlarmAck`` names) and what the
lane said. Whoever runs the lane feeds the tracker what passes by — each input before the step
(``input``), each command after it (``command``), each record once it is durably written
(``written``), then ``stepped`` — and ``view()`` is the lane's ``LaneView``. Not thread-safe:
feed it from the one place that steps the lane. ``MemoryBackend`` uses it; so can the runtime.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from edge.console.backend import AlarmView, LaneView, PlateView, SayLine, WeighingView, why_held
from edge.gate.inputs import ChooseTicket, Input, ManualPlate, PlateIn, WeightIn
from edge.gate.lane import Lane
from edge.gate.outputs import Barrier, RecordBody, Say, SetLights, ZeroScale
from wire.bodies import EventBody, WeighingBody
from wire.errors import WireError
from wire.tickets import decode_ticket

#: Decisions and display lines kept.
RECENT: Final = 20
#: Open alarms kept (the oldest go first past it).
OPEN_ALARMS: Final = 100
CTI_BYTES: Final = 16


class LaneTracker:
    """See the module docstring."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.weight_kg: int | None = None
        self.stable: bool | None = None
        self.plate: PlateView | None = None
        self.ticket: bytes | None = None
        self.red: bool | None = None
        self.green: bool | None = None
        self.barrier_seen_up: bool | None = None
        self.zeroed = 0
        self.decisions: deque[WeighingView] = deque(maxlen=RECENT)
        self.alarms: list[AlarmView] = []
        self.said: deque[SayLine] = deque(maxlen=RECENT)
        #: Faults the runtime watches beside the core's (``camera``: the cameras not reading);
        #: shown with the core's, they do not hold the barrier by themselves.
        self.side_faults: dict[str, str] = {}

    def input(self, item: Input, *, now_ms: int) -> None:
        """An input about to be stepped."""
        if isinstance(item, WeightIn):
            self.weight_kg, self.stable = item.kg, item.stable
        elif isinstance(item, PlateIn) and item.camera == self.lane.config.entry_camera:
            self.plate = PlateView(
                plate=item.plate, confidence=item.confidence, source="camera",
                camera=item.camera, at_ms=now_ms,
            )  # fmt: skip
        elif isinstance(item, ManualPlate):
            self.plate = PlateView(
                plate=item.plate, confidence=100, source="manual", camera=None, at_ms=now_ms
            )
        elif isinstance(item, ChooseTicket):
            self.ticket = _cti(item.ticket)

    def command(self, command: SetLights | Barrier | Say | ZeroScale, *, now_ms: int) -> None:
        """A command of the step's outputs, as run (a device confirmed it: the runtime may
        instead set ``red``/``green``/``barrier_seen_up`` from the IO module's own reports)."""
        if isinstance(command, SetLights):
            self.red, self.green = command.red, command.green
        elif isinstance(command, Barrier):
            self.barrier_seen_up = command.up
        elif isinstance(command, Say):
            line = SayLine(at_ms=now_ms, text_zh=command.text_zh, text_en=command.text_en)
            self.said.append(line)
        else:
            self.zeroed += 1

    def written(self, body: RecordBody, *, seq: int, record_id: bytes, now_ms: int) -> None:
        """A record the lane asked for, durably written as ``seq`` with id ``record_id``."""
        if isinstance(body, WeighingBody):
            self.decisions.appendleft(WeighingView.of(body, seq=seq, at_ms=now_ms))
            if body.ticket is not None:
                self.ticket = body.ticket
        elif isinstance(body, EventBody) and body.kind == "alarm_ack":
            kind = body.detail.get("kind")
            acked = [a for a in self.alarms if a.record_id == body.ref]
            if body.ref is None:  # no record named: the oldest of the kind
                acked = [a for a in self.alarms if a.kind == kind][:1]
            self.alarms = [a for a in self.alarms if a not in acked]
        elif isinstance(body, EventBody) and body.severity in ("alarm", "warning"):
            alarm = AlarmView(
                seq=seq, at_ms=now_ms, record_id=record_id, kind=body.kind,
                severity=body.severity, detail={str(k): v for k, v in body.detail.items()},
            )  # fmt: skip
            self.alarms = [*self.alarms, alarm][-OPEN_ALARMS:]

    def stepped(self, *, before: str) -> None:
        """The step is done (``before``: the lane's state before it)."""
        if self.lane.state == "idle" and before != "idle":  # the truck has gone
            self.plate = self.ticket = None

    def view(self) -> LaneView:
        lane = self.lane
        last = self.decisions[0] if self.decisions else None
        return LaneView(
            lane=lane.config.lane, direction=lane.config.direction, state=lane.state,
            weight_kg=self.weight_kg, stable=self.stable, plate=self.plate, ticket=self.ticket,
            red=self.red, green=self.green, barrier_up=lane.barrier_up,
            barrier_seen_up=self.barrier_seen_up, faults={**lane.faults, **self.side_faults},
            held_because=why_held(
                state=lane.state, faults=lane.faults, last=last, bundle=lane.bundle is not None
            ),
            decisions=tuple(self.decisions), alarms=tuple(reversed(self.alarms)),
            said=tuple(reversed(self.said)),
        )  # fmt: skip


def _cti(ticket: bytes) -> bytes | None:
    """A chosen ticket's id: the bytes themselves, or the ``cti`` of scanned COSE bytes."""
    if len(ticket) == CTI_BYTES:
        return ticket
    try:
        return decode_ticket(ticket).cti
    except (WireError, ValueError):
        return None
