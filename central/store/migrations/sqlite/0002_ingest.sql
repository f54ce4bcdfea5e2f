-- Ingest: records verbatim, equivocating versions, quarantine, alarms, heads, gaps, status.

-- One row per (device, seq): the first version that arrived, its COSE bytes verbatim.
CREATE TABLE records (
    device      TEXT NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    record_id   BLOB NOT NULL UNIQUE CHECK (length(record_id) = 32),  -- SHA-256 of raw
    site        TEXT NOT NULL,
    ts          INTEGER NOT NULL,          -- edge clock
    type        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    raw         BLOB NOT NULL,
    PRIMARY KEY (device, seq)
) STRICT;
CREATE INDEX records_received_at ON records (received_at);

-- Second (and later) versions signed for a stored (device, seq): evidence, never leaves.
CREATE TABLE equivocations (
    record_id   BLOB PRIMARY KEY CHECK (length(record_id) = 32),
    device      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    site        TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    type        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    raw         BLOB NOT NULL
) STRICT;
CREATE INDEX equivocations_device_seq ON equivocations (device, seq);

-- Bytes central could not accept, once per (bytes, reason); repeats only count.
CREATE TABLE quarantine (
    digest     BLOB NOT NULL CHECK (length(digest) = 32),  -- SHA-256 of raw
    reason     TEXT NOT NULL,
    raw        BLOB NOT NULL,
    detail     TEXT NOT NULL,
    topic      TEXT NOT NULL,
    device     TEXT,
    count      INTEGER NOT NULL CHECK (count >= 1),
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (digest, reason)
) STRICT;
CREATE INDEX quarantine_last_seen ON quarantine (last_seen);

-- When a quarantine alarm was last raised per device ('' when none is known) and reason.
CREATE TABLE quarantine_alarms (
    device      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    last_raised INTEGER NOT NULL,
    PRIMARY KEY (device, reason)
) STRICT;

CREATE TABLE alarms (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: readers page by id
    kind      TEXT NOT NULL,
    severity  TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'alarm')),
    raised_at INTEGER NOT NULL,
    device    TEXT,
    site      TEXT,
    detail    TEXT NOT NULL CHECK (json_valid(detail)),
    ref       BLOB
) STRICT;
CREATE INDEX alarms_device ON alarms (device, id);

-- Per device: records 1..contiguous are all stored; max_seq is the highest stored.
CREATE TABLE device_heads (
    device     TEXT PRIMARY KEY,
    site       TEXT NOT NULL,
    contiguous INTEGER NOT NULL CHECK (contiguous >= 0),
    max_seq    INTEGER NOT NULL CHECK (max_seq >= contiguous)
) STRICT;

-- Gap alarms raised, once per device and first missing seq.
CREATE TABLE gaps (
    device        TEXT NOT NULL,
    first_missing INTEGER NOT NULL,
    raised_at     INTEGER NOT NULL,
    alarm_id      INTEGER NOT NULL REFERENCES alarms (id),
    PRIMARY KEY (device, first_missing)
) STRICT;

CREATE TABLE device_status (
    device     TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('online', 'offline')),
    since      INTEGER,
    version    TEXT,
    updated_at INTEGER NOT NULL
) STRICT;
