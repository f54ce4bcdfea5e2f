"""Edge-side faults against the delivery guarantee: nothing lost, nothing doubled (DESIGN.md).

Real parts only: ``coalgate edge run`` as a process on a ``coalgate sim lane``, a private
Mosquitto the test kills (SIGKILL) and starts again, a TCP proxy between edge and broker that
the test cuts, and central's real ingest worker and store (tests/reliability/edge_support.py).

1. the edge SIGKILLed during weighings (once as the barrier rises, once mid-weighing with
   records central has not acked) and restarted;
2. the broker SIGKILLed mid-stream and restarted (empty: no persistence);
3. the broker down while the edge journals more than Mosquitto's per-client queue (1000),
   the edge SIGKILLed half-way through too;
4. a partition between edge and broker (cut, refused, blackholed, healed) while trucks are
   released and held from the cached bundle, central seeing the device offline meanwhile.

Each test injects its faults, then counts from the two ends — the edge's journal and
central's store — and prints a ``Tally``: ``sent`` (the highest seq the edge had journaled
when the test began to wait for central: records 1..sent), ``stored`` (of those, held by
central with the very bytes journaled), ``duplicates`` (a seq stored twice, an equivocation,
or stored bytes that differ from the journal's) and ``lost``; ``redelivered`` counts the
resends central absorbed. The figures are asserted too. Time is compressed through the edge's
signed heartbeat: production writes one every 300 s, these tests every 4 ms to 2 s, so the
real agent writes many records without trucks.
"""

from __future__ import annotations

import contextlib
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto
from tests.edge.runtime.support import wall_ms
from tests.reliability.edge_support import PLATE, GateHouse, TcpProxy, dashboard, until
from tests.reliability.tally import Tally
from wire.bodies import WeighingBody
from wire.keys import KeySet
from wire.records import verify_record

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]

#: Mosquitto's default per-client queue (``max_queued_messages``): an outage must outgrow it.
BROKER_QUEUE = 1000


def first_decision(gate: GateHouse, *, after_seq: int = 0) -> dict[str, Any]:
    """The running edge's first weighing decision written above ``after_seq`` (waits)."""

    def find() -> dict[str, Any] | None:
        for item in gate.decisions():
            if item["seq"] > after_seq:
                return item
        return None

    return until(find, what=f"a weighing decision above seq {after_seq}")


def weighings_at_central(gate: GateHouse) -> dict[tuple[int, bytes], WeighingBody]:
    """The weighings central stored from the edge by (seq, record id), each verified with the
    device's key."""
    keys = KeySet([gate.central.edge.key.public])
    found = {}
    for stored in gate.stored():
        body = verify_record(stored.raw, keys).body
        if isinstance(body, WeighingBody):
            found[stored.seq, stored.record_id] = body
    return found


def finish(gate: GateHouse, tally: Tally, **extra: int) -> dict[str, int]:
    """Central drains everything the edge has journaled by now; then the edge stops (SIGTERM)
    and its journal is counted against central's store. Returns the printed figures."""
    top = int(gate.uplink()["highest_seq"])
    gate.drained(top)
    assert gate.edge.terminate() == 0
    figures = gate.delivery(upto=top).figures()
    stats = gate.central.worker.stats
    tally.count(
        **figures,
        **extra,
        redelivered=stats.duplicates,  # resends central absorbed (idempotent on device, seq)
        quarantined=stats.quarantined,
    )
    tally.report()
    assert figures["lost"] == 0
    assert figures["duplicates"] == 0
    assert figures["stored"] == figures["sent"] == top
    assert figures["contiguous"] >= top
    assert stats.quarantined == 0
    return figures


def test_an_edge_killed_during_weighings_restarts_without_gap_duplicate_or_loss(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    tally = Tally("edge SIGKILL during weighings")
    with GateHouse(tmp_path, mosquitto) as gate:
        gate.ready(tickets=2)
        snapshots: list[dict[int, bytes]] = []
        unacked = 0

        def kill(what: str) -> None:
            nonlocal unacked
            gate.kill_edge()
            highest, acked = gate.journal_state()
            tally.inject(f"SIGKILL the edge {what} (journal at seq {highest}, acked {acked})")
            unacked += highest - acked
            snapshots.append(gate.journal())

        # Truck 1: killed as soon as its release is durable and the barrier is rising.
        gate.truck()
        until(lambda: gate.sim.state()["io"]["barrier"]["up"], what="the barrier up for truck 1")
        kill("as the barrier rises for truck 1")
        with contextlib.suppress(urllib.error.HTTPError):  # 404: it is leaving already
            gate.sim.release(PLATE)  # the driver goes at once, through the barrier already up
        until(gate.gone, what="truck 1 leaving through the raised barrier")
        gate.restart_edge()
        tally.inject("edge restarted")
        gate.idle_at_zero()

        # Truck 2: killed on the deck, mid-weighing, while central's ingest is paused, so the
        # kill meets records the edge journaled and sent but central never acked. After the
        # restart the truck is weighed afresh and held for zero_not_ok (docs/gate.md "What
        # survives a restart").
        gate.pause_ingest()
        tally.inject("central's ingest worker paused (no acks)")
        until(
            lambda: (u := gate.uplink())["highest_seq"] > u["acked_seq"],
            what="a record (the 2 s heartbeat) not acked",
        )
        gate.truck(stand_s=30)
        until(
            lambda: gate.edge.lane()["state"] in ("positioning", "settling"),
            what="truck 2 being weighed",
        )
        kill("while truck 2 is being weighed")
        gate.restart_edge()
        tally.inject("edge restarted")
        held = first_decision(gate)
        assert (held["decision"], "zero_not_ok" in held["reasons"]) == ("hold", True), held
        gate.resume_ingest()
        tally.inject("central's ingest worker resumed on its session")

        figures = finish(
            gate, tally, journaled_before_kills=len(snapshots[-1]), unacked_at_kills=unacked
        )
        assert unacked > 0

        # Every record journaled before each kill is at central exactly once, with its bytes.
        stored = {(s.seq, s.record_id) for s in gate.stored()}
        for snapshot in snapshots:
            assert set(snapshot.items()) <= stored
        assert figures["sent"] > len(snapshots[1]) > len(snapshots[0])  # no seq reused
        weighings = weighings_at_central(gate)
        decisions = [(w.plate, w.decision) for w in weighings.values()]
        assert decisions.count((PLATE, "release")) == 1, decisions
        assert decisions[-1][1] == "hold", decisions
        # truck 1's release was durable before its barrier rose: in the journal at the kill
        (release,) = [key for key, w in weighings.items() if w.decision == "release"]
        assert release in snapshots[0].items()


def test_a_broker_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    tally = Tally("broker SIGKILL mid-stream")
    with GateHouse(tmp_path, mosquitto, heartbeat_s=0.02) as gate:  # ~50 records a second
        until(lambda: gate.contiguous() >= 100, what="a stream of records at central")
        mosquitto.stop(kill=True)
        at_kill = gate.uplink()
        tally.inject(
            f"SIGKILL the broker (edge at seq {at_kill['highest_seq']}, acked "
            f"{at_kill['acked_seq']}, central holding {gate.contiguous()})"
        )
        until(
            lambda: gate.uplink()["highest_seq"] >= at_kill["highest_seq"] + 100,
            what="100 records journaled while the broker is down",
        )
        assert not gate.uplink()["connected"]
        at_start = gate.uplink()["highest_seq"]
        mosquitto.start()
        tally.inject(f"broker restarted, empty (edge at seq {at_start})")
        until(lambda: gate.uplink()["connected"], what="the edge connected again")
        finish(
            gate, tally, journaled_while_down=at_start - at_kill["highest_seq"],
            in_flight_at_kill=at_kill["highest_seq"] - at_kill["acked_seq"],
        )  # fmt: skip


def test_a_long_broker_outage_is_queued_in_the_journal_not_the_broker(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    tally = Tally("broker down for a long outage")
    with GateHouse(tmp_path, mosquitto, heartbeat_s=0.004) as gate:
        until(lambda: gate.contiguous() >= 20, what="records at central")
        mosquitto.stop(kill=True)
        at_kill = gate.uplink()["highest_seq"]
        tally.inject(f"SIGKILL the broker (edge at seq {at_kill})")
        # Half-way through the outage the edge dies too: its backlog is on its disk only.
        until(
            lambda: gate.uplink()["highest_seq"] >= at_kill + BROKER_QUEUE // 2,
            within_s=60,
            what=f"{BROKER_QUEUE // 2} records journaled while the broker is down",
        )
        gate.kill_edge()
        highest, acked = gate.journal_state()
        tally.inject(f"SIGKILL the edge too (journal at seq {highest}, acked {acked})")
        gate.restart_edge()
        tally.inject("edge restarted, the broker still down")
        wanted = at_kill + BROKER_QUEUE + 500
        until(
            lambda: gate.uplink()["highest_seq"] >= wanted,
            within_s=60,
            what=f"{BROKER_QUEUE + 500} records journaled while the broker is down",
        )
        at_start = gate.uplink()
        mosquitto.start()
        tally.inject(f"broker restarted, empty (edge at seq {at_start['highest_seq']})")
        figures = finish(
            gate, tally, journaled_while_down=at_start["highest_seq"] - at_kill,
            backlog_at_restart=at_start["backlog"],
        )  # fmt: skip
        assert at_start["backlog"] > BROKER_QUEUE
        assert figures["sent"] > at_kill + BROKER_QUEUE


@pytest.mark.timeout(180)  # the edge's reconnect backoff reaches its 30 s cap, twice at worst
def test_a_partition_between_edge_and_broker_keeps_the_lane_deciding_and_central_sees_it_offline(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    tally = Tally("edge-broker partition")
    with (
        TcpProxy(mosquitto.port) as proxy,
        GateHouse(tmp_path, mosquitto, heartbeat_s=0.5, broker_url=proxy.url) as gate,
        dashboard(gate) as on_dashboard,
    ):
        (ticket,) = gate.ready(tickets=1)
        until(lambda: on_dashboard()["health"] == "online", what="the edge online on the dashboard")
        alarms_before = gate.offline_alarms()

        proxy.partition("refuse")
        at_cut = gate.uplink()["highest_seq"]  # nothing written after this can reach central
        tally.inject(f"partition: connections cut, new ones refused (edge at seq {at_cut})")
        # The broker sees the connection end and publishes the edge's Last Will.
        until(lambda: gate.status() == "offline", what="the Last Will at central")
        until(lambda: gate.offline_alarms() > alarms_before, what="a device_offline alarm")
        view = on_dashboard()
        assert (view["status"], view["health"]) == ("offline", "offline"), view

        # The lane decides from its cached bundle: the ticketed truck is released…
        gate.truck()
        released = first_decision(gate)
        assert (released["decision"], released["reasons"]) == ("release", ["ok"]), released
        assert released["ticket"] == ticket.id
        until(gate.gone, what="the released truck leaving")
        gate.idle_at_zero()

        proxy.partition("blackhole")
        tally.inject("partition: new connections blackholed (accepted, nothing answers)")
        # …and the same plate again is held: its ticket was used, as the edge remembers.
        gate.truck()
        held = first_decision(gate, after_seq=released["seq"])
        assert (held["decision"], held["reasons"]) == ("hold", ["ticket_used"]), held
        until(lambda: proxy.accepted["blackhole"] >= 1, what="the edge trying the blackhole")
        state = gate.sim.state()
        assert [t["plate"] for t in state["trucks"]] == [PLATE]
        assert not state["io"]["barrier"]["up"]

        # Meanwhile central heard nothing: still offline, nothing stored since the cut.
        assert gate.contiguous() <= at_cut
        assert on_dashboard()["health"] == "offline"
        assert not gate.uplink()["connected"]
        written = gate.uplink()["highest_seq"] - at_cut
        assert written > 10  # the weighings, their evidence and the heartbeats

        healed_at = wall_ms()
        proxy.heal()
        tally.inject(f"partition healed ({written} records journaled meanwhile)")
        until(lambda: gate.status() == "online", within_s=60, what="the edge online again")
        until(lambda: on_dashboard()["health"] == "online", what="online on the dashboard")
        figures = finish(gate, tally, journaled_during_partition=written,
                         blackholed_connects=proxy.accepted["blackhole"],
                         blackholed_bytes=proxy.swallowed_bytes)  # fmt: skip
        assert gate.central.store.get_ticket(ticket.cti).state == "loaded"
        decisions = [(w.decision, w.reasons) for w in weighings_at_central(gate).values()]
        assert decisions == [("release", ("ok",)), ("hold", ("ticket_used",))], decisions
        assert figures["sent"] > at_cut + 10
        # the records the partition held back reached central only once it healed
        late = [r.received_at for r in gate.stored() if r.seq > at_cut]
        assert len(late) >= written
        assert min(late) >= healed_at
