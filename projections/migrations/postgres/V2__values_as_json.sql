-- Values are kept as JSON text rather than JSONB: JSONB cannot hold the
-- character U+0000 ("\u0000 cannot be converted to text"), and events may
-- carry it (inbound mail is kept as sent). No query looks inside a value, so
-- nothing needs JSONB's parsed form; JSON keeps any text serde_json writes.
ALTER TABLE rm_rows ALTER COLUMN value TYPE JSON USING value::json;
