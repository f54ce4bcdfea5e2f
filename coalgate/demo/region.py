"""The demo's region: who is registered at central, and how it gets there.

``plan_region(seed, trucks)`` is pure: two coal mines of two enterprises and a magnesium smelter
of a third, one gate (edge device) and lane each, a checkpoint on the road, and the trucks —
per mine ``trucks`` with a ticket to the smelter, and one without a ticket that will force the
barrier. ``seed_registry`` writes the registry straight into central's store (before central
starts: enterprises with land and capacity, sites, the checkpoint, vehicles, API tokens);
``enroll_edges`` and ``issue_tickets`` then go through central's API, as an installer and an
enterprise would, so each site's bundle is published to the broker.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from central.api.tokens import create_token
from central.keyring import load_keyring
from central.registry import import_vehicles, vehicle
from central.store import open_store
from central.store.model import Checkpoint, Enterprise, Site
from coalgate.demo.errors import DemoError
from edge.errors import EdgeError
from edge.runtime.enroll import enroll_device

ACTOR = "demo"
DESTINATION = "mg-smelter-c"
BUYER = "mg-metal-c"
CHECKPOINT = "yl-cp-shenmu-north"
TARE_KG = 15_020  # registered tare of every demo truck (6 axles, combination): limit 49 t


@dataclass(frozen=True, slots=True, kw_only=True)
class SitePlan:
    id: str
    enterprise: str
    enterprise_name: str
    credit_code: str
    land_mu: float
    capacity_t: int
    kind: str  # coal_mine, magnesium_smelter
    name: str
    lat: float
    lon: float

    @property
    def device(self) -> str:
        return f"{self.id}-gate-1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Truck:
    plate: str
    load_kg: int
    mine: str  # the site where it loads
    ticketed: bool  # False: no ticket; it forces the barrier (the cheat)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionPlan:
    mines: tuple[SitePlan, ...]
    destination: SitePlan
    trucks: tuple[Truck, ...]

    @property
    def sites(self) -> tuple[SitePlan, ...]:
        return (*self.mines, self.destination)

    def trucks_of(self, mine: str) -> tuple[Truck, ...]:
        return tuple(t for t in self.trucks if t.mine == mine)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tokens:
    regulator: str
    admin: str
    enterprises: dict[str, str]  # enterprise id -> token
    devices: dict[str, str]  # device id -> enrollment token


def plan_region(*, seed: int, trucks: int) -> RegionPlan:
    """The region for ``seed``: the same plates and loads for the same seed."""
    rng = random.Random(seed)  # noqa: S311  # plates and loads, not crypto
    mines = (
        SitePlan(
            id="yl-mine-a", enterprise="yl-coal-a", enterprise_name="榆林A煤业",
            credit_code="91610800MA6Y000A0A", land_mu=320.5, capacity_t=1_200_000,
            kind="coal_mine", name="A矿", lat=38.29, lon=109.74,
        ),
        SitePlan(
            id="yl-mine-b", enterprise="yl-coal-b", enterprise_name="神木B能源",
            credit_code="91610800MA6Y000B0B", land_mu=210.0, capacity_t=900_000,
            kind="coal_mine", name="B矿", lat=38.83, lon=110.49,
        ),
    )  # fmt: skip
    destination = SitePlan(
        id=DESTINATION, enterprise=BUYER, enterprise_name="府谷C镁业",
        credit_code="91610800MA6Y000C0C", land_mu=150.0, capacity_t=300_000,
        kind="magnesium_smelter", name="C镁厂", lat=39.03, lon=111.07,
    )  # fmt: skip
    numbers = rng.sample(range(10_000, 99_999), len(mines) * (trucks + 1))
    plan: list[Truck] = []
    for m, mine in enumerate(mines):
        for t in range(trucks + 1):
            number = numbers[m * (trucks + 1) + t]
            load = rng.randrange(28_000, 33_000, 20)  # gross ≤ 48 020 kg: within 49 t
            plan.append(Truck(plate=f"陕K{number}", load_kg=load, mine=mine.id, ticketed=t != 1))
    return RegionPlan(mines=mines, destination=destination, trucks=tuple(plan))


def seed_registry(plan: RegionPlan, *, database_url: str, keys_dir: Path) -> Tokens:
    """Enterprises, sites, the checkpoint, vehicles and tokens, written into central's store
    (migrated first); central's signing key is made under ``keys_dir``."""
    now = time.time_ns() // 1_000_000
    load_keyring(keys_dir, today=dt.datetime.now(dt.UTC).date())
    store = open_store(database_url)
    try:
        store.migrate()
        for site in plan.sites:
            store.add_enterprise(
                Enterprise(
                    id=site.enterprise, name=site.enterprise_name, credit_code=site.credit_code,
                    land_mu=site.land_mu, capacity_t=site.capacity_t,
                ),
                actor=ACTOR, at=now,
            )  # fmt: skip
            store.add_site(
                Site(
                    id=site.id, enterprise=site.enterprise, kind=site.kind,  # type: ignore[arg-type]
                    name=site.name, lat=site.lat, lon=site.lon,
                ),
                actor=ACTOR, at=now,
            )  # fmt: skip
        store.add_checkpoint(
            Checkpoint(id=CHECKPOINT, name="神木北检查站", lat=38.9, lon=110.5), actor=ACTOR, at=now
        )
        vehicles = [
            vehicle(
                plate=t.plate, axles=6, kind="combination", single_drive=False, tare_kg=TARE_KG,
                trailer=None,
            )
            for t in plan.trucks
        ]  # fmt: skip
        import_vehicles(store, vehicles, actor=ACTOR, now_ms=now)

        def token(**scope: Any) -> str:
            text, _ = create_token(store, actor=ACTOR, now_ms=now, **scope)
            return text

        return Tokens(
            regulator=token(role="regulator"),
            admin=token(role="admin"),
            enterprises={m.enterprise: token(role="enterprise", enterprise=m.enterprise)
                         for m in plan.mines},
            devices={s.device: token(role="device", device=s.device) for s in plan.sites},
        )  # fmt: skip
    finally:
        store.close()


def enroll_edges(plan: RegionPlan, tokens: Tokens, *, central: str, sites_dir: Path) -> None:
    """Each edge's device key made and enrolled through ``POST /api/v1/devices/enroll``, as
    ``coalgate edge enroll`` does: ``<sites_dir>/<site>/keys/<device>.key`` (and ``.cert``)
    and central's key set ``keys/central.jwks``."""
    for site in plan.sites:
        keys = sites_dir / site.id / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        try:
            enroll_device(
                central=central, token=tokens.devices[site.device], site=site.id,
                device=site.device, key_path=keys / f"{site.device}.key",
                central_keys_path=keys / "central.jwks",
            )  # fmt: skip
        except EdgeError as exc:
            raise DemoError(f"enrolling {site.device}: {exc.message}") from exc


def issue_tickets(plan: RegionPlan, tokens: Tokens, *, central: str) -> dict[str, str]:
    """One ticket per ticketed truck, requested by its mine's enterprise through
    ``POST /api/v1/tickets`` (central publishes the seller's and the destination's bundles);
    plate -> ticket number."""
    issued: dict[str, str] = {}
    try:
        with httpx.Client(base_url=central, timeout=15) as client:
            _request_tickets(plan, tokens, client, issued)
    except httpx.HTTPError as exc:
        raise DemoError(f"requesting tickets from central: {exc}") from exc
    return issued


def _request_tickets(
    plan: RegionPlan, tokens: Tokens, client: httpx.Client, issued: dict[str, str]
) -> None:
    mines = {m.id: m for m in plan.mines}
    for truck in plan.trucks:
        if not truck.ticketed:
            continue
        mine = mines[truck.mine]
        answer = client.post(
            "/api/v1/tickets",
            headers={"Authorization": f"Bearer {tokens.enterprises[mine.enterprise]}"},
            json={
                "seller_site": mine.id, "buyer": BUYER, "plate": truck.plate,
                "coal": "5500kcal-lump", "max_net_kg": 40_000, "dest_site": DESTINATION,
                "valid_hours": 24, "transit_hours": 12,
            },
        )  # fmt: skip
        if answer.status_code != 200:
            raise DemoError(
                f"central refused a ticket for {truck.plate}: "
                f"{answer.status_code} {answer.text[:200]}"
            )
        issued[truck.plate] = str(answer.json()["no"])
