-- Run ledger: runs, shard runs, fencing epochs, append-only events, scheduler state.

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    job           TEXT NOT NULL,
    business_date DATE NOT NULL,
    attempt       BIGINT NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('cron','manual','misfire','backfill','failover','rerun')),
    status        TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed','cancelled')),
    requested_by  TEXT NOT NULL,
    reason        TEXT,
    parent_run    TEXT REFERENCES runs(run_id),
    failed_only   BOOLEAN NOT NULL DEFAULT FALSE,
    params        TEXT NOT NULL DEFAULT '{}',
    owner         TEXT,
    heartbeat_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    error         TEXT,
    outcome       TEXT,
    UNIQUE (job, business_date, attempt)
);
-- Never two runs of the same job and business date at once.
CREATE UNIQUE INDEX runs_one_active ON runs (job, business_date) WHERE status IN ('pending','running');
CREATE INDEX runs_by_date ON runs (business_date, job);

CREATE TABLE shard_runs (
    run_id       TEXT NOT NULL REFERENCES runs(run_id),
    item         BIGINT NOT NULL,
    instance     TEXT,
    epoch        BIGINT,
    status       TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed','cancelled')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    rows_in      BIGINT NOT NULL DEFAULT 0,
    rows_out     BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    carried_from TEXT REFERENCES runs(run_id),
    outcome      TEXT,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    PRIMARY KEY (run_id, item)
);

-- Fencing tokens: one row per (job, business date, shard item); epoch only grows.
CREATE TABLE shard_fences (
    job             TEXT NOT NULL,
    business_date   DATE NOT NULL,
    item            BIGINT NOT NULL,
    epoch           BIGINT NOT NULL,
    owner           TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    claimed_at      TIMESTAMPTZ NOT NULL,
    committed_epoch BIGINT,
    PRIMARY KEY (job, business_date, item)
);

CREATE TABLE run_events (
    id      BIGSERIAL PRIMARY KEY,
    run_id  TEXT NOT NULL,
    item    BIGINT,
    at      TIMESTAMPTZ NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);

-- Last fire time the scheduler handled per job, to detect misfires after downtime.
CREATE TABLE scheduler_state (
    job          TEXT PRIMARY KEY,
    last_fire_at TIMESTAMPTZ NOT NULL
);
