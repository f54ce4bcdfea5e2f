"""The lane's invariants over random input sequences (hypothesis ``RuleBasedStateMachine``).

Every output list is run by a real executor (records signed and chained with a device key;
writes may fail on demand, stopping the list as the contract says). After every step:

- the barrier goes up only after, in the same list, an evidence record and then a weighing
  with decision ``release`` linked to it — and never for an overloaded truck, or one whose
  ticket is unknown to the lane's bundle, revoked, expired, or used before; or, again for a
  truck already released and still on the deck, after a ``release_retry`` event naming that
  release (``ref_release``: the executor's last release), which uses no ticket again;
- a truck that was on the deck and leaves (weight gone, or the exit beam broken) without a
  release that took effect yields an ``escape`` alarm in that same step ("at once");
- the core never raises.
"""

from __future__ import annotations

import dataclasses

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from edge.gate import rules
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
from edge.gate.outputs import Barrier, Output, WriteRecord
from tests.edge.gate import builders as b
from tests.edge.gate.executor import Executor
from tests.wire import central_factories as cf
from wire.bodies import EventBody, EvidenceBody, WeighingBody

CONFIG = b.config(position_timeout_ms=5000, settle_timeout_ms=4000)
OCCUPIED = CONFIG.occupied_kg

SECOND = b.ticket(cti=b"\x02" * 16, no="YL2", iat=cf.TICKET_IAT + 60)
EXPIRED = b.ticket(
    cti=b"\x03" * 16, no="YL3", iat=cf.TICKET_IAT - 72 * 3600, exp=cf.TICKET_IAT - 3600
)
ROGUE = b.ticket(cf.ROGUE_CENTRAL, cti=b"\x04" * 16, no="YL4")
OTHER = b.ticket(cti=b"\x05" * 16, no="YL5", plate=b.OTHER_PLATE, max_net_kg=5000)
WRONG_SITE = b.ticket(cti=b"\x06" * 16, no="YL6", seller_site=cf.OTHER_SITE, dest_site=b.SITE)

BUNDLES = [
    b.bundle([b.issued(b.OUT_TICKET), b.issued(OTHER)], version=2),
    b.bundle([b.issued(SECOND), b.issued(EXPIRED)], version=3, revoked=[b.OUT_TICKET.cti]),
    b.bundle([b.loaded(b.OUT_TICKET, at_ms=b.T0), b.issued(ROGUE)], version=4),
    b.bundle([b.issued(WRONG_SITE), b.issued(b.OUT_TICKET)], version=5),
    b.bundle([], version=9, site=cf.OTHER_SITE),  # another site's: ignored
]
TICKET_CHOICES = [
    b.OUT_TICKET.cti,
    SECOND.cti,
    EXPIRED.raw,
    ROGUE.raw,
    OTHER.raw,
    WRONG_SITE.raw,
    b"\xaa" * 16,
    b"not a ticket",
]
WEIGHTS = st.sampled_from(
    [0, 20, 100, 480, 600, 15_020, 20_000, 33_000, 48_980, 49_000, 49_020, 60_000]
)
PLATES = st.sampled_from([b.PLATE, b.OTHER_PLATE, "陕KI2345", "", "京A00000"])
CAMERAS = st.sampled_from(["lane-1-entry", "lane-1-exit", "lane-2-entry"])
DT = st.integers(min_value=0, max_value=1500)


HOUR_MS = 3600 * 1000
IN_CONFIG = b.config(direction="in", passes="two", position_timeout_ms=5000, settle_timeout_ms=4000)
IN_BUNDLES = [
    b.bundle(
        [b.loaded(b.OUT_TICKET, at_ms=b.T0 - 5 * HOUR_MS), b.loaded(OTHER, at_ms=b.T0)],
        site=b.DEST,
        version=2,
    ),
    b.bundle(
        [b.issued(SECOND), b.loaded(EXPIRED, at_ms=b.T0 - 40 * HOUR_MS)], site=b.DEST, version=3
    ),
    b.bundle([b.loaded(ROGUE, at_ms=b.T0)], site=b.DEST, version=4, revoked=[b.OUT_TICKET.cti]),
    b.bundle([b.loaded(b.OUT_TICKET, at_ms=b.T0 - HOUR_MS)], site=b.DEST, version=5),
    b.bundle([], version=9),  # another site's: ignored
]


class LaneMachine(RuleBasedStateMachine):
    """An outbound single-pass lane at a mine."""

    lane_config = CONFIG
    lane_site = b.SITE
    lane_bundles = BUNDLES

    def __init__(self) -> None:
        super().__init__()
        self.lane = b.lane(self.lane_config, site=self.lane_site, bundle=self.lane_bundles[0])
        self.now = b.T0
        self.executor = Executor()
        self.beams = BeamsIn(entry=False, front=False, rear=False, exit=False, barrier_up=False)
        self.last_beams = self.beams
        self.truck_on = False
        self.alarmed = False
        self.released = False
        self.overload_seen = False
        self.used: set[bytes] = set()
        self.checked_escape = True

    # --- feeding --------------------------------------------------------------------------

    def feed(self, item: Input, dt: int = 0) -> list[Output]:
        self.now += dt
        before = self.lane.state
        outputs = self.lane.step(item, now_ms=self.now)
        done, failed = self.executor.run(outputs, now_ms=self.now)
        self.check_list(outputs, done)
        self.track_truck(item, before, outputs, done)
        if failed:
            more = self.lane.step(JournalFault(active=True, reason="disk"), now_ms=self.now)
            self.check_list(more, more)
            self.executor.run(more, now_ms=self.now)
            assert not self.lane.barrier_up or self.released
        return done

    def check_list(self, outputs: list[Output], done: list[Output]) -> None:
        """Check every barrier-up of ``outputs``; ``done`` is the part that was executed."""
        for index, output in enumerate(outputs):
            if not (isinstance(output, Barrier) and output.up):
                continue
            writes = [o for o in outputs[:index] if isinstance(o, WriteRecord)]
            if writes and getattr(writes[-1].body, "kind", None) == "release_retry":
                self.check_retry(writes)
                continue
            released = [
                i
                for i, w in enumerate(writes)
                if isinstance(w.body, WeighingBody) and w.body.decision == "release"
            ]
            assert released, "barrier up without a release weighing before it"
            at = released[-1]
            weighing = writes[at].body
            assert isinstance(weighing, WeighingBody)
            assert writes[at].ref_previous
            assert at > 0
            assert isinstance(writes[at - 1].body, EvidenceBody)
            self.check_release(weighing, executed=index < len(done))

    def check_retry(self, writes: list[WriteRecord]) -> None:
        """The barrier raised again for the truck on the deck, whose own release took effect."""
        retry = writes[-1]
        assert isinstance(retry.body, EventBody)
        assert retry.ref_release
        assert retry.body.detail["accepted"] is True
        assert not [w for w in writes if isinstance(w.body, WeighingBody)], "a retry decides"
        assert self.truck_on, "a retry without a truck on the deck"
        assert self.released, "a retry for a truck not released"
        assert self.executor.last_release is not None
        assert not self.overload_seen, "released a truck the indicator reported overloaded"
        event("release retried")

    def check_release(self, weighing: WeighingBody, *, executed: bool) -> None:
        assert "overload_gross" not in weighing.reasons
        assert not self.overload_seen, "released a truck the indicator reported overloaded"
        bundle = self.lane.bundle
        assert bundle is not None
        assert weighing.ticket is not None
        entry = next(e for e in bundle.tickets if e.ticket.cti == weighing.ticket)
        vehicle = bundle.vehicles.get(weighing.plate)
        assert weighing.gross_kg <= rules.legal_gross_kg(vehicle)
        assert weighing.ticket not in bundle.revoked
        assert weighing.ticket not in self.used, "a ticket released twice"
        if self.lane_config.direction == "out":
            assert entry.state == "issued"
            assert self.now // 1000 < entry.ticket.exp
            assert entry.ticket.seller_site == self.lane_site
        else:
            assert entry.state == "loaded"
            assert entry.loaded_at is not None
            assert self.now <= entry.loaded_at + entry.ticket.transit_s * 1000
            assert entry.ticket.dest_site == self.lane_site
        if executed and weighing.pass_ != "first":
            self.used.add(weighing.ticket)

    def track_truck(
        self, item: Input, before: str, outputs: list[Output], done: list[Output]
    ) -> None:
        if any(isinstance(o, Barrier) and o.up for o in done):
            self.released = True
            event("released")
        for weighing in b.weighings(outputs):
            event(f"{weighing.decision}: {', '.join(weighing.reasons)}")
        # Emitted is what counts: a journal that cannot write it is a journal_fault of its own.
        escaped = any(
            isinstance(o, WriteRecord) and getattr(o.body, "kind", None) == "escape"
            for o in outputs
        )
        expect_escape = False
        if isinstance(item, WeightIn):
            occupied = item.overload or (item.kg is not None and item.kg >= OCCUPIED)
            if occupied and not self.truck_on and before not in ("releasing", "exiting"):
                self.truck_on, self.released, self.alarmed = True, False, False
                self.overload_seen = False
            if self.truck_on and item.overload:
                self.overload_seen = True
            if self.truck_on and not occupied:
                expect_escape = not (self.released or self.alarmed)
                self.truck_on = False
        if isinstance(item, BeamsIn):
            if item.exit and not self.last_beams.exit and self.truck_on:
                expect_escape = not (self.released or self.alarmed)
            self.last_beams = item
        if expect_escape:
            event("escape expected")
            assert escaped, f"a truck left unreleased without an escape alarm ({before})"
        self.alarmed = self.alarmed or escaped

    # --- rules ----------------------------------------------------------------------------

    @rule(kg=WEIGHTS, dt=DT, motion=st.booleans())
    def weight(self, kg: int, dt: int, motion: bool) -> None:
        self.feed(WeightIn(kg=kg, stable=not motion), dt)

    @rule(dt=DT)
    def overload(self, dt: int) -> None:
        self.feed(WeightIn(kg=None, overload=True), dt)

    @rule(kg=WEIGHTS, ms=st.integers(1000, 2500))
    def steady(self, kg: int, ms: int) -> None:
        for _ in range(ms // 100):
            self.feed(WeightIn(kg=kg), 100)

    @rule(beams=st.builds(BeamsIn, **dict.fromkeys(b.BEAM_FIELDS, st.booleans())), dt=DT)
    def beams_change(self, beams: BeamsIn, dt: int) -> None:
        item = beams
        self.feed(item, dt)
        self.beams = item

    @rule(plate=PLATES, conf=st.integers(0, 100), camera=CAMERAS)
    def plate(self, plate: str, conf: int, camera: str) -> None:
        self.feed(PlateIn(plate=plate, confidence=conf, camera=camera, image_sha256=b"\x01" * 32))

    @rule(kg=WEIGHTS, plate=PLATES)
    def truck(self, kg: int, plate: str) -> None:
        """A whole arrival, so that decisions and releases happen often."""
        self.set_beams(entry=False, front=False, rear=False, exit=False)
        for _ in range(12):
            self.feed(WeightIn(kg=0), 100)
        self.feed(PlateIn(plate=plate, confidence=95, camera="lane-1-entry"))
        self.set_beams(entry=True)
        self.set_beams(entry=False, rear=True)
        self.feed(WeightIn(kg=kg // 2), 100)
        self.set_beams(rear=False)
        for _ in range(15):
            self.feed(WeightIn(kg=kg), 100)

    @rule(kg=st.sampled_from([b.TARE, 15_100, b.GROSS, 48_000]))
    def good_truck(self, kg: int) -> None:
        """A truck that should pass: known plate, confident read, stable weight."""
        self.truck(kg, b.PLATE)

    def set_beams(self, **changes: bool) -> None:
        self.beams = dataclasses.replace(self.beams, **changes)
        self.feed(self.beams, 10)

    @rule()
    def leave_by_exit(self) -> None:
        self.set_beams(front=True)
        self.set_beams(exit=True)
        self.feed(WeightIn(kg=0), 200)
        self.set_beams(front=False, exit=False)

    @rule(index=st.integers(0, len(BUNDLES) - 1))
    def new_bundle(self, index: int) -> None:
        self.feed(BundleIn(bundle=self.lane_bundles[index]))

    @rule(plate=PLATES)
    def manual_plate(self, plate: str) -> None:
        self.feed(ManualPlate(operator="op-1", plate=plate))

    @rule(choice=st.sampled_from(TICKET_CHOICES))
    def choose_ticket(self, choice: bytes) -> None:
        self.feed(ChooseTicket(operator="op-1", ticket=choice))

    @rule()
    def override(self) -> None:
        self.feed(Override(operator="op-1", reason="driver known"))

    @rule()
    def zero(self) -> None:
        self.feed(ZeroRequest(operator="op-1"))

    @rule()
    def ack(self) -> None:
        self.feed(AlarmAck(operator="op-1", kind="escape", ref=b"\x02" * 32))

    @rule(active=st.booleans(), which=st.sampled_from(["scale", "io", "camera"]))
    def device_fault(self, active: bool, which: str) -> None:
        if which == "scale":
            self.feed(ScaleFaultIn(active=active, reason="stuck"))
        elif which == "io":
            self.feed(IoFaultIn(active=active, reason="timeout"))
        else:
            self.feed(CameraFaultIn(active=active, camera="lane-1-entry", reason="offline"))

    @rule()
    def io_checked(self) -> None:
        self.feed(ClearIoFault(operator="op-1", reason="relay replaced"))

    @rule()
    def journal_fails(self) -> None:
        self.executor.fail_next_write = True

    @rule()
    def journal_back(self) -> None:
        self.feed(JournalFault(active=False, reason="disk replaced"))

    @rule(dt=st.integers(0, 70_000))
    def tick(self, dt: int) -> None:
        self.feed(Tick(), dt)

    @invariant()
    def barrier_down_in_fault(self) -> None:
        if self.lane.state in ("idle", "arriving", "positioning", "settling", "held", "fault"):
            assert not self.lane.barrier_up


class InboundTwoPassMachine(LaneMachine):
    """An inbound two-pass lane at a power station: gross on arrival, tare after unloading."""

    lane_config = IN_CONFIG
    lane_site = b.DEST
    lane_bundles = IN_BUNDLES


# Example counts come from the suite profile (tests/conftest.py); sequences are long.
SETTINGS = settings(stateful_step_count=40)
LaneMachine.TestCase.settings = SETTINGS
InboundTwoPassMachine.TestCase.settings = SETTINGS
TestOutboundLane = LaneMachine.TestCase
TestInboundLane = InboundTwoPassMachine.TestCase
