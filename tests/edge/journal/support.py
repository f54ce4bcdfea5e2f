"""Keys, bodies and readers shared by the journal and uplink tests (real keys, real records)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tests.wire import factories
from wire.bodies import Body
from wire.chain import ChainReport, check_chain
from wire.keys import KeySet, SigningKey
from wire.records import Record, verify_record

SITE = factories.SITE
DEVICE = factories.DEVICE
T0 = 1_796_083_200_000


def device_key() -> SigningKey:
    return factories.device_key()


DEVICE_KEYS = KeySet([device_key().public])


def body_for(number: int) -> Body:
    """A valid body of each record type in turn."""
    makers: list[Callable[[], Body]] = [
        factories.weighing,
        factories.evidence,
        factories.event,
        factories.status,
    ]
    return makers[number % len(makers)]()


def verified(data: Iterable[bytes]) -> list[Record]:
    return [verify_record(raw, DEVICE_KEYS) for raw in data]


def chain_report(records: Iterable[Record]) -> ChainReport:
    return check_chain(records)[DEVICE]
