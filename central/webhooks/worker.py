"""The webhook delivery loop: refresh the journal feeds, POST what is due, retry with capped
exponential backoff (see :mod:`central.webhooks.signing`).

Run by ``coalgate central webhooks run``. Each pass: build new feed items (which queues them
for the subscriptions that want them, in the same transaction), then deliver the due outbox
rows one request at a time, each within ``timeout_s``; after a failure the pass skips that
subscription's other rows (a receiver that is down costs one timeout per pass, not one per
row). A row is marked delivered only
after a 2xx answer, so a crash between the answer and the mark re-sends it once (receivers
drop repeats by ``X-Coalgate-Delivery``); a delivered row is never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import httpx

from central.errors import CentralError
from central.feeds import service
from central.feeds.model import Delivery
from central.feeds.settings import FeedSettings
from central.store.base import Store
from central.webhooks import signing


class WebhookWorker:
    def __init__(
        self,
        *,
        store: Store,
        settings: FeedSettings,
        clock: Callable[[], int],
        base_ms: int = 5_000,
        cap_ms: int = 3_600_000,
        timeout_s: float = 10.0,
        interval_s: float = 5.0,
        refresh: bool = True,
        jitter: Callable[[], float] = random.random,
        logger: logging.Logger | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._base_ms = base_ms
        self._cap_ms = cap_ms
        self._timeout_s = timeout_s
        self._interval_s = interval_s
        self._refresh = refresh
        self._jitter = jitter
        self._log = logger or logging.getLogger(__name__)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Pass after pass until :meth:`stop`; a failing pass is logged and retried."""
        async with httpx.AsyncClient() as client:
            while not self._stop.is_set():
                try:
                    await self.run_once(client)
                except CentralError:  # a database outage must not end the loop
                    self._log.exception("webhook pass failed; retrying in %.0f s", self._interval_s)
                try:
                    async with asyncio.timeout(self._interval_s):
                        await self._stop.wait()
                except TimeoutError:
                    pass

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """One pass; the number of deliveries that succeeded."""
        now = self._clock()
        if self._refresh:
            await asyncio.to_thread(service.refresh, self._store, self._settings, now_ms=now)
        due = await asyncio.to_thread(self._store.due_deliveries, now_ms=now, limit=100)
        done = 0
        failing: set[int] = set()
        for delivery in due:
            if delivery.webhook.id in failing:
                continue  # its receiver just failed: try its other rows on a later pass
            if await self._deliver(client, delivery):
                done += 1
            else:
                failing.add(delivery.webhook.id)
        return done

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> bool:
        body = signing.payload(delivery.item)
        sent_at = self._clock()
        headers = {
            "Content-Type": "application/json",
            signing.SIGNATURE_HEADER: signing.sign(delivery.webhook.secret, body, t_ms=sent_at),
            signing.DELIVERY_HEADER: str(delivery.id),
            signing.FEED_HEADER: delivery.item.feed,
        }
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await client.post(delivery.webhook.url, content=body, headers=headers)
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
        except TimeoutError:
            error = f"no answer within {self._timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            await asyncio.to_thread(self._store.finish_delivery, delivery.id, at=self._clock())
            return True
        wait = signing.backoff_ms(
            delivery.attempts + 1, base_ms=self._base_ms, cap_ms=self._cap_ms, jitter=self._jitter()
        )
        self._log.warning(
            "webhook %d delivery %d to %s failed (%s); retry in %d ms",
            delivery.webhook.id,
            delivery.id,
            delivery.webhook.url,
            error,
            wait,
        )
        await asyncio.to_thread(
            self._store.retry_delivery, delivery.id, next_at=self._clock() + wait, error=error
        )
        return False
