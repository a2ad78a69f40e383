//! `txn_messages` and its journals in SQL: recording prepared messages,
//! finding due ones per shard, and batched compare-and-set transitions.
//!
//! Every state change is an `UPDATE … WHERE state = <expected> AND
//! check_count = <expected> AND delivery_attempts = <expected>`: two workers,
//! a rerun or a late confirmation can never move a message twice.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::error::CompensationError;
use super::state::{State, Transition};
use crate::db::{Db, DbTx};
use crate::money::Money;
use crate::sharding::stable_hash;
use crate::{on_db, on_tx};

/// Buckets of the stored shard hash. 720720 = lcm(1..=16), so for any shard
/// count dividing it (every count up to 16, and many more) `bucket % shards`
/// equals [`crate::sharding::partition_of`]`(id, shards)`.
pub const BUCKETS: u64 = 720_720;

/// The stored shard bucket of a message id: FNV-1a 64 of the id mod [`BUCKETS`].
pub fn bucket_of(id: &str) -> i64 {
    i64::try_from(stable_hash(id.as_bytes()) % BUCKETS).unwrap_or(0)
}

/// One shard's slice of the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub item: u32,
    pub total: u32,
}

impl Partition {
    /// All messages.
    pub const ALL: Partition = Partition { item: 0, total: 1 };
}

/// The shard fence a batch transaction must still hold (DESIGN.md invariant 2).
#[derive(Debug, Clone)]
pub struct Fence {
    pub job: crate::ledger::JobName,
    pub business_date: NaiveDate,
    pub item: u32,
    pub epoch: crate::ledger::ShardEpoch,
}

/// A message as recorded by the business system before its local transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub txn_type: String,
    pub business_key: String,
    /// JSON text; an `amount` member (string or number) is kept for reports.
    pub payload: String,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    pub id: String,
    pub txn_type: String,
    pub business_key: String,
    pub payload: String,
    pub amount: Option<Decimal>,
    pub state: State,
    pub dead_from: Option<State>,
    pub check_count: i64,
    pub delivery_attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A message due for a step, with what the step needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: String,
    pub txn_type: String,
    pub business_key: String,
    /// Empty for check-back (not read).
    pub payload: String,
    pub check_count: i64,
    pub delivery_attempts: i64,
}

/// A row of the append-only action journal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Action {
    pub seq: i64,
    pub message_id: String,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub old_state: String,
    pub new_state: String,
    pub reason: String,
}

/// The amount stated by a payload: its `amount` member, exact.
pub fn payload_amount(id: &str, payload: &str) -> Result<Option<Decimal>, CompensationError> {
    let bad = |reason: String| CompensationError::BadMessage {
        id: id.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| bad(format!("payload is not JSON: {e}")))?;
    let text = match value.get("amount") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => return Err(bad(format!("payload amount {other} is not a number"))),
    };
    crate::money::parse_amount(&text)
        .map(Some)
        .map_err(|e| bad(format!("payload amount: {e}")))
}

/// Records a `prepared` message (the business system's first step).
pub async fn prepare(db: &Db, message: &NewMessage, now_ms: i64) -> Result<(), CompensationError> {
    let amount = payload_amount(&message.id, &message.payload)?.map(Money);
    let result = on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO txn_messages (id, txn_type, business_key, payload, amount, state, bucket, \
             next_attempt_at_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, 'prepared', $6, $7, $7, $7)",
        )
        .bind(&message.id)
        .bind(&message.txn_type)
        .bind(&message.business_key)
        .bind(&message.payload)
        .bind(amount)
        .bind(bucket_of(&message.id))
        .bind(now_ms)
        .execute(pool)
        .await
        .map(|_| ())
    });
    match result {
        Ok(_) => Ok(()),
        Err(e) if crate::db::is_unique_violation(&e) => {
            Err(CompensationError::Duplicate(message.id.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

/// What a due query selects.
#[derive(Debug, Clone, Copy)]
pub struct DueQuery<'a> {
    pub state: State,
    pub partition: Partition,
    pub now_ms: i64,
    /// Only messages created at or before this time.
    pub created_before_ms: i64,
    /// Keyset paging: only ids after this one.
    pub after_id: &'a str,
    pub limit: usize,
    pub with_payload: bool,
}

/// Messages in `state`, due now, in the partition, by id.
pub async fn due(db: &Db, q: DueQuery<'_>) -> Result<Vec<Due>, CompensationError> {
    let payload = if q.with_payload { "payload" } else { "''" };
    let sql = format!(
        "SELECT id, txn_type, business_key, {payload}, check_count, delivery_attempts \
         FROM txn_messages WHERE state = $1 AND id > $2 AND bucket % $3 = $4 \
         AND next_attempt_at_ms <= $5 AND created_at_ms <= $6 ORDER BY id LIMIT $7"
    );
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let rows: Vec<(String, String, String, String, i64, i64)> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(q.state.as_str())
            .bind(q.after_id)
            .bind(i64::from(q.partition.total))
            .bind(i64::from(q.partition.item))
            .bind(q.now_ms)
            .bind(q.created_before_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| Due {
            id: r.0,
            txn_type: r.1,
            business_key: r.2,
            payload: r.3,
            check_count: r.4,
            delivery_attempts: r.5,
        })
        .collect())
}

/// An outbox row to write if (and only if) its message's transition applies.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub txn_type: String,
    pub business_key: String,
    pub payload: String,
}

/// Where the transitions of one batch are journaled (`txn_run_actions`).
#[derive(Debug, Clone)]
pub struct Journal {
    pub run_id: String,
    pub item: u32,
}

/// Applies a batch of transitions in one transaction: the fence check (when
/// given), one compare-and-set `UPDATE … FROM <batch rows> RETURNING id`, the
/// journal rows and outbox rows of the transitions that applied. Returns the
/// applied transitions; the others lost a race and are left alone.
pub async fn apply(
    db: &Db,
    fence: Option<&Fence>,
    journal: &Journal,
    transitions: &[Transition],
    outbox: &BTreeMap<String, OutboxRow>,
    now_ms: i64,
) -> Result<Vec<Transition>, CompensationError> {
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let tx = begin_batch(db, fence).await?;
    apply_in(tx, fence, journal, transitions, outbox, now_ms).await
}

/// Opens a batch's transaction and takes the shard fence (when given) as its
/// first statement. Delivery batches open it *before* their HTTP calls, so
/// the fence row stays locked while they are made: a replacement's claim
/// waits for the batch to commit (or for the database to end a paused
/// holder's session) and then supersedes it — one fence never delivers a
/// message twice.
///
/// SQLite has a single writer and one node: holding its write lock through
/// HTTP calls would stop every other writer, so there the fence is checked
/// before the calls and taken again by [`apply_in`].
pub async fn begin_batch(db: &Db, fence: Option<&Fence>) -> Result<DbTx, CompensationError> {
    let mut tx = db.begin().await?;
    if let Some(fence) = fence {
        hold_fence(&mut tx, fence).await?;
        if db.backend() == crate::db::Backend::Sqlite {
            tx.rollback().await?;
            tx = db.begin().await?;
        }
    }
    Ok(tx)
}

/// [`apply`] inside a transaction opened by [`begin_batch`]; commits it.
pub async fn apply_in(
    mut tx: DbTx,
    fence: Option<&Fence>,
    journal: &Journal,
    transitions: &[Transition],
    outbox: &BTreeMap<String, OutboxRow>,
    now_ms: i64,
) -> Result<Vec<Transition>, CompensationError> {
    if transitions.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    if let Some(fence) = fence {
        // Already held on PostgreSQL (the same transaction); taken here on SQLite.
        hold_fence(&mut tx, fence).await?;
    }
    let applied_ids = compare_and_set(&mut tx, transitions, now_ms).await?;
    let applied: Vec<Transition> = transitions
        .iter()
        .filter(|t| applied_ids.contains(&t.id))
        .cloned()
        .collect();
    insert_journal(&mut tx, journal, &applied).await?;
    let outbox_rows: Vec<(&String, &OutboxRow)> = applied
        .iter()
        .filter(|t| t.to == State::Delivered)
        .filter_map(|t| outbox.get_key_value(&t.id))
        .collect();
    insert_outbox(&mut tx, &outbox_rows, now_ms).await?;
    tx.commit().await?;
    Ok(applied)
}

/// Re-takes the shard fence inside this transaction: fails when a newer claim
/// superseded the epoch.
async fn hold_fence(tx: &mut DbTx, fence: &Fence) -> Result<(), CompensationError> {
    crate::ledger::hold_fence(tx, &fence.job, fence.business_date, fence.item, fence.epoch)
        .await
        .map_err(CompensationError::Fenced)
}

async fn compare_and_set(
    tx: &mut DbTx,
    transitions: &[Transition],
    now_ms: i64,
) -> Result<BTreeSet<String>, CompensationError> {
    match tx {
        DbTx::Postgres(conn) => compare_and_set_batched(conn, transitions, now_ms).await,
        DbTx::Sqlite(conn) => compare_and_set_json(conn, transitions, now_ms).await,
    }
}

/// SQLite: the whole batch in one `UPDATE … FROM json_each($1) RETURNING id`,
/// the rows passed as one JSON array parameter (binding thousands of scalar
/// parameters, or one statement per row through sqlx's worker thread, is
/// several times slower).
async fn compare_and_set_json(
    conn: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    transitions: &[Transition],
    now_ms: i64,
) -> Result<BTreeSet<String>, CompensationError> {
    let rows: Vec<serde_json::Value> = transitions
        .iter()
        .map(|t| {
            serde_json::json!([
                t.id,
                t.from.as_str(),
                t.to.as_str(),
                t.old_checks,
                t.checks,
                t.old_attempts,
                t.attempts,
                t.next_attempt_at_ms,
                t.error,
                (t.to == State::Dead).then(|| t.from.as_str()),
            ])
        })
        .collect();
    let ids: Vec<(String,)> = sqlx::query_as(
        "UPDATE txn_messages SET state = v.to_state, check_count = v.checks, delivery_attempts = v.attempts, \
         next_attempt_at_ms = v.next_at, last_error = v.err, dead_from = v.dead_from, updated_at_ms = $2 \
         FROM (SELECT json_extract(value, '$[0]') AS mid, json_extract(value, '$[1]') AS from_state, \
         json_extract(value, '$[2]') AS to_state, json_extract(value, '$[3]') AS old_checks, \
         json_extract(value, '$[4]') AS checks, json_extract(value, '$[5]') AS old_attempts, \
         json_extract(value, '$[6]') AS attempts, json_extract(value, '$[7]') AS next_at, \
         json_extract(value, '$[8]') AS err, json_extract(value, '$[9]') AS dead_from \
         FROM json_each($1)) AS v \
         WHERE txn_messages.id = v.mid AND txn_messages.state = v.from_state \
         AND txn_messages.check_count = v.old_checks AND txn_messages.delivery_attempts = v.old_attempts \
         RETURNING id",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .bind(now_ms)
    .fetch_all(&mut **conn)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// PostgreSQL: the whole batch in one `UPDATE … FROM unnest(arrays) RETURNING id`:
/// ten array parameters whatever the batch size, so the statement is
/// prepared once and binding stays cheap.
async fn compare_and_set_batched(
    conn: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    transitions: &[Transition],
    now_ms: i64,
) -> Result<BTreeSet<String>, CompensationError> {
    let column = |f: fn(&Transition) -> i64| transitions.iter().map(f).collect::<Vec<i64>>();
    let text = |f: fn(&Transition) -> &str| transitions.iter().map(f).collect::<Vec<&str>>();
    let errors: Vec<Option<&str>> = transitions.iter().map(|t| t.error.as_deref()).collect();
    let dead_from: Vec<Option<&str>> = transitions
        .iter()
        .map(|t| (t.to == State::Dead).then(|| t.from.as_str()))
        .collect();
    for t in transitions {
        debug_assert!(t.from.can_move_to(t.to) || t.from == t.to, "{t:?}");
    }
    let ids: Vec<(String,)> = sqlx::query_as(
        "UPDATE txn_messages SET state = v.to_state, check_count = v.checks, delivery_attempts = v.attempts, \
         next_attempt_at_ms = v.next_at, last_error = v.err, dead_from = v.dead_from, updated_at_ms = $11 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], \
         $8::int8[], $9::text[], $10::text[]) \
         AS v (mid, from_state, to_state, old_checks, checks, old_attempts, attempts, next_at, err, dead_from) \
         WHERE txn_messages.id = v.mid AND txn_messages.state = v.from_state \
         AND txn_messages.check_count = v.old_checks AND txn_messages.delivery_attempts = v.old_attempts \
         RETURNING id",
    )
    .bind(text(|t| t.id.as_str()))
    .bind(text(|t| t.from.as_str()))
    .bind(text(|t| t.to.as_str()))
    .bind(column(|t| t.old_checks))
    .bind(column(|t| t.checks))
    .bind(column(|t| t.old_attempts))
    .bind(column(|t| t.attempts))
    .bind(column(|t| t.next_attempt_at_ms))
    .bind(errors)
    .bind(dead_from)
    .bind(now_ms)
    .fetch_all(&mut **conn)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

async fn insert_journal(
    tx: &mut DbTx,
    journal: &Journal,
    applied: &[Transition],
) -> Result<(), CompensationError> {
    if applied.is_empty() {
        return Ok(());
    }
    if let DbTx::Postgres(conn) = tx {
        sqlx::query(
            "INSERT INTO txn_run_actions (run_id, item, message_id, check_count, delivery_attempts, \
             old_state, new_state, error) SELECT $1, $2, v.* FROM unnest($3::text[], $4::int8[], \
             $5::int8[], $6::text[], $7::text[], $8::text[]) AS v",
        )
        .bind(journal.run_id.as_str())
        .bind(i64::from(journal.item))
        .bind(applied.iter().map(|t| t.id.as_str()).collect::<Vec<_>>())
        .bind(applied.iter().map(|t| t.checks).collect::<Vec<_>>())
        .bind(applied.iter().map(|t| t.attempts).collect::<Vec<_>>())
        .bind(applied.iter().map(|t| t.from.as_str()).collect::<Vec<_>>())
        .bind(applied.iter().map(|t| t.to.as_str()).collect::<Vec<_>>())
        .bind(applied.iter().map(|t| t.error.as_deref()).collect::<Vec<_>>())
        .execute(&mut **conn)
        .await?;
        return Ok(());
    }
    // SQLite: the rows as one JSON array parameter (see compare_and_set_json).
    let rows: Vec<serde_json::Value> = applied
        .iter()
        .map(|t| {
            serde_json::json!([
                t.id,
                t.checks,
                t.attempts,
                t.from.as_str(),
                t.to.as_str(),
                t.error
            ])
        })
        .collect();
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO txn_run_actions (run_id, item, message_id, check_count, delivery_attempts, \
             old_state, new_state, error) SELECT $1, $2, json_extract(value, '$[0]'), \
             json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
             json_extract(value, '$[4]'), json_extract(value, '$[5]') FROM json_each($3)",
        )
        .bind(journal.run_id.as_str())
        .bind(i64::from(journal.item))
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

async fn insert_outbox(
    tx: &mut DbTx,
    rows: &[(&String, &OutboxRow)],
    now_ms: i64,
) -> Result<(), CompensationError> {
    for (id, row) in rows {
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO txn_outbox (idempotency_key, txn_type, business_key, payload, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(&row.txn_type)
            .bind(&row.business_key)
            .bind(&row.payload)
            .bind(now_ms)
            .execute(&mut **conn)
            .await?;
        });
    }
    Ok(())
}

type MessageRow = (
    String,
    String,
    String,
    String,
    Option<Money>,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    i64,
    i64,
);

const MESSAGE_COLUMNS: &str = "id, txn_type, business_key, payload, amount, state, dead_from, \
     check_count, delivery_attempts, next_attempt_at_ms, last_error, created_at_ms, updated_at_ms";

fn message_of(row: MessageRow) -> Result<Message, CompensationError> {
    let state = |text: &str| {
        State::parse(text).ok_or_else(|| CompensationError::CorruptState {
            id: row.0.clone(),
            state: text.to_string(),
        })
    };
    let current = state(&row.5)?;
    let dead_from = row.6.as_deref().map(state).transpose()?;
    Ok(Message {
        state: current,
        dead_from,
        amount: row.4.map(|m| m.0),
        check_count: row.7,
        delivery_attempts: row.8,
        next_attempt_at_ms: row.9,
        last_error: row.10.clone(),
        created_at_ms: row.11,
        updated_at_ms: row.12,
        id: row.0,
        txn_type: row.1,
        business_key: row.2,
        payload: row.3,
    })
}

/// One message, if it exists.
pub async fn get(db: &Db, id: &str) -> Result<Option<Message>, CompensationError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM txn_messages WHERE id = $1");
    let row: Option<MessageRow> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
    });
    row.map(message_of).transpose()
}

/// Messages (optionally only those in `state`), by id, at most `limit`.
pub async fn list(
    db: &Db,
    state: Option<State>,
    limit: usize,
) -> Result<Vec<Message>, CompensationError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM txn_messages WHERE ($1 = '' OR state = $1) ORDER BY id LIMIT $2"
    );
    let rows: Vec<MessageRow> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(state.map(State::as_str).unwrap_or(""))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(message_of).collect()
}

/// The journal of manual actions and refused confirmations of one message.
pub async fn actions(db: &Db, id: &str) -> Result<Vec<Action>, CompensationError> {
    type ActionRow = (i64, String, i64, String, String, String, String, String);
    let rows: Vec<ActionRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT seq, message_id, at_ms, actor, action, old_state, new_state, reason \
             FROM txn_actions WHERE message_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| Action {
            seq: r.0,
            message_id: r.1,
            at_ms: r.2,
            actor: r.3,
            action: r.4,
            old_state: r.5,
            new_state: r.6,
            reason: r.7,
        })
        .collect())
}

/// Appends one row to the action journal inside `tx`.
pub async fn append_action(tx: &mut DbTx, entry: &Action) -> Result<(), CompensationError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO txn_actions (message_id, at_ms, actor, action, old_state, new_state, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&entry.message_id)
        .bind(entry.at_ms)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.old_state)
        .bind(&entry.new_state)
        .bind(&entry.reason)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// Number of messages per state (absent states omitted).
pub async fn count_by_state(db: &Db) -> Result<BTreeMap<String, i64>, CompensationError> {
    let rows: Vec<(String, i64)> = on_db!(db, pool => {
        sqlx::query_as("SELECT state, COUNT(*) FROM txn_messages GROUP BY state")
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().collect())
}
