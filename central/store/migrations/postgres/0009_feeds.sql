-- Feeds for downstream platforms (docs/feeds.md): the journal of feed items served by cursor,
-- the builders' watermarks, tax declarations, and webhook subscriptions with their outbox.
-- Times are UTC milliseconds; weights integer kilograms; money integer yuan.

-- Append-only: one row per item (a credit event, a finished trip, a truck anomaly). Ids are
-- handed out in commit order (PostgreSQL: under an advisory lock), so a platform paging by id
-- never skips an item that commits late; (feed, key) keeps an item from being added twice.
CREATE TABLE feed_items (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed       text NOT NULL CHECK (feed IN ('credit', 'trucks')),
    key        text NOT NULL,              -- what the item was derived from, e.g. alarm:17
    kind       text NOT NULL,
    enterprise text,                       -- whose item it is (credit); null when nobody's
    parties    text NOT NULL DEFAULT '',   -- enterprises that may see it, ',a,b,' (trucks)
    subject    text NOT NULL,              -- enterprise id (credit) or plate (trucks)
    at         bigint NOT NULL,           -- when it happened (edge or central clock)
    added_at   bigint NOT NULL,           -- central's clock when it was added
    body       jsonb NOT NULL,
    UNIQUE (feed, key)
);
CREATE INDEX feed_items_feed ON feed_items (feed, id);
CREATE INDEX feed_items_enterprise ON feed_items (feed, enterprise, at);

-- How far each builder has read its sources (see central.feeds.service).
CREATE TABLE feed_marks (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);

-- Declared sales per enterprise and month (YYYY-MM, China Standard Time), as the tax platform
-- or the enterprise submitted them; a re-submission replaces the figures (audited).
CREATE TABLE tax_declarations (
    enterprise   text NOT NULL REFERENCES enterprises (id),
    period       text NOT NULL,
    sold_kg      bigint NOT NULL CHECK (sold_kg >= 0),
    value_yuan   bigint NOT NULL CHECK (value_yuan >= 0),
    submitted_at bigint NOT NULL,
    submitted_by text NOT NULL,
    PRIMARY KEY (enterprise, period)
);

CREATE TABLE webhooks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token      bigint NOT NULL REFERENCES api_tokens (id),
    enterprise text REFERENCES enterprises (id),   -- an enterprise token's scope
    feed       text NOT NULL CHECK (feed IN ('credit', 'trucks')),
    url        text NOT NULL,
    secret     text NOT NULL,
    created_at bigint NOT NULL,
    deleted_at bigint
);

-- One row per (webhook, item) to deliver; delivered_at is set once the receiver said 2xx.
CREATE TABLE webhook_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook      bigint NOT NULL REFERENCES webhooks (id),
    item         bigint NOT NULL REFERENCES feed_items (id),
    attempts     bigint NOT NULL DEFAULT 0,
    next_at      bigint NOT NULL,
    delivered_at bigint,
    last_error   text,
    UNIQUE (webhook, item)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL;
