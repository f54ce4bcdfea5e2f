"""COSE_Sign1 exactly as WIRE.md "COSE rules" has it, for records and central's objects.

Signing goes through cwt's COSE layer so the bytes are any COSE implementation's bytes;
verification checks the RFC 9052 Sig_structure with ``cryptography`` directly. On top of the
library we enforce what libraries do not: the tagged form ``0xd2``, a protected header of exactly
``{1: alg, 4: kid}`` with alg EdDSA (-8) or Ed25519 (-19) — checked by us, since some libraries
verify whatever alg the header names —, an empty unprotected header, and deterministic CBOR for
the whole message, the header and the payload, so that no relay can re-encode a message into
different bytes that still verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cwt import COSE

from wire import cbor
from wire.errors import (
    HeaderError,
    NonCanonicalError,
    SchemaError,
    SignatureError,
    UndecodableError,
)
from wire.ids import ID_PATTERN
from wire.keys import ALG_ED25519, ALG_EDDSA, KeySet, SigningKey

COSE_SIGN1_TAG = 18
_ALGS = (ALG_EDDSA, ALG_ED25519)
_SIGNATURE_SIZE = 64

# One context for the process: cwt's COSE objects hold only these options, no per-call state.
_COSE = COSE.new()


def _bstr_head(size: int) -> bytes:
    if size < 24:
        return bytes((0x40 | size,))
    if size < 256:
        return bytes((0x58, size))
    if size < 2**16:
        return b"\x59" + size.to_bytes(2, "big")
    if size < 2**32:
        return b"\x5a" + size.to_bytes(4, "big")
    return b"\x5b" + size.to_bytes(8, "big")


def sign1(payload: Any, key: SigningKey) -> bytes:
    """Sign ``payload`` (a map, encoded deterministically) as a tagged COSE_Sign1 by ``key``."""
    encoded = cbor.dumps(payload)
    message = _COSE.encode_and_sign(
        encoded, key.cose, protected={1: ALG_EDDSA, 4: key.kid.encode()}, unprotected={}
    )
    return bytes(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sign1:
    """A structurally valid COSE_Sign1 whose signature has not been checked yet."""

    raw: bytes
    kid: str
    alg: int
    protected: bytes
    payload_bytes: bytes
    payload: Any
    signature: bytes

    def payload_map(self, *, what: str) -> dict[Any, Any]:
        """The payload, which every object of the contract has as a map. Called after the
        signature check, so that ``schema`` is only ever said of authentic bytes."""
        if not isinstance(self.payload, dict):
            raise SchemaError(
                f"{what}: the payload must be a map, not {type(self.payload).__name__}"
            )
        return self.payload


def _read_bstr(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """A byte string with a shortest-form head at ``pos``, or None if it is anything else."""
    if pos >= len(data):
        return None
    head = data[pos]
    if 0x40 <= head <= 0x57:
        size, start = head - 0x40, pos + 1
    elif 0x58 <= head <= 0x5B:
        width = 1 << (head - 0x58)
        start = pos + 1 + width
        if start > len(data):
            return None
        size = int.from_bytes(data[pos + 1 : start], "big")
        if size < (24 if width == 1 else 1 << (4 * width)):  # not the shortest head for size
            return None
    else:
        return None
    end = start + size
    return (data[start:end], end) if end <= len(data) else None


def _split_envelope(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Protected header, payload and signature of a COSE_Sign1 written exactly as we write it
    (tag d2, array of four, shortest heads, empty unprotected map), else None. The fast path of
    every verification; anything else goes through :func:`_split_any` for a precise error."""
    if data[:2] != b"\xd2\x84":
        return None
    protected = _read_bstr(data, 2)
    if protected is None or protected[1] >= len(data) or data[protected[1]] != 0xA0:
        return None
    payload = _read_bstr(data, protected[1] + 1)
    if payload is None:
        return None
    signature = _read_bstr(data, payload[1])
    if signature is None or signature[1] != len(data):
        return None
    return protected[0], payload[0], signature[0]


def _split_any(data: bytes, *, what: str) -> tuple[bytes, bytes, bytes]:
    """Decode any CBOR and say exactly why it is not a COSE_Sign1 as the contract writes it."""
    value = cbor.loads(data)
    if not isinstance(value, cbor2.CBORTag) or value.tag != COSE_SIGN1_TAG:
        raise UndecodableError(f"{what}: not a tagged COSE_Sign1 (tag 18)")
    parts = value.value
    if not isinstance(parts, list) or len(parts) != 4:
        raise UndecodableError(f"{what}: a COSE_Sign1 is an array of four items")
    protected, unprotected, payload_bytes, signature = parts
    if not isinstance(protected, bytes) or not isinstance(payload_bytes, bytes):
        raise UndecodableError(f"{what}: protected header and payload must be byte strings")
    if not isinstance(signature, bytes):
        raise UndecodableError(f"{what}: the signature must be a byte string")
    if unprotected != {}:
        raise HeaderError(f"{what}: the unprotected header must be an empty map")
    # Well-formed, the right shape, yet not the bytes _split_envelope accepts: a re-encoding.
    raise NonCanonicalError(f"{what}: the COSE envelope is not deterministic CBOR")


def parse_sign1(data: bytes, *, what: str = "message") -> Sign1:
    """Check everything about a COSE_Sign1 that needs no key; raise a typed error otherwise."""
    if not isinstance(data, bytes):
        raise UndecodableError(f"{what}: expected bytes, got {type(data).__name__}")
    parts = _split_envelope(data)
    protected, payload_bytes, signature = (
        parts if parts is not None else _split_any(data, what=what)
    )
    kid, alg = _parse_protected(protected, what=what)
    payload = cbor.loads_item(payload_bytes)
    cbor.check_canonical(payload_bytes, payload, what=f"{what} payload")
    return Sign1(
        raw=data,
        kid=kid,
        alg=alg,
        protected=protected,
        payload_bytes=payload_bytes,
        payload=payload,
        signature=signature,
    )


def _parse_protected(protected: bytes, *, what: str) -> tuple[str, int]:
    # Fast path for the exact header signers write: a2 01 27 04 <short bstr kid>.
    if (
        5 < len(protected) < 5 + 24
        and protected[:4] == b"\xa2\x01\x27\x04"
        and protected[4] == 0x40 | (len(protected) - 5)
    ):
        try:
            kid = protected[5:].decode()
        except UnicodeDecodeError:
            pass
        else:
            if ID_PATTERN.fullmatch(kid) is not None:
                return kid, ALG_EDDSA
    header = cbor.loads(protected)
    if not isinstance(header, dict):
        raise HeaderError(f"{what}: the protected header must be a map")
    cbor.check_canonical(protected, header, what=f"{what} protected header")
    if set(header) != {1, 4}:
        raise HeaderError(f"{what}: the protected header must hold exactly alg (1) and kid (4)")
    alg, kid_bytes = header[1], header[4]
    if type(alg) is not int or alg not in _ALGS:
        raise HeaderError(f"{what}: alg {alg!r} is not allowed (EdDSA -8 or Ed25519 -19 only)")
    if not isinstance(kid_bytes, bytes):
        raise HeaderError(f"{what}: kid must be a byte string")
    try:
        kid = kid_bytes.decode()
    except UnicodeDecodeError as exc:
        raise HeaderError(f"{what}: kid is not UTF-8") from exc
    if ID_PATTERN.fullmatch(kid) is None:
        raise HeaderError(f"{what}: kid {kid!r} is not a valid id")
    return kid, alg


def to_be_signed(message: Sign1) -> bytes:
    """The Sig_structure of RFC 9052 §4.4 for a COSE_Sign1 with no external AAD.

    ``["Signature1", protected, h'', payload]`` written out directly: it is fixed bytes around
    two byte strings, and building it here spares a second parse of the message on the hot
    path of ingest. Tests check it against cwt and pycose verification.
    """
    return b"".join(
        (
            b"\x84\x6aSignature1",
            _bstr_head(len(message.protected)),
            message.protected,
            b"\x40",
            _bstr_head(len(message.payload_bytes)),
            message.payload_bytes,
        )
    )


def check_signature(message: Sign1, keys: KeySet, *, what: str = "message") -> None:
    """Verify ``message``'s signature under the key its kid names in ``keys``."""
    key = keys.require(message.kid)
    if len(message.signature) != _SIGNATURE_SIZE:
        raise SignatureError(
            f"{what}: an Ed25519 signature is 64 bytes, not {len(message.signature)}",
            kid=message.kid,
        )
    try:
        key.key.verify(message.signature, to_be_signed(message))
    except InvalidSignature as exc:
        raise SignatureError(
            f"{what}: the signature does not verify under the key of {message.kid!r}",
            kid=message.kid,
        ) from exc


def verify_sign1(data: bytes, keys: KeySet, *, what: str = "message") -> Sign1:
    """Parse and verify a COSE_Sign1 in one step."""
    message = parse_sign1(data, what=what)
    check_signature(message, keys, what=what)
    return message
