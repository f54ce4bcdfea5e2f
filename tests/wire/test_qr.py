"""QR text: strict RFC 9285 Base45, zlib with an inflate cap, and the CT1:/CR1: prefixes."""

from __future__ import annotations

import time
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import qr
from wire.errors import QrError, RemoteError

CAP = qr.TICKET_INFLATE_CAP


def ticket_text(data: bytes) -> str:
    return qr.TICKET_PREFIX + qr.b45encode(data)


# --- Base45 (RFC 9285) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"AB", "BB8"),  # RFC 9285 §4.3
        (b"Hello!!", "%69 VD92EX0"),  # §4.3
        (b"base-45", "UJCLQE7W581"),  # §4.3
        (b"ietf!", "QED8WEX0"),  # §4.4, the decoding example
        (b"\x00", "00"),
        (b"\xff", "U5"),
        (b"\xff\xff", "FGW"),
        (b"\x00\x00", "000"),
    ],
)
def test_rfc9285_vectors(data: bytes, text: str) -> None:
    assert qr.b45encode(data) == text
    assert qr.b45decode(text) == data


def test_alphabet_is_rfc9285s() -> None:
    assert qr.ALPHABET == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    assert len(qr.ALPHABET) == 45


@pytest.mark.parametrize("text", ["bb8", "BB8a", "qed8wex0", "BB\u0138", "BB8\n", "B_8", "ÄB8"])
def test_characters_outside_the_alphabet_are_refused(text: str) -> None:
    with pytest.raises(QrError, match="not a Base45 character"):
        qr.b45decode(text)


@pytest.mark.parametrize("text", ["0", "BB80", "QED8WEX0AB", "%69 VD92EX0AB"])
def test_a_length_of_one_mod_three_is_refused(text: str) -> None:
    assert len(text) % 3 == 1
    with pytest.raises(QrError, match="cannot be complete"):
        qr.b45decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "GGW",  # 16 + 16·45 + 32·45² = 65536, one above 0xFFFF
        ":::",  # 44 + 44·45 + 44·45² = 91124, the largest group
        "000GGW",  # a bad group after a good one
        "GGW000",
    ],
)
def test_out_of_range_groups_are_refused(text: str) -> None:
    with pytest.raises(QrError, match="out of range"):
        qr.b45decode(text)


@pytest.mark.parametrize("text", ["V5", "::", "000V5"])
def test_out_of_range_final_pairs_are_refused(text: str) -> None:
    # "V5" = 31 + 5·45 = 256, one above 0xFF; "::" = 44 + 44·45.
    with pytest.raises(QrError, match="out of range"):
        qr.b45decode(text)


def test_the_largest_values_are_in_range() -> None:
    assert qr.b45decode("FGW") == b"\xff\xff"
    assert qr.b45decode("U5") == b"\xff"
    assert qr.b45decode("T5") == b"\xfe"


@given(st.binary(max_size=700))
def test_b45_round_trip(data: bytes) -> None:
    text = qr.b45encode(data)
    assert set(text) <= set(qr.ALPHABET)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert qr.b45decode(text) == data


@given(st.text(alphabet=qr.ALPHABET, max_size=60))
def test_b45_decoding_is_exact_when_it_succeeds(text: str) -> None:
    # Decoding is injective: whatever decodes re-encodes to the very same text.
    try:
        data = qr.b45decode(text)
    except QrError:
        return
    assert qr.b45encode(data) == text


# --- prefix + Base45(zlib(bytes)) ----------------------------------------------------------


@given(st.binary(max_size=CAP))
def test_encode_decode_qr_round_trip(data: bytes) -> None:
    text = qr.encode_qr(qr.TICKET_PREFIX, data)
    assert text.startswith("CT1:")
    assert set(text[4:]) <= set(qr.ALPHABET)
    assert qr.decode_qr(text, prefix=qr.TICKET_PREFIX, cap=CAP) == data


def test_receipt_prefix_round_trip() -> None:
    data = bytes(range(256)) * 4
    text = qr.encode_qr(qr.RECEIPT_PREFIX, data)
    assert text.startswith("CR1:")
    assert qr.decode_qr(text, prefix=qr.RECEIPT_PREFIX, cap=qr.RECEIPT_INFLATE_CAP) == data


def test_surrounding_whitespace_from_a_scanner_is_ignored() -> None:
    text = qr.encode_qr(qr.TICKET_PREFIX, b"ticket")
    assert qr.decode_qr(f"  {text}\r\n", prefix=qr.TICKET_PREFIX, cap=CAP) == b"ticket"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "CT1",
        "ct1:" + qr.b45encode(zlib.compress(b"x")),  # lower-case prefix
        "CR1:" + qr.b45encode(zlib.compress(b"x")),  # a receipt where a ticket belongs
        "CT2:" + qr.b45encode(zlib.compress(b"x")),
        "HC1:" + qr.b45encode(zlib.compress(b"x")),  # an EU DCC
        " XCT1:" + qr.b45encode(zlib.compress(b"x")),
        qr.b45encode(zlib.compress(b"x")),  # no prefix at all
    ],
)
def test_wrong_prefix(text: str) -> None:
    with pytest.raises(QrError, match="expected QR text starting 'CT1:'"):
        qr.decode_qr(text, prefix=qr.TICKET_PREFIX, cap=CAP)


def test_long_wrong_prefix_is_shown_shortened() -> None:
    with pytest.raises(QrError) as caught:
        qr.decode_qr("HC1:" + "A" * 5000, prefix=qr.TICKET_PREFIX, cap=CAP)
    assert len(caught.value.message) < 100
    assert "HC1:AAAA…" in caught.value.message


@pytest.mark.parametrize("value", [b"CT1:BB8", None, 12, ["CT1:"]])
def test_non_text_is_refused(value: object) -> None:
    with pytest.raises(QrError, match="must be text"):
        qr.decode_qr(value, prefix=qr.TICKET_PREFIX, cap=CAP)  # type: ignore[arg-type]


def test_lower_case_base45_is_refused() -> None:
    text = qr.encode_qr(qr.TICKET_PREFIX, b"a ticket, more or less")
    assert text[4:].lower() != text[4:]
    with pytest.raises(QrError, match="not a Base45 character"):
        qr.decode_qr("CT1:" + text[4:].lower(), prefix=qr.TICKET_PREFIX, cap=CAP)


def test_bad_base45_inside_qr_text() -> None:
    good = qr.encode_qr(qr.TICKET_PREFIX, b"a ticket")
    for bad in (good + "0", good[:-1] + "#", good + "GGW", "CT1:GGW" + good[4:]):
        with pytest.raises(QrError):
            qr.decode_qr(bad, prefix=qr.TICKET_PREFIX, cap=CAP)


def test_not_zlib() -> None:
    with pytest.raises(QrError, match="not zlib data"):
        qr.decode_qr(ticket_text(b"\xd2\x84 plain COSE, uncompressed"), prefix="CT1:", cap=CAP)


def test_raw_deflate_and_gzip_are_not_zlib() -> None:
    for wbits in (-15, 31):
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        packed = packer.compress(b"ticket bytes") + packer.flush()
        with pytest.raises(QrError):
            qr.decode_qr(ticket_text(packed), prefix="CT1:", cap=CAP)


def test_truncated_zlib_at_every_length() -> None:
    packed = zlib.compress(bytes(range(200)) * 2, 9)
    for size in range(len(packed)):
        with pytest.raises(QrError):
            qr.decode_qr(ticket_text(packed[:size]), prefix="CT1:", cap=CAP)


def test_truncated_zlib_says_so() -> None:
    packed = zlib.compress(bytes(range(200)) * 2, 9)
    with pytest.raises(QrError, match="truncated"):
        qr.decode_qr(ticket_text(packed[:-6]), prefix="CT1:", cap=CAP)


def test_bad_adler32_checksum() -> None:
    packed = bytearray(zlib.compress(b"ticket bytes" * 10, 9))
    packed[-1] ^= 1
    with pytest.raises(QrError, match="not zlib data"):
        qr.decode_qr(ticket_text(bytes(packed)), prefix="CT1:", cap=CAP)


@pytest.mark.parametrize("trailer", [b"\x00", b"junk", zlib.compress(b"second stream")])
def test_bytes_after_the_zlib_stream(trailer: bytes) -> None:
    text = ticket_text(zlib.compress(b"ticket bytes", 9) + trailer)
    with pytest.raises(QrError, match=f"{len(trailer)} bytes after the end of the zlib stream"):
        qr.decode_qr(text, prefix="CT1:", cap=CAP)


def test_exactly_the_cap_inflates_and_one_more_byte_does_not() -> None:
    at_cap = bytes(range(256)) * (CAP // 256)
    assert len(at_cap) == CAP
    assert qr.decode_qr(qr.encode_qr("CT1:", at_cap), prefix="CT1:", cap=CAP) == at_cap
    with pytest.raises(QrError, match=f"more than {CAP} bytes"):
        qr.decode_qr(qr.encode_qr("CT1:", at_cap + b"!"), prefix="CT1:", cap=CAP)


def test_the_ticket_cap_is_4_kib() -> None:
    assert qr.TICKET_INFLATE_CAP == 4096


def test_zlib_bomb_is_refused_quickly_without_inflating_it() -> None:
    bomb = zlib.compress(b"\0" * 10_000_000, 9)
    text = ticket_text(bomb)
    print(f"zlib bomb: {len(bomb)} bytes compressed, {len(text)} QR characters, 10 MB inflated")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(QrError, match="zlib bomb"):
            qr.decode_qr(text, prefix="CT1:", cap=CAP)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"refused in {elapsed * 1000:.1f} ms, peak Python allocation {peak} bytes")
    assert elapsed < 2.0
    assert peak < 1_000_000  # the 10 MB were never materialised


def test_bomb_at_the_receipt_cap_too() -> None:
    bomb = zlib.compress(b"\0" * 1_000_000, 9)
    with pytest.raises(QrError, match="zlib bomb"):
        qr.decode_qr(qr.RECEIPT_PREFIX + qr.b45encode(bomb), prefix="CR1:", cap=8192)


def test_qr_error_is_a_remote_error() -> None:
    with pytest.raises(RemoteError) as caught:
        qr.decode_qr("nope", prefix="CT1:", cap=CAP)
    assert caught.value.reason == "bad_qr"


# --- anything at all: bytes or QrError, never another exception ----------------------------


def _bytes_or_qr_error(text: str) -> None:
    try:
        data = qr.decode_qr(text, prefix=qr.TICKET_PREFIX, cap=CAP)
    except QrError:
        return
    assert isinstance(data, bytes)
    assert len(data) <= CAP


@given(st.text())
def test_any_text_gives_bytes_or_qr_error(text: str) -> None:
    _bytes_or_qr_error(text)
    _bytes_or_qr_error("CT1:" + text)


@given(st.text(alphabet=qr.ALPHABET, max_size=300))
def test_any_base45_text_gives_bytes_or_qr_error(text: str) -> None:
    _bytes_or_qr_error("CT1:" + text)


@given(st.binary(max_size=300))
def test_any_compressed_bytes_give_bytes_or_qr_error(data: bytes) -> None:
    # Start from a real zlib header so that inflation is reached, then anything.
    _bytes_or_qr_error(ticket_text(b"\x78\xda" + data))
    _bytes_or_qr_error(ticket_text(data))


@given(st.binary(min_size=1, max_size=400), st.data())
def test_any_damage_to_a_valid_text_gives_bytes_or_qr_error(
    payload: bytes, data: st.DataObject
) -> None:
    text = qr.encode_qr(qr.TICKET_PREFIX, payload)
    index = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    char = data.draw(st.characters())
    _bytes_or_qr_error(text[:index] + char + text[index + 1 :])
    _bytes_or_qr_error(text[:index])
