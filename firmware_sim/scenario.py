"""Scenario files: a lane's day in TOML (stdlib ``tomllib``). Parsing is pure; ``load`` reads.

Every mistake is one ``ScenarioError`` naming the file, the field and, where it can be found,
the line, e.g. ``day.toml: truck[2].axles: must be an integer (line 14)``. The format is
described in docs/hardware-testing.md ("Scenarios").
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any, NoReturn, cast

from pymodbus.constants import ExcCodes

from firmware_sim.camera import CameraConfig
from firmware_sim.display import Display
from firmware_sim.errors import ConfigError
from firmware_sim.faults import FaultKind
from firmware_sim.indicator import IndicatorConfig, Protocol
from firmware_sim.io_module import CHANNELS, Barrier, BarrierMode
from firmware_sim.lane_config import (
    CameraSetup,
    Device,
    FaultPlan,
    IoConfig,
    LaneConfig,
    TransmitterConfig,
    TruckPlan,
)
from firmware_sim.modbus_map import PRESETS
from firmware_sim.model import MAX_KG, Deck, Truck, TruckKind

_TABLES = {"lane", "transmitter", "io", "camera", "indicator", "truck", "fault"}
_INDICATOR = {"protocol", "rate_hz"}
_LANE = {"name", "seed", "speed", "auto_barrier", "capacity_kg", "division_kg", "noise_kg"}
_TRANSMITTER = {"preset", "unit_id"}
_IO = {"unit_id", "barrier", "travel_ms", "hold_s"}
_CAMERA = {"url", "misread_rate", "low_confidence_rate"}
_TRUCK = {
    "plate",
    "axles",
    "kind",
    "tare_kg",
    "load_kg",
    "arrive_s",
    "stand_s",
    "speed_mps",
    "settled",
    "partly_on_deck",
    "tailgate",
    "force_barrier",
    "exit_plate",
}
_FAULT = {
    "at_s", "device", "kind", "duration_s", "count", "code", "delay_ms", "kg", "bytes", "channel",
}  # fmt: skip
_FAULT_KINDS = {
    Device.TRANSMITTER: {"exception", "timeout", "slow", "disconnect", "step"},
    Device.IO: {"exception", "timeout", "slow", "disconnect", "relay-stuck"},
    Device.CAMERA: {"down"},
    Device.INDICATOR: {k.value for k in FaultKind},
}
_MAX_S = 7 * 24 * 3600.0
_TOML_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


class ScenarioError(ConfigError):
    """A scenario file that cannot be used; ``path``, ``field`` and ``line`` say where."""

    def __init__(self, message: str, *, path: str, field: str | None, line: int | None) -> None:
        where = f"{path}: " + (f"{field}: " if field else "")
        suffix = f" (line {line})" if line else ""
        super().__init__(f"{where}{message}{suffix}", option="scenario")
        self.path = path
        self.field = field
        self.line = line


def load(path: Path) -> LaneConfig:
    """Read and check a scenario file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(
            f"cannot read: {reason}", path=str(path), field=None, line=None
        ) from exc
    return parse(text, path=str(path))


def parse(text: str, *, path: str = "<scenario>") -> LaneConfig:
    """A ``LaneConfig`` from TOML text, or ScenarioError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        message = _TOML_LINE.sub("", str(exc))
        if found:
            message += f" at column {found.group(2)}"
        raise ScenarioError(
            f"not valid TOML: {message}",
            path=path,
            field=None,
            line=int(found.group(1)) if found else None,
        ) from exc
    return _Reader(text, path).lane(data)


class _Reader:
    def __init__(self, text: str, path: str) -> None:
        self._lines = text.splitlines()
        self._path = path

    # --- errors and line lookup --------------------------------------------------------------

    def _fail(
        self, field: str, message: str, *, table: str, index: int | None, key: str
    ) -> NoReturn:
        raise ScenarioError(
            message, path=self._path, field=field, line=self._line_of(table, index, key)
        )

    def _line_of(self, table: str, index: int | None, key: str) -> int | None:
        if not table:  # a top-level name: its table header, or a bare key = value
            return self._line_of(key, 0, "") or self._line_of_top_key(key)
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
        key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
        seen, inside = -1, False
        for number, line in enumerate(self._lines, start=1):
            if re.match(r"^\s*\[", line):
                inside = bool(header.match(line))
                if inside:
                    seen += 1
                    if index is not None and seen != index:
                        inside = False
                if inside and not key:
                    return number
                continue
            if inside and key and key_line.match(line):
                return number
        return None

    def _line_of_top_key(self, key: str) -> int | None:
        key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number, line in enumerate(self._lines, start=1):
            if re.match(r"^\s*\[", line):
                return None
            if key_line.match(line):
                return number
        return None

    # --- typed fields ------------------------------------------------------------------------

    def _check(
        self, table: dict[str, Any], allowed: set[str], name: str, index: int | None
    ) -> None:
        for key in table:
            if key not in allowed:
                label = name if index is None else f"{name}[{index + 1}]"
                self._fail(
                    f"{label}.{key}",
                    f"unknown field (known: {', '.join(sorted(allowed))})",
                    table=name,
                    index=index,
                    key=key,
                )

    def _get(
        self,
        table: dict[str, Any],
        key: str,
        kind: type,
        default: Any,
        *,
        name: str,
        index: int | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> Any:
        label = (name if index is None else f"{name}[{index + 1}]") + f".{key}"
        value = table.get(key, default)
        if value is None:
            if default is None and key in table:
                return None
            if default is None:
                self._fail(label, "missing", table=name, index=index, key="")
            return None
        words = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self._fail(label, f"must be {words[kind]}", table=name, index=index, key=key)
        if kind in (int, float) and (
            not math.isfinite(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            self._fail(label, f"must be {low:g}-{high:g}", table=name, index=index, key=key)
        return value

    # --- tables ------------------------------------------------------------------------------

    def lane(self, data: dict[str, Any]) -> LaneConfig:
        for key in data:
            if key not in _TABLES:
                self._fail(
                    key,
                    f"unknown table (known: {', '.join(sorted(_TABLES))})",
                    table="",
                    index=None,
                    key=key,
                )
        lane = self._table(data, "lane")
        self._check(lane, _LANE, "lane", None)
        name = self._get(lane, "name", str, "lane1", name="lane")
        g = self._get
        deck = Deck(
            capacity_kg=g(lane, "capacity_kg", int, 60_000, name="lane", low=1, high=MAX_KG),
            division_kg=g(lane, "division_kg", int, 10, name="lane", low=1, high=10_000),
            noise_kg=g(lane, "noise_kg", float, 2.0, name="lane", low=0, high=10_000),
        )
        seed = g(lane, "seed", int, 0, name="lane", low=0, high=2**63)
        transmitter = None
        if "transmitter" in data:
            table = self._table(data, "transmitter")
            self._check(table, _TRANSMITTER, "transmitter", None)
            preset = g(table, "preset", str, "hr-int32", name="transmitter")
            if preset not in PRESETS:
                self._fail(
                    "transmitter.preset",
                    f"unknown preset {preset!r} (known: {', '.join(PRESETS)})",
                    table="transmitter",
                    index=None,
                    key="preset",
                )
            transmitter = TransmitterConfig(
                regmap=PRESETS[preset],
                unit_id=g(table, "unit_id", int, 2, name="transmitter", low=1, high=247),
                division_kg=deck.division_kg,
            )
        io = None
        if "io" in data:
            table = self._table(data, "io")
            self._check(table, _IO, "io", None)
            mode = g(table, "barrier", str, "pulse", name="io")
            if mode not in {m.value for m in BarrierMode}:
                self._fail(
                    "io.barrier",
                    "must be 'pulse' or 'level'",
                    table="io",
                    index=None,
                    key="barrier",
                )
            barrier = Barrier(
                mode=BarrierMode(mode),
                travel_ms=g(table, "travel_ms", int, 1500, name="io", low=0, high=60_000),
                hold_ms=round(
                    g(table, "hold_s", float, 60.0, name="io", low=1, high=_MAX_S) * 1000
                ),
            )
            io = IoConfig(
                barrier=barrier,
                unit_id=g(table, "unit_id", int, 1, name="io", low=1, high=247),
            )
        camera = None
        if "camera" in data:
            table = self._table(data, "camera")
            self._check(table, _CAMERA, "camera", None)
            url = g(table, "url", str, "http://127.0.0.1:8080/camera", name="camera")
            if not url.startswith(("http://", "https://")):
                self._fail(
                    "camera.url",
                    "must be an http:// or https:// URL",
                    table="camera",
                    index=None,
                    key="url",
                )
            camera = CameraSetup(
                url=url,
                config=CameraConfig(
                    lane=name,
                    seed=seed,
                    misread_rate=g(table, "misread_rate", float, 0.0, name="camera", low=0, high=1),
                    low_confidence_rate=g(
                        table, "low_confidence_rate", float, 0.0, name="camera", low=0, high=1
                    ),
                ),
            )
        indicator = self._indicator(data, deck)
        trucks = tuple(self._truck(t, i) for i, t in enumerate(self._array(data, "truck")))
        faults = tuple(self._fault(f, i) for i, f in enumerate(self._array(data, "fault")))
        devices = {
            Device.TRANSMITTER: transmitter,
            Device.IO: io,
            Device.CAMERA: camera,
            Device.INDICATOR: indicator,
        }
        for i, fault in enumerate(faults):
            if devices[fault.device] is None:
                self._fail(
                    f"fault[{i + 1}].device",
                    f"the lane has no [{fault.device.value}] table",
                    table="fault",
                    index=i,
                    key="device",
                )
        plates = [t.truck.plate for t in trucks]
        for i, plate in enumerate(plates):
            if plate in plates[:i]:
                self._fail(
                    f"truck[{i + 1}].plate",
                    f"plate {plate} appears twice",
                    table="truck",
                    index=i,
                    key="plate",
                )
        return LaneConfig(
            deck=deck,
            seed=seed,
            speed=g(lane, "speed", float, 1.0, name="lane", low=0.01, high=1000),
            auto_barrier=g(lane, "auto_barrier", bool, False, name="lane"),
            transmitter=transmitter,
            io=io,
            camera=camera,
            indicator=indicator,
            trucks=trucks,
            faults=faults,
        )

    def _indicator(self, data: dict[str, Any], deck: Deck) -> IndicatorConfig | None:
        g = self._get
        if "indicator" not in data:
            return None
        table = self._table(data, "indicator")
        self._check(table, _INDICATOR, "indicator", None)
        protocol = g(table, "protocol", str, None, name="indicator")
        if protocol not in {p.value for p in Protocol}:
            self._fail(
                "indicator.protocol",
                f"must be one of: {', '.join(p.value for p in Protocol)}",
                table="indicator",
                index=None,
                key="protocol",
            )
        try:
            indicator = IndicatorConfig(
                protocol=Protocol(protocol),
                display=Display(division_kg=deck.division_kg),
                capacity_kg=deck.capacity_kg,
                rate_hz=g(table, "rate_hz", float, 10.0, name="indicator", low=0.1, high=100),
            )
        except ConfigError as exc:
            if isinstance(exc, ScenarioError):
                raise
            self._fail("indicator", exc.message, table="indicator", index=None, key="")
        return indicator

    def _table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            self._fail(name, "must be a table [" + name + "]", table="", index=None, key=name)
        return cast(dict[str, Any], value)

    def _array(self, data: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self._fail(
                name, f"must be an array of tables [[{name}]]", table="", index=None, key=name
            )
        return cast(list[dict[str, Any]], value)

    def _truck(self, table: dict[str, Any], i: int) -> TruckPlan:
        self._check(table, _TRUCK, "truck", i)
        g, n = self._get, "truck"
        kind = g(table, "kind", str, "combination", name=n, index=i)
        if kind not in {k.value for k in TruckKind}:
            self._fail(
                f"truck[{i + 1}].kind",
                "must be 'rigid' or 'combination'",
                table=n,
                index=i,
                key="kind",
            )
        try:
            truck = Truck(
                plate=g(table, "plate", str, None, name=n, index=i),
                axles=g(table, "axles", int, None, name=n, index=i, low=2, high=9),
                kind=TruckKind(kind),
                tare_kg=g(table, "tare_kg", int, None, name=n, index=i, low=1, high=MAX_KG),
                load_kg=g(table, "load_kg", int, 0, name=n, index=i, low=0, high=MAX_KG),
            )
        except ConfigError as exc:
            if isinstance(exc, ScenarioError):
                raise
            self._fail(f"truck[{i + 1}]", exc.message, table=n, index=i, key="")
        exit_plate = table.get("exit_plate")
        if exit_plate is not None:
            exit_plate = g(table, "exit_plate", str, None, name=n, index=i)
        return TruckPlan(
            truck=truck,
            arrive_ms=round(
                g(table, "arrive_s", float, 0.0, name=n, index=i, low=0, high=_MAX_S) * 1000
            ),
            stand_ms=round(
                g(table, "stand_s", float, 20.0, name=n, index=i, low=0, high=_MAX_S) * 1000
            ),
            speed_mps=g(table, "speed_mps", float, 1.5, name=n, index=i, low=0.1, high=30),
            settled=g(table, "settled", bool, False, name=n, index=i),
            partly_on_deck=g(table, "partly_on_deck", bool, False, name=n, index=i),
            tailgate=g(table, "tailgate", bool, False, name=n, index=i),
            force_barrier=g(table, "force_barrier", bool, False, name=n, index=i),
            exit_plate=exit_plate,
        )

    def _fault(self, table: dict[str, Any], i: int) -> FaultPlan:
        self._check(table, _FAULT, "fault", i)
        g, n = self._get, "fault"
        device = g(table, "device", str, None, name=n, index=i)
        if device not in {d.value for d in Device}:
            self._fail(
                f"fault[{i + 1}].device",
                f"must be one of: {', '.join(d.value for d in Device)}",
                table=n,
                index=i,
                key="device",
            )
        kind = g(table, "kind", str, None, name=n, index=i)
        kinds = _FAULT_KINDS[Device(device)]
        if kind not in kinds:
            self._fail(
                f"fault[{i + 1}].kind",
                f"{device} faults are: {', '.join(sorted(kinds))}",
                table=n,
                index=i,
                key="kind",
            )
        duration = table.get("duration_s")
        duration_ms = None
        if duration is not None:
            duration_ms = round(
                g(table, "duration_s", float, None, name=n, index=i, low=0.001, high=_MAX_S) * 1000
            )
        if kind == "disconnect" and duration_ms is None:
            self._fail(
                f"fault[{i + 1}].duration_s",
                "a disconnect needs a duration",
                table=n,
                index=i,
                key="",
            )
        code = g(table, "code", int, 4, name=n, index=i, low=1, high=11)
        if code not in {c.value for c in ExcCodes}:
            known = ", ".join(str(c.value) for c in ExcCodes)
            self._fail(
                f"fault[{i + 1}].code", f"must be one of {known}", table=n, index=i, key="code"
            )
        return FaultPlan(
            at_ms=round(g(table, "at_s", float, 0.0, name=n, index=i, low=0, high=_MAX_S) * 1000),
            device=Device(device),
            kind=kind,
            duration_ms=duration_ms,
            count=g(table, "count", int, 1, name=n, index=i, low=1, high=10_000),
            code=code,
            delay_ms=g(table, "delay_ms", int, 0, name=n, index=i, low=0, high=60_000),
            kg=g(table, "kg", int, 0, name=n, index=i, low=-MAX_KG, high=MAX_KG),
            nbytes=g(table, "bytes", int, 16, name=n, index=i, low=1, high=65_536),
            channel=g(table, "channel", int, 0, name=n, index=i, low=0, high=CHANNELS - 1),
        )
