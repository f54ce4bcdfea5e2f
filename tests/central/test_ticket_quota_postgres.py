"""Quota under concurrent requests on PostgreSQL: many issuers at once never over-issue."""

from __future__ import annotations

import threading

import pytest

from central.errors import QuotaExceededError
from central.store.postgres import PostgresStore
from central.ticketing import service
from tests.central import builders as b
from tests.central.builders import T0, Region

pytestmark = pytest.mark.postgres


def test_parallel_issue_requests_never_over_issue(postgres_dsn: str) -> None:
    """Twelve threads, each with its own connection pool (as separate API processes would
    have), request 40 tickets of 10 t at once against a quota of 100 t: exactly ten succeed
    and the ledger holds exactly 100 t."""
    setup = PostgresStore(postgres_dsn)
    setup.migrate()
    Region().register(setup, capacity_t=100)
    keyring = b.central_keyring()
    threads, per_thread = 12, 40 // 12 + 1
    start = threading.Barrier(threads)
    issued: list[bytes] = []
    refused: list[QuotaExceededError] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def requester() -> None:
        store = PostgresStore(postgres_dsn, max_size=1)
        try:
            start.wait(timeout=30)
            for _ in range(per_thread):
                try:
                    done = service.issue(
                        store, keyring, b.ticket_request(max_net_kg=10_000), issuer="x",
                        now_ms=T0, actor="test",
                    )  # fmt: skip
                except QuotaExceededError as exc:
                    with lock:
                        refused.append(exc)
                else:
                    with lock:
                        issued.append(done.ticket.cti)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            with lock:
                failures.append(exc)
        finally:
            store.close()

    workers = [threading.Thread(target=requester) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    try:
        assert failures == []
        assert len(issued) == 10
        assert len(refused) == threads * per_thread - 10
        assert setup.quota_used(b.ENTERPRISE, "2026") == 100_000
        assert len(setup.list_tickets(state="issued")) == 10
        # Every refusal saw a consistent ledger: never more than the limit in use.
        assert all(exc.used_kg <= exc.limit_kg == 100_000 for exc in refused)
    finally:
        setup.close()
