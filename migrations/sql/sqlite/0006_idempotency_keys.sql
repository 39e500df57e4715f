-- The Idempotency-Key of each change a caller made with one, and the answer
-- to replay when the same request comes again
-- (draft-ietf-httpapi-idempotency-key-header). A key belongs to its owner:
-- the primary key is (owner, key), and the row is written in the same
-- transaction as the change it answers, so that either both are stored or
-- neither. fingerprint is the SHA-256 of the request's method, path and
-- body; created and expires are microseconds since 1970-01-01 UTC, as
-- orders.created is. SQLite has no row-level security (see 0002); every
-- statement names the owner.

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
    created      INTEGER NOT NULL,
    expires      INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires);

-- +goose Down
DROP TABLE idempotency_keys;
