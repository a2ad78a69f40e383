//! Breaks carried across days: one-sided records of earlier dates that a
//! later run may pair with its own (cross-day transactions, 跨日交易).

use chrono::NaiveDate;

use super::BreakState;
use crate::db::{Db, DbTx};
use crate::{on_db, on_tx};

/// An earlier date's one-sided record that today's run re-examines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedBreak {
    pub id: i64,
    pub business_date: NaiveDate,
    pub found_as: String,
    pub category: String,
    pub key: String,
    pub kind: String,
    pub payload: String,
    pub state: BreakState,
    /// Business date of the run that last changed its state automatically.
    pub settled_on: Option<NaiveDate>,
}

/// The records of `job` from dates before `date` that `date`'s run must
/// re-examine: unresolved ones whose category is in `categories`, and those
/// `date`'s own earlier run settled (so a rerun decides them again the same
/// way). Ordered by business date, then id.
pub async fn carried(
    db: &Db,
    job: &str,
    date: NaiveDate,
    categories: &[&str],
) -> Result<Vec<CarriedBreak>, sqlx::Error> {
    let placeholders: Vec<String> = (0..categories.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let sql = format!(
        "SELECT id, business_date, found_as, category, break_key, kind, payload, state, settled_on \
         FROM recon_breaks WHERE job = $1 AND business_date < $2 AND ( \
           (state IN ('pending', 'open') AND category IN ({})) \
           OR (settled_on = $2 AND state IN ('open', 'auto_resolved'))) \
         ORDER BY business_date, id",
        if placeholders.is_empty() {
            "NULL".to_string()
        } else {
            placeholders.join(", ")
        }
    );
    type Row = (
        i64,
        NaiveDate,
        String,
        String,
        String,
        String,
        String,
        String,
        Option<NaiveDate>,
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(job).bind(date);
        for category in categories {
            query = query.bind(*category);
        }
        query.fetch_all(pool).await?
    });
    rows.into_iter()
        .map(
            |(id, business_date, found_as, category, key, kind, payload, state, settled_on)| {
                Ok(CarriedBreak {
                    id,
                    business_date,
                    found_as,
                    category,
                    key,
                    kind,
                    payload,
                    state: BreakState::stored(&state)?,
                    settled_on,
                })
            },
        )
        .collect()
}

/// Sets a carried record's state and category as `date`'s run decided;
/// `settled` says whether the run changed it (matched it, or turned a
/// pending record into a break) or left it as it was found.
pub async fn set_carried_state(
    tx: &mut DbTx,
    id: i64,
    state: BreakState,
    category: &str,
    date: NaiveDate,
    settled: bool,
    run_id: &str,
) -> Result<(), sqlx::Error> {
    let settled_on = settled.then_some(date);
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE recon_breaks SET state = $1, category = $2, settled_on = $3, last_run_id = $4 \
             WHERE id = $5 AND state <> 'resolved'",
        )
        .bind(state.as_str())
        .bind(category)
        .bind(settled_on)
        .bind(run_id)
        .bind(id)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
