"""The pure feed computations on hand-built values, with the answers written out by hand."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.errors import ConfigError
from central.feeds import credit, efficiency, periods, tax, trucks
from central.feeds.model import FeedItem, TaxDeclaration, TonnageFact
from central.feeds.settings import CREDIT_WEIGHTS, FeedSettings, PriceTable
from central.store.model import Enterprise, Sighting, StoredTicket
from central.webhooks import signing
from tests.central.builders import T0, utc_ms
from tests.wire import factories
from wire.records import sign_record

HOUR = 3_600_000


# --- periods ---------------------------------------------------------------------------------


def test_cst_days_and_months_turn_at_1600_utc() -> None:
    assert periods.containing(utc_ms("2026-11-30T15:59:59.999"), "day") == "2026-11-30"
    assert periods.containing(utc_ms("2026-11-30T16:00:00"), "day") == "2026-12-01"
    assert periods.containing(utc_ms("2026-11-30T15:59:59.999"), "month") == "2026-11"
    assert periods.containing(utc_ms("2026-11-30T16:00:00"), "month") == "2026-12"
    assert periods.start_ms("2026-12-01", "day") == utc_ms("2026-11-30T16:00:00")
    assert periods.end_ms("2026-12", "month") == utc_ms("2026-12-31T16:00:00")
    assert periods.span("2026-11", "2027-02", "month") == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]
    assert periods.days("2028-02", "month") == 29
    assert periods.days_in_year("2028-02-03", "day") == 366
    with pytest.raises(ValueError, match="not a month"):
        periods.parse("2026-13-01", "month")


# --- mu-efficiency -----------------------------------------------------------------------------


def _enterprise(id_: str, land: float, capacity: int = 365_000) -> Enterprise:
    return Enterprise(id=id_, name=id_, credit_code=id_, land_mu=land, capacity_t=capacity)


def _fact(
    day: str, site: str, net: int, *, coal: str | None = "lump", direction: str = "out"
) -> TonnageFact:
    return TonnageFact(day=day, site=site, direction=direction, coal=coal, net_kg=net, weighings=1)  # type: ignore[arg-type]


def test_efficiency_figures_ranks_and_grades_by_hand() -> None:
    prices = PriceTable(yuan_per_t={"lump": 800, "fines": 500}, default=600)
    owners = {"a-mine": "a", "b-mine": "b", "c-mine": "c", "d-mine": "d", "e-mine": "e"}
    facts = [
        _fact("2026-12-01", "a-mine", 30_000),  # a: 30 t x 800 = 24,000 yuan
        _fact("2026-12-01", "a-mine", 10_500, coal="fines"),  # a: 10.5 t x 500 = 5,250
        _fact("2026-12-01", "a-mine", 7_000, direction="in"),  # a received 7 t
        _fact("2026-12-01", "b-mine", 20_000, coal=None),  # b: 20 t x 600 (default) = 12,000
        _fact("2026-12-01", "c-mine", 1_001),  # c: 1.001 t x 800 = 800.8 -> 801 yuan
        _fact("2026-12-01", "d-mine", 5_000),  # d: 4,000 yuan
        _fact("2026-12-02", "a-mine", 1_000),  # another day
        _fact("2026-12-01", "nobody", 99_000),  # a site of nobody's: left out
    ]
    enterprises = [
        _enterprise("a", 100),
        _enterprise("b", 10),
        _enterprise("c", 1),
        _enterprise("d", 50),
        _enterprise("e", 20),
        _enterprise("z", 0),
    ]
    sums = efficiency.measure(facts, owners=owners, kind="day", prices=prices)
    rows = efficiency.rows(
        sums, enterprises=enterprises, keys=["2026-12-01"], kind="day", quantiles=(0.2, 0.5, 0.8)
    )
    # value per mu: a 29,250/100 = 292.5; b 12,000/10 = 1,200; c 801/1 = 801; d 4,000/50 = 80;
    # e 0. Ranked: b, c, a, d, e; z has no land and is not ranked.
    got = [(r.enterprise, r.rank, r.grade, r.value_yuan, r.value_yuan_per_mu) for r in rows]
    assert got == [
        ("b", 1, "A", 12_000, 1200.0),
        ("c", 2, "B", 801, 801.0),
        ("a", 3, "B", 29_250, 292.5),
        ("d", 4, "C", 4_000, 80.0),
        ("e", 5, "D", 0, 0.0),
        ("z", None, None, 0, None),
    ]
    a = rows[2]
    assert (a.sold_kg, a.received_kg, a.sold_t_per_mu) == (40_500, 7_000, 0.405)
    # capacity 365,000 t a year -> 1,000 t a day; a sold 40.5 t
    assert a.capacity_share == 0.0405
    assert all(r.ranked == 5 for r in rows)


@pytest.mark.parametrize(
    ("quantiles", "expected"),
    [
        ((0.2, 0.5, 0.8), "AABBBCCCDD"),
        ((0.1, 0.2, 0.3), "ABCDDDDDDD"),
        ((0.0, 0.0, 1.0), "CCCCCCCCCC"),
    ],
)
def test_grades_follow_the_quantiles(quantiles: tuple[float, float, float], expected: str) -> None:
    # position (rank - 1) / 10: 0.0, 0.1 … 0.9
    assert "".join(efficiency.grade(r, 10, quantiles) for r in range(1, 11)) == expected


def test_settings_from_the_environment() -> None:
    settings = FeedSettings.from_env(
        {
            "COALGATE_COAL_PRICES": "5500kcal-lump=820, default=610",
            "COALGATE_GRADE_QUANTILES": "0.1,0.4,0.9",
        }
    )
    assert settings.prices.price("5500kcal-lump") == 820
    assert settings.prices.price("other") == 610
    assert settings.grade_quantiles == (0.1, 0.4, 0.9)
    with pytest.raises(ConfigError, match="COALGATE_COAL_PRICES"):
        FeedSettings.from_env({"COALGATE_COAL_PRICES": "lump=8.5"})
    with pytest.raises(ConfigError, match="COALGATE_GRADE_QUANTILES"):
        FeedSettings.from_env({"COALGATE_GRADE_QUANTILES": "0.5,0.2,0.8"})


# --- credit -------------------------------------------------------------------------------------


def _event(id_: int, kind: str, at: int, enterprise: str = "a") -> FeedItem:
    return FeedItem(
        feed="credit",
        key=f"k{id_}",
        kind=kind,
        subject=enterprise,
        at=at,
        body={},
        enterprise=enterprise,
        id=id_,
    )


def test_score_counts_each_kind_in_the_window() -> None:
    now = 1_000 * HOUR
    window = 100 * HOUR
    events = [
        _event(1, "escape", now - 50 * HOUR),
        _event(2, "escape", now - 1),
        _event(3, "tamper", now - 100 * HOUR),  # on the window's edge: counted
        _event(4, "tamper", now - 100 * HOUR - 1),  # just outside
        _event(5, "manual_override", now),
        _event(6, "escape", now - HOUR, enterprise="b"),  # someone else's
    ]
    score = credit.score("a", events, now_ms=now, window_ms=window, weights=CREDIT_WEIGHTS)
    lines = {
        line.kind: (line.count, line.points, line.events) for line in score.lines if line.count
    }
    assert lines == {
        "escape": (2, 20, (1, 2)),
        "tamper": (1, 15, (3,)),
        "manual_override": (1, 1, (5,)),
    }
    assert score.score == 100 - 20 - 15 - 1 == 64
    many = [_event(i, "equivocation", now) for i in range(1, 7)]
    assert credit.score("a", many, now_ms=now, window_ms=window, weights=CREDIT_WEIGHTS).score == 0


@pytest.mark.parametrize(
    ("reasons", "kind"),
    [
        (("ticket_wrong_site",), "reused_ticket"),  # another mine's ticket at this mine
        (("ticket_used", "overload_gross"), "reused_ticket"),
        (("overload_gross",), "overload_attempt"),
        (("plate_low_confidence",), None),  # a camera's trouble is nobody's misconduct
    ],
)
def test_a_held_weighing_is_named_by_its_first_listed_reason(
    reasons: tuple[str, ...], kind: str | None
) -> None:
    body = factories.weighing(decision="hold", reasons=reasons)
    key = factories.device_key()
    record = sign_record(
        key, site=factories.SITE, device=key.kid, seq=1, prev=bytes(32), ts=T0, body=body
    )
    item = credit.from_record(record, enterprise="yulin-coal-a")
    assert (item.kind if item else None) == kind


def test_sightings_of_bad_tickets_are_credit_events() -> None:
    base = Sighting(
        checkpoint="cp",
        token=1,
        kind="ticket",
        cti=b"\x01" * 16,
        plate="陕K12345",
        seen_at=5,
        recorded_at=6,
        valid=True,
        ticket_state="loaded",
        id=9,
    )
    kinds = {
        "loaded": None,
        "closed": "reused_ticket",
        "arrived": "reused_ticket",
        "expired": "expired_ticket",
        "revoked": "expired_ticket",
    }
    for state, kind in kinds.items():
        item = credit.from_sighting(dataclasses.replace(base, ticket_state=state), enterprise="a")  # type: ignore[arg-type]
        assert (item.kind if item else None) == kind
    forged = credit.from_sighting(dataclasses.replace(base, valid=False), enterprise="a")
    assert forged is not None
    assert forged.kind == "forged_ticket"
    assert forged.key == "sighting:9"
    assert forged.body["evidence"][1]["url"] == f"/api/v1/tickets/{'01' * 16}"


# --- tax ----------------------------------------------------------------------------------------


def test_declaration_rows_get_one_error_each() -> None:
    rows, errors = tax.csv_rows(
        "enterprise,period,sold_kg,value_yuan\n"
        "a,2026-11,1000,800\n"
        "a,2026-13,1000,800\n"
        "b,2026-11,12.5,800\n"
        "nobody,2026-11,1,1\n"
        "b,2026-11,5,-1\n"
        "a,2026-11,2000,1600\n"
        "a,2026-12\n"
    )
    assert errors == [tax.RowError(row=7, field="row", message="2 cells, not 4")]
    good, bad = tax.check_rows(rows[:6], known={"a", "b"}, allowed=None)
    assert [str(e) for e in bad] == [
        "row 2: period: missing or not a month YYYY-MM",
        "row 3: sold_kg: missing or not a whole number ≥ 0",
        "row 4: enterprise: no enterprise 'nobody'",
        "row 5: value_yuan: missing or not a whole number ≥ 0",
        "row 6: period: declared already in row 1",
    ]
    assert good == [TaxDeclaration(enterprise="a", period="2026-11", sold_kg=1000, value_yuan=800)]
    _, mine = tax.check_rows(rows[:1], known={"a", "b"}, allowed="b")
    assert [str(e) for e in mine] == ["row 1: enterprise: you may declare for b only"]
    _, header = tax.csv_rows("enterprise,month,sold_kg,value_yuan\n")
    assert header[0].field == "header"


def test_tax_rows_rank_by_the_value_not_declared() -> None:
    measured = {
        ("a", "2026-11"): efficiency.Measured(sold_kg=100_000, value_milli=80_000_000),  # 80,000
        ("b", "2026-11"): efficiency.Measured(sold_kg=50_000, value_milli=30_000_000),  # 30,000
        ("c", "2026-11"): efficiency.Measured(sold_kg=10_000, value_milli=6_000_000),  # 6,000
    }
    declared = [
        TaxDeclaration(enterprise="a", period="2026-11", sold_kg=95_000, value_yuan=76_000),
        TaxDeclaration(enterprise="b", period="2026-11", sold_kg=20_000, value_yuan=12_000),
        TaxDeclaration(enterprise="d", period="2026-11", sold_kg=1_000, value_yuan=500),
    ]
    rows = tax.compare(measured, declared, enterprises=["a", "b", "c", "d", "e"], keys=["2026-11"])
    got = [(r.rank, r.enterprise, r.diff_kg, r.diff_value_yuan, r.declared) for r in rows]
    assert got == [
        (1, "b", 30_000, 18_000, True),
        (2, "c", 10_000, 6_000, False),
        (3, "a", 5_000, 4_000, True),
        (4, "d", -1_000, -500, True),
    ]


# --- trucks -------------------------------------------------------------------------------------

MINE = trucks.Place(id="mine", lat=38.0, lon=110.0, owner="seller")
CP = trucks.Place(id="cp", lat=38.9, lon=110.0)  # 100 km north of the mine
SMELTER = trucks.Place(id="smelter", lat=39.8, lon=110.0, owner="buyer")  # 200 km north
PLACES = {p.id: p for p in (MINE, CP, SMELTER)}
T = utc_ms("2026-12-01T00:00:00")


def _ticket(n: int, **changes: object) -> StoredTicket:
    values: dict[str, object] = {
        "cti": bytes([n]) * 16,
        "no": f"N{n}",
        "raw": b"",
        "seller": "seller",
        "buyer": "buyer",
        "seller_site": "mine",
        "dest_site": "smelter",
        "plate": "陕K12345",
        "coal": "lump",
        "max_net_kg": 40_000,
        "iat": T // 1000,
        "exp": T // 1000 + 86_400,
        "transit_s": 6 * 3600,
        "issued_at": T,
        "quota_period": "2026",
        "quota_kg": 34_000,
        "state": "loaded",
        "loaded_at": T,
        "source_net_kg": 34_000,
        "loaded_record": b"\xaa" * 32,
    }
    values.update(changes)
    return StoredTicket(**values)  # type: ignore[arg-type]


def _seen(ticket: StoredTicket, at: int, checkpoint: str = "cp") -> Sighting:
    return Sighting(
        checkpoint=checkpoint,
        token=1,
        kind="ticket",
        cti=ticket.cti,
        plate=ticket.plate,
        seen_at=at,
        recorded_at=at,
        valid=True,
        ticket_state="loaded",
        id=at % 1000 + 1,
    )


def test_distance_is_great_circle() -> None:
    assert trucks.distance_km(MINE, CP) == pytest.approx(100.08, abs=0.01)
    assert trucks.distance_km(MINE, trucks.Place(id="x", lat=None, lon=1.0)) is None


def test_a_trip_and_an_impossible_leg() -> None:
    arrived = _ticket(1, state="closed", arrived_at=T + 3 * HOUR, arrived_record=b"\xbb" * 32)
    # 100 km in 30 minutes to the checkpoint (200 km/h): impossible; then 100 km in 2.5 h: fine
    sightings = [_seen(arrived, T + HOUR // 2), _seen(_ticket(2), T + HOUR)]
    trip = trucks.trip(arrived, sightings, PLACES)
    assert trip is not None
    assert trip.key == f"trip:{'01' * 16}"
    assert [(p["kind"], p["place"], p["at"]) for p in trip.body["points"]] == [
        ("loading", "mine", T),
        ("sighting", "cp", T + HOUR // 2),
        ("arrival", "smelter", T + 3 * HOUR),
    ]
    assert trip.parties == ("buyer", "seller")
    (leg,) = trucks.impossible_travel(arrived, sightings, PLACES, max_speed_kmh=100)
    assert leg.key == f"impossible_travel:{'01' * 16}:1"
    assert leg.body["speed_kmh"] == pytest.approx(200.2, abs=0.1)
    assert trucks.impossible_travel(arrived, sightings, PLACES, max_speed_kmh=201) == []
    assert trucks.trip(_ticket(3), [], PLACES) is None  # not arrived yet


def test_overdue_when_not_arrived_within_the_transit_time() -> None:
    ticket = _ticket(1)
    due = T + 6 * HOUR
    assert trucks.overdue(ticket, now_ms=due) is None
    late = trucks.overdue(ticket, now_ms=due + 1)
    assert late is not None
    assert (late.kind, late.at) == ("overdue", due)
    arrived_late = _ticket(2, state="closed", arrived_at=due + 1)
    assert trucks.overdue(arrived_late, now_ms=due + 5) is not None
    assert trucks.overdue(_ticket(3, state="closed", arrived_at=due), now_ms=due + 5) is None


def test_one_plate_on_two_tickets_in_transit() -> None:
    first = _ticket(1, state="closed", arrived_at=T + 2 * HOUR)
    second = _ticket(2, loaded_at=T + HOUR)  # loaded before the first arrived
    third = _ticket(3, loaded_at=T + 7 * HOUR)  # after the second's transit time ran out
    other = _ticket(4, plate="陕K99999", loaded_at=T + HOUR)
    found = trucks.two_in_transit([third, second, first, other])
    assert [f.key for f in found] == [f"two_in_transit:{'01' * 16}:{'02' * 16}"]


def _tare(n: int, site: str, minutes: int, tare: int, source: str = "weighed") -> trucks.Tare:
    return trucks.Tare(
        record_id=bytes([n]) * 32,
        site=site,
        plate="陕K12345",
        ts=T + minutes * 60_000,
        tare_kg=tare,
        tare_source=source,
    )


def test_two_sites_at_once_and_tare_drift() -> None:
    owners = {"mine": "seller", "smelter": "buyer"}
    tares = [
        _tare(1, "mine", 0, 15_000),
        _tare(2, "smelter", 14, 15_200),  # 14 minutes later elsewhere: at once; drift 200: fine
        _tare(3, "smelter", 600, 15_900, source="stored"),  # stored tare: not a measurement
        _tare(4, "mine", 1200, 15_600),  # drift 400 from the smelter's weighed 15,200
        _tare(5, "mine", 1210, 15_000),  # same site: neither
    ]
    at_once = trucks.two_sites_at_once(tares, owners, simultaneous_ms=15 * 60_000)
    assert [(a.key, a.parties) for a in at_once] == [
        (f"two_sites:{'01' * 32}:{'02' * 32}", ("buyer", "seller"))
    ]
    drift = trucks.tare_drift(tares, owners, limit_kg=300)
    assert [(d.key, d.body["drift_kg"]) for d in drift] == [
        (f"tare_drift:{'02' * 32}:{'04' * 32}", 400)
    ]


# --- webhook signatures and backoff -----------------------------------------------------------


def test_signature_verifies_and_refuses_changes() -> None:
    body = b'{"feed":"credit"}'
    header = signing.sign("s3cret-s3cret-s3cret", body, t_ms=1_000)
    assert header.startswith("t=1000,v1=")
    ok = signing.verify("s3cret-s3cret-s3cret", body, header, now_ms=2_000, tolerance_ms=5_000)
    assert ok
    assert not signing.verify("other-secret-xxxxx", body, header, now_ms=2_000, tolerance_ms=5_000)
    assert not signing.verify(
        "s3cret-s3cret-s3cret", body + b" ", header, now_ms=2_000, tolerance_ms=5_000
    )
    assert not signing.verify(
        "s3cret-s3cret-s3cret", body, header, now_ms=9_000, tolerance_ms=5_000
    )


@given(
    attempts=st.integers(min_value=1, max_value=200),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_doubles_up_to_the_cap(attempts: int, jitter: float) -> None:
    wait = signing.backoff_ms(attempts, base_ms=1_000, cap_ms=60_000, jitter=jitter)
    ceiling = min(60_000, 1_000 * 2 ** (attempts - 1))
    assert ceiling // 2 <= wait <= ceiling
