-- Compensation of unfinished transactions (transactional messages).
-- Times are epoch milliseconds (UTC) so that due-time comparisons are plain
-- integer comparisons on both backends. Money is TEXT (exact decimal digits).

CREATE TABLE txn_messages (
    id                  TEXT PRIMARY KEY,
    txn_type            TEXT NOT NULL,
    business_key        TEXT NOT NULL,
    payload             TEXT NOT NULL DEFAULT '{}',
    -- The payload's `amount`, when it has one (for the reports).
    amount              TEXT,
    state               TEXT NOT NULL CHECK (state IN ('prepared','committed','delivered','rolled_back','dead')),
    -- The state a dead message died in (prepared: check-back gave up; committed: delivery gave up).
    dead_from           TEXT CHECK (dead_from IN ('prepared','committed')),
    -- FNV-1a 64 of id modulo 720720: the shard of a message is bucket % shards.
    bucket              INTEGER NOT NULL,
    check_count         INTEGER NOT NULL DEFAULT 0,
    delivery_attempts   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  INTEGER NOT NULL,
    last_error          TEXT,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL
);
CREATE INDEX txn_messages_due ON txn_messages (state, id);

-- What each run did to which message: the rows of compensation.csv.
CREATE TABLE txn_run_actions (
    run_id             TEXT NOT NULL,
    item               INTEGER NOT NULL,
    message_id         TEXT NOT NULL,
    check_count        INTEGER NOT NULL,
    delivery_attempts  INTEGER NOT NULL,
    old_state          TEXT NOT NULL,
    new_state          TEXT NOT NULL,
    error              TEXT,
    PRIMARY KEY (run_id, message_id, check_count, delivery_attempts)
);

-- Append-only journal of confirmations refused and of manual actions.
CREATE TABLE txn_actions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    old_state   TEXT NOT NULL,
    new_state   TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX txn_actions_by_message ON txn_actions (message_id, seq);
CREATE TRIGGER txn_actions_no_update BEFORE UPDATE ON txn_actions
BEGIN SELECT RAISE(ABORT, 'txn_actions is append-only'); END;
CREATE TRIGGER txn_actions_no_delete BEFORE DELETE ON txn_actions
BEGIN SELECT RAISE(ABORT, 'txn_actions is append-only'); END;

-- The outbox downstream: one row per delivered message, keyed by its idempotency key.
CREATE TABLE txn_outbox (
    idempotency_key  TEXT PRIMARY KEY,
    txn_type         TEXT NOT NULL,
    business_key     TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at_ms    INTEGER NOT NULL
);
