"""Builders of valid bodies and records for the wire tests (real keys, real signatures)."""

from __future__ import annotations

from typing import Any

from wire.bodies import EventBody, EvidenceBody, ScaleInfo, Stability, StatusBody, WeighingBody
from wire.keys import SigningKey
from wire.records import ZERO_HASH, Record, record_id, sign_record

SITE = "yl-mine-a"
DEVICE = "yl-mine-a-gate-1"
TS = 1_795_977_600_000


def device_key(kid: str = DEVICE, seed_byte: int = 7) -> SigningKey:
    return SigningKey.from_seed(bytes([seed_byte]) * 32, kid=kid)


def weighing(**changes: Any) -> WeighingBody:
    values: dict[str, Any] = {
        "lane": "lane-1",
        "direction": "out",
        "pass_": "single",
        "plate": "陕K12345",
        "plate_conf": 97,
        "plate_source": "camera",
        "ticket": bytes.fromhex("00112233445566778899aabbccddeeff"),
        "gross_kg": 49_020,
        "tare_kg": 15_020,
        "net_kg": 34_000,
        "tare_source": "stored",
        "axles": 6,
        "decision": "release",
        "reasons": ("ok",),
        "evidence": b"\xee" * 32,
        "operator": None,
    }
    values.update(changes)
    return WeighingBody(**values)


def evidence() -> EvidenceBody:
    return EvidenceBody(
        lane="lane-1",
        scale=ScaleInfo(protocol="mt-sics", division_kg=20, capacity_kg=100_000),
        stability=Stability(band_e=1, window_ms=1000),
        readings=((0, 49_020), (250, 49_040), (500, 49_020)),
        beams={"front": ((0, True),), "rear": ((0, True), (800, False))},
        plate_reads=(),
        photos=(b"\x01" * 32,),
    )


def event() -> EventBody:
    return EventBody(
        lane="lane-1",
        kind="escape",
        severity="alarm",
        detail={"plate": "陕K12345", "speed_kmh": 12},
        ref=None,
    )


def status() -> StatusBody:
    return StatusBody(
        uptime_s=300, lanes={"lane-1": "idle"}, backlog=0, bundle_version=4, version="0.1.0"
    )


BODIES = {"weighing": weighing, "evidence": evidence, "event": event, "status": status}


def chain(key: SigningKey, count: int, *, site: str = SITE) -> list[Record]:
    """``count`` correctly linked records of mixed types."""
    records: list[Record] = []
    prev = ZERO_HASH
    makers = list(BODIES.values())
    for seq in range(1, count + 1):
        body = makers[seq % len(makers)]()
        record = sign_record(
            key, site=site, device=key.kid, seq=seq, prev=prev, ts=TS + seq * 1000, body=body
        )
        assert record.id == record_id(record.raw)
        records.append(record)
        prev = record.id
    return records
