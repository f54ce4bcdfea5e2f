"""``Lane``: one weighbridge lane's gate core. Pure: inputs and time in, ordered outputs out.

``Lane.step(input, now_ms=…)`` turns the input into events (``edge.gate.senses``), looks each
up in THE table (``edge.gate.table``) and runs the actions the row names — the ``_a_<name>``
methods below. The guards are in the senses, the moves in the table. Outputs follow the
contract of ``edge.gate.outputs``: every record is written before any later command of the
same list, and a release is evidence, weighing, then the barrier.

What survives a restart (the adapter rebuilds it from its journal and passes it back in):
``used_tickets``, ``tare_history`` and ``first_passes``; the bundle comes from its cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from edge.gate import alarms, prompts, rules
from edge.gate.config import LaneConfig
from edge.gate.decision import Decision, SessionFacts, decide
from edge.gate.evidence import MAX_BEAM_CHANGES, MAX_READS, build_evidence
from edge.gate.inputs import (
    AlarmAck,
    BeamsIn,
    BundleIn,
    CameraFaultIn,
    ChooseTicket,
    ClearIoFault,
    Input,
    IoFaultIn,
    JournalFault,
    ManualPlate,
    Override,
    PlateIn,
    ScaleFaultIn,
    Tick,
    WeightIn,
    ZeroRequest,
)
from edge.gate.memory import Memory, StrandedRelease
from edge.gate.outputs import Barrier, Output, SetLights, WriteRecord, ZeroScale
from edge.gate.rules import FirstPass, PlateSeen, TicketFacts, identify
from edge.gate.senses import Sensed, Senses
from edge.gate.stability import ZeroCheck
from edge.gate.table import TABLE, Move, State, find_row
from wire.bundles import Bundle
from wire.keys import KeySet

BEAM_NAMES: Final = ("entry", "front", "rear", "exit", "barrier_up")
_ZERO_RANGE_PERCENT = 4  # PROTOCOLS.md §6: zero-setting range within 4 % of Max
#: States in which an active fault moves the lane to ``fault`` at the end of the step
#: (a released truck on its way out is let go first).
_STOPPABLE: Final = frozenset({"idle", "arriving", "positioning", "settling", "held"})
_FAULT_CODES: Final = {
    "scale": "scale_fault",
    "silent": "scale_fault",
    "io": "io_fault",
    "journal": "journal_fault",
}


_NO_EVENT: Final = Sensed("")


@dataclass(slots=True)
class Session:
    """One truck's visit, from its approach until it has left."""

    started_ms: int
    zero_ok: bool
    plate_reads: list[PlateSeen]
    beams: dict[str, list[tuple[int, bool]]]
    manual_plate: tuple[str, str] | None = None  # (plate, operator)
    chosen_ticket: tuple[bytes, str] | None = None  # (cti or COSE bytes, operator)
    on_deck: bool = False
    overload: bool = False
    escaped: bool = False
    released: bool = False
    released_cti: bytes | None = None
    released_kg: int | None = None  # what the scale read for the release (a retry checks it)
    stranded: bool = False  # the journal says its barrier did not rise, and no retry since
    retry_due: bool = False  # an IO fault stranded its release: a retry may raise it again
    # Since the release the deck weighed (nearly) empty or the scale could not see it: the
    # truck on the deck may be another one, so a retry may not raise the barrier for it.
    lost_sight: bool = False
    decision: Decision | None = None


@dataclass(slots=True)
class _Step:
    """The current step's input and what its events carried, for the actions."""

    item: Input
    event: Sensed = _NO_EVENT
    read: PlateSeen | None = None
    decision: Decision | None = None
    posted: list[str] = field(default_factory=list)


class Lane:
    """One lane's state machine; feed it with ``step`` and execute what it returns, in order."""

    def __init__(
        self,
        config: LaneConfig,
        *,
        site: str,
        keys: KeySet,
        bundle: Bundle | None = None,
        used_tickets: Iterable[bytes] = (),
        tare_history: Mapping[str, int] | None = None,
        first_passes: Mapping[str, FirstPass] | None = None,
        stranded: StrandedRelease | None = None,
        now_ms: int | None = None,
    ) -> None:
        """``now_ms``: when the lane starts (the scale's silence is timed from it); None
        means at the first ``step``. A ``set`` of ``used_tickets`` is shared, not copied: the
        lanes of one site pass the same set, so a ticket used at one is used at all.
        ``stranded``: the journal's last release of this lane, if its barrier did not rise;
        its truck, still on the deck since the start, has its barrier raised again."""
        self.config = config
        self.site = site
        self._keys = keys
        self._bundle = bundle if bundle is not None and bundle.site == site else None
        self._memory = Memory.of(used_tickets, tare_history, first_passes)
        self._stranded_release = stranded
        start = 0 if now_ms is None else now_ms
        self._started = now_ms is not None
        self._senses = Senses(config, now_ms=start)
        self._zero = ZeroCheck(
            division_kg=config.division_kg,
            zero_band_e=config.zero_band_e,
            zero_drift_e=config.zero_drift_e,
        )
        self._state: State = "idle"
        self._session: Session | None = None
        self._pending_reads: list[PlateSeen] = []
        self._barrier_up = False
        self._barrier_down_ms = start
        self._deadline: tuple[str, int] | None = None
        self._released_last_step = False
        self._now = start
        self._out: list[Output] = []
        self._moves: list[Move] = []
        self._ctx = _Step(item=Tick())

    # --- public view -----------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def moves(self) -> tuple[Move, ...]:
        """The table rows the last ``step`` took, in order (for logs and the console)."""
        return tuple(self._moves)

    @property
    def barrier_up(self) -> bool:
        """Whether the barrier is commanded up."""
        return self._barrier_up

    @property
    def bundle(self) -> Bundle | None:
        return self._bundle

    @property
    def used_tickets(self) -> frozenset[bytes]:
        return frozenset(self._memory.used)

    @property
    def tare_history(self) -> Mapping[str, int]:
        return MappingProxyType(dict(self._memory.tare_history))

    @property
    def first_passes(self) -> Mapping[str, FirstPass]:
        return MappingProxyType(dict(self._memory.first_passes))

    @property
    def faults(self) -> Mapping[str, str]:
        """Active faults by source (``scale``, ``silent``, ``io``, ``journal``) → reason."""
        return MappingProxyType(dict(self._senses.faults))

    # --- stepping ------------------------------------------------------------------------------

    def step(self, item: Input, *, now_ms: int) -> list[Output]:
        """Feed one input at ``now_ms``; return the outputs to execute, in order."""
        if not self._started:
            self._started = True
            self._senses.last_weight_ms = self._senses.beams_changed_ms = now_ms
            self._barrier_down_ms = now_ms
        self._now = now_ms
        self._out = []
        self._moves = []
        self._ctx = _Step(item=item)
        released_before, self._released_last_step = self._released_last_step, False
        senses = self._senses
        # Silence first: a timeout falling due with it is decided knowing the scale is mute.
        self._fire_all(senses.silence(now_ms=now_ms))
        if self._deadline is not None and now_ms >= self._deadline[1]:
            event, self._deadline = self._deadline[0], None
            self._fire(Sensed(event))
        self._fire_all(self._sense(item, released_before=released_before))
        if self._session is not None and self._senses.overload_now:
            # the indicator's overload flag counts even on a reading that moved nothing: the
            # truck's decision (and any retry of its release) must know it was overloaded
            self._session.overload = True
        if self._session is not None:
            self._watch_release(self._session)
        if self._stranded_release is not None and senses.weighed_empty:
            # the journal's stranded release: its truck is gone. Say so, or the next restart
            # would find it stranded again (and resume it for a truck of that plate and weight)
            self._stranded_release = None
            detail = {"event": "empty"}
            self._out.append(
                alarms.event(self.config.lane, "release_left", detail, ref_release=True)
            )
        self._fire_all(
            senses.watch(
                now_ms=now_ms, barrier_up=self._barrier_up, barrier_down_ms=self._barrier_down_ms
            )
        )
        if senses.faults and self._state in _STOPPABLE:
            self._fire(Sensed("fault_pending"))
        return self._out

    def _sense(self, item: Input, *, released_before: bool) -> Iterator[Sensed]:
        senses, now = self._senses, self._now
        if isinstance(item, WeightIn):
            yield from senses.weight(item, now_ms=now)
        elif isinstance(item, BeamsIn):
            self._note_beams(item)
            yield from senses.beams_in(item, now_ms=now, barrier_up=self._barrier_up)
        elif isinstance(item, PlateIn):
            yield from self._plate(item)
        elif isinstance(item, ManualPlate | ChooseTicket):
            yield Sensed("operator_input")
        elif isinstance(item, Override):
            yield Sensed("override")
        elif isinstance(item, ZeroRequest):
            yield Sensed("zero_request")
        elif isinstance(item, AlarmAck):
            yield Sensed("alarm_ack")
        elif isinstance(item, BundleIn):
            yield Sensed("bundle")
        elif isinstance(item, ScaleFaultIn):
            yield from senses.fault("scale", active=item.active, reason=item.reason)
        elif isinstance(item, IoFaultIn):
            yield from senses.fault("io", active=item.active, reason=item.reason)
        elif isinstance(item, ClearIoFault):
            yield from senses.io_checked()
        elif isinstance(item, CameraFaultIn):
            reason = f"{item.camera}: {item.reason}"
            yield Sensed("camera_fault", fault=("camera_fault", reason, item.active))
        elif isinstance(item, JournalFault):
            yield from senses.journal(
                active=item.active, reason=item.reason, released_before=released_before
            )
        # Tick: only the timers.

    def _plate(self, item: PlateIn) -> Iterator[Sensed]:
        image = item.image_sha256 if item.image_sha256 and len(item.image_sha256) == 32 else None
        self._ctx.read = PlateSeen.read(
            item.plate[:32],
            conf=item.confidence,
            camera=item.camera,
            image_sha256=image,
            at_ms=self._now,
        )
        if item.camera == self.config.entry_camera:
            yield Sensed("plate_entry")
        elif item.camera == self.config.exit_camera:
            yield Sensed("plate_exit")

    def _note_beams(self, item: BeamsIn) -> None:
        """Keep the session's beam history for its evidence."""
        if self._session is None:
            return
        old = self._senses.beams
        for name in BEAM_NAMES:
            if getattr(old, name) != getattr(item, name):
                changes = self._session.beams[name]
                changes.append((self._now, getattr(item, name)))
                del changes[1:-MAX_BEAM_CHANGES]

    def _fire_all(self, events: Iterator[Sensed]) -> None:
        for event in events:  # one at a time: each is handled before the next is sensed
            self._fire(event)

    def _fire(self, first: Sensed) -> None:
        queue = [first]
        while queue:
            event = queue.pop(0)
            session = self._session
            if session is not None:
                session.on_deck = session.on_deck or self._senses.on_deck()
                session.overload = session.overload or self._senses.overload_now
                self._watch_release(session)
            key = find_row(self._state, event.name)
            if key is None:
                continue
            target, actions = TABLE[key]
            before = self._state
            if target is not None and target != self._state:
                self._state = target
                self._deadline = None
            self._moves.append(Move(row=key, before=before, after=self._state))
            self._ctx.event = event
            for action in actions:
                getattr(self, f"_a_{action}")()
            queue.extend(Sensed(name) for name in self._ctx.posted)
            self._ctx.posted.clear()

    # --- sessions --------------------------------------------------------------------------

    def _new_session(self) -> Session:
        window = self.config.plate_window_ms
        reads = [r for r in self._pending_reads if self._now - r.at_ms <= window]
        self._pending_reads = []
        beams = self._senses.beams
        return Session(
            started_ms=self._now,
            zero_ok=self._zero.truck_arrived(),
            plate_reads=reads,
            beams={name: [(self._now, getattr(beams, name))] for name in BEAM_NAMES},
            on_deck=self._senses.occupied(),
            overload=self._senses.overload_now,
        )

    def _watch_release(self, session: Session) -> None:
        """A released truck's deck weighed empty, or the scale went blind: from then on the
        truck on the deck cannot be known to be the released one (another may have driven on
        while the barrier stayed down), and ``_a_retry_release`` refuses."""
        senses = self._senses
        if session.released and (
            not senses.occupied() or "scale" in senses.faults or "silent" in senses.faults
        ):
            session.lost_sight = True

    def _a_start_session(self) -> None:
        if self._session is not None:
            return
        self._session = self._new_session()
        senses = self._senses
        senses.steps.reset()
        if senses.occupied() and senses.seen_empty and not senses.beam_watch.beams_seen:
            self._alarm("tamper_beams", {"signal": "weight_without_beams", "kg": senses.kg})

    def _a_end_session(self) -> None:
        session = self._session
        if session is not None and session.stranded:
            # a stranded release's truck left without a retry (backed off, or the barrier rose
            # after all): the journal says so, or a restart would find the release stranded
            detail = {"event": self._ctx.event.name}  # exit_cleared, or empty: the deck is
            self._out.append(
                alarms.event(self.config.lane, "release_left", detail, ref_release=True)
            )
        self._session = None
        self._senses.steps.reset()

    def _a_reassess(self) -> None:
        position = self._senses.current_position()
        self._senses.position = position
        self._ctx.posted.append(position)

    def _a_settle(self) -> None:
        self._senses.stability.reset()
        self._deadline = ("settle_timeout", self._now + self.config.settle_timeout_ms)

    def _a_position_timer(self) -> None:
        self._deadline = ("position_timeout", self._now + self.config.position_timeout_ms)

    # --- alarms ----------------------------------------------------------------------------

    def _alarm(self, kind: str, detail: Mapping[str, Any]) -> None:
        self._out.append(alarms.event(self.config.lane, kind, detail))

    def _a_escape(self) -> None:
        session = self._session
        if session is None or not session.on_deck or session.escaped or session.released:
            return
        session.escaped = True
        decision = session.decision
        plate = decision.plate if decision is not None else self._identified(session)
        self._alarm(
            "escape",
            {
                "via": "exit" if self._ctx.event.name == "exit_broken" else "entry",
                "plate": plate,  # unweighed: the entry camera's confident read, if any
                "weighed": decision is not None,
                "reasons": [] if decision is None else list(decision.reasons),
                "kg": self._senses.kg,
            },
        )

    def _identified(self, session: Session) -> str | None:
        """The plate of a session not decided yet, as a decision would take it (never a
        guess: None when the reads do not agree or are not confident)."""
        manual = None if session.manual_plate is None else session.manual_plate[0]
        entry = [r for r in session.plate_reads if r.camera == self.config.entry_camera]
        return identify(entry, manual=manual, min_conf=self.config.min_plate_conf).plate

    def _a_barrier_forced(self) -> None:
        if self._barrier_up:
            return
        signal = "exit_beam" if self._ctx.event.name == "exit_broken" else "limit_switch"
        self._alarm("barrier_forced", {"signal": signal})

    def _read_detail(self) -> dict[str, Any]:
        read = self._ctx.read
        if read is None:
            return {}
        return {"plate": read.plate or read.text, "conf": read.conf, "camera": read.camera}

    def _a_exit_without_session(self) -> None:
        self._alarm("exit_without_session", self._read_detail())

    def _a_exit_plate(self) -> None:
        """The exit camera while a truck leaves: a confident plate other than the released
        truck's alarms, and so does any confident plate of a truck that escaped."""
        read, session = self._ctx.read, self._session
        if read is None or read.plate is None or read.conf < self.config.min_plate_conf:
            return
        if session is not None and session.escaped and not session.released:
            # the truck leaving is one that escaped: the exit camera names it (gate.md)
            self._alarm("exit_without_session", self._read_detail())
            return
        released = None if session is None or not session.released else session.decision
        if released is not None and released.plate not in (None, read.plate):
            self._alarm("exit_without_session", self._read_detail())

    def _a_track_zero(self) -> None:
        kg = self._senses.stability.latest_kg
        if kg is not None and self._zero.empty_stable(kg):
            self._alarm("tamper_zero_drift", {"kg": kg, "reference_kg": self._zero.reference_kg})

    def _a_tamper_beams(self) -> None:
        self._alarm("tamper_beams", {"signal": "beams_without_weight"})

    def _a_tamper_step(self) -> None:
        self._alarm("tamper_step", {"jump_kg": self._ctx.event.jump_kg, "kg": self._senses.kg})

    def _a_calibration_changed(self) -> None:
        old, new = self._ctx.event.calibration
        self._alarm("calibration_changed", {"old": old, "new": new})

    def _a_record_fault(self) -> None:
        fault = self._ctx.event.fault
        if fault is None:
            return
        kind, reason, active = fault
        severity = alarms.KINDS[kind] if active else "info"
        detail: dict[str, Any] = {"reason": reason, "active": active}
        # An IO fault that strands a released truck behind a barrier that did not rise names
        # that release: the journal says so, for the retry after a restart (recovery.py).
        stranded = kind == "io_fault" and active and self._stranded()
        if stranded and self._session is not None:
            detail["barrier"] = "not_raised"
            self._session.stranded = self._session.retry_due = True
        self._out.append(
            alarms.event(self.config.lane, kind, detail, severity=severity, ref_release=stranded)
        )

    def _stranded(self) -> bool:
        """A released truck on the deck whose barrier the limit switch has not shown up."""
        session = self._session
        return (
            self._state == "releasing"
            and session is not None
            and session.released
            and self._senses.occupied()
            and not self._senses.beams.barrier_up
        )

    def _a_record_io_checked(self) -> None:
        item = self._ctx.item
        if not isinstance(item, ClearIoFault):
            return
        detail = {"active": False, "cleared_by": item.operator, "reason": item.reason}
        self._out += [
            alarms.event(self.config.lane, "io_fault", detail, severity="info"),
            prompts.IO_CHECKED,
        ]

    def _a_say_no_io_fault(self) -> None:
        self._out.append(prompts.NO_IO_FAULT)

    def _a_record_alarm_ack(self) -> None:
        item = self._ctx.item
        if not isinstance(item, AlarmAck):
            return
        ref = item.ref if item.ref is not None and len(item.ref) == 32 else None
        detail = {"operator": item.operator, "kind": item.kind}
        self._out.append(alarms.event(self.config.lane, "alarm_ack", detail, ref=ref))

    # --- plates, operators, bundle, zero ---------------------------------------------------

    def _a_collect_plate(self) -> None:
        read, session = self._ctx.read, self._session
        if read is None:
            return
        reads = self._pending_reads if session is None or session.released else session.plate_reads
        reads.append(read)
        del reads[:-MAX_READS]

    def _a_apply_operator_input(self) -> None:
        session, item = self._session, self._ctx.item
        if session is None or session.released:
            self._out.append(prompts.NO_TRUCK)
            return
        if isinstance(item, ManualPlate):
            session.manual_plate = (item.plate, item.operator)
        elif isinstance(item, ChooseTicket):
            session.chosen_ticket = (item.ticket, item.operator)

    def _a_say_nothing_held(self) -> None:
        self._out.append(prompts.NOTHING_HELD)

    def _a_load_bundle(self) -> None:
        item = self._ctx.item
        if not isinstance(item, BundleIn):
            return
        new = item.bundle
        if new.site == self.site and (self._bundle is None or new.version > self._bundle.version):
            self._bundle = new

    def _a_zero_scale(self) -> None:
        senses = self._senses
        kg = senses.stability.latest_kg
        in_range = kg is not None and abs(kg) * 100 <= _ZERO_RANGE_PERCENT * self.config.capacity_kg
        if in_range and senses.stable(self._now) and not senses.any_beam():
            self._out += [ZeroScale(), prompts.ZERO_DONE]
            self._zero.zero_set()
        else:
            self._out.append(prompts.ZERO_REFUSED)

    def _a_say_zero_refused(self) -> None:
        self._out.append(prompts.ZERO_REFUSED)

    # --- deciding --------------------------------------------------------------------------

    def _decide(self, extra: tuple[str, ...], *, operator: str | None = None) -> Decision:
        session = self._session
        if session is None:  # the table decides only with a session; be safe regardless
            session = self._session = self._new_session()
        manual, chosen = session.manual_plate, session.chosen_ticket
        who = operator or (chosen[1] if chosen else None) or (manual[1] if manual else None)
        senses = self._senses
        facts = SessionFacts(
            kg=self.config.capacity_kg if senses.kg is None else senses.kg,
            overload=session.overload or senses.overload_now,
            zero_ok=session.zero_ok,
            reads=[r for r in session.plate_reads if r.camera == self.config.entry_camera],
            manual_plate=None if manual is None else manual[0],
            chosen_ticket=None if chosen is None else chosen[0],
            operator=who,
        )
        tickets = TicketFacts(
            site=self.site,
            direction=self.config.direction,
            keys=self._keys,
            bundle=self._bundle,
            used=frozenset(self._memory.used),
            now_ms=self._now,
        )
        codes = tuple(_FAULT_CODES[source] for source in senses.faults)
        return decide(
            self.config,
            facts,
            tickets,
            history=self._memory.tare_history,
            first_passes=self._memory.first_passes,
            extra=(*codes, *extra),
        )

    def _post_decision(self, decision: Decision) -> None:
        self._ctx.decision = decision
        if not decision.release and self._own_release(decision):
            self._ctx.posted.append("stranded_release")
            return
        self._ctx.posted.append("release" if decision.release else "hold")

    def _own_release(self, decision: Decision) -> bool:
        """Whether this hold is only the ticket the stranded release (``Lane(stranded=…)``)
        used, for its truck: the same plate, standing on the deck since the lane started (the
        deck never weighed empty), weighing what that release weighed, not overloaded. The zero
        could not be checked for a truck already there; nothing else may be waived."""
        stranded, senses, session = self._stranded_release, self._senses, self._session
        if stranded is None or session is None or senses.weighed_empty:
            return False
        others = set(decision.reasons) - {"ticket_used", "zero_not_ok"}
        return (
            "ticket_used" in decision.reasons
            and not others
            and decision.plate == stranded.plate
            and (stranded.ticket is None or stranded.ticket in self._memory.used)
            and senses.kg is not None
            and abs(senses.kg - stranded.kg) <= self.config.tare_tolerance_kg
            and not (session.overload or senses.overload_now)
            and not senses.beams.barrier_up
        )

    def _a_decide(self) -> None:
        self._post_decision(self._decide(()))

    def _a_decide_unstable(self) -> None:
        self._post_decision(self._decide(("unstable",)))

    def _a_decide_not_positioned(self) -> None:
        self._post_decision(self._decide(("not_positioned",)))

    def _a_decide_override(self) -> None:
        """Decide afresh; release only if what stops the truck now may be waived by a person."""
        override = self._ctx.item
        if not isinstance(override, Override):
            return
        # What the sensors say now, not at the hold: a truck still partly on the deck (the
        # classic way to hide weight) or still moving can never be waived into a release.
        now: tuple[str, ...] = ()
        if self._senses.current_position() != "wholly_on":
            now += ("not_positioned",)
        if not self._senses.stable(self._now):
            now += ("unstable",)
        fresh = self._decide(now, operator=override.operator)
        waived = tuple(reason for reason in fresh.reasons if reason != "ok")
        if set(waived) <= rules.OVERRIDABLE:
            self._ctx.decision = dataclasses.replace(
                fresh, release=True, reasons=("manual_override", *waived)
            )
            self._ctx.posted.append("release_override")
        else:
            self._ctx.decision = fresh
            self._ctx.posted.append("override_refused")

    def _a_fault_hold(self) -> None:
        """A truck caught on the deck by a fault before its decision: record a hold that says
        why (not when the journal is what failed: nothing can be written then)."""
        session = self._session
        if session is None or not session.on_deck or "journal" in self._senses.faults:
            return
        self._ctx.decision = self._decide(())
        self._a_write_evidence()
        self._a_write_weighing()

    def _a_write_evidence(self) -> None:
        session, stability = self._session, self._senses.stability
        if session is None:
            return
        start = stability.window_start_ms
        body = build_evidence(
            self.config,
            window=stability.window() or ((0, self._senses.kg or 0),),
            window_start_ms=self._now if start is None else start,
            beams=session.beams,
            reads=session.plate_reads,
        )
        self._out.append(WriteRecord(type="evidence", body=body))

    def _a_write_weighing(self) -> None:
        decision, session = self._ctx.decision, self._session
        if decision is None or session is None:
            return
        session.decision = decision
        self._out.append(
            WriteRecord(type="weighing", body=decision.body(self.config), ref_previous=True)
        )

    def _a_record_override(self) -> None:
        override, decision = self._ctx.item, self._ctx.decision
        if not isinstance(override, Override) or decision is None:
            return
        accepted = decision.release
        detail = {
            "operator": override.operator,
            "reason": override.reason,
            "accepted": accepted,
            "reasons": list(decision.reasons),
        }
        self._out.append(alarms.event(self.config.lane, "override", detail, ref_previous=accepted))
        if not accepted:
            self._out.append(prompts.OVERRIDE_REFUSED)

    def _a_say_decision(self) -> None:
        if self._ctx.decision is not None:
            self._out.append(prompts.decision(self._ctx.decision.reasons))

    # --- barrier and lights ----------------------------------------------------------------

    def _a_go(self) -> None:
        decision, session = self._ctx.decision, self._session
        if decision is None or session is None:
            return
        self._memory.remember(decision, direction=self.config.direction, now_ms=self._now)
        self._stranded_release = None  # a new release of the lane: the journal's is not last
        session.released = True
        session.released_cti = None if decision.ticket is None else decision.ticket.cti
        session.released_kg = self._senses.kg
        self._released_last_step = True
        self._barrier_up = True
        self._out += [SetLights(red=False, green=True), Barrier(up=True)]

    def _a_retry_release(self) -> None:
        """The IO fault is over and the released truck still stands on the deck behind a
        barrier that did not rise: raise it again for the same release — no new decision, no
        second ticket use. The ``release_retry`` event names that release (``ref_release``)
        and authorises the barrier in the same list (``edge.runtime.executor.is_release``)."""
        session = self._session
        if not self._stranded() or session is None or session.decision is None:
            return
        if not session.retry_due:  # no IO fault stranded it: nothing to raise again
            return
        if session.overload or self._senses.overload_now:  # never, whatever was decided
            return
        # Only the released truck, as it was weighed: not after the deck weighed empty or the
        # scale was blind (a truck swapped), not with a load that grew behind the barrier.
        kg, released_kg = self._senses.kg, session.released_kg
        if session.lost_sight or kg is None or released_kg is None:
            return
        if abs(kg - released_kg) > self.config.tare_tolerance_kg:
            return
        decision = session.decision
        detail = {
            "accepted": True,
            "plate": decision.plate,
            "ticket": None if session.released_cti is None else session.released_cti.hex(),
            "reasons": list(decision.reasons),
            "kg": self._senses.kg,
        }
        self._out += [
            alarms.event(self.config.lane, "release_retry", detail, ref_release=True),
            SetLights(red=False, green=True),
            Barrier(up=True),
            prompts.decision(decision.reasons),
        ]
        self._barrier_up = True
        session.stranded = False

    def _a_resume_release(self) -> None:
        """The truck of the stranded release, re-weighed after a restart: its session takes
        that release (the ticket stays used once) and the barrier is raised again for it."""
        session, stranded, decision = self._session, self._stranded_release, self._ctx.decision
        if session is None or stranded is None or decision is None:
            return
        self._stranded_release = None  # one truck, one retry of its own release
        session.released = True
        session.released_cti = stranded.ticket
        session.released_kg = stranded.kg
        session.retry_due = True
        session.decision = dataclasses.replace(
            decision, release=True, reasons=stranded.reasons, ticket=None
        )
        self._a_retry_release()

    def _a_rollback_release(self) -> None:
        self._memory.forget_last()
        if self._session is not None:
            self._session.released = False

    def _a_red(self) -> None:
        self._out.append(SetLights(red=True, green=False))

    def _a_close(self) -> None:
        self._barrier_up = False
        self._barrier_down_ms = self._now
        self._out += [Barrier(up=False), SetLights(red=True, green=False)]

    def _a_stop(self) -> None:
        self._a_close()
        self._out.append(prompts.FAULT)


def action_names() -> frozenset[str]:
    """The actions the table may name: ``Lane``'s ``_a_<name>`` methods."""
    return frozenset(name.removeprefix("_a_") for name in vars(Lane) if name.startswith("_a_"))
