-- Registry: enterprises, sites, checkpoints, vehicles, devices, and the audit trail.
-- Times are UTC milliseconds (bigint); weights integer kilograms.

CREATE TABLE enterprises (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    credit_code text NOT NULL UNIQUE,        -- unified social credit code
    land_mu     double precision NOT NULL CHECK (land_mu >= 0),
    capacity_t  bigint NOT NULL CHECK (capacity_t >= 0)
);

CREATE TABLE sites (
    id         text PRIMARY KEY,
    enterprise text NOT NULL REFERENCES enterprises (id),
    kind       text NOT NULL
               CHECK (kind IN ('coal_mine', 'magnesium_smelter', 'semi_coke_plant', 'other')),
    name       text NOT NULL,
    lat        double precision,
    lon        double precision
);
CREATE INDEX sites_enterprise ON sites (enterprise);

CREATE TABLE checkpoints (
    id   text PRIMARY KEY,
    name text NOT NULL,
    lat  double precision NOT NULL,
    lon  double precision NOT NULL
);

CREATE TABLE vehicles (
    plate        text PRIMARY KEY,
    axles        integer NOT NULL CHECK (axles > 0),
    kind         text NOT NULL CHECK (kind IN ('rigid', 'combination')),
    single_drive boolean NOT NULL,
    tare_kg      bigint CHECK (tare_kg > 0),
    trailer      text
);

CREATE TABLE devices (
    id                text PRIMARY KEY,
    site              text NOT NULL REFERENCES sites (id),
    public_key        bytea NOT NULL CHECK (length(public_key) = 32),
    certificate       bytea NOT NULL,
    state             text NOT NULL CHECK (state IN ('active', 'revoked')),
    enrolled_at       bigint NOT NULL,
    revoked_at        bigint,
    revoked_above_seq bigint,
    CHECK ((state = 'revoked') = (revoked_at IS NOT NULL AND revoked_above_seq IS NOT NULL))
);
CREATE INDEX devices_site ON devices (site);

CREATE TABLE audit (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     bigint NOT NULL,
    actor  text NOT NULL,
    action text NOT NULL,
    detail jsonb NOT NULL
);
CREATE INDEX audit_at ON audit (at);
