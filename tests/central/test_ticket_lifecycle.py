"""The pure lifecycle (central/ticketing/lifecycle.py) under any order of events: the
invariants WIRE.md's states and flags imply hold, and every flag alarms exactly once."""

from __future__ import annotations

from collections import Counter

from hypothesis import example, given
from hypothesis import strategies as st

from central.errors import TicketStateError
from central.store.model import StoredTicket
from central.ticketing import lifecycle
from central.ticketing.lifecycle import FLAG_ALARMS, Weighed

SELLER, DEST, OTHER = "mine-a", "smelter-b", "mine-c"
EXP_MS = 48 * 3_600_000


def ticket() -> StoredTicket:
    return StoredTicket(
        cti=b"\x01" * 16, no="20261201-01010101", raw=b"", seller="e", buyer="f",
        seller_site=SELLER, dest_site=DEST, plate="陕K12345", coal="lump", max_net_kg=40_000,
        iat=0, exp=EXP_MS // 1000, transit_s=6 * 3600, issued_at=0, quota_period="1970",
        quota_kg=40_000,
    )  # fmt: skip


weighings = st.builds(
    Weighed,
    record_id=st.binary(min_size=32, max_size=32),
    device=st.just("gate"),
    site=st.sampled_from([SELLER, DEST, OTHER]),
    direction=st.sampled_from(["out", "in"]),
    decision=st.sampled_from(["release", "release", "hold"]),
    net_kg=st.one_of(st.none(), st.integers(30_000, 40_000)),
    ts=st.integers(0, 4 * EXP_MS),
)
events = st.lists(
    st.one_of(
        weighings,
        st.tuples(st.just("sweep"), st.integers(0, 4 * EXP_MS)),
        st.just("revoke"),
    ),
    max_size=12,
)


ARRIVAL = Weighed(
    record_id=b"\x02" * 32, device="gate", site=DEST, direction="in", decision="release",
    net_kg=35_000, ts=EXP_MS + 1,
)  # fmt: skip


@given(events)
@example([("sweep", EXP_MS), ARRIVAL])  # expired, then an arrival: still released
@example(["revoke", "revoke"])
def test_any_order_of_events_keeps_the_invariants(sequence: list[object]) -> None:
    current = ticket()
    alarms: Counter[str] = Counter()
    released = False  # revoked or expired while not loaded
    for event in sequence:
        before = current
        if isinstance(event, Weighed):
            outcome = lifecycle.on_weighing(current, event, now_ms=event.ts)
        elif event == "revoke":
            try:
                current = lifecycle.revoke(current, at=1)
            except TicketStateError:
                assert current.state not in ("issued", "loaded")
            else:
                released = released or current.source_net_kg is None
            continue
        else:
            assert isinstance(event, tuple)
            outcome = lifecycle.on_sweep(current, now_ms=event[1])
        current = outcome.ticket
        released = released or current.state == "expired"
        alarms.update(a.kind for a in outcome.alarms)
        assert before.flags <= current.flags  # flags are never cleared
        if before.state in ("closed", "revoked"):
            assert current.state == before.state  # final states stay final
        if before.source_net_kg is not None:
            assert current.source_net_kg == before.source_net_kg  # the first loading counts
    # Each flag raised its alarm exactly once, and only flags raise alarms.
    assert alarms == Counter(FLAG_ALARMS[f][0] for f in current.flags)
    loaded = current.source_net_kg is not None
    assert (current.state == "closed") == (loaded and current.dest_net_kg is not None) or (
        current.state == "revoked"
    )
    # The quota ledger: settled at the loaded net, else released (revoked or expired before
    # loading, even if an arrival was recorded since), else reserved.
    if loaded:
        assert current.quota_kg == current.source_net_kg
    else:
        assert current.quota_kg == (0 if released else current.max_net_kg)
