"""Real parts for the central-side fault tests: central's ingest as a process, a private
PostgreSQL cluster the test can crash, an observer on the broker that audits every ack against
the database at the moment it arrives, and figures read back from the store.

Nothing here is a mock: the ingest process is ``python -m coalgate central ingest``, the
cluster is ``initdb``/``pg_ctl`` from the PostgreSQL installation run as an unprivileged user,
and the broker is the test's private Mosquitto.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from central.store.base import Store
from tests.conftest import free_port
from wire.acks import verify_ack
from wire.errors import WireError
from wire.keys import KeySet
from wire.records import Record
from wire.topics import RECORD_FILTER

PG_BIN = Path(os.environ.get("COALGATE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
ACK_FILTER = "cg/v1/+/+/down/ack"


def until(
    condition: Callable[[], bool], *, timeout_s: float, what: str, every_s: float = 0.02
) -> None:
    """Wait (bounded) for ``condition``; ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(every_s)


# --- counting what is stored -----------------------------------------------------------------


class StoredCounter(Protocol):
    """Reads the records table directly; ``None`` when the database cannot be reached now."""

    def total(self) -> int | None: ...

    def upto(self, device: str, seq: int) -> int | None: ...

    def close(self) -> None: ...


class PgCounter:
    """One autocommit connection, reopened after a failure (one instance per thread)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[tuple[int]] | None = None

    def _scalar(self, sql: str, params: Sequence[object] = ()) -> int | None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=2)
            row = self._conn.execute(sql, params).fetchone()
        except psycopg.OperationalError:
            self.close()
            return None
        return int(row[0]) if row is not None else 0

    def total(self) -> int | None:
        return self._scalar("SELECT count(*) FROM records")

    def upto(self, device: str, seq: int) -> int | None:
        return self._scalar(
            "SELECT count(*) FROM records WHERE device = %s AND seq <= %s", (device, seq)
        )

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class SqliteCounter:
    """A fresh read-only connection per question (WAL readers never block the writer)."""

    def __init__(self, path: Path) -> None:
        self._uri = f"file:{path}?mode=ro"

    def _scalar(self, sql: str, params: Sequence[object] = ()) -> int | None:
        try:
            conn = sqlite3.connect(self._uri, uri=True, timeout=5)
            try:
                row = conn.execute(sql, tuple(params)).fetchone()
            finally:
                conn.close()
        except sqlite3.OperationalError:
            return None
        return int(row[0]) if row is not None else 0

    def total(self) -> int | None:
        return self._scalar("SELECT count(*) FROM records")

    def upto(self, device: str, seq: int) -> int | None:
        return self._scalar(
            "SELECT count(*) FROM records WHERE device = ? AND seq <= ?", (device, seq)
        )

    def close(self) -> None:
        pass


# --- the observer on the broker --------------------------------------------------------------


@dataclass
class AckAudit:
    """Figures of the observer: every verified ack is checked against the records table."""

    acks: int = 0
    checked_at_arrival: int = 0
    deferred: list[tuple[str, int]] = field(default_factory=list)
    early: list[tuple[str, int, int]] = field(default_factory=list)
    """(device, acked seq, records of the device stored up to that seq) where fewer were
    stored than acked: an ack for a record central did not have on disk."""
    forged: int = 0
    arrivals: list[float] = field(default_factory=list)


class BrokerObserver:
    """A separate MQTT client that sees every record the edges publish (resends included) and
    every ack central sends, and checks each ack against the database as it arrives."""

    def __init__(
        self,
        *,
        port: int,
        central_keys: KeySet,
        counter: StoredCounter,
        records: Mapping[bytes, tuple[str, int]],
    ) -> None:
        self._keys = central_keys
        self._counter = counter
        self._records = records
        self._lock = threading.Lock()
        self.published = 0
        self.seen: set[tuple[str, int]] = set()
        self.audit = AckAudit()
        self._ready = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"observer-{uuid.uuid4().hex[:8]}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._ready.wait(10):
            self.close()
            raise RuntimeError("the observer could not subscribe")

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe([(RECORD_FILTER, 1), (ACK_FILTER, 1)])

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        payload = bytes(message.payload)
        if message.topic.endswith("/up/record"):
            with self._lock:
                self.published += 1
                known = self._records.get(payload)
                if known is not None:
                    self.seen.add(known)
            return
        try:
            ack = verify_ack(payload, self._keys)
        except WireError:
            self.audit.forged += 1
            return
        if ack.reject is not None:
            return
        stored = self._counter.upto(ack.device, ack.seq)
        with self._lock:
            self.audit.acks += 1
            self.audit.arrivals.append(time.monotonic())
            if stored is None:
                self.audit.deferred.append((ack.device, ack.seq))
            else:
                self.audit.checked_at_arrival += 1
                if stored < ack.seq:
                    self.audit.early.append((ack.device, ack.seq, stored))

    def unstored_on_the_wire(self, stored: int) -> int:
        """Distinct records the edges have handed to the broker minus those stored."""
        with self._lock:
            return len(self.seen) - stored

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._counter.close()


# --- central's ingest as a process -----------------------------------------------------------


class IngestProcess:
    """``python -m coalgate central ingest`` with its settings in the environment; each run
    writes its own log so a failure shows what the process said."""

    def __init__(
        self, *, directory: Path, data_dir: Path, database_url: str, mqtt_url: str
    ) -> None:
        self._directory = directory
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("COALGATE_")}
        self._env |= {
            "COALGATE_DATA_DIR": str(data_dir),
            "COALGATE_DATABASE_URL": database_url,
            "COALGATE_MQTT_URL": mqtt_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.log: Path | None = None

    def start(self) -> None:
        self.runs += 1
        self.log = self._directory / f"ingest-{self.runs}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "coalgate", "central", "ingest"],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        until(self._ready, timeout_s=30, what=f"central ingest run {self.runs} ready")

    def _ready(self) -> bool:
        assert self.process is not None
        assert self.log is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"central ingest exited early:\n{self.output()}")
        return "ingesting from" in self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """kill -9: no finally blocks, no goodbye to the broker, no flush."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> int:
        """SIGTERM (the graceful stop); the exit status."""
        assert self.process is not None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=30)
        finally:
            self.kill()
        return code

    def close(self) -> None:
        self.kill()


# --- a private PostgreSQL cluster the test may crash -----------------------------------------


class PrivatePostgres:
    """A throwaway cluster owned by an unprivileged user (PostgreSQL refuses to run as root):
    trust auth, its own port, its unix socket in its own directory."""

    def __init__(self, *, user: str = "nobody") -> None:
        if not (PG_BIN / "initdb").exists():
            raise FileNotFoundError(f"no initdb in {PG_BIN}")
        self.user = user
        entry = pwd.getpwnam(user)
        self.root = Path(tempfile.mkdtemp(prefix="coalgate-pg-"))
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.data = self.root / "data"
        self.port = free_port()
        self.dsn = f"postgresql://root@127.0.0.1:{self.port}/postgres"
        self.running = False
        try:
            self._as_user("initdb", "-D", str(self.data), "-A", "trust", "-U", "root",
                          "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _as_user(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", self.user, "--", str(PG_BIN / program), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}")

    def start(self) -> None:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.root} -c max_connections=40"
        )
        self._as_user("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                      "-o", options, "-w", "-t", "30", "start")  # fmt: skip
        self.running = True

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: every backend dies at once, recovery on next start."""
        self._as_user("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.running = False

    def server_log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.crash()
        shutil.rmtree(self.root, ignore_errors=True)


# --- reading the result back -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFigures:
    stored: int
    exact: int
    """Stored records byte-identical to the one the edge signed for that (device, seq)."""
    lost: int
    extra: int
    """Stored rows that are not one of the sent records (a doubled or altered row)."""
    equivocations: int
    quarantined: int
    contiguous_ok: bool


def stored_figures(store: Store, chains: Mapping[str, Sequence[Record]]) -> StoredFigures:
    stored = exact = extra = equivocations = 0
    contiguous_ok = True
    sent = sum(len(chain) for chain in chains.values())
    for device, chain in chains.items():
        rows = []
        after = 0
        while batch := store.records(device, after_seq=after, limit=1000):
            rows.extend(batch)
            after = batch[-1].seq
        stored += len(rows)
        expected = {record.seq: record.raw for record in chain}
        exact += sum(1 for row in rows if expected.get(row.seq) == row.raw)
        extra += sum(1 for row in rows if expected.get(row.seq) != row.raw)
        if [row.seq for row in rows] != list(range(1, len(chain) + 1)):
            contiguous_ok = False
        if store.contiguous(device) != len(chain):
            contiguous_ok = False
        equivocations += len(store.equivocations(device))
    return StoredFigures(
        stored=stored,
        exact=exact,
        lost=sent - exact,
        extra=extra,
        equivocations=equivocations,
        quarantined=len(store.quarantined()),
        contiguous_ok=contiguous_ok,
    )
