-- The leader epoch (issue 13): one row per scope, bumped on every election.
-- Every leader write (run creation, dispatch, heal, finalize, publish) checks
-- it in its own transaction, as shard writes check shard_fences.
CREATE TABLE leader_epochs (
    scope      TEXT PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    holder     TEXT NOT NULL,
    elected_at TEXT NOT NULL,
    checked_at TEXT
);

-- A shard's owner refreshes this while it holds the item (queued for a slot,
-- waiting out a retry backoff, running): waiting is not stalling.
ALTER TABLE shard_runs ADD COLUMN heartbeat_at TEXT;

-- Fire times that were passed over without a run of their own (misfire
-- `skip` or `fire_once` collapsing older dates), so `reckon jobs` can show
-- business dates that never ran.
CREATE TABLE missed_fires (
    job           TEXT NOT NULL,
    fire_at       TEXT NOT NULL,
    business_date TEXT NOT NULL,
    policy        TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    PRIMARY KEY (job, fire_at)
);
