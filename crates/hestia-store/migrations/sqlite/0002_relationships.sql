-- Relationships (ISO/IEC 14543-5-8 §10, RFC 6121 rosters), device access rights and policy (§9), the
-- verification-code failure counter, and stanzas stored for offline accounts.

-- Bumped once per batch of roster changes (RFC 6121 §2.6 roster versioning).
ALTER TABLE accounts ADD COLUMN roster_version INTEGER NOT NULL DEFAULT 0 CHECK (roster_version >= 0);

ALTER TABLE devices ADD COLUMN policy TEXT NOT NULL DEFAULT 'code'
    CHECK (policy IN ('open', 'approval', 'code', 'closed'));
ALTER TABLE devices ADD COLUMN vcode_failures INTEGER NOT NULL DEFAULT 0 CHECK (vcode_failures >= 0);
-- Unix seconds; 0 = not locked.
ALTER TABLE devices ADD COLUMN vcode_locked_until INTEGER NOT NULL DEFAULT 0;

-- One row per (roster owner, contact). The contact deliberately has no foreign key: a roster may name an
-- account that does not exist, and whether it exists must not leak.
CREATE TABLE roster_items (
    owner          TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    contact        TEXT    NOT NULL,
    name           TEXT,
    -- A JSON array of strings, in the order given.
    groups         TEXT    NOT NULL,
    subscription   TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask            BOOLEAN NOT NULL CHECK (ask IN (0, 1)),
    -- An inbound subscription request awaiting an answer: stanza and time together, the right optional.
    pending_stanza TEXT,
    pending_right  TEXT    CHECK (pending_right IN ('view', 'control', 'admin', 'owner')),
    pending_at     INTEGER,
    preapproved    BOOLEAN NOT NULL CHECK (preapproved IN (0, 1)),
    relation       TEXT    CHECK (relation IN ('owner', 'shared', 'friend', 'peer')),
    PRIMARY KEY (owner, contact),
    CHECK ((pending_stanza IS NULL) = (pending_at IS NULL)),
    CHECK (pending_right IS NULL OR pending_stanza IS NOT NULL)
);

CREATE INDEX roster_items_by_contact ON roster_items (contact);

-- A user's right on a device; each includes the ones below it.
CREATE TABLE access_rights (
    device       TEXT NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    grantee      TEXT NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    access_right TEXT NOT NULL CHECK (access_right IN ('view', 'control', 'admin', 'owner')),
    PRIMARY KEY (device, grantee)
);

-- At most one owner per device.
CREATE UNIQUE INDEX access_rights_one_owner ON access_rights (device) WHERE access_right = 'owner';
CREATE INDEX access_rights_by_grantee ON access_rights (grantee);

-- Stanzas kept for an account while it is offline, delivered in id order.
CREATE TABLE offline_stanzas (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    owner     TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    stanza    TEXT    NOT NULL,
    stored_at INTEGER NOT NULL
);

CREATE INDEX offline_stanzas_by_owner ON offline_stanzas (owner, id);
