"""A transparency log on a real store: three devices of ``Region`` sign status records, which
are ingested through ``Store.ingest`` in batches, interleaved across devices (so acceptance
order is not per-device order)."""

from __future__ import annotations

import pytest

from central.store.base import Store
from central.store.model import IncomingRecord
from tests.central import builders as b
from tests.central.builders import T0, Region

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
KEYRING = b.central_keyring()


def interleaved(region: Region, count: int) -> list[IncomingRecord]:
    """``count`` records, round robin over the region's three devices, in ingest order."""
    edges = [region.seller, region.dest, region.other]
    return [edges[i % 3].record(i // 3 + 1, received_at=T0 + i * 1000) for i in range(count)]


def ingest(store: Store, records: list[IncomingRecord], *, batch: int = 100) -> None:
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        store.ingest(chunk, [], now_ms=chunk[-1].received_at)
