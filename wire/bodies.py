"""The four record bodies of WIRE.md "Records", read from and written to payload maps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from wire.errors import SchemaError
from wire.fields import Fields

RecordType: TypeAlias = Literal["weighing", "evidence", "event", "status"]
RECORD_TYPES: tuple[RecordType, ...] = ("weighing", "evidence", "event", "status")

SCALE_PROTOCOLS = frozenset({"mt-sics", "toledo", "xk3190-a9", "xk3190-a12", "xk3190-eq", "modbus"})
LANE_STATES = frozenset(
    {
        "idle",
        "arriving",
        "positioning",
        "settling",
        "deciding",
        "releasing",
        "exiting",
        "held",
        "fault",
    }
)
SEVERITIES = frozenset({"info", "warning", "alarm"})
REASON_CODES = frozenset(
    {
        "ok",
        "plate_low_confidence",
        "no_ticket",
        "ticket_expired",
        "ticket_used",
        "ticket_revoked",
        "ticket_wrong_site",
        "ticket_bad_signature",
        "plate_mismatch",
        "overload_gross",
        "over_ticket_max",
        "tare_deviation",
        "not_positioned",
        "unstable",
        "zero_not_ok",
        "scale_fault",
        "io_fault",
        "journal_fault",
        "manual_override",
    }
)
"""Reason codes known to this version. Codes may be added (WIRE.md), so readers keep unknown
ones; writers in this code base use only these."""

_NO_EXTRAS: Mapping[str, Any] = MappingProxyType({})


def _no_extras() -> Mapping[str, Any]:
    return _NO_EXTRAS


_HASH = 32
_TICKET_ID = 16


def _merge(known: dict[str, Any], extras: Mapping[str, Any]) -> dict[str, Any]:
    clash = known.keys() & extras.keys()
    if clash:
        raise SchemaError(f"extra keys {sorted(clash)} shadow defined fields")
    return {**extras, **known}


def _text_list(fields: Fields, name: str) -> tuple[str, ...]:
    items = fields.array(name)
    if not all(type(item) is str and item for item in items):
        raise fields.fail(name, "must be an array of non-empty text")
    return tuple(items)


@dataclass(frozen=True, slots=True, kw_only=True)
class WeighingBody:
    """One pass over the scale, with the decision taken. ``pass_`` is the wire key ``pass``."""

    lane: str
    direction: Literal["out", "in"]
    pass_: Literal["first", "second", "single"]
    plate: str
    plate_conf: int
    plate_source: Literal["camera", "manual"]
    ticket: bytes | None
    gross_kg: int
    tare_kg: int | None
    net_kg: int | None
    tare_source: Literal["weighed", "stored"] | None
    axles: int | None
    decision: Literal["release", "hold"]
    reasons: tuple[str, ...]
    evidence: bytes
    operator: str | None
    extras: Mapping[str, Any] = field(default_factory=_no_extras, compare=False)

    TYPE = "weighing"
    BYTES_FIELDS = ("ticket", "evidence")

    @classmethod
    def read(cls, fields: Fields) -> WeighingBody:
        body = cls(
            lane=fields.text("lane", max_len=63),
            direction=fields.text("direction", choices=("out", "in")),  # type: ignore[arg-type]
            pass_=fields.text("pass", choices=("first", "second", "single")),  # type: ignore[arg-type]
            plate=fields.text("plate", max_len=16),
            plate_conf=fields.uint("plate_conf", maximum=100),
            plate_source=fields.text("plate_source", choices=("camera", "manual")),  # type: ignore[arg-type]
            ticket=fields.bstr_or_none("ticket", size=_TICKET_ID),
            gross_kg=fields.integer("gross_kg"),
            tare_kg=fields.integer_or_none("tare_kg"),
            net_kg=fields.integer_or_none("net_kg"),
            tare_source=fields.text_or_none("tare_source", choices=("weighed", "stored")),  # type: ignore[arg-type]
            axles=fields.uint_or_none("axles"),
            decision=fields.text("decision", choices=("release", "hold")),  # type: ignore[arg-type]
            reasons=_text_list(fields, "reasons"),
            evidence=fields.bstr("evidence", size=_HASH),
            operator=fields.text_or_none("operator", max_len=63),
            extras=fields.extras(),
        )
        if not body.reasons:
            raise fields.fail("reasons", "must name at least one reason code")
        return body

    def to_map(self) -> dict[str, Any]:
        return _merge(
            {
                "lane": self.lane,
                "direction": self.direction,
                "pass": self.pass_,
                "plate": self.plate,
                "plate_conf": self.plate_conf,
                "plate_source": self.plate_source,
                "ticket": self.ticket,
                "gross_kg": self.gross_kg,
                "tare_kg": self.tare_kg,
                "net_kg": self.net_kg,
                "tare_source": self.tare_source,
                "axles": self.axles,
                "decision": self.decision,
                "reasons": list(self.reasons),
                "evidence": self.evidence,
                "operator": self.operator,
            },
            self.extras,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateRead:
    plate: str
    conf: int
    camera: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleInfo:
    protocol: str
    division_kg: int
    capacity_kg: int
    extras: Mapping[str, Any] = field(default_factory=_no_extras, compare=False)

    @classmethod
    def read(cls, fields: Fields) -> ScaleInfo:
        return cls(
            protocol=fields.text("protocol", choices=SCALE_PROTOCOLS),
            division_kg=fields.uint("division_kg"),
            capacity_kg=fields.uint("capacity_kg"),
            extras=fields.extras(),
        )

    def to_map(self) -> dict[str, Any]:
        known = {
            "protocol": self.protocol,
            "division_kg": self.division_kg,
            "capacity_kg": self.capacity_kg,
        }
        return _merge(known, self.extras)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stability:
    band_e: int
    window_ms: int
    extras: Mapping[str, Any] = field(default_factory=_no_extras, compare=False)

    @classmethod
    def read(cls, fields: Fields) -> Stability:
        return cls(
            band_e=fields.uint("band_e"),
            window_ms=fields.uint("window_ms"),
            extras=fields.extras(),
        )

    def to_map(self) -> dict[str, Any]:
        return _merge({"band_e": self.band_e, "window_ms": self.window_ms}, self.extras)


def _pairs(fields: Fields, name: str, second: type, problem: str) -> tuple[tuple[int, Any], ...]:
    items = fields.array(name)
    if not all(
        type(item) is list and len(item) == 2 and type(item[0]) is int and type(item[1]) is second
        for item in items
    ):
        raise fields.fail(name, problem)
    return tuple((item[0], item[1]) for item in items)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceBody:
    """What is needed to reconstruct a weighing (WELMEC 7.2), kept apart to keep it small."""

    lane: str
    scale: ScaleInfo
    stability: Stability
    readings: tuple[tuple[int, int], ...]
    beams: Mapping[str, tuple[tuple[int, bool], ...]]
    plate_reads: tuple[PlateRead, ...]
    photos: tuple[bytes, ...]
    extras: Mapping[str, Any] = field(default_factory=_no_extras, compare=False)

    TYPE = "evidence"
    BYTES_FIELDS = ("photos",)

    @classmethod
    def read(cls, fields: Fields) -> EvidenceBody:
        lane = fields.text("lane", max_len=63)
        scale = ScaleInfo.read(fields.nested("scale"))
        stability = Stability.read(fields.nested("stability"))
        readings = _pairs(fields, "readings", int, "must be an array of [offset_ms, kg] integers")
        beams: dict[str, tuple[tuple[int, bool], ...]] = {}
        beam_fields = fields.nested("beams")
        for name in fields.map("beams"):
            if type(name) is not str:
                raise fields.fail("beams", "must map beam names to arrays of [offset_ms, bool]")
            beams[name] = _pairs(beam_fields, name, bool, "must be an array of [offset_ms, bool]")
        plate_reads = []
        for item in fields.array("plate_reads"):
            if not (
                type(item) is list
                and len(item) == 3
                and type(item[0]) is str
                and type(item[1]) is int
                and 0 <= item[1] <= 100
                and type(item[2]) is str
            ):
                raise fields.fail("plate_reads", "must be an array of [plate, conf 0-100, camera]")
            plate_reads.append(PlateRead(plate=item[0], conf=item[1], camera=item[2]))
        photos = fields.array("photos")
        if not all(type(p) is bytes and len(p) == _HASH for p in photos):
            raise fields.fail("photos", "must be an array of 32-byte SHA-256 hashes")
        return cls(
            lane=lane,
            scale=scale,
            stability=stability,
            readings=readings,
            beams=MappingProxyType(beams),
            plate_reads=tuple(plate_reads),
            photos=tuple(photos),
            extras=fields.extras(),
        )

    def to_map(self) -> dict[str, Any]:
        return _merge(
            {
                "lane": self.lane,
                "scale": self.scale.to_map(),
                "stability": self.stability.to_map(),
                "readings": [list(r) for r in self.readings],
                "beams": {name: [list(c) for c in changes] for name, changes in self.beams.items()},
                "plate_reads": [[p.plate, p.conf, p.camera] for p in self.plate_reads],
                "photos": list(self.photos),
            },
            self.extras,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBody:
    """An alarm, fault, override or other event; ``kind`` is open-ended (WIRE.md lists some)."""

    lane: str | None
    kind: str
    severity: Literal["info", "warning", "alarm"]
    detail: Mapping[Any, Any]
    ref: bytes | None
    extras: Mapping[str, Any] = field(default_factory=_no_extras, compare=False)

    TYPE = "event"
    BYTES_FIELDS = ("ref",)

    @classmethod
    def read(cls, fields: Fields) -> EventBody:
        return cls(
            lane=fields.text_or_none("lane", max_len=63),
            kind=fields.text("kind", max_len=63),
            severity=fields.text("severity", choices=SEVERITIES),  # type: ignore[arg-type]
            detail=MappingProxyType(fields.map("detail")),
            ref=fields.bstr_or_none("ref", size=_HASH),
            extras=fields.extras(),
        )

    def to_map(self) -> dict[str, Any]:
        return _merge(
            {
                "lane": self.lane,
                "kind": self.kind,
                "severity": self.severity,
                "detail": dict(self.detail),
                "ref": self.ref,
            },
            self.extras,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusBody:
    """The signed heartbeat: proof of life inside the chain."""

    uptime_s: int
    lanes: Mapping[str, str]
    backlog: int
    bundle_version: int | None
    version: str
    extras: Mapping[str, Any] = field(default_factory=_no_extras, compare=False)

    TYPE = "status"
    BYTES_FIELDS = ()

    @classmethod
    def read(cls, fields: Fields) -> StatusBody:
        uptime_s = fields.uint("uptime_s")
        lanes = fields.map("lanes")
        for lane, state in lanes.items():
            if type(lane) is not str or type(state) is not str or state not in LANE_STATES:
                raise fields.fail(
                    "lanes", f"must map lane names to lane states, not {lane!r}: {state!r}"
                )
        return cls(
            uptime_s=uptime_s,
            lanes=MappingProxyType(lanes),
            backlog=fields.uint("backlog"),
            bundle_version=fields.uint_or_none("bundle_version"),
            version=fields.text("version", max_len=63),
            extras=fields.extras(),
        )

    def to_map(self) -> dict[str, Any]:
        return _merge(
            {
                "uptime_s": self.uptime_s,
                "lanes": dict(self.lanes),
                "backlog": self.backlog,
                "bundle_version": self.bundle_version,
                "version": self.version,
            },
            self.extras,
        )


Body: TypeAlias = WeighingBody | EvidenceBody | EventBody | StatusBody

BODY_TYPES: Mapping[
    str, type[WeighingBody] | type[EvidenceBody] | type[EventBody] | type[StatusBody]
] = MappingProxyType(
    {
        "weighing": WeighingBody,
        "evidence": EvidenceBody,
        "event": EventBody,
        "status": StatusBody,
    }
)


def read_body(record_type: str, data: object) -> Body:
    """Read the body map of a record of ``record_type``."""
    body_type = BODY_TYPES.get(record_type)
    if body_type is None:
        raise SchemaError(
            f"type {record_type!r} is not one of {', '.join(RECORD_TYPES)}", field="type"
        )
    return body_type.read(Fields(data, where="body"))
