-- Defence in depth on PostgreSQL: even a query that forgot its owner filter
-- sees only the rows of the owner that the repository set for its
-- transaction (SELECT set_config('app.owner', $1, true)). Without that
-- setting a query sees no row at all. FORCE applies the policy to the
-- table's owner too; only superusers and BYPASSRLS roles escape it, so the
-- API must not connect as one.

-- +goose Up
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_owner ON orders
    USING (owner = current_setting('app.owner', true))
    WITH CHECK (owner = current_setting('app.owner', true));

-- +goose Down
DROP POLICY orders_owner ON orders;
ALTER TABLE orders NO FORCE ROW LEVEL SECURITY;
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
