"""Receipts: ticket + weighing + certificate in one CR1: QR, verified with central's keys only."""

from __future__ import annotations

import zlib
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from tests.wire import factories
from wire import cbor, qr
from wire.errors import (
    IssuerError,
    NonCanonicalError,
    QrError,
    ReceiptError,
    SignatureError,
    UndecodableError,
    UnknownKeyError,
    WireError,
)
from wire.receipts import QR_BUDGET, Receipt, encode_receipt, split_receipt, verify_receipt

KEYS = cf.CENTRAL_KEYS  # nothing but central's key set: no device key, no network
TICKET = cf.ticket()
CERT = cf.certificate()
RECORD = cf.record()


def receipt(ticket: bytes = TICKET.raw, record: bytes = RECORD.raw, cert: bytes = CERT.raw) -> str:
    return encode_receipt(ticket=ticket, record=record, certificate=cert)


TEXT = receipt()


def qr_of(data: bytes) -> str:
    return qr.RECEIPT_PREFIX + qr.b45encode(zlib.compress(data, 9))


# --- a realistic receipt -------------------------------------------------------------------


def test_ids_have_realistic_lengths() -> None:
    assert cf.SITE == "yl-shenmu-mine-0012"
    assert cf.DEVICE == "yl-shenmu-mine-0012-gate-02"
    assert cf.CENTRAL_KID == "central-20261129"
    assert cf.ISS == "yulin-energy-bureau"
    assert len(cf.NUMBER) == 16
    assert len(cf.SELLER) >= 20
    assert len(cf.BUYER) >= 20


def test_a_realistic_receipt_verifies_and_fits_the_qr_budget() -> None:
    print(
        f"receipt: ticket {len(TICKET.raw)} + record {len(RECORD.raw)} + certificate "
        f"{len(CERT.raw)} bytes -> {len(TEXT)} QR characters (budget {QR_BUDGET})"
    )
    assert QR_BUDGET == 1600
    assert len(TEXT) <= 1600
    checked = verify_receipt(TEXT, KEYS)
    assert checked == Receipt(ticket=TICKET, record=RECORD, weighing=RECORD.body, certificate=CERT)
    assert checked.weighing.net_kg == 34_360
    assert checked.ticket.no == cf.NUMBER
    assert checked.certificate.device == cf.DEVICE


def test_a_busy_receipt_still_fits_the_budget() -> None:
    # A manual plate entry with an operator, several reasons, a new-energy truck, long lane
    # and coal names, a 32-character ticket number: about as large as a weighing gets.
    plate = "陕KD12345"
    ticket = cf.ticket(
        plate=plate, no="YL-SHENMU-2026-12-01-0000012345", coal="SHENMU-5500-LOW-SULPHUR-13"
    )
    body = cf.weighing(
        plate=plate,
        plate_source="manual",
        plate_conf=100,
        lane="lane-outbound-north-weighbridge-02",
        operator="operator-wang-jianguo-shift-b",
        reasons=("plate_low_confidence", "manual_override", "tare_deviation"),
        tare_source="weighed",
        pass_="second",
    )
    text = receipt(ticket.raw, cf.record(body).raw)
    print(f"busy receipt: {len(text)} QR characters")
    assert len(text) <= QR_BUDGET
    assert verify_receipt(text, KEYS).weighing.operator == "operator-wang-jianguo-shift-b"


def test_receipt_text_is_qr_alphanumeric() -> None:
    assert TEXT.startswith("CR1:")
    assert set(TEXT) <= set(qr.ALPHABET)  # "CR1:" is alphanumeric mode too


def test_split_gives_the_three_cose_objects_in_order() -> None:
    assert split_receipt(TEXT) == (TICKET.raw, RECORD.raw, CERT.raw)
    inner = zlib.decompress(qr.b45decode(TEXT[4:]))
    assert cbor2.loads(inner) == [TICKET.raw, RECORD.raw, CERT.raw]
    assert inner == cbor.dumps([TICKET.raw, RECORD.raw, CERT.raw])


def test_the_ticket_may_have_expired_since_loading() -> None:
    # A checkpoint on the road verifies a receipt days after the loading deadline.
    assert RECORD.ts < cf.TICKET_EXP * 1000
    assert verify_receipt(TEXT, KEYS).ticket.exp == cf.TICKET_EXP


def test_loaded_at_the_last_millisecond_of_the_deadline() -> None:
    # WIRE.md: record ts <= ticket exp (seconds, so exp * 1000 in ms).
    record = cf.record(ts=cf.TICKET_EXP * 1000)
    assert verify_receipt(receipt(record=record.raw), KEYS).record.ts == cf.TICKET_EXP * 1000


def test_certificate_validity_is_inclusive_of_iat() -> None:
    cert = cf.certificate(iat=RECORD.ts // 1000)
    assert RECORD.ts % 1000 == 0
    assert verify_receipt(receipt(cert=cert.raw), KEYS).certificate.iat * 1000 == RECORD.ts


def test_a_net_exactly_at_the_ticket_maximum() -> None:
    record = cf.record(cf.weighing(net_kg=35_000, gross_kg=50_020))
    assert verify_receipt(receipt(record=record.raw), KEYS).weighing.net_kg == 35_000


# --- every check of WIRE.md "Receipt", each with real signatures ---------------------------


def expect_check(text: str, check: str) -> ReceiptError:
    with pytest.raises(ReceiptError) as caught:
        verify_receipt(text, KEYS)
    assert caught.value.check == check, caught.value.message
    assert caught.value.reason == "receipt_mismatch"
    return caught.value


def test_certificate_not_yet_valid_when_the_record_was_signed() -> None:
    cert = cf.certificate(iat=RECORD.ts // 1000 + 1)
    expect_check(receipt(cert=cert.raw), "certificate_validity")


@pytest.mark.parametrize("exp_offset_s", [0, -1, -86_400])
def test_certificate_expired_when_the_record_was_signed(exp_offset_s: int) -> None:
    exp = RECORD.ts // 1000 + exp_offset_s
    cert = cf.certificate(iat=cf.CERT_IAT - 10 * 86_400, exp=exp)
    expect_check(receipt(cert=cert.raw), "certificate_validity")


def test_certificate_valid_until_just_after_the_record() -> None:
    cert = cf.certificate(exp=RECORD.ts // 1000 + 1)
    assert verify_receipt(receipt(cert=cert.raw), KEYS).certificate == cert


def test_a_record_of_another_device_does_not_verify_under_the_certificate() -> None:
    # WIRE.md's "certificate sub = record kid = record device": the record is verified under
    # the certified key only, so a record by another device fails before the cross-checks
    # (the receipt code's `device` check cannot be reached; see the report).
    other = cf.device_key("yl-shenmu-mine-0012-gate-01", seed_byte=8)
    record = cf.record(key=other)
    with pytest.raises(UnknownKeyError) as caught:
        verify_receipt(receipt(record=record.raw), KEYS)
    assert caught.value.kid == other.kid
    # ... and with that device's own certificate instead, the receipt is fine.
    cert = cf.certificate(other.public)
    assert verify_receipt(receipt(record=record.raw, cert=cert.raw), KEYS).record.device == (
        other.kid
    )


def test_a_record_signed_by_a_key_other_than_the_certified_one() -> None:
    impostor = cf.device_key(cf.DEVICE, seed_byte=99)  # the device's id, not its key
    record = cf.record(key=impostor)
    with pytest.raises(SignatureError) as caught:
        verify_receipt(receipt(record=record.raw), KEYS)
    assert caught.value.kid == cf.DEVICE


def test_a_device_whose_certificate_names_another_site() -> None:
    # The gate signs records claiming SITE, but central certified it at OTHER_SITE.
    cert = cf.certificate(site=cf.OTHER_SITE)
    expect_check(receipt(cert=cert.raw), "site")


def test_a_record_from_another_site_than_the_certificates() -> None:
    record = cf.record(site=cf.OTHER_SITE)
    expect_check(receipt(record=record.raw), "site")


def test_a_ticket_sold_by_another_site() -> None:
    ticket = cf.ticket(seller_site=cf.OTHER_SITE)
    expect_check(receipt(ticket=ticket.raw), "site")


def test_a_device_certified_and_weighing_at_another_site() -> None:
    # Certificate and record agree with each other, not with the ticket's seller.
    cert = cf.certificate(site=cf.OTHER_SITE)
    record = cf.record(site=cf.OTHER_SITE)
    expect_check(receipt(record=record.raw, cert=cert.raw), "site")


@pytest.mark.parametrize("body_type", ["status", "event", "evidence"])
def test_a_record_that_is_not_a_weighing(body_type: str) -> None:
    record = cf.record(factories.BODIES[body_type]())
    expect_check(receipt(record=record.raw), "type")


@pytest.mark.parametrize("cti", [b"\x09" * 16, None])
def test_a_weighing_naming_another_ticket(cti: bytes | None) -> None:
    record = cf.record(cf.weighing(ticket=cti))
    expect_check(receipt(record=record.raw), "ticket")


def test_a_weighing_of_another_plate() -> None:
    record = cf.record(cf.weighing(plate="陕K54321"))
    expect_check(receipt(record=record.raw), "plate")


def test_an_inbound_weighing() -> None:
    record = cf.record(cf.weighing(direction="in"))
    expect_check(receipt(record=record.raw), "direction")


def test_a_hold_decision() -> None:
    record = cf.record(cf.weighing(decision="hold", reasons=("over_ticket_max",)))
    expect_check(receipt(record=record.raw), "decision")


def test_a_weighing_without_a_net() -> None:
    # The first pass of an outbound two-pass weighing: tare only, no net yet.
    body = cf.weighing(pass_="first", gross_kg=15_020, tare_kg=None, net_kg=None, tare_source=None)
    expect_check(receipt(record=cf.record(body).raw), "net")


@pytest.mark.parametrize("net_kg", [35_001, 60_000])
def test_a_net_above_the_ticket_maximum(net_kg: int) -> None:
    record = cf.record(cf.weighing(net_kg=net_kg, gross_kg=net_kg + 15_020))
    error = expect_check(receipt(record=record.raw), "max_net")
    assert str(net_kg) in error.message


@pytest.mark.parametrize("late_ms", [1, 999, 1000, 86_400_000])
def test_a_record_after_the_loading_deadline(late_ms: int) -> None:
    record = cf.record(ts=cf.TICKET_EXP * 1000 + late_ms)
    expect_check(receipt(record=record.raw), "deadline")


# --- forged parts --------------------------------------------------------------------------


def test_a_ticket_signed_by_a_device_key() -> None:
    forged = cf.raw_sign1(TICKET.claims(), cf.DEVICE_KEY)
    with pytest.raises(IssuerError):
        verify_receipt(receipt(ticket=forged), KEYS)


def test_a_certificate_signed_by_the_device_itself() -> None:
    payload = cbor2.loads(cbor2.loads(CERT.raw).value[2])
    forged = cf.raw_sign1(payload, cf.DEVICE_KEY)
    with pytest.raises(IssuerError):
        verify_receipt(receipt(cert=forged), KEYS)


def test_parts_signed_by_an_unpublished_central_key() -> None:
    with pytest.raises(UnknownKeyError):
        verify_receipt(receipt(ticket=cf.ticket(key=cf.ROGUE_CENTRAL).raw), KEYS)
    with pytest.raises(UnknownKeyError):
        verify_receipt(receipt(cert=cf.certificate(key=cf.ROGUE_CENTRAL).raw), KEYS)


def test_a_self_made_certificate_for_a_forged_record() -> None:
    # Someone with their own key signs a generous weighing and a certificate for it.
    thief = cf.device_key(cf.DEVICE, seed_byte=99)
    record = cf.record(cf.weighing(net_kg=90_000), key=thief)
    cert = cf.certificate(thief.public, key=cf.ROGUE_CENTRAL)
    with pytest.raises(UnknownKeyError):
        verify_receipt(receipt(record=record.raw, cert=cert.raw), KEYS)


@pytest.mark.parametrize(
    "order",
    [(1, 0, 2), (2, 1, 0), (0, 2, 1)],
)
def test_parts_in_the_wrong_order(order: tuple[int, int, int]) -> None:
    parts = (TICKET.raw, RECORD.raw, CERT.raw)
    ticket, record, cert = (parts[i] for i in order)
    with pytest.raises(WireError):
        verify_receipt(receipt(ticket, record, cert), KEYS)


# --- the container -------------------------------------------------------------------------


def test_a_ticket_qr_is_not_a_receipt() -> None:
    with pytest.raises(QrError, match="'CR1:'"):
        verify_receipt(qr.encode_qr(qr.TICKET_PREFIX, cbor.dumps([TICKET.raw] * 3)), KEYS)


@pytest.mark.parametrize(
    "value",
    [
        [TICKET.raw, RECORD.raw],
        [TICKET.raw, RECORD.raw, CERT.raw, CERT.raw],
        [TICKET.raw, RECORD.raw, CERT.raw.hex()],
        [TICKET.raw, [RECORD.raw], CERT.raw],
        {"ticket": TICKET.raw, "record": RECORD.raw, "certificate": CERT.raw},
        TICKET.raw,
        [],
        None,
    ],
    ids=["two", "four", "text", "nested", "map", "bytes", "empty", "null"],
)
def test_not_an_array_of_three_byte_strings(value: Any) -> None:
    with pytest.raises(UndecodableError, match="three byte strings"):
        verify_receipt(qr_of(cbor.dumps(value)), KEYS)


def test_trailing_bytes_after_the_array() -> None:
    with pytest.raises(UndecodableError):
        verify_receipt(qr_of(cbor.dumps([TICKET.raw, RECORD.raw, CERT.raw]) + b"\x00"), KEYS)


def test_indefinite_length_array_is_not_canonical() -> None:
    inner = b"\x9f" + b"".join(cbor.dumps(p) for p in (TICKET.raw, RECORD.raw, CERT.raw)) + b"\xff"
    with pytest.raises(NonCanonicalError):
        verify_receipt(qr_of(inner), KEYS)


def test_long_form_byte_string_head_is_not_canonical() -> None:
    # The ticket (329 bytes) written with a 4-byte length instead of 2.
    assert len(TICKET.raw) > 255
    inner = (
        b"\x83\x5a"
        + len(TICKET.raw).to_bytes(4, "big")
        + TICKET.raw
        + cbor.dumps(RECORD.raw)
        + cbor.dumps(CERT.raw)
    )
    assert cbor2.loads(inner) == [TICKET.raw, RECORD.raw, CERT.raw]
    with pytest.raises(NonCanonicalError):
        verify_receipt(qr_of(inner), KEYS)


def test_a_receipt_zlib_bomb() -> None:
    with pytest.raises(QrError, match="zlib bomb"):
        verify_receipt(qr_of(b"\x83" + b"\x00" * 5_000_000), KEYS)


@pytest.mark.parametrize("cut", [1, 2, 10, 100])
def test_truncated_receipt_text(cut: int) -> None:
    with pytest.raises(QrError):
        verify_receipt(TEXT[:-cut], KEYS)


@pytest.mark.parametrize("part", [0, 1, 2], ids=["ticket", "record", "certificate"])
def test_a_truncated_part(part: int) -> None:
    parts = [TICKET.raw, RECORD.raw, CERT.raw]
    for cut in (1, 64, len(parts[part]) // 2):
        damaged = list(parts)
        damaged[part] = parts[part][:-cut]
        with pytest.raises(WireError):
            verify_receipt(receipt(*damaged), KEYS)


# --- bit flips -----------------------------------------------------------------------------


@pytest.mark.parametrize("part", [0, 1, 2], ids=["ticket", "record", "certificate"])
@given(data=st.data())
def test_flipping_any_bit_inside_a_part_fails_verification(part: int, data: st.DataObject) -> None:
    parts = [TICKET.raw, RECORD.raw, CERT.raw]
    bit = data.draw(st.integers(0, len(parts[part]) * 8 - 1))
    parts[part] = cf.flip(parts[part], bit)
    with pytest.raises(WireError):
        verify_receipt(receipt(*parts), KEYS)


@given(data=st.data())
def test_flipping_any_bit_of_the_inflated_receipt_fails_verification(data: st.DataObject) -> None:
    inner = cbor.dumps([TICKET.raw, RECORD.raw, CERT.raw])
    bit = data.draw(st.integers(0, len(inner) * 8 - 1))
    with pytest.raises(WireError):
        verify_receipt(qr_of(cf.flip(inner, bit)), KEYS)


@given(st.text(alphabet=qr.ALPHABET, max_size=200))
def test_any_receipt_text_fails_with_a_wire_error(text: str) -> None:
    with pytest.raises(WireError):
        verify_receipt("CR1:" + text, KEYS)
