-- The Idempotency-Key of each change a caller made with one, and the answer
-- to replay when the same request comes again
-- (draft-ietf-httpapi-idempotency-key-header). A key belongs to its owner:
-- the primary key is (owner, key), and the row is written in the same
-- transaction as the change it answers, so that either both are stored or
-- neither. fingerprint is the SHA-256 of the request's method, path and
-- body; created and expires are microseconds since 1970-01-01 UTC, as
-- orders.created is.
--
-- Row-level security as on orders (migration 0002): a transaction scoped to
-- an owner sees that owner's keys only. A connection scoped to no owner sees
-- expired keys only, so that the purge, which is no owner's, can delete them
-- and nothing else.

-- +goose Up
CREATE TABLE idempotency_keys (
    owner        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    location     TEXT    NOT NULL,
    etag         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created      BIGINT  NOT NULL,
    expires      BIGINT  NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_owner ON idempotency_keys
    USING (owner = current_setting('app.owner', true)
           OR (coalesce(current_setting('app.owner', true), '') = ''
               AND expires < (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT))
    WITH CHECK (owner = current_setting('app.owner', true));

-- +goose Down
DROP TABLE idempotency_keys;
