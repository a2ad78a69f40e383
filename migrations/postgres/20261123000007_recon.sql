-- Reconciliation: the rows each shard of a reconciliation run produced (for
-- the finalize step to merge), and the break register (docs/recon.md).
-- PostgreSQL: money is NUMERIC (the Money type); business dates are DATE.

-- One shard's result rows of (job, business date): diff rows and rejects as
-- JSON, in report order. Replaced, never appended, inside the shard's fenced
-- transaction.
CREATE TABLE recon_shard_rows (
    job           TEXT NOT NULL,
    business_date DATE NOT NULL,
    item          BIGINT NOT NULL,
    row_type      TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    record        TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    PRIMARY KEY (job, business_date, item, row_type, seq)
);

-- The break register (差错登记簿): every break and pending record a
-- reconciliation run found, kept across days.
-- Identity: (job, business_date, found_as, break_key, occurrence) — a rerun of
-- the date updates the same rows. state: pending → open (held too long) or
-- auto_resolved (a later run matched it); open → auto_resolved, or resolved by
-- a person (resolved_by, resolved_at, note).
CREATE TABLE recon_breaks (
    id            BIGSERIAL PRIMARY KEY,
    job           TEXT NOT NULL,
    business_date DATE NOT NULL,
    found_as      TEXT NOT NULL,
    break_key     TEXT NOT NULL,
    occurrence    BIGINT NOT NULL,
    category      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    sides         TEXT NOT NULL,
    left_amount   NUMERIC,
    right_amount  NUMERIC,
    delta         NUMERIC NOT NULL,
    detail        TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending','open','auto_resolved','resolved')),
    first_run_id  TEXT NOT NULL,
    last_run_id   TEXT NOT NULL,
    -- Business date of the run that last changed the state automatically.
    settled_on    DATE,
    resolved_by   TEXT,
    resolved_at   TIMESTAMPTZ,
    note          TEXT,
    UNIQUE (job, business_date, found_as, break_key, occurrence)
);
CREATE INDEX recon_breaks_by_state ON recon_breaks (job, state, business_date);
CREATE INDEX recon_breaks_by_key ON recon_breaks (job, break_key);
