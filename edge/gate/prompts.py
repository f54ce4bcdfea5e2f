# Chinese text takes full-width commas and semicolons, which RUF001 takes for look-alikes.
# ruff: noqa: RUF001
"""What the display and voice say: one line per reason code and per lane situation (zh, en)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from edge.gate.outputs import Say

REASONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "ok": ("称重完成，请通行", "Weighing done, drive on"),
        "plate_low_confidence": ("车牌无法识别，请等待人工确认", "Plate not recognised, wait"),
        "no_ticket": ("无有效电子煤票", "No valid e-ticket"),
        "ticket_expired": ("煤票已过期", "Ticket expired"),
        "ticket_used": ("煤票已使用", "Ticket already used"),
        "ticket_revoked": ("煤票已作废", "Ticket revoked"),
        "ticket_wrong_site": ("煤票不属于本站", "Ticket is not for this site"),
        "ticket_bad_signature": ("煤票签名无效", "Ticket signature invalid"),
        "plate_mismatch": ("车牌与煤票不符", "Plate does not match the ticket"),
        "overload_gross": ("车辆超限，禁止放行", "Overloaded: not released"),
        "over_ticket_max": ("净重超过煤票上限", "Net above the ticket's maximum"),
        "tare_deviation": ("皮重异常", "Tare differs from the truck's record"),
        "not_positioned": ("请将车辆完全停在秤台上", "Stop wholly on the scale"),
        "unstable": ("称重不稳定，请停稳", "Weight unstable, stand still"),
        "zero_not_ok": ("秤台未回零", "Scale was not at zero"),
        "scale_fault": ("地磅故障", "Scale fault"),
        "io_fault": ("道闸设备故障", "Gate IO fault"),
        "journal_fault": ("记录存储故障", "Journal fault"),
        "manual_override": ("人工放行", "Released by the operator"),
    }
)

FAULT: Final = Say(text_zh="设备故障，请等待", text_en="Fault: please wait")
NOTHING_HELD: Final = Say(text_zh="当前无待处理车辆", text_en="No held truck to override")
OVERRIDE_REFUSED: Final = Say(
    text_zh="此原因不允许人工放行", text_en="This hold cannot be overridden"
)
ZERO_DONE: Final = Say(text_zh="已置零", text_en="Scale zeroed")
ZERO_REFUSED: Final = Say(
    text_zh="秤台不空或不稳定，不能置零", text_en="Cannot zero: deck not empty and stable"
)
NO_IO_FAULT: Final = Say(text_zh="当前无道闸设备故障", text_en="No IO fault to clear")
IO_CHECKED: Final = Say(text_zh="道闸设备故障已人工解除", text_en="IO fault cleared by an operator")
NO_TRUCK: Final = Say(text_zh="当前无车辆", text_en="No truck on the lane")


def decision(reasons: Sequence[str]) -> Say:
    """The display line for a decision: every reason, in order."""
    known = [REASONS.get(reason, (reason, reason)) for reason in reasons]
    return Say(text_zh="；".join(zh for zh, _ in known), text_en="; ".join(en for _, en in known))
