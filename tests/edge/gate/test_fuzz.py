"""The core never raises: any sequence of any inputs, at any times (even going backwards),
yields output lists — and the barrier rule holds in each of them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.gate import inputs as i
from edge.gate.outputs import Barrier, WriteRecord
from tests.edge.gate import builders as b
from wire.bodies import WeighingBody

TEXT = st.text(max_size=40)
KG = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.sampled_from([0, b.TARE, b.GROSS]))
INPUTS = st.one_of(
    st.builds(
        i.WeightIn,
        kg=KG,
        stable=st.none() | st.booleans(),
        overload=st.booleans(),
        calibration=st.none() | st.integers(0, 3),
    ),
    st.builds(i.BeamsIn, **dict.fromkeys(b.BEAM_FIELDS, st.booleans())),
    st.builds(
        i.PlateIn,
        plate=TEXT | st.sampled_from([b.PLATE, "陕K·12345"]),
        confidence=st.integers(-10, 200),
        camera=st.sampled_from(["lane-1-entry", "lane-1-exit"]) | TEXT,
        image_sha256=st.none() | st.binary(max_size=40),
    ),
    st.builds(i.ManualPlate, operator=TEXT, plate=TEXT),
    st.builds(
        i.ChooseTicket, operator=TEXT, ticket=st.binary(max_size=64) | st.just(b.OUT_TICKET.raw)
    ),
    st.builds(i.Override, operator=TEXT, reason=TEXT),
    st.builds(i.ZeroRequest, operator=TEXT),
    st.builds(i.AlarmAck, operator=TEXT, kind=TEXT, ref=st.none() | st.binary(max_size=40)),
    st.builds(i.Tick),
    st.builds(i.ScaleFaultIn, active=st.booleans(), reason=TEXT),
    st.builds(i.IoFaultIn, active=st.booleans(), reason=TEXT),
    st.builds(i.ClearIoFault, operator=TEXT, reason=TEXT),
    st.builds(i.CameraFaultIn, active=st.booleans(), camera=TEXT, reason=TEXT),
    st.builds(i.JournalFault, active=st.booleans(), reason=TEXT),
    st.builds(i.BundleIn, bundle=st.sampled_from([b.OUT_BUNDLE, b.bundle([], version=3)])),
)
STEPS = st.lists(st.tuples(INPUTS, st.integers(-5_000, 120_000)), max_size=80)


@given(STEPS)
def test_any_inputs_at_any_times(steps: list[tuple[i.Input, int]]) -> None:
    lane = b.lane()
    now = b.T0
    for item, dt in steps:
        now += dt
        outputs = lane.step(item, now_ms=now)
        for index, output in enumerate(outputs):
            if isinstance(output, Barrier) and output.up:
                before = [o for o in outputs[:index] if isinstance(o, WriteRecord)]
                assert any(
                    (isinstance(w.body, WeighingBody) and w.body.decision == "release")
                    or (w.ref_release and getattr(w.body, "kind", None) == "release_retry")
                    for w in before
                )
        assert lane.state in (
            "idle",
            "arriving",
            "positioning",
            "settling",
            "deciding",
            "releasing",
            "exiting",
            "held",
            "fault",
        )
        assert lane.state != "deciding", "deciding never outlasts its step"
