"""Alarms in simulated time: each is written in the step of the evidence that shows it, i.e.
within one second of it on the lane's clock, and once per incident."""

from __future__ import annotations

from edge.gate.inputs import (
    AlarmAck,
    CameraFaultIn,
    Input,
    IoFaultIn,
    ScaleFaultIn,
    Tick,
    WeightIn,
    ZeroRequest,
)
from edge.gate.outputs import Output, SetLights, WriteRecord, ZeroScale
from tests.edge.gate import builders as b
from tests.edge.gate.executor import Executor

AT_ONCE_MS = 1000


def alarm_time(r: b.Run, kind: str, steps: list[tuple[int, list[Output]]]) -> int:
    """The lane-clock time of the step that wrote the first ``kind`` event."""
    for at, out in steps:
        if b.events(out, kind):
            return at
    raise AssertionError(f"no {kind} alarm")


class Clocked(b.Run):
    """A Run that remembers when each step's outputs came out."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.steps: list[tuple[int, list[Output]]] = []

    def feed(self, item: Input, *, after_ms: int = 0) -> list[Output]:
        out = super().feed(item, after_ms=after_ms)
        self.steps.append((self.now, out))
        return out


def state(r: b.Run) -> str:
    return r.lane.state  # read afresh: a property, not a value mypy may narrow


def held_truck() -> Clocked:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS, plate=b.OTHER_PLATE)  # 2-axle rigid, 49 t: overloaded, no ticket
    assert state(r) == "held"
    return r


def test_escape_through_the_exit_is_alarmed_at_once() -> None:
    r = held_truck()
    r.set_beams(front=True)
    r.set_beams(exit=True)
    broken_at = r.now
    assert alarm_time(r, "escape", r.steps) - broken_at <= AT_ONCE_MS
    escape = b.events(r.outputs, "escape")
    assert len(escape) == 1
    assert escape[0].severity == "alarm"
    assert escape[0].detail["via"] == "exit"
    assert escape[0].detail["weighed"] is True
    assert escape[0].detail["plate"] == b.OTHER_PLATE
    assert b.events(r.outputs, "barrier_forced")[0].detail["signal"] == "exit_beam"
    r.hold_weight(0, ms=500)
    r.set_beams(front=False, exit=False)
    assert len(b.events(r.outputs, "escape")) == 1, "one truck, one escape"
    assert state(r) == "idle"


def test_an_unweighed_truck_escaping_is_named_by_its_entry_read_and_its_exit_read() -> None:
    """A tailgater never weighed: the escape names the entry camera's confident read, and the
    exit camera's read of it as it leaves is an ``exit_without_session``."""
    r = Clocked(b.lane())
    r.empty_deck()
    r.plate(b.OTHER_PLATE, 92)
    r.set_beams(entry=True)
    r.set_beams(entry=False, rear=True)
    r.hold_weight(20_000, ms=300)  # positioning: not wholly on, never decided
    r.set_beams(front=True)
    r.set_beams(exit=True)
    (escape,) = b.events(r.outputs, "escape")
    assert (escape.detail["weighed"], escape.detail["plate"]) == (False, b.OTHER_PLATE)
    r.plate(b.OTHER_PLATE, 86, camera="lane-1-exit")
    (seen,) = b.events(r.outputs, "exit_without_session")
    assert (seen.detail["plate"], seen.detail["camera"]) == (b.OTHER_PLATE, "lane-1-exit")


def test_an_escape_names_no_plate_the_reads_do_not_agree_on() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    r.plate(b.OTHER_PLATE, 92)
    r.plate(b.PLATE, 91)  # two confident reads, two plates: a person must look
    r.set_beams(entry=True)
    r.set_beams(entry=False, rear=True)
    r.hold_weight(20_000, ms=300)
    r.set_beams(front=True)
    r.set_beams(exit=True)
    (escape,) = b.events(r.outputs, "escape")
    assert escape.detail["plate"] is None


def test_backing_off_the_deck_unreleased_is_an_escape_via_entry() -> None:
    r = held_truck()
    r.set_beams(rear=True)
    r.feed(WeightIn(kg=0), after_ms=100)
    left_at = r.now
    assert alarm_time(r, "escape", r.steps) == left_at
    assert b.events(r.outputs, "escape")[0].detail["via"] == "entry"


def test_a_released_truck_leaving_raises_nothing() -> None:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS)
    r.drive_off_exit()
    assert [e for e in b.events(r.outputs) if e.severity == "alarm"] == []
    assert state(r) == "idle"
    assert SetLights(red=True, green=False) in r.outputs[-2:]


def test_escape_while_the_lane_is_in_fault() -> None:
    r = held_truck()
    r.feed(IoFaultIn(active=True, reason="timeout"))
    assert state(r) == "fault"
    r.feed(WeightIn(kg=0), after_ms=100)
    assert b.events(r.outputs, "escape")


def test_exit_camera_without_a_session() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    out = r.plate(b.PLATE, 97, camera="lane-1-exit")
    alarm = b.events(out, "exit_without_session")
    assert alarm[0].detail == {"plate": b.PLATE, "conf": 97, "camera": "lane-1-exit"}


def test_exit_camera_sees_the_released_truck_quietly_and_another_loudly() -> None:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS)
    assert b.events(r.plate(b.PLATE, 97, camera="lane-1-exit")) == []
    assert b.events(r.plate(b.PLATE, 40, camera="lane-1-exit")) == []  # unsure: no accusation
    assert b.events(r.plate(b.OTHER_PLATE, 97, camera="lane-1-exit"), "exit_without_session")


def test_barrier_switch_without_a_command() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    out = r.set_beams(barrier_up=True)
    assert b.events(out, "barrier_forced")[0].detail["signal"] == "limit_switch"
    assert b.events(r.tick(10_000), "barrier_forced") == [], "once per episode"


def test_barrier_that_stays_up_after_closing() -> None:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS)
    r.set_beams(barrier_up=True)  # it rose as commanded
    r.drive_off_exit()  # closing command
    assert b.events(r.outputs, "barrier_forced") == []
    r.hold_weight(0, ms=r.lane.config.barrier_travel_ms + 200)
    assert len(b.events(r.outputs, "barrier_forced")) == 1


def test_a_weight_step_while_standing_still() -> None:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS)
    r.hold_weight(b.GROSS, ms=1500)
    out = r.feed(WeightIn(kg=b.GROSS - 3000), after_ms=100)
    assert b.events(out, "tamper_step")[0].detail["jump_kg"] == -3000


def test_driving_on_is_not_a_step() -> None:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS)
    r.drive_off_exit()
    assert b.events(r.outputs, "tamper_step") == []


def test_zero_drift_of_the_empty_deck_is_raised_once_and_cleared_by_zeroing() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    r.hold_weight(60)
    assert b.events(r.outputs, "tamper_zero_drift") == []
    out = r.hold_weight(120)
    assert b.events(out, "tamper_zero_drift")[0].detail == {"kg": 120, "reference_kg": 0}
    assert b.events(r.hold_weight(120), "tamper_zero_drift") == []
    out = r.feed(ZeroRequest(operator="op-1"))
    assert ZeroScale() in out
    r.hold_weight(0)
    r.hold_weight(120)
    assert len(b.events(r.outputs, "tamper_zero_drift")) == 2


def test_zero_is_refused_on_a_loaded_deck() -> None:
    r = Clocked(b.lane())
    r.hold_weight(30_000)
    assert ZeroScale() not in r.feed(ZeroRequest(operator="op-1"))


def test_weight_without_beams() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    out = r.feed(WeightIn(kg=20_000), after_ms=100)
    assert b.events(out, "tamper_beams")[0].detail["signal"] == "weight_without_beams"


def test_beams_without_weight() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    r.set_beams(rear=True)
    since = r.now
    for _ in range(25):
        r.hold_weight(0, ms=1000)
    at = alarm_time(r, "tamper_beams", r.steps)
    assert 0 <= at - (since + r.lane.config.beams_no_weight_ms) <= AT_ONCE_MS
    assert len(b.events(r.outputs, "tamper_beams")) == 1


def test_calibration_counter_change() -> None:
    r = Clocked(b.lane())
    r.feed(WeightIn(kg=0, calibration=41), after_ms=100)
    assert b.events(r.outputs) == []
    out = r.feed(WeightIn(kg=0, calibration=42), after_ms=100)
    assert b.events(out, "calibration_changed")[0].detail == {"old": 41, "new": 42}


def test_scale_silence_is_a_fault_and_readings_end_it() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    out = r.feed(Tick(), after_ms=r.lane.config.weight_timeout_ms)
    fault = b.events(out, "scale_fault")[0]
    assert (fault.severity, fault.detail["active"]) == ("alarm", True)
    assert state(r) == "fault"
    out = r.feed(WeightIn(kg=0), after_ms=100)
    assert b.events(out, "scale_fault")[0].severity == "info"
    assert state(r) == "idle"


def test_device_faults_hold_the_lane_and_recover() -> None:
    r = Clocked(b.lane())
    r.empty_deck()
    r.feed(ScaleFaultIn(active=True, reason="stuck"))
    r.feed(IoFaultIn(active=True, reason="timeout"))
    assert state(r) == "fault"
    r.feed(ScaleFaultIn(active=False, reason="ok"))
    assert state(r) == "fault", "the IO module is still faulty"
    r.feed(IoFaultIn(active=False, reason="ok"))
    assert state(r) == "idle"
    kinds = [(e.kind, e.detail["active"]) for e in b.events(r.outputs)]
    assert kinds == [
        ("scale_fault", True),
        ("io_fault", True),
        ("scale_fault", False),
        ("io_fault", False),
    ]


def test_a_fault_during_release_waits_for_the_truck_to_leave() -> None:
    r = Clocked(b.lane())
    r.drive_on(b.GROSS)
    r.feed(IoFaultIn(active=True, reason="timeout"))
    assert (state(r), r.lane.barrier_up) == ("releasing", True)
    r.drive_off_exit()
    assert (state(r), r.lane.barrier_up) == ("fault", False)


def test_camera_fault_is_a_warning_and_the_lane_goes_on() -> None:
    r = Clocked(b.lane())
    out = r.feed(CameraFaultIn(active=True, camera="lane-1-entry", reason="offline"))
    assert b.events(out, "camera_fault")[0].severity == "warning"
    assert state(r) == "idle"


def test_alarm_ack_is_recorded_with_its_reference() -> None:
    r = Clocked(b.lane())
    out = r.feed(AlarmAck(operator="op-1", kind="escape", ref=b"\x07" * 32))
    ack = b.events(out, "alarm_ack")[0]
    assert (ack.ref, ack.detail["operator"], ack.severity) == (b"\x07" * 32, "op-1", "info")


def test_every_record_is_a_valid_wire_body() -> None:
    """All the records of a busy day sign and read back (the executor checks each)."""
    r = held_truck()
    r.set_beams(front=True)
    r.set_beams(exit=True)
    r.plate(b.PLATE, 90, camera="lane-1-exit")
    executor = Executor()
    executor.run(r.outputs, now_ms=r.now)
    kinds = {rec.type for rec in executor.records}
    assert kinds == {"evidence", "weighing", "event"}
    assert len(executor.records) == sum(isinstance(o, WriteRecord) for o in r.outputs)
    weighing = next(rec for rec in executor.records if rec.type == "weighing")
    evidence = executor.records[executor.records.index(weighing) - 1]
    assert weighing.body.evidence == evidence.id  # type: ignore[union-attr]


def test_a_lane_without_a_start_time_times_silence_from_its_first_step() -> None:
    lane = b.lane(now_ms=None)
    assert lane.step(WeightIn(kg=0), now_ms=b.T0) == []
    assert lane.step(Tick(), now_ms=b.T0 + 2000) == []
    out = lane.step(Tick(), now_ms=b.T0 + lane.config.weight_timeout_ms)
    assert b.events(out, "scale_fault")
