"""Dashboard sessions: a token is typed once, then an HttpOnly, SameSite=Strict cookie names a
server-side session.

The table lives in the API process (pure: time is an argument, no I/O). A session keeps the
token's SHA-256 — never the token — so a revoked token ends its sessions at the next request,
and it holds its own CSRF secret, which the pages send back in ``X-CSRF-Token`` on every
request that changes something. A session ends on logout, after ``IDLE_MS`` without a request
or ``ABSOLUTE_MS`` after login, whichever comes first. Restarting central ends every session
(the officer types the token again); the API runs as one process (``coalgate central run``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

from central.store.model import ApiToken, TokenRole

COOKIE = "cg_session"
CSRF_HEADER = "X-CSRF-Token"
IDLE_MS = 30 * 60_000
"""A session unused this long is over."""
ABSOLUTE_MS = 12 * 3_600_000
"""A session is over this long after login, however busy (one shift)."""
MAX_SESSIONS = 10_000
"""Past this many open sessions the least recently used one is dropped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    token_id: int
    token_digest: bytes
    role: TokenRole
    csrf: str
    created_at: int
    last_seen: int

    @property
    def expires_at(self) -> int:
        """When the session ends if it stays busy (the idle limit may end it sooner)."""
        return self.created_at + ABSOLUTE_MS

    def live_at(self, now_ms: int) -> bool:
        return now_ms < self.expires_at and now_ms - self.last_seen < IDLE_MS


def _key(session_id: str) -> str:
    """Sessions are filed under the SHA-256 of their id: the table holds no cookie value."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


class SessionTable:
    """Open sessions by cookie value; thread-safe (FastAPI runs sync routes in a pool)."""

    def __init__(self, *, max_sessions: int = MAX_SESSIONS) -> None:
        self._max = max_sessions
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def open(self, token: ApiToken, *, now_ms: int) -> tuple[str, Session]:
        """A new session for ``token``: the cookie value (shown once) and the session."""
        session_id = secrets.token_urlsafe(32)
        session = Session(
            token_id=token.id,
            token_digest=token.digest,
            role=token.role,
            csrf=secrets.token_urlsafe(24),
            created_at=now_ms,
            last_seen=now_ms,
        )
        with self._lock:
            self._sessions[_key(session_id)] = session
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str, *, now_ms: int) -> Session | None:
        """The live session ``session_id`` names (its idle clock restarted), or ``None``."""
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if not session.live_at(now_ms):
                del self._sessions[key]
                return None
            session = replace(session, last_seen=max(session.last_seen, now_ms))
            self._sessions[key] = session
            self._sessions.move_to_end(key)
            return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(_key(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
