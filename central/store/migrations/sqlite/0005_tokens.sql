-- API bearer tokens: only the SHA-256 of each token is kept (the token itself is printed once
-- by `coalgate central token create`). Times are UTC milliseconds.

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    digest     BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),  -- SHA-256 of the token
    role       TEXT NOT NULL
               CHECK (role IN ('regulator', 'admin', 'enterprise', 'checkpoint', 'platform',
                               'device')),
    enterprise TEXT REFERENCES enterprises (id),
    device     TEXT,                                 -- may enroll before the device exists
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((role = 'enterprise') = (enterprise IS NOT NULL)),
    CHECK ((role = 'device') = (device IS NOT NULL))
) STRICT;
