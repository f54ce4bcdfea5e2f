"""A region for the dashboard tests and central serving it for real (uvicorn on a free port).

The region: seller ``sx-coal-a`` (mine ``yl-mine-a``) sold a ticket to ``mg-metal-b``; the
mine's gate signed the evidence and the loading weighing (34 t), an escape alarm and a
heartbeat; the smelter's gate signed its evidence and the arrival (33.95 t). A third enterprise
``zz-other-c`` sold its own ticket from its own works. Every record is really signed and
stored through ``Store.ingest``; the clock runs in real time from two hours after the region's
start, so the live stream, the ingest worker and the API agree on "now".
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import uvicorn

from central.api.app import create_app
from central.ingest.worker import wall_ms
from central.store.base import Store
from central.store.model import Enterprise, Site
from central.ticketing import service
from tests.central import builders as b
from tests.central.api_support import ISSUER, KEYRING, settings, token
from tests.central.builders import HOUR, T0, Region
from tests.wire import factories
from wire.bodies import EvidenceBody, ScaleInfo, Stability, StatusBody
from wire.receipts import encode_receipt
from wire.records import Record
from wire.tickets import Ticket, ticket_qr

OTHER_ENTERPRISE = "zz-other-c"
OTHER_SITE = "zz-works-c"
CHECKPOINT = "cp-yulin-north"
STOP_S = 15.0


def shifted_clock() -> Callable[[], int]:
    """Real time, moved so that now is two hours after the region's start (T0)."""
    offset = T0 + 2 * HOUR - wall_ms()
    return lambda: wall_ms() + offset


def curve(net: int, tare: int = 15_020) -> EvidenceBody:
    """A truck driving on, the weight swinging and settling: 40 readings, 100 ms apart."""
    gross = tare + net
    readings = []
    for i in range(40):
        if i < 10:
            kg = gross * i // 10
        elif i < 25:
            kg = gross + (300 if i % 2 else -260) * (25 - i) // 15
        else:
            kg = gross + (20 if i % 3 == 0 else 0)
        readings.append((i * 100, kg - kg % 20))
    return EvidenceBody(
        lane="lane-1",
        scale=ScaleInfo(protocol="mt-sics", division_kg=20, capacity_kg=100_000),
        stability=Stability(band_e=1, window_ms=1000),
        readings=tuple(readings),
        beams={"front": ((0, True),), "rear": ((0, True), (3800, False))},
        plate_reads=(),
        photos=(b"\x01" * 32,),
    )


@dataclass
class World:
    store: Store
    region: Region
    ticket: Ticket
    other_ticket: Ticket
    loading: Record
    tokens: dict[str, str] = field(default_factory=dict)

    def qr(self) -> str:
        return ticket_qr(self.ticket)

    def receipt(self) -> str:
        return encode_receipt(
            ticket=self.ticket.raw,
            record=self.loading.raw,
            certificate=self.store.get_device(self.region.seller.device).certificate,
        )


def register(store: Store, region: Region) -> None:
    """``Region.register``, with the names a Yulin region would show."""
    enterprises = [
        Enterprise(id=b.ENTERPRISE, name="神木A煤业", credit_code="91610800MA6YL00001",
                   land_mu=820.5, capacity_t=300_000),
        Enterprise(id=b.BUYER, name="府谷B镁业", credit_code="91610800MA6YL00002",
                   land_mu=300, capacity_t=500_000),
        Enterprise(id=OTHER_ENTERPRISE, name="榆阳C兰炭", credit_code="91610800MA6YL00003",
                   land_mu=150, capacity_t=400_000),
    ]  # fmt: skip
    for enterprise in enterprises:
        store.add_enterprise(enterprise, actor="test", at=T0)
    sites = [
        Site(id=b.SITE, enterprise=b.ENTERPRISE, kind="coal_mine", name="大柳塔A矿",
             lat=39.27, lon=110.27),
        Site(id=b.DEST_SITE, enterprise=b.BUYER, kind="magnesium_smelter", name="府谷B镁厂",
             lat=39.03, lon=111.07),
        Site(id=b.OTHER_SITE, enterprise=b.ENTERPRISE, kind="coal_mine", name="锦界C矿",
             lat=38.72, lon=110.15),
        Site(id=OTHER_SITE, enterprise=OTHER_ENTERPRISE, kind="semi_coke_plant", name="榆阳兰炭厂",
             lat=38.28, lon=109.73),
    ]  # fmt: skip
    for site in sites:
        store.add_site(site, actor="test", at=T0)
    for edge in (region.seller, region.dest, region.other):
        store.enroll_device(b.device(edge), actor="test", at=T0)
    store.upsert_vehicles([b.vehicle(), b.vehicle("陕K54321", trailer=None)], actor="test", at=T0)


def history(store: Store, region: Region, *, days: int = 12) -> None:
    """Twelve days of dispatches at the seller's second mine, 10 to 21 trucks a day, for the
    tonnage charts (a quarter of the trucks hold no ticket: released by the old paper rules)."""
    edge, seq = region.other, 0
    for day in range(days, 0, -1):
        batch = []
        for truck in range(10 + (day * 7) % 12):
            seq += 1
            net = 30_000 + (day * 977 + truck * 131) % 6_000
            body = b.weighing(ticket=None, net_kg=net, gross_kg=15_020 + net,
                              plate=f"陕K{20000 + truck * 37 % 900:05d}")  # fmt: skip
            ts = T0 - day * 24 * HOUR + truck * 1_200_000
            batch.append(b.incoming(edge.sign(seq, body, ts=ts)))
        store.ingest(batch, [], now_ms=T0 - day * 24 * HOUR + 12 * HOUR)


def build_world(store: Store) -> World:
    region = Region()
    register(store, region)
    store.add_checkpoint(b.checkpoint(CHECKPOINT), actor="test", at=T0)
    issued = service.issue(
        store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=T0, actor="test"
    )
    other_issued = service.issue(
        store, KEYRING,
        b.ticket_request(enterprise=OTHER_ENTERPRISE, seller_site=OTHER_SITE, plate="陕K54321"),
        issuer=ISSUER, now_ms=T0, actor="test",
    )  # fmt: skip
    cti = issued.ticket.cti
    seller, dest = region.seller, region.dest
    evidence = seller.sign(1, curve(34_000), ts=T0 + HOUR - 5_000)
    loading = seller.sign(2, b.loading(cti, 34_000, evidence=evidence.id), ts=T0 + HOUR)
    escape = seller.sign(3, b.escape_event(), ts=T0 + HOUR + 60_000)
    heartbeat = seller.sign(
        4,
        StatusBody(uptime_s=900, lanes={"lane-1": "idle"}, backlog=3, bundle_version=2,
                   version="0.1.0"),
        ts=T0 + HOUR + 90_000,
    )  # fmt: skip
    dest_evidence = dest.sign(1, curve(33_950), ts=T0 + HOUR + 1_800_000)
    arrival = dest.sign(
        2, b.arrival(cti, 33_950, evidence=dest_evidence.id), ts=T0 + HOUR + 1_805_000
    )
    records = [evidence, loading, escape, heartbeat, dest_evidence, arrival]
    for record in records:
        store.ingest([b.incoming(record)], [], now_ms=record.ts + 500)
    history(store, region)
    world = World(store=store, region=region, ticket=issued.ticket,
                  other_ticket=other_issued.ticket, loading=loading)  # fmt: skip
    world.tokens = {
        "regulator": token(store, "regulator"),
        "admin": token(store, "admin"),
        "enterprise": token(store, "enterprise", enterprise=b.ENTERPRISE),
        "other_enterprise": token(store, "enterprise", enterprise=OTHER_ENTERPRISE),
        "checkpoint": token(store, "checkpoint", checkpoint=CHECKPOINT),
        "platform": token(store, "platform"),
    }
    return world


class CentralServer:
    """``with CentralServer(store, tmp_path) as server:`` — central's app (API, dashboard,
    checkpoint page) on a real uvicorn in a thread; ``server.url`` is its base URL. The socket
    listens before the thread starts, so a client may connect at once."""

    def __init__(
        self, store: Store, tmp_path: Path, *, clock: Callable[[], int] | None = None
    ) -> None:
        app = create_app(
            store=store, keyring=KEYRING, settings=settings(tmp_path),
            clock=clock or shifted_clock(),
        )  # fmt: skip
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", ws="none", http="h11",
            timeout_graceful_shutdown=5,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="central-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self._failure.append(exc)

    def start(self) -> CentralServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._thread.is_alive() and self._server.should_exit:
            return
        self._server.should_exit = True
        self._thread.join(STOP_S)
        self._socket.close()
        assert not self._thread.is_alive(), "central did not stop"
        assert not self._failure, self._failure

    def __enter__(self) -> CentralServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


__all__ = ["CentralServer", "World", "build_world", "factories", "wait_for"]
