-- The projection's generation: 1 for the first, one more for each replay
-- that switched generations. A replay moves this table with the others, so
-- each old generation (grouping_old_<unix time>) keeps its number. A
-- database that was replayed before this table existed counts the old
-- generations it still has.
CREATE TABLE grouping.generation (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    number     bigint NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO grouping.generation (number)
SELECT 1 + count(*) FROM pg_namespace WHERE nspname LIKE 'grouping\_old\_%';
