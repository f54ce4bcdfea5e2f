-- Feeds for downstream platforms (docs/feeds.md): the journal of feed items served by cursor,
-- the builders' watermarks, tax declarations, and webhook subscriptions with their outbox.
-- Times are UTC milliseconds; weights integer kilograms; money integer yuan.

-- Append-only: one row per item (a credit event, a finished trip, a truck anomaly). Ids are
-- handed out in commit order (PostgreSQL: under an advisory lock), so a platform paging by id
-- never skips an item that commits late; (feed, key) keeps an item from being added twice.
CREATE TABLE feed_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    feed       TEXT NOT NULL CHECK (feed IN ('credit', 'trucks')),
    key        TEXT NOT NULL,              -- what the item was derived from, e.g. alarm:17
    kind       TEXT NOT NULL,
    enterprise TEXT,                       -- whose item it is (credit); null when nobody's
    parties    TEXT NOT NULL DEFAULT '',   -- enterprises that may see it, ',a,b,' (trucks)
    subject    TEXT NOT NULL,              -- enterprise id (credit) or plate (trucks)
    at         INTEGER NOT NULL,           -- when it happened (edge or central clock)
    added_at   INTEGER NOT NULL,           -- central's clock when it was added
    body       TEXT NOT NULL CHECK (json_valid(body)),
    UNIQUE (feed, key)
) STRICT;
CREATE INDEX feed_items_feed ON feed_items (feed, id);
CREATE INDEX feed_items_enterprise ON feed_items (feed, enterprise, at);

-- How far each builder has read its sources (see central.feeds.service).
CREATE TABLE feed_marks (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

-- Declared sales per enterprise and month (YYYY-MM, China Standard Time), as the tax platform
-- or the enterprise submitted them; a re-submission replaces the figures (audited).
CREATE TABLE tax_declarations (
    enterprise   TEXT NOT NULL REFERENCES enterprises (id),
    period       TEXT NOT NULL,
    sold_kg      INTEGER NOT NULL CHECK (sold_kg >= 0),
    value_yuan   INTEGER NOT NULL CHECK (value_yuan >= 0),
    submitted_at INTEGER NOT NULL,
    submitted_by TEXT NOT NULL,
    PRIMARY KEY (enterprise, period)
) STRICT;

CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token      INTEGER NOT NULL REFERENCES api_tokens (id),
    enterprise TEXT REFERENCES enterprises (id),   -- an enterprise token's scope
    feed       TEXT NOT NULL CHECK (feed IN ('credit', 'trucks')),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;

-- One row per (webhook, item) to deliver; delivered_at is set once the receiver said 2xx.
CREATE TABLE webhook_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook      INTEGER NOT NULL REFERENCES webhooks (id),
    item         INTEGER NOT NULL REFERENCES feed_items (id),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error   TEXT,
    UNIQUE (webhook, item)
) STRICT;
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL;
