//! Reading the register and resolving a break by hand (`reckon breaks`).

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{Break, BreakState};
use crate::db::{Db, DbTx};
use crate::money::Money;
use crate::{on_db, on_tx};

/// Why a register operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum BreakError {
    #[error("there is no break with id {0}")]
    NotFound(i64),
    #[error("break {id} is already {state} ({how}); nothing was changed")]
    AlreadyClosed {
        id: i64,
        state: &'static str,
        how: String,
    },
    #[error("a note is required to resolve a break: say why it is resolved")]
    EmptyNote,
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Which breaks to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreakFilter {
    /// Only this job's.
    pub job: Option<String>,
    /// Only unresolved ones (pending or open).
    pub unresolved: bool,
    /// Only those whose business date is more than this many days before `today`.
    pub older_than_days: Option<u32>,
    /// The day ages are counted to.
    pub today: Option<NaiveDate>,
    /// Only this business date's.
    pub business_date: Option<NaiveDate>,
    /// Only this category (`missing_in_statement`, `amount_mismatch`, …).
    pub category: Option<String>,
    /// Only breaks in this state.
    pub state: Option<BreakState>,
    /// Only those whose business date is at most this many days before `today`.
    pub younger_than_days: Option<u32>,
    /// At most this many (oldest first); `None` = all.
    pub limit: Option<i64>,
}

const COLUMNS: &str = "id, job, business_date, category, found_as, break_key, kind, sides, \
    left_amount, right_amount, delta, detail, state, settled_on, resolved_by, resolved_at, note";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    job: String,
    business_date: NaiveDate,
    category: String,
    found_as: String,
    break_key: String,
    kind: String,
    sides: String,
    left_amount: Option<Money>,
    right_amount: Option<Money>,
    delta: Money,
    detail: String,
    state: String,
    settled_on: Option<NaiveDate>,
    resolved_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    note: Option<String>,
}

fn break_of(row: Row) -> Result<Break, BreakError> {
    Ok(Break {
        id: row.id,
        job: row.job,
        business_date: row.business_date,
        category: row.category,
        found_as: row.found_as,
        key: row.break_key,
        kind: row.kind,
        sides: row.sides,
        left_amount: row.left_amount.map(|m| m.0),
        right_amount: row.right_amount.map(|m| m.0),
        delta: row.delta.0,
        detail: row.detail,
        state: BreakState::stored(&row.state)?,
        settled_on: row.settled_on,
        resolved_by: row.resolved_by,
        resolved_at: row.resolved_at,
        note: row.note,
    })
}

/// The breaks matching `filter`, oldest business date first, then by id.
pub async fn list(db: &Db, filter: &BreakFilter) -> Result<Vec<Break>, BreakError> {
    let today = filter.today.unwrap_or_else(|| Utc::now().date_naive());
    let before = filter
        .older_than_days
        .map(|days| today - Duration::days(i64::from(days)));
    let since = filter
        .younger_than_days
        .map(|days| today - Duration::days(i64::from(days)));
    let sql = format!(
        "SELECT {COLUMNS} FROM recon_breaks \
         WHERE ($1 IS NULL OR job = $1) \
           AND ($2 = 0 OR state IN ('pending', 'open')) \
           AND ($3 IS NULL OR business_date < $3) \
           AND ($4 IS NULL OR business_date = $4) \
           AND ($5 IS NULL OR category = $5) \
           AND ($6 IS NULL OR state = $6) \
           AND ($7 IS NULL OR business_date >= $7) \
         ORDER BY business_date, job, id LIMIT $8"
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(filter.job.as_deref())
            .bind(i64::from(filter.unresolved))
            .bind(before)
            .bind(filter.business_date)
            .bind(filter.category.as_deref())
            .bind(filter.state.map(BreakState::as_str))
            .bind(since)
            .bind(filter.limit.unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(break_of).collect()
}

/// One break by id.
pub async fn get(db: &Db, id: i64) -> Result<Break, BreakError> {
    let sql = format!("SELECT {COLUMNS} FROM recon_breaks WHERE id = $1");
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?
    });
    row.map(break_of).ok_or(BreakError::NotFound(id))?
}

/// Resolves an unresolved break by hand: who, when and why are recorded.
/// A break already closed is refused (its record is kept as it is).
pub async fn resolve(
    db: &Db,
    id: i64,
    who: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Break, BreakError> {
    if note.trim().is_empty() {
        return Err(BreakError::EmptyNote);
    }
    let current = get(db, id).await?;
    if !current.state.is_unresolved() {
        let how = match current.state {
            BreakState::Resolved => format!(
                "by {} on {}",
                current.resolved_by.as_deref().unwrap_or("?"),
                current
                    .resolved_at
                    .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default()
            ),
            _ => format!(
                "by the run of {}",
                current
                    .settled_on
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
        };
        return Err(BreakError::AlreadyClosed {
            id,
            state: current.state.as_str(),
            how,
        });
    }
    let changed = on_db!(db, pool => {
        sqlx::query(
            "UPDATE recon_breaks SET state = 'resolved', resolved_by = $1, resolved_at = $2, note = $3 \
             WHERE id = $4 AND state IN ('pending', 'open')",
        )
        .bind(who)
        .bind(now)
        .bind(note.trim())
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if changed == 0 {
        // A run closed it between the read and the update: report what it is now.
        return Err(BreakError::AlreadyClosed {
            id,
            state: get(db, id).await?.state.as_str(),
            how: "just now, by a run".to_string(),
        });
    }
    get(db, id).await
}

/// Unresolved breaks counted by job and business date, for aging buckets.
pub async fn unresolved_by_date(db: &Db) -> Result<Vec<(String, NaiveDate, i64)>, BreakError> {
    let rows: Vec<(String, NaiveDate, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT job, business_date, COUNT(*) FROM recon_breaks \
             WHERE state IN ('pending', 'open') GROUP BY job, business_date ORDER BY job, business_date",
        )
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// The distinct categories in the register (for the console's filter).
pub async fn categories(db: &Db) -> Result<Vec<String>, BreakError> {
    let rows: Vec<String> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT DISTINCT category FROM recon_breaks ORDER BY category")
            .fetch_all(pool)
            .await?
    });
    Ok(rows)
}

/// An attention line when `job` has unresolved breaks more than `days` days
/// older than `as_of` (the run's business date, so reruns say the same).
pub async fn aged_attention(
    tx: &mut DbTx,
    job: &str,
    as_of: NaiveDate,
    days: u32,
) -> Result<Option<String>, BreakError> {
    // The same breaks as `list` with `unresolved` and `older_than_days`,
    // counted inside the run's conclusion transaction, so the register
    // writes of the run itself are seen before they commit.
    let before = as_of - Duration::days(i64::from(days));
    let aged: i64 = on_tx!(tx, conn => {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM recon_breaks WHERE job = $1 AND state IN ('pending', 'open') \
             AND business_date < $2",
        )
        .bind(job)
        .bind(before)
        .fetch_one(&mut **conn)
        .await?
    });
    Ok((aged > 0).then(|| {
        format!(
            "{aged} unresolved breaks of {job} are more than {days} days old \
             (reckon breaks --job {job} --open --older-than {days})"
        )
    }))
}
