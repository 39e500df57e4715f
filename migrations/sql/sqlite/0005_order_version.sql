-- version counts the changes of an order: 1 when it is created, one more
-- with every UPDATE. The API shows it as the order's ETag, and a change
-- that names a version (If-Match) checks it in its own UPDATE or DELETE,
-- so no other change can slip in between the check and the write. The
-- table is STRICT, whose integer type is INTEGER (64 bits).

-- +goose Up
ALTER TABLE orders ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE orders DROP COLUMN version;
