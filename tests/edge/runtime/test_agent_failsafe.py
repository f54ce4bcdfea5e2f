"""The agent in-process, against ``coalgate sim lane``, when its journal cannot be written: a
truck that would be released is held — the barrier never rises — and the lane reports the
journal fault. (In-process because the fault is a real one that needs the agent's hand: a
journal whose disk budget is spent; everything else is as ``edge run`` builds it.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from central.store.sqlite import SqliteStore
from central.ticketing import service
from central.ticketing.bundles import build_site_bundle
from edge.config import load_site_config
from edge.gate.inputs import ClearIoFault, PlateIn
from edge.gate.outputs import Barrier
from edge.journal.store import Journal
from edge.runtime.agent import EdgeAgent
from tests.central import builders as b
from tests.edge.io_sim import ModbusSim
from tests.edge.runtime.support import (
    ISSUER,
    KEYRING,
    PLATE,
    SITE,
    lane_scenario,
    new_http_port,
    site_file,
    until_async,
    wall_ms,
)


def bundle_with_a_ticket(tmp_path: Path) -> tuple[b.Edge, bytes, int]:
    """The registered gate, and its site bundle (with a ticket for PLATE) as central signs it."""
    store = SqliteStore(tmp_path / "central.db")
    try:
        store.migrate()
        region = b.Region().register(store)
        service.issue(
            store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=wall_ms(), actor="test"
        )
        bundle = build_site_bundle(store, KEYRING, SITE, now_ms=wall_ms())
    finally:
        store.close()
    return region.seller, bundle.raw, bundle.version


async def test_a_journal_that_cannot_be_written_keeps_the_barrier_down(tmp_path: Path) -> None:
    gate, bundle, version = bundle_with_a_ticket(tmp_path)
    http_port = new_http_port()
    scenario = lane_scenario(tmp_path / "lane.toml", camera_port=new_http_port())  # no camera
    with ModbusSim.lane(scenario) as sim:
        site = site_file(
            tmp_path, key=gate.key, broker_url="mqtt://127.0.0.1:1", line_url=sim.url,
            http_port=http_port,
        )  # fmt: skip
        config = load_site_config(site)
        # The journal holds the bundle (the edge works offline) but has no room for a record.
        config.site.data_dir.mkdir()
        with Journal.open(
            config.site.journal_path, key=gate.key, site=SITE, device=gate.device
        ) as journal:
            journal.store_bundle(version=version, data=bundle, received_ms=wall_ms())
            used = journal.usage().used_bytes
        agent = EdgeAgent(config=config, journal_budget_bytes=used + 16)
        async with asyncio.TaskGroup() as group:
            running = group.create_task(agent.run(), name="agent")
            try:
                await until_async(lambda: agent.runners, what="the lane")
                runner = agent.runners["lane1"]
                await until_async(
                    lambda: (
                        runner.lane.bundle is not None and runner.metrics.readings["lane1"] > 25
                    ),
                    what="the bundle and 2.5 s of the empty deck",
                )
                # the entry camera's read (this lane's camera pushes nowhere)
                runner.feed(PlateIn(plate=PLATE, confidence=97, camera="lane1-entry"))
                sim.truck(
                    plate=PLATE, axles=6, kind="combination", tare_kg=15_000, load_kg=33_000,
                    stand_s=3,
                )  # fmt: skip
                await until_async(
                    lambda: "journal" in runner.lane.faults, what="the journal fault at the lane"
                )
                sim.release(PLATE)
                state = await until_async(
                    lambda: (s := sim.state())["waiting_to_leave"] == [PLATE] and s,
                    what="the truck waiting at the barrier",
                )
                assert not state["io"]["barrier"]["up"]
                assert [t["plate"] for t in state["trucks"]] == [PLATE]
                assert runner.metrics.journal_failures >= 1
                assert runner.metrics.barrier_raised["lane1"] == 0
                assert runner.lane.state == "fault"
                assert not runner.lane.barrier_up
                assert Barrier(up=True) not in [c for b in runner.commands.submitted for c in b]

                # An IO command fault now: the operator's "IO checked" must be signed (who and
                # why), and the journal cannot sign it — refused, the fault stays.
                runner.commands.on_io_fault("raise_barrier: the limit switch did not confirm")
                await until_async(lambda: "io" in runner.lane.faults, what="the IO fault")
                checked = ClearIoFault(operator="wang.li", reason="relay replaced")
                outcome = await runner.submit(checked)
                assert outcome.refused is not None
                assert "journal" in outcome.refused
                assert "raise_barrier" in runner.lane.faults["io"]
            finally:
                agent.stop()
        await running
    with Journal.open(config.site.journal_path, key=gate.key, site=SITE, device=gate.device) as j:
        assert j.highest_seq == 0  # nothing half-written
