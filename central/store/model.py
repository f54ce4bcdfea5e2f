"""Values that go in and out of the store. Weights are integer kilograms; times UTC ms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SiteKind = Literal["coal_mine", "magnesium_smelter", "semi_coke_plant", "other"]
DeviceState = Literal["active", "revoked"]
Severity = Literal["info", "warning", "alarm"]
StoreOutcome = Literal["inserted", "duplicate", "equivocation"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Enterprise:
    id: str
    name: str
    credit_code: str  # unified social credit code (统一社会信用代码), 18 characters
    land_mu: float  # land area in mu (亩), for the mu-average efficiency evaluation
    capacity_t: int  # approved annual capacity, tonnes


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    id: str
    enterprise: str
    kind: SiteKind
    name: str
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Vehicle:
    plate: str
    axles: int
    kind: Literal["rigid", "combination"]
    single_drive: bool
    tare_kg: int | None
    trailer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    id: str
    site: str
    public_key: bytes  # raw 32-byte Ed25519 key
    certificate: bytes  # COSE bytes of the current device certificate
    state: DeviceState
    enrolled_at: int
    revoked_at: int | None = None
    revoked_above_seq: int | None = None
    """Records with a seq above this are quarantined as ``revoked`` (WIRE.md "Revocation")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingRecord:
    """A record that verified, with what central knows about its arrival."""

    raw: bytes
    record_id: bytes
    device: str
    site: str
    seq: int
    ts: int
    type: str
    received_at: int
    weighing: WeighingFacts | None = None
    alarm: Alarm | None = None  # an edge event of severity alarm, raised only if newly stored


@dataclass(frozen=True, slots=True, kw_only=True)
class WeighingFacts:
    """What the tonnage rollups need from a weighing record (derived, never authoritative)."""

    direction: Literal["out", "in"]
    decision: Literal["release", "hold"]
    net_kg: int | None
    ticket: bytes | None
    plate: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantineItem:
    raw: bytes
    reason: str
    detail: str
    topic: str
    device: str | None  # the device the topic or kid claims, if any
    received_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    kind: str
    severity: Severity
    raised_at: int
    device: str | None = None
    site: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    ref: bytes | None = None  # a related record id
    id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """What one ingest batch did, in the order the records were given."""

    outcomes: tuple[StoreOutcome, ...]
    quarantined_new: tuple[bool, ...]  # per quarantine item: first time these bytes/reason
    contiguous: dict[str, int]  # per device in the batch: highest n with 1..n stored
    alarms: tuple[Alarm, ...]  # alarms raised by this batch (after rate limiting)
    ticket_sites: frozenset[str] = frozenset()
    """Sites whose open tickets this batch changed (their bundles must be rebuilt)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRecord:
    raw: bytes
    record_id: bytes
    device: str
    site: str
    seq: int
    ts: int
    type: str
    received_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus:
    device: str
    state: Literal["online", "offline"]
    since: int | None
    version: str | None
    updated_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantineEntry:
    raw: bytes
    reason: str
    detail: str
    topic: str
    device: str | None
    count: int
    first_seen: int
    last_seen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    at: int
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyTonnage:
    day: str  # YYYY-MM-DD in UTC+8 (China Standard Time), the regulators' day
    site: str
    direction: Literal["out", "in"]
    net_kg: int
    weighings: int


# --- tickets --------------------------------------------------------------------------------

TicketState = Literal["issued", "loaded", "arrived", "closed", "revoked", "expired"]
TicketFlag = Literal["overdue", "discrepancy", "double_load", "wrong_site"]
TICKET_STATES: tuple[TicketState, ...] = (
    "issued", "loaded", "arrived", "closed", "revoked", "expired"
)  # fmt: skip
TICKET_FLAGS: tuple[TicketFlag, ...] = ("overdue", "discrepancy", "double_load", "wrong_site")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTicket:
    """An e-ticket as central tracks it: the signed COSE bytes verbatim, its claims as columns,
    and what the weighing records naming it did (WIRE.md "E-ticket").

    ``quota_kg`` is what the ticket charges against its seller's quota in ``quota_period``:
    ``max_net_kg`` while issued (reserved), the source net once loaded (settled), 0 when it
    was revoked or expired without loading (released).
    """

    cti: bytes
    no: str
    raw: bytes
    seller: str
    buyer: str
    seller_site: str
    dest_site: str
    plate: str
    coal: str
    max_net_kg: int
    iat: int  # seconds, as the CWT
    exp: int  # seconds: loading deadline
    transit_s: int
    issued_at: int  # ms
    quota_period: str
    quota_kg: int
    state: TicketState = "issued"
    flags: frozenset[TicketFlag] = frozenset()
    source_net_kg: int | None = None
    loaded_at: int | None = None  # ms, the outbound weighing's ts
    loaded_record: bytes | None = None
    dest_net_kg: int | None = None
    arrived_at: int | None = None  # ms, the inbound weighing's ts
    arrived_record: bytes | None = None
    closed_at: int | None = None  # ms, central's time of reconciliation
    revoked_at: int | None = None
    expired_at: int | None = None

    @property
    def id(self) -> str:
        return self.cti.hex()


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSweep:
    """What :meth:`Store.sweep_tickets` changed: tickets expired or newly overdue, and the
    alarms raised for them."""

    changed: tuple[StoredTicket, ...]
    alarms: tuple[Alarm, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleContents:
    """What one site bundle holds, read in one transaction with its new version."""

    site: str
    version: int
    tickets: tuple[StoredTicket, ...]  # open (issued, loaded) where the site is seller or dest
    revoked: tuple[bytes, ...]  # ctis of revoked tickets still relevant to the site
    vehicles: tuple[Vehicle, ...]


# --- API ------------------------------------------------------------------------------------

TokenRole = Literal["regulator", "admin", "enterprise", "checkpoint", "platform", "device"]
TOKEN_ROLES: tuple[TokenRole, ...] = (
    "regulator", "admin", "enterprise", "checkpoint", "platform", "device"
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A bearer token as stored: its SHA-256 only, never the token. ``enterprise`` is set for
    (and only for) the ``enterprise`` role, ``device`` for the ``device`` role, ``checkpoint``
    for the ``checkpoint`` role (tokens made before migration 0007 name none)."""

    id: int
    digest: bytes
    role: TokenRole
    enterprise: str | None
    device: str | None
    created_at: int
    revoked_at: int | None = None
    checkpoint: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmAck:
    alarm_id: int
    at: int
    actor: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordCursor:
    """A position in the records ordered by (``received_at``, ``record_id``)."""

    received_at: int
    record_id: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordQuery:
    """Filters of :meth:`Store.find_records`; every one given must match.

    ``sites`` limits the answer to records of those sites (an enterprise's scope; an empty
    tuple matches nothing). ``plate`` and ``ticket`` match weighings that released a truck
    with a net (the tonnage facts ingest keeps); ``since``/``until`` bound the record's ``ts``
    (edge clock, ms; ``since`` included, ``until`` excluded)."""

    sites: tuple[str, ...] | None = None
    site: str | None = None
    device: str | None = None
    plate: str | None = None
    ticket: bytes | None = None
    type: str | None = None
    since: int | None = None
    until: int | None = None
    after: RecordCursor | None = None
    limit: int = 100


# --- sightings --------------------------------------------------------------------------------

SightingKind = Literal["ticket", "receipt", "manual"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sighting:
    """A truck seen at a checkpoint: what its officer scanned (a ticket or receipt QR) or typed
    (a plate), and the verdict at that moment. ``valid`` is whether the QR verified offline
    (``None`` for a manual plate), ``reason`` the first failed check, ``ticket_state`` the
    ticket's state at central when recorded (``None`` if unknown), ``record_id`` a receipt's
    weighing record. ``seen_at`` is the officer's device clock, ``recorded_at`` central's."""

    checkpoint: str
    token: int
    kind: SightingKind
    cti: bytes | None
    plate: str | None
    seen_at: int
    recorded_at: int
    valid: bool | None = None
    reason: str | None = None
    ticket_state: TicketState | None = None
    record_id: bytes | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SightingQuery:
    """Filters of :meth:`Store.find_sightings`; every one given must match. ``after`` is a
    sighting id (the cursor: ids ascend)."""

    checkpoint: str | None = None
    cti: bytes | None = None
    plate: str | None = None
    after: int = 0
    limit: int = 100


# --- transparency log and metrics ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTreeHead:
    """A signed tree head as central published it (``raw``: its COSE bytes)."""

    size: int
    root: bytes
    ts: int
    kid: str
    raw: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """Leaf ``index`` of the transparency log: the record it names (``None`` if that row is
    gone) and the leaf hash stored for it."""

    index: int
    record_id: bytes
    leaf_hash: bytes | None
    appended_at: int
    record: StoredRecord | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreCounts:
    """What ``/metrics`` reports from the store, read in one transaction."""

    log_size: int
    """Leaves of the transparency log: every record ever stored (since migration 0008)."""
    last_stored_at: int | None
    """Central's clock when the newest leaf was stored (``None``: empty log)."""
    last_record_ts: int | None
    """The edge clock (``ts``) of that newest record."""
    quarantine: dict[str, tuple[int, int]]
    """Per reason: (distinct messages kept, messages received)."""
    alarms: dict[str, int]
    """Alarms raised, per kind."""
    tickets: dict[str, int]
    """Tickets per state."""
