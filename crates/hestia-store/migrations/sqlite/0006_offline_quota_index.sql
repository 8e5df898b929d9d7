-- The quota check of every offline store counts the account's stored (not in-flight) stanzas.
-- This partial index answers that count from the index alone, without a table lookup per row.
CREATE INDEX offline_stanzas_stored ON offline_stanzas (owner) WHERE in_flight = 0;
