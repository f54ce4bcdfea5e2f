"""QR text for tickets (``CT1:``) and receipts (``CR1:``): prefix + Base45(zlib(bytes)).

Base45 is RFC 9285, the QR alphanumeric-mode encoding of EU digital COVID certificates, so
the text fits QR alphanumeric mode (5.5 bits a character). Decoding is strict (no lower case,
no values out of range, no length of 1 mod 3) and inflating stops at a cap (4 KiB for tickets,
WIRE.md), so a small "zlib bomb" cannot make a checkpoint phone allocate without bound.
"""

from __future__ import annotations

import zlib

from wire.errors import QrError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
TICKET_PREFIX = "CT1:"
RECEIPT_PREFIX = "CR1:"
TICKET_INFLATE_CAP = 4096
RECEIPT_INFLATE_CAP = 8192


def b45encode(data: bytes) -> str:
    chars: list[str] = []
    for index in range(0, len(data) - 1, 2):
        value = data[index] * 256 + data[index + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        chars += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        chars += (ALPHABET[c], ALPHABET[d])
    return "".join(chars)


def b45decode(text: str) -> bytes:
    try:
        values = [_VALUES[char] for char in text]
    except KeyError as exc:
        raise QrError(f"{exc.args[0]!r} is not a Base45 character") from None
    if len(values) % 3 == 1:
        raise QrError(f"Base45 text of {len(values)} characters cannot be complete")
    out = bytearray()
    for index in range(0, len(values) - 2, 3):
        c, d, e = values[index : index + 3]
        value = c + d * 45 + e * 45 * 45
        if value > 0xFFFF:
            raise QrError(f"Base45 group {text[index : index + 3]!r} is out of range")
        out += value.to_bytes(2, "big")
    if len(values) % 3 == 2:
        c, d = values[-2:]
        value = c + d * 45
        if value > 0xFF:
            raise QrError(f"Base45 group {text[-2:]!r} is out of range")
        out.append(value)
    return bytes(out)


def encode_qr(prefix: str, data: bytes) -> str:
    return prefix + b45encode(zlib.compress(data, 9))


def decode_qr(text: str, *, prefix: str, cap: int) -> bytes:
    """The bytes inside a QR text with ``prefix``; at most ``cap`` bytes once inflated."""
    if not isinstance(text, str):
        raise QrError(f"QR text must be text, not {type(text).__name__}")
    text = text.strip()
    if not text.startswith(prefix):
        shown = text[:8] + ("…" if len(text) > 8 else "")
        raise QrError(f"expected QR text starting {prefix!r}, got {shown!r}")
    compressed = b45decode(text[len(prefix) :])
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, cap + 1)
    except zlib.error as exc:
        raise QrError(f"not zlib data: {exc}") from exc
    if len(data) > cap or inflater.unconsumed_tail:
        raise QrError(f"inflates to more than {cap} bytes (a zlib bomb?)")
    if not inflater.eof:
        raise QrError("the zlib stream is truncated")
    if inflater.unused_data:
        raise QrError(f"{len(inflater.unused_data)} bytes after the end of the zlib stream")
    return data
