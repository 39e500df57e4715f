-- Orders, one row each. The items live in the row as a JSON array, so that
-- reading an order is one indexed lookup and replacing its items one UPDATE.
-- created is stored in UTC with microsecond precision.

-- +goose Up
CREATE TABLE orders (
    id      VARCHAR(36)  NOT NULL PRIMARY KEY,
    owner   TEXT         NOT NULL,
    created TIMESTAMP    NOT NULL,
    status  VARCHAR(16)  NOT NULL CHECK (status IN ('created', 'paid', 'cancelled')),
    items   TEXT         NOT NULL
);

-- Every query names the owner; lists run newest first with a keyset cursor
-- on (created, id).
CREATE INDEX orders_owner_created ON orders (owner, created DESC, id DESC);

-- +goose Down
DROP TABLE orders;
