"""The one storage interface central uses; SQLite and PostgreSQL implement it.

Every method is synchronous and each is one transaction: a backend that raises leaves nothing
half-written. Callers on an event loop use ``asyncio.to_thread``. Times are UTC milliseconds
passed in by the caller (the store reads no clock), ids follow WIRE.md.

Contract for :meth:`Store.ingest` (WIRE.md "Delivery guarantee", "Order", "Quarantine"):

- a record is keyed by (device, seq). New → stored verbatim (``inserted``). The same bytes
  again → nothing changes (``duplicate``). Different bytes → the first stays, the second goes
  to the equivocation table, an ``equivocation`` alarm is raised once per distinct record
  (``equivocation``);
- a weighing adds its facts to the tonnage rollups only when it is newly inserted;
- an ``IncomingRecord.alarm`` (an edge event of severity alarm) is raised only when inserted;
- a quarantine item is kept verbatim once per (bytes, reason); repeats only count. A
  ``quarantine`` alarm is raised at most once per (device, reason) per ``alarm_interval_ms``;
- ``contiguous`` in the result is, for every device in the batch, the highest n such that
  1..n are stored: what the ack may cover;
- a newly inserted weighing that names a ticket moves that ticket (WIRE.md "E-ticket", the
  table in :mod:`central.ticketing.lifecycle`) in the same transaction, and the flag alarms
  it raises are raised with the batch; ``ticket_sites`` in the result names the sites whose
  bundles changed. A duplicate or a second version moves nothing;
- every newly inserted record, and only those, is appended to the transparency log as the
  next leaf, in the batch's order, in the same transaction (a duplicate or a second version is
  never a leaf; docs/transparency.md);
- a record above its device's ``revoked_above_seq`` (a revocation that committed after the
  caller checked the batch) makes the whole batch fail with ``RevokedDuringBatchError`` and
  writes nothing: the caller checks it again with fresh device views.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from central.feeds.model import (
    Delivery,
    FeedItem,
    FeedName,
    TaxDeclaration,
    TaxOutcome,
    TonnageFact,
    Webhook,
    WeighingRow,
)
from central.store.model import (
    Alarm,
    AlarmAck,
    ApiToken,
    AuditEntry,
    BatchResult,
    BundleContents,
    Checkpoint,
    DailyTonnage,
    Device,
    DeviceStatus,
    Enterprise,
    IncomingRecord,
    LogEntry,
    QuarantineEntry,
    QuarantineItem,
    RecordQuery,
    Sighting,
    SightingQuery,
    Site,
    StoreCounts,
    StoredRecord,
    StoredTicket,
    StoredTreeHead,
    TicketSweep,
    TokenRole,
    Vehicle,
)
from central.ticketing.policy import DEFAULT_TOLERANCE, Tolerance
from central.transparency.tree import NodeKey

QUARANTINE_ALARM_INTERVAL_MS = 3_600_000


class Store(Protocol):
    backend: str
    """``sqlite`` or ``postgresql``."""

    # --- life cycle ----------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied (empty when up to date)."""

    def close(self) -> None: ...

    # --- registry (every change is audited with actor and time) ---------------------------
    def add_enterprise(self, value: Enterprise, *, actor: str, at: int) -> None:
        """Insert; ``ConflictError`` if the id exists."""

    def get_enterprise(self, enterprise_id: str) -> Enterprise:
        """``NotFoundError`` if absent."""

    def list_enterprises(self) -> list[Enterprise]: ...

    def add_site(self, value: Site, *, actor: str, at: int) -> None:
        """Insert; ``ConflictError`` if the id exists, ``NotFoundError`` without the enterprise."""

    def get_site(self, site_id: str) -> Site: ...

    def list_sites(self, *, enterprise: str | None = None) -> list[Site]: ...

    def add_checkpoint(self, value: Checkpoint, *, actor: str, at: int) -> None: ...

    def list_checkpoints(self) -> list[Checkpoint]: ...

    def upsert_vehicles(self, values: Sequence[Vehicle], *, actor: str, at: int) -> int:
        """Insert or replace by plate, all or nothing; return how many were written."""

    def get_vehicle(self, plate: str) -> Vehicle: ...

    def list_vehicles(self) -> list[Vehicle]: ...

    def enroll_device(self, value: Device, *, actor: str, at: int) -> Device:
        """Insert an active device. The same id again with the same key replaces the
        certificate (renewal); with another key, or when revoked, it is a ``ConflictError``:
        device ids are never reused (WIRE.md). ``NotFoundError`` if the site does not exist."""

    def get_device(self, device_id: str) -> Device: ...

    def list_devices(self, *, site: str | None = None) -> list[Device]: ...

    def revoke_device(self, device_id: str, *, actor: str, at: int) -> Device:
        """Mark revoked now; ``revoked_above_seq`` = the highest seq stored for it (0 if none)."""

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""

    # --- ingest ---------------------------------------------------------------------------
    def ingest(
        self,
        records: Sequence[IncomingRecord],
        quarantine: Sequence[QuarantineItem],
        *,
        now_ms: int,
        alarm_interval_ms: int = QUARANTINE_ALARM_INTERVAL_MS,
        tolerance: Tolerance = DEFAULT_TOLERANCE,
    ) -> BatchResult:
        """One batch in one transaction (see the module docstring); ``tolerance`` decides the
        ``discrepancy`` flag of tickets closed by the batch."""

    def contiguous(self, device: str) -> int: ...

    def get_record(self, device: str, seq: int) -> StoredRecord | None: ...

    def records(self, device: str, *, after_seq: int = 0, limit: int = 1000) -> list[StoredRecord]:
        """Stored records of ``device`` with seq > ``after_seq``, ascending."""

    def equivocations(self, device: str) -> list[StoredRecord]:
        """Second (and later) versions kept for seqs of ``device``."""

    def quarantined(self, *, limit: int = 100) -> list[QuarantineEntry]:
        """Newest first by last_seen."""

    def sweep_gaps(self, *, now_ms: int, grace_ms: int) -> list[Alarm]:
        """Raise a ``gap`` alarm (once per device and first missing seq) for every device
        whose first missing seq has been missing for longer than ``grace_ms``: measured from
        the arrival of the earliest stored record above it. Return the alarms raised."""

    def raise_alarms(self, alarms: Sequence[Alarm]) -> list[Alarm]:
        """Store alarms raised outside ingest (device offline, backlog…); return them with ids."""

    def alarms(self, *, after_id: int = 0, limit: int = 100) -> list[Alarm]:
        """Alarms with id > ``after_id``, ascending by id."""

    def set_device_status(
        self, status: DeviceStatus, *, on_change: Sequence[Alarm] = ()
    ) -> list[Alarm]:
        """Store the device's liveness unless what is stored was updated later (statuses may
        be handled out of order). When this changes the device's state (stored with the other
        state, or not at all), raise ``on_change`` in the same transaction and return them with
        ids; else return ``[]``. A retained status delivered again, or one Last Will handled by
        several workers, changes nothing the second time: one outage, one alarm."""

    def device_statuses(self) -> list[DeviceStatus]: ...

    def tonnage_daily(
        self, *, first_day: str, last_day: str, site: str | None = None
    ) -> list[DailyTonnage]:
        """Released net per site, direction and China Standard Time day, both days included."""

    # --- tickets (WIRE.md "E-ticket"; rules in central.ticketing) --------------------------
    def issue_ticket(
        self, value: StoredTicket, *, limit_kg: int, actor: str, at: int
    ) -> StoredTicket:
        """Insert a signed ticket (state ``issued``, ``quota_kg`` = its reservation) if its
        seller's charges in ``quota_period`` plus ``quota_kg`` stay within ``limit_kg``; else
        ``QuotaExceededError`` and nothing is written. Serialised per enterprise, so
        concurrent issues never over-issue. ``ConflictError`` for a cti or number in use,
        ``NotFoundError`` without the enterprise. Audited."""

    def quota_used(self, enterprise: str, period: str) -> int:
        """The sum charged in ``period`` by ``enterprise``'s tickets: reserved (issued),
        settled (loaded net), nothing for revoked-before-loading and expired tickets."""

    def get_ticket(self, cti: bytes) -> StoredTicket:
        """``NotFoundError`` if absent."""

    def list_tickets(
        self,
        *,
        state: str | None = None,
        enterprise: str | None = None,
        site: str | None = None,
        limit: int = 1000,
    ) -> list[StoredTicket]:
        """Tickets in issue order; ``enterprise`` matches seller or buyer, ``site`` seller
        site or destination."""

    def revoke_ticket(self, cti: bytes, *, actor: str, at: int) -> StoredTicket:
        """Revoke an issued or loaded ticket (an issued one releases its reservation);
        ``TicketStateError`` in another state, ``NotFoundError`` if absent. Audited."""

    def sweep_tickets(self, *, now_ms: int) -> TicketSweep:
        """Expire issued tickets whose ``exp`` has passed at ``now_ms`` (releasing their
        quota) and flag loaded tickets past ``loaded_at + transit_s`` as ``overdue`` (one
        ``ticket_overdue`` alarm each)."""

    def bundle_contents(self, site: str, *, now_ms: int) -> BundleContents:
        """Bump ``site``'s bundle version and read, in the same transaction, what its bundle
        holds: open tickets (issued, loaded) where it is seller or destination, revoked ctis
        still relevant at ``now_ms`` (before ``exp``, or loaded and within transit time), and
        every vehicle. ``NotFoundError`` for an unknown site."""

    def bundle_version(self, site: str) -> int:
        """The last bundle version handed out for ``site`` (0 if none)."""

    # --- API (tokens, acknowledgements, record queries) ------------------------------------
    def add_token(
        self,
        *,
        digest: bytes,
        role: TokenRole,
        enterprise: str | None = None,
        device: str | None = None,
        checkpoint: str | None = None,
        actor: str,
        at: int,
    ) -> ApiToken:
        """Store a bearer token by its SHA-256 ``digest`` (never the token). ``enterprise``
        is required for, and only for, the ``enterprise`` role (``NotFoundError`` if it does
        not exist); ``checkpoint`` likewise for the ``checkpoint`` role (``NotFoundError`` if
        it is not registered); ``device`` likewise for the ``device`` role (it may be enrolled
        later); ``RegistryError`` otherwise, ``ConflictError`` for a digest in use. Audited
        (``token.create``, without the digest)."""

    def token_by_digest(self, digest: bytes) -> ApiToken | None:
        """The token whose SHA-256 is ``digest``, revoked or not; ``None`` if unknown."""

    def list_tokens(self) -> list[ApiToken]:
        """Every token, by id."""

    def revoke_token(self, token_id: int, *, actor: str, at: int) -> ApiToken:
        """Set ``revoked_at`` (once; revoking again changes nothing). ``NotFoundError`` if
        absent. Audited."""

    def ack_alarm(self, alarm_id: int, *, note: str, actor: str, at: int) -> AlarmAck:
        """Acknowledge an alarm once: ``NotFoundError`` if it does not exist,
        ``ConflictError`` if it was acknowledged already. Audited."""

    def alarm_acks(self, alarm_ids: Sequence[int]) -> dict[int, AlarmAck]:
        """The acknowledgements of those of ``alarm_ids`` that have one."""

    def record_by_id(self, record_id: bytes) -> StoredRecord | None:
        """The stored record (first version) whose id is ``record_id``."""

    def find_records(self, query: RecordQuery) -> list[StoredRecord]:
        """Stored records of every device matching ``query`` (see :class:`RecordQuery`),
        ascending by (``received_at``, ``record_id``) after ``query.after``, at most
        ``query.limit``. Equivocating versions are not included."""

    # --- sightings (operational data: not audited) -------------------------------------------
    def add_sighting(self, value: Sighting) -> Sighting:
        """Store a checkpoint's sighting (``value.id`` is ignored) and return it with its id;
        ids ascend in insertion order. ``NotFoundError`` if its checkpoint or token does not
        exist; ``StoreError`` for a malformed value (a cti not of 16 bytes, a record id not of
        32, a QR sighting without a verdict or a manual one with one). Sightings are
        operational data, many a day per checkpoint, not changes to the registry: they are
        not written to the audit trail (the row itself names the token that recorded it)."""

    def find_sightings(self, query: SightingQuery) -> list[Sighting]:
        """Sightings matching ``query`` (see :class:`SightingQuery`) with id > ``query.after``,
        ascending by id, at most ``query.limit`` (``StoreError`` below 1)."""

    # --- transparency log (central/store/sql_transparency.py, docs/transparency.md) -----------
    # Ingest appends every newly inserted record as the next leaf in its own transaction.
    def log_size(self) -> int:
        """Leaves in the log (every record stored since migration 0008)."""

    def log_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored nodes among ``keys`` ((level, index); see central.transparency.tree)."""

    def log_index(self, record_id: bytes) -> int | None:
        """The leaf number of the record ``record_id``; ``None`` if it is not in the log."""

    def log_entries(self, *, after: int = -1, limit: int = 1000) -> list[LogEntry]:
        """Leaves with index > ``after``, ascending, with their records and leaf hashes."""

    def log_level(
        self, level: int, *, after: int = -1, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        """Stored nodes (index, hash) of ``level`` with index > ``after``, ascending."""

    def unlogged_records(self, *, limit: int = 1000) -> list[StoredRecord]:
        """Stored records that are no leaf of the log (none, unless stored before 0008)."""

    def add_tree_head(self, head: StoredTreeHead) -> StoredTreeHead:
        """Keep a signed tree head; one per size: a head for a size already kept leaves the
        first in place, and that one is returned."""

    def tree_head(self, size: int | None = None) -> StoredTreeHead | None:
        """The kept head of ``size``, or the largest when ``size`` is ``None``."""

    def tree_heads(self, *, after_size: int = -1, limit: int = 1000) -> list[StoredTreeHead]:
        """Kept heads with size > ``after_size``, ascending."""

    # --- metrics ------------------------------------------------------------------------------
    def counts(self) -> StoreCounts:
        """The counts behind ``/metrics``, in one read transaction."""

    # --- feeds (docs/feeds.md; migration 0009) ------------------------------------------------
    def append_feed_items(
        self, items: Sequence[FeedItem], *, now_ms: int, marks: Mapping[str, int] | None = None
    ) -> list[FeedItem]:
        """Append the items whose (feed, key) is new, ids ascending in commit order, with an
        outbox row for every live webhook of the feed that may see each (an enterprise's: items
        naming it among ``parties``); raise each of ``marks`` to its value. Return the items
        added, with ids."""

    def feed_items(
        self,
        feed: FeedName,
        *,
        after: int = 0,
        limit: int = 100,
        party: str | None = None,
        since_at: int | None = None,
    ) -> list[FeedItem]:
        """Items of ``feed`` with id > ``after``, ascending; ``party``: only those it may see;
        ``since_at``: only those that happened at or after it."""

    def feed_marks(self) -> dict[str, int]:
        """How far the feed builders have read (name → value)."""

    def tonnage_facts(self, *, first_day: str, last_day: str) -> list[TonnageFact]:
        """Released net per CST day, site, direction and the coal type of the weighing's
        ticket, both days included."""

    def first_weighing_day(self) -> str | None:
        """The CST day of the earliest released weighing with a net (None if none)."""

    def weighing_rows(self, *, since_ts: int) -> list[WeighingRow]:
        """Released weighings with a net and ``ts`` ≥ ``since_ts``, with their records."""

    def loaded_tickets(self, *, since_ms: int) -> list[StoredTicket]:
        """Tickets loaded at or after ``since_ms``, by loading time."""

    def recent_sightings(self, *, since_ms: int) -> list[Sighting]:
        """Sightings recorded or seen at or after ``since_ms``, by id."""

    def put_tax_declarations(
        self, values: Sequence[TaxDeclaration], *, actor: str, at: int
    ) -> list[TaxOutcome]:
        """Store declarations all or nothing: ``added``, ``replaced`` (other figures for the
        same enterprise and month; audited) or ``unchanged`` (the same again: nothing written).
        ``NotFoundError`` for an unknown enterprise."""

    def tax_declarations(
        self, *, first_period: str, last_period: str, enterprise: str | None = None
    ) -> list[TaxDeclaration]:
        """Declarations of months ``first_period``..``last_period`` (``YYYY-MM``)."""

    def add_webhook(
        self,
        *,
        token: int,
        enterprise: str | None,
        feed: FeedName,
        url: str,
        secret: str,
        actor: str,
        at: int,
    ) -> Webhook:
        """Subscribe (audited); items appended from now on are queued for it."""

    def list_webhooks(self, *, token: int | None = None) -> list[Webhook]:
        """Live subscriptions (of ``token``, if given), by id."""

    def delete_webhook(self, webhook_id: int, *, token: int | None, actor: str, at: int) -> None:
        """End a subscription (of ``token``, if given); its undelivered rows stop.
        ``NotFoundError`` if there is no such live subscription."""

    def due_deliveries(self, *, now_ms: int, limit: int = 100) -> list[Delivery]:
        """Undelivered outbox rows of live webhooks due at ``now_ms``, by webhook, then item."""

    def finish_delivery(self, delivery_id: int, *, at: int) -> None:
        """Mark delivered (once: a delivered row never becomes due again)."""

    def retry_delivery(self, delivery_id: int, *, next_at: int, error: str) -> None:
        """Count a failed attempt and make the row due again at ``next_at``."""

    def webhook_backlog(self) -> int:
        """Outbox rows of live webhooks not delivered yet (the ``/metrics`` gauge)."""
