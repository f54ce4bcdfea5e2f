"""A small region behind the API, for the API tests: real signed records ingested through
``Store.ingest``, a real ticket, an alarm, a quarantined message, and one token per role.

Starlette's TestClient warns that it prefers the ``httpx2`` package; the dev extra installs
``httpx``, which it still supports, so that one warning is silenced here, at the import.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from central.api.app import create_app
from central.api.tokens import create_token
from central.config import Settings
from central.store.base import Store
from central.store.model import TokenRole
from central.ticketing import service
from central.ticketing.bundles import BundlePublisher
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Edge, Region
from wire.receipts import encode_receipt
from wire.records import Record
from wire.tickets import Ticket, ticket_qr

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

ISSUER = "yulin-energy-bureau"
KEYRING = b.central_keyring()
NOW = T0 + 2 * HOUR  # the API's clock
OTHER_ENTERPRISE = "zz-other-c"
OTHER_SITE = "zz-works-c"
NEW_DEVICE = "yl-mine-a-gate-9"  # the device token's own id, not enrolled yet
CHECKPOINT = "cp-yulin-north"  # the checkpoint token's checkpoint
OTHER_CHECKPOINT = "cp-shenmu-south"

__all__ = ["TestClient"]


def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"COALGATE_DATA_DIR": str(tmp_path), "COALGATE_ISSUER": ISSUER})


@dataclass
class World:
    """Seller ``sx-coal-a`` (mine ``yl-mine-a``) sold a ticket to ``mg-metal-b``; the mine's
    gate loaded the truck and raised an escape alarm; a third enterprise owns nothing of it.
    Two checkpoints are registered, each with its own checkpoint token."""

    store: Store
    region: Region
    ticket: Ticket
    loading: Record
    event: Record
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def cti(self) -> str:
        return self.ticket.id

    @property
    def alarm_id(self) -> int:
        (alarm,) = [a for a in self.store.alarms() if a.kind == "escape"]
        assert alarm.id is not None
        return alarm.id

    def receipt(self) -> str:
        return encode_receipt(
            ticket=self.ticket.raw,
            record=self.loading.raw,
            certificate=self.store.get_device(self.region.seller.device).certificate,
        )

    def qr(self) -> str:
        return ticket_qr(self.ticket)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def token(
    store: Store,
    role: TokenRole,
    *,
    enterprise: str | None = None,
    device: str | None = None,
    checkpoint: str | None = None,
) -> str:
    text, _ = create_token(
        store, role=role, enterprise=enterprise, device=device, checkpoint=checkpoint,
        actor="test", now_ms=T0,
    )  # fmt: skip
    return text


def build_world(store: Store) -> World:
    region = Region().register(store)
    other = b.enterprise(OTHER_ENTERPRISE, credit_code="91610800MA6YL00003")
    store.add_enterprise(other, actor="test", at=T0)
    store.add_site(b.site(OTHER_SITE, OTHER_ENTERPRISE), actor="test", at=T0)
    store.add_checkpoint(b.checkpoint(CHECKPOINT), actor="test", at=T0)
    store.add_checkpoint(b.checkpoint(OTHER_CHECKPOINT), actor="test", at=T0)
    issued = service.issue(
        store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=T0, actor="test"
    )
    seller: Edge = region.seller
    loading = seller.sign(1, b.loading(issued.ticket.cti, 34_000), ts=T0 + HOUR)
    event = seller.sign(2, b.escape_event(), ts=T0 + HOUR + 60_000)
    store.ingest(
        [b.incoming(loading), b.incoming(event)],
        [b.quarantine_item(b"\xa0not a record", device=seller.device, received_at=T0 + HOUR)],
        now_ms=T0 + HOUR,
    )
    world = World(store=store, region=region, ticket=issued.ticket, loading=loading, event=event)
    world.tokens = {
        "regulator": token(store, "regulator"),
        "admin": token(store, "admin"),
        "checkpoint": token(store, "checkpoint", checkpoint=CHECKPOINT),
        "other_checkpoint": token(store, "checkpoint", checkpoint=OTHER_CHECKPOINT),
        "platform": token(store, "platform"),
        "enterprise": token(store, "enterprise", enterprise=b.ENTERPRISE),
        "buyer": token(store, "enterprise", enterprise=b.BUYER),
        "other_enterprise": token(store, "enterprise", enterprise=OTHER_ENTERPRISE),
        "device": token(store, "device", device=NEW_DEVICE),
        "other_device": token(store, "device", device="yl-mine-a-gate-8"),
    }
    revoked, stored = create_token(store, role="admin", actor="test", now_ms=T0)
    store.revoke_token(stored.id, actor="test", at=T0)
    world.tokens["revoked"] = revoked
    return world


def make_app(store: Store, tmp_path: Path, *, publisher: BundlePublisher | None = None) -> FastAPI:
    return create_app(
        store=store, keyring=KEYRING, settings=settings(tmp_path), publisher=publisher,
        clock=lambda: NOW,
    )  # fmt: skip
