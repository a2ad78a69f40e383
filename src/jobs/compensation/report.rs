//! The run's reports, built from the journal of what its shards did
//! (`txn_run_actions`): `compensation.csv` (one row per transition, by
//! message id then counters) and `summary.csv` (new dead messages first,
//! then counts and amounts per outcome in a fixed order).

use rust_decimal::Decimal;

use super::error::CompensationError;
use super::state::State;
use crate::db::Db;
use crate::money::{Money, format_scaled};
use crate::on_db;
use crate::report::{CsvReport, ReportError};

/// Outcomes of `summary.csv`, in order: dead first (they need a person).
pub const OUTCOMES: [&str; 6] = [
    "dead",
    "committed",
    "rolled_back",
    "delivered",
    "check_unknown",
    "delivery_failed",
];

/// One transition a run made, with the message's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRow {
    pub message_id: String,
    pub txn_type: String,
    pub business_key: String,
    pub amount: Option<Decimal>,
    pub old_state: String,
    pub new_state: String,
    pub checks: i64,
    pub attempts: i64,
    pub error: Option<String>,
}

impl ActionRow {
    /// The summary outcome of this transition.
    pub fn outcome(&self) -> &'static str {
        let old = State::parse(&self.old_state);
        match (old, State::parse(&self.new_state)) {
            (_, Some(State::Dead)) => "dead",
            (_, Some(State::Committed)) if old == Some(State::Prepared) => "committed",
            (_, Some(State::Committed)) => "delivery_failed",
            (_, Some(State::RolledBack)) => "rolled_back",
            (_, Some(State::Delivered)) => "delivered",
            _ => "check_unknown",
        }
    }
}

/// The transitions journaled by `run_id`'s shard `item`.
pub async fn load_actions(
    db: &Db,
    run_id: &str,
    item: u32,
) -> Result<Vec<ActionRow>, CompensationError> {
    type Row = (
        String,
        String,
        String,
        Option<Money>,
        String,
        String,
        i64,
        i64,
        Option<String>,
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT a.message_id, m.txn_type, m.business_key, m.amount, a.old_state, a.new_state, \
             a.check_count, a.delivery_attempts, a.error \
             FROM txn_run_actions a JOIN txn_messages m ON m.id = a.message_id \
             WHERE a.run_id = $1 AND a.item = $2",
        )
        .bind(run_id)
        .bind(i64::from(item))
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| ActionRow {
            message_id: r.0,
            txn_type: r.1,
            business_key: r.2,
            amount: r.3.map(|m| m.0),
            old_state: r.4,
            new_state: r.5,
            checks: r.6,
            attempts: r.7,
            error: r.8,
        })
        .collect())
}

/// Puts actions in report order: message id, then check count, then attempts.
pub fn sort(actions: &mut [ActionRow]) {
    actions.sort_by(|a, b| {
        (&a.message_id, a.checks, a.attempts).cmp(&(&b.message_id, b.checks, b.attempts))
    });
}

fn amount_text(amount: Option<Decimal>) -> String {
    amount.map(|a| format_scaled(a, 2)).unwrap_or_default()
}

/// `compensation.csv` from sorted actions.
pub fn compensation_csv(actions: &[ActionRow], bom: bool) -> Result<CsvReport, ReportError> {
    let mut csv = CsvReport::new(
        "compensation.csv",
        &[
            "message_id",
            "txn_type",
            "business_key",
            "amount",
            "old_state",
            "new_state",
            "checks",
            "attempts",
            "error",
        ],
        bom,
    )?;
    for a in actions {
        csv.row([
            a.message_id.clone(),
            a.txn_type.clone(),
            a.business_key.clone(),
            amount_text(a.amount),
            a.old_state.clone(),
            a.new_state.clone(),
            a.checks.to_string(),
            a.attempts.to_string(),
            a.error.clone().unwrap_or_default(),
        ])?;
    }
    Ok(csv)
}

/// `summary.csv` from sorted actions: one `dead_message` row per message that
/// went dead in this run, then a `total` row per outcome (all six, always).
pub fn summary_csv(actions: &[ActionRow], bom: bool) -> Result<CsvReport, ReportError> {
    let mut csv = CsvReport::new(
        "summary.csv",
        &[
            "section",
            "outcome",
            "message_id",
            "txn_type",
            "business_key",
            "messages",
            "amount",
        ],
        bom,
    )?;
    for a in actions.iter().filter(|a| a.outcome() == "dead") {
        csv.row([
            "dead_message".to_string(),
            "dead".to_string(),
            a.message_id.clone(),
            a.txn_type.clone(),
            a.business_key.clone(),
            "1".to_string(),
            amount_text(a.amount),
        ])?;
    }
    for outcome in OUTCOMES {
        let matching: Vec<&ActionRow> = actions.iter().filter(|a| a.outcome() == outcome).collect();
        let amount: Decimal = matching.iter().filter_map(|a| a.amount).sum();
        csv.row([
            "total".to_string(),
            outcome.to_string(),
            String::new(),
            String::new(),
            String::new(),
            matching.len().to_string(),
            format_scaled(amount, 2),
        ])?;
    }
    Ok(csv)
}

/// The attention lines of a run: one per message that went dead.
pub fn attention(actions: &[ActionRow]) -> Vec<String> {
    actions
        .iter()
        .filter(|a| a.outcome() == "dead")
        .map(|a| {
            let why = if a.old_state == "committed" {
                format!("delivery gave up after {} attempts", a.attempts)
            } else {
                format!("check-back gave up after {} checks", a.checks)
            };
            format!(
                "transactional message {} ({} {}) is dead: {why}; last error: {}",
                a.message_id,
                a.txn_type,
                a.business_key,
                a.error.as_deref().unwrap_or("none")
            )
        })
        .collect()
}
