-- Grants held by application servers (ISO/IEC 14543-5-9 §7.3, §8.3): an application server named `app` may send
-- and receive stanzas on behalf of `grantor`, under the grantor's own relationships and rights.
CREATE TABLE app_grants (
    app        TEXT    NOT NULL,
    grantor    TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app, grantor)
);

CREATE INDEX app_grants_by_grantor ON app_grants (grantor);
