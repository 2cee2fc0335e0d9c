-- The events of a command found by its id (`EventStore::find_command`), so
-- that the command log need not follow the whole log from its start.
CREATE INDEX IF NOT EXISTS es_events_command ON es_events (command_id) WHERE command_id IS NOT NULL;
