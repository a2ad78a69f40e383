-- Disable/enable in a cluster journals its intent before it touches
-- ZooKeeper (src/toggles.rs): the row is written `pending`, the switch is
-- written, then the row becomes `applied`. A row left `pending` (a crash or
-- a lost connection between the writes) is settled against ZooKeeper later:
-- `applied` when ZooKeeper shows the switch as the row asks, otherwise
-- `not_applied`. Rows written before this migration, and every single-node
-- row (switch and row in one transaction), are `applied`.
ALTER TABLE toggle_journal ADD COLUMN state TEXT NOT NULL DEFAULT 'applied'
    CHECK (state IN ('pending', 'applied', 'not_applied'));
ALTER TABLE toggle_journal ADD COLUMN settled_at TIMESTAMPTZ;
-- How the row was settled: `written` (by the process that wrote the switch),
-- `reconciled: …` (found pending later), or the error that stopped the write.
ALTER TABLE toggle_journal ADD COLUMN settled_how TEXT;
-- At most one toggle of a switch in flight: a second one is refused until
-- the first is settled, so ZooKeeper's order of writes is the journal's.
CREATE UNIQUE INDEX toggle_journal_one_pending ON toggle_journal (what, name) WHERE state = 'pending';
