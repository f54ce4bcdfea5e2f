"""The Store methods the API added (central/store/base.py, "API"), on SQLite and PostgreSQL:
tokens stored by digest and audited, alarm acknowledgements, record queries across devices."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.errors import ConflictError, NotFoundError, RegistryError, StoreError
from central.store.base import Store
from central.store.model import Alarm, RecordCursor, RecordQuery
from central.store.sqlite import SqliteStore
from central.ticketing import service
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Region


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "central.db")
    else:
        from central.store.postgres import PostgresStore  # noqa: PLC0415

        opened = PostgresStore(request.getfixturevalue("postgres_dsn"), max_size=2)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def test_tokens_are_stored_by_digest_scoped_audited_and_revocable(store: Store) -> None:
    store.add_enterprise(b.enterprise(), actor="test", at=T0)
    admin = store.add_token(digest=digest("a"), role="admin", actor="cli:root", at=T0)
    firm = store.add_token(
        digest=digest("e"), role="enterprise", enterprise=b.ENTERPRISE, actor="cli:root", at=T0
    )
    device = store.add_token(
        digest=digest("d"), role="device", device="yl-mine-a-gate-7", actor="cli:root", at=T0
    )
    assert store.token_by_digest(digest("e")) == firm
    assert store.token_by_digest(digest("nobody")) is None
    assert [t.id for t in store.list_tokens()] == [admin.id, firm.id, device.id]
    assert (firm.enterprise, device.device, admin.enterprise) == (
        b.ENTERPRISE,
        "yl-mine-a-gate-7",
        None,
    )
    entries = [e for e in store.audit_log() if e.action == "token.create"]
    assert len(entries) == 3
    assert all("digest" not in e.detail and e.actor == "cli:root" for e in entries)
    assert {"role": "enterprise", "enterprise": b.ENTERPRISE}.items() <= {
        k: v for e in entries for k, v in e.detail.items() if e.detail["role"] == "enterprise"
    }.items()
    revoked = store.revoke_token(admin.id, actor="cli:root", at=T0 + 1)
    assert revoked.revoked_at == T0 + 1
    assert store.revoke_token(admin.id, actor="cli:root", at=T0 + 2).revoked_at == T0 + 1
    stored = store.token_by_digest(digest("a"))
    assert stored is not None
    assert stored.revoked_at == T0 + 1
    with pytest.raises(NotFoundError):
        store.revoke_token(9999, actor="x", at=T0)


def test_token_scope_rules(store: Store) -> None:
    with pytest.raises(RegistryError):
        store.add_token(digest=digest("x"), role="enterprise", actor="t", at=T0)
    with pytest.raises(RegistryError):
        store.add_token(digest=digest("x"), role="admin", device="gate-1", actor="t", at=T0)
    with pytest.raises(NotFoundError):
        store.add_token(
            digest=digest("x"), role="enterprise", enterprise="nobody", actor="t", at=T0
        )
    store.add_token(digest=digest("x"), role="platform", actor="t", at=T0)
    with pytest.raises(ConflictError):
        store.add_token(digest=digest("x"), role="platform", actor="t", at=T0)
    assert len(store.list_tokens()) == 1


def test_alarms_are_acknowledged_once(store: Store) -> None:
    (alarm,) = store.raise_alarms([Alarm(kind="backlog", severity="warning", raised_at=T0)])
    assert alarm.id is not None
    assert store.alarm_acks([alarm.id]) == {}
    ack = store.ack_alarm(alarm.id, note="known", actor="api:admin#1", at=T0 + 5)
    assert store.alarm_acks([alarm.id, alarm.id, 12345]) == {alarm.id: ack}
    with pytest.raises(ConflictError):
        store.ack_alarm(alarm.id, note="again", actor="api:admin#1", at=T0 + 6)
    with pytest.raises(NotFoundError):
        store.ack_alarm(alarm.id + 100, note="", actor="x", at=T0)
    assert store.audit_log(limit=1)[0].action == "alarm.ack"


def test_records_are_found_across_devices(store: Store) -> None:
    region = Region().register(store)
    issued = service.issue(store, b.central_keyring(), b.ticket_request(), issuer="x",
                           now_ms=T0, actor="t")  # fmt: skip
    cti = issued.ticket.cti
    seller, dest = region.seller, region.dest
    loading = seller.record(1, b.loading(cti, 34_000), ts=T0 + HOUR, received_at=T0 + HOUR)
    status = seller.record(2, ts=T0 + HOUR + 1, received_at=T0 + HOUR + 10)
    held = dest.record(1, b.weighing(ticket=None, decision="hold", net_kg=None, direction="in"),
                       ts=T0 + 2 * HOUR, received_at=T0 + HOUR + 10)  # fmt: skip
    arrival = dest.record(2, b.arrival(cti, 33_950), ts=T0 + 3 * HOUR, received_at=T0 + 3 * HOUR)
    store.ingest([loading, status, held, arrival], [], now_ms=T0 + 3 * HOUR)
    # A second version of a stored seq is evidence, never a query result.
    store.ingest([seller.other_version(2)], [], now_ms=T0 + 4 * HOUR)

    def ids(**query: object) -> list[bytes]:
        return [r.record_id for r in store.find_records(RecordQuery(**query))]  # type: ignore[arg-type]

    # (received_at, record_id) orders the two that arrived at the same ms.
    same_ms = sorted([status.record_id, held.record_id])
    everything = [loading.record_id, *same_ms, arrival.record_id]
    assert ids() == everything
    assert ids(limit=2) == everything[:2]
    cursor = RecordCursor(received_at=T0 + HOUR + 10, record_id=same_ms[0])
    assert ids(after=cursor) == [same_ms[1], arrival.record_id]
    assert ids(ticket=cti) == [loading.record_id, arrival.record_id]
    assert ids(plate=b.PLATE, site=b.DEST_SITE) == [arrival.record_id]  # a hold has no fact
    assert ids(type="status") == [status.record_id]
    assert ids(device=dest.device) == [held.record_id, arrival.record_id]
    assert ids(since=T0 + HOUR + 1, until=T0 + 3 * HOUR) == sorted(
        [status.record_id, held.record_id]
    )
    assert ids(sites=(b.SITE,)) == [loading.record_id, status.record_id]
    assert ids(sites=()) == []
    assert ids(sites=(b.SITE,), site=b.DEST_SITE) == []
    assert store.record_by_id(arrival.record_id) == store.get_record(dest.device, 2)
    assert store.record_by_id(b"\x00" * 32) is None
    with pytest.raises(StoreError):
        store.find_records(RecordQuery(limit=0))
