-- Tonnage: one fact per newly stored released weighing with a net, and the daily rollup.
-- day is the China Standard Time (UTC+8) date of the record's ts, computed by the store.
-- The fact table is time-partitioned by day; its key includes day because a unique key on a
-- partitioned table (or a hypertable) must contain the partitioning column. records already
-- guarantees one fact per (device, seq).

-- @timescaledb
-- Needs timescaledb in shared_preload_libraries; the runner chose this section because
-- pg_available_extensions lists it.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE weighings (
    day       date NOT NULL,
    device    text NOT NULL,
    seq       bigint NOT NULL,
    site      text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('out', 'in')),
    ts        bigint NOT NULL,
    net_kg    bigint NOT NULL,
    plate     text NOT NULL,
    ticket    bytea,
    PRIMARY KEY (day, device, seq)
);
SELECT create_hypertable('weighings', 'day', chunk_time_interval => INTERVAL '1 month');

-- Real-time aggregate (materialized_only = false): rows newer than the last refresh are
-- aggregated on read. A weighing that arrives for a day older than start_offset is counted
-- only after CALL refresh_continuous_aggregate('tonnage_daily', NULL, NULL).
CREATE MATERIALIZED VIEW tonnage_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', day) AS day,
       site,
       direction,
       sum(net_kg) AS net_kg,
       count(*) AS weighings
FROM weighings
GROUP BY time_bucket(INTERVAL '1 day', day), site, direction
WITH NO DATA;

SELECT add_continuous_aggregate_policy(
    'tonnage_daily',
    start_offset => INTERVAL '90 days',
    end_offset => NULL,
    schedule_interval => INTERVAL '10 minutes'
);
-- @plain
-- Monthly range partitions (weighings_pYYYY_MM) are created by the store, on demand, for the
-- months a batch touches, in a short transaction of their own before the batch.
CREATE TABLE weighings (
    day       date NOT NULL,
    device    text NOT NULL,
    seq       bigint NOT NULL,
    site      text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('out', 'in')),
    ts        bigint NOT NULL,
    net_kg    bigint NOT NULL,
    plate     text NOT NULL,
    ticket    bytea,
    PRIMARY KEY (day, device, seq)
) PARTITION BY RANGE (day);

-- Upserted by ingest in the same transaction as the weighings it adds.
CREATE TABLE tonnage_daily (
    day       date NOT NULL,
    site      text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('out', 'in')),
    net_kg    bigint NOT NULL,
    weighings bigint NOT NULL,
    PRIMARY KEY (day, site, direction)
);
-- @end

CREATE INDEX weighings_site_day ON weighings (site, day);
