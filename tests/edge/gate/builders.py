"""Real signed tickets and bundles for the gate tests, and a driver that plays a lane's day.

Tickets and bundles are signed with central's test key (``tests.wire.central_factories``),
so the lane verifies real signatures; nothing is faked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edge.gate.config import LaneConfig
from edge.gate.inputs import BeamsIn, Input, PlateIn, Tick, WeightIn
from edge.gate.lane import Lane
from edge.gate.outputs import Barrier, Output, WriteRecord
from tests.wire import central_factories as cf
from wire.bodies import EventBody, WeighingBody
from wire.bundles import Bundle, BundleTicket, Vehicle, build_bundle
from wire.keys import SigningKey
from wire.tickets import Ticket

SITE = cf.SITE  # a coal mine: sells
DEST = cf.DEST_SITE  # a power station: receives
KEYS = cf.CENTRAL_KEYS
PLATE = cf.PLATE  # 陕K12345, 6-axle combination, tare 15 020 kg
OTHER_PLATE = "陕K54321"
T0 = (cf.TICKET_IAT + 3600) * 1000  # an hour after the tickets were issued
TARE = 15_020
GROSS = 49_000  # the 6-axle limit exactly
NET = GROSS - TARE  # 33 980, under the ticket's 35 000

OUT_TICKET = cf.ticket()
BEAM_FIELDS = ("entry", "front", "rear", "exit", "barrier_up")
VEHICLES: Mapping[str, Vehicle] = {
    PLATE: Vehicle(axles=6, kind="combination", single_drive=False, tare_kg=TARE, trailer=None),
    OTHER_PLATE: Vehicle(axles=2, kind="rigid", single_drive=True, tare_kg=None, trailer=None),
}


def config(**changes: Any) -> LaneConfig:
    values: dict[str, Any] = {
        "lane": "lane-1",
        "direction": "out",
        "passes": "single",
        "protocol": "modbus",
        "division_kg": 20,
        "capacity_kg": 100_000,
    }
    values.update(changes)
    return LaneConfig(**values)


def ticket(key: SigningKey = cf.CENTRAL, **changes: Any) -> Ticket:
    return cf.ticket(key, **changes)


def issued(t: Ticket) -> BundleTicket:
    return BundleTicket(ticket=t, state="issued", loaded_at=None, source_net_kg=None)


def loaded(t: Ticket, *, at_ms: int, net_kg: int = NET) -> BundleTicket:
    return BundleTicket(ticket=t, state="loaded", loaded_at=at_ms, source_net_kg=net_kg)


def bundle(
    tickets: Sequence[BundleTicket] = (),
    *,
    site: str = SITE,
    version: int = 1,
    revoked: Iterable[bytes] = (),
    vehicles: Mapping[str, Vehicle] = VEHICLES,
) -> Bundle:
    return build_bundle(
        cf.CENTRAL,
        site=site,
        version=version,
        ts=T0 - 60_000,
        tickets=tuple(tickets),
        revoked=tuple(revoked),
        vehicles=vehicles,
    )


OUT_BUNDLE = bundle([issued(OUT_TICKET)])


def records(outputs: Iterable[Output], record_type: str) -> list[Any]:
    return [o.body for o in outputs if isinstance(o, WriteRecord) and o.type == record_type]


def weighings(outputs: Iterable[Output]) -> list[WeighingBody]:
    return records(outputs, "weighing")


def events(outputs: Iterable[Output], kind: str | None = None) -> list[EventBody]:
    found: list[EventBody] = records(outputs, "event")
    return [e for e in found if kind is None or e.kind == kind]


def barrier_ups(outputs: Iterable[Output]) -> int:
    return sum(1 for o in outputs if isinstance(o, Barrier) and o.up)


class Run:
    """Drives a lane through simulated time: readings every ``every_ms``, beams, plates."""

    def __init__(self, lane: Lane, *, now_ms: int = T0, every_ms: int = 100) -> None:
        self.lane = lane
        self.now = now_ms
        self.every = every_ms
        self.beams = BeamsIn(entry=False, front=False, rear=False, exit=False, barrier_up=False)
        self.kg = 0
        self.outputs: list[Output] = []

    def feed(self, item: Input, *, after_ms: int = 0) -> list[Output]:
        self.now += after_ms
        out = self.lane.step(item, now_ms=self.now)
        self.outputs.extend(out)
        return out

    def hold_weight(self, kg: int, *, ms: int = 1200) -> list[Output]:
        """Readings of ``kg`` every ``every_ms`` for ``ms``."""
        self.kg = kg
        out: list[Output] = []
        for _ in range(ms // self.every):
            out += self.feed(WeightIn(kg=kg), after_ms=self.every)
        return out

    def set_beams(self, **changes: bool) -> list[Output]:
        self.beams = dataclasses.replace(self.beams, **changes)
        return self.feed(self.beams, after_ms=10)

    def plate(
        self, plate: str = PLATE, conf: int = 95, *, camera: str = "lane-1-entry"
    ) -> list[Output]:
        return self.feed(PlateIn(plate=plate, confidence=conf, camera=camera), after_ms=10)

    def tick(self, after_ms: int) -> list[Output]:
        return self.feed(Tick(), after_ms=after_ms)

    def empty_deck(self) -> list[Output]:
        return self.hold_weight(0)

    def drive_on(self, kg: int, *, plate: str | None = PLATE, conf: int = 95) -> list[Output]:
        """From an empty lane to a truck standing wholly on the deck until it is decided."""
        out = self.empty_deck()
        if plate is not None:
            out += self.plate(plate, conf)
        out += self.set_beams(entry=True)
        out += self.set_beams(entry=False, rear=True)
        out += self.hold_weight(kg // 2, ms=300)
        out += self.set_beams(rear=False)
        out += self.hold_weight(kg, ms=1500)
        return out

    def drive_off_exit(self) -> list[Output]:
        out = self.set_beams(front=True)
        out += self.set_beams(exit=True)
        out += self.hold_weight(0, ms=300)
        out += self.set_beams(front=False)
        out += self.set_beams(exit=False)
        return out

    def back_off(self) -> list[Output]:
        out = self.set_beams(rear=True)
        out += self.hold_weight(0, ms=300)
        out += self.set_beams(rear=False)
        return out


def lane(cfg: LaneConfig | None = None, **kwargs: Any) -> Lane:
    values: dict[str, Any] = {"site": SITE, "keys": KEYS, "bundle": OUT_BUNDLE, "now_ms": T0}
    values.update(kwargs)
    return Lane(cfg or config(), **values)
