-- Schema 9: deliveries refused for their content, kept as events.
--
-- A webhook delivery of an event whose body is not JSON, breaks the
-- event's contract or has no key is kept in events with refused set to
-- why (its violations): given to no wait, never deleted for its keep,
-- until an event of the same source and id that is not refused takes its
-- place. Events written before keep '' (not refused).
ALTER TABLE events ADD COLUMN refused text NOT NULL DEFAULT '';
-- plumb events list --refused lists them by arrival.
CREATE INDEX events_refused ON events (received_at) WHERE refused <> '';
