//! Pure schedule computation: the four repayment methods under reckon's
//! convention `cny-v1` (docs/repayment.md), due dates, and the invariants
//! every schedule is checked against. No I/O; `reckon schedule`, the
//! end-of-day job and the benchmark all call [`generate`].
//!
//! Convention `cny-v1`:
//! - monthly rate = annual rate / 12; a period's interest is
//!   `round_half_up(balance × annual / 12, 2)` (multiplied before dividing, so
//!   the rounding sees the exact value even when annual / 12 does not terminate);
//! - equal installment: `A = round_half_up(P·r·(1+r)^n / ((1+r)^n − 1), 2)`,
//!   principal = A − interest; equal principal: `round_half_up(P / n, 2)` a period;
//!   interest-only: interest each period, the principal at maturity; bullet:
//!   one installment at maturity with interest `round_half_up(P × annual / 12 × n, 2)`;
//! - the last period takes the whole remaining balance; no period's principal
//!   exceeds the balance or goes below zero;
//! - period k falls due k months after disbursement on the repayment day,
//!   or the month's last day when that day does not exist (Jan 31 → Feb 28 → Mar 31).
//!
//! Convention `cny-v2` is `cny-v1` plus a broken first period: when period 1
//! is not a whole month (the repayment day differs from the disbursement
//! day), its interest is `round_half_up(balance × annual × days / basis, 2)`
//! for its actual days ([`FirstPeriod::ActualDays`]). `cny-v1` charges a whole
//! month ([`FirstPeriod::FullMonth`]). The two agree whenever period 1 is a
//! whole month, and each stored schedule is regenerated under its own convention.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::interest::DayCountBasis;
use crate::money::round_cents;

/// How the interest of a first period that is not a whole month is charged.
/// Stored with every schedule as its convention id, so a regeneration
/// reproduces it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FirstPeriod {
    /// Broken-period interest at the daily rate for the period's actual days
    /// (convention `cny-v2`, the default).
    ActualDays,
    /// A whole month's interest whatever the period's length (convention `cny-v1`).
    FullMonth,
}

impl FirstPeriod {
    /// The convention id stored with the schedule rows.
    pub fn convention(self) -> &'static str {
        match self {
            FirstPeriod::ActualDays => "cny-v2",
            FirstPeriod::FullMonth => "cny-v1",
        }
    }

    /// The rule of a stored convention id; `None` when unknown.
    pub fn from_convention(id: &str) -> Option<FirstPeriod> {
        match id {
            "cny-v2" => Some(FirstPeriod::ActualDays),
            "cny-v1" => Some(FirstPeriod::FullMonth),
            _ => None,
        }
    }
}

impl std::str::FromStr for FirstPeriod {
    type Err = String;
    fn from_str(text: &str) -> Result<FirstPeriod, String> {
        match text {
            "actual_days" => Ok(FirstPeriod::ActualDays),
            "full_month" => Ok(FirstPeriod::FullMonth),
            other => Err(format!("`{other}` is not actual_days or full_month")),
        }
    }
}
/// Longest term accepted, in months (50 years).
pub const MONTHS_MAX: u32 = 600;
/// Highest annual rate accepted (as a fraction: 1 = 100 %).
pub const ANNUAL_RATE_MAX: Decimal = Decimal::ONE;

const MONTHS_PER_YEAR: Decimal = Decimal::from_parts(12, 0, 0, false, 0);
const CENTS_SCALE: u32 = 2;
/// 0.00: zero with the scale of an amount.
pub const ZERO_CENTS: Decimal = Decimal::from_parts(0, 0, 0, false, 2);

/// How a loan is repaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// 等额本息: the same installment every period.
    EqualInstallment,
    /// 等额本金: the same principal every period, interest on the balance.
    EqualPrincipal,
    /// 先息后本: interest every period, all principal at maturity.
    InterestOnly,
    /// 一次性还本付息: principal and interest together at maturity.
    Bullet,
}

impl Method {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::EqualInstallment => "equal-installment",
            Method::EqualPrincipal => "equal-principal",
            Method::InterestOnly => "interest-only",
            Method::Bullet => "bullet",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = ScheduleError;
    fn from_str(text: &str) -> Result<Method, ScheduleError> {
        match text.trim() {
            "equal-installment" => Ok(Method::EqualInstallment),
            "equal-principal" => Ok(Method::EqualPrincipal),
            "interest-only" => Ok(Method::InterestOnly),
            "bullet" => Ok(Method::Bullet),
            other => Err(ScheduleError::Method(other.to_string())),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a schedule cannot be generated, or failed its invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "`{0}` is not a repayment method: use equal-installment, equal-principal, interest-only or bullet"
    )]
    Method(String),
    #[error("principal {0} must be positive with at most 2 decimals")]
    Principal(Decimal),
    #[error("annual rate {0} must be between 0 and 1 (0.12 for 12 %)")]
    Rate(Decimal),
    #[error("term of {0} months must be between 1 and {MONTHS_MAX}")]
    Months(u32),
    #[error("repayment day {0} must be between 1 and 31")]
    RepaymentDay(u32),
    #[error("due date of period {0} is out of the calendar")]
    Calendar(u32),
    #[error("amount out of range computing the schedule")]
    Overflow,
    /// A computed schedule broke an invariant: a bug, never bad input.
    #[error("schedule invariant broken: {0}")]
    Invariant(String),
}

/// A loan's contract terms: everything a schedule depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub principal: Decimal,
    /// As a fraction: 0.12 for 12 % a year.
    pub annual_rate: Decimal,
    pub months: u32,
    pub method: Method,
    pub disbursed_on: NaiveDate,
    /// Day of month installments fall due (1–31), month-end when missing.
    pub repayment_day: u32,
    /// How a broken first period is charged (the schedule's convention).
    pub first_period: FirstPeriod,
    /// Day-count basis of daily interest (broken period, payoff, penalty).
    pub basis: DayCountBasis,
}

impl Terms {
    /// Checks the terms are in range; the principal gets scale 2.
    pub fn validated(mut self) -> Result<Terms, ScheduleError> {
        let has_fraction_cents =
            self.principal.scale() > 2 && self.principal != self.principal.round_dp(CENTS_SCALE);
        if self.principal <= Decimal::ZERO || has_fraction_cents {
            return Err(ScheduleError::Principal(self.principal));
        }
        self.principal.rescale(2);
        if self.annual_rate < Decimal::ZERO || self.annual_rate > ANNUAL_RATE_MAX {
            return Err(ScheduleError::Rate(self.annual_rate));
        }
        if self.months == 0 || self.months > MONTHS_MAX {
            return Err(ScheduleError::Months(self.months));
        }
        if !(1..=31).contains(&self.repayment_day) {
            return Err(ScheduleError::RepaymentDay(self.repayment_day));
        }
        Ok(self)
    }
}

impl Terms {
    /// The actual days of period 1 when it is charged by the day: under
    /// [`FirstPeriod::ActualDays`] and only when period 1 is not a whole month
    /// (its due date differs from one month after disbursement on the same day).
    pub fn broken_days(&self) -> Option<i64> {
        if self.first_period == FirstPeriod::FullMonth {
            return None;
        }
        let first = due_date(self.disbursed_on, 1, self.repayment_day)?;
        let whole_month = due_date(self.disbursed_on, 1, self.disbursed_on.day())?;
        (first != whole_month).then(|| (first - self.disbursed_on).num_days())
    }

    /// The slot of `period` due on `due_date`, with its broken days if any.
    pub fn slot(&self, period: u32, due_date: NaiveDate) -> Slot {
        Slot {
            period,
            due_date,
            broken_days: if period == 1 {
                self.broken_days()
            } else {
                None
            },
        }
    }
}

/// A period to amortize: its number, due date and, for a broken first
/// period charged by the day, its actual days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub period: u32,
    pub due_date: NaiveDate,
    pub broken_days: Option<i64>,
}

/// One period of a schedule. Every amount has scale 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installment {
    /// 1-based period number in the loan's original numbering.
    pub period: u32,
    pub due_date: NaiveDate,
    pub installment: Decimal,
    pub principal: Decimal,
    pub interest: Decimal,
    /// Principal still owed after this period is paid.
    pub remaining: Decimal,
}

/// The due date `months_after` months after `start`, on `day` or the month's last day.
pub fn due_date(start: NaiveDate, months_after: u32, day: u32) -> Option<NaiveDate> {
    let month0 = i64::from(start.month0()) + i64::from(months_after);
    let year = i32::try_from(i64::from(start.year()) + month0 / 12).ok()?;
    let month = u32::try_from(month0 % 12).ok()? + 1;
    NaiveDate::from_ymd_opt(year, month, day.min(days_in_month(year, month)))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `round_half_up(balance × annual / 12, 2)`: one month's interest.
pub fn monthly_interest(balance: Decimal, annual_rate: Decimal) -> Result<Decimal, ScheduleError> {
    let yearly = balance
        .checked_mul(annual_rate)
        .ok_or(ScheduleError::Overflow)?;
    Ok(divide_to_cents(yearly, 12).unwrap_or_else(|| round_cents(yearly / MONTHS_PER_YEAR)))
}

/// `round_half_up(value / divisor, 2)` in 64-bit integers when the digits
/// fit (the hot path of schedule generation); `None` otherwise.
fn divide_to_cents(value: Decimal, divisor: u64) -> Option<Decimal> {
    let scale = value.scale();
    let shift = scale.checked_sub(CENTS_SCALE)?;
    let denominator = 10u64.checked_pow(shift)?.checked_mul(divisor)?;
    let mantissa = value.mantissa();
    let magnitude = u64::try_from(mantissa.unsigned_abs()).ok()?;
    let (quotient, remainder) = (magnitude / denominator, magnitude % denominator);
    // Half-up: a remainder of at least half the denominator rounds away from zero.
    let cents = quotient + u64::from(remainder >= denominator - remainder);
    let cents = i64::try_from(cents).ok()?;
    Some(Decimal::new(
        if mantissa < 0 { -cents } else { cents },
        CENTS_SCALE,
    ))
}

/// The rounded equal installment for `balance` over `periods` months.
pub fn equal_installment(
    balance: Decimal,
    annual_rate: Decimal,
    periods: u32,
) -> Result<Decimal, ScheduleError> {
    if periods == 0 {
        return Err(ScheduleError::Months(0));
    }
    if annual_rate.is_zero() {
        return Ok(round_cents(balance / Decimal::from(periods)));
    }
    let monthly = annual_rate / MONTHS_PER_YEAR;
    let growth = power(Decimal::ONE + monthly, periods)?;
    // P·annual·g / (12·(g − 1)): the exact annual rate enters once.
    let numerator = balance
        .checked_mul(annual_rate)
        .and_then(|x| x.checked_mul(growth))
        .ok_or(ScheduleError::Overflow)?;
    let denominator = (growth - Decimal::ONE)
        .checked_mul(MONTHS_PER_YEAR)
        .ok_or(ScheduleError::Overflow)?;
    numerator
        .checked_div(denominator)
        .map(round_cents)
        .ok_or(ScheduleError::Overflow)
}

fn power(base: Decimal, mut exponent: u32) -> Result<Decimal, ScheduleError> {
    let mut result = Decimal::ONE;
    let mut square = base;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = result.checked_mul(square).ok_or(ScheduleError::Overflow)?;
        }
        exponent >>= 1;
        if exponent > 0 {
            square = square.checked_mul(square).ok_or(ScheduleError::Overflow)?;
        }
    }
    Ok(result)
}

/// How the principal of each period is set while amortizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// A fixed installment; principal = installment − interest.
    Installment(Decimal),
    /// A fixed principal a period.
    Principal(Decimal),
    /// Interest only; principal at the last period.
    InterestOnly,
    /// One payment at the last period; interest over `months` months.
    Bullet { months: u32 },
}

impl Plan {
    /// The plan of `method` for `balance` over `periods` periods.
    pub fn for_method(
        method: Method,
        balance: Decimal,
        annual_rate: Decimal,
        periods: u32,
    ) -> Result<Plan, ScheduleError> {
        Ok(match method {
            Method::EqualInstallment => {
                Plan::Installment(equal_installment(balance, annual_rate, periods)?)
            }
            Method::EqualPrincipal => {
                Plan::Principal(round_cents(balance / Decimal::from(periods.max(1))))
            }
            Method::InterestOnly => Plan::InterestOnly,
            Method::Bullet => Plan::Bullet { months: periods },
        })
    }
}

/// The interest of one slot on `balance` under `plan`: a month
/// (`round_half_up(balance × annual / 12, 2)`), the broken first period's
/// actual days (`round_half_up(balance × annual × days / basis, 2)`), or for a
/// bullet the whole term (months − 1 whole months + the broken days, or
/// `months` whole months), rounded once.
pub fn slot_interest(
    balance: Decimal,
    annual_rate: Decimal,
    basis: DayCountBasis,
    slot: &Slot,
    plan: Plan,
) -> Result<Decimal, ScheduleError> {
    let overflow = || ScheduleError::Overflow;
    let yearly = balance.checked_mul(annual_rate).ok_or_else(overflow)?;
    let basis_days = Decimal::from(basis.days());
    match (plan, slot.broken_days) {
        (Plan::Bullet { months }, None) => monthly_interest(
            balance
                .checked_mul(Decimal::from(months))
                .ok_or_else(overflow)?,
            annual_rate,
        ),
        (Plan::Bullet { months }, Some(days)) => {
            // yearly × ((months − 1) / 12 + days / basis), one division.
            let numerator = Decimal::from(months.saturating_sub(1))
                .checked_mul(basis_days)
                .and_then(|m| m.checked_add(Decimal::from(days) * MONTHS_PER_YEAR))
                .and_then(|n| yearly.checked_mul(n))
                .ok_or_else(overflow)?;
            numerator
                .checked_div(basis_days * MONTHS_PER_YEAR)
                .map(round_cents)
                .ok_or_else(overflow)
        }
        (_, Some(days)) => yearly
            .checked_mul(Decimal::from(days))
            .and_then(|x| x.checked_div(basis_days))
            .map(round_cents)
            .ok_or_else(overflow),
        (_, None) => monthly_interest(balance, annual_rate),
    }
}

/// Amortizes `balance` over the given slots by `plan`, appending to `out`.
/// With `stop_when_repaid` (a shorter term after a prepayment) the schedule
/// ends as soon as the balance reaches zero; otherwise the last slot takes
/// whatever remains. No period's principal exceeds the balance or is negative
/// (an installment smaller than a broken period's interest repays nothing).
pub fn amortize(
    balance: Decimal,
    annual_rate: Decimal,
    basis: DayCountBasis,
    slots: &[Slot],
    plan: Plan,
    stop_when_repaid: bool,
    out: &mut Vec<Installment>,
) -> Result<(), ScheduleError> {
    let mut balance = balance;
    let last = slots.len().saturating_sub(1);
    for (index, slot) in slots.iter().enumerate() {
        let interest = slot_interest(balance, annual_rate, basis, slot, plan)?;
        let scheduled = match plan {
            Plan::Installment(amount) => (amount - interest).max(ZERO_CENTS),
            Plan::Principal(amount) => amount,
            Plan::InterestOnly | Plan::Bullet { .. } => ZERO_CENTS,
        };
        // Never more than the balance; the last slot takes all of it.
        let principal = if index == last || scheduled >= balance {
            balance
        } else {
            scheduled
        };
        balance -= principal;
        out.push(Installment {
            period: slot.period,
            due_date: slot.due_date,
            installment: principal + interest,
            principal,
            interest,
            remaining: balance,
        });
        if stop_when_repaid && balance.is_zero() {
            break;
        }
    }
    Ok(())
}

/// The original schedule of a loan, checked against the invariants.
pub fn generate(terms: &Terms) -> Result<Vec<Installment>, ScheduleError> {
    let mut out = Vec::with_capacity(terms.months as usize);
    generate_into(terms, &mut out)?;
    Ok(out)
}

/// [`generate`] into a reused buffer (cleared first): the benchmark's path.
pub fn generate_into(terms: &Terms, out: &mut Vec<Installment>) -> Result<(), ScheduleError> {
    out.clear();
    let terms = terms.clone().validated()?;
    let slots = slots(&terms, 1)?;
    let plan = Plan::for_method(
        terms.method,
        terms.principal,
        terms.annual_rate,
        terms.months,
    )?;
    amortize(
        terms.principal,
        terms.annual_rate,
        terms.basis,
        &slots,
        plan,
        false,
        out,
    )?;
    check(terms.principal, out)
}

/// The slots from period `first` to maturity (a bullet loan has one slot,
/// period 1 at maturity, carrying the broken days of its first month).
pub fn slots(terms: &Terms, first: u32) -> Result<Vec<Slot>, ScheduleError> {
    let due = |k: u32| {
        due_date(terms.disbursed_on, k, terms.repayment_day).ok_or(ScheduleError::Calendar(k))
    };
    if terms.method == Method::Bullet {
        return Ok(vec![terms.slot(1, due(terms.months)?)]);
    }
    (first..=terms.months)
        .map(|k| Ok(terms.slot(k, due(k)?)))
        .collect()
}

/// The invariants of every schedule: principals sum to `principal` exactly,
/// amounts have scale 2 and none is negative, balances run down to zero.
pub fn check(principal: Decimal, schedule: &[Installment]) -> Result<(), ScheduleError> {
    let broken = |what: String| Err(ScheduleError::Invariant(what));
    // Every amount must have scale 2, so the sums run on the integer cents.
    let cents = |amount: Decimal| (amount.scale() == CENTS_SCALE).then(|| amount.mantissa());
    let Some(principal_cents) = cents(principal) else {
        return broken(format!(
            "principal {principal} has scale {}",
            principal.scale()
        ));
    };
    let mut balance = principal_cents;
    for i in schedule {
        let amounts = [i.installment, i.principal, i.interest, i.remaining];
        let [
            Some(installment),
            Some(paid),
            Some(interest),
            Some(remaining),
        ] = amounts.map(cents)
        else {
            return broken(format!(
                "period {} has an amount of scale other than 2",
                i.period
            ));
        };
        if installment < 0 || paid < 0 || interest < 0 || remaining < 0 {
            return broken(format!("period {} has a negative amount", i.period));
        }
        balance -= paid;
        if remaining != balance || installment != paid + interest {
            return broken(format!("period {} does not add up", i.period));
        }
    }
    if balance != 0 {
        let total: Decimal = schedule.iter().map(|i| i.principal).sum();
        return broken(format!("principals sum to {total}, not {principal}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("test decimal")
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("test date")
    }

    type Row = (
        u32,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );

    /// Checks a generated schedule row by row and its total interest.
    fn check_schedule(
        principal: &str,
        rate: &str,
        months: u32,
        method: Method,
        start: &str,
        total_interest: &str,
        expected: &[Row],
    ) {
        let start = date(start);
        let terms = Terms {
            principal: dec(principal),
            annual_rate: dec(rate),
            months,
            method,
            disbursed_on: start,
            repayment_day: start.day(),
            first_period: FirstPeriod::ActualDays,
            basis: DayCountBasis::Days360,
        };
        let schedule = generate(&terms).unwrap();
        let got: Vec<(u32, String, String, String, String, String)> = schedule
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
        assert_eq!(got, want, "{principal} {rate} {months} {method}");
        let interest: Decimal = schedule.iter().map(|i| i.interest).sum();
        assert_eq!(interest.to_string(), total_interest);
    }

    // Expected values: output of scripts/repayment_reference.py (exact
    // rational arithmetic in Python, written from the convention).

    #[test]
    fn equal_installment_matches_the_issue_example() {
        check_schedule(
            "10000.00",
            "0.12",
            12,
            Method::EqualInstallment,
            "2026-01-15",
            "661.86",
            &[
                (1, "2026-02-15", "888.49", "788.49", "100.00", "9211.51"),
                (2, "2026-03-15", "888.49", "796.37", "92.12", "8415.14"),
                (3, "2026-04-15", "888.49", "804.34", "84.15", "7610.80"),
                (4, "2026-05-15", "888.49", "812.38", "76.11", "6798.42"),
                (5, "2026-06-15", "888.49", "820.51", "67.98", "5977.91"),
                (6, "2026-07-15", "888.49", "828.71", "59.78", "5149.20"),
                (7, "2026-08-15", "888.49", "837.00", "51.49", "4312.20"),
                (8, "2026-09-15", "888.49", "845.37", "43.12", "3466.83"),
                (9, "2026-10-15", "888.49", "853.82", "34.67", "2613.01"),
                (10, "2026-11-15", "888.49", "862.36", "26.13", "1750.65"),
                (11, "2026-12-15", "888.49", "870.98", "17.51", "879.67"),
                (12, "2027-01-15", "888.47", "879.67", "8.80", "0.00"),
            ],
        );
    }

    #[test]
    fn equal_principal_matches_reference() {
        check_schedule(
            "10000.00",
            "0.12",
            12,
            Method::EqualPrincipal,
            "2026-01-15",
            "650.00",
            &[
                (1, "2026-02-15", "933.33", "833.33", "100.00", "9166.67"),
                (2, "2026-03-15", "925.00", "833.33", "91.67", "8333.34"),
                (3, "2026-04-15", "916.66", "833.33", "83.33", "7500.01"),
                (4, "2026-05-15", "908.33", "833.33", "75.00", "6666.68"),
                (5, "2026-06-15", "900.00", "833.33", "66.67", "5833.35"),
                (6, "2026-07-15", "891.66", "833.33", "58.33", "5000.02"),
                (7, "2026-08-15", "883.33", "833.33", "50.00", "4166.69"),
                (8, "2026-09-15", "875.00", "833.33", "41.67", "3333.36"),
                (9, "2026-10-15", "866.66", "833.33", "33.33", "2500.03"),
                (10, "2026-11-15", "858.33", "833.33", "25.00", "1666.70"),
                (11, "2026-12-15", "850.00", "833.33", "16.67", "833.37"),
                (12, "2027-01-15", "841.70", "833.37", "8.33", "0.00"),
            ],
        );
        check_schedule(
            "7777.77",
            "0.10",
            5,
            Method::EqualPrincipal,
            "2026-08-31",
            "194.44",
            &[
                (1, "2026-09-30", "1620.36", "1555.55", "64.81", "6222.22"),
                (2, "2026-10-31", "1607.40", "1555.55", "51.85", "4666.67"),
                (3, "2026-11-30", "1594.44", "1555.55", "38.89", "3111.12"),
                (4, "2026-12-31", "1581.48", "1555.55", "25.93", "1555.57"),
                (5, "2027-01-31", "1568.53", "1555.57", "12.96", "0.00"),
            ],
        );
    }

    #[test]
    fn interest_only_and_bullet_match_reference() {
        let mut interest_only: Vec<Row> = Vec::new();
        let dues = [
            "2026-02-15",
            "2026-03-15",
            "2026-04-15",
            "2026-05-15",
            "2026-06-15",
            "2026-07-15",
            "2026-08-15",
            "2026-09-15",
            "2026-10-15",
            "2026-11-15",
            "2026-12-15",
        ];
        for (k, due) in dues.iter().enumerate() {
            interest_only.push((k as u32 + 1, due, "100.00", "0.00", "100.00", "10000.00"));
        }
        interest_only.push((12, "2027-01-15", "10100.00", "10000.00", "100.00", "0.00"));
        check_schedule(
            "10000.00",
            "0.12",
            12,
            Method::InterestOnly,
            "2026-01-15",
            "1200.00",
            &interest_only,
        );
        check_schedule(
            "10000.00",
            "0.12",
            12,
            Method::Bullet,
            "2026-01-15",
            "1200.00",
            &[(1, "2027-01-15", "11200.00", "10000.00", "1200.00", "0.00")],
        );
    }

    #[test]
    fn month_end_due_dates_and_odd_rate() {
        check_schedule(
            "50000.00",
            "0.0435",
            6,
            Method::EqualInstallment,
            "2026-01-31",
            "636.28",
            &[
                (1, "2026-02-28", "8439.38", "8258.13", "181.25", "41741.87"),
                (2, "2026-03-31", "8439.38", "8288.07", "151.31", "33453.80"),
                (3, "2026-04-30", "8439.38", "8318.11", "121.27", "25135.69"),
                (4, "2026-05-31", "8439.38", "8348.26", "91.12", "16787.43"),
                (5, "2026-06-30", "8439.38", "8378.53", "60.85", "8408.90"),
                (6, "2026-07-31", "8439.38", "8408.90", "30.48", "0.00"),
            ],
        );
    }

    #[test]
    fn zero_rate_spreads_principal() {
        check_schedule(
            "1000.00",
            "0",
            3,
            Method::EqualInstallment,
            "2026-11-21",
            "0.00",
            &[
                (1, "2026-12-21", "333.33", "333.33", "0.00", "666.67"),
                (2, "2027-01-21", "333.33", "333.33", "0.00", "333.34"),
                (3, "2027-02-21", "333.34", "333.34", "0.00", "0.00"),
            ],
        );
    }

    #[test]
    fn bad_terms_are_refused() {
        let base = Terms {
            principal: dec("100"),
            annual_rate: dec("0.1"),
            months: 3,
            method: Method::EqualPrincipal,
            disbursed_on: date("2026-01-01"),
            repayment_day: 1,
            first_period: FirstPeriod::ActualDays,
            basis: DayCountBasis::Days360,
        };
        for (terms, expected) in [
            (
                Terms {
                    principal: dec("0"),
                    ..base.clone()
                },
                "principal",
            ),
            (
                Terms {
                    principal: dec("1.001"),
                    ..base.clone()
                },
                "principal",
            ),
            (
                Terms {
                    annual_rate: dec("-0.01"),
                    ..base.clone()
                },
                "annual rate",
            ),
            (
                Terms {
                    months: 0,
                    ..base.clone()
                },
                "term",
            ),
            (
                Terms {
                    repayment_day: 32,
                    ..base.clone()
                },
                "repayment day",
            ),
        ] {
            let err = generate(&terms).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert!("monthly".parse::<Method>().is_err());
    }

    #[test]
    fn broken_first_period_is_charged_by_the_day() {
        // Disbursed 01-15, repayment day 1: period 1 runs 17 days to 02-01.
        // actual_days (cny-v2): round(10000 × 0.12 × 17 / 360) = 56.67;
        // full_month (cny-v1): 100.00. From scripts/repayment_reference.py.
        let mut terms = Terms {
            principal: dec("10000.00"),
            annual_rate: dec("0.12"),
            months: 12,
            method: Method::EqualInstallment,
            disbursed_on: date("2026-01-15"),
            repayment_day: 1,
            first_period: FirstPeriod::ActualDays,
            basis: DayCountBasis::Days360,
        };
        assert_eq!(terms.broken_days(), Some(17));
        let schedule = generate(&terms).unwrap();
        let row = |i: &Installment| {
            format!(
                "{} {} {} {} {}",
                i.due_date, i.installment, i.principal, i.interest, i.remaining
            )
        };
        assert_eq!(row(&schedule[0]), "2026-02-01 888.49 831.82 56.67 9168.18");
        assert_eq!(row(&schedule[1]), "2026-03-01 888.49 796.81 91.68 8371.37");
        assert_eq!(row(&schedule[11]), "2027-01-01 840.12 831.80 8.32 0.00");
        terms.first_period = FirstPeriod::FullMonth;
        assert_eq!(terms.broken_days(), None);
        let schedule = generate(&terms).unwrap();
        assert_eq!(schedule[0].interest, dec("100.00"));
        // Same day of month: both conventions give the same schedule.
        terms.repayment_day = 15;
        let full = generate(&terms).unwrap();
        terms.first_period = FirstPeriod::ActualDays;
        assert_eq!(generate(&terms).unwrap(), full);
        // Month end: disbursed 01-31, day 31 → 02-28 is a whole month.
        terms.disbursed_on = date("2026-01-31");
        terms.repayment_day = 31;
        assert_eq!(terms.broken_days(), None);
        // A bullet: 11 whole months + 17 days = 1100.00 + 56.67.
        terms.disbursed_on = date("2026-01-15");
        terms.repayment_day = 1;
        terms.method = Method::Bullet;
        assert_eq!(generate(&terms).unwrap()[0].interest, dec("1156.67"));
        assert_eq!(
            FirstPeriod::from_convention("cny-v1"),
            Some(FirstPeriod::FullMonth)
        );
        assert_eq!(FirstPeriod::from_convention("cny-v9"), None);
    }

    #[test]
    fn tiny_principal_never_goes_negative() {
        // 0.10 over 12 periods: round(0.10/12) = 0.01 a period would overpay by
        // period 11; principal is capped by the balance instead.
        let terms = Terms {
            principal: dec("0.10"),
            annual_rate: dec("0"),
            months: 12,
            method: Method::EqualPrincipal,
            disbursed_on: date("2026-01-01"),
            repayment_day: 1,
            first_period: FirstPeriod::ActualDays,
            basis: DayCountBasis::Days360,
        };
        let schedule = generate(&terms).unwrap();
        assert_eq!(schedule.len(), 12);
        assert_eq!(schedule[9].remaining, dec("0.00"));
        assert_eq!(schedule[11].principal, dec("0.00"));
    }

    #[test]
    fn invariant_check_catches_broken_schedules() {
        let terms = Terms {
            principal: dec("1000.00"),
            annual_rate: dec("0.12"),
            months: 2,
            method: Method::EqualPrincipal,
            disbursed_on: date("2026-01-01"),
            repayment_day: 1,
            first_period: FirstPeriod::ActualDays,
            basis: DayCountBasis::Days360,
        };
        let mut schedule = generate(&terms).unwrap();
        schedule[1].principal = dec("499.99");
        assert!(check(dec("1000.00"), &schedule).is_err());
        let mut schedule = generate(&terms).unwrap();
        schedule[0].interest = dec("10.0");
        assert!(check(dec("1000.00"), &schedule).is_err());
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn integer_division_rounds_like_decimal() {
        // Half-up ties both signs, exact values, and the fallback for scale < 2.
        for (value, expected) in [
            ("0.06", "0.01"),   // 0.005 → 0.01
            ("-0.06", "-0.01"), // -0.005 → -0.01
            ("0.0599", "0.00"), // 0.0049916… → 0.00
            ("1200.0000", "100.00"),
            ("1105.3812", "92.12"), // 9211.51 × 0.12 = 1105.3812; / 12 = 92.1151
            ("12", "1.00"),
        ] {
            let value: Decimal = value.parse().unwrap();
            let got = divide_to_cents(value, 12)
                .unwrap_or_else(|| round_cents(value / Decimal::from(12)));
            assert_eq!(got.to_string(), expected, "{value}");
            assert_eq!(got, round_cents(value / Decimal::from(12)), "{value}");
        }
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }
}
