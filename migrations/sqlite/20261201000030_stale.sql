-- Stale later dates (docs/settlement.md, "Late records, reruns and stale dates").
-- SQLite: business dates are YYYY-MM-DD text, instants RFC 3339 UTC text.
-- A job kind whose date D feeds D+1 (settlement closings, repayment loan
-- state, recon-funds carried records) hands the runner a digest of what D
-- carries on; a succeeded run stores it here, in the transaction that marks
-- the run succeeded.
CREATE TABLE run_carry (
    run_id        TEXT PRIMARY KEY REFERENCES runs(run_id),
    job           TEXT NOT NULL,
    business_date TEXT NOT NULL,
    -- sha256 (hex) of the carried state, as the kind defines it.
    digest        TEXT NOT NULL,
    -- The digest differs from the one of the run this run replaced (or no
    -- succeeded run of the date came before it).
    changed       INTEGER NOT NULL
);
CREATE INDEX run_carry_by_date ON run_carry (job, business_date);

-- A succeeded run built on carried state that a later run of an earlier date
-- changed. Written in the transaction that marks the causing run succeeded;
-- cleared (never deleted) when a newer run of the stale date succeeds.
CREATE TABLE run_stale (
    run_id         TEXT PRIMARY KEY REFERENCES runs(run_id),
    job            TEXT NOT NULL,
    business_date  TEXT NOT NULL,
    caused_by_run  TEXT NOT NULL REFERENCES runs(run_id),
    caused_by_date TEXT NOT NULL,
    marked_at      TEXT NOT NULL,
    cleared_by_run TEXT REFERENCES runs(run_id),
    cleared_at     TEXT
);
CREATE INDEX run_stale_by_date ON run_stale (job, business_date);
