//! The end of day of one loan, as a pure function of stable inputs: its
//! terms, its original schedule and every repayment received up to the
//! business date. The state as of D is rebuilt from the disbursement on each
//! run, so rerunning D (or running D after D+1) can never apply a repayment
//! twice: nothing read by the computation is written by it.
//!
//! Each day d, in this order: repayments received on d are applied (oldest
//! due installment first; surplus prepays principal and regenerates the rest
//! of the schedule); installments due on or before d and not fully paid are
//! overdue; each overdue installment due before d accrues one day of penalty
//! on its unpaid principal. Days with no repayment and no due date in between
//! are accrued together (the daily amount is constant over them).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::allocation::{Allocation, Component, InstallmentState, allocate};
use super::interest::{DayCountBasis, daily_accrual, daily_penalty};
use super::schedule::{
    Installment, Method, Plan, ScheduleError, Terms, ZERO_CENTS, amortize, check,
};

/// What a prepayment does to the rest of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrepaymentMode {
    /// Keep the installment (or the principal a period); finish earlier.
    /// Interest-only and bullet loans have no shorter term: they get a lower installment.
    ShorterTerm,
    /// Keep the remaining due dates; lower the installments.
    LowerInstallment,
}

impl std::str::FromStr for PrepaymentMode {
    type Err = String;
    fn from_str(text: &str) -> Result<PrepaymentMode, String> {
        match text {
            "shorter-term" => Ok(PrepaymentMode::ShorterTerm),
            "lower-installment" => Ok(PrepaymentMode::LowerInstallment),
            other => Err(format!(
                "`{other}` is not shorter-term or lower-installment"
            )),
        }
    }
}

/// Settings of the end of day, from the job's `[params]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EodConfig {
    /// Penalty rate = contract rate × this (default 1.5).
    pub penalty_multiplier: Decimal,
    pub prepayment: PrepaymentMode,
}

/// A loan with everything its end of day needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    pub loan_id: String,
    pub terms: Terms,
    pub basis: DayCountBasis,
}

/// A repayment received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub repayment_id: String,
    pub received_on: NaiveDate,
    pub amount: Decimal,
}

/// A schedule regenerated after a prepayment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regeneration {
    /// 1 for the first regeneration of the loan, 2 for the next…
    pub version: u32,
    pub generated_on: NaiveDate,
    pub prepaid: Decimal,
    /// The not-yet-due periods after the prepayment.
    pub schedule: Vec<Installment>,
}

/// An allocation of one repayment on the business date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptAllocation {
    pub repayment_id: String,
    pub allocation: Allocation,
}

/// A loan's standing at the end of the business date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanStatus {
    /// Nothing overdue, principal outstanding.
    Active,
    /// Something due on or before the date is unpaid.
    Overdue,
    /// Repaid in full.
    Settled,
}

impl LoanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoanStatus::Active => "active",
            LoanStatus::Overdue => "overdue",
            LoanStatus::Settled => "settled",
        }
    }
}

/// The end of day of one loan on one business date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanDay {
    pub business_date: NaiveDate,
    pub status: LoanStatus,
    /// Every installment as of the end of the day (regenerated ones included).
    pub installments: Vec<InstallmentState>,
    /// Where the repayments received on the day went.
    pub allocations: Vec<ReceiptAllocation>,
    /// Every regeneration up to and including the day.
    pub regenerations: Vec<Regeneration>,
    /// Repayments received on the day.
    pub received: Decimal,
    pub receipts_count: u32,
    /// Interest accrued on the day on performing (not overdue) principal.
    pub accrued_interest: Decimal,
}

impl LoanDay {
    /// Sum of an allocation component over the day.
    pub fn applied(&self, component: Component) -> Decimal {
        self.allocations
            .iter()
            .filter(|a| a.allocation.component == component)
            .map(|a| a.allocation.amount)
            .fold(ZERO_CENTS, |sum, amount| sum + amount)
    }

    /// Unpaid principal of every installment.
    pub fn outstanding_principal(&self) -> Decimal {
        sum(self.installments.iter().map(|i| i.owed_principal()))
    }

    /// Installments due on or before the date and not fully paid.
    pub fn overdue(&self) -> impl Iterator<Item = &InstallmentState> {
        self.installments
            .iter()
            .filter(|i| i.due_date <= self.business_date && !i.is_paid())
    }

    /// Days since the oldest overdue due date (0 when nothing is overdue).
    pub fn days_overdue(&self) -> i64 {
        self.overdue()
            .map(|i| (self.business_date - i.due_date).num_days())
            .max()
            .unwrap_or(0)
    }

    /// Penalty accrued on the day, all installments.
    pub fn penalty_today(&self) -> Decimal {
        sum(self.installments.iter().map(|i| i.penalty_today))
    }
}

fn sum(amounts: impl Iterator<Item = Decimal>) -> Decimal {
    amounts.fold(ZERO_CENTS, |total, amount| total + amount)
}

/// Why a loan's end of day cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EodError {
    #[error(
        "repayment {repayment_id} received on {received_on}, before the disbursement on {disbursed_on}"
    )]
    BeforeDisbursement {
        repayment_id: String,
        received_on: NaiveDate,
        disbursed_on: NaiveDate,
    },
    #[error("repayment {0} has a non-positive amount")]
    Amount(String),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// Rebuilds the loan as of the end of `date` from `schedule` (its original
/// schedule) and `receipts` (all received up to `date`, any order).
pub fn replay(
    loan: &Loan,
    schedule: &[Installment],
    receipts: &[Receipt],
    date: NaiveDate,
    config: &EodConfig,
) -> Result<LoanDay, EodError> {
    let disbursed_on = loan.terms.disbursed_on;
    let mut receipts: Vec<&Receipt> = receipts.iter().filter(|r| r.received_on <= date).collect();
    receipts
        .sort_by(|a, b| (a.received_on, &a.repayment_id).cmp(&(b.received_on, &b.repayment_id)));
    for receipt in &receipts {
        if receipt.received_on < disbursed_on {
            return Err(EodError::BeforeDisbursement {
                repayment_id: receipt.repayment_id.clone(),
                received_on: receipt.received_on,
                disbursed_on,
            });
        }
        if receipt.amount <= Decimal::ZERO {
            return Err(EodError::Amount(receipt.repayment_id.clone()));
        }
    }
    let mut events: Vec<NaiveDate> = schedule
        .iter()
        .map(|i| i.due_date)
        .chain(receipts.iter().map(|r| r.received_on))
        .filter(|d| *d >= disbursed_on && *d <= date)
        .chain(std::iter::once(date))
        .collect();
    events.sort_unstable();
    events.dedup();

    let mut book = Book {
        loan,
        config,
        installments: schedule.iter().map(InstallmentState::new).collect(),
        regenerations: Vec::new(),
    };
    let mut day_allocations = Vec::new();
    let mut accrued_through = disbursed_on;
    for day in events {
        let quiet_days = (day - accrued_through).num_days() - 1;
        if quiet_days > 0 {
            book.accrue_penalty(accrued_through, quiet_days);
        }
        let todays: Vec<&Receipt> = receipts
            .iter()
            .copied()
            .filter(|r| r.received_on == day)
            .collect();
        let mut allocations = Vec::new();
        for receipt in todays {
            for allocation in book.apply(receipt, day)? {
                allocations.push(ReceiptAllocation {
                    repayment_id: receipt.repayment_id.clone(),
                    allocation,
                });
            }
        }
        for installment in &mut book.installments {
            installment.penalty_today = ZERO_CENTS;
        }
        if day > disbursed_on {
            // Overdue = due before `day`; penalty for the one day `day`.
            book.accrue_penalty(day.pred_opt().unwrap_or(day), 1);
        }
        if day == date {
            day_allocations = allocations;
        }
        accrued_through = day;
    }
    let (received, receipts_count) = receipts
        .iter()
        .filter(|r| r.received_on == date)
        .fold((ZERO_CENTS, 0), |(total, n), r| (total + r.amount, n + 1));
    Ok(book.finish(date, received, receipts_count, day_allocations))
}

/// The mutable state of a replay.
struct Book<'a> {
    loan: &'a Loan,
    config: &'a EodConfig,
    installments: Vec<InstallmentState>,
    regenerations: Vec<Regeneration>,
}

impl Book<'_> {
    /// Adds `days` days of penalty to installments due on or before
    /// `due_by` (i.e. overdue on each of those days) with principal unpaid.
    fn accrue_penalty(&mut self, due_by: NaiveDate, days: i64) {
        let terms = &self.loan.terms;
        for installment in self
            .installments
            .iter_mut()
            .filter(|i| i.due_date <= due_by)
        {
            let owed = installment.owed_principal();
            if owed > Decimal::ZERO {
                let daily = daily_penalty(
                    owed,
                    terms.annual_rate,
                    self.config.penalty_multiplier,
                    self.loan.basis,
                );
                let amount = daily * Decimal::from(days);
                installment.penalty += amount;
                installment.penalty_today = daily;
            }
        }
    }

    /// Applies one repayment received on `day`; the surplus prepays.
    fn apply(&mut self, receipt: &Receipt, day: NaiveDate) -> Result<Vec<Allocation>, EodError> {
        let mut out = Vec::new();
        let surplus = allocate(&mut self.installments, day, receipt.amount, &mut out);
        if surplus.is_zero() {
            return Ok(out);
        }
        let not_due: Decimal = sum(self
            .installments
            .iter()
            .filter(|i| i.due_date > day)
            .map(|i| i.owed_principal()));
        let prepaid = surplus.min(not_due);
        if prepaid > Decimal::ZERO {
            self.regenerate(day, not_due, prepaid)?;
            out.push(Allocation {
                period: 0,
                component: Component::Prepayment,
                amount: prepaid,
            });
        }
        let unapplied = surplus - prepaid;
        if unapplied > Decimal::ZERO {
            out.push(Allocation {
                period: 0,
                component: Component::Unapplied,
                amount: unapplied,
            });
        }
        Ok(out)
    }

    /// Replaces the not-yet-due installments by a schedule of
    /// `not_due − prepaid` over the same due dates, by the loan's method.
    fn regenerate(
        &mut self,
        day: NaiveDate,
        not_due: Decimal,
        prepaid: Decimal,
    ) -> Result<(), EodError> {
        let terms = &self.loan.terms;
        let slots: Vec<(u32, NaiveDate)> = self
            .installments
            .iter()
            .filter(|i| i.due_date > day)
            .map(|i| (i.period, i.due_date))
            .collect();
        let first_amount = self
            .installments
            .iter()
            .find(|i| i.due_date > day)
            .map(|i| (i.principal + i.interest, i.principal));
        let balance = not_due - prepaid;
        let shorter = self.config.prepayment == PrepaymentMode::ShorterTerm && slots.len() > 1;
        let plan = match (terms.method, shorter, first_amount) {
            (Method::EqualInstallment, true, Some((installment, _))) => {
                Plan::Installment(installment)
            }
            (Method::EqualPrincipal, true, Some((_, principal))) => Plan::Principal(principal),
            (Method::Bullet, _, _) => Plan::Bullet {
                months: terms.months,
            },
            (method, _, _) => {
                Plan::for_method(method, balance, terms.annual_rate, slots.len() as u32)?
            }
        };
        let mut schedule = Vec::with_capacity(slots.len());
        if balance > Decimal::ZERO {
            amortize(
                balance,
                terms.annual_rate,
                &slots,
                plan,
                shorter,
                &mut schedule,
            )?;
        }
        check(balance, &schedule)?;
        self.installments.retain(|i| i.due_date <= day);
        self.installments
            .extend(schedule.iter().map(InstallmentState::new));
        self.regenerations.push(Regeneration {
            version: self.regenerations.len() as u32 + 1,
            generated_on: day,
            prepaid,
            schedule,
        });
        Ok(())
    }

    fn finish(
        self,
        date: NaiveDate,
        received: Decimal,
        receipts_count: u32,
        allocations: Vec<ReceiptAllocation>,
    ) -> LoanDay {
        let performing = sum(self
            .installments
            .iter()
            .filter(|i| i.due_date > date)
            .map(|i| i.owed_principal()));
        let terms = &self.loan.terms;
        let mut day = LoanDay {
            business_date: date,
            status: LoanStatus::Active,
            installments: self.installments,
            allocations,
            regenerations: self.regenerations,
            received,
            receipts_count,
            accrued_interest: daily_accrual(performing, terms.annual_rate, self.loan.basis),
        };
        day.status = if day.installments.iter().all(|i| i.is_paid()) {
            LoanStatus::Settled
        } else if day.overdue().next().is_some() {
            LoanStatus::Overdue
        } else {
            LoanStatus::Active
        };
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::repayment::schedule::generate;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("test decimal")
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("test date")
    }

    /// 10000.00 at 12 % for 12 months, equal installment, from 2026-01-15:
    /// period 1 due 2026-02-15 is 788.49 principal + 100.00 interest.
    fn loan() -> Loan {
        Loan {
            loan_id: "T1".into(),
            terms: Terms {
                principal: dec("10000.00"),
                annual_rate: dec("0.12"),
                months: 12,
                method: Method::EqualInstallment,
                disbursed_on: date("2026-01-15"),
                repayment_day: 15,
            },
            basis: DayCountBasis::Days360,
        }
    }

    fn receipt(id: &str, on: &str, amount: &str) -> Receipt {
        Receipt {
            repayment_id: id.into(),
            received_on: date(on),
            amount: dec(amount),
        }
    }

    fn config(prepayment: PrepaymentMode) -> EodConfig {
        EodConfig {
            penalty_multiplier: dec("1.5"),
            prepayment,
        }
    }

    fn run(on: &str, receipts: &[Receipt], prepayment: PrepaymentMode) -> LoanDay {
        let loan = loan();
        let schedule = generate(&loan.terms).unwrap();
        replay(&loan, &schedule, receipts, date(on), &config(prepayment)).unwrap()
    }

    fn allocations(day: &LoanDay) -> Vec<(String, u32, &'static str, String)> {
        day.allocations
            .iter()
            .map(|a| {
                (
                    a.repayment_id.clone(),
                    a.allocation.period,
                    a.allocation.component.as_str(),
                    a.allocation.amount.to_string(),
                )
            })
            .collect()
    }

    fn receipts() -> Vec<Receipt> {
        vec![
            receipt("R1", "2026-02-20", "500.00"),
            receipt("R2", "2026-02-25", "5000.00"),
        ]
    }

    // Hand-derived: daily penalty on 788.49 is round(788.49 × 0.12 × 1.5 / 360)
    // = round(0.394245) = 0.39; on 390.05 it is round(0.195025) = 0.20
    // (also printed by scripts/repayment_reference.py).

    #[test]
    fn due_date_unpaid_is_overdue_without_penalty_yet() {
        let day = run("2026-02-15", &receipts(), PrepaymentMode::ShorterTerm);
        assert_eq!(day.status, LoanStatus::Overdue);
        assert_eq!(day.days_overdue(), 0);
        assert_eq!(day.installments[0].penalty, dec("0.00"));
        assert_eq!(day.overdue().count(), 1);
        // Performing principal 9211.51 × 0.12 / 360 = 3.0705… → 3.07.
        assert_eq!(day.accrued_interest, dec("3.07"));
    }

    #[test]
    fn partial_repayment_pays_penalty_interest_then_principal() {
        let day = run("2026-02-20", &receipts(), PrepaymentMode::ShorterTerm);
        // Before R1: 4 days (16th–19th) × 0.39 = 1.56 of penalty.
        assert_eq!(
            allocations(&day),
            [
                ("R1".to_string(), 1, "penalty", "1.56".to_string()),
                ("R1".to_string(), 1, "interest", "100.00".to_string()),
                ("R1".to_string(), 1, "principal", "398.44".to_string()),
            ]
        );
        let first = &day.installments[0];
        assert_eq!(first.owed_principal(), dec("390.05"));
        // The 20th accrues on the 390.05 left after the repayment.
        assert_eq!(first.penalty_today, dec("0.20"));
        assert_eq!(first.penalty, dec("1.76"));
        assert_eq!(first.owed_penalty(), dec("0.20"));
        assert_eq!(day.days_overdue(), 5);
        assert_eq!(day.received, dec("500.00"));
        assert_eq!(day.status, LoanStatus::Overdue);
    }

    #[test]
    fn penalty_keeps_accruing_over_quiet_days() {
        let day = run("2026-02-24", &receipts(), PrepaymentMode::ShorterTerm);
        assert!(day.allocations.is_empty());
        assert_eq!(day.received, dec("0.00"));
        // 1.76 + 4 days (21st–24th) × 0.20.
        assert_eq!(day.installments[0].penalty, dec("2.56"));
        assert_eq!(day.penalty_today(), dec("0.20"));
        assert_eq!(day.days_overdue(), 9);
    }

    #[test]
    fn prepayment_shortens_the_term() {
        let day = run("2026-02-25", &receipts(), PrepaymentMode::ShorterTerm);
        // Penalty owed before R2: 0.20 (20th) + 4 × 0.20 (21st–24th) = 1.00.
        assert_eq!(
            allocations(&day),
            [
                ("R2".to_string(), 1, "penalty", "1.00".to_string()),
                ("R2".to_string(), 1, "principal", "390.05".to_string()),
                ("R2".to_string(), 0, "prepayment", "4608.95".to_string()),
            ]
        );
        assert_eq!(day.status, LoanStatus::Active);
        assert_eq!(day.penalty_today(), dec("0.00"));
        assert_eq!(day.outstanding_principal(), dec("4602.56"));
        // Performing 4602.56 × 0.12 / 360 = 1.534… → 1.53.
        assert_eq!(day.accrued_interest, dec("1.53"));
        // From scripts/repayment_reference.py (shorter-term).
        let expected = [
            (2, "2026-03-15", "888.49", "842.46", "46.03", "3760.10"),
            (3, "2026-04-15", "888.49", "850.89", "37.60", "2909.21"),
            (4, "2026-05-15", "888.49", "859.40", "29.09", "2049.81"),
            (5, "2026-06-15", "888.49", "867.99", "20.50", "1181.82"),
            (6, "2026-07-15", "888.49", "876.67", "11.82", "305.15"),
            (7, "2026-08-15", "308.20", "305.15", "3.05", "0.00"),
        ];
        check_regeneration(&day, &expected);
        assert_eq!(day.installments.len(), 7, "period 1 + 6 regenerated");
    }

    #[test]
    fn prepayment_lowers_the_installment() {
        let day = run("2026-02-25", &receipts(), PrepaymentMode::LowerInstallment);
        let expected = [
            (2, "2026-03-15", "443.94", "397.91", "46.03", "4204.65"),
            (3, "2026-04-15", "443.94", "401.89", "42.05", "3802.76"),
            (4, "2026-05-15", "443.94", "405.91", "38.03", "3396.85"),
            (5, "2026-06-15", "443.94", "409.97", "33.97", "2986.88"),
            (6, "2026-07-15", "443.94", "414.07", "29.87", "2572.81"),
            (7, "2026-08-15", "443.94", "418.21", "25.73", "2154.60"),
            (8, "2026-09-15", "443.94", "422.39", "21.55", "1732.21"),
            (9, "2026-10-15", "443.94", "426.62", "17.32", "1305.59"),
            (10, "2026-11-15", "443.94", "430.88", "13.06", "874.71"),
            (11, "2026-12-15", "443.94", "435.19", "8.75", "439.52"),
            (12, "2027-01-15", "443.92", "439.52", "4.40", "0.00"),
        ];
        check_regeneration(&day, &expected);
    }

    fn check_regeneration(day: &LoanDay, expected: &[(u32, &str, &str, &str, &str, &str)]) {
        assert_eq!(day.regenerations.len(), 1);
        let regeneration = &day.regenerations[0];
        assert_eq!(
            (regeneration.version, regeneration.generated_on),
            (1, date("2026-02-25"))
        );
        assert_eq!(regeneration.prepaid, dec("4608.95"));
        let got: Vec<(u32, String, String, String, String, String)> = regeneration
            .schedule
            .iter()
            .map(|i| {
                (
                    i.period,
                    i.due_date.to_string(),
                    i.installment.to_string(),
                    i.principal.to_string(),
                    i.interest.to_string(),
                    i.remaining.to_string(),
                )
            })
            .collect();
        let want: Vec<(u32, String, String, String, String, String)> = expected
            .iter()
            .map(|r| {
                (
                    r.0,
                    r.1.into(),
                    r.2.into(),
                    r.3.into(),
                    r.4.into(),
                    r.5.into(),
                )
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn payoff_then_surplus_is_unapplied() {
        // 10000 + 100 interest + penalty: pay 20000 on the due date itself.
        let day = run(
            "2026-02-15",
            &[receipt("R9", "2026-02-15", "20000.00")],
            PrepaymentMode::ShorterTerm,
        );
        // 888.49 for period 1, 9211.51 prepaid, the rest unapplied.
        assert_eq!(day.applied(Component::Prepayment), dec("9211.51"));
        assert_eq!(day.applied(Component::Unapplied), dec("9900.00"));
        assert_eq!(day.status, LoanStatus::Settled);
        assert_eq!(day.accrued_interest, dec("0.00"));
    }

    #[test]
    fn receipts_before_disbursement_are_refused() {
        let loan = loan();
        let schedule = generate(&loan.terms).unwrap();
        let err = replay(
            &loan,
            &schedule,
            &[receipt("R0", "2026-01-01", "10.00")],
            date("2026-02-01"),
            &config(PrepaymentMode::ShorterTerm),
        )
        .unwrap_err();
        assert!(err.to_string().contains("before the disbursement"), "{err}");
    }
}
