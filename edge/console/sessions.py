"""Console sessions: an operator logs in once, then an HttpOnly, SameSite=Strict cookie names a
server-side session.

Pure: time is an argument, nothing is written anywhere; restarting the edge ends every session.
The table files sessions under the SHA-256 of the cookie value (it holds no cookie), and each
session holds its own CSRF secret, which the page sends back in ``X-CSRF-Token`` with every
request that changes something. A session ends on logout, after ``IDLE_MS`` without a request,
or ``ABSOLUTE_MS`` after login (one shift), whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Final

COOKIE: Final = "cg_console"
CSRF_HEADER: Final = "X-CSRF-Token"
IDLE_MS: Final = 30 * 60_000
ABSOLUTE_MS: Final = 12 * 3_600_000
MAX_SESSIONS: Final = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    operator: str
    name: str
    csrf: str
    created_at: int
    last_seen: int

    @property
    def expires_at(self) -> int:
        return self.created_at + ABSOLUTE_MS

    def live_at(self, now_ms: int) -> bool:
        return now_ms < self.expires_at and now_ms - self.last_seen < IDLE_MS


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


class SessionTable:
    """Open sessions; thread-safe (sync routes run in a thread pool)."""

    def __init__(self, *, max_sessions: int = MAX_SESSIONS) -> None:
        self._max = max_sessions
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def open(self, operator: str, *, name: str, now_ms: int) -> tuple[str, Session]:
        """A new session: the cookie value (handed out once) and the session."""
        session_id = secrets.token_urlsafe(32)
        session = Session(
            operator=operator,
            name=name,
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
        """The live session ``session_id`` names (its idle clock restarted), or None."""
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

    def close_operator(self, operator: str) -> None:
        """End every session of ``operator`` (a disabled account)."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.operator == operator]:
                del self._sessions[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


MAX_FAILURES: Final = 5
"""Failed logins of one operator id within ``LOCKOUT_MS`` after which the id is refused."""
LOCKOUT_MS: Final = 5 * 60_000
_MAX_IDS: Final = 10_000


class LoginThrottle:
    """Failed logins per operator id (known or not): after ``MAX_FAILURES`` within
    ``LOCKOUT_MS`` the id is refused — the right password too — until the oldest failure is
    ``LOCKOUT_MS`` old, so a password is guessed at no more than five tries in five minutes.
    Pure (time is an argument); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, list[int]] = OrderedDict()

    def _recent(self, operator: str, now_ms: int) -> list[int]:
        times = [t for t in self._failures.get(operator, ()) if now_ms - t < LOCKOUT_MS]
        if times:
            self._failures[operator] = times
        else:
            self._failures.pop(operator, None)
        return times

    def blocked(self, operator: str, *, now_ms: int) -> bool:
        with self._lock:
            return len(self._recent(operator, now_ms)) >= MAX_FAILURES

    def failed(self, operator: str, *, now_ms: int) -> None:
        with self._lock:
            self._failures[operator] = [*self._recent(operator, now_ms), now_ms]
            self._failures.move_to_end(operator)
            while len(self._failures) > _MAX_IDS:
                self._failures.popitem(last=False)

    def succeeded(self, operator: str) -> None:
        with self._lock:
            self._failures.pop(operator, None)
