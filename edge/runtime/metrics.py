"""The edge's counters and gauges, and their Prometheus text exposition (``GET /metrics``).

Counters only go up while the process lives (Prometheus takes resets in its stride); gauges
are read when scraped, through callables the agent registers (journal backlog, uplink state).
No client library: the text format is a few lines (``# HELP``, ``# TYPE``, ``name{labels} v``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Metrics:
    """What ``/metrics`` shows; the lane runners and the agent count into it."""

    readings: Counter[str] = field(default_factory=Counter)
    """Scale readings by lane."""
    decisions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Weighing decisions by (lane, decision, reason)."""
    alarms: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Alarm and warning event records by (lane, kind)."""
    records: Counter[str] = field(default_factory=Counter)
    """Records journaled by type."""
    journal_failures: int = 0
    io_command_failures: Counter[str] = field(default_factory=Counter)
    """IO commands that did not take effect, by lane."""
    barrier_raised: Counter[str] = field(default_factory=Counter)
    """Barrier-up commands confirmed, by lane."""
    gauges: dict[str, tuple[str, Callable[[], Iterable[tuple[Labels, float]]]]] = field(
        default_factory=dict
    )

    def gauge(
        self, name: str, help_text: str, read: Callable[[], Iterable[tuple[Labels, float]]]
    ) -> None:
        """Register a gauge read at scrape time: ``read()`` yields (labels, value)."""
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        out: list[str] = []
        by_lane = (
            ("coalgate_edge_readings_total", "Scale readings taken", self.readings),
            ("coalgate_edge_io_command_failures_total", "IO commands not confirmed by the module",
             self.io_command_failures),
            ("coalgate_edge_barrier_raised_total", "Barrier raises confirmed by the limit switch",
             self.barrier_raised),
        )  # fmt: skip
        for name, help_text, counts in by_lane:
            samples = [((("lane", lane),), n) for lane, n in sorted(counts.items())]
            _family(out, name, "counter", help_text, samples)
        decisions = [
            ((("lane", lane), ("decision", decision), ("reason", reason)), n)
            for (lane, decision, reason), n in sorted(self.decisions.items())
        ]
        _family(out, "coalgate_edge_decisions_total", "counter",
                "Weighing decisions by lane, decision and reason", decisions)  # fmt: skip
        alarms = [
            ((("lane", lane), ("kind", kind)), n) for (lane, kind), n in sorted(self.alarms.items())
        ]
        _family(out, "coalgate_edge_alarms_total", "counter",
                "Alarm and warning events by lane and kind", alarms)  # fmt: skip
        records = [((("type", kind),), n) for kind, n in sorted(self.records.items())]
        _family(out, "coalgate_edge_records_total", "counter", "Records journaled by type", records)
        _family(out, "coalgate_edge_journal_failures_total", "counter",
                "Record writes that failed", [((), self.journal_failures)])  # fmt: skip
        for name, (help_text, read) in sorted(self.gauges.items()):
            _family(out, name, "gauge", help_text, read())
        return "\n".join(out) + "\n"


def _family(
    out: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: Iterable[tuple[Labels, float]],
) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        out.append(f"{name}{_labels(labels)} {_number(value)}")


def _labels(labels: Labels | Mapping[str, str]) -> str:
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    if not pairs:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
