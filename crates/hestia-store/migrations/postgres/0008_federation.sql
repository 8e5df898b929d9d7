-- User identity federation (ISO/IEC 10192-4-3 §8, §9): one row per user's link with a peer gateway, on
-- either side of it, with the tokens this gateway calls the peer with (it is the peer's OAuth client, so
-- it must hold them as issued) and the subscriptions it made at the peer through the link.

CREATE TABLE federation_links (
    link_id         TEXT    NOT NULL PRIMARY KEY,
    username        TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    -- The peer's name as configured; a link whose peer is no longer configured is kept, not used.
    peer            TEXT    NOT NULL,
    remote_user     TEXT    NOT NULL,
    remote_id       TEXT,
    -- 'outbound' (made by the user here) or 'inbound' (the peer's half).
    direction       TEXT    NOT NULL,
    access_token    TEXT    NOT NULL,
    refresh_token   TEXT,
    -- Unix seconds after which the access token is refreshed before use.
    refresh_at      BIGINT  NOT NULL,
    local_grant     TEXT,
    callback_secret TEXT    NOT NULL,
    linked_at       BIGINT  NOT NULL
);

CREATE INDEX federation_links_by_user ON federation_links (username);

CREATE TABLE federation_remote_subscriptions (
    link_id         TEXT    NOT NULL REFERENCES federation_links (link_id) ON DELETE CASCADE,
    device          TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    subscription_id TEXT    NOT NULL,
    -- Unix seconds when the peer ends it unless renewed.
    expires_at      BIGINT  NOT NULL,
    PRIMARY KEY (link_id, device, event)
);
