"""A running central for the forgery tests, and the forger's tools.

``running_central`` is the real thing on a real store: the region of tests/central/builders.py
registered (a mine with a gate, a smelter, a second mine), central's key, and an ingest worker
on the test's Mosquitto. The forger's tools take an honest signed object apart at the CBOR
level and put it back together altered (a payload changed under the old signature, one bit of
the signature flipped) or merely re-encoded, as a relay that decodes and re-encodes would
(same content, other bytes: WIRE.md "Canonical bytes").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.keyring import Keyring
from central.store import open_store
from central.store.base import Store
from central.store.model import Alarm, QuarantineEntry
from tests.central import builders as b
from tests.central.edge_peer import EdgePeer
from tests.conftest import Mosquitto

NOW = b.T0 + 2 * b.HOUR
"""Central's clock in these tests: two hours into 2026-12-01 (UTC)."""


def wait_for(condition: Callable[[], bool], *, timeout_s: float = 15.0, what: str = "") -> None:
    """Bounded poll: the worker and the test edges live on other threads."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not seen within {timeout_s} s: {what}")
        time.sleep(0.02)


@dataclass
class Central:
    """Central under test: its store, key, region and ingest worker."""

    store: Store
    keyring: Keyring
    worker: IngestWorker
    region: b.Region
    mosquitto: Mosquitto
    database_url: str

    def edge(self, who: b.Edge) -> EdgePeer:
        """A test edge for ``who`` on the broker, verifying acks with central's keys."""
        return EdgePeer(
            port=self.mosquitto.port,
            site=who.site,
            device=who.device,
            central_keys=self.keyring.published,
        )

    def quarantine(self) -> dict[str, QuarantineEntry]:
        """Quarantine entries by their raw bytes' hex (each distinct message once)."""
        return {entry.raw.hex(): entry for entry in self.store.quarantined(limit=1000)}

    def alarms(self, kind: str | None = None) -> list[Alarm]:
        return [a for a in self.store.alarms(limit=1000) if kind is None or a.kind == kind]


@contextlib.contextmanager
def running_central(
    database_url: str,
    mosquitto: Mosquitto,
    *,
    publish_bundles: bool = True,
    start_worker: bool = True,
) -> Iterator[Central]:
    """Central on ``database_url`` with the region registered; its worker started unless
    ``start_worker`` is false (then the test starts it: ``central.worker.start()``)."""
    store = open_store(database_url)
    try:
        store.migrate()
        region = b.Region().register(store)
        store.add_checkpoint(b.checkpoint(), actor="test", at=b.T0)
        keyring = b.central_keyring()
        worker = IngestWorker(
            store=store,
            keyring=keyring,
            mqtt_url=MqttUrl.parse(mosquitto.url),
            batch_wait_s=0.01,
            clock=lambda: NOW,
            publish_bundles=publish_bundles,
        )
        if start_worker:
            worker.start()
        try:
            yield Central(
                store=store,
                keyring=keyring,
                worker=worker,
                region=region,
                mosquitto=mosquitto,
                database_url=database_url,
            )
        finally:
            worker.stop()
    finally:
        store.close()


@contextlib.contextmanager
def edge_peer(central: Central, who: b.Edge) -> Iterator[EdgePeer]:
    peer = central.edge(who)
    try:
        yield peer
    finally:
        peer.close()


# --- the forger's tools ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parts:
    """A COSE_Sign1 taken apart: protected header bytes, payload bytes, signature."""

    protected: bytes
    payload: bytes
    signature: bytes


def take_apart(raw: bytes) -> Parts:
    value = cbor2.loads(raw)
    assert isinstance(value, cbor2.CBORTag)
    assert value.tag == 18
    protected, unprotected, payload, signature = value.value
    assert unprotected == {}
    return Parts(protected=protected, payload=payload, signature=signature)


def put_together(parts: Parts) -> bytes:
    """The canonical envelope around ``parts`` (the signature is not recomputed)."""
    message = cbor2.CBORTag(18, [parts.protected, {}, parts.payload, parts.signature])
    return cbor2.dumps(message, canonical=True)


def altered_payload(raw: bytes, changes: Mapping[Any, Any]) -> bytes:
    """``raw`` with payload fields changed (canonically encoded) under the old signature; a
    map value is merged into the field's map."""
    parts = take_apart(raw)
    payload = cbor2.loads(parts.payload)
    for name, value in changes.items():
        if isinstance(value, dict):
            payload[name] = {**payload[name], **value}
        else:
            payload[name] = value
    new = cbor2.dumps(payload, canonical=True)
    assert new != parts.payload
    return put_together(Parts(parts.protected, new, parts.signature))


def flipped_signature_bit(raw: bytes, bit: int = 0) -> bytes:
    parts = take_apart(raw)
    signature = bytearray(parts.signature)
    signature[bit // 8] ^= 1 << (bit % 8)
    return put_together(Parts(parts.protected, parts.payload, bytes(signature)))


def _bstr_long_head(data: bytes) -> bytes:
    """A byte string whose length is written in four bytes where fewer would do."""
    assert len(data) < 1 << 16
    return b"\x5a" + len(data).to_bytes(4, "big") + data


def relay_re_encodings(raw: bytes) -> dict[str, bytes]:
    """The same message as a relay that decodes and re-encodes it might send on: each variant
    carries exactly the content of ``raw`` (same header, payload values and signature), in
    bytes that are not deterministic CBOR."""
    parts = take_apart(raw)
    payload = cbor2.loads(parts.payload)
    reordered = cbor2.dumps(dict(reversed(list(payload.items()))), canonical=False)
    assert cbor2.loads(reordered) == payload
    assert reordered != parts.payload
    header = cbor2.loads(parts.protected)
    header_reordered = cbor2.dumps(dict(reversed(list(header.items()))), canonical=False)
    seq = payload["seq"]
    assert 0 < seq < 24
    short_seq = b"\x63seq" + bytes([seq])
    assert parts.payload.count(short_seq) == 1
    long_seq = parts.payload.replace(short_seq, b"\x63seq\x18" + bytes([seq]))
    assert cbor2.loads(long_seq) == payload
    body = raw[2:]  # after d2 84
    variants = {
        "tag 18 written in two bytes": b"\xd8\x12" + raw[1:],
        "indefinite-length array": b"\xd2\x9f" + body + b"\xff",
        "payload length in a longer head": (
            b"\xd2\x84"
            + cbor2.dumps(parts.protected)
            + b"\xa0"
            + _bstr_long_head(parts.payload)
            + cbor2.dumps(parts.signature)
        ),
        "payload map keys in another order": put_together(
            Parts(parts.protected, reordered, parts.signature)
        ),
        "payload seq in a longer integer form": put_together(
            Parts(parts.protected, long_seq, parts.signature)
        ),
        "protected header keys in another order": put_together(
            Parts(header_reordered, parts.payload, parts.signature)
        ),
    }
    for name, data in variants.items():
        assert data != raw, name
        again = cbor2.loads(data)
        assert again.value[0] in (parts.protected, header_reordered), name
        assert cbor2.loads(again.value[2]) == payload, name
        assert again.value[3] == parts.signature, name
    return variants
