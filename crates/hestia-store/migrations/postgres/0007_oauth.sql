-- The gateway's OAuth 2.0 authorization server (ISO/IEC 10192-4-3 §8 C2C authorization): registered clients
-- (peer gateways), grants (one per user consent: the family of its refresh tokens), refresh tokens stored by
-- their SHA-256, revoked access-token ids kept until the tokens expire, and the signing keys published as JWKS.

CREATE TABLE oauth_clients (
    client_id     TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- SHA-256 of the generated secret (a 256-bit random value needs no slow hash).
    secret_hash   BYTEA   NOT NULL,
    -- JSON arrays of text.
    redirect_uris TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    audiences     TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

-- A grant outlives its client's row: revoked_at is what keeps its tokens refused.
CREATE TABLE oauth_grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    username   TEXT    NOT NULL REFERENCES accounts (localpart) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX oauth_grants_by_client ON oauth_grants (client_id);
CREATE INDEX oauth_grants_by_revocation ON oauth_grants (revoked_at);

CREATE TABLE oauth_refresh_tokens (
    token_hash BYTEA   NOT NULL PRIMARY KEY,
    grant_id   TEXT    NOT NULL REFERENCES oauth_grants (grant_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);

CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);

CREATE TABLE oauth_revoked_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);

-- The current key has retires_at NULL; a superseded key stays published until retires_at.
CREATE TABLE oauth_signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    private_key BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    retires_at  BIGINT
);
