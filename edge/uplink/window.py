"""What to publish next (pure): the send window and the resend rules of WIRE.md "Acks".

No clock reads, no I/O: the uplink feeds it acks, connections and ``now_ms`` and asks which seqs
to publish. The rules:

- publish in seq order, never beyond ``acked + window`` (a broker drops silently past its
  per-client queue, so the window, not the broker, bounds what is in flight);
- on every (re)connection resend everything above the ack;
- when records are in flight and the ack has not advanced for ``resend_after_ms``, resend
  everything above the ack;
- keep the highest ack seen; an ack above the highest seq written is ignored and reported;
- after a ``reject`` send nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AckVerdict(StrEnum):
    ADVANCED = "advanced"
    STALE = "stale"
    BEYOND = "beyond"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRange:
    """Publish seqs ``first`` to ``last`` (inclusive); ``resend`` when they were sent before."""

    first: int
    last: int
    resend: bool


@dataclass(slots=True, kw_only=True)
class SendWindow:
    """Window and resend accounting for one device's record stream (mutable, pure)."""

    window: int = 200
    resend_after_ms: int = 10_000
    acked: int = 0
    """Highest seq central acked."""
    sent: int = 0
    """Highest seq published on this connection (never below ``acked``)."""
    waiting_since_ms: int | None = None
    """When the ack last advanced (or the first record went out) while records were in flight."""
    rejected: str | None = None
    resends: int = 0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be 1 or more")
        if self.resend_after_ms < 1:
            raise ValueError("resend_after_ms must be positive")
        self.sent = max(self.sent, self.acked)

    def connected(self, *, now_ms: int) -> None:
        """A (re)connection: everything above the ack goes out again."""
        self.sent = self.acked
        self.waiting_since_ms = None
        del now_ms  # the wait starts when something is sent

    def on_ack(self, *, seq: int, reject: str | None, highest: int, now_ms: int) -> AckVerdict:
        """Apply a verified ack; ``highest`` is the highest seq written."""
        if reject is not None:
            self.rejected = reject
            return AckVerdict.REJECTED
        if seq > highest:
            return AckVerdict.BEYOND
        if seq <= self.acked:
            return AckVerdict.STALE
        self.acked = seq
        self.sent = max(self.sent, seq)
        self.waiting_since_ms = now_ms if self.sent > self.acked else None
        return AckVerdict.ADVANCED

    def due(self, *, highest: int, now_ms: int) -> SendRange | None:
        """The seqs to publish now (and mark them sent), or None."""
        if self.rejected is not None:
            return None
        resend = False
        if (
            self.sent > self.acked
            and self.waiting_since_ms is not None
            and now_ms - self.waiting_since_ms >= self.resend_after_ms
        ):
            self.sent = self.acked
            self.waiting_since_ms = None
            self.resends += 1
            resend = True
        limit = min(highest, self.acked + self.window)
        if limit <= self.sent:
            return None
        first = self.sent + 1
        if self.waiting_since_ms is None:
            self.waiting_since_ms = now_ms
        self.sent = limit
        return SendRange(first=first, last=limit, resend=resend)

    def unsent(self, *, last: int) -> None:
        """Publishing stopped before ``last`` (a refused publish): seqs above it go again."""
        self.sent = max(self.acked, min(self.sent, last))

    def next_check_ms(self, *, now_ms: int) -> int | None:
        """How long until a resend may be due (None: nothing in flight)."""
        if self.rejected is not None or self.sent <= self.acked or self.waiting_since_ms is None:
            return None
        return max(0, self.waiting_since_ms + self.resend_after_ms - now_ms)

    @property
    def in_flight(self) -> int:
        return self.sent - self.acked
