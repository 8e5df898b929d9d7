-- Accounts (users and devices), device information and invitation tokens (ISO/IEC 14543-5-8 §7).
-- Credentials are salted SCRAM keys only, never passwords.

CREATE TABLE accounts (
    localpart         TEXT    NOT NULL PRIMARY KEY,
    kind              TEXT    NOT NULL CHECK (kind IN ('user', 'device')),
    sha1_salt         BLOB    NOT NULL,
    sha1_iterations   INTEGER NOT NULL CHECK (sha1_iterations >= 0),
    sha1_stored_key   BLOB    NOT NULL,
    sha1_server_key   BLOB    NOT NULL,
    sha256_salt       BLOB    NOT NULL,
    sha256_iterations INTEGER NOT NULL CHECK (sha256_iterations >= 0),
    sha256_stored_key BLOB    NOT NULL,
    sha256_server_key BLOB    NOT NULL,
    is_disabled       BOOLEAN NOT NULL DEFAULT 0 CHECK (is_disabled IN (0, 1)),
    user_name         TEXT,
    user_email        TEXT,
    created_at        INTEGER NOT NULL
);

CREATE INDEX accounts_by_kind ON accounts (kind, localpart);

-- One row per device account; removed with its account.
CREATE TABLE devices (
    localpart    TEXT NOT NULL PRIMARY KEY REFERENCES accounts (localpart) ON DELETE CASCADE,
    device_type  TEXT NOT NULL,
    model        TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    serial       TEXT NOT NULL,
    vcode_salt   BLOB,
    vcode_hash   BLOB,
    CHECK ((vcode_salt IS NULL) = (vcode_hash IS NULL))
);

CREATE TABLE invitations (
    token      TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
