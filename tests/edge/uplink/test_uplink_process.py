"""The uplink as a process that dies: the broker publishes its Last Will, and a restarted
agent on the same journal carries on where the dead one stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge.journal.store import Journal
from tests.conftest import Mosquitto
from tests.edge.journal.support import DEVICE, SITE, T0, body_for, device_key
from tests.edge.uplink.central_peer import CentralPeer, until

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def edge_process(
    path: Path, mosquitto: Mosquitto, version: str
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.uplink.edge_proc", str(path), mosquitto.url, version],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"connected\n"
        yield process
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def write(path: Path, first: int, last: int) -> None:
    with Journal.open(path, key=device_key(), site=SITE, device=DEVICE) as journal:
        for number in range(first, last + 1):
            body = body_for(number)
            entry = journal.append(record_type=body.TYPE, body=body, ts_ms=T0 + number)
            assert entry.seq == number


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_a_killed_agent_leaves_its_will_and_a_restarted_one_resumes(
    tmp_path: Path, mosquitto: Mosquitto, version: str
) -> None:
    path = tmp_path / "journal.db"
    central = CentralPeer(port=mosquitto.port)
    try:
        write(path, 1, 40)
        with edge_process(path, mosquitto, version) as process:
            await until(lambda: central.contiguous == 40, what="the first 40 records")
            await until(
                lambda: bool(central.statuses) and central.statuses[-1]["state"] == "online",
                what="the retained online status",
            )
            assert central.statuses[-1]["version"] == "proc-1.0"
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            await until(lambda: central.statuses[-1] == {"state": "offline"}, what="the Last Will")
        write(path, 41, 60)  # the lane wrote on while the uplink was down
        with edge_process(path, mosquitto, version):
            await until(lambda: central.contiguous == 60, what="all 60 records")
            await until(lambda: central.statuses[-1]["state"] == "online", what="online again")
        with Journal.open(path, key=device_key(), site=SITE, device=DEVICE) as journal:
            assert journal.highest_seq == 60
            assert journal.acked_seq <= 60
        assert set(central.counts) == set(range(1, 61))
    finally:
        central.close()
