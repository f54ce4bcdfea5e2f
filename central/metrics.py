"""Central's metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

Pure: the store's counts, the devices' statuses, the latest tree head and the time in, text
out. Every value comes from the database, so any API process reports the whole region (not only
what its own ingest worker saw), and a restart resets nothing. Rates are Prometheus' job:
``rate(coalgate_records_stored_total[5m])`` is the ingest rate.

| metric | type | what |
|---|---|---|
| ``coalgate_records_stored_total`` | counter | records stored (= leaves of the transparency log) |
| ``coalgate_last_stored_timestamp_seconds`` | gauge | when the newest record was stored |
| ``coalgate_ingest_lag_seconds`` | gauge | newest record: stored at minus its edge ``ts`` |
| ``coalgate_quarantined_messages_total{reason}`` | counter | messages refused (repeats too) |
| ``coalgate_quarantine_entries{reason}`` | gauge | distinct messages kept in quarantine |
| ``coalgate_alarms_total{kind}`` | counter | alarms raised |
| ``coalgate_devices{state}`` | gauge | devices by MQTT status, ``online`` / ``offline`` |
| ``coalgate_tickets{state}`` | gauge | tickets by state |
| ``coalgate_webhook_backlog`` | gauge | webhook deliveries waiting in the outbox |
| ``coalgate_tree_head_size`` | gauge | size of the latest signed tree head |
| ``coalgate_tree_head_timestamp_seconds`` | gauge | when it was signed |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from central.store.model import DeviceStatus, StoreCounts, StoredTreeHead

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Family:
    name: str
    kind: str  # counter, gauge
    help: str
    samples: tuple[tuple[Mapping[str, str], float | int], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _render(families: Iterable[_Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{family.name}{{{text}}} {_number(value)}" if text else
                         f"{family.name} {_number(value)}")  # fmt: skip
    return "\n".join(lines) + "\n"


def _labelled(label: str, values: Mapping[str, int]) -> tuple[tuple[Mapping[str, str], int], ...]:
    return tuple(({label: key}, values[key]) for key in sorted(values))


def exposition(
    counts: StoreCounts,
    statuses: Sequence[DeviceStatus],
    head: StoredTreeHead | None,
    *,
    webhook_backlog: int,
) -> str:
    """The ``/metrics`` page. Gauges with no value yet (an empty log, no tree head) are left
    out rather than reported as 0, so an alert on staleness does not fire on a new install."""
    families = [
        _Family(
            name="coalgate_records_stored_total",
            kind="counter",
            help="Records stored by ingest (the leaves of the transparency log).",
            samples=(({}, counts.log_size),),
        )
    ]
    if counts.last_stored_at is not None:
        families.append(
            _Family(
                name="coalgate_last_stored_timestamp_seconds",
                kind="gauge",
                help="When central stored the newest record (UTC, seconds).",
                samples=(({}, counts.last_stored_at / 1000),),
            )
        )
        if counts.last_record_ts is not None:
            families.append(
                _Family(
                    name="coalgate_ingest_lag_seconds",
                    kind="gauge",
                    help="The newest stored record: stored at minus its edge timestamp.",
                    samples=(({}, (counts.last_stored_at - counts.last_record_ts) / 1000),),
                )
            )
    online = sum(1 for s in statuses if s.state == "online")
    families += [
        _Family(
            name="coalgate_quarantined_messages_total",
            kind="counter",
            help="Messages central refused, by reason (repeats of the same bytes included).",
            samples=tuple(
                ({"reason": r}, counts.quarantine[r][1]) for r in sorted(counts.quarantine)
            ),
        ),
        _Family(
            name="coalgate_quarantine_entries",
            kind="gauge",
            help="Distinct messages kept in quarantine, by reason.",
            samples=tuple(
                ({"reason": r}, counts.quarantine[r][0]) for r in sorted(counts.quarantine)
            ),
        ),
        _Family(
            name="coalgate_alarms_total",
            kind="counter",
            help="Alarms raised, by kind.",
            samples=_labelled("kind", counts.alarms),
        ),
        _Family(
            name="coalgate_devices",
            kind="gauge",
            help="Devices by their last MQTT status (online or offline).",
            samples=(({"state": "offline"}, len(statuses) - online), ({"state": "online"}, online)),
        ),
        _Family(
            name="coalgate_tickets",
            kind="gauge",
            help="Tickets by state.",
            samples=_labelled("state", counts.tickets),
        ),
    ]
    families.append(
        _Family(
            name="coalgate_webhook_backlog",
            kind="gauge",
            help="Webhook deliveries of live webhooks not delivered yet (the outbox).",
            samples=(({}, webhook_backlog),),
        )
    )
    if head is not None:
        families += [
            _Family(
                name="coalgate_tree_head_size",
                kind="gauge",
                help="Size of the latest signed tree head of the transparency log.",
                samples=(({}, head.size),),
            ),
            _Family(
                name="coalgate_tree_head_timestamp_seconds",
                kind="gauge",
                help="When the latest tree head was signed (UTC, seconds).",
                samples=(({}, head.ts / 1000),),
            ),
        ]
    return _render(families)
