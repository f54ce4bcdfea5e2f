"""Records signed/s and verified/s next to raw Ed25519 on the same bytes, in the same run.

    python bench/wire_bench.py [--seconds 2] [--rounds 5]

Each figure is the best of ``--rounds`` timed loops of about ``--seconds`` / rounds each, so a
busy neighbour on the machine lowers the figures less. The record is a realistic weighing
(about 450 bytes). "Raw" signs and verifies the record's RFC 9052 Sig_structure with the
``cryptography`` package, which is what ``wire`` uses underneath; the target is verification at
≥ 80 % of raw verify. Ticket and receipt verification (a checkpoint's work: QR text to a
verified object; a receipt is three signatures) are measured too. PyNaCl (libsodium) is
measured on the same bytes to show whether another Ed25519 binding would raise the rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace

from wire import cose
from wire.bodies import WeighingBody
from wire.certificates import issue_certificate
from wire.keys import KeySet, SigningKey
from wire.receipts import encode_receipt, verify_receipt
from wire.records import ZERO_HASH, sign_record, verify_record
from wire.tickets import issue_ticket, ticket_from_qr, ticket_qr, verify_ticket


def rate(action: Callable[[], object], *, seconds: float, rounds: int) -> float:
    """Best operations per second over ``rounds`` loops of about ``seconds / rounds`` each."""
    budget = seconds / rounds
    best = 0.0
    for _ in range(rounds):
        count = 0
        start = time.perf_counter()
        elapsed = 0.0
        while elapsed < budget:
            for _ in range(50):
                action()
            count += 50
            elapsed = time.perf_counter() - start
        best = max(best, count / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per figure")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    measure = {"seconds": args.seconds, "rounds": args.rounds}

    key = SigningKey.generate(kid="yl-mine-a-gate-1")
    keys = KeySet([key.public])
    body = WeighingBody(
        lane="lane-1",
        direction="out",
        pass_="single",
        plate="陕K12345",
        plate_conf=97,
        plate_source="camera",
        ticket=os.urandom(16),
        gross_kg=49_020,
        tare_kg=15_020,
        net_kg=34_000,
        tare_source="stored",
        axles=6,
        decision="release",
        reasons=("ok",),
        evidence=os.urandom(32),
        operator=None,
    )

    def sign() -> object:
        return sign_record(
            key, site="yl-mine-a", device=key.kid, seq=1, prev=ZERO_HASH, ts=1, body=body
        )

    record = sign_record(
        key, site="yl-mine-a", device=key.kid, seq=1, prev=ZERO_HASH, ts=1, body=body
    )
    message = cose.parse_sign1(record.raw)
    to_sign = cose.to_be_signed(message)
    signature = message.signature
    public = key.public.key

    def raw_sign() -> object:
        return key.key.sign(to_sign)

    def verify() -> object:
        return verify_record(record.raw, keys)

    def raw_verify() -> None:
        public.verify(signature, to_sign)

    figures: list[tuple[str, float]] = [
        ("records signed/s (wire.sign_record)", rate(sign, **measure)),
        ("raw Ed25519 sign/s (cryptography)", rate(raw_sign, **measure)),
        ("records verified/s (wire.verify_record)", rate(verify, **measure)),
        ("raw Ed25519 verify/s (cryptography)", rate(raw_verify, **measure)),
    ]
    central = SigningKey.generate(kid="central-20261129")
    central_keys = KeySet([central.public])
    ticket = issue_ticket(
        central,
        iss="yulin-energy-bureau",
        iat=1_795_977_600,
        cti=os.urandom(16),
        seller_site="yl-mine-a",
        seller="yl-coal-co-a",
        buyer="yl-magnesium-b",
        plate="陕K12345",
        coal="5500-lump",
        max_net_kg=35_000,
        dest_site="yl-magnesium-b",
        no="YL2026112900001",
    )
    certificate = issue_certificate(
        central,
        iss="yulin-energy-bureau",
        device_key=key.public,
        site="yl-mine-a",
        iat=1_795_000_000,
    )
    loaded = sign_record(
        key,
        site="yl-mine-a",
        device=key.kid,
        seq=1,
        prev=ZERO_HASH,
        ts=1_795_980_000_000,
        body=replace(body, ticket=ticket.cti),
    )
    receipt = encode_receipt(ticket=ticket.raw, record=loaded.raw, certificate=certificate.raw)
    ticket_text = ticket_qr(ticket)

    def check_ticket() -> object:
        return verify_ticket(ticket_from_qr(ticket_text), central_keys, now_s=1_795_977_601)

    def check_receipt() -> object:
        return verify_receipt(receipt, central_keys)

    figures += [
        ("tickets verified/s (from CT1: text)", rate(check_ticket, **measure)),
        ("receipts verified/s (from CR1: text)", rate(check_receipt, **measure)),
    ]
    try:
        from nacl.signing import VerifyKey  # noqa: PLC0415 - optional, measured only if present
    except ImportError:
        nacl_rate = None
    else:
        verify_key = VerifyKey(key.public.raw)
        nacl_rate = rate(lambda: verify_key.verify(to_sign, signature), **measure)
        figures.append(("raw Ed25519 verify/s (PyNaCl/libsodium)", nacl_rate))

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"record: weighing, {len(record.raw)} bytes COSE, Sig_structure {len(to_sign)} bytes")
    print(f"ticket QR {len(ticket_text)} characters, receipt QR {len(receipt)} characters")
    width = max(len(name) for name, _ in figures)
    for name, value in figures:
        print(f"{name:<{width}}  {value:>10,.0f}")
    sign_ratio = figures[0][1] / figures[1][1]
    verify_ratio = figures[2][1] / figures[3][1]
    print(f"sign ratio (records / raw):   {sign_ratio:.2f}")
    print(f"verify ratio (records / raw): {verify_ratio:.2f}  (target >= 0.80)")
    if nacl_rate is not None:
        speedup = nacl_rate / figures[3][1]
        print(f"libsodium verify vs cryptography verify: {speedup:.2f}x")


if __name__ == "__main__":
    main()
