"""The gate house and the faults for the edge-side reliability tests (test_edge_faults.py).

All real parts, built from the ``edge run`` tests' harness (tests/edge/runtime/support.py):

- ``GateHouse``: central (its SQLite store, the real ingest worker, tickets, site bundle) on the
  test's Mosquitto, a ``coalgate sim lane`` (Modbus transmitter, IO module, camera) and
  ``coalgate edge run`` as a subprocess — which the test can SIGKILL and start again on the
  same journal — connected to the broker directly or through a ``TcpProxy``;
- ``TcpProxy``: a TCP relay in one thread between the edge and the broker that the test cuts:
  every connection closed at once, new ones refused or blackholed, then healed;
- ``delivery``: what reached central against what the edge journaled — sent, stored,
  duplicates, lost — counted from the edge's journal and central's store, never from logs.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from central.api.tokens import create_token
from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.store.model import StoredRecord
from edge.journal.store import Journal
from tests.central.api_support import KEYRING, TestClient, settings
from tests.conftest import Mosquitto
from tests.edge.io_sim import ModbusSim
from tests.edge.runtime.support import (
    PLATE,
    Central,
    EdgeProcess,
    lane_scenario,
    new_http_port,
    site_file,
    until,
    wall_ms,
)
from wire.tickets import Ticket

__all__ = ["PLATE", "Delivery", "GateHouse", "TcpProxy", "dashboard", "delivery", "until"]


# --- counting ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """The edge's journal against central's store, for seqs ``1..sent``.

    ``sent``: records the edge journaled (seq 1..sent, checked gap-free); ``stored``: of
    those, the ones central holds with the very bytes the edge journaled; ``duplicates``:
    stored rows sharing a seq, equivocations central recorded, and stored records whose bytes
    differ from the journal's for their seq (a seq signed twice); ``lost``: journaled seqs
    central does not hold with the journal's bytes."""

    sent: int
    stored: int
    duplicates: int
    lost: int
    contiguous: int

    def figures(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "contiguous": self.contiguous,
        }


def delivery(
    journal: Mapping[int, bytes],
    stored: Sequence[StoredRecord],
    *,
    equivocations: int,
    contiguous: int,
    upto: int,
) -> Delivery:
    """Count ``journal`` (seq → record id) against central's ``stored`` records up to ``upto``;
    stored records above ``upto`` still count as duplicates when their bytes differ."""
    seqs = sorted(journal)
    assert seqs == list(range(1, len(seqs) + 1)), "the journal has a seq gap"
    assert upto <= len(seqs), f"only {len(seqs)} records journaled, not {upto}"
    at_central = {(s.seq, s.record_id) for s in stored}
    same_seq = len(stored) - len({s.seq for s in stored})
    foreign = sum(1 for s in stored if journal.get(s.seq, s.record_id) != s.record_id)
    delivered = sum(1 for seq in range(1, upto + 1) if (seq, journal[seq]) in at_central)
    return Delivery(
        sent=upto,
        stored=delivered,
        duplicates=same_seq + equivocations + foreign,
        lost=upto - delivered,
        contiguous=contiguous,
    )


# --- the proxy -----------------------------------------------------------------------------

Partition = Literal["refuse", "blackhole"]


class TcpProxy:
    """``127.0.0.1:port`` relayed to ``127.0.0.1:target_port`` by one thread, until cut.

    - at the start, and after ``heal()``: each new connection is relayed byte for byte;
    - ``partition("refuse")``: every connection is closed at once (both ends see it end, as
      when a link drops and the peers reset) and new ones are refused: nothing listens;
    - ``partition("blackhole")``: every connection is closed and new ones are accepted but go
      nowhere: what they send is swallowed and nothing comes back, so a connect hangs until
      its own timeout;
    - ``heal()``: relaying again; connections still hanging in the blackhole are closed (the
      link comes back with a reset).

    Every change runs on the proxy's thread, so it takes effect between two relayed chunks.
    ``accepted`` counts connections by how they were treated.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.accepted: Counter[str] = Counter()
        self.swallowed_bytes = 0
        self._mode: str = "relay"
        self._peers: dict[socket.socket, socket.socket | None] = {}  # None: swallowed
        self._selector = selectors.DefaultSelector()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tcp-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def partition(self, new: Partition) -> None:
        """Cut every connection; refuse or blackhole the new ones."""

        def cut() -> None:
            for sock in list(self._peers):
                self._close(sock)
            if new == "refuse":
                self._unlisten()
            else:
                self._listen()
            self._mode = new

        self._call(cut)

    def heal(self) -> None:
        def heal() -> None:
            for sock, other in list(self._peers.items()):
                if other is None:
                    self._close(sock)
            self._listen()
            self._mode = "relay"

        self._call(heal)

    def close(self) -> None:
        def stop() -> None:
            self._stopping = True

        with contextlib.suppress(RuntimeError):
            self._call(stop)
        self._thread.join(10)
        for sock in list(self._peers):
            self._close(sock)
        self._unlisten()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the proxy's thread ----------------------------------------------------------------

    def _call(self, command: Callable[[], None]) -> None:
        """Run ``command`` on the proxy's thread; its exception is raised here."""
        done = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                command()
            except Exception as exc:  # noqa: BLE001 - handed to the caller below
                failed.append(exc)
            finally:
                done.set()

        self._commands.put(run)
        self._wake_w.send(b"!")
        if not done.wait(10):
            raise RuntimeError("the proxy's thread did not answer")
        if failed:
            raise failed[0]

    def _run(self) -> None:
        while not self._stopping:
            for key, _events in self._selector.select(timeout=1.0):
                if key.data == "wake":
                    self._wake_r.recv(4096)
                    while not self._commands.empty():
                        self._commands.get()()
                elif key.data == "listen" and key.fileobj is self._listener:
                    self._accept(self._listener)
                elif isinstance(key.fileobj, socket.socket) and key.fileobj in self._peers:
                    self._relay(key.fileobj)  # (not closed earlier in this round)

    def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after a refusal
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "listen")

    def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(listener)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _address = listener.accept()
        except OSError:
            return
        conn.settimeout(5)
        self.accepted[self._mode] += 1
        if self._mode == "blackhole":
            self._peers[conn] = None
            self._selector.register(conn, selectors.EVENT_READ, "peer")
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        self._peers[conn], self._peers[upstream] = upstream, conn
        self._selector.register(conn, selectors.EVENT_READ, "peer")
        self._selector.register(upstream, selectors.EVENT_READ, "peer")

    def _relay(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(sock)
            return
        other = self._peers.get(sock)
        if other is None:
            self.swallowed_bytes += len(data)
            return
        try:
            other.sendall(data)
        except OSError:
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for one in (sock, other):
            if one is None:
                continue
            self._peers.pop(one, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(one)
            one.close()


# --- the gate house ------------------------------------------------------------------------


class GateHouse:
    """Central, a simulated lane and ``coalgate edge run`` (see the module docstring).

    ``heartbeat_s`` is the edge's signed heartbeat (production: 300 s): a short one is the
    honest way to make the real agent write many records without trucks. ``broker_url`` is
    where the edge connects (a ``TcpProxy``'s URL; the broker itself by default); central
    always connects to the broker directly."""

    def __init__(
        self,
        directory: Path,
        broker: Mosquitto,
        *,
        heartbeat_s: float = 2.0,
        broker_url: str | None = None,
    ) -> None:
        self.directory = directory
        self.broker = broker
        self.bundle_version: int | None = None
        self._stack = contextlib.ExitStack()
        try:
            self.central = Central(directory, broker)
            self._stack.callback(self.central.close)
            self.http_port = new_http_port()
            scenario = lane_scenario(directory / "lane.toml", camera_port=self.http_port)
            self.sim = self._stack.enter_context(ModbusSim.lane(scenario))
            self.site = site_file(
                directory, key=self.central.edge.key, broker_url=broker_url or broker.url,
                line_url=self.sim.url, http_port=self.http_port, site_id=self.central.edge.site,
            )  # fmt: skip
            text = self.site.read_text(encoding="utf-8")
            assert "heartbeat_s = 2\n" in text
            self.site.write_text(
                text.replace("heartbeat_s = 2\n", f"heartbeat_s = {heartbeat_s}\n"),
                encoding="utf-8",
            )
            self.edge = self._start_edge()
            self._stack.callback(self._stop_edge)
        except BaseException:
            self._stack.close()
            raise

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> GateHouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the edge process ------------------------------------------------------------------

    def _start_edge(self) -> EdgeProcess:
        return EdgeProcess(
            self.site, http_port=self.http_port, log_path=self.directory / "edge.log"
        )

    def _stop_edge(self) -> None:
        self.edge.stop()  # the current process: restarts replace it

    def kill_edge(self) -> None:
        """SIGKILL: no clean stop, no offline status of its own (the broker's Last Will)."""
        self.edge.kill()

    def restart_edge(self) -> None:
        self.edge = self._start_edge()

    @property
    def device(self) -> str:
        return self.central.edge.device

    def uplink(self) -> dict[str, Any]:
        """The running edge's ``/healthz`` uplink view: connected, highest and acked seq."""
        view: dict[str, Any] = self.edge.get("/healthz")["uplink"]
        return view

    def journal(self) -> dict[int, bytes]:
        """Seq → record id of every record in the edge's journal (the edge must be stopped)."""
        with Journal.open(
            self.directory / "data" / "journal.db", key=self.central.edge.key,
            site=self.central.edge.site, device=self.device,
        ) as journal:  # fmt: skip
            return {entry.seq: entry.record_id for entry in journal.entries()}

    def journal_state(self) -> tuple[int, int]:
        """(highest seq, acked seq) of the journal (the edge must be stopped)."""
        with Journal.open(
            self.directory / "data" / "journal.db", key=self.central.edge.key,
            site=self.central.edge.site, device=self.device,
        ) as journal:  # fmt: skip
            return journal.highest_seq, journal.acked_seq

    # --- the lane --------------------------------------------------------------------------

    def ready(self, *, tickets: int) -> list[Ticket]:
        """``tickets`` tickets for PLATE, the site bundle published, the lane idle at zero with
        it (and the empty deck read stable long enough for the zero check)."""
        issued = [self.central.issue() for _ in range(tickets)]
        self.bundle_version = self.central.publish_bundle()
        self.idle_at_zero()
        return issued

    def idle_at_zero(self) -> None:
        seen: list[dict[str, Any]] = [{}]

        def ready() -> bool:
            lane = seen[0] = self.edge.lane()
            return bool(
                self.bundle_version is not None
                and (lane["bundle_version"] or 0) >= self.bundle_version  # a loading moves it
                and lane["weight_kg"] == 0
                and lane["state"] == "idle"
            )

        try:
            until(ready, what="the lane idle at zero with the site bundle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the lane: {seen[0]}") from None
        start = self.readings()  # zero before the transaction: a stable empty deck first
        until(lambda: self.readings() >= start + 25, what="2.5 s of readings of the empty deck")

    def readings(self) -> int:
        for line in self.edge.metrics().splitlines():
            if line.startswith('coalgate_edge_readings_total{lane="lane1"}'):
                return int(line.rsplit(" ", 1)[1])
        return 0

    def truck(self, plate: str = PLATE, *, load_kg: int = 33_000, stand_s: int = 4) -> None:
        """A 6-axle combination (tare 15 000 kg) drives on: gross 48 000 kg by default."""
        self.sim.truck(
            plate=plate, axles=6, kind="combination", tare_kg=15_000, load_kg=load_kg,
            stand_s=stand_s,
        )  # fmt: skip

    def decisions(self) -> list[dict[str, Any]]:
        decided: list[dict[str, Any]] = self.edge.lane()["decisions"]
        return decided

    def gone(self) -> bool:
        """Every truck has left the deck (through a barrier the edge raised)."""
        return not self.sim.state()["trucks"]

    # --- central ---------------------------------------------------------------------------

    def stored(self) -> list[StoredRecord]:
        """Every record central stored for the edge, in seq order."""
        found: list[StoredRecord] = []
        while page := self.central.store.records(
            self.device, after_seq=found[-1].seq if found else 0, limit=1000
        ):
            found += page
        return found

    def pause_ingest(self) -> None:
        """Stop central's ingest worker: records still reach the broker (its persistent session
        queues them) but nothing is stored or acked until ``resume_ingest``."""
        self.central.worker.stop()

    def resume_ingest(self) -> None:
        """A new ingest worker on the same session (client id), as after a restart."""
        worker = IngestWorker(
            store=self.central.store, keyring=KEYRING, mqtt_url=MqttUrl.parse(self.broker.url),
            batch_wait_s=0.01,
        )  # fmt: skip
        worker.start()
        worker.stats.duplicates += self.central.worker.stats.duplicates
        worker.stats.quarantined += self.central.worker.stats.quarantined
        self.central.worker = worker

    def contiguous(self) -> int:
        return self.central.store.contiguous(self.device)

    def status(self) -> str | None:
        """The edge's MQTT status as central's store has it (``online``/``offline``)."""
        for status in self.central.store.device_statuses():
            if status.device == self.device:
                return status.state
        return None

    def offline_alarms(self) -> int:
        return sum(
            1
            for alarm in self.central.store.alarms(limit=1000)
            if alarm.kind == "device_offline" and alarm.device == self.device
        )

    def delivery(self, *, upto: int) -> Delivery:
        """Count (the edge must be stopped: its journal is read)."""
        return delivery(
            self.journal(),
            self.stored(),
            equivocations=len(self.central.store.equivocations(self.device)),
            contiguous=self.contiguous(),
            upto=upto,
        )

    def drained(self, upto: int, *, within_s: float = 60) -> None:
        """Wait until central holds 1..``upto`` contiguously."""
        until(
            lambda: self.contiguous() >= upto,
            within_s=within_s,
            what=f"central holding seq 1..{upto} (it holds 1..{self.contiguous()})",
        )


@contextlib.contextmanager
def dashboard(gate: GateHouse) -> Iterator[Callable[[], dict[str, Any]]]:
    """Central's app on the gate's store (in process); yields a function returning the edge's
    entry in ``GET /dashboard/api/sites`` as a regulator sees it."""
    from central.api.app import create_app  # noqa: PLC0415 - the app only where it is used

    store = gate.central.store
    token, _row = create_token(store, role="regulator", actor="test", now_ms=wall_ms())
    app = create_app(store=store, keyring=KEYRING, settings=settings(gate.directory))
    with TestClient(app, base_url="http://testserver") as client:

        def device() -> dict[str, Any]:
            answer = client.get(
                "/dashboard/api/sites", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.text
            for site in answer.json()["sites"]:
                for entry in site["devices"]:
                    if entry["id"] == gate.device:
                        return dict(entry)
            raise AssertionError(f"{gate.device} is not on the dashboard")

        yield device
