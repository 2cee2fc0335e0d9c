-- The event log. Positions are handed out by the writer of the transaction
-- that holds the event store's advisory lock, so they are dense and commit in
-- order. Times are nanoseconds since the epoch, as in the embedded store.
CREATE TABLE es_events (
    position BIGINT PRIMARY KEY,
    stream TEXT NOT NULL,
    version BIGINT NOT NULL,
    id UUID NOT NULL UNIQUE,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data BYTEA NOT NULL,
    tenant UUID,
    actor UUID,
    command_id UUID,
    correlation_id UUID,
    causation_id UUID,
    client_address TEXT,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    UNIQUE (stream, version)
);

-- Each stream's current version (-1: metadata only) and retention metadata.
CREATE TABLE es_streams (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    max_age_seconds BIGINT,
    truncate_before BIGINT
);
