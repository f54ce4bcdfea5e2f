-- Tickets: e-tickets as issued (COSE bytes verbatim), their state and flags, the weighing
-- records that moved them, what each charges against its seller's quota, and per-site bundle
-- versions. Times are UTC ms except iat/exp (CWT seconds); weights integer kg.

CREATE TABLE tickets (
    cti            bytea PRIMARY KEY CHECK (length(cti) = 16),
    no             text NOT NULL UNIQUE,
    raw            bytea NOT NULL,            -- the signed ticket, exactly as issued
    seller         text NOT NULL REFERENCES enterprises (id),
    buyer          text NOT NULL,
    seller_site    text NOT NULL REFERENCES sites (id),
    dest_site      text NOT NULL REFERENCES sites (id),
    plate          text NOT NULL,
    coal           text NOT NULL,
    max_net_kg     bigint NOT NULL CHECK (max_net_kg > 0),
    iat            bigint NOT NULL,
    exp            bigint NOT NULL CHECK (exp > iat),
    transit_s      bigint NOT NULL CHECK (transit_s > 0),
    issued_at      bigint NOT NULL,
    -- The quota ledger: the period the ticket is charged to and what it charges now
    -- (max_net_kg reserved, the source net settled, 0 released).
    quota_period   text NOT NULL,
    quota_kg       bigint NOT NULL CHECK (quota_kg >= 0),
    state          text NOT NULL
                   CHECK (state IN ('issued', 'loaded', 'arrived', 'closed', 'revoked', 'expired')),
    flags          text NOT NULL DEFAULT '',  -- sorted, comma-separated
    source_net_kg  bigint,
    loaded_at      bigint,
    loaded_record  bytea,                     -- record id of the outbound weighing
    dest_net_kg    bigint,
    arrived_at     bigint,
    arrived_record bytea,                     -- record id of the inbound weighing
    closed_at      bigint,
    revoked_at     bigint,
    expired_at     bigint
);
CREATE INDEX tickets_quota ON tickets (seller, quota_period);
CREATE INDEX tickets_seller_site ON tickets (seller_site, state);
CREATE INDEX tickets_dest_site ON tickets (dest_site, state);
CREATE INDEX tickets_open ON tickets (state) WHERE state IN ('issued', 'loaded');

-- The last version of each site's bundle (WIRE.md: strictly increasing).
CREATE TABLE bundle_versions (
    site    text PRIMARY KEY REFERENCES sites (id),
    version bigint NOT NULL CHECK (version >= 1)
);
