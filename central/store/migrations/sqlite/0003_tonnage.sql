-- Tonnage: one fact per newly stored released weighing with a net, and the daily rollup.
-- day is the China Standard Time (UTC+8) date of the record's ts, as 'YYYY-MM-DD'.

CREATE TABLE weighings (
    day       TEXT NOT NULL,
    device    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    site      TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    ts        INTEGER NOT NULL,
    net_kg    INTEGER NOT NULL,
    plate     TEXT NOT NULL,
    ticket    BLOB,
    PRIMARY KEY (device, seq)
) STRICT;
CREATE INDEX weighings_day_site ON weighings (day, site);

-- Maintained by ingest in the same transaction as the weighings it adds.
CREATE TABLE tonnage_daily (
    day       TEXT NOT NULL,
    site      TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    net_kg    INTEGER NOT NULL,
    weighings INTEGER NOT NULL,
    PRIMARY KEY (day, site, direction)
) STRICT;
