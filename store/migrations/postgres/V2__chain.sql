-- The hash chain (see the store's `chain` module): each event's link, and
-- the newest link of each company's chain (the nil id for events of no
-- company), both written by the writer that holds the advisory lock.
ALTER TABLE es_events ADD COLUMN chain BYTEA;

CREATE TABLE es_chain_heads (
    chain UUID PRIMARY KEY,
    position BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
