-- The delivery journal (`offline.durable_delivery`): a message queued for an online connection is kept as an
-- offline stanza marked in flight until the connection acknowledges it. In-flight rows are not offline storage
-- (not taken at login, not counted against the quota); a connection that ends without acknowledging clears the
-- mark, and so does the next start after a crash.
ALTER TABLE offline_stanzas ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0 CHECK (in_flight IN (0, 1));

CREATE INDEX offline_stanzas_in_flight ON offline_stanzas (in_flight) WHERE in_flight = 1;
