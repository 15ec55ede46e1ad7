-- Baton SQLite schema, version 3: event handlers and Baton's own event sink.
-- (IF NOT EXISTS: safe to apply whatever the order of the migrations around it.)

CREATE TABLE IF NOT EXISTS event_handlers (
    name   TEXT PRIMARY KEY NOT NULL,
    event  TEXT NOT NULL,
    active INTEGER NOT NULL,
    json   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_handlers_event ON event_handlers (event, active);

-- Append-only record of every message published to Baton's own sink (EVENT tasks).
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    event      TEXT NOT NULL,
    message    TEXT NOT NULL,
    time       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_event ON events (event, id);
