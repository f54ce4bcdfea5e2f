"""Plate normalisation: one spelling per vehicle, and misreads rejected with a stable reason."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wire.errors import PlateError, RemoteError
from wire.plates import (
    PLATE_REASONS,
    PROVINCES,
    is_trailer_plate,
    normalize_plate,
    plate_kind,
)

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"


def full_width(text: str) -> str:
    """ASCII in its full-width form, as Chinese input methods often type it."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def outcome(text: str) -> str | PlateError:
    try:
        return normalize_plate(text)
    except PlateError as error:
        return error


@pytest.mark.parametrize(
    ("read", "plate", "kind"),
    [
        ("陕K12345", "陕K12345", "regular"),
        ("陕K·12345", "陕K12345", "regular"),
        ("陕K-12345", "陕K12345", "regular"),
        ("陕K.12345", "陕K12345", "regular"),
        ("陕K•12345", "陕K12345", "regular"),
        ("陕K・12345", "陕K12345", "regular"),
        (" 陕 K 123 45 ", "陕K12345", "regular"),
        ("陕\u3000K\t12345\n", "陕K12345", "regular"),  # ideographic space, tab, newline
        (full_width("陕K12345"), "陕K12345", "regular"),
        (full_width("陕K-12345"), "陕K12345", "regular"),
        (full_width("陕K.12345"), "陕K12345", "regular"),
        ("陕K\uff6512345", "陕K12345", "regular"),  # half-width katakana middle dot
        ("陕k12345", "陕K12345", "regular"),
        (full_width("陕ka1234"), "陕KA1234", "regular"),
        ("晋A5B7C9", "晋A5B7C9", "regular"),
        ("陕KD1234", "陕KD1234", "regular"),  # five characters starting with D: regular
        ("陕KD12345", "陕KD12345", "new_energy"),  # small new-energy
        ("陕KF12345", "陕KF12345", "new_energy"),
        ("陕KDA1234", "陕KDA1234", "new_energy"),
        ("陕K·d12345", "陕KD12345", "new_energy"),
        ("陕K12345D", "陕K12345D", "new_energy"),  # large new-energy
        ("陕K12345F", "陕K12345F", "new_energy"),
        ("陕K1234挂", "陕K1234挂", "trailer"),
        ("陕K·1234挂", "陕K1234挂", "trailer"),
        ("蒙B AB12 挂", "蒙BAB12挂", "trailer"),
        ("琼Z99999", "琼Z99999", "regular"),
    ],
)
def test_known_good_plates(read: str, plate: str, kind: str) -> None:
    assert normalize_plate(read) == plate
    assert plate_kind(plate) == kind
    assert is_trailer_plate(plate) == (kind == "trailer")


@pytest.mark.parametrize("province", list(PROVINCES))
def test_every_province_is_accepted(province: str) -> None:
    assert normalize_plate(f"{province}A12345") == f"{province}A12345"


def test_province_list_is_the_31_of_protocols_md() -> None:
    assert len(PROVINCES) == 31
    assert len(set(PROVINCES)) == 31


@pytest.mark.parametrize(
    ("read", "reason", "named"),
    [
        ("", "empty", "empty"),
        ("   ", "empty", "empty"),
        ("·-.", "empty", "empty"),  # only separators
        ("K12345", "province", "'K'"),  # the camera dropped the province character
        ("陝K12345", "province", "'陝'"),  # traditional form of 陕
        ("台A12345", "province", "'台'"),
        ("陕K12#45", "character", "'#'"),
        ("陕K1234警", "character", "'警'"),  # police plate: not a haulage plate
        ("陕K1234学", "character", "'学'"),  # driving-school plate
        ("陕陕K12345", "character", "'陕'"),  # province read twice
        ("陕K1O345", "i_or_o", "'O'"),  # 0 misread as O
        ("陕KI2345", "i_or_o", "'I'"),  # 1 misread as I
        ("陕k1o345", "i_or_o", "'O'"),  # lower case o is still an O
        ("陕O12345", "i_or_o", "position 2"),  # Q or D misread as O in the letter slot
        ("陕812345", "authority_letter", "'8'"),  # B misread as 8
        ("陕212345", "authority_letter", "'2'"),  # Z misread as 2
        ("陕", "length", "nothing"),
        ("陕K1234", "length", "4 characters"),  # a character dropped
        ("陕K1234567", "length", "7 characters"),  # a neighbouring sticker read too
        ("陕K123456", "new_energy_format", "new-energy"),  # 6 digits: no D/F
        ("陕KD1234A", "new_energy_format", "new-energy"),
        ("陕K1234D5", "new_energy_format", "new-energy"),
        ("陕KA12345", "new_energy_format", "new-energy"),  # A is not D or F
        ("陕K12345挂", "trailer_format", "挂"),  # five characters before 挂
        ("陕K123挂", "trailer_format", "挂"),
        ("陕K挂1234", "trailer_format", "挂"),
        ("陕K1234挂挂", "trailer_format", "挂"),
        ("陕K12345D挂", "trailer_format", "挂"),
    ],
)
def test_misreads_are_rejected_with_a_reason(read: str, reason: str, named: str) -> None:
    with pytest.raises(PlateError) as caught:
        normalize_plate(read)
    error = caught.value
    assert error.reason == reason
    assert error.reason in PLATE_REASONS
    assert error.plate == read
    assert named in error.message
    assert isinstance(error, RemoteError)


def test_a_long_garbage_read_gives_a_short_message() -> None:
    with pytest.raises(PlateError) as caught:
        normalize_plate("陕K" + "9" * 10_000)
    assert caught.value.reason == "length"
    assert len(caught.value.message) < 200
    assert caught.value.plate == "陕K" + "9" * 10_000


def test_non_ascii_letters_are_not_folded_into_i() -> None:
    # str.upper() maps the dotless i to 'I'; a plate must not be built from such guesses.
    with pytest.raises(PlateError) as caught:
        normalize_plate("陕K\u0131234")
    assert caught.value.reason == "character"


def test_unicode_digits_other_than_ascii_are_rejected() -> None:
    with pytest.raises(PlateError) as caught:
        normalize_plate("陕K\u0661\u0662\u0663\u0664\u0665")  # Arabic-Indic digits
    assert caught.value.reason == "character"


@pytest.mark.parametrize("raw", ["陕K·12345", "陕k12345", "陕Ｋ１２３４５", " 陕K12345"])
def test_plate_kind_refuses_text_that_is_not_normalised(raw: str) -> None:
    with pytest.raises(PlateError) as caught:
        plate_kind(raw)
    assert caught.value.reason == "not_normalized"
    assert not is_trailer_plate(raw)


@pytest.mark.parametrize(
    ("raw", "reason"), [("陕K1O345", "i_or_o"), ("K12345", "province"), ("", "empty")]
)
def test_plate_kind_of_an_invalid_plate_says_why(raw: str, reason: str) -> None:
    with pytest.raises(PlateError) as caught:
        plate_kind(raw)
    assert caught.value.reason == reason


def test_is_trailer_plate_is_false_for_tractors_and_garbage() -> None:
    assert is_trailer_plate("陕K1234挂")
    assert not is_trailer_plate("陕K12345")
    assert not is_trailer_plate("陕KD12345")
    assert not is_trailer_plate("陕K12345挂")
    assert not is_trailer_plate("")


# --- properties -----------------------------------------------------------------------------

provinces = st.sampled_from(PROVINCES)
letters = st.sampled_from(LETTERS)
alnums = st.sampled_from(LETTERS + DIGITS)
digits = st.sampled_from(DIGITS)
d_or_f = st.sampled_from("DF")


def _join(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


regular_plates = _join(provinces, letters, *[alnums] * 5)
small_new_energy_plates = _join(provinces, letters, d_or_f, alnums, *[digits] * 4)
large_new_energy_plates = _join(provinces, letters, *[digits] * 5, d_or_f)
trailer_plates = _join(provinces, letters, *[alnums] * 4, st.just("挂"))
valid_plates = st.one_of(
    regular_plates, small_new_energy_plates, large_new_energy_plates, trailer_plates
)

SEPARATORS = [" ", "\u3000", "\t", "·", "•", "・", "-", ".", "\uff0d", "\uff0e", "\uff65"]


@st.composite
def disguised(draw: st.DrawFn, plate: str) -> str:
    """The same plate as a camera or a person might write it: case, width and separators."""
    out = []
    for char in plate:
        written = char
        if char.isascii():
            if char.isalpha() and draw(st.booleans()):
                written = written.lower()
            if draw(st.booleans()):
                written = full_width(written)
        out.append(written)
        out.append("".join(draw(st.lists(st.sampled_from(SEPARATORS), max_size=2))))
    return "".join(out)


@given(st.data(), valid_plates)
def test_any_spelling_of_a_valid_plate_normalises_to_it(data: st.DataObject, plate: str) -> None:
    read = data.draw(disguised(plate))
    assert normalize_plate(read) == plate
    assert normalize_plate(plate) == plate


@given(regular_plates)
def test_generated_regular_plates_are_regular(plate: str) -> None:
    assert plate_kind(plate) == "regular"


@given(st.one_of(small_new_energy_plates, large_new_energy_plates))
def test_generated_new_energy_plates_are_new_energy(plate: str) -> None:
    assert plate_kind(plate) == "new_energy"


@given(trailer_plates)
def test_generated_trailer_plates_are_trailers(plate: str) -> None:
    assert plate_kind(plate) == "trailer"
    assert is_trailer_plate(plate)


@given(valid_plates, st.data())
def test_an_i_or_o_anywhere_after_the_province_is_rejected(plate: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=1, max_value=len(plate) - 1))
    letter = data.draw(st.sampled_from("IOio"))
    misread = plate[:position] + letter + plate[position + 1 :]
    with pytest.raises(PlateError) as caught:
        normalize_plate(misread)
    assert caught.value.reason == "i_or_o"
    assert f"position {position + 1}" in caught.value.message


@given(st.text())
@example("陕K·12345")
@example(full_width("陕K12345"))
@example("\u2168")  # ROMAN NUMERAL NINE: NFKC gives 'IX'
@example("陕K\u01312345")  # dotless i
def test_any_text_gives_a_plate_or_a_plate_error(text: str) -> None:
    result = outcome(text)
    if isinstance(result, PlateError):
        assert result.reason in PLATE_REASONS
        assert result.reason != "not_normalized"
        assert result.plate == text
        assert result.message
    else:
        assert normalize_plate(result) == result  # idempotent
        assert plate_kind(result) in ("regular", "new_energy", "trailer")


@given(st.text(alphabet=PROVINCES + LETTERS + DIGITS + "IOio挂·- ", max_size=12))
def test_plate_like_text_gives_a_plate_or_a_plate_error(text: str) -> None:
    # Plain st.text() rarely reaches the later checks; this alphabet does.
    result = outcome(text)
    if isinstance(result, PlateError):
        assert result.reason in PLATE_REASONS
        with pytest.raises(PlateError) as again:
            plate_kind(text)
        assert again.value.reason == result.reason
    else:
        assert normalize_plate(result) == result
        assert plate_kind(result) in ("regular", "new_energy", "trailer")
        assert is_trailer_plate(result) == (plate_kind(result) == "trailer")
