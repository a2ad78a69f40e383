//! Recording the breaks a run of (job, business date) found.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{BreakState, NewBreak, RecordedBreaks};
use crate::batch::{RowBatch, Value};
use crate::db::DbTx;
use crate::money::Money;
use crate::on_tx;

/// A register row of the date, as a rerun needs it.
struct Existing {
    id: i64,
    state: BreakState,
    settled_on: Option<NaiveDate>,
}

/// Records the breaks the run of `(job, date)` found, in report order. A
/// rerun updates the date's rows (never duplicates them): rows found again
/// keep their state — except one this date's own earlier run had
/// auto-resolved, which reopens —, new rows open (or are pending), and the
/// date's unresolved rows the run no longer finds are auto-resolved. A
/// person's resolution is never undone.
pub async fn record_date(
    tx: &mut DbTx,
    job: &str,
    date: NaiveDate,
    run_id: &str,
    breaks: &[NewBreak],
) -> Result<RecordedBreaks, sqlx::Error> {
    let mut existing = existing_rows(tx, job, date).await?;
    let mut occurrences: HashMap<(&str, &str), i64> = HashMap::new();
    let mut recorded = RecordedBreaks::default();
    let mut inserts = RowBatch::new(
        "recon_breaks",
        &[
            "job",
            "business_date",
            "found_as",
            "break_key",
            "occurrence",
            "category",
            "kind",
            "sides",
            "left_amount",
            "right_amount",
            "delta",
            "detail",
            "payload",
            "state",
            "first_run_id",
            "last_run_id",
        ],
    );
    for found in breaks {
        let occurrence = occurrences
            .entry((found.category.as_str(), found.key.as_str()))
            .or_insert(0);
        *occurrence += 1;
        let identity = (found.category.clone(), found.key.clone(), *occurrence);
        let initial = if found.pending {
            BreakState::Pending
        } else {
            BreakState::Open
        };
        match existing.remove(&identity) {
            Some(row) => {
                let reopen = row.state == BreakState::AutoResolved && row.settled_on == Some(date);
                update_row(tx, row.id, found, run_id, reopen.then_some(initial)).await?;
                if reopen {
                    recorded.opened += 1;
                } else {
                    recorded.updated += 1;
                }
            }
            None => {
                inserts.push(vec![
                    Value::Text(job.to_string()),
                    Value::Date(date),
                    Value::Text(found.category.clone()),
                    Value::Text(found.key.clone()),
                    Value::Int(*occurrence),
                    Value::Text(found.category.clone()),
                    Value::Text(found.kind.clone()),
                    Value::Text(found.sides.clone()),
                    Value::OptionalMoney(found.left_amount),
                    Value::OptionalMoney(found.right_amount),
                    Value::Money(found.delta),
                    Value::Text(found.detail.clone()),
                    Value::Text(found.payload.clone()),
                    Value::Text(initial.as_str().to_string()),
                    Value::Text(run_id.to_string()),
                    Value::Text(run_id.to_string()),
                ]);
                recorded.opened += 1;
            }
        }
    }
    inserts.flush(tx).await?;
    let mut gone: Vec<&Existing> = existing
        .values()
        .filter(|row| row.state.is_unresolved())
        .collect();
    gone.sort_by_key(|row| row.id);
    for row in gone {
        on_tx!(tx, conn => {
            sqlx::query(
                "UPDATE recon_breaks SET state = 'auto_resolved', settled_on = $1, last_run_id = $2 \
                 WHERE id = $3",
            )
            .bind(date)
            .bind(run_id)
            .bind(row.id)
            .execute(&mut **conn)
            .await?;
        });
        recorded.auto_resolved += 1;
    }
    Ok(recorded)
}

type Identity = (String, String, i64);

async fn existing_rows(
    tx: &mut DbTx,
    job: &str,
    date: NaiveDate,
) -> Result<HashMap<Identity, Existing>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64, String, Option<NaiveDate>)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT id, found_as, break_key, occurrence, state, settled_on FROM recon_breaks \
             WHERE job = $1 AND business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(&mut **conn)
        .await?
    });
    rows.into_iter()
        .map(|(id, found_as, key, occurrence, state, settled_on)| {
            // The CHECK constraint allows only known states; anything else is an error.
            let state = BreakState::stored(&state)?;
            Ok((
                (found_as, key, occurrence),
                Existing {
                    id,
                    state,
                    settled_on,
                },
            ))
        })
        .collect()
}

async fn update_row(
    tx: &mut DbTx,
    id: i64,
    found: &NewBreak,
    run_id: &str,
    reopen_as: Option<BreakState>,
) -> Result<(), sqlx::Error> {
    let money = |amount: Option<rust_decimal::Decimal>| amount.map(Money);
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE recon_breaks SET kind = $1, sides = $2, left_amount = $3, right_amount = $4, \
             delta = $5, detail = $6, payload = $7, last_run_id = $8, \
             state = COALESCE($9, state), \
             category = CASE WHEN $9 IS NULL THEN category ELSE found_as END, \
             settled_on = CASE WHEN $9 IS NULL THEN settled_on ELSE NULL END \
             WHERE id = $10",
        )
        .bind(&found.kind)
        .bind(&found.sides)
        .bind(money(found.left_amount))
        .bind(money(found.right_amount))
        .bind(Money(found.delta))
        .bind(&found.detail)
        .bind(&found.payload)
        .bind(run_id)
        .bind(reopen_as.map(BreakState::as_str))
        .bind(id)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
