"""The console's world for its tests: a real ``Lane`` in a ``MemoryBackend``, real signed
tickets, bundle and device certificate, the console's router in a FastAPI app, and that app
served by a real uvicorn on a free port (for the browser).

Time: the lane's clock starts at the wall clock and moves only when the test drives the truck
(``Gate``), so a visit is replayed exactly; the tickets are issued an hour before it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from edge.console.accounts import Accounts
from edge.console.memory import MemoryBackend
from edge.console.routes import console_router
from edge.gate.inputs import BeamsIn, Input, PlateIn, WeightIn
from edge.gate.lane import Lane
from tests.edge.gate import builders as gb
from tests.wire import central_factories as cf
from wire.bundles import Bundle, BundleTicket, build_bundle
from wire.tickets import Ticket

PLATE = gb.PLATE  # 陕K12345: 6 axles, combination, stored tare 15 020 kg
OPERATOR = "wang.li"
OPERATOR_NAME = "王丽"
PASSWORD = "correct horse 42"
STOP_S = 15.0


class Clock:
    """The lane's clock: starts at ``start_ms`` and moves when told to."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self.now

    def advance(self, ms: int) -> int:
        with self._lock:
            self.now += ms
            return self.now


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass
class World:
    clock: Clock
    backend: MemoryBackend
    accounts: Accounts
    ticket: Ticket
    bundle: Bundle
    gate: Gate


def world(tmp_path: Path, *, bundle: bool = True) -> World:
    clock = Clock(wall_ms())
    iat = clock() // 1000 - 3600
    ticket = cf.ticket(iat=iat, exp=iat + 48 * 3600)
    site_bundle = build_bundle(
        cf.CENTRAL, site=gb.SITE, version=3, ts=clock() - 60_000,
        tickets=(BundleTicket(ticket=ticket, state="issued", loaded_at=None, source_net_kg=None),),
        revoked=(), vehicles=gb.VEHICLES,
    )  # fmt: skip
    lane = Lane(
        gb.config(), site=gb.SITE, keys=gb.KEYS, bundle=site_bundle if bundle else None,
        now_ms=clock(),
    )  # fmt: skip
    backend = MemoryBackend(
        lanes=[lane], key=cf.DEVICE_KEY, certificate=cf.certificate().raw, clock=clock
    )
    accounts = Accounts.in_dir(tmp_path / "data")
    accounts.add(OPERATOR, PASSWORD, name=OPERATOR_NAME, now_ms=clock())
    gate = Gate(backend, clock)
    return World(
        clock=clock, backend=backend, accounts=accounts, ticket=ticket, bundle=site_bundle,
        gate=gate,
    )  # fmt: skip


def app(w: World, *, stream_s: float = 30.0) -> FastAPI:
    built = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    router = console_router(
        backend=w.backend, accounts=w.accounts, clock=w.clock, poll_s=0.05, stream_s=stream_s,
        logger=logging.getLogger("test.console"),
    )  # fmt: skip
    built.include_router(router)
    return built


class Gate:
    """Drives one lane of the backend: readings every ``every_ms``, beams, plates."""

    def __init__(self, backend: MemoryBackend, clock: Clock, *, lane: str = "lane-1") -> None:
        self.backend = backend
        self.clock = clock
        self.lane = lane
        self.every = 100
        self.beams = BeamsIn(entry=False, front=False, rear=False, exit=False, barrier_up=False)

    def feed(self, item: Input, *, after_ms: int = 0) -> None:
        self.clock.advance(after_ms)
        self.backend.feed(self.lane, item)

    def hold_weight(self, kg: int, *, ms: int = 1200, stable: bool | None = True) -> None:
        for _ in range(ms // self.every):
            self.feed(WeightIn(kg=kg, stable=stable), after_ms=self.every)

    def set_beams(self, **changes: bool) -> None:
        self.beams = dataclasses.replace(self.beams, **changes)
        self.feed(self.beams, after_ms=10)

    def plate(self, plate: str = PLATE, conf: int = 95) -> None:
        self.feed(PlateIn(plate=plate, confidence=conf, camera=f"{self.lane}-entry"), after_ms=10)

    def drive_on(
        self, kg: int, *, plate: str | None = PLATE, conf: int = 95, zero_first: bool = True
    ) -> None:
        """From an empty lane to a truck standing wholly on the deck until it is decided
        (``zero_first``: the empty deck reads zero, stable, before the truck comes)."""
        if zero_first:
            self.hold_weight(0)
        if plate is not None:
            self.plate(plate, conf)
        self.set_beams(entry=True)
        self.set_beams(entry=False, rear=True)
        self.hold_weight(kg // 2, ms=300, stable=False)
        self.set_beams(rear=False)
        self.hold_weight(kg, ms=1500)

    def drive_off(self) -> None:
        self.set_beams(front=True)
        self.set_beams(exit=True)
        self.hold_weight(0, ms=300)
        self.set_beams(front=False)
        self.set_beams(exit=False)


class ConsoleServer:
    """``with ConsoleServer(app) as server:`` — the app on a real uvicorn in a thread;
    ``server.url`` is its base URL (the socket listens before the thread starts)."""

    def __init__(self, served: FastAPI) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            served, log_config=None, access_log=False, lifespan="off", ws="none", http="h11",
            timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="console-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self._failure.append(exc)

    def __enter__(self) -> ConsoleServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_S)
        self._socket.close()
        assert not self._thread.is_alive(), "the console server did not stop"
        assert not self._failure, self._failure


def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    """Poll ``condition`` until it is truthy (bounded); return it."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)
    return value
