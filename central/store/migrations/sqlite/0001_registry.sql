-- Registry: enterprises, sites, checkpoints, vehicles, devices, and the audit trail.
-- Times are UTC milliseconds (INTEGER); weights integer kilograms.

CREATE TABLE enterprises (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    credit_code TEXT NOT NULL UNIQUE,        -- unified social credit code
    land_mu     REAL NOT NULL CHECK (land_mu >= 0),
    capacity_t  INTEGER NOT NULL CHECK (capacity_t >= 0)
) STRICT;

CREATE TABLE sites (
    id         TEXT PRIMARY KEY,
    enterprise TEXT NOT NULL REFERENCES enterprises (id),
    kind       TEXT NOT NULL
               CHECK (kind IN ('coal_mine', 'magnesium_smelter', 'semi_coke_plant', 'other')),
    name       TEXT NOT NULL,
    lat        REAL,
    lon        REAL
) STRICT;
CREATE INDEX sites_enterprise ON sites (enterprise);

CREATE TABLE checkpoints (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    lat  REAL NOT NULL,
    lon  REAL NOT NULL
) STRICT;

CREATE TABLE vehicles (
    plate        TEXT PRIMARY KEY,
    axles        INTEGER NOT NULL CHECK (axles > 0),
    kind         TEXT NOT NULL CHECK (kind IN ('rigid', 'combination')),
    single_drive INTEGER NOT NULL CHECK (single_drive IN (0, 1)),
    tare_kg      INTEGER CHECK (tare_kg > 0),
    trailer      TEXT
) STRICT;

CREATE TABLE devices (
    id                TEXT PRIMARY KEY,
    site              TEXT NOT NULL REFERENCES sites (id),
    public_key        BLOB NOT NULL CHECK (length(public_key) = 32),
    certificate       BLOB NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
    enrolled_at       INTEGER NOT NULL,
    revoked_at        INTEGER,
    revoked_above_seq INTEGER,
    CHECK ((state = 'revoked') = (revoked_at IS NOT NULL AND revoked_above_seq IS NOT NULL))
) STRICT;
CREATE INDEX devices_site ON devices (site);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL CHECK (json_valid(detail))
) STRICT;
CREATE INDEX audit_at ON audit (at);
