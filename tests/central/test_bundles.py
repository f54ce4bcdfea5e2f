"""Site bundles: what they hold as tickets move, and their versions (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.errors import NotFoundError
from central.store.base import Store
from central.store.sqlite import SqliteStore
from central.ticketing import service
from central.ticketing.bundles import build_site_bundle
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Region
from wire.bundles import verify_bundle
from wire.errors import StaleError

KEYRING = b.central_keyring()


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


def issue(store: Store, **changes: object) -> bytes:
    issued = service.issue(
        store, KEYRING, b.ticket_request(**changes), issuer="x", now_ms=T0, actor="test"
    )
    return issued.ticket.cti


def test_bundle_contents_follow_the_tickets(store: Store) -> None:
    region = Region().register(store)
    assert store.bundle_version(b.SITE) == 0
    loaded, waiting, revoked, closed = (issue(store) for _ in range(4))
    elsewhere = issue(store, seller_site=b.SITE, dest_site=b.OTHER_SITE)
    service.revoke(store, revoked, actor="test", now_ms=T0)
    store.ingest(
        [
            region.seller.record(1, b.loading(loaded, 34_000), ts=T0 + HOUR),
            region.seller.record(2, b.loading(closed, 34_000)),
            region.dest.record(1, b.arrival(closed, 34_000)),
        ],
        [],
        now_ms=T0 + 2 * HOUR,
    )

    at_dest = build_site_bundle(store, KEYRING, b.DEST_SITE, now_ms=T0 + 2 * HOUR)
    held = verify_bundle(at_dest.raw, KEYRING.published, site=b.DEST_SITE, held_version=None)
    assert held.version == 1
    entries = {e.ticket.cti: e for e in held.tickets}
    assert set(entries) == {loaded, waiting}  # closed is no longer open; the rest go elsewhere
    assert (entries[loaded].state, entries[loaded].loaded_at, entries[loaded].source_net_kg) == (
        "loaded", T0 + HOUR, 34_000
    )  # fmt: skip
    assert (entries[waiting].state, entries[waiting].loaded_at) == ("issued", None)
    assert held.revoked == {revoked}
    assert set(held.vehicles) == {b.PLATE}
    assert held.vehicles[b.PLATE].trailer == "陕K1234挂"

    at_seller = build_site_bundle(store, KEYRING, b.SITE, now_ms=T0 + 2 * HOUR)
    assert {e.ticket.cti for e in at_seller.tickets} == {loaded, waiting, elsewhere}
    at_other = build_site_bundle(store, KEYRING, b.OTHER_SITE, now_ms=T0 + 2 * HOUR)
    assert {e.ticket.cti for e in at_other.tickets} == {elsewhere}
    assert at_other.revoked == frozenset()

    # Versions rise per site, every build; an edge refuses anything not above what it holds.
    again = build_site_bundle(store, KEYRING, b.DEST_SITE, now_ms=T0 + 3 * HOUR)
    assert again.version == 2
    assert store.bundle_version(b.DEST_SITE) == 2
    verify_bundle(again.raw, KEYRING.published, site=b.DEST_SITE, held_version=1)
    with pytest.raises(StaleError):
        verify_bundle(at_dest.raw, KEYRING.published, site=b.DEST_SITE, held_version=2)

    # A revoked ticket drops out of the list once no gate could still be shown it.
    late = build_site_bundle(store, KEYRING, b.DEST_SITE, now_ms=T0 + 48 * HOUR)
    assert late.revoked == frozenset()
    with pytest.raises(NotFoundError):
        build_site_bundle(store, KEYRING, "no-such-site", now_ms=T0)


def test_ingest_names_the_sites_whose_bundles_change(store: Store) -> None:
    region = Region().register(store)
    cti = issue(store)
    loading = region.seller.record(1, b.loading(cti, 34_000))
    assert store.ingest([loading], [], now_ms=T0).ticket_sites == {b.SITE, b.DEST_SITE}
    # A flag alone changes nothing a gate sees.
    again = region.seller.record(2, b.loading(cti, 34_000))
    assert store.ingest([again], [], now_ms=T0).ticket_sites == frozenset()
    # Sweeping an expiry does (service.sweep reports the sites).
    other = issue(store, valid_s=60)
    sites, alarms = service.sweep(store, now_ms=T0 + 60_000)
    assert (sites, alarms) == ({b.SITE, b.DEST_SITE}, [])
    assert store.get_ticket(other).state == "expired"
