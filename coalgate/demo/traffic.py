"""The demo's traffic: one ``coalgate sim lane`` per gate, each from a scenario file written
here, and each edge's site file.

Every lane has a different scale: yl-mine-a a Toledo indicator on a pty (serial), yl-mine-b a
Mettler MT-SICS indicator on TCP, the smelter a Modbus weight transmitter on the lane's Modbus
line. Every lane has an IO module (unit 1, Modbus TCP) and entry and exit cameras pushing to
the edge's ``POST /camera``.

The schedule is in wall seconds after the simulators start (``LEAD_S`` gives the edges time to
come up and receive their site bundles), and the scenario turns it into lane seconds with the
speed: ``--speed`` accelerates what the trucks and the barrier do (driving on and off, barrier
travel), while the gaps between trucks stay long enough for the edge, which decides in real
time (a one-second stability window, Modbus polls). Per mine: the ticketed trucks, a scale
fault (the indicator goes silent: ``scale_fault``), and a truck without a ticket that, held,
drives through the lowered barrier (``escape``, ``barrier_forced``). At the smelter the loaded
trucks arrive, one by one, and the transmitter stops answering for a while (``scale_fault``).
"""

from __future__ import annotations

from dataclasses import dataclass

from coalgate.demo.region import RegionPlan, SitePlan, Truck

LEAD_S = 20.0  # wall seconds from the simulators' start to the first truck
MINE_SLOT_S = 15.0  # wall seconds per truck at a mine
DEST_SLOT_S = 12.0  # … at the destination
FAULT_S = 6.0  # a scale fault lasts this long (well over the 2 s silence limit)
STAND_S = 3.0  # a ticketed truck wants to leave after this long (it waits for the barrier)
CHEAT_STAND_S = 8.0  # the cheat waits this long, held, then forces the barrier
INJECTED_ALARMS = ("escape", "barrier_forced", "scale_fault")


@dataclass(frozen=True, slots=True, kw_only=True)
class LanePlan:
    """One gate's lane: its site, the scale it has, and its scenario text."""

    site: SitePlan
    scale: str  # "toledo-pty", "mt-sics-tcp", "modbus"
    division_kg: int
    capacity_kg: int
    scenario: str
    end_s: float  # wall seconds after the simulators' start when its traffic is over


def plan_lanes(region: RegionPlan, *, speed: float, camera_ports: dict[str, int]) -> list[LanePlan]:
    """A lane per site; ``camera_ports`` maps a site id to its edge's HTTP port."""
    scales = ("toledo-pty", "mt-sics-tcp")
    lanes: list[LanePlan] = []
    loaded: list[tuple[float, Truck]] = []  # (wall s when it has left the mine, truck)
    for mine, scale in zip(region.mines, scales, strict=True):
        trucks = region.trucks_of(mine.id)
        ticketed = [t for t in trucks if t.ticketed]
        cheats = [t for t in trucks if not t.ticketed]
        # slots: the first ticketed truck, the fault, the cheat, the other ticketed trucks
        events: list[str] = []
        slot = 0
        order: list[Truck | str] = [*ticketed[:1], "fault", *cheats, *ticketed[1:]]
        for item in order:
            at = LEAD_S + slot * MINE_SLOT_S
            if isinstance(item, str):
                events.append(_fault("indicator", "silence", at, speed))
            else:
                stand = STAND_S if item.ticketed else CHEAT_STAND_S
                events.append(_truck(item, at, speed, stand_s=stand, force=not item.ticketed))
                if item.ticketed:
                    loaded.append((at + MINE_SLOT_S, item))
            slot += 1
        protocol = "toledo" if scale == "toledo-pty" else "mt-sics"
        head = _head(mine, speed, camera_ports[mine.id], division_kg=20, capacity_kg=100_000)
        scenario = (
            head + f'[indicator]\nprotocol = "{protocol}"\nrate_hz = 10\n\n' + "".join(events)
        )
        lanes.append(
            LanePlan(
                site=mine, scale=scale, division_kg=20, capacity_kg=100_000, scenario=scenario,
                end_s=LEAD_S + slot * MINE_SLOT_S,
            )
        )  # fmt: skip
    dest = region.destination
    events = []
    at = LEAD_S
    for n, (ready, truck) in enumerate(sorted(loaded, key=lambda pair: pair[0])):
        at = max(at, ready)
        events.append(_truck(truck, at, speed, stand_s=STAND_S, force=False))
        at += DEST_SLOT_S
        if n == 0:
            events.append(_fault("transmitter", "timeout", at, speed))
            at += DEST_SLOT_S
    head = _head(dest, speed, camera_ports[dest.id], division_kg=10, capacity_kg=60_000)
    scenario = head + '[transmitter]\npreset = "hr-int32"\nunit_id = 2\n\n' + "".join(events)
    lanes.append(
        LanePlan(
            site=dest, scale="modbus", division_kg=10, capacity_kg=60_000, scenario=scenario,
            end_s=at,
        )
    )  # fmt: skip
    return lanes


def _head(site: SitePlan, speed: float, camera_port: int, *, division_kg: int,
          capacity_kg: int) -> str:  # fmt: skip
    return f"""# {site.name} ({site.id}), lane1: written by `coalgate demo`; rerun it with
#   coalgate sim lane --scenario THIS_FILE --tcp 127.0.0.1:0
[lane]
name = "lane1"
seed = 1
speed = {speed}
auto_barrier = false
noise_kg = 1.0
capacity_kg = {capacity_kg}
division_kg = {division_kg}

[io]
unit_id = 1
barrier = "pulse"

[camera]
url = "http://127.0.0.1:{camera_port}/camera"
misread_rate = 0.0
low_confidence_rate = 0.0

"""


def _lane_s(wall_s: float, speed: float) -> int:
    return max(1, round(wall_s * speed))


def _truck(truck: Truck, at_s: float, speed: float, *, stand_s: float, force: bool) -> str:
    text = f"""[[truck]]  # {"no ticket: held, then forces the barrier" if force else "ticketed"}
plate = "{truck.plate}"
axles = 6
kind = "combination"
tare_kg = {15_020}
load_kg = {truck.load_kg}
arrive_s = {_lane_s(at_s, speed)}
stand_s = {_lane_s(stand_s, speed)}
"""
    return text + ("force_barrier = true\n\n" if force else "\n")


def _fault(device: str, kind: str, at_s: float, speed: float) -> str:
    return f"""[[fault]]  # the scale stops answering: scale_fault
at_s = {_lane_s(at_s, speed)}
device = "{device}"
kind = "{kind}"
duration_s = {_lane_s(FAULT_S, speed)}

"""


def site_file(
    lane: LanePlan,
    *,
    broker_url: str,
    mqtt_version: str,
    http_port: int,
    line_url: str,
    scale_url: str | None,
) -> str:
    """The edge's site file (``docs/examples/site.toml``); paths relative to its directory."""
    site = lane.site
    direction = "in" if site.kind != "coal_mine" else "out"
    if lane.scale == "modbus":
        scale = f'modbus = "hr-int32"\nurl = "{line_url}"\nunit_id = 2\n'
    else:
        protocol = "toledo" if lane.scale == "toledo-pty" else "mt-sics"
        scale = f'protocol = "{protocol}"\nurl = "{scale_url}"\n'
    return f"""# {site.name} ({site.id}): written by `coalgate demo`.
[site]
id = "{site.id}"
device = "{site.device}"
device_key = "keys/{site.device}.key"
central_keys = "keys/central.jwks"
data_dir = "data"

[broker]
url = "{broker_url}"
mqtt_version = "{mqtt_version}"

[uplink]
heartbeat_s = 30
resend_after_s = 5

[http]
bind = "127.0.0.1:{http_port}"

[[lane]]
id = "lane1"
direction = "{direction}"
passes = "single"

[lane.scale]
{scale}division_kg = {lane.division_kg}
capacity_kg = {lane.capacity_kg}

[lane.io]
url = "{line_url}"
unit_id = 1
barrier = "pulse"
pulse_ms = 300
"""
