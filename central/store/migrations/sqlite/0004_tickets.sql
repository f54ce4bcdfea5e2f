-- Tickets: e-tickets as issued (COSE bytes verbatim), their state and flags, the weighing
-- records that moved them, what each charges against its seller's quota, and per-site bundle
-- versions. Times are UTC ms except iat/exp (CWT seconds); weights integer kg.

CREATE TABLE tickets (
    cti            BLOB PRIMARY KEY CHECK (length(cti) = 16),
    no             TEXT NOT NULL UNIQUE,
    raw            BLOB NOT NULL,            -- the signed ticket, exactly as issued
    seller         TEXT NOT NULL REFERENCES enterprises (id),
    buyer          TEXT NOT NULL,
    seller_site    TEXT NOT NULL REFERENCES sites (id),
    dest_site      TEXT NOT NULL REFERENCES sites (id),
    plate          TEXT NOT NULL,
    coal           TEXT NOT NULL,
    max_net_kg     INTEGER NOT NULL CHECK (max_net_kg > 0),
    iat            INTEGER NOT NULL,
    exp            INTEGER NOT NULL CHECK (exp > iat),
    transit_s      INTEGER NOT NULL CHECK (transit_s > 0),
    issued_at      INTEGER NOT NULL,
    -- The quota ledger: the period the ticket is charged to and what it charges now
    -- (max_net_kg reserved, the source net settled, 0 released).
    quota_period   TEXT NOT NULL,
    quota_kg       INTEGER NOT NULL CHECK (quota_kg >= 0),
    state          TEXT NOT NULL
                   CHECK (state IN ('issued', 'loaded', 'arrived', 'closed', 'revoked', 'expired')),
    flags          TEXT NOT NULL DEFAULT '',  -- sorted, comma-separated
    source_net_kg  INTEGER,
    loaded_at      INTEGER,
    loaded_record  BLOB,                     -- record id of the outbound weighing
    dest_net_kg    INTEGER,
    arrived_at     INTEGER,
    arrived_record BLOB,                     -- record id of the inbound weighing
    closed_at      INTEGER,
    revoked_at     INTEGER,
    expired_at     INTEGER
) STRICT;
CREATE INDEX tickets_quota ON tickets (seller, quota_period);
CREATE INDEX tickets_seller_site ON tickets (seller_site, state);
CREATE INDEX tickets_dest_site ON tickets (dest_site, state);
CREATE INDEX tickets_open ON tickets (state) WHERE state IN ('issued', 'loaded');

-- The last version of each site's bundle (WIRE.md: strictly increasing).
CREATE TABLE bundle_versions (
    site    TEXT PRIMARY KEY REFERENCES sites (id),
    version INTEGER NOT NULL CHECK (version >= 1)
) STRICT;
