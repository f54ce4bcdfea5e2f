"""Central's published key set, as JWKS (JSON) and as COSE_KeySet (CBOR), both ways.

``GET /api/v1/keys`` serves these (WIRE.md "Central-signed objects"); checkpoints keep a copy
to verify tickets and receipts offline. A COSE_Key here is ``{1: 1 (OKP), 2: kid, 3: -8,
-1: 6 (Ed25519), -2: x}``; a JWK is ``{"kty": "OKP", "crv": "Ed25519", "x": b64url, "kid"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from wire import cbor
from wire.errors import SchemaError, UndecodableError
from wire.fields import Fields
from wire.keys import ALG_ED25519, ALG_EDDSA, KeySet, PublicKey

JWKS_MEDIA_TYPE = "application/jwk-set+json"
COSE_KEY_SET_MEDIA_TYPE = "application/cose-key-set"
_OKP, _ED25519 = 1, 6


def cose_key(key: PublicKey) -> dict[int, Any]:
    return {1: _OKP, 2: key.kid.encode(), 3: ALG_EDDSA, -1: _ED25519, -2: key.raw}


def read_cose_key(value: object, *, where: str) -> PublicKey:
    """A PublicKey from a decoded COSE_Key map; anything but an Ed25519 OKP key is refused."""
    if not isinstance(value, dict):
        raise SchemaError(f"{where} must be a COSE_Key map", field=where)
    kty, crv, alg = value.get(1), value.get(-1), value.get(3, ALG_EDDSA)
    if type(kty) is not int or kty != _OKP or type(crv) is not int or crv != _ED25519:
        raise SchemaError(f"{where} is not an Ed25519 OKP key (kty 1, crv 6)", field=where)
    if type(alg) is not int or alg not in (ALG_EDDSA, ALG_ED25519):
        raise SchemaError(f"{where} names alg {alg!r}, not EdDSA", field=where)
    if -4 in value:
        raise SchemaError(
            f"{where} holds a private key (-4); publish public keys only", field=where
        )
    kid, x = value.get(2), value.get(-2)
    if not isinstance(kid, bytes) or not isinstance(x, bytes) or len(x) != 32:
        raise SchemaError(f"{where} needs a kid (2) and a 32-byte x (-2)", field=where)
    try:
        name = kid.decode()
    except UnicodeDecodeError:
        raise SchemaError(f"{where} kid is not UTF-8", field=where) from None
    try:
        return PublicKey.from_raw(x, kid=name)
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc.message}", field=where) from None


def encode_cose_key_set(keys: KeySet) -> bytes:
    return cbor.dumps([cose_key(keys[kid]) for kid in sorted(keys)])


def decode_cose_key_set(data: bytes) -> KeySet:
    value = cbor.loads(data)
    if not isinstance(value, list):
        raise UndecodableError("a COSE_KeySet is a CBOR array of COSE_Key maps")
    keys = KeySet()
    for index, item in enumerate(value):
        _add(keys, read_cose_key(item, where=f"keys[{index}]"), where=f"keys[{index}]")
    return keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _unb64url(text: str, *, where: str) -> bytes:
    """Strict unpadded base64url (RFC 7515 §2): one spelling per value, nothing else."""
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise SchemaError(f"{where} is not unpadded base64url", field=where)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SchemaError(f"{where} is not unpadded base64url", field=where) from None
    if _b64url(data) != text:
        raise SchemaError(f"{where} has non-zero trailing bits", field=where)
    return data


def _add(keys: KeySet, key: PublicKey, *, where: str) -> None:
    try:
        keys.add(key)
    except ValueError as exc:
        raise SchemaError(f"{where}: {exc}", field=where) from None


def jwks(keys: KeySet) -> dict[str, Any]:
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": kid,
                "x": _b64url(keys[kid].raw),
            }
            for kid in sorted(keys)
        ]
    }


def parse_jwks(value: object) -> KeySet:
    """A KeySet from a decoded JWKS document (RFC 7517 / RFC 8037 OKP keys)."""
    items = Fields(value, where="jwks").array("keys")
    keys = KeySet()
    for index, item in enumerate(items):
        where = f"jwks.keys[{index}]"
        fields = Fields(item, where=where)
        if fields.text("kty") != "OKP" or fields.text("crv") != "Ed25519":
            raise SchemaError(f"{where} is not an Ed25519 OKP key", field=where)
        if isinstance(item, dict) and item.get("alg", "EdDSA") not in ("EdDSA", "Ed25519"):
            raise SchemaError(f"{where} names alg {item.get('alg')!r}", field=where)
        if isinstance(item, dict) and "d" in item:
            raise SchemaError(
                f"{where} holds a private key (d); publish public keys only", field=where
            )
        x = _unb64url(fields.text("x"), where=f"{where}.x")
        if len(x) != 32:
            raise SchemaError(f"{where}.x is not 32 bytes", field=f"{where}.x")
        _add(keys, PublicKey.from_raw(x, kid=fields.text("kid", max_len=63)), where=where)
    return keys


def parse_key_set_file(data: bytes, *, source: str) -> KeySet:
    """JWKS (JSON text) or COSE_KeySet (CBOR), told apart by content."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UndecodableError(f"{source}: not JSON: {exc}") from exc
        return parse_jwks(document)
    return decode_cose_key_set(data)
