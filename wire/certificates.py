"""Device certificates: a central-signed CWT binding a device key to its device and site.

Claims (WIRE.md): ``iss`` (1) central's name, ``sub`` (2) device id, ``iat`` (6), ``exp`` (4),
``cnf`` (8) ``{1: COSE_Key}`` holding the device's public key (RFC 8747), and the private claim
-65600 = site id. A receipt carries one so a checkpoint can trust the weighing record's key
with nothing but central's key set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wire import central
from wire.errors import ExpiredError, SchemaError
from wire.fields import Fields
from wire.ids import check_device_id, check_id
from wire.keys import KeySet, PublicKey, SigningKey
from wire.keysets import cose_key, read_cose_key

ISS, SUB, EXP, IAT, CNF = 1, 2, 4, 6, 8
SITE = -65600
COSE_KEY = 1
TWO_YEARS_S = 2 * 365 * 24 * 3600
_NAMES = {ISS: "iss", SUB: "sub", EXP: "exp", IAT: "iat", CNF: "cnf", SITE: "site"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    raw: bytes
    kid: str
    iss: str
    device: str
    site: str
    iat: int
    exp: int
    key: PublicKey

    def check_valid_at(self, *, now_s: int) -> None:
        """Raise ``ExpiredError`` unless ``iat <= now_s < exp``."""
        if not self.iat <= now_s < self.exp:
            raise ExpiredError(
                f"certificate of {self.device!r} is valid {self.iat}..{self.exp}, not at {now_s}",
                limit=self.exp if now_s >= self.exp else self.iat,
                now=now_s,
            )


def issue_certificate(
    key: SigningKey,
    *,
    iss: str,
    device_key: PublicKey,
    site: str,
    iat: int,
    exp: int | None = None,
) -> Certificate:
    """Certify ``device_key`` (kid = device id) at ``site``; valid two years by default."""
    claims = {
        ISS: iss,
        SUB: device_key.kid,
        IAT: iat,
        EXP: exp if exp is not None else iat + TWO_YEARS_S,
        CNF: {COSE_KEY: cose_key(device_key)},
        SITE: site,
    }
    _read(claims, raw=b"", kid=key.kid)
    raw = central.sign_central(claims, key)
    return _read(claims, raw=raw, kid=key.kid)


def _read(claims: Mapping[Any, Any], *, raw: bytes, kid: str) -> Certificate:
    unknown = set(claims) - set(_NAMES)
    if unknown:
        raise SchemaError(f"certificate has unknown claims {sorted(unknown, key=repr)}")
    named = {_NAMES[k]: v for k, v in claims.items() if isinstance(k, int)}
    fields = Fields(named, where="certificate")
    device = check_device_id(fields.text("sub", max_len=63), field="certificate.sub")
    cnf = fields.map("cnf")
    if set(cnf) != {COSE_KEY}:
        raise fields.fail("cnf", "must hold exactly a COSE_Key under 1 (RFC 8747)")
    public = read_cose_key(cnf[COSE_KEY], where="certificate.cnf")
    if public.kid != device:
        raise fields.fail("cnf", f"key id {public.kid!r} is not the subject {device!r}")
    iat, exp = fields.uint("iat"), fields.uint("exp")
    if exp <= iat:
        raise fields.fail("exp", "must be after iat")
    return Certificate(
        raw=raw,
        kid=kid,
        iss=fields.text("iss", max_len=63),
        device=device,
        site=check_id(fields.text("site", max_len=63), field="certificate.site"),
        iat=iat,
        exp=exp,
        key=public,
    )


def verify_certificate(data: bytes, keys: KeySet, *, now_s: int | None) -> Certificate:
    """Verify a device certificate under central's keys; at ``now_s`` when given."""
    message = central.verify_central(data, keys, what="certificate")
    certificate = _read(message.payload_map(what="certificate"), raw=data, kid=message.kid)
    if now_s is not None:
        certificate.check_valid_at(now_s=now_s)
    return certificate
