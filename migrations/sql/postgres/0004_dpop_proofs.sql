-- The DPoP proofs used, shared by every replica on this database, so that a
-- proof used on one is refused on all (RFC 9449, section 11.1). key is the
-- proof's key thumbprint and jti; expires is when the proof's iat is too
-- old to be accepted anyway, after which the row may be purged or replaced.
-- The rows belong to no owner: migration 0002's row-level security is
-- enabled and forced on orders only, not on this table.

-- +goose Up
CREATE TABLE dpop_proofs (
    key     TEXT        NOT NULL PRIMARY KEY,
    expires TIMESTAMPTZ NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires);

-- +goose Down
DROP TABLE dpop_proofs;
