-- The transparency log (WIRE.md "Signed tree head", docs/transparency.md): every record that
-- ingest stores is appended, in the transaction that stores it, as the next leaf. Leaves are
-- numbered from 0 in acceptance (commit) order; the tree keeps every complete subtree's hash
-- once, so proofs and roots read O(log n) nodes (central/transparency/tree.py).
-- Records stored before this migration are not in the log (`coalgate audit scan` names them).

-- One row: the number of leaves. Ingest bumps it last in its transaction: the row lock
-- serialises appends, so leaf numbers follow commit order and never leave a hole.
CREATE TABLE transparency_state (
    id   integer PRIMARY KEY CHECK (id = 1),
    size bigint NOT NULL CHECK (size >= 0)
);
INSERT INTO transparency_state (id, size) VALUES (1, 0);

-- Leaf number idx is the record record_id; a record is a leaf at most once.
CREATE TABLE transparency_leaves (
    idx         bigint PRIMARY KEY CHECK (idx >= 0),
    record_id   bytea NOT NULL UNIQUE REFERENCES records (record_id),
    appended_at bigint NOT NULL  -- central's clock at the batch
);

-- (level, idx): the complete subtree of 2^level leaves from leaf idx * 2^level; level 0 holds
-- the leaf hashes SHA-256(0x00 || COSE bytes). Written once, never changed.
CREATE TABLE transparency_nodes (
    level integer NOT NULL CHECK (level >= 0),
    idx   bigint NOT NULL CHECK (idx >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- Signed tree heads as published (COSE bytes), one per tree size: the first signed at it.
CREATE TABLE tree_heads (
    size bigint PRIMARY KEY CHECK (size >= 0),
    root bytea NOT NULL CHECK (length(root) = 32),
    ts   bigint NOT NULL,
    kid  text NOT NULL,
    raw  bytea NOT NULL
);
