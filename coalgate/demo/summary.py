"""What the demo shows: counts read from central's API (weighings, tickets by state, alarms by
kind, the transparency log's size), each weighing's signed bytes verified again here under its
device's key, and each gate's lane as its edge reports it (``GET /api/lanes``).

``Tally`` is the value; ``Observer`` reads it; ``render`` draws it with rich.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Group
from rich.table import Table

from wire.errors import WireError
from wire.keys import KeySet, PublicKey
from wire.records import verify_record


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneView:
    site: str
    lane: str
    state: str
    weight_kg: int | None
    last: str  # the latest decision, e.g. "release 陕K12345 (ok)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    weighings: int
    records: int
    verified: int  # records whose COSE bytes verified under the device's key
    failed: int  # … that did not
    tickets: dict[str, int]  # by state
    alarms: dict[str, int]  # by kind
    tree_size: int | None
    lanes: tuple[LaneView, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "weighings": self.weighings, "records": self.records, "verified": self.verified,
            "failed": self.failed, "tickets": dict(self.tickets), "alarms": dict(self.alarms),
            "tree_size": self.tree_size,
        }  # fmt: skip


@dataclass(slots=True, kw_only=True)
class Observer:
    """Reads the region from central's API with the regulator token, and the edges' lanes."""

    central: str
    token: str
    keys: dict[str, PublicKey]  # device -> its public key
    edges: dict[str, str] = field(default_factory=dict)  # site -> edge HTTP base URL
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    _seen: dict[str, bool] = field(default_factory=dict, init=False)  # record id -> verified
    _types: Counter[str] = field(default_factory=Counter, init=False)
    _after: str | None = field(default=None, init=False)

    def tally(self, *, with_lanes: bool = True) -> Tally:
        with httpx.Client(
            base_url=self.central, timeout=15,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as client:  # fmt: skip
            self._read_records(client)
            tickets = Counter(t["state"] for t in self._get(client, "/api/v1/tickets"))
            alarms: Counter[str] = Counter()
            after: int | None = None
            while True:
                page = self._get(client, "/api/v1/alarms", after=after, limit=1000)
                alarms.update(a["kind"] for a in page["items"])
                after = page["next"]
                if after is None or not page["items"]:
                    break
            head = client.get("/api/v1/transparency/sth")
            tree = int(head.json()["size"]) if head.status_code == 200 else None
        return Tally(
            weighings=self._types["weighing"], records=len(self._seen),
            verified=sum(self._seen.values()), failed=sum(not v for v in self._seen.values()),
            tickets=dict(tickets), alarms=dict(alarms), tree_size=tree,
            lanes=self._lanes() if with_lanes else (),
        )  # fmt: skip

    def _get(self, client: httpx.Client, path: str, **params: Any) -> Any:
        answer = client.get(path, params={k: v for k, v in params.items() if v is not None})
        answer.raise_for_status()
        return answer.json()

    def _read_records(self, client: httpx.Client) -> None:
        """New records since the last call, each verified from its signed bytes."""
        while True:
            page = self._get(client, "/api/v1/records", after=self._after, limit=1000)
            for item in page["items"]:
                if item["id"] in self._seen:  # the last page is read again until it grows
                    continue
                raw = client.get(f"/api/v1/records/{item['id']}/cose")
                raw.raise_for_status()
                self._seen[item["id"]] = self._verify(item["device"], raw.content)
                self._types[item["type"]] += 1
            if page["next"] is None or not page["items"]:
                return
            self._after = page["next"]

    def _verify(self, device: str, raw: bytes) -> bool:
        key = self.keys.get(device)
        if key is None:
            return False
        try:
            verify_record(raw, KeySet([key]))
        except WireError as exc:
            self.logger.warning("a record of %s does not verify: %s", device, exc)
            return False
        return True

    def _lanes(self) -> tuple[LaneView, ...]:
        views = []
        for site, base in self.edges.items():
            try:
                answer = httpx.get(f"{base}/api/lanes", timeout=2)
                lanes = answer.json()["lanes"]
            except (httpx.HTTPError, json.JSONDecodeError, KeyError):
                views.append(LaneView(site=site, lane="-", state="unreachable", weight_kg=None,
                                      last=""))  # fmt: skip
                continue
            for lane in lanes:
                decisions = lane.get("decisions") or []
                last = ""
                if decisions:
                    d = decisions[-1]
                    last = f"{d['decision']} {d.get('plate') or '?'} ({', '.join(d['reasons'])})"
                views.append(
                    LaneView(
                        site=site, lane=lane["id"], state=lane["state"],
                        weight_kg=lane.get("weight_kg"), last=last,
                    )
                )  # fmt: skip
        return tuple(views)


def render(tally: Tally, *, title: str = "coalgate demo") -> Group:
    """The lanes table and the counts table."""
    lanes = Table(title=title, expand=False)
    for column in ("site", "lane", "state", "weight kg", "last decision"):
        lanes.add_column(column)
    for lane in tally.lanes:
        weight = "-" if lane.weight_kg is None else f"{lane.weight_kg:,}"
        lanes.add_row(lane.site, lane.lane, lane.state, weight, lane.last)
    counts = Table(show_header=False)
    counts.add_column("what")
    counts.add_column("count")
    for what, value in summary_lines(tally):
        counts.add_row(what, value)
    return Group(lanes, counts)


def summary_lines(tally: Tally) -> list[tuple[str, str]]:
    """The counts as (label, value) rows: for the table and for the final plain summary."""
    tickets = ", ".join(f"{s} {n}" for s, n in sorted(tally.tickets.items())) or "none"
    alarms = ", ".join(f"{k} {n}" for k, n in sorted(tally.alarms.items())) or "none"
    return [
        ("weighings", str(tally.weighings)),
        ("tickets", tickets),
        ("alarms", alarms),
        ("records verified", f"{tally.verified} of {tally.records}"
         + (f" ({tally.failed} FAILED)" if tally.failed else "")),
        ("transparency tree size", "-" if tally.tree_size is None else str(tally.tree_size)),
    ]  # fmt: skip
