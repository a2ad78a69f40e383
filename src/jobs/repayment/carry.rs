//! What a repayment date carries into the next one: each loan's state at the
//! end of D (status, outstanding and overdue amounts, penalty owed, money not
//! yet applied) and each installment's paid state. D+1 replays from stable
//! inputs, so it does not read these rows, but they change exactly when an
//! input of D changed (a late receipt), which D+1 and later dates read too:
//! a rerun of D whose state differs marks them stale.

use chrono::NaiveDate;

use crate::db::Db;
use crate::jobs::carry_digest::{CarryDigest, amount};
use crate::money::Money;
use crate::on_db;

type LoanRow = (String, String, Money, Money, Money, Money, i64, Money);
type InstallmentRow = (
    String,
    i64,
    NaiveDate,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
    String,
);

/// The carry digest of `(job, date)`'s loan and installment state rows
/// written under the current shard count (`item < items`).
pub async fn digest(
    db: &Db,
    job: &str,
    date: NaiveDate,
    items: u32,
) -> Result<String, sqlx::Error> {
    let loans: Vec<LoanRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT loan_id, status, outstanding_principal, overdue_principal, overdue_interest, \
             penalty_owed, days_overdue, unapplied FROM repayment_loan_days \
             WHERE job = $1 AND business_date = $2 AND item < $3 ORDER BY loan_id",
        )
        .bind(job)
        .bind(date)
        .bind(i64::from(items))
        .fetch_all(pool)
        .await?
    });
    let installments: Vec<InstallmentRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT loan_id, period, due_date, principal, interest, paid_principal, paid_interest, \
             penalty, paid_penalty, status FROM repayment_installment_days \
             WHERE job = $1 AND business_date = $2 AND item < $3 ORDER BY loan_id, period",
        )
        .bind(job)
        .bind(date)
        .bind(i64::from(items))
        .fetch_all(pool)
        .await?
    });
    let mut digest = CarryDigest::default();
    for (loan, status, outstanding, overdue_p, overdue_i, penalty, days, unapplied) in loans {
        digest.row(&[
            "loan".to_string(),
            loan,
            status,
            amount(outstanding.0),
            amount(overdue_p.0),
            amount(overdue_i.0),
            amount(penalty.0),
            days.to_string(),
            amount(unapplied.0),
        ]);
    }
    for (loan, period, due, principal, interest, paid_p, paid_i, penalty, paid_pen, status) in
        installments
    {
        digest.row(&[
            "installment".to_string(),
            loan,
            period.to_string(),
            due.to_string(),
            amount(principal.0),
            amount(interest.0),
            amount(paid_p.0),
            amount(paid_i.0),
            amount(penalty.0),
            amount(paid_pen.0),
            status,
        ]);
    }
    Ok(digest.finish())
}
