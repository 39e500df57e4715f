-- SQLite has no row-level security: a SQLite database is one process's
-- file, and every query of the repository names its owner. This version
-- exists so that both dialects run the same sequence.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
