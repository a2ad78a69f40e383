-- The leader epoch (issue 13): one row per scope, bumped on every election.
-- Every leader write (run creation, dispatch, heal, finalize, publish) checks
-- it in its own transaction, as shard writes check shard_fences.
CREATE TABLE leader_epochs (
    scope      TEXT PRIMARY KEY,
    epoch      BIGINT NOT NULL,
    holder     TEXT NOT NULL,
    elected_at TIMESTAMPTZ NOT NULL,
    checked_at TIMESTAMPTZ
);

-- A shard's owner refreshes this while it holds the item (queued for a slot,
-- waiting out a retry backoff, running): waiting is not stalling.
ALTER TABLE shard_runs ADD COLUMN heartbeat_at TIMESTAMPTZ;

-- Fire times that were passed over without a run of their own (misfire
-- `skip` or `fire_once` collapsing older dates), so `reckon jobs` can show
-- business dates that never ran.
CREATE TABLE missed_fires (
    job           TEXT NOT NULL,
    fire_at       TIMESTAMPTZ NOT NULL,
    business_date DATE NOT NULL,
    policy        TEXT NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, fire_at)
);
