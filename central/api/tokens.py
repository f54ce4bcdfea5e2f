"""Bearer tokens: made once, shown once, stored as their SHA-256 only.

A token is ``cg_`` + 43 URL-safe base64 characters (32 random bytes). Its SHA-256 is the
database key: the store looks the digest up, and the match is confirmed with a constant-time
comparison. A high-entropy random token needs no slow hash: nobody can guess a preimage, and a
stolen table of digests logs nobody in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from central.store.base import Store
from central.store.model import ApiToken, TokenRole

PREFIX = "cg_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def create_token(
    store: Store,
    *,
    role: TokenRole,
    enterprise: str | None = None,
    device: str | None = None,
    checkpoint: str | None = None,
    actor: str,
    now_ms: int,
) -> tuple[str, ApiToken]:
    """A new token (the text, to show once) and its stored row. Audited by the store."""
    token = new_token()
    stored = store.add_token(
        digest=digest(token), role=role, enterprise=enterprise, device=device,
        checkpoint=checkpoint, actor=actor, at=now_ms,
    )  # fmt: skip
    return token, stored


def lookup(store: Store, token: str) -> ApiToken | None:
    """The active token ``token`` names, or ``None`` (unknown or revoked)."""
    wanted = digest(token)
    found = store.token_by_digest(wanted)
    if found is None or not hmac.compare_digest(found.digest, wanted):
        return None
    if found.revoked_at is not None:
        return None
    return found
