-- The keys that seal personal payloads (see the store's `sealing` module):
-- one per person and one per company; a destroyed key keeps its row with
-- no key, so that it is never made again.
CREATE TABLE es_keys (
    subject UUID PRIMARY KEY,
    tenant UUID NOT NULL,
    key BYTEA
);
CREATE INDEX es_keys_tenant ON es_keys (tenant);
