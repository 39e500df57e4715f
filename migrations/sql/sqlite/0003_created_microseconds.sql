-- created becomes an integer: microseconds since 1970-01-01 UTC. SQLite kept
-- it as text, which every read parsed and every index entry carried as 32
-- bytes; an integer is read, compared and indexed as it is. SQLite cannot
-- change a column's type, so the table is rebuilt:
-- - STRICT, so that a value of the wrong type is refused rather than stored;
-- - WITHOUT ROWID, its rows kept in the order of every list, an owner's
--   newest first, so that a page is one walk of the table instead of a walk
--   of an index and a lookup per row; id stays unique through an index,
--   which a point read uses.
--
-- The text was written by the driver as "2006-01-02 15:04:05.999999999-07:00":
-- whole seconds from the first 19 characters and the offset, then the
-- fraction, up to nine digits, cut or padded to six: microseconds.

-- +goose Up
CREATE TABLE orders_new (
    owner   TEXT    NOT NULL,
    created INTEGER NOT NULL,
    id      TEXT    NOT NULL,
    status  TEXT    NOT NULL CHECK (status IN ('created', 'paid', 'cancelled')),
    items   TEXT    NOT NULL,
    PRIMARY KEY (owner, created DESC, id DESC)
) STRICT, WITHOUT ROWID;
INSERT INTO orders_new (owner, created, id, status, items)
SELECT owner,
       CAST(strftime('%s', substr(created, 1, 19) || substr(created, -6)) AS INTEGER) * 1000000
         + CASE WHEN substr(created, 20, 1) = '.'
                THEN CAST(substr(substr(created, 21, length(created) - 26) || '000000', 1, 6) AS INTEGER)
                ELSE 0 END,
       id, status, items
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE UNIQUE INDEX orders_id ON orders (id);

-- +goose Down
CREATE TABLE orders_old (
    id      VARCHAR(36)  NOT NULL PRIMARY KEY,
    owner   TEXT         NOT NULL,
    created TIMESTAMP    NOT NULL,
    status  VARCHAR(16)  NOT NULL CHECK (status IN ('created', 'paid', 'cancelled')),
    items   TEXT         NOT NULL
);
INSERT INTO orders_old (id, owner, created, status, items)
SELECT id, owner,
       strftime('%Y-%m-%d %H:%M:%S', (created - (created % 1000000 + 1000000) % 1000000) / 1000000, 'unixepoch')
         || '.' || printf('%06d', (created % 1000000 + 1000000) % 1000000) || '+00:00',
       status, items
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_old RENAME TO orders;
CREATE INDEX orders_owner_created ON orders (owner, created DESC, id DESC);
