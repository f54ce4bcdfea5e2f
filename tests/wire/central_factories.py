"""Builders of central-signed objects for the wire tests (real keys, real signatures).

Ids have realistic lengths (a receipt's QR budget depends on them): a Shenmu mine site, its
second gate, two enterprises and a power station, central's kid of 29 November 2026.
"""

from __future__ import annotations

from typing import Any

import cbor2
from hypothesis import strategies as st

from tests.wire import factories
from wire import cbor
from wire.bodies import Body
from wire.certificates import Certificate, issue_certificate
from wire.keys import KeySet, PublicKey, SigningKey
from wire.records import ZERO_HASH, Record, sign_record
from wire.tickets import Ticket, issue_ticket

CENTRAL_KID = "central-20261129"
ISS = "yulin-energy-bureau"
SITE = "yl-shenmu-mine-0012"
DEST_SITE = "yl-fugu-power-0003"
OTHER_SITE = "yl-shenmu-mine-0047"
DEVICE = "yl-shenmu-mine-0012-gate-02"
SELLER = "sx-shenmu-coal-group-0012"
BUYER = "sx-fugu-power-gen-co-0003"
PLATE = "陕K12345"
CTI = bytes.fromhex("5f0c9a3e71d24b8e9a6c03f1e2d4b7a8")
NUMBER = "YL20261201000123"  # 16 characters, as people read it off the paper ticket

CERT_IAT = 1_795_910_400  # 2026-11-29 00:00 UTC, the day central's key was made
TICKET_IAT = 1_796_112_000  # 2026-12-01 08:00 UTC
TICKET_EXP = TICKET_IAT + 48 * 3600
LOADED_MS = (TICKET_IAT + 3 * 3600) * 1000  # loaded three hours after issue


def central_key(kid: str = CENTRAL_KID, seed_byte: int = 1) -> SigningKey:
    return SigningKey.from_seed(bytes([seed_byte]) * 32, kid=kid)


CENTRAL = central_key()
CENTRAL_KEYS = KeySet([CENTRAL.public])
ROGUE_CENTRAL = central_key("central-20261130", seed_byte=66)  # a central kid nobody publishes


def device_key(kid: str = DEVICE, seed_byte: int = 7) -> SigningKey:
    return factories.device_key(kid, seed_byte)


DEVICE_KEY = device_key()


def ticket_values(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": ISS,
        "iat": TICKET_IAT,
        "exp": TICKET_EXP,
        "cti": CTI,
        "seller_site": SITE,
        "seller": SELLER,
        "buyer": BUYER,
        "plate": PLATE,
        "coal": "SM-5500-13",
        "max_net_kg": 35_000,
        "dest_site": DEST_SITE,
        "no": NUMBER,
        "transit_s": 36 * 3600,
    }
    values.update(changes)
    return values


def ticket(key: SigningKey = CENTRAL, **changes: Any) -> Ticket:
    return issue_ticket(key, **ticket_values(**changes))


def certificate(
    device: PublicKey = DEVICE_KEY.public,
    *,
    key: SigningKey = CENTRAL,
    site: str = SITE,
    iat: int = CERT_IAT,
    exp: int | None = None,
) -> Certificate:
    return issue_certificate(key, iss=ISS, device_key=device, site=site, iat=iat, exp=exp)


def weighing(**changes: Any) -> Any:
    """The outbound release that loads ``ticket()``: single pass, stored tare."""
    values: dict[str, Any] = {
        "lane": "lane-out-1",
        "plate": PLATE,
        "ticket": CTI,
        "gross_kg": 49_380,
        "tare_kg": 15_020,
        "net_kg": 34_360,
        "axles": 6,
        "plate_conf": 96,
        "evidence": bytes.fromhex("9b" * 32),
    }
    values.update(changes)
    return factories.weighing(**values)


def record(
    body: Body | None = None,
    *,
    key: SigningKey = DEVICE_KEY,
    site: str = SITE,
    ts: int = LOADED_MS,
    seq: int = 48_211,
) -> Record:
    """A weighing record deep into the device's chain (a realistic seq and prev)."""
    prev = ZERO_HASH if seq == 1 else bytes.fromhex("3c" * 32)
    return sign_record(
        key,
        site=site,
        device=key.kid,
        seq=seq,
        prev=prev,
        ts=ts,
        body=body if body is not None else weighing(),
    )


def raw_sign1(
    payload: Any,
    key: SigningKey = CENTRAL,
    *,
    kid: str | None = None,
    alg: int = -8,
    canonical: bool = True,
) -> bytes:
    """A COSE_Sign1 over exactly this payload and header, validly signed by ``key``.

    For payloads the builders refuse to sign: unknown claims, wrong types, another alg.
    """
    protected = cbor.dumps({1: alg, 4: (kid or key.kid).encode()})
    payload_bytes = cbor.dumps(payload) if canonical else cbor2.dumps(payload)
    signature = key.key.sign(cbor2.dumps(["Signature1", protected, b"", payload_bytes]))
    return bytes(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload_bytes, signature])))


def flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


_DROP = object()

CBOR_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.integers(-70_000, 70_000) | st.text(max_size=8) | st.binary(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
"""Any value deterministic CBOR here can carry."""


def mutations(valid: dict[Any, Any], extra_keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Payload maps near ``valid``: each field kept, dropped or replaced, maybe an extra one."""
    fields = st.fixed_dictionaries(
        {key: st.just(value) | st.just(_DROP) | CBOR_VALUES for key, value in valid.items()}
    )
    extras = st.dictionaries(extra_keys, CBOR_VALUES, max_size=2)
    return st.builds(
        lambda kept, extra: {k: v for k, v in (extra | kept).items() if v is not _DROP},
        fields,
        extras,
    )
