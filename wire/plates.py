"""Chinese licence plates as WIRE.md "Plates" and PROTOCOLS.md §5 define them.

A plate is compared byte for byte between a ticket (typed at central) and a camera read (at the
gate), so both sides must reduce their text to one spelling first. Normalisation only removes
differences that cannot change which vehicle is meant: width (NFKC), letter case, spaces and
separators. It never repairs a read: a camera that confuses 0/D/Q or 1/I produces a plate that
is rejected with a stable ``reason`` code, so a person looks at the truck instead of the code
guessing which vehicle it was.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final, Literal

from wire.errors import PlateError, SchemaError

PlateKind = Literal["regular", "new_energy", "trailer"]

#: The 31 provincial-level characters that may start a plate (PROTOCOLS.md §5).
PROVINCES: Final = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
#: The suffix that marks a semi-trailer plate.
TRAILER_MARK: Final = "挂"

#: Every ``reason`` a :class:`PlateError` from this module can carry.
PLATE_REASONS: Final = frozenset(
    {
        "empty",
        "province",
        "character",
        "i_or_o",
        "authority_letter",
        "length",
        "new_energy_format",
        "trailer_format",
        "not_normalized",
    }
)

# Separators cameras and people put between the authority letter and the serial, written as
# escapes because several look like '-' or '.'. NFKC has already folded their full-width and
# half-width forms (U+FF0D, U+FF0E, U+FF65) into these. Whitespace of any kind goes separately.
_SEPARATORS = (
    "\u00b7"  # MIDDLE DOT, the usual '陕K·12345'
    "\u2022"  # BULLET
    "\u30fb"  # KATAKANA MIDDLE DOT
    "\u2027"  # HYPHENATION POINT
    "\u2219"  # BULLET OPERATOR
    "\u22c5"  # DOT OPERATOR
    "-."
    "\u2010\u2011\u2012\u2013\u2014\u2212"  # hyphens, dashes and the minus sign
)
# Upper-case ASCII only: str.upper() would also turn a dotless i into 'I' and 'ß' into 'SS'.
_CLEAN = str.maketrans(string.ascii_lowercase, string.ascii_uppercase, _SEPARATORS)
_BODY_CHARS = frozenset(string.ascii_uppercase + string.digits + TRAILER_MARK)

_LETTER = "A-HJ-NP-Z"  # A to Z without I and O
_ALNUM = "A-HJ-NP-Z0-9"
_REGULAR = re.compile(f"[{PROVINCES}][{_LETTER}][{_ALNUM}]{{5}}")
# GA 36-2018: small new-energy D/F + letter or digit + 4 digits; large new-energy 5 digits + D/F.
_NEW_ENERGY = re.compile(f"[{PROVINCES}][{_LETTER}](?:[DF][{_ALNUM}][0-9]{{4}}|[0-9]{{5}}[DF])")
_TRAILER = re.compile(f"[{PROVINCES}][{_LETTER}][{_ALNUM}]{{4}}{TRAILER_MARK}")

_SHOW_MAX = 24


def normalize_plate(text: str) -> str:
    """Return the one spelling of the plate ``text`` names, or raise ``PlateError``.

    Checks run in reading order and the first failure is reported, so one misread gives one
    stable reason (``PLATE_REASONS``) that an operator screen and the alarm log can show.
    """
    plate = "".join(unicodedata.normalize("NFKC", text).translate(_CLEAN).split())
    if not plate:
        raise _error(text, "empty", "plate read is empty (nothing but spaces or separators)")
    shown = _show(plate)
    province, rest = plate[0], plate[1:]
    if province not in PROVINCES:
        raise _error(
            text,
            "province",
            f"plate {shown} does not start with a province character: "
            f"{province!r} is not one of {PROVINCES}",
        )
    bad = next((char for char in rest if char not in _BODY_CHARS), None)
    if bad is not None:
        raise _error(
            text,
            "character",
            f"plate {shown} contains {bad!r}; after the province only letters, digits "
            f"and a final {TRAILER_MARK} are allowed",
        )
    for position, char in enumerate(plate):
        if char in "IO":
            raise _error(
                text,
                "i_or_o",
                f"plate {shown} has {char!r} at position {position + 1}; I and O are never "
                "used in plates, so the read is rejected rather than guessed as 1 or 0",
            )
    if not rest:
        raise _error(text, "length", f"plate {shown} has nothing after the province")
    if rest[0] not in string.ascii_uppercase:
        raise _error(
            text,
            "authority_letter",
            f"plate {shown} has {rest[0]!r} after the province where the issuing "
            "authority's letter (A-Z) belongs",
        )
    body = rest[1:]
    if TRAILER_MARK in body:
        if _TRAILER.fullmatch(plate) is None:
            raise _error(
                text,
                "trailer_format",
                f"plate {shown} is not a semi-trailer plate: province, letter, "
                f"4 letters or digits, then {TRAILER_MARK}",
            )
        return plate
    if len(body) not in (5, 6):
        raise _error(
            text,
            "length",
            f"plate {shown} has {len(body)} characters after the authority letter; "
            "regular plates have 5, new-energy plates 6",
        )
    if len(body) == 6 and _NEW_ENERGY.fullmatch(plate) is None:
        raise _error(
            text,
            "new_energy_format",
            f"plate {shown} has 6 characters after the authority letter but is not a "
            "new-energy plate (D or F, a letter or digit, 4 digits; or 5 digits, then D or F)",
        )
    return plate


def plate_kind(plate: str) -> PlateKind:
    """Classify a plate that ``normalize_plate`` returned.

    Raw text is refused (``not_normalized``) rather than normalised here, so that a caller who
    forgot to normalise finds out at once instead of comparing two spellings later.
    """
    if _REGULAR.fullmatch(plate):
        return "regular"
    if _NEW_ENERGY.fullmatch(plate):
        return "new_energy"
    if _TRAILER.fullmatch(plate):
        return "trailer"
    normalize_plate(plate)  # an invalid plate: raise with the reason that says why
    raise PlateError(
        f"plate {_show(plate)} is not normalised; pass it through normalize_plate first",
        plate=plate,
        reason="not_normalized",
    )


def is_trailer_plate(plate: str) -> bool:
    """True for a normalised semi-trailer plate: informational only, never a ticket's plate."""
    return _TRAILER.fullmatch(plate) is not None


def check_vehicle_plate(value: str, *, field: str, trailer: bool = False) -> str:
    """A plate field of a signed object: already normalised, and the kind the field names
    (a tractor/truck plate, or with ``trailer`` a semi-trailer plate); else ``SchemaError``."""
    try:
        normal = normalize_plate(value)
    except PlateError as exc:
        raise SchemaError(f"{field}: {exc.message} ({exc.reason})", field=field) from None
    if normal != value:
        raise SchemaError(
            f"{field} {_show(value)} is not a normalised plate (that is {normal!r})", field=field
        )
    if is_trailer_plate(value) != trailer:
        wanted = "a semi-trailer plate" if trailer else "a tractor or truck plate, not a trailer's"
        raise SchemaError(f"{field} {_show(value)} must be {wanted}", field=field)
    return value


def _show(plate: str) -> str:
    # A garbage read can be long; one terminal line is enough to recognise it.
    if len(plate) > _SHOW_MAX:
        return repr(plate[:_SHOW_MAX] + "…")
    return repr(plate)


def _error(text: str, reason: str, message: str) -> PlateError:
    return PlateError(message, plate=text, reason=reason)
