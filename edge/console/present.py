# Chinese text takes full-width commas, which RUF001 takes for look-alikes.
# ruff: noqa: RUF001
"""What the console's pages are sent: the backend's views as JSON-ready values, the texts of
the reason codes, the shift's start, the tickets an operator may choose, the driver's receipt.

Pure: no I/O, no clock (``now_ms`` is an argument); the routes call these with what the
backend returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from edge.console.backend import (
    NO_BUNDLE,
    AlarmView,
    LaneView,
    LinkView,
    Outcome,
    PlateView,
    SayLine,
    WeighingView,
)
from edge.gate import prompts
from wire.bodies import WeighingBody
from wire.bundles import Bundle
from wire.errors import WireError
from wire.receipts import encode_receipt
from wire.records import decode_record

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
#: The gate keeps China Standard Time (UTC+8, no daylight saving) for its shifts.
CST_OFFSET_MS: Final = 8 * HOUR_MS
#: Shifts start at these hours, China time (08:00 and 20:00: two twelve-hour shifts).
SHIFT_HOURS: Final = (8, 20)
MAX_CHOICES: Final = 50

#: Reason codes the console shows besides the decision codes (``edge.gate.prompts.REASONS``).
EXTRA_REASONS: Final[Mapping[str, tuple[str, str]]] = {
    NO_BUNDLE: (
        "尚未收到站点数据包，无法核验煤票",
        "No site bundle yet: tickets cannot be checked",
    ),
    "camera_fault": ("车牌识别相机故障，请人工录入车牌", "Plate camera fault: type the plate"),
}
#: What the lane says when it refuses an operator's input (``edge.gate.prompts``).
REFUSALS: Final = frozenset(
    (say.text_zh, say.text_en)
    for say in (
        prompts.OVERRIDE_REFUSED,
        prompts.NOTHING_HELD,
        prompts.ZERO_REFUSED,
        prompts.NO_TRUCK,
        prompts.NO_IO_FAULT,
    )
)


def reason_texts() -> dict[str, dict[str, str]]:
    """Every reason code the console may show, in Chinese and English."""
    merged = {**prompts.REASONS, **EXTRA_REASONS}
    return {code: {"zh": zh, "en": en} for code, (zh, en) in merged.items()}


def shift_start(now_ms: int, hours: Sequence[int] = SHIFT_HOURS) -> int:
    """When the shift running at ``now_ms`` began (UTC ms): the latest shift hour, China time,
    at or before ``now_ms``."""
    local = now_ms + CST_OFFSET_MS
    day = local - local % DAY_MS
    starts = [day + d * DAY_MS + h * HOUR_MS for d in (-1, 0) for h in sorted(hours)]
    return max(s for s in starts if s <= local) - CST_OFFSET_MS


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _say(line: SayLine) -> dict[str, Any]:
    return {"at_ms": line.at_ms, "zh": line.text_zh, "en": line.text_en}


def _plate(plate: PlateView | None) -> dict[str, Any] | None:
    if plate is None:
        return None
    return {
        "plate": plate.plate,
        "confidence": plate.confidence,
        "source": plate.source,
        "camera": plate.camera,
        "at_ms": plate.at_ms,
    }


def weighing_json(view: WeighingView) -> dict[str, Any]:
    return {
        "seq": view.seq,
        "at_ms": view.at_ms,
        "lane": view.lane,
        "direction": view.direction,
        "pass": view.pass_,
        "decision": view.decision,
        "reasons": list(view.reasons),
        "plate": view.plate,
        "plate_conf": view.plate_conf,
        "plate_source": view.plate_source,
        "ticket": _hex(view.ticket),
        "gross_kg": view.gross_kg,
        "tare_kg": view.tare_kg,
        "net_kg": view.net_kg,
        "operator": view.operator,
        "receipt": view.receipt_possible,
    }


def _alarm(view: AlarmView) -> dict[str, Any]:
    return {
        "seq": view.seq,
        "at_ms": view.at_ms,
        "ref": view.record_id.hex(),
        "kind": view.kind,
        "severity": view.severity,
        "detail": _plain(view.detail),
    }


def lane_json(view: LaneView) -> dict[str, Any]:
    return {
        "lane": view.lane,
        "direction": view.direction,
        "state": view.state,
        "weight_kg": view.weight_kg,
        "stable": view.stable,
        "plate": _plate(view.plate),
        "ticket": _hex(view.ticket),
        "lights": {"red": view.red, "green": view.green},
        "barrier": {"up": view.barrier_up, "seen_up": view.barrier_seen_up},
        "faults": dict(view.faults),
        "held_because": list(view.held_because),
        "decisions": [weighing_json(d) for d in view.decisions],
        "alarms": [_alarm(a) for a in view.alarms],
        "said": [_say(s) for s in view.said],
    }


def link_json(view: LinkView) -> dict[str, Any]:
    return {
        "now_ms": view.now_ms,
        "connected": view.connected,
        "backlog": view.backlog,
        "highest_seq": view.highest_seq,
        "acked_seq": view.acked_seq,
        "last_ack_ms": view.last_ack_ms,
        "bundle_version": view.bundle_version,
        "rejected": view.rejected,
    }


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    said = [_say(s) for s in outcome.said]
    refused = any((s.text_zh, s.text_en) in REFUSALS for s in outcome.said)
    return {"state": outcome.state, "said": said, "refused": refused}


def _plain(value: object) -> Any:
    """Event details made JSON-ready (bytes as hex)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def ticket_choices(
    bundle: Bundle | None,
    *,
    site: str,
    direction: str,
    plate: str | None,
) -> list[dict[str, Any]]:
    """The bundle's tickets an operator may choose on a lane of ``direction``: sold here and
    not loaded (out), or destined here and loaded (in), not revoked; for ``plate`` when given.
    (The lane still checks the choice: a ticket it released before is ``ticket_used``.)"""
    if bundle is None:
        return []
    found = []
    for entry in bundle.tickets:
        ticket = entry.ticket
        if direction == "out" and (ticket.seller_site != site or entry.state != "issued"):
            continue
        if direction == "in" and (ticket.dest_site != site or entry.state != "loaded"):
            continue
        if plate and ticket.plate != plate:
            continue
        if ticket.cti in bundle.revoked:
            continue
        found.append(
            {
                "ticket": ticket.cti.hex(),
                "no": ticket.no,
                "plate": ticket.plate,
                "buyer": ticket.buyer,
                "coal": ticket.coal,
                "max_net_kg": ticket.max_net_kg,
                "exp_ms": ticket.exp * 1000,
            }
        )
    return sorted(found, key=lambda t: (t["plate"], t["no"]))[:MAX_CHOICES]


class ReceiptUnavailable(Exception):  # noqa: N818  # a result, not a fault
    """Why no receipt can be made of a record (``code``: not_found, not_receipt, no_ticket,
    no_certificate)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def receipt_text(
    *, record: bytes | None, bundle: Bundle | None, certificate: bytes | None
) -> tuple[str, WeighingView]:
    """The driver's receipt (``CR1:`` QR text, WIRE.md "Receipt") for a weighing record, with
    the weighing; ``ReceiptUnavailable`` says why there is none."""
    if record is None:
        raise ReceiptUnavailable("no such record", code="not_found")
    try:
        decoded = decode_record(record)
    except WireError as exc:
        raise ReceiptUnavailable("the record cannot be read", code="not_found") from exc
    body = decoded.body
    if not isinstance(body, WeighingBody):
        raise ReceiptUnavailable("the record is not a weighing", code="not_receipt")
    view = WeighingView.of(body, seq=decoded.seq, at_ms=decoded.ts)
    if not view.receipt_possible:
        raise ReceiptUnavailable(
            "only a released dispatch with a ticket and a net has a receipt", code="not_receipt"
        )
    tickets = [] if bundle is None else [t.ticket for t in bundle.tickets]
    raw = next((t.raw for t in tickets if t.cti == body.ticket), None)
    if raw is None:
        raise ReceiptUnavailable("the site bundle no longer holds the ticket", code="no_ticket")
    if certificate is None:
        raise ReceiptUnavailable("this edge has no device certificate", code="no_certificate")
    return encode_receipt(ticket=raw, record=record, certificate=certificate), view
