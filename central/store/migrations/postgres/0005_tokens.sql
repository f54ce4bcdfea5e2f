-- API bearer tokens: only the SHA-256 of each token is kept (the token itself is printed once
-- by `coalgate central token create`). Times are UTC milliseconds.

CREATE TABLE api_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest     bytea NOT NULL UNIQUE CHECK (length(digest) = 32),  -- SHA-256 of the token
    role       text NOT NULL
               CHECK (role IN ('regulator', 'admin', 'enterprise', 'checkpoint', 'platform',
                               'device')),
    enterprise text REFERENCES enterprises (id),
    device     text,                                 -- may enroll before the device exists
    created_at bigint NOT NULL,
    revoked_at bigint,
    CHECK ((role = 'enterprise') = (enterprise IS NOT NULL)),
    CHECK ((role = 'device') = (device IS NOT NULL))
);
