"""The control interface of a lane (or a single Modbus device or camera). No I/O of its own.

Served by ``control.ControlServer``; endpoints (JSON in and out, errors ``{"error": …}``)::

    GET    /state              transmitter reading, IO coils/inputs/barrier, camera reads, trucks
    POST   /trucks             {"plate", "axles", "tare_kg", "load_kg"?, "kind"?, "stand_s"?,
                                "settled"?, "partly_on_deck"?, "tailgate"?, "force_barrier"?,
                                "exit_plate"?}  a truck drives on now
    DELETE /trucks/{plate}     the standing truck wants to leave now (it still needs the barrier)
    POST   /faults             {"device", "kind", "duration_ms"?, "count"?, "code"?,
                                "delay_ms"?, "kg"?, "bytes"?, "channel"?}  a fault or cheat
                                starts now
    DELETE /faults             end every fault
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from firmware_sim.control import Controller
from firmware_sim.errors import ConfigError, ControlError
from firmware_sim.io_module import CHANNELS
from firmware_sim.lane import LaneSimulator
from firmware_sim.lane_config import Device, FaultPlan, TruckPlan
from firmware_sim.model import MAX_KG, Truck, TruckKind

_TRUCK_FIELDS = {
    "plate",
    "axles",
    "kind",
    "tare_kg",
    "load_kg",
    "stand_s",
    "settled",
    "partly_on_deck",
    "tailgate",
    "force_barrier",
    "exit_plate",
}
_FAULT_FIELDS = {
    "device", "kind", "duration_ms", "count", "code", "delay_ms", "kg", "bytes", "channel",
}  # fmt: skip
_MAX_DURATION_MS = 24 * 3_600_000


def _int(body: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        raise ControlError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(f"field {key!r} must be an integer {low}-{high}")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ControlError(f"field {key!r} must be true or false")
    return value


class LaneController:
    """Turns control requests into calls on a running lane."""

    def __init__(self, lane: LaneSimulator) -> None:
        self._lane = lane

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """(status, JSON value) for one request; ControlError for a bad one."""
        parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
        match parts:
            case ["state"]:
                self._allow(method, "GET")
                return 200, self._lane.snapshot()
            case ["trucks"]:
                self._allow(method, "POST")
                self._add_truck(self._object(body))
                return 201, self._lane.snapshot()
            case ["trucks", plate]:
                self._allow(method, "DELETE")
                try:
                    self._lane.release(plate)
                except ConfigError as exc:
                    raise ControlError(exc.message, status=404) from exc
                return 202, self._lane.snapshot()
            case ["faults"]:
                self._allow(method, "POST", "DELETE")
                if method == "DELETE":
                    self._lane.clear_faults()
                else:
                    self._inject(self._object(body))
                return 200, self._lane.snapshot()
            case _:
                raise ControlError(f"no such resource: {path}", status=404)

    # The same checks and wording as the indicator's controller.
    _allow = staticmethod(Controller._allow)
    _object = staticmethod(Controller._object)

    def _add_truck(self, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - _TRUCK_FIELDS)
        if unknown:
            raise ControlError(f"unknown field(s): {', '.join(unknown)}")
        plate = body.get("plate")
        if not isinstance(plate, str) or not plate:
            raise ControlError("field 'plate' must be a non-empty string")
        kind = body.get("kind", TruckKind.COMBINATION.value)
        if kind not in {k.value for k in TruckKind}:
            raise ControlError("field 'kind' must be 'rigid' or 'combination'")
        exit_plate = body.get("exit_plate")
        if exit_plate is not None and (not isinstance(exit_plate, str) or not exit_plate):
            raise ControlError("field 'exit_plate' must be a non-empty string")
        try:
            truck = Truck(
                plate=plate,
                axles=_int(body, "axles", None, 2, 99),
                kind=TruckKind(kind),
                tare_kg=_int(body, "tare_kg", None, 1, MAX_KG),
                load_kg=_int(body, "load_kg", 0, 0, MAX_KG),
            )
            plan = TruckPlan(
                truck=truck,
                stand_ms=_int(body, "stand_s", 20, 0, 86_400) * 1000,
                settled=_flag(body, "settled"),
                partly_on_deck=_flag(body, "partly_on_deck"),
                tailgate=_flag(body, "tailgate"),
                force_barrier=_flag(body, "force_barrier"),
                exit_plate=exit_plate,
            )
            self._lane.add_truck(plan)
        except ConfigError as exc:
            raise ControlError(
                exc.message, status=409 if "already" in exc.message else 400
            ) from exc

    def _inject(self, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - _FAULT_FIELDS)
        if unknown:
            raise ControlError(f"unknown field(s): {', '.join(unknown)}")
        device = body.get("device")
        if device not in {d.value for d in Device}:
            names = ", ".join(d.value for d in Device)
            raise ControlError(f"field 'device' must be one of: {names}")
        kind = body.get("kind")
        if not isinstance(kind, str):
            raise ControlError("field 'kind' must be a string")
        duration = body.get("duration_ms")
        fault = FaultPlan(
            at_ms=0,
            device=Device(device),
            kind=kind,
            duration_ms=None
            if duration is None
            else _int(body, "duration_ms", None, 1, _MAX_DURATION_MS),
            count=_int(body, "count", 1, 1, 10_000),
            code=_int(body, "code", 4, 1, 255),
            delay_ms=_int(body, "delay_ms", 0, 0, 60_000),
            kg=_int(body, "kg", 0, -MAX_KG, MAX_KG),
            nbytes=_int(body, "bytes", 16, 1, 65_536),
            channel=_int(body, "channel", 0, 0, CHANNELS - 1),
        )
        self._lane.inject(fault)
