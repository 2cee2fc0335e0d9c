-- Read-model rows: one table for all read models, keyed by (table, key).
-- Keys sort bytewise (COLLATE "C") like the in-memory store, so prefix scans
-- and cursors behave the same on both.
CREATE TABLE rm_rows (
    tbl TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (tbl, key)
);

-- Each projector's checkpoint, written in the same transaction as its rows.
CREATE TABLE rm_checkpoints (
    projector TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
