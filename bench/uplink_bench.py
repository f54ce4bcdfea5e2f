"""Backlog drain: records queued offline in the journal, then drained to an acking central.

    python bench/uplink_bench.py [--records 50000] [--window 200] [--mqtt 5|3.1.1] [--verify]

The edge side is the real thing: ``edge.journal.store.Journal`` (SQLite WAL, synchronous=FULL;
each append signs, chains and commits) and ``edge.uplink.client.Uplink`` over a private
Mosquitto (``max_queued_messages 0``) on a free port. The central side, in its own process
(as it would be), is a paho QoS 1 subscriber that decodes each record (with ``--verify`` also
checks its Ed25519 signature, raw, as ingest_bench's reference pipeline; central's full ingest
is that bench's subject) and, like the ingest worker, acks the highest contiguous seq once per
batch, signed by a central key; it reports what it counted when its stdin closes.

Figures: appends/s while queueing (signing and an fsync'd commit each); drain rate = records /
(uplink start → the journal holds central's ack of the last record), target ≥ 2,000/s; loss
(seqs never received) and duplicates (received more than once), both counted at the consumer,
targets zero; resends and refused publishes from the uplink's own counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import queue
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt
from cryptography.exceptions import InvalidSignature
from paho.mqtt.enums import CallbackAPIVersion

from edge.journal.store import Journal
from edge.uplink.client import Uplink
from wire.acks import build_ack
from wire.bodies import StatusBody
from wire.keyfiles import read_public_key, read_signing_key, write_key_pair
from wire.keys import KeySet, SigningKey
from wire.topics import ack_topic, record_topic

SITE = "bench-mine"
DEVICE = "bench-mine-gate-1"
CENTRAL_KID = "central-20261129"


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
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


class Central:
    """Verifies records and acks the contiguous seq once per batch (as the ingest worker)."""

    def __init__(
        self, port: int, *, device_keys: KeySet, central: SigningKey, verify: bool
    ) -> None:
        self._verify = verify
        self.counts: Counter[int] = Counter()
        self.bad = 0
        self.contiguous = 0
        self._key = device_keys[DEVICE].key
        self._central = central
        self._inbox: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="central-bench", protocol=mqtt.MQTTv311
        )
        self.client.max_queued_messages_set(0)
        self.client.on_connect = lambda c, *_: c.subscribe(record_topic(SITE, DEVICE), qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = lambda _c, _u, m: self._inbox.put(bytes(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the bench central could not subscribe")
        self._thread = threading.Thread(target=self._run, name="bench-central")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._inbox.get(timeout=0.1)]
            except queue.Empty:
                continue
            deadline = time.monotonic() + 0.005
            while len(batch) < 500 and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    batch.append(self._inbox.get(timeout=0.001))
            for raw in batch:
                seq = self._check(raw)
                if seq is None:
                    self.bad += 1
                else:
                    self.counts[seq] += 1
            while self.counts[self.contiguous + 1]:
                self.contiguous += 1
            ack = build_ack(
                self._central, device=DEVICE, seq=self.contiguous, ts=time.time_ns() // 10**6
            )
            self.client.publish(ack_topic(SITE, DEVICE), ack.raw, qos=1)

    def _check(self, raw: bytes) -> int | None:
        """The record's seq (None if it is not a COSE_Sign1 record or, with ``verify``, if its
        Ed25519 signature does not verify: the raw check of ingest_bench's reference)."""
        try:
            tag = cbor2.loads(raw)
            protected, _unprotected, payload, signature = tag.value
            if self._verify:
                to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
                self._key.verify(signature, to_be_signed)
            seq: int = cbor2.loads(payload)["seq"]
        except (ValueError, TypeError, KeyError, InvalidSignature, cbor2.CBORDecodeError):
            return None
        return seq

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.disconnect()
        self.client.loop_stop()


def fill(journal: Journal, records: int) -> float:
    """Queue ``records`` heartbeat-sized records offline; appends/s."""
    start = time.perf_counter()
    for number in range(1, records + 1):
        body = StatusBody(
            uptime_s=number, lanes={"lane-1": "idle"}, backlog=number, bundle_version=1, version="b"
        )
        journal.append(record_type="status", body=body, ts_ms=1_796_083_200_000 + number)
    return records / (time.perf_counter() - start)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drain(journal: Journal, uplink: Uplink, records: int) -> tuple[float, float]:
    """Records/s to the last ack, and the edge's CPU seconds (all its threads) meanwhile."""
    task = asyncio.create_task(uplink.run(), name="bench-uplink")
    start, cpu = time.perf_counter(), cpu_s()
    try:
        async with asyncio.timeout(max(120, records / 100)):
            while journal.acked_seq < records:  # noqa: ASYNC110  # a poll keeps the bench plain
                await asyncio.sleep(0.01)
        return records / (time.perf_counter() - start), cpu_s() - cpu
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve_central(port: int, keys_dir: Path, *, verify: bool) -> None:
    """The consumer process: count and ack until stdin closes, then print the counts."""
    device_keys = KeySet([read_public_key(keys_dir / f"{DEVICE}.pub")])
    central = read_signing_key(keys_dir / f"{CENTRAL_KID}.key")
    consumer = Central(port, device_keys=device_keys, central=central, verify=verify)
    print("ready", flush=True)
    cpu = cpu_s()
    sys.stdin.read()
    consumer.close()
    received = sum(consumer.counts.values())
    report = {
        "received": received,
        "unique": len(consumer.counts),
        "bad": consumer.bad,
        "cpu_s": cpu_s() - cpu,
    }
    print(json.dumps(report), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--mqtt", choices=["5", "3.1.1"], default="5")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="the consumer also checks each record's signature (on a small shared machine its "
        "CPU, not the edge's, then sets the pace)",
    )
    parser.add_argument(
        "--serve-central", nargs=2, metavar=("PORT", "KEYS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_central:
        serve_central(int(args.serve_central[0]), Path(args.serve_central[1]), verify=args.verify)
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    device = SigningKey.generate(kid=DEVICE)
    central = SigningKey.generate(kid=CENTRAL_KID)
    with tempfile.TemporaryDirectory(prefix="coalgate-uplink-bench-") as tmp_name:
        tmp = Path(tmp_name)
        keys_dir = tmp / "keys"
        keys_dir.mkdir()
        write_key_pair(device, keys_dir)
        write_key_pair(central, keys_dir)
        with Journal.open(tmp / "journal.db", key=device, site=SITE, device=DEVICE) as journal:
            print(f"queueing {args.records} records offline …", flush=True)
            append_rate = fill(journal, args.records)
            with mosquitto(tmp) as port:
                consumer = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--serve-central",
                        str(port),
                        str(keys_dir),
                        *(["--verify"] if args.verify else []),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert consumer.stdin is not None
                assert consumer.stdout is not None
                try:
                    if consumer.stdout.readline().strip() != "ready":
                        raise RuntimeError("the consumer did not start")
                    uplink = Uplink(
                        journal=journal,
                        url=f"mqtt://127.0.0.1:{port}",
                        central_keys=KeySet([central.public]),
                        mqtt_version=args.mqtt,
                        window=args.window,
                        software_version="bench",
                    )
                    rate, edge_cpu = asyncio.run(drain(journal, uplink, args.records))
                finally:
                    consumer.stdin.close()
                    counted = json.loads(consumer.stdout.readline() or "{}")
                    consumer.wait(30)
    missing = args.records - counted["unique"]
    duplicates = counted["received"] - counted["unique"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    checks = "checks every signature" if args.verify else "decodes, counts and acks"
    print(f"MQTT {args.mqtt}, window {args.window}; the consumer {checks}")
    print(f"journal appends (sign + fsync'd commit): {append_rate:,.0f} records/s")
    print(f"backlog drain to acks: {rate:,.0f} records/s  (target >= 2,000)")
    per_record = 1e6 / args.records
    print(
        f"CPU per record: edge {edge_cpu * per_record:.0f} µs, "
        f"consumer {counted['cpu_s'] * per_record:.0f} µs  (on {os.cpu_count()} shared cores)"
    )
    print(f"lost (never received): {missing}  (target 0)")
    print(f"duplicates at the consumer: {duplicates}  (target 0)")
    print(f"records the consumer refused: {counted['bad']}")
    print(f"uplink resends: {uplink.window.resends}")
    print(f"uplink refused publishes: {uplink.stats.publish_refused}")
    print(f"edge peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
