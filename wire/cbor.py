"""Deterministic CBOR as WIRE.md requires it (RFC 8949 §4.2.1), on top of cbor2.

cbor2's own ``canonical=True`` sorts map keys length-first (RFC 7049), which differs from the
bytewise order of RFC 8949 for mixed integer keys, and cbor2 silently keeps the last of
duplicate keys. So this module sorts keys itself and checks received bytes by decoding,
re-encoding and comparing; :func:`describe_non_canonical` walks the raw bytes to say *what*
is wrong when they differ.

Values allowed in coalgate payloads: ``None``, ``bool``, ``int`` (64-bit range), ``str``,
``bytes``, lists and maps whose keys are ``int``, ``str`` or ``bytes``. Floats are not part of
the contract (weights are integer kilograms); tags only appear as COSE's outer tag 18.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import cbor2

from wire.errors import EncodeError, NonCanonicalError, UndecodableError

_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1

KeyOrder = tuple[int, int, bytes]

# What cbor2 returns for a lone break (0xff) and for "undefined" (0xf7): not values here.
_BREAK = cbor2.break_marker  # type: ignore[attr-defined]
_UNDEFINED = cbor2.undefined


def key_order(key: object) -> KeyOrder:
    """Sort key equal to comparing the keys' deterministic encodings bytewise.

    Text and byte strings order by (major type, length, content) and integers by major type
    then magnitude, which is exactly what the encoded bytes compare as.
    """
    if type(key) is str:
        raw = key.encode()
        return (3, len(raw), raw)
    if type(key) is int:
        if key >= 0:
            return (0, key, b"")
        return (1, -1 - key, b"")
    if type(key) is bytes:
        return (2, len(key), key)
    raise EncodeError(f"map keys must be integers, text or byte strings, not {type(key).__name__}")


def _prepare(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        items = sorted(((key_order(k), k, _prepare(v)) for k, v in value.items()))
        return {k: v for _, k, v in items}
    if kind is list or kind is tuple:
        return [_prepare(v) for v in value]
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise EncodeError(f"integer {value} is outside the 64-bit range CBOR encodes plainly")
        return value
    if value is None or kind in (bool, str, bytes):
        return value
    raise EncodeError(f"{kind.__name__} values are not part of the wire contract")


def dumps(value: Any) -> bytes:
    """Encode ``value`` in deterministic CBOR (bytewise-sorted keys, shortest forms)."""
    return bytes(cbor2.dumps(_prepare(value)))


def loads_item(data: bytes) -> Any:
    """Decode CBOR that :func:`check_canonical` will compare with ``data`` next.

    Trailing bytes need no separate check here: the re-encoding cannot reproduce them.
    """
    try:
        value = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises many types on hostile input
        raise UndecodableError(f"not well-formed CBOR: {exc}") from exc
    if value is _BREAK or value is _UNDEFINED:
        raise UndecodableError("a lone break or undefined is not a CBOR value here")
    return value


def loads(data: bytes) -> Any:
    """Decode one complete CBOR item; anything malformed or trailing is ``UndecodableError``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise UndecodableError(f"expected bytes, got {type(data).__name__}")
    buffer = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(buffer).decode()
    except Exception as exc:  # cbor2 raises many types on hostile input
        raise UndecodableError(f"not well-formed CBOR: {exc}") from exc
    if buffer.tell() != len(data):
        raise UndecodableError(f"{len(data) - buffer.tell()} bytes after the end of the CBOR item")
    if value is _BREAK or value is _UNDEFINED:
        raise UndecodableError("a lone break or undefined is not a CBOR value here")
    return value


_SCALARS = frozenset({str, int, bytes, bool, type(None)})


def _keys_sorted(keys: list[Any]) -> bool:
    """Whether map keys are strictly increasing in bytewise order of their encodings."""
    try:
        ascii_text = "".join(keys).isascii()  # TypeError unless every key is text
    except TypeError:
        ascii_text = False
    if ascii_text:
        # For ASCII text the encoding orders by length, then by character: two C-level sorts.
        return sorted(sorted(keys), key=len) == keys
    try:
        orders = [key_order(k) for k in keys]
    except EncodeError:
        return False
    return all(a < b for a, b in itertools.pairwise(orders))


def _is_plain(value: Any) -> bool:
    """True when every map is sorted bytewise, has allowed keys, and nothing is a float/tag."""
    kind = type(value)
    if kind is dict:
        if not _keys_sorted(list(value)):
            return False
        items: Any = value.values()
    elif kind is list:
        items = value
    else:
        return kind in _SCALARS and (kind is not int or _INT_MIN <= value <= _INT_MAX)
    for item in items:
        item_kind = type(item)
        if item_kind is dict or item_kind is list:
            if not _is_plain(item):
                return False
        elif item_kind not in _SCALARS:
            return False
        elif item_kind is int and not _INT_MIN <= item <= _INT_MAX:
            return False  # a bignum (tag 2/3) that cbor2 decoded to a plain int
    return True


def check_canonical(data: bytes, value: Any, *, what: str) -> None:
    """Raise ``NonCanonicalError`` unless ``data`` is the deterministic encoding of ``value``.

    ``value`` must be what :func:`loads` returned for ``data``. cbor2 keeps map order and
    writes shortest forms, so a plain re-encode reproduces the bytes exactly when they were
    deterministic, given sorted keys and no floats, which :func:`_is_plain` checks.
    """
    try:
        same = _is_plain(value) and cbor2.dumps(value) == data
    except Exception:  # noqa: BLE001 - re-encoding a hostile value: any failure means "not ours"
        same = False
    if not same:
        raise NonCanonicalError(f"{what}: {describe_non_canonical(data)}")


def describe_non_canonical(data: bytes) -> str:
    """Name the first rule of deterministic CBOR that ``data`` breaks (diagnostics only)."""
    try:
        _Walker(data).item()
    except _NotDeterministicError as finding:
        return str(finding)
    except IndexError:
        return "truncated CBOR"
    return "re-encoding gives different bytes"


class _NotDeterministicError(Exception):
    pass


class _Walker:
    """Just enough of a CBOR reader to point at the first non-deterministic construct."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _head(self) -> tuple[int, int, bool]:
        start = self.pos
        initial = self.data[self.pos]
        self.pos += 1
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info, False
        if info == 31:
            if major in (2, 3, 4, 5):
                raise _NotDeterministicError(f"indefinite-length item at byte {start}")
            if major == 7:
                raise _NotDeterministicError(f"unexpected break at byte {start}")
            raise _NotDeterministicError(f"reserved initial byte 0x{initial:02x} at byte {start}")
        if info > 27:
            raise _NotDeterministicError(f"reserved initial byte 0x{initial:02x} at byte {start}")
        size = 1 << (info - 24)
        argument = int.from_bytes(self.data[self.pos : self.pos + size], "big")
        if self.pos + size > len(self.data):
            raise IndexError(start)
        self.pos += size
        if major == 7:
            if info in (25, 26, 27):
                raise _NotDeterministicError(f"floating-point value at byte {start}")
            return major, argument, False
        shortest = (
            24 if argument < 256 else 25 if argument < 2**16 else 26 if argument < 2**32 else 27
        )
        if argument < 24 or info != shortest:
            raise _NotDeterministicError(
                f"integer or length not in its shortest form at byte {start}"
            )
        return major, argument, False

    def item(self) -> None:
        start = self.pos
        major, argument, _ = self._head()
        if major in (2, 3):
            if self.pos + argument > len(self.data):
                raise IndexError(start)
            self.pos += argument
        elif major == 4:
            for _ in range(argument):
                self.item()
        elif major == 5:
            seen: list[bytes] = []
            for _ in range(argument):
                key_start = self.pos
                self.item()
                key = self.data[key_start : self.pos]
                if key in seen:
                    raise _NotDeterministicError(f"duplicate map key at byte {key_start}")
                if seen and key < seen[-1]:
                    raise _NotDeterministicError(
                        f"map keys not in bytewise order at byte {key_start}"
                    )
                seen.append(key)
                self.item()
        elif major == 6:
            self.item()
            raise _NotDeterministicError(f"tag {argument} at byte {start} where no tag is allowed")
