//! The aging roll-forward of the register (差错余额变动表): per job and
//! business date, for the unresolved breaks (pending and open),
//! opening + aged + new − auto-resolved − resolved by hand = closing, in
//! count and amount, in total, by age bucket and by category.
//!
//! Rebuilt from the register's rows: a row is unresolved at the end of date
//! `D` when its business date is on or before `D` and it was not closed on or
//! before `D`. It closes on `settled_on` (auto-resolved: the business date of
//! the run that matched it or no longer found it) or on the local date of
//! `resolved_at` in the job's zone (resolved by hand), never before its own
//! business date. Its amount is `|delta|` (差错金额); its category is the
//! register's current one. `aged` moves the opening rows into the bucket of
//! their age at `D` (账龄迁移; zero in total and per category).
//!
//! Every figure is checked before anything is written: the identity per
//! line, the lines of each breakdown against the total, and, on a date no
//! later than any closing the register knows, the closing against the rows
//! the register holds unresolved. A difference is an error, never a report.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::BreakState;
use crate::db::DbTx;
use crate::money::Money;
use crate::on_tx;
use crate::report::{CsvReport, ReportError};

/// The age buckets (账龄区间), in days from the business date.
pub const AGE_BUCKETS: [(&str, i64, i64); 5] = [
    ("0-1", 0, 1),
    ("2-3", 2, 3),
    ("4-7", 4, 7),
    ("8-30", 8, 30),
    (">30", 31, i64::MAX),
];

/// `rollforward.csv` header.
pub const ROLLFORWARD_HEADER: [&str; 15] = [
    "date",
    "dimension",
    "group",
    "opening_count",
    "opening_amount",
    "aged_count",
    "aged_amount",
    "new_count",
    "new_amount",
    "auto_resolved_count",
    "auto_resolved_amount",
    "manual_count",
    "manual_amount",
    "closing_count",
    "closing_amount",
];

/// Why a roll-forward could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RollforwardError {
    #[error("register row {id}: {reason}")]
    Row { id: i64, reason: String },
    #[error(
        "roll-forward of {job} does not balance on {date} ({dimension} {group}): {detail}; nothing was written"
    )]
    Unbalanced {
        job: String,
        date: NaiveDate,
        dimension: String,
        group: String,
        detail: String,
    },
    #[error("from {from} is after to {to}")]
    Range { from: NaiveDate, to: NaiveDate },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// A count and an amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figure {
    pub count: i64,
    pub amount: Decimal,
}

impl Figure {
    fn add(&mut self, amount: Decimal) {
        self.count += 1;
        self.amount += amount;
    }
    fn sub(&mut self, amount: Decimal) {
        self.count -= 1;
        self.amount -= amount;
    }
    fn plus(self, other: Figure) -> Figure {
        Figure {
            count: self.count + other.count,
            amount: self.amount + other.amount,
        }
    }
    fn minus(self, other: Figure) -> Figure {
        Figure {
            count: self.count - other.count,
            amount: self.amount - other.amount,
        }
    }
}

/// One line of the roll-forward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    pub date: Option<NaiveDate>,
    /// `total`, `age` or `category`.
    pub dimension: &'static str,
    /// `all`, an age bucket, or a category.
    pub group: String,
    pub opening: Figure,
    pub aged: Figure,
    pub new: Figure,
    pub auto_resolved: Figure,
    pub manual: Figure,
    pub closing: Figure,
}

/// A register row as the roll-forward sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: i64,
    business_date: NaiveDate,
    category: String,
    amount: Decimal,
    /// The date it closed, and whether by hand.
    closed: Option<(NaiveDate, bool)>,
}

impl Row {
    fn open_at(&self, date: NaiveDate) -> bool {
        self.business_date <= date && self.closed.is_none_or(|(on, _)| on > date)
    }
}

/// The roll-forward of `job` for every date from `from` to `to`, read in
/// `tx` (so a run sees its own register writes) and checked.
pub async fn rollforward(
    tx: &mut DbTx,
    job: &str,
    zone: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Line>, RollforwardError> {
    if from > to {
        return Err(RollforwardError::Range { from, to });
    }
    let rows = read_rows(tx, job, zone, to).await?;
    let mut lines = Vec::new();
    let mut date = from;
    loop {
        let day = lines_of(&rows, date);
        check(job, date, &rows, &day)?;
        lines.extend(day);
        match date.succ_opt() {
            Some(next) if next <= to => date = next,
            _ => break,
        }
    }
    Ok(lines)
}

type Stored = (
    i64,
    NaiveDate,
    String,
    String,
    Money,
    Option<NaiveDate>,
    Option<DateTime<Utc>>,
);

async fn read_rows(
    tx: &mut DbTx,
    job: &str,
    zone: Tz,
    to: NaiveDate,
) -> Result<Vec<Row>, RollforwardError> {
    let stored: Vec<Stored> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT id, business_date, category, state, delta, settled_on, resolved_at \
             FROM recon_breaks WHERE job = $1 AND business_date <= $2 ORDER BY id",
        )
        .bind(job)
        .bind(to)
        .fetch_all(&mut **conn)
        .await?
    });
    stored
        .into_iter()
        .map(
            |(id, business_date, category, state, delta, settled_on, resolved_at)| {
                let state = BreakState::stored(&state)?;
                let closed = match state {
                    BreakState::Pending | BreakState::Open => None,
                    BreakState::AutoResolved => {
                        let on = settled_on.ok_or_else(|| RollforwardError::Row {
                            id,
                            reason: "auto_resolved without the date of the run that settled it"
                                .into(),
                        })?;
                        Some((on, false))
                    }
                    BreakState::Resolved => {
                        let at = resolved_at.ok_or_else(|| RollforwardError::Row {
                            id,
                            reason: "resolved without a resolution time".into(),
                        })?;
                        Some((at.with_timezone(&zone).date_naive(), true))
                    }
                };
                let closed = closed.map(|(on, by_hand)| (on.max(business_date), by_hand));
                Ok(Row {
                    id,
                    business_date,
                    category,
                    amount: delta.0.abs(),
                    closed,
                })
            },
        )
        .collect()
}

fn bucket(age_days: i64) -> &'static str {
    AGE_BUCKETS
        .iter()
        .find(|(_, low, high)| (*low..=*high).contains(&age_days))
        .map(|(name, _, _)| *name)
        .unwrap_or(">30")
}

/// A figure of a line that a row adds to.
#[derive(Debug, Clone, Copy)]
enum Flow {
    New,
    AutoResolved,
    Manual,
    Closing,
}

impl Flow {
    fn of(self, line: &mut Line) -> &mut Figure {
        match self {
            Flow::New => &mut line.new,
            Flow::AutoResolved => &mut line.auto_resolved,
            Flow::Manual => &mut line.manual,
            Flow::Closing => &mut line.closing,
        }
    }
}

/// The lines of one date: total, the five buckets, then categories by name.
fn lines_of(rows: &[Row], date: NaiveDate) -> Vec<Line> {
    let previous = date.pred_opt().unwrap_or(date);
    let mut total = Line {
        date: Some(date),
        dimension: "total",
        group: "all".into(),
        ..Line::default()
    };
    let mut ages: BTreeMap<&str, Line> = AGE_BUCKETS
        .iter()
        .map(|(name, _, _)| {
            (
                *name,
                Line {
                    date: Some(date),
                    dimension: "age",
                    group: (*name).to_string(),
                    ..Line::default()
                },
            )
        })
        .collect();
    let mut categories: BTreeMap<&str, Line> = BTreeMap::new();
    for row in rows {
        let age_then = bucket((previous - row.business_date).num_days());
        let age_now = bucket((date - row.business_date).num_days());
        let was_open = date != previous && row.open_at(previous);
        let is_open = row.open_at(date);
        let found = row.business_date == date;
        let closed_today = row.closed.filter(|(on, _)| *on == date);
        if !(was_open || is_open || found || closed_today.is_some()) {
            continue;
        }
        let category = categories
            .entry(row.category.as_str())
            .or_insert_with(|| Line {
                date: Some(date),
                dimension: "category",
                group: row.category.clone(),
                ..Line::default()
            });
        let amount = row.amount;
        if was_open {
            total.opening.add(amount);
            category.opening.add(amount);
            if let Some(line) = ages.get_mut(age_then) {
                line.opening.add(amount);
                if age_then != age_now {
                    line.aged.sub(amount);
                }
            }
            if age_then != age_now
                && let Some(line) = ages.get_mut(age_now)
            {
                line.aged.add(amount);
            }
        }
        let mut flows = Vec::with_capacity(3);
        if found {
            flows.push(Flow::New);
        }
        match closed_today {
            Some((_, true)) => flows.push(Flow::Manual),
            Some((_, false)) => flows.push(Flow::AutoResolved),
            None => {}
        }
        if is_open {
            flows.push(Flow::Closing);
        }
        for flow in flows {
            flow.of(&mut total).add(amount);
            flow.of(category).add(amount);
            if let Some(line) = ages.get_mut(age_now) {
                flow.of(line).add(amount);
            }
        }
    }
    let mut lines = vec![total];
    lines.extend(ages.into_values());
    lines.extend(categories.into_values());
    lines
}

/// The checks made before a roll-forward is written (module documentation).
fn check(job: &str, date: NaiveDate, rows: &[Row], lines: &[Line]) -> Result<(), RollforwardError> {
    let fail = |line: &Line, detail: String| RollforwardError::Unbalanced {
        job: job.to_string(),
        date,
        dimension: line.dimension.to_string(),
        group: line.group.clone(),
        detail,
    };
    for line in lines {
        let rolled = line
            .opening
            .plus(line.aged)
            .plus(line.new)
            .minus(line.auto_resolved)
            .minus(line.manual);
        if rolled != line.closing {
            return Err(fail(
                line,
                format!(
                    "opening + aged + new − auto-resolved − by hand = {} / {}, closing {} / {}",
                    rolled.count, rolled.amount, line.closing.count, line.closing.amount
                ),
            ));
        }
    }
    let Some(total) = lines.first() else {
        return Ok(());
    };
    for dimension in ["age", "category"] {
        let mut sum = Line::default();
        for line in lines.iter().filter(|l| l.dimension == dimension) {
            sum.opening = sum.opening.plus(line.opening);
            sum.aged = sum.aged.plus(line.aged);
            sum.new = sum.new.plus(line.new);
            sum.auto_resolved = sum.auto_resolved.plus(line.auto_resolved);
            sum.manual = sum.manual.plus(line.manual);
            sum.closing = sum.closing.plus(line.closing);
        }
        let figures = |l: &Line| [l.opening, l.new, l.auto_resolved, l.manual, l.closing];
        if figures(&sum) != figures(total) || sum.aged != Figure::default() {
            return Err(fail(
                total,
                format!("the {dimension} lines do not add up to the total"),
            ));
        }
    }
    let last_closing = rows.iter().filter_map(|r| r.closed.map(|(on, _)| on)).max();
    if last_closing.is_none_or(|last| date >= last) {
        let mut held = Figure::default();
        for row in rows
            .iter()
            .filter(|r| r.business_date <= date && r.closed.is_none())
        {
            held.add(row.amount);
        }
        if held != total.closing {
            return Err(fail(
                total,
                format!(
                    "closing {} / {} but the register holds {} / {} unresolved",
                    total.closing.count, total.closing.amount, held.count, held.amount
                ),
            ));
        }
    }
    Ok(())
}

/// `rollforward.csv` of one run's date, read in the run's register
/// transaction after its writes (so it includes them), checked.
pub async fn date_report(
    tx: &mut DbTx,
    job: &str,
    zone: Tz,
    date: NaiveDate,
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), RollforwardError> {
    let lines = rollforward(tx, job, zone, date, date).await?;
    Ok(rollforward_report(&lines, excel_bom)?)
}

/// `rollforward.csv`: the lines in date order, amounts with two decimals.
pub fn rollforward_report(
    lines: &[Line],
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("rollforward.csv", &ROLLFORWARD_HEADER, excel_bom)?;
    let money = |amount: Decimal| format!("{:.2}", amount.round_dp(2));
    for line in lines {
        let mut cells = vec![
            line.date.map(|d| d.to_string()).unwrap_or_default(),
            line.dimension.to_string(),
            line.group.clone(),
        ];
        for figure in [
            line.opening,
            line.aged,
            line.new,
            line.auto_resolved,
            line.manual,
            line.closing,
        ] {
            cells.push(figure.count.to_string());
            cells.push(money(figure.amount));
        }
        report.row(cells)?;
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn row(id: i64, found: u32, amount: i64, closed: Option<(u32, bool)>) -> Row {
        Row {
            id,
            business_date: day(found),
            category: if id % 2 == 0 {
                "amount_mismatch"
            } else {
                "missing_in_channel"
            }
            .into(),
            amount: Decimal::new(amount, 2),
            closed: closed.map(|(d, hand)| (day(d), hand)),
        }
    }

    #[test]
    fn every_day_rolls_forward_and_ages() {
        let rows = vec![
            row(1, 1, 1000, None),
            row(2, 1, 250, Some((3, false))),
            row(3, 2, 99, Some((2, false))),
            row(4, 3, 500, Some((5, true))),
            row(5, 4, 700, None),
        ];
        for d in 1..=10 {
            let lines = lines_of(&rows, day(d));
            check("j", day(d), &rows, &lines).unwrap();
        }
        let lines = lines_of(&rows, day(4));
        let total = &lines[0];
        assert_eq!(total.opening.count, 2); // rows 1 and 4 (2 closed on the 3rd)
        assert_eq!(total.new.count, 1);
        assert_eq!(total.closing.count, 3);
        // Row 1 turns 3 days old on the 4th: it moves from 2-3 to... still 2-3; on the 5th to 4-7.
        let fifth = lines_of(&rows, day(5));
        let four_to_seven = fifth.iter().find(|l| l.group == "4-7").unwrap();
        assert_eq!(four_to_seven.aged.count, 1);
        assert_eq!(four_to_seven.closing.amount, Decimal::new(1000, 2));
    }

    #[test]
    fn a_row_closed_before_it_was_found_is_an_error_not_a_figure() {
        let mut rows = vec![row(1, 1, 1000, None)];
        let lines = lines_of(&rows, day(1));
        // Tamper: the register says open, the lines say otherwise.
        rows[0].closed = Some((day(1), false));
        assert!(check("j", day(1), &rows, &lines).is_err());
    }
}
