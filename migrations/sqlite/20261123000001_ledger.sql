-- Run ledger: runs, shard runs, fencing epochs, append-only events, scheduler state.
-- Timestamps are stored as RFC 3339 UTC text, business dates as YYYY-MM-DD text.

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    job           TEXT NOT NULL,
    business_date TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('cron','manual','misfire','backfill','failover','rerun')),
    status        TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed','cancelled')),
    requested_by  TEXT NOT NULL,
    reason        TEXT,
    parent_run    TEXT REFERENCES runs(run_id),
    failed_only   INTEGER NOT NULL DEFAULT 0,
    params        TEXT NOT NULL DEFAULT '{}',
    owner         TEXT,
    heartbeat_at  TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    error         TEXT,
    outcome       TEXT,
    UNIQUE (job, business_date, attempt)
);
-- Never two runs of the same job and business date at once.
CREATE UNIQUE INDEX runs_one_active ON runs (job, business_date) WHERE status IN ('pending','running');
CREATE INDEX runs_by_date ON runs (business_date, job);

CREATE TABLE shard_runs (
    run_id       TEXT NOT NULL REFERENCES runs(run_id),
    item         INTEGER NOT NULL,
    instance     TEXT,
    epoch        INTEGER,
    status       TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed','cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    rows_in      INTEGER NOT NULL DEFAULT 0,
    rows_out     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    carried_from TEXT REFERENCES runs(run_id),
    outcome      TEXT,
    started_at   TEXT,
    finished_at  TEXT,
    PRIMARY KEY (run_id, item)
);

-- Fencing tokens: one row per (job, business date, shard item); epoch only grows.
CREATE TABLE shard_fences (
    job             TEXT NOT NULL,
    business_date   TEXT NOT NULL,
    item            INTEGER NOT NULL,
    epoch           INTEGER NOT NULL,
    owner           TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    claimed_at      TEXT NOT NULL,
    committed_epoch INTEGER,
    PRIMARY KEY (job, business_date, item)
);

CREATE TABLE run_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL,
    item    INTEGER,
    at      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);

-- Last fire time the scheduler handled per job, to detect misfires after downtime.
CREATE TABLE scheduler_state (
    job          TEXT PRIMARY KEY,
    last_fire_at TEXT NOT NULL
);
