-- The transparency log (WIRE.md "Signed tree head", docs/transparency.md): every record that
-- ingest stores is appended, in the transaction that stores it, as the next leaf. Leaves are
-- numbered from 0 in acceptance (commit) order; the tree keeps every complete subtree's hash
-- once, so proofs and roots read O(log n) nodes (central/transparency/tree.py).
-- Records stored before this migration are not in the log (`coalgate audit scan` names them).

-- One row: the number of leaves. Ingest bumps it last in its transaction: the row lock
-- serialises appends, so leaf numbers follow commit order and never leave a hole.
CREATE TABLE transparency_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL CHECK (size >= 0)
) STRICT;
INSERT INTO transparency_state (id, size) VALUES (1, 0);

-- Leaf number idx is the record record_id; a record is a leaf at most once.
CREATE TABLE transparency_leaves (
    idx         INTEGER PRIMARY KEY CHECK (idx >= 0),
    record_id   BLOB NOT NULL UNIQUE REFERENCES records (record_id),
    appended_at INTEGER NOT NULL  -- central's clock at the batch
) STRICT;

-- (level, idx): the complete subtree of 2^level leaves from leaf idx * 2^level; level 0 holds
-- the leaf hashes SHA-256(0x00 || COSE bytes). Written once, never changed.
CREATE TABLE transparency_nodes (
    level INTEGER NOT NULL CHECK (level >= 0),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Signed tree heads as published (COSE bytes), one per tree size: the first signed at it.
CREATE TABLE tree_heads (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    ts   INTEGER NOT NULL,
    kid  TEXT NOT NULL,
    raw  BLOB NOT NULL
) STRICT;
