-- created becomes an integer: microseconds since 1970-01-01 UTC, as on
-- SQLite (where text timestamps cost every read a parse), so that one
-- representation serves both databases. The conversion is exact: both
-- directions count whole microseconds.

-- +goose Up
ALTER TABLE orders ALTER COLUMN created TYPE BIGINT
    USING (extract(epoch FROM created) * 1000000)::BIGINT;

-- +goose Down
ALTER TABLE orders ALTER COLUMN created TYPE TIMESTAMP
    USING TIMESTAMP '1970-01-01 00:00:00' + created * INTERVAL '1 microsecond';
