-- Ingest: records verbatim, equivocating versions, quarantine, alarms, heads, gaps, status.

-- One row per (device, seq): the first version that arrived, its COSE bytes verbatim. A plain
-- table, because a unique key cannot live on a time-partitioned one; BRIN on arrival time,
-- which grows with the physical order of the rows.
CREATE TABLE records (
    device      text NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),
    record_id   bytea NOT NULL UNIQUE CHECK (length(record_id) = 32),  -- SHA-256 of raw
    site        text NOT NULL,
    ts          bigint NOT NULL,          -- edge clock
    type        text NOT NULL,
    received_at bigint NOT NULL,
    raw         bytea NOT NULL,
    PRIMARY KEY (device, seq)
);
CREATE INDEX records_received_at ON records USING brin (received_at);

-- Second (and later) versions signed for a stored (device, seq): evidence, never leaves.
CREATE TABLE equivocations (
    record_id   bytea PRIMARY KEY CHECK (length(record_id) = 32),
    device      text NOT NULL,
    seq         bigint NOT NULL,
    site        text NOT NULL,
    ts          bigint NOT NULL,
    type        text NOT NULL,
    received_at bigint NOT NULL,
    raw         bytea NOT NULL
);
CREATE INDEX equivocations_device_seq ON equivocations (device, seq);

-- Bytes central could not accept, once per (bytes, reason); repeats only count.
CREATE TABLE quarantine (
    digest     bytea NOT NULL CHECK (length(digest) = 32),  -- SHA-256 of raw
    reason     text NOT NULL,
    raw        bytea NOT NULL,
    detail     text NOT NULL,
    topic      text NOT NULL,
    device     text,
    count      bigint NOT NULL CHECK (count >= 1),
    first_seen bigint NOT NULL,
    last_seen  bigint NOT NULL,
    PRIMARY KEY (digest, reason)
);
CREATE INDEX quarantine_last_seen ON quarantine (last_seen);

-- When a quarantine alarm was last raised per device ('' when none is known) and reason.
CREATE TABLE quarantine_alarms (
    device      text NOT NULL,
    reason      text NOT NULL,
    last_raised bigint NOT NULL,
    PRIMARY KEY (device, reason)
);

-- Ids are handed out under a transaction-level advisory lock, so they commit in order and a
-- reader paging by id never skips one that commits late.
CREATE TABLE alarms (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text NOT NULL,
    severity  text NOT NULL CHECK (severity IN ('info', 'warning', 'alarm')),
    raised_at bigint NOT NULL,
    device    text,
    site      text,
    detail    jsonb NOT NULL,
    ref       bytea
);
CREATE INDEX alarms_device ON alarms (device, id);

-- Per device: records 1..contiguous are all stored; max_seq is the highest stored.
CREATE TABLE device_heads (
    device     text PRIMARY KEY,
    site       text NOT NULL,
    contiguous bigint NOT NULL CHECK (contiguous >= 0),
    max_seq    bigint NOT NULL CHECK (max_seq >= contiguous)
);
CREATE INDEX device_heads_behind ON device_heads (device) WHERE max_seq > contiguous;

-- Gap alarms raised, once per device and first missing seq.
CREATE TABLE gaps (
    device        text NOT NULL,
    first_missing bigint NOT NULL,
    raised_at     bigint NOT NULL,
    alarm_id      bigint NOT NULL REFERENCES alarms (id),
    PRIMARY KEY (device, first_missing)
);

CREATE TABLE device_status (
    device     text PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('online', 'offline')),
    since      bigint,
    version    text,
    updated_at bigint NOT NULL
);
