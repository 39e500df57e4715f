-- SQLite keeps no table of used DPoP proofs: a SQLite database serves one
-- process, whose replay store is in its memory. This version exists so that
-- both dialects run the same sequence.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
