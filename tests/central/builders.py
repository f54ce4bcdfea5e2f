"""Records and registry values for the store tests, signed with the real wire API (no mocks).

``Edge`` plays one device: it signs a correctly chained stream and, when asked, a second
version of a seq (equivocation). ``incoming`` turns a signed record into what the ingest worker
hands the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from central.ingest import check
from central.keyring import Keyring
from central.store.base import Store
from central.store.model import (
    Checkpoint,
    Device,
    Enterprise,
    IncomingRecord,
    QuarantineItem,
    Site,
    Vehicle,
)
from central.ticketing.rules import TicketRequest
from tests.wire import factories
from wire.bodies import Body, EventBody, WeighingBody
from wire.certificates import issue_certificate
from wire.keys import KeySet, SigningKey
from wire.records import ZERO_HASH, Record, sign_record

SITE = "yl-mine-a"
ENTERPRISE = "sx-coal-a"
T0 = 1_796_083_200_000  # 2026-12-01 00:00 UTC = 08:00 CST
HOUR = 3_600_000


def utc_ms(text: str) -> int:
    """``2026-12-01T15:59:59.999`` (UTC) in milliseconds."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def incoming(record: Record, *, received_at: int | None = None) -> IncomingRecord:
    """What a worker passes to ``Store.ingest`` for a record that verified (the real code)."""
    arrived = record.ts + 500 if received_at is None else received_at
    return check.incoming(record, received_at=arrived)


@dataclass
class Edge:
    """One device signing its stream."""

    device: str = "yl-mine-a-gate-1"
    site: str = SITE
    seed: int = 7
    key: SigningKey = field(init=False)
    signed: dict[int, Record] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.key = SigningKey.from_seed(bytes([self.seed]) * 32, kid=self.device)

    def sign(self, seq: int, body: Body | None = None, *, ts: int | None = None) -> Record:
        """Sign ``seq`` (chained to the version of seq - 1 signed before, if any)."""
        previous = self.signed.get(seq - 1)
        prev = ZERO_HASH if seq == 1 else (previous.id if previous else b"\x11" * 32)
        record = sign_record(
            self.key,
            site=self.site,
            device=self.device,
            seq=seq,
            prev=prev,
            ts=T0 + seq * 60_000 if ts is None else ts,
            body=body if body is not None else factories.status(),
        )
        self.signed.setdefault(seq, record)
        return record

    def record(
        self,
        seq: int,
        body: Body | None = None,
        *,
        ts: int | None = None,
        received_at: int | None = None,
    ) -> IncomingRecord:
        return incoming(self.sign(seq, body, ts=ts), received_at=received_at)

    def other_version(self, seq: int, *, nonce: int = 1) -> IncomingRecord:
        """Different bytes for ``seq``: the same device signing twice (equivocation)."""
        body = factories.status()
        record = sign_record(
            self.key,
            site=self.site,
            device=self.device,
            seq=seq,
            prev=self.signed[seq].prev if seq in self.signed else ZERO_HASH,
            ts=T0 + seq * 60_000 + nonce,
            body=body,
        )
        return incoming(record)

    def stream(self, count: int, *, first: int = 1) -> list[IncomingRecord]:
        return [self.record(seq) for seq in range(first, first + count)]


def weighing(**changes: Any) -> WeighingBody:
    return factories.weighing(**changes)


def escape_event() -> EventBody:
    return factories.event()  # kind "escape", severity "alarm"


def quarantine_item(
    raw: bytes,
    reason: str = "bad_signature",
    *,
    device: str | None = "yl-mine-a-gate-1",
    received_at: int = T0,
) -> QuarantineItem:
    site_device = f"{SITE}/{device}" if device else "x/y"
    return QuarantineItem(
        raw=raw,
        reason=reason,
        detail=f"test: {reason}",
        topic=f"cg/v1/{site_device}/up/record",
        device=device,
        received_at=received_at,
    )


def enterprise(id_: str = ENTERPRISE, credit_code: str = "91610800MA6YL00001") -> Enterprise:
    return Enterprise(
        id=id_, name="Shenmu Coal A", credit_code=credit_code, land_mu=820.5, capacity_t=3_000_000
    )


def site(id_: str = SITE, enterprise_id: str = ENTERPRISE) -> Site:
    return Site(
        id=id_, enterprise=enterprise_id, kind="coal_mine", name="Mine A", lat=38.8, lon=110.4
    )


def checkpoint(id_: str = "cp-yulin-north") -> Checkpoint:
    return Checkpoint(id=id_, name="Yulin north", lat=38.4, lon=109.7)


def vehicle(plate: str = "陕K12345", **changes: Any) -> Vehicle:
    values: dict[str, Any] = {
        "plate": plate,
        "axles": 6,
        "kind": "combination",
        "single_drive": False,
        "tare_kg": 15_020,
        "trailer": "陕K1234挂",
    }
    values.update(changes)
    return Vehicle(**values)


CENTRAL = SigningKey.from_seed(b"\x01" * 32, kid="central-20261129")


def certificate(edge: Edge, *, iat_s: int = T0 // 1000) -> bytes:
    """A real device certificate (wire part 2) for ``edge``, issued at ``iat_s``."""
    issued = issue_certificate(
        CENTRAL, iss="yulin-energy-bureau", device_key=edge.key.public, site=edge.site, iat=iat_s
    )
    return issued.raw


def device(edge: Edge, *, iat_s: int = T0 // 1000, enrolled_at: int = T0) -> Device:
    return Device(
        id=edge.device,
        site=edge.site,
        public_key=edge.key.public.raw,
        certificate=certificate(edge, iat_s=iat_s),
        state="active",
        enrolled_at=enrolled_at,
    )


# --- ticketing ------------------------------------------------------------------------------

BUYER = "mg-metal-b"
DEST_SITE = "mg-smelter-b"
OTHER_SITE = "yl-mine-c"
PLATE = "陕K12345"


def central_keyring() -> Keyring:
    """Central's key (``CENTRAL``) as the ticket service and bundle builder use it."""
    return Keyring(signing=CENTRAL, published=KeySet([CENTRAL.public]))


@dataclass
class Region:
    """A seller enterprise with a mine, a buyer with an enrolled smelter, and a third site;
    one signing edge at each. ``capacity_t`` is the seller's annual quota in tonnes."""

    seller: Edge = field(default_factory=Edge)
    dest: Edge = field(
        default_factory=lambda: Edge(device="mg-smelter-b-gate-1", site=DEST_SITE, seed=8)
    )
    other: Edge = field(
        default_factory=lambda: Edge(device="yl-mine-c-gate-1", site=OTHER_SITE, seed=9)
    )

    def register(self, store: Store, *, capacity_t: int = 3_000_000) -> Region:
        seller = replace(enterprise(), capacity_t=capacity_t)
        store.add_enterprise(seller, actor="test", at=T0)
        store.add_enterprise(
            enterprise(BUYER, credit_code="91610800MA6YL00002"), actor="test", at=T0
        )
        store.add_site(site(), actor="test", at=T0)
        store.add_site(
            replace(site(DEST_SITE, BUYER), kind="magnesium_smelter"), actor="test", at=T0
        )
        store.add_site(site(OTHER_SITE), actor="test", at=T0)
        for edge in (self.seller, self.dest, self.other):
            store.enroll_device(device(edge), actor="test", at=T0)
        store.upsert_vehicles([vehicle()], actor="test", at=T0)
        return self


def ticket_request(**changes: Any) -> TicketRequest:
    values: dict[str, Any] = {
        "enterprise": ENTERPRISE,
        "seller_site": SITE,
        "buyer": BUYER,
        "plate": "陕K·12345",
        "coal": "5500kcal-lump",
        "max_net_kg": 40_000,
        "dest_site": DEST_SITE,
    }
    values.update(changes)
    return TicketRequest(**values)


def loading(cti: bytes, net: int, **changes: Any) -> WeighingBody:
    """An outbound release at the seller naming ticket ``cti`` with net ``net``."""
    return weighing(ticket=cti, net_kg=net, gross_kg=15_020 + net, **changes)


def arrival(cti: bytes, net: int, **changes: Any) -> WeighingBody:
    """An inbound release at the destination naming ticket ``cti`` with net ``net``."""
    return weighing(ticket=cti, net_kg=net, gross_kg=15_020 + net, direction="in", **changes)
