-- Alerts: one per event across restarts (src/alerts/journal.rs). An event is
-- recorded once under its stable id (kind:key) with one delivery row per
-- target; a delivery is marked sent after the target accepted it, so a crash
-- between the two repeats it at most once, with the same event id.
CREATE TABLE alert_events (
    event_id   TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    raised_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE alert_deliveries (
    event_id    TEXT NOT NULL REFERENCES alert_events (event_id),
    target      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'given_up')),
    tries       INTEGER NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX alert_deliveries_by_state ON alert_deliveries (state);

-- The alert watcher's cursors (finished runs, cluster members), shared by
-- whichever node leads.
CREATE TABLE alert_cursors (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Jobs and instances disabled at run time on a single node (a cluster keeps
-- them in ZooKeeper); src/toggles.rs.
CREATE TABLE disabled (
    what         TEXT NOT NULL CHECK (what IN ('job', 'instance')),
    name         TEXT NOT NULL,
    disabled_by  TEXT NOT NULL,
    reason       TEXT NOT NULL,
    disabled_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (what, name)
);

-- Append-only journal of disable/enable, single node and cluster alike:
-- who, why, when, and where the switch lives (node = this table above,
-- cluster = ZooKeeper).
CREATE TABLE toggle_journal (
    seq     BIGSERIAL PRIMARY KEY,
    what    TEXT NOT NULL CHECK (what IN ('job', 'instance')),
    name    TEXT NOT NULL,
    action  TEXT NOT NULL CHECK (action IN ('disable', 'enable')),
    actor   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    scope   TEXT NOT NULL CHECK (scope IN ('node', 'cluster')),
    at      TIMESTAMPTZ NOT NULL
);

-- The console's run list (newest first, LIMIT 200): an index in that order
-- instead of sorting the whole ledger per request (`reckon bench console`).
-- Its partial twin keeps the node loop's active/stale run reads (status IN
-- pending, running ORDER BY created_at) on the few active rows: without it
-- SQLite's planner would walk runs_by_created over the whole ledger.
CREATE INDEX runs_by_created ON runs (created_at, run_id);
CREATE INDEX runs_active_by_created ON runs (created_at, run_id) WHERE status IN ('pending', 'running');
