"""Errors raised by ``wire``.

Every error carries a ``reason``: a short stable code that central stores as the quarantine
reason (WIRE.md "Quarantine") and that a CLI prints. Peer-caused errors (bytes from someone
else that do not verify) are separate from misuse by the caller, as in h11::

    WireError                     base of everything raised here
    ├── RemoteError               the bytes or text came from a peer and are wrong
    │   ├── UndecodableError      not well-formed CBOR, or not the expected structure
    │   ├── NonCanonicalError     well-formed, but not deterministic CBOR (RFC 8949 §4.2.1)
    │   ├── HeaderError           COSE headers other than exactly {1: alg, 4: kid} / {}
    │   ├── SchemaError           a payload field is missing, unknown or wrongly typed
    │   ├── UnknownKeyError       the kid names no key in the key set
    │   │   └── UnknownCentralKeyError  … and it is a central kid: the key set is not current
    │   ├── SignatureError        the signature does not verify under the kid's key
    │   ├── TopicError            a topic outside the coalgate layout
    │   ├── PlateError            a plate string that is not a valid Chinese plate
    │   ├── QrError               QR text with a wrong prefix, bad Base45 or zlib, or too big
    │   ├── IssuerError           a central object not signed by central, or by another issuer
    │   ├── ExpiredError          past a validity limit at the time the caller passed
    │   ├── StaleError            a bundle whose version is not above the one already held
    │   └── ReceiptError          a receipt whose parts verify but do not agree
    └── LocalError                the caller misused the API
        ├── EncodeError           a value that deterministic CBOR here cannot carry
        └── KeyFileError          a key file that cannot be written or read
"""

from __future__ import annotations


class WireError(Exception):
    """Base of every error raised by ``wire``."""

    reason = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RemoteError(WireError):
    """Bytes or text from a peer that are not what the contract allows."""


class UndecodableError(RemoteError):
    """Not well-formed CBOR, trailing bytes, or not the structure the contract requires."""

    reason = "undecodable"


class NonCanonicalError(RemoteError):
    """Well-formed CBOR that is not in deterministic encoding (or has duplicate map keys)."""

    reason = "non_canonical"


class HeaderError(RemoteError):
    """COSE headers other than the ones WIRE.md allows."""

    reason = "bad_header"


class SchemaError(RemoteError):
    """A payload field is missing, has the wrong type or an impossible value."""

    reason = "schema"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownKeyError(RemoteError):
    """The message's kid names no key in the key set the caller passed."""

    reason = "unknown_device"

    def __init__(self, message: str, *, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


class UnknownCentralKeyError(UnknownKeyError):
    """A central kid the verifier's key set does not hold (fetch central's key set again)."""

    reason = "unknown_central_key"


class SignatureError(RemoteError):
    """The signature does not verify under the key the kid names."""

    reason = "bad_signature"

    def __init__(self, message: str, *, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


class TopicError(RemoteError):
    """A topic that is not part of the coalgate topic layout."""

    reason = "topic_mismatch"

    def __init__(self, message: str, *, topic: str) -> None:
        super().__init__(message)
        self.topic = topic


class PlateError(RemoteError):
    """A plate string that is not a valid Chinese plate; ``reason`` says why."""

    def __init__(self, message: str, *, plate: str, reason: str) -> None:
        super().__init__(message)
        self.plate = plate
        self.reason = reason


class QrError(RemoteError):
    """QR text that is not prefix + Base45(zlib(…)) within the inflate cap."""

    reason = "bad_qr"


class IssuerError(RemoteError):
    """An object that must come from central was signed by another key or names another issuer."""

    reason = "wrong_issuer"


class ExpiredError(RemoteError):
    """Outside its validity at the time the caller passed (``now`` is always an argument)."""

    reason = "expired"

    def __init__(self, message: str, *, limit: int, now: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.now = now


class StaleError(RemoteError):
    """A site bundle whose version is not greater than the one already held (a replay)."""

    reason = "stale"

    def __init__(self, message: str, *, version: int, held: int) -> None:
        super().__init__(message)
        self.version = version
        self.held = held


class ReceiptError(RemoteError):
    """A receipt whose parts each verify but fail one of WIRE.md's cross-checks."""

    reason = "receipt_mismatch"

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class LocalError(WireError):
    """The caller asked for something the contract cannot express."""


class EncodeError(LocalError):
    """A value that deterministic CBOR here cannot carry (floats, huge ints, other types)."""

    reason = "encode"


class KeyFileError(LocalError):
    """A key file that exists already, cannot be written, or does not hold a usable key."""

    reason = "key_file"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
