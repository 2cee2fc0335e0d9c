-- The stretches of companies' histories moved out of the log into archive
-- files (see the store's `cold` module): positions are never handed out
-- again, and the chain goes on from each segment's anchor.
CREATE TABLE es_cold_segments (
    last_position BIGINT PRIMARY KEY,
    first_position BIGINT NOT NULL,
    tenant UUID NOT NULL,
    events BIGINT NOT NULL,
    anchor BYTEA NOT NULL,
    file TEXT NOT NULL
);
