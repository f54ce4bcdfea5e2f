"""Sustained ingest rate, publish to committed row, against a bare reference pipeline.

    python bench/ingest_bench.py [--records 20000] [--devices 10] [--backend sqlite|postgresql]

Both pipelines run in this process, one after the other, on the same pre-signed records and a
private Mosquitto (``max_queued_messages 0``) on a free port:

- reference: a paho QoS 1 subscriber → raw Ed25519 verify of each record's Sig_structure →
  ``executemany`` into SQLite (or binary COPY into PostgreSQL), in batches;
- coalgate: ``central.ingest.worker.IngestWorker`` → full verification (wire) → ``Store.ingest``
  → signed acks.

Rate = records / (first publish → last row committed); the target is coalgate ≥ 70 % of the
reference. Latency is measured at half coalgate's maximum rate: publish time of a record to
the arrival of the ack that covers it (central acks only after the commit), p50 and p99.
RSS is the process's peak resident set. PostgreSQL uses ``COALGATE_BENCH_POSTGRES``
(default ``postgresql://root@127.0.0.1:5432/postgres``), in a database made for the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import queue
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.keyring import Keyring, load_keyring
from central.registry import enroll
from central.store import open_store
from central.store.base import Store
from central.store.model import Enterprise, Site
from wire import cose
from wire.acks import verify_ack
from wire.bodies import StatusBody
from wire.keys import SigningKey
from wire.records import ZERO_HASH, Record, sign_record
from wire.topics import RECORD_FILTER, ack_topic, record_topic

SITE = "bench-mine"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def mosquitto(directory: Path) -> Iterator[int]:
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def make_records(devices: int, per_device: int) -> list[tuple[SigningKey, list[Record]]]:
    chains: list[tuple[SigningKey, list[Record]]] = []
    for number in range(devices):
        key = SigningKey.generate(kid=f"bench-gate-{number:03d}")
        prev, chain = ZERO_HASH, []
        for seq in range(1, per_device + 1):
            body = StatusBody(
                uptime_s=seq, lanes={"lane-1": "idle"}, backlog=0, bundle_version=1, version="b"
            )
            record = sign_record(
                key, site=SITE, device=key.kid, seq=seq, prev=prev, ts=seq, body=body
            )
            chain.append(record)
            prev = record.id
        chains.append((key, chain))
    return chains


def interleaved(chains: list[tuple[SigningKey, list[Record]]]) -> list[Record]:
    return [
        record for group in zip(*(chain for _, chain in chains), strict=True) for record in group
    ]


def publisher(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_all(
    client: mqtt.Client, records: list[Record], *, rate: float | None = None
) -> dict[tuple[str, int], float]:
    sent: dict[tuple[str, int], float] = {}
    start = time.perf_counter()
    for index, record in enumerate(records):
        if rate is not None:
            due = start + index / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        sent[(record.device, record.seq)] = time.perf_counter()
        info = client.publish(record_topic(SITE, record.device), record.raw, qos=1)
        while info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # paho's own limit: wait and retry
            time.sleep(0.001)
            info = client.publish(record_topic(SITE, record.device), record.raw, qos=1)
    return sent


# --- reference pipeline ----------------------------------------------------------------------


def reference(
    port: int,
    records: list[Record],
    keys: dict[str, SigningKey],
    sink: Callable[[list[tuple[str, int, bytes]]], None],
) -> float:
    inbox: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="reference", protocol=mqtt.MQTTv311)
    client.on_connect = lambda c, *_: c.subscribe(RECORD_FILTER, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: inbox.put(bytes(m.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    subscribed.wait(10)
    publish = publisher(port, "reference-publisher")
    done = threading.Event()
    stored = 0

    def consume() -> None:
        nonlocal stored
        while stored < len(records):
            batch = [inbox.get()]
            while len(batch) < 500:
                try:
                    batch.append(inbox.get(timeout=0.005))
                except queue.Empty:
                    break
            rows = []
            for raw in batch:
                message = cose.parse_sign1(raw)
                keys[message.kid].public.key.verify(message.signature, cose.to_be_signed(message))
                rows.append((message.kid, message.payload["seq"], raw))
            sink(rows)
            stored += len(rows)
        done.set()

    consumer = threading.Thread(target=consume, name="reference-consumer")
    consumer.start()
    start = time.perf_counter()
    publish_all(publish, records)
    done.wait()
    elapsed = time.perf_counter() - start
    consumer.join()
    for each in (publish, client):
        each.disconnect()
        each.loop_stop()
    return len(records) / elapsed


def sqlite_sink(path: Path) -> Callable[[list[tuple[str, int, bytes]]], None]:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE records (device TEXT, seq INTEGER, raw BLOB, PRIMARY KEY (device, seq))"
    )

    def sink(rows: list[tuple[str, int, bytes]]) -> None:
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO records VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")

    return sink


def postgres_sink(dsn: str) -> Callable[[list[tuple[str, int, bytes]]], None]:
    import psycopg  # noqa: PLC0415 - only for the PostgreSQL run

    conn = psycopg.connect(dsn, autocommit=False)
    conn.execute(
        "CREATE TABLE ref_records (device text, seq bigint, raw bytea, PRIMARY KEY (device, seq))"
    )
    conn.commit()

    def sink(rows: list[tuple[str, int, bytes]]) -> None:
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY ref_records FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["text", "int8", "bytea"])
            for row in rows:
                copy.write_row(row)
        conn.commit()

    return sink


# --- coalgate pipeline -----------------------------------------------------------------------


def setup_store(store: Store, keyring: Keyring, keys: list[SigningKey]) -> None:
    store.migrate()
    store.add_enterprise(
        Enterprise(id="bench-co", name="bench", credit_code="0" * 18, land_mu=1.0, capacity_t=1),
        actor="bench",
        at=0,
    )
    store.add_site(
        Site(id=SITE, enterprise="bench-co", kind="coal_mine", name="bench"), actor="bench", at=0
    )
    for key in keys:
        pem = key.public.to_pem()
        enroll(
            store, keyring, issuer="bench", site=SITE, device=key.kid, public_key_pem=pem,
            now_ms=1_795_977_600_000, actor="bench",
        )  # fmt: skip


def coalgate_run(
    port: int, store: Store, keyring: Keyring, records: list[Record], *, rate: float | None
) -> tuple[float, list[float]]:
    """Records/s to the last ack, and per-record publish→ack latencies (s)."""
    per_device: dict[str, int] = {}
    for record in records:
        per_device[record.device] = max(per_device.get(record.device, 0), record.seq)
    acked: dict[str, int] = dict.fromkeys(per_device, 0)
    ack_times: list[tuple[str, int, float]] = []
    all_acked = threading.Event()
    subscribed = threading.Event()
    listener = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="ack-listener", protocol=mqtt.MQTTv311
    )

    def on_ack(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        ack = verify_ack(bytes(message.payload), keyring.published)
        now = time.perf_counter()
        if ack.seq > acked[ack.device]:
            acked[ack.device] = ack.seq
            ack_times.append((ack.device, ack.seq, now))
            if all(acked[d] >= per_device[d] for d in per_device):
                all_acked.set()

    listener.on_connect = lambda c, *_: c.subscribe([(ack_topic(SITE, d), 1) for d in per_device])
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.on_message = on_ack
    listener.connect("127.0.0.1", port)
    listener.loop_start()
    subscribed.wait(10)
    worker = IngestWorker(
        store=store, keyring=keyring, mqtt_url=MqttUrl.parse(f"mqtt://127.0.0.1:{port}")
    )
    worker.start()
    publish = publisher(port, "coalgate-publisher")
    start = time.perf_counter()
    sent = publish_all(publish, records, rate=rate)
    all_acked.wait(600)
    elapsed = time.perf_counter() - start
    worker.stop()
    for each in (publish, listener):
        each.disconnect()
        each.loop_stop()
    latencies = []
    covered: dict[str, list[tuple[int, float]]] = {}
    for device, seq, when in ack_times:
        covered.setdefault(device, []).append((seq, when))
    for (device, seq), published in sent.items():
        when = next(w for s, w in covered[device] if s >= seq)
        latencies.append(when - published)
    return len(records) / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    per_device = args.records // args.devices
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"signing {per_device * args.devices} records for {args.devices} devices …", flush=True)
    chains = make_records(args.devices, per_device)
    records = interleaved(chains)
    keys = {key.kid: key for key, _ in chains}

    with tempfile.TemporaryDirectory(prefix="coalgate-bench-") as tmp_name:
        tmp = Path(tmp_name)
        keyring = load_keyring(tmp / "keys", today=dt.date(2026, 11, 29))
        with mosquitto(tmp) as port:
            if args.backend == "sqlite":
                stores = _sqlite_stores(
                    tmp, port=port, records=records, keys=keys, keyring=keyring,
                    devices=list(keys.values()),
                )  # fmt: skip
            else:
                dsn = os.environ.get(
                    "COALGATE_BENCH_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres"
                )
                stores = _postgres_stores(
                    dsn, port=port, records=records, keys=keys, keyring=keyring,
                    devices=list(keys.values()),
                )  # fmt: skip
            with stores as (max_store, half_store, ref_rate):
                rate, _ = coalgate_run(port, max_store, keyring, records, rate=None)
                _, latencies = coalgate_run(port, half_store, keyring, records, rate=rate / 2)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backend: {args.backend}")
    sink = "executemany" if args.backend == "sqlite" else "COPY"
    print(f"reference (paho → raw verify → {sink}): {ref_rate:,.0f} records/s")
    print(f"coalgate ingest (one worker):              {rate:,.0f} records/s")
    print(f"ratio: {rate / ref_rate:.2f}  (target >= 0.70)")
    print(
        f"latency at {rate / 2:,.0f} records/s, publish → ack: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"peak RSS: {rss:.0f} MiB")


@contextmanager
def _sqlite_stores(
    tmp: Path,
    *,
    port: int,
    records: list[Record],
    keys: dict[str, SigningKey],
    keyring: Keyring,
    devices: list[SigningKey],
) -> Iterator[tuple[Store, Store, float]]:
    ref_rate = reference(port, records, keys, sqlite_sink(tmp / "reference.db"))
    stores = [open_store(f"sqlite:///{tmp / f'central-{name}.db'}") for name in ("max", "half")]
    try:
        for store in stores:
            setup_store(store, keyring, devices)
        yield stores[0], stores[1], ref_rate
    finally:
        for store in stores:
            store.close()


@contextmanager
def _postgres_stores(
    dsn: str,
    *,
    port: int,
    records: list[Record],
    keys: dict[str, SigningKey],
    keyring: Keyring,
    devices: list[SigningKey],
) -> Iterator[tuple[Store, Store, float]]:
    """Three databases made for this run (reference, max, half) and dropped afterwards."""
    import psycopg  # noqa: PLC0415 - only for the PostgreSQL run

    stamp = int(time.time())
    names = [f"coalgate_bench_{stamp}_{suffix}" for suffix in ("ref", "max", "half")]
    base = dsn.rsplit("/", 1)[0]
    with psycopg.connect(dsn, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
        stores: list[Store] = []
        try:
            ref_rate = reference(port, records, keys, postgres_sink(f"{base}/{names[0]}"))
            for name in names[1:]:
                store = open_store(f"{base}/{name}")
                stores.append(store)
                setup_store(store, keyring, devices)
            yield stores[0], stores[1], ref_rate
        finally:
            for store in stores:
                store.close()
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
