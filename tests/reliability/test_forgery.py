"""Forgery, end to end: what an attacker can put on the wire is refused, alarmed, and never
stored as valid (issue 14; DESIGN.md "Delivery guarantee", WIRE.md "Quarantine", "Acks").

Every test runs the real parts: a private Mosquitto, central's ingest worker on a real store
(SQLite; PostgreSQL too for the forged-records case), central's API in process, the edge's
uplink on a real journal, the gate's lane core with central's real bundles. Each ends with a
``Tally`` of what was injected and counted; the figures are asserted.

The unit tests of each check live beside the code they test (tests/wire, tests/central,
tests/edge); these are the attacks as they arrive from outside.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.api.app import create_app
from central.api.verify import verify_qr
from central.store.model import SightingQuery
from central.ticketing import service
from central.ticketing.bundles import BundlePublisher, build_site_bundle
from edge.gate.inputs import BundleIn, ChooseTicket
from edge.gate.lane import Lane
from edge.gate.outputs import Barrier
from edge.journal.store import Journal
from edge.uplink.client import Uplink
from tests.central import builders as b
from tests.central.api_support import ISSUER, TestClient, settings, token
from tests.conftest import Mosquitto
from tests.edge.gate import builders as gb
from tests.edge.uplink.central_peer import until
from tests.edge.uplink.running import running
from tests.reliability.forgery_support import (
    NOW,
    Central,
    altered_payload,
    edge_peer,
    flipped_signature_bit,
    relay_re_encodings,
    running_central,
    take_apart,
    wait_for,
)
from tests.reliability.tally import Tally
from tests.test_cli_wire import COALGATE
from wire import cose
from wire.acks import build_ack
from wire.bodies import EventBody, WeighingBody
from wire.keys import KeySet, SigningKey
from wire.qr import ALPHABET, TICKET_PREFIX, encode_qr
from wire.records import decode_record, sign_record
from wire.tickets import PLATE as PLATE_CLAIM
from wire.tickets import Ticket, issue_ticket, ticket_qr
from wire.topics import ack_topic, bundle_topic, record_topic

pytestmark = pytest.mark.mosquitto

SITE = b.SITE
IMPOSTOR_SEED = b"\x42" * 32  # a key the attacker made, claiming someone else's kid


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'central.db'}"


@pytest.fixture
def central(sqlite_url: str, mosquitto: Mosquitto) -> Iterator[Central]:
    with running_central(sqlite_url, mosquitto) as running:
        yield running


def quarantine_alarms(c: Central) -> list[tuple[str | None, object]]:
    return sorted(((a.device, a.detail.get("reason")) for a in c.alarms("quarantine")), key=repr)


# --- records ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_forged_records_are_quarantined_alarmed_and_never_stored(
    backend: str, request: pytest.FixtureRequest, mosquitto: Mosquitto, sqlite_url: str
) -> None:
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres_dsn")
    tally = Tally(f"forged records ({backend})")
    with running_central(url, mosquitto) as c, edge_peer(c, c.region.seller) as edge:
        seller, other = c.region.seller, c.region.other
        honest = [seller.sign(seq) for seq in (1, 2, 3)]
        edge.send(honest)
        fourth = seller.sign(4, b.weighing())  # honest, held back until the forgeries are in
        impostor = SigningKey.from_seed(IMPOSTOR_SEED, kid=seller.device)
        by_impostor = sign_record(
            impostor, site=SITE, device=seller.device, seq=4, prev=honest[-1].id,
            ts=fourth.ts, body=b.weighing(net_kg=44_000),
        )  # fmt: skip
        claims_mine_a = b.Edge(device=other.device, site=SITE, seed=9)  # its key, A's site
        forged: list[tuple[str, bytes, str, str]] = [
            # (what, bytes, topic's device, expected quarantine reason)
            ("seq 4 signed by another key under the gate's kid", by_impostor.raw,
             seller.device, "bad_signature"),
            ("the gate's seq 4 with net_kg changed under its signature",
             altered_payload(fourth.raw, {"body": {"net_kg": 44_000}}), seller.device,
             "bad_signature"),
            ("the gate's seq 4 with one signature bit flipped",
             flipped_signature_bit(fourth.raw, 77), seller.device, "bad_signature"),
            ("mine C's gate's record on mine A's gate's topic", other.sign(1).raw,
             seller.device, "topic_mismatch"),
            ("mine C's gate claiming mine A's site", claims_mine_a.sign(1).raw,
             other.device, "site_mismatch"),
            ("bytes that are not CBOR", b"\xff\x00 forged", seller.device, "undecodable"),
        ]  # fmt: skip
        acks_before = c.worker.stats.acks
        for what, raw, device, _reason in forged:
            tally.inject(what)
            edge.publish_raw(raw, topic=record_topic(SITE, device))
        tally.inject("the impostor's record again (same bytes)")
        edge.publish_raw(by_impostor.raw)
        wait_for(lambda: c.worker.stats.quarantined == len(forged) + 1, what="all quarantined")

        quarantine = c.quarantine()
        for what, raw, _device, reason in forged:
            assert quarantine[raw.hex()].reason == reason, what
        assert quarantine[by_impostor.raw.hex()].count == 2
        assert len(quarantine) == len(forged)
        # one alarm per device and reason (rate-limited), naming the device of the topic
        assert quarantine_alarms(c) == sorted(
            [
                (seller.device, "bad_signature"),
                (seller.device, "topic_mismatch"),
                (seller.device, "undecodable"),
                (other.device, "site_mismatch"),
            ],
            key=repr,
        )
        # nothing stored, nothing acked, no reject (WIRE.md: only revoked / unknown_device)
        assert [r.raw for r in c.store.records(seller.device)] == [r.raw for r in honest]
        assert c.store.records(other.device) == []
        assert c.store.equivocations(seller.device) == []
        assert (c.worker.stats.acks, c.worker.stats.rejects) == (acks_before, 0)
        assert (edge.acked, edge.rejects, edge.forged_acks) == (3, [], 0)

        tally.inject("the gate's honest seq 4")
        edge.send([fourth])
        stored = c.store.get_record(seller.device, 4)
        assert stored is not None
        assert stored.raw == fourth.raw
        assert edge.acked == 4

        # a key central never enrolled: refused with a reject ack
        stranger = b.Edge(device="yl-mine-a-gate-9", seed=3)
        with edge_peer(c, stranger) as outsider:
            tally.inject("a record of a device central never enrolled")
            outsider.publish_raw(stranger.sign(1).raw)
            reject = outsider.wait_reject()
        assert (reject.reject, reject.seq) == ("unknown_device", 0)
        assert c.quarantine()[stranger.signed[1].raw.hex()].reason == "unknown_device"
        assert c.store.records(stranger.device) == []

        tally.count(
            honest_sent=4,
            forged_sent=len(forged) + 2,
            stored=len(c.store.records(seller.device)) + len(c.store.records(other.device)),
            quarantined=len(c.quarantine()),
            quarantine_alarms=len(c.alarms("quarantine")),
            reject_acks=c.worker.stats.rejects,
            acked=edge.acked,
        )
        tally.report()
        assert tally.counted["stored"] == 4
        assert tally.counted["quarantined"] == len(forged) + 1
        assert tally.counted["quarantine_alarms"] == 5
        assert tally.counted["reject_acks"] == 1


def revoke_with_the_cli(database_url: str, device: str, data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALGATE_")}
    env.update(COALGATE_DATABASE_URL=database_url, COALGATE_DATA_DIR=str(data_dir))
    result = subprocess.run(
        [COALGATE, "central", "revoke", "--device", device],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


def test_a_stolen_key_after_revocation_is_refused(central: Central, tmp_path: Path) -> None:
    tally = Tally("stolen key, revoked")
    seller = central.region.seller
    with edge_peer(central, seller) as edge:
        honest = [seller.sign(seq) for seq in range(1, 6)]
        edge.send(honest)
        tally.inject("the gate's key is stolen; `coalgate central revoke` at seq 5")
        line = revoke_with_the_cli(central.database_url, seller.device, tmp_path / "data")
        assert line == f"device {seller.device} revoked above seq 5"

        thief = [seller.sign(seq, b.weighing(net_kg=30_000 + seq)) for seq in (6, 7, 8)]
        for record in thief:
            tally.inject(f"the thief's seq {record.seq}, chained and signed with the stolen key")
            edge.publish_raw(record.raw)
        reject = edge.wait_reject()
        tally.inject("the thief's seq 6 again (same bytes)")
        edge.publish_raw(thief[0].raw)
        rewrite = seller.other_version(3)
        tally.inject("the thief rewrites seq 3 (below the revocation)")
        edge.publish_raw(rewrite.raw)
        wait_for(lambda: central.worker.stats.quarantined == 4, what="the thief's records")
        wait_for(lambda: central.worker.stats.equivocations == 1, what="the rewrite")

    assert (reject.reject, reject.seq) == ("revoked", 5)
    quarantine = central.quarantine()
    assert [quarantine[r.raw.hex()].reason for r in thief] == ["revoked"] * 3
    assert quarantine[thief[0].raw.hex()].count == 2
    assert quarantine_alarms(central) == [(seller.device, "revoked")]
    # the valid stream is the honest one; the rewrite is kept only as flagged equivocation
    assert [r.raw for r in central.store.records(seller.device)] == [r.raw for r in honest]
    assert central.store.contiguous(seller.device) == 5
    assert [r.raw for r in central.store.equivocations(seller.device)] == [rewrite.raw]
    assert [a.device for a in central.alarms("equivocation")] == [seller.device]
    assert central.store.get_device(seller.device).state == "revoked"
    tally.count(
        honest_stored=len(central.store.records(seller.device)),
        thief_sent=5,
        quarantined_revoked=sum(e.reason == "revoked" for e in quarantine.values()),
        reject_acks=central.worker.stats.rejects,
        equivocations=len(central.store.equivocations(seller.device)),
        alarms=len(central.alarms()),
    )
    tally.report()
    assert tally.counted["honest_stored"] == 5
    assert tally.counted["reject_acks"] >= 1
    assert tally.counted["alarms"] == 2  # one quarantine/revoked, one equivocation


def test_records_re_encoded_by_a_relay_are_refused_and_are_no_equivocation(
    central: Central,
) -> None:
    tally = Tally("relay re-encoding")
    seller = central.region.seller
    with edge_peer(central, seller) as edge:
        honest = [seller.sign(1), seller.sign(2, b.weighing())]
        edge.send(honest)
        third = seller.sign(3, b.weighing(net_kg=33_000))
        sent: list[bytes] = []
        for record, when in ((honest[1], "stored"), (third, "not yet stored")):
            for how, raw in relay_re_encodings(record.raw).items():
                tally.inject(f"seq {record.seq} ({when}): {how}")
                edge.publish_raw(raw)
                sent.append(raw)
        wait_for(lambda: central.worker.stats.quarantined == len(sent), what="all refused")
        quarantine = central.quarantine()
        assert {quarantine[raw.hex()].reason for raw in sent} == {"non_canonical"}
        assert central.store.equivocations(seller.device) == []  # no fake equivocation
        assert [r.raw for r in central.store.records(seller.device)] == [r.raw for r in honest]
        assert edge.acked == 2
        tally.inject("seq 3 as the gate signed it")
        edge.send([third])
    assert [r.raw for r in central.store.records(seller.device)] == [
        *(r.raw for r in honest),
        third.raw,
    ]
    assert quarantine_alarms(central) == [(seller.device, "non_canonical")]
    tally.count(
        re_encodings_sent=len(sent),
        quarantined=len(central.quarantine()),
        stored=len(central.store.records(seller.device)),
        equivocations=len(central.store.equivocations(seller.device)),
        alarms=len(central.alarms()),
    )
    tally.report()
    assert tally.counted["quarantined"] == 12
    assert (tally.counted["stored"], tally.counted["equivocations"]) == (3, 0)


def test_replayed_identical_records_are_absorbed_and_acked_again(central: Central) -> None:
    tally = Tally("replayed records")
    seller = central.region.seller
    with edge_peer(central, seller) as edge:
        honest = [seller.sign(seq) for seq in range(1, 6)]
        edge.send(honest)
        acks_before = central.worker.stats.acks
        for round_ in (1, 2, 3):
            tally.inject(f"replay {round_} of seq 1..5, byte for byte")
            for record in honest:
                edge.publish_raw(record.raw)
        wait_for(lambda: central.worker.stats.duplicates == 15, what="15 duplicates")
        wait_for(lambda: central.worker.stats.acks > acks_before, what="acked again")
    assert [r.raw for r in central.store.records(seller.device)] == [r.raw for r in honest]
    assert central.store.equivocations(seller.device) == []
    assert central.store.quarantined() == []
    assert central.alarms() == []
    assert edge.acked == 5
    tally.count(
        sent=5,
        replayed=15,
        stored=len(central.store.records(seller.device)),
        duplicates=central.worker.stats.duplicates,
        acks_after_replay=central.worker.stats.acks - acks_before,
        alarms=len(central.alarms()),
    )
    tally.report()
    assert (tally.counted["stored"], tally.counted["duplicates"]) == (5, 15)


# --- acks (the edge side) --------------------------------------------------------------------


class Forger:
    """An MQTT client that publishes whatever it likes on an edge's down topics."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="forger")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def open_journal(path: Path, who: b.Edge) -> Journal:
    return Journal.open(path, key=who.key, site=who.site, device=who.device)


def make_uplink(journal: Journal, mosquitto: Mosquitto, keys: KeySet) -> Uplink:
    return Uplink(
        journal=journal,
        url=mosquitto.url,
        central_keys=keys,
        mqtt_version="3.1.1",
        resend_after_s=0.3,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        heartbeat_s=3600.0,
        software_version="test-1.0",
    )


async def test_forged_acks_never_retire_journal_entries(
    sqlite_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    tally = Tally("forged acks")
    with running_central(sqlite_url, mosquitto, start_worker=False) as c:
        seller = c.region.seller
        topic = ack_topic(SITE, seller.device)
        forger = Forger(mosquitto.port)
        impostor = SigningKey.from_seed(IMPOSTOR_SEED, kid=c.keyring.signing.kid)
        rogue = SigningKey.from_seed(b"\x66" * 32, kid="central-20261130")
        payload = {"device": seller.device, "seq": 6, "ts": NOW}
        forged = [
            ("an ack under central's kid, signed by another key",
             build_ack(impostor, device=seller.device, seq=6, ts=NOW).raw),
            ("an ack signed by a central kid nobody published",
             build_ack(rogue, device=seller.device, seq=6, ts=NOW).raw),
            ("an ack signed by the gate's own key", cose.sign1(payload, seller.key)),
            ("central's genuine ack for another device, replayed here",
             build_ack(c.keyring.signing, device=c.region.other.device, seq=6, ts=NOW).raw),
            ("central's ack with seq raised under its signature",
             altered_payload(build_ack(c.keyring.signing, device=seller.device, seq=1,
                                       ts=NOW).raw, {"seq": 6})),
            ("bytes that are not an ack", b"\xa0"),
        ]  # fmt: skip
        try:
            with open_journal(tmp_path / "journal.db", seller) as journal:
                for number in range(1, 7):
                    body = b.weighing() if number % 2 else b.escape_event()
                    journal.append(record_type=body.TYPE, body=body, ts_ms=b.T0 + number)
                uplink = make_uplink(journal, mosquitto, c.keyring.published)
                async with running(uplink):
                    await until(lambda: uplink.stats.published >= 6, what="6 records sent")
                    for what, raw in forged:
                        tally.inject(what)
                        forger.publish(topic, raw)
                    await until(lambda: uplink.stats.forged_acks == len(forged), what="all refused")
                    tally.inject("central's genuine ack for seq 99, above the highest written")
                    forger.publish(topic, build_ack(c.keyring.signing, device=seller.device,
                                                    seq=99, ts=NOW).raw)  # fmt: skip
                    await until(lambda: uplink.stats.beyond_acks == 1, what="the ack above")
                    acked_before = journal.acked_seq
                    assert acked_before == 0
                    assert [e.seq for e in journal.pending()][:6] == [1, 2, 3, 4, 5, 6]
                    events = [decode_record(e.data).body for e in journal.entries()]
                    rejected = [
                        e for e in events if isinstance(e, EventBody) and e.kind == "ack_rejected"
                    ]  # the edge's own record of the forgeries, rate-limited to one
                    assert len(rejected) == 1
                    tally.inject("central's ingest worker starts; the gate resends un-acked")
                    c.worker.start()
                    await until(
                        lambda: journal.acked_seq == journal.highest_seq >= 7,
                        what="the real acks",
                    )
                    highest = journal.highest_seq
                    stored = [r.raw for r in c.store.records(seller.device)]
                    assert stored == [e.data for e in journal.entries()]
                tally.count(
                    journal_records=highest,
                    forged_acks=uplink.stats.forged_acks,
                    beyond_acks=uplink.stats.beyond_acks,
                    acked_before_central=acked_before,
                    acked_after_central=journal.acked_seq,
                    stored_at_central=len(stored),
                )
        finally:
            forger.close()
    tally.report()
    assert tally.counted["forged_acks"] == len(forged)
    assert tally.counted["stored_at_central"] == tally.counted["acked_after_central"]


# --- tickets and bundles ---------------------------------------------------------------------


def forged_like(ticket: Ticket, key: SigningKey, **changes: object) -> Ticket:
    values: dict[str, object] = {
        name: getattr(ticket, name)
        for name in ("iss", "iat", "exp", "cti", "seller_site", "seller", "buyer", "plate",
                     "coal", "max_net_kg", "dest_site", "no", "transit_s")
    }  # fmt: skip
    values.update(changes)
    return issue_ticket(key, **values)  # type: ignore[arg-type]


def signed_by_device(ticket: Ticket, key: SigningKey, plate: str) -> bytes:
    """The ticket's claims, with ``plate``, signed by a device key (``issue_ticket`` refuses
    a non-central key, so the forger signs the COSE message directly)."""
    claims = cbor2.loads(take_apart(ticket.raw).payload)
    claims[PLATE_CLAIM] = plate
    return cose.sign1(claims, key)


def damaged(text: str, at: int) -> str:
    """``text`` with the Base45 character at ``at`` replaced by another one."""
    char = text[at]
    other = ALPHABET[(ALPHABET.index(char) + 1) % len(ALPHABET)]
    return text[:at] + other + text[at + 1 :]


def gate(c: Central, site: str, *, now_ms: int) -> Lane:
    bundle = build_site_bundle(c.store, c.keyring, site, now_ms=now_ms)
    return Lane(gb.config(), site=site, keys=c.keyring.published, bundle=bundle, now_ms=now_ms)


def present(lane: Lane, raw: bytes, *, plate: str, now_ms: int) -> WeighingBody:
    """A truck drives on; the operator scans the driver's ticket; the lane decides again."""
    run = gb.Run(lane, now_ms=now_ms)
    run.drive_on(gb.GROSS, plate=plate)
    out = run.feed(ChooseTicket(operator="op-1", ticket=raw)) + run.hold_weight(gb.GROSS)
    assert gb.barrier_ups(run.outputs) == 0, "the barrier never rises"
    assert not any(isinstance(o, Barrier) and o.up for o in out)
    weighings = gb.weighings(out)
    assert weighings, "the decision is a written record"
    return weighings[-1]


def test_forged_ticket_qrs_are_refused_at_the_checkpoint_and_the_gate(
    central: Central, tmp_path: Path
) -> None:
    tally = Tally("forged tickets")
    c = central
    genuine = service.issue(
        c.store, c.keyring, b.ticket_request(), issuer=ISSUER, now_ms=NOW, actor="test"
    ).ticket
    impostor = SigningKey.from_seed(IMPOSTOR_SEED, kid=c.keyring.signing.kid)
    rogue = SigningKey.from_seed(b"\x66" * 32, kid="central-20261130")
    plate = "陕K54321"  # a truck without a ticket: only a forged one could let it through
    mine = {"plate": plate, "cti": b"\xf0" * 16}
    # (what, COSE bytes, the checkpoint's reason, the gate's reason code)
    bad_signature = "ticket_bad_signature"
    signed_forgeries: list[tuple[str, bytes, str, str]] = [
        ("signed under central's kid by another key",
         forged_like(genuine, impostor, **mine).raw, "bad_signature", bad_signature),
        ("signed by a central kid nobody published",
         forged_like(genuine, rogue, **mine).raw, "unknown_central_key", bad_signature),
        ("signed by the mine gate's own key",
         signed_by_device(genuine, c.region.seller.key, plate), "wrong_issuer", bad_signature),
        ("the genuine ticket with its plate changed under central's signature",
         altered_payload(genuine.raw, {PLATE_CLAIM: plate}), "bad_signature", bad_signature),
        # only central's key can make this one; the gate knows no issuer name, and holds the
        # truck because central's bundle does not list the ticket
        ("signed with central's key, naming another issuer",
         forged_like(genuine, c.keyring.signing, iss="fake-bureau", **mine).raw, "wrong_issuer",
         "no_ticket"),
    ]  # fmt: skip
    genuine_qr = ticket_qr(genuine)
    texts = [
        (what, encode_qr(TICKET_PREFIX, raw), reason) for what, raw, reason, _ in signed_forgeries
    ]
    texts.append(("the genuine QR with one character changed", damaged(genuine_qr, 40), "*"))

    app = create_app(
        store=c.store, keyring=c.keyring, settings=settings(tmp_path), clock=lambda: NOW
    )
    officer = token(c.store, "checkpoint", checkpoint=b.checkpoint().id)
    with TestClient(app) as client:

        def verify(text: str) -> dict[str, object]:
            response = client.post(
                "/api/v1/tickets/verify",
                json={"qr": text},
                headers={"Authorization": f"Bearer {officer}"},
            )
            assert response.status_code == 200, response.text
            answer: dict[str, object] = response.json()
            return answer

        assert verify(genuine_qr)["valid"] is True
        for what, text, reason in texts:
            tally.inject(f"at the checkpoint: {what}")
            answer = verify(text)
            assert answer["valid"] is False, what
            if reason != "*":
                assert answer["reason"] == reason, (what, answer)
            print(f"  {what}: {answer['reason']}")
    sightings = c.store.find_sightings(SightingQuery(checkpoint=b.checkpoint().id, limit=100))
    assert [s.valid for s in sightings] == [True] + [False] * len(texts)

    # at the gate of the mine the forgeries name as seller: the truck is held, never released
    held: list[WeighingBody] = []
    for what, raw, _reason, code in signed_forgeries:
        tally.inject(f"at the gate: {what}")
        weighing = present(gate(c, SITE, now_ms=NOW), raw, plate=plate, now_ms=NOW)
        assert weighing.decision == "hold"
        assert weighing.reasons[0] == code, (what, weighing.reasons)
        assert weighing.ticket is None  # nothing forged goes into the signed record
        held.append(weighing)
    # the holds are signed records like any other: the gate uploads them, central keeps them
    seller = c.region.seller
    with edge_peer(c, seller) as edge:
        edge.send([seller.sign(seq, body) for seq, body in enumerate(held, start=1)])
    stored = [decode_record(r.raw).body for r in c.store.records(seller.device)]
    assert stored == held
    tally.count(
        forged_at_checkpoint=len(texts),
        refused_at_checkpoint=sum(s.valid is False for s in sightings),
        forged_at_gate=len(signed_forgeries),
        held_at_gate=len(held),
        holds_stored_at_central=len(stored),
        released=0,
    )
    tally.report()
    assert tally.counted["refused_at_checkpoint"] == len(texts)
    assert tally.counted["held_at_gate"] == len(signed_forgeries)


async def test_an_old_bundle_replayed_is_refused_by_the_edge(
    central: Central, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    tally = Tally("bundle replay")
    c = central
    seller = c.region.seller
    central_client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-tickets")
    central_client.connect("127.0.0.1", mosquitto.port)
    central_client.loop_start()
    forger = Forger(mosquitto.port)
    publisher = BundlePublisher(
        store=c.store, keyring=c.keyring, client=central_client, clock=lambda: NOW
    )
    try:
        with open_journal(tmp_path / "journal.db", seller) as journal:
            uplink = make_uplink(journal, mosquitto, c.keyring.published)
            async with running(uplink):
                ticket = service.issue(
                    c.store, c.keyring, b.ticket_request(), issuer=ISSUER, now_ms=NOW,
                    actor="test",
                ).ticket  # fmt: skip
                first = publisher.publish_site(SITE)
                await until(lambda: version(uplink) == first.version, what="the first bundle")
                tally.inject(f"central revokes ticket {ticket.no}; bundle {first.version + 1}")
                service.revoke(c.store, ticket.cti, actor="test", now_ms=NOW)
                second = publisher.publish_site(SITE)
                assert ticket.cti in second.revoked
                await until(lambda: version(uplink) == second.version, what="the new bundle")
                stale = uplink.stats.stale_bundles
                tally.inject(f"an attacker replays bundle {first.version} (retained)")
                forger.publish(bundle_topic(SITE, seller.device), first.raw, retain=True)
                await until(lambda: uplink.stats.stale_bundles > stale, what="refused")
                assert version(uplink) == second.version
            cached = journal.bundle()
            assert cached is not None
            assert cached.version == second.version
            tally.inject("the gate restarts; the broker now holds the replayed bundle")
            restarted = make_uplink(journal, mosquitto, c.keyring.published)
            async with running(restarted):
                await until(lambda: restarted.stats.stale_bundles >= 1, what="refused again")
                assert version(restarted) == second.version
            held = restarted.bundle
            assert held is not None
    finally:
        forger.close()
        central_client.disconnect()
        central_client.loop_stop()
    # the lane, too, keeps the newer bundle, and refuses the revoked ticket
    lane = Lane(gb.config(), site=SITE, keys=c.keyring.published, bundle=held, now_ms=NOW)
    lane.step(BundleIn(bundle=first), now_ms=NOW)
    assert lane.bundle is not None
    assert lane.bundle.version == second.version
    weighing = present(lane, ticket.raw, plate=b.PLATE, now_ms=NOW)
    assert (weighing.decision, weighing.reasons[:1]) == ("hold", ("ticket_revoked",))
    tally.count(
        bundles_published=2,
        replays=2,
        stale_refused=uplink.stats.stale_bundles + restarted.stats.stale_bundles,
        held_version=held.version,
        released=0,
    )
    tally.report()
    assert tally.counted["held_version"] == second.version


def version(uplink: Uplink) -> int | None:
    return None if uplink.bundle is None else uplink.bundle.version


def test_a_ticket_used_at_one_mine_is_refused_at_another_and_flagged(central: Central) -> None:
    tally = Tally("ticket reused at a second mine")
    c = central
    seller, other = c.region.seller, c.region.other
    ticket = service.issue(
        c.store, c.keyring, b.ticket_request(), issuer=ISSUER, now_ms=NOW, actor="test"
    ).ticket
    with edge_peer(c, seller) as mine_a, edge_peer(c, other) as mine_c:
        tally.inject(f"mine A loads the truck on ticket {ticket.no}")
        mine_a.send([seller.sign(1, b.loading(ticket.cti, 34_000), ts=NOW)])
        assert c.store.get_ticket(ticket.cti).state == "loaded"

        tally.inject("the driver presents the same ticket at mine C's gate")
        at_c = present(gate(c, b.OTHER_SITE, now_ms=NOW), ticket.raw, plate=b.PLATE, now_ms=NOW)
        assert at_c.decision == "hold"
        assert at_c.reasons[:1] == ("ticket_wrong_site",)
        tally.inject("... and again at mine A's gate")
        at_a = present(gate(c, SITE, now_ms=NOW), ticket.raw, plate=b.PLATE, now_ms=NOW)
        assert at_a.reasons[:1] == ("ticket_used",)

        tally.inject("mine C's gate is overridden and uploads a loading naming the ticket")
        mine_c.send([other.sign(1, b.loading(ticket.cti, 33_000), ts=NOW + 60_000)])
        tally.inject("mine A loads a second truck on the same ticket")
        mine_a.send([seller.sign(2, b.loading(ticket.cti, 31_000), ts=NOW + 120_000)])
    stored = c.store.get_ticket(ticket.cti)
    checkpoint = verify_qr(c.store, c.keyring, ticket_qr(ticket), issuer=ISSUER, now_ms=NOW)
    assert checkpoint["valid"] is True  # the ticket is genuine; central knows its misuse:
    assert checkpoint["online"]["ticket_flags"] == ["double_load", "wrong_site"]
    assert stored.state == "loaded"
    assert stored.source_net_kg == 34_000  # the first loading counts
    assert {"wrong_site", "double_load"} <= set(stored.flags)
    kinds = sorted(a.kind for a in c.alarms() if a.detail.get("cti") == ticket.id)
    assert kinds == ["double_load", "wrong_site"]
    (wrong,) = c.alarms("wrong_site")
    assert (wrong.device, wrong.site) == (other.device, b.OTHER_SITE)
    tally.count(
        loadings_uploaded=3,
        gate_refusals=2,
        ticket_flags=len(stored.flags),
        alarms=len(kinds),
        source_net_kg=stored.source_net_kg or 0,
    )
    tally.report()
    assert tally.counted["alarms"] == 2
