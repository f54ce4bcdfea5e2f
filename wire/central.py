"""What every central-signed object shares: central's kid, signing, and verification.

Central signs with its own Ed25519 key, kid ``central-<yyyymmdd>`` (WIRE.md). A verifier of a
ticket, certificate, ack, bundle or tree head refuses any other kid before it looks at the
signature, so a device key — even one in the same key set — can never stand in for central.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from wire import cose
from wire.errors import IssuerError, UnknownCentralKeyError
from wire.keys import KeySet, SigningKey

CENTRAL_KID = re.compile(r"central-[0-9]{8}")


def central_kid(day: dt.date) -> str:
    """The kid of a central key made on ``day``."""
    return f"central-{day:%Y%m%d}"


def is_central_kid(kid: str) -> bool:
    return CENTRAL_KID.fullmatch(kid) is not None


def sign_central(payload: dict[Any, Any], key: SigningKey) -> bytes:
    if not is_central_kid(key.kid):
        raise ValueError(f"central objects are signed with a central key, not {key.kid!r}")
    return cose.sign1(payload, key)


def verify_central(data: bytes, keys: KeySet, *, what: str) -> cose.Sign1:
    """Parse ``data`` as a COSE_Sign1 by a central key in ``keys`` and check its signature."""
    message = cose.parse_sign1(data, what=what)
    if not is_central_kid(message.kid):
        raise IssuerError(f"{what}: signed by {message.kid!r}, which is not a central key")
    if message.kid not in keys:
        raise UnknownCentralKeyError(
            f"{what}: central key {message.kid!r} is not in the key set given", kid=message.kid
        )
    cose.check_signature(message, keys, what=what)
    return message
