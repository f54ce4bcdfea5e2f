"""What a webhook delivery carries and how it is signed; the retry schedule. Pure.

Each delivery is a POST of the JSON body :func:`payload` makes, with the headers

- ``X-Coalgate-Signature: t=<ms>,v1=<hex>``: ``hex`` = HMAC-SHA256 over the bytes
  ``<ms>`` + ``.`` + body, keyed with the subscription's secret (UTF-8). Receivers recompute it,
  compare in constant time and refuse a ``t`` too far from their clock (replays);
- ``X-Coalgate-Delivery``: the outbox row id (the same on every retry of one delivery: receivers
  can drop repeats of a delivery they have already processed);
- ``X-Coalgate-Feed``: ``credit`` or ``trucks``.

A 2xx answer ends the delivery; anything else (or no answer within the timeout) retries after
``min(cap, base * 2**attempts)``, jittered down by at most half.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from central.feeds.model import FeedItem

SIGNATURE_HEADER = "X-Coalgate-Signature"
DELIVERY_HEADER = "X-Coalgate-Delivery"
FEED_HEADER = "X-Coalgate-Feed"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def payload(item: FeedItem) -> bytes:
    """The body: one item, as the feed serves it."""
    data: dict[str, Any] = {
        "feed": item.feed,
        "item": {
            "id": item.id,
            "kind": item.kind,
            "subject": item.subject,
            "at": item.at,
            "added_at": item.added_at,
            "key": item.key,
            "parties": list(item.parties),
            "body": item.body,
        },
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, body: bytes, *, t_ms: int) -> str:
    """The signature header's value."""
    mac = hmac.new(secret.encode(), f"{t_ms}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t_ms},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now_ms: int, tolerance_ms: int) -> bool:
    """What a receiver does: the signature matches and ``t`` is within ``tolerance_ms``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t_text, given = parts.get("t", ""), parts.get("v1", "")
    if not t_text.isdigit() or abs(now_ms - int(t_text)) > tolerance_ms:
        return False
    expected = sign(secret, body, t_ms=int(t_text)).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def backoff_ms(attempts: int, *, base_ms: int, cap_ms: int, jitter: float) -> int:
    """The wait before the next try after ``attempts`` failed ones (≥ 1); ``jitter`` in [0, 1)
    takes off up to half: the result lies in [ceiling / 2, ceiling]."""
    ceiling = min(cap_ms, base_ms << min(max(attempts - 1, 0), 40))
    return ceiling - int(ceiling * 0.5 * jitter)
