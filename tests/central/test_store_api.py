"""The Store methods the API added (central/store/base.py, "API", "sightings"), on SQLite and
PostgreSQL: tokens stored by digest and audited, alarm acknowledgements, record queries across
devices, checkpoint sightings."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.errors import ConflictError, NotFoundError, RegistryError, StoreError
from central.store import schema
from central.store.base import Store
from central.store.model import Alarm, RecordCursor, RecordQuery, Sighting, SightingQuery
from central.store.sqlite import SqliteStore
from central.ticketing import service
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Region

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def unmigrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "central.db")
    else:
        from central.store.postgres import PostgresStore  # noqa: PLC0415

        opened = PostgresStore(request.getfixturevalue("postgres_dsn"), max_size=2)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def store(unmigrated: Store) -> Store:
    unmigrated.migrate()
    return unmigrated


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
    with pytest.raises(RegistryError):
        store.add_token(digest=digest("x"), role="checkpoint", actor="t", at=T0)
    with pytest.raises(RegistryError):
        store.add_token(digest=digest("x"), role="admin", checkpoint="cp-a", actor="t", at=T0)
    with pytest.raises(NotFoundError):
        store.add_token(digest=digest("x"), role="checkpoint", checkpoint="cp-a", actor="t", at=T0)
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


def test_checkpoint_tokens_name_their_checkpoint(store: Store) -> None:
    store.add_checkpoint(b.checkpoint("cp-a"), actor="t", at=T0)
    made = store.add_token(
        digest=digest("c"), role="checkpoint", checkpoint="cp-a", actor="cli:root", at=T0
    )
    assert made.checkpoint == "cp-a"
    assert store.token_by_digest(digest("c")) == made
    assert store.revoke_token(made.id, actor="t", at=T0 + 1).checkpoint == "cp-a"
    assert store.audit_log(limit=2)[1].detail == {"id": made.id, "role": "checkpoint",
                                                  "checkpoint": "cp-a"}  # fmt: skip


def test_sightings_are_stored_and_found_not_audited(store: Store) -> None:
    store.add_checkpoint(b.checkpoint("cp-a"), actor="t", at=T0)
    store.add_checkpoint(b.checkpoint("cp-b"), actor="t", at=T0)
    a = store.add_token(digest=digest("a"), role="checkpoint", checkpoint="cp-a", actor="t", at=T0)
    bee = store.add_token(
        digest=digest("b"), role="checkpoint", checkpoint="cp-b", actor="t", at=T0
    )
    audited = len(store.audit_log(limit=1000))
    cti = b"\x11" * 16
    ticket = Sighting(
        checkpoint="cp-a", token=a.id, kind="ticket", cti=cti, plate=b.PLATE, seen_at=T0,
        recorded_at=T0 + 5, valid=True, ticket_state="loaded",
    )  # fmt: skip
    receipt = dataclasses.replace(
        ticket, checkpoint="cp-b", token=bee.id, kind="receipt", record_id=b"\x22" * 32,
        seen_at=T0 + 10, recorded_at=T0 + 12,
    )  # fmt: skip
    forged = dataclasses.replace(
        ticket, valid=False, reason="signature", ticket_state=None, seen_at=T0 + 20
    )
    manual = Sighting(
        checkpoint="cp-a", token=a.id, kind="manual", cti=None, plate="陕K99999",
        seen_at=T0 + 30, recorded_at=T0 + 30,
    )  # fmt: skip
    stored = [store.add_sighting(s) for s in (ticket, receipt, forged, manual)]
    ids = [s.id for s in stored]
    assert all(i is not None for i in ids)
    assert ids == sorted(ids)
    assert [dataclasses.replace(s, id=None) for s in stored] == [ticket, receipt, forged, manual]
    assert len(store.audit_log(limit=1000)) == audited  # operational data: not audited

    def found(**query: object) -> list[int | None]:
        return [s.id for s in store.find_sightings(SightingQuery(**query))]  # type: ignore[arg-type]

    assert store.find_sightings(SightingQuery()) == stored
    assert found(checkpoint="cp-a") == [ids[0], ids[2], ids[3]]
    assert found(cti=cti) == ids[:3]
    assert found(plate="陕K99999") == [ids[3]]
    assert found(cti=cti, checkpoint="cp-b") == [ids[1]]
    assert found(after=ids[1], limit=1) == [ids[2]]
    assert found(checkpoint="cp-nowhere") == []
    with pytest.raises(StoreError):
        store.find_sightings(SightingQuery(limit=0))
    with pytest.raises(NotFoundError):
        store.add_sighting(dataclasses.replace(manual, checkpoint="cp-nowhere"))
    with pytest.raises(NotFoundError):
        store.add_sighting(dataclasses.replace(manual, token=9999))
    with pytest.raises(StoreError):
        store.add_sighting(dataclasses.replace(manual, valid=True))
    with pytest.raises(StoreError):
        store.add_sighting(dataclasses.replace(ticket, valid=None))
    with pytest.raises(StoreError):
        store.add_sighting(dataclasses.replace(ticket, cti=b"short"))
    assert len(store.find_sightings(SightingQuery())) == 4


def test_checkpoint_tokens_made_before_0007_survive_it_naming_no_checkpoint(
    unmigrated: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = schema.load

    def up_to_0006(backend: schema.Backend) -> list[schema.Migration]:
        return [m for m in shipped(backend) if m.version <= 6]

    monkeypatch.setattr(schema, "load", up_to_0006)
    unmigrated.migrate()
    # A checkpoint token as the 0006 code stored it (no checkpoint column yet).
    unmigrated._write(  # type: ignore[attr-defined]
        lambda tx: tx.run(
            "INSERT INTO api_tokens (digest, role, created_at) VALUES (?, ?, ?)",
            (digest("old"), "checkpoint", T0),
        )
    )
    monkeypatch.setattr(schema, "load", shipped)
    assert unmigrated.migrate()[0] == "0007_sightings"  # and the later ones
    legacy = unmigrated.token_by_digest(digest("old"))
    assert legacy is not None
    assert (legacy.role, legacy.checkpoint) == ("checkpoint", None)
    unmigrated.add_checkpoint(b.checkpoint("cp-a"), actor="t", at=T0)
    new = unmigrated.add_token(
        digest=digest("new"), role="checkpoint", checkpoint="cp-a", actor="t", at=T0
    )
    assert [(t.id, t.checkpoint) for t in unmigrated.list_tokens()] == [
        (legacy.id, None),
        (new.id, "cp-a"),
    ]
