"""Webhooks delivered to a real HTTP server the test runs: signed (the receiver verifies),
retried after a 500 with the backoff the schedule says (capped), and never sent again once a
2xx came back. Both stores."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from central.feeds.model import FeedItem
from central.feeds.settings import FeedSettings
from central.store.base import Store
from central.webhooks import signing
from central.webhooks.worker import WebhookWorker
from tests.central import builders as b
from tests.central.builders import ENTERPRISE, HOUR, T0, Region

SECRET = "whsec_test-secret-0123456789"


@dataclass
class Receiver:
    """Answers each POST with the next status of ``statuses`` (the last one repeats)."""

    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses[min(len(state.received), len(state.statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver")
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _worker(store: Store, clock: Clock, **changes: object) -> WebhookWorker:
    options: dict[str, object] = {"base_ms": 1_000, "cap_ms": 4_000, "jitter": lambda: 0.0}
    options.update(changes)
    return WebhookWorker(store=store, settings=FeedSettings(), clock=clock, **options)  # type: ignore[arg-type]


def _subscribe(store: Store, url: str) -> int:
    token = store.add_token(digest=b"\x09" * 32, role="platform", actor="t", at=T0)
    hook = store.add_webhook(
        token=token.id, enterprise=None, feed="credit", url=url, secret=SECRET, actor="t", at=T0
    )
    return hook.id


async def test_signed_delivery_retried_after_a_500_and_sent_once(
    store: Store, receiver: Receiver
) -> None:
    region = Region().register(store)
    _subscribe(store, receiver.url)
    escape = region.seller.sign(1, b.escape_event(), ts=T0 + HOUR)
    store.ingest([b.incoming(escape)], [], now_ms=T0 + HOUR)
    receiver.statuses = [500, 200]
    clock = Clock(T0 + 2 * HOUR)
    worker = _worker(store, clock)
    async with httpx.AsyncClient() as client:
        assert await worker.run_once(client) == 0  # the event is found, sent, answered 500
        assert len(receiver.received) == 1
        assert store.webhook_backlog() == 1
        clock.now += 999  # the first retry waits base_ms = 1,000 ms
        assert await worker.run_once(client) == 0
        assert len(receiver.received) == 1
        clock.now += 1
        assert await worker.run_once(client) == 1
        assert len(receiver.received) == 2
        assert store.webhook_backlog() == 0
        clock.now += 10 * HOUR
        assert await worker.run_once(client) == 0
    assert len(receiver.received) == 2  # nothing twice after the 2xx
    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        assert headers["x-coalgate-feed"] == "credit"
        assert signing.verify(
            SECRET, body, headers["x-coalgate-signature"], now_ms=clock.now, tolerance_ms=11 * HOUR
        )
        assert not signing.verify(
            "whsec_wrong-secret-012345",
            body,
            headers["x-coalgate-signature"],
            now_ms=clock.now,
            tolerance_ms=11 * HOUR,
        )
    first, second = receiver.received
    assert first[0]["x-coalgate-delivery"] == second[0]["x-coalgate-delivery"]
    assert first[1] == second[1]
    delivered = json.loads(first[1])
    assert delivered["feed"] == "credit"
    assert delivered["item"]["key"] == f"record:{escape.id.hex()}"
    assert delivered["item"]["subject"] == ENTERPRISE


async def test_backoff_doubles_up_to_the_cap(store: Store, receiver: Receiver) -> None:
    Region().register(store)
    _subscribe(store, receiver.url)
    receiver.statuses = [500]
    item = FeedItem(
        feed="credit",
        key="test:1",
        kind="escape",
        subject=ENTERPRISE,
        at=T0,
        body={},
        enterprise=ENTERPRISE,
        parties=(ENTERPRISE,),
    )
    store.append_feed_items([item], now_ms=T0)
    clock = Clock(T0)
    worker = _worker(store, clock, refresh=False)
    waits: list[int] = []
    async with httpx.AsyncClient() as client:
        for _ in range(5):
            assert await worker.run_once(client) == 0
            (due,) = store.due_deliveries(now_ms=T0 + 10 * HOUR)
            waits.append(due.next_at - clock.now)
            clock.now = due.next_at
    assert waits == [1_000, 2_000, 4_000, 4_000, 4_000]
    assert len(receiver.received) == 5
    (due,) = store.due_deliveries(now_ms=clock.now)
    assert (due.attempts, due.last_error) == (5, "HTTP 500")


async def test_an_unreachable_receiver_is_retried(store: Store) -> None:
    Region().register(store)
    _subscribe(store, "http://127.0.0.1:9/hook")  # the discard port: nobody listens
    item = FeedItem(
        feed="credit",
        key="test:2",
        kind="escape",
        subject=ENTERPRISE,
        at=T0,
        body={},
        enterprise=ENTERPRISE,
        parties=(ENTERPRISE,),
    )
    store.append_feed_items([item], now_ms=T0)
    clock = Clock(T0)
    async with httpx.AsyncClient() as client:
        assert await _worker(store, clock, refresh=False, timeout_s=5).run_once(client) == 0
    (due,) = store.due_deliveries(now_ms=T0 + HOUR)
    assert due.attempts == 1
    assert due.last_error is not None
    assert "Connect" in due.last_error


async def test_a_failing_receiver_costs_one_request_per_pass(
    store: Store, receiver: Receiver
) -> None:
    Region().register(store)
    _subscribe(store, receiver.url)
    receiver.statuses = [500, 200]
    items = [
        FeedItem(
            feed="credit", key=f"test:{n}", kind="escape", subject=ENTERPRISE, at=T0 + n, body={},
            enterprise=ENTERPRISE, parties=(ENTERPRISE,),
        )
        for n in (1, 2, 3)
    ]  # fmt: skip
    store.append_feed_items(items, now_ms=T0)
    clock = Clock(T0)
    worker = _worker(store, clock, refresh=False)
    async with httpx.AsyncClient() as client:
        assert await worker.run_once(client) == 0
        assert len(receiver.received) == 1  # the other two wait for a later pass
        assert [d.attempts for d in store.due_deliveries(now_ms=T0 + HOUR)] == [1, 0, 0]
        clock.now += 1_000
        assert await worker.run_once(client) == 3
    keys = [json.loads(body)["item"]["key"] for _, body in receiver.received]
    assert keys == ["test:1", "test:1", "test:2", "test:3"]
