-- Read-model rows, keyed by (table, generation, key). Keys sort bytewise
-- (COLLATE "C") like the in-memory store, so prefix scans and cursors behave
-- the same on both. A projector rebuilt without downtime writes a new
-- generation beside the one being served, then takes over.
CREATE TABLE rm_rows (
    tbl TEXT NOT NULL,
    generation BIGINT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (tbl, generation, key)
);

-- The generation each table is served from (0 when absent).
CREATE TABLE rm_tables (
    tbl TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);

-- The generation each projector's runner writes (0 when absent).
CREATE TABLE rm_projectors (
    projector TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);

-- Each projector's checkpoint per generation, written in the same transaction
-- as its rows.
CREATE TABLE rm_checkpoints (
    projector TEXT NOT NULL,
    generation BIGINT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (projector, generation)
);

-- Generations are numbered once for all projectors.
CREATE SEQUENCE rm_generations START 1;
