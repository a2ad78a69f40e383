//! Day-count interest: the day-count basis, penalty interest (罚息) kept
//! exact and rounded once, and the daily accrual (计提) that spreads each
//! period's billed interest over its days so that the accruals of a period
//! add up to its billed interest exactly. Pure functions (docs/repayment.md).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::money::round_cents;

/// Days in the year a daily rate divides by; kept per loan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayCountBasis {
    /// Actual/360, the usual basis of Chinese loan contracts.
    Days360,
    /// Actual/365.
    Days365,
}

impl DayCountBasis {
    /// The number of days (360 or 365).
    pub fn days(self) -> u32 {
        match self {
            DayCountBasis::Days360 => 360,
            DayCountBasis::Days365 => 365,
        }
    }

    /// From 360 or 365.
    pub fn from_days(days: i64) -> Option<DayCountBasis> {
        match days {
            360 => Some(DayCountBasis::Days360),
            365 => Some(DayCountBasis::Days365),
            _ => None,
        }
    }
}

/// Penalty interest accumulated exactly: the sum of
/// `overdue principal × annual penalty rate × days` (a terminating decimal),
/// divided by the basis and rounded half-up to the cent only when read
/// ([`Penalty::rounded`]), i.e. when it is billed (reported) or paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    /// Σ principal × rate × days, not yet divided by the basis.
    pub units: Decimal,
    pub basis: DayCountBasis,
}

impl Penalty {
    /// Nothing accrued.
    pub fn zero(basis: DayCountBasis) -> Penalty {
        Penalty {
            units: Decimal::ZERO,
            basis,
        }
    }

    /// Adds `days` days on `principal` at annual `rate`.
    pub fn accrue(&mut self, principal: Decimal, rate: Decimal, days: i64) {
        self.units += principal * rate * Decimal::from(days);
    }

    /// `round_half_up(units / basis, 2)`.
    pub fn rounded(&self) -> Decimal {
        round_cents(self.units / Decimal::from(self.basis.days()))
    }
}

/// One period of billed interest to accrue: `interest` billed on `due`,
/// earned over the days `start ..= due − 1` (the period's first day is its
/// start: the disbursement or the previous due date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccrualPeriod {
    pub start: NaiveDate,
    pub due: NaiveDate,
    pub interest: Decimal,
}

impl AccrualPeriod {
    /// Interest accrued from the start through the end of `day`:
    /// `round_half_up(interest × elapsed / days, 2)` with
    /// `elapsed = day − start + 1` days, 0 before the start and the whole
    /// interest from the last day on. The daily accrual is the difference of
    /// two consecutive days, so the accruals of a period sum to its interest
    /// exactly and the last day takes the rounding remainder.
    pub fn accrued_through(&self, day: NaiveDate) -> Decimal {
        let days = (self.due - self.start).num_days();
        let elapsed = (day - self.start).num_days() + 1;
        if elapsed <= 0 {
            return Decimal::ZERO;
        }
        if elapsed >= days || days <= 0 {
            return self.interest;
        }
        round_cents(self.interest * Decimal::from(elapsed) / Decimal::from(days))
    }
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

    #[test]
    fn penalty_is_exact_and_rounded_once() {
        // 10.00 × 0.18 / 360 = 0.005 a day: 30 days are 0.15, not 30 × 0.01.
        let mut p = Penalty::zero(DayCountBasis::Days360);
        for _ in 0..30 {
            p.accrue(dec("10.00"), dec("0.18"), 1);
        }
        assert_eq!(p.rounded().to_string(), "0.15");
        // 788.49 × 0.18 × 4 / 360 = 1.57698 → 1.58 (per-day rounding gave 4 × 0.39 = 1.56).
        let mut p = Penalty::zero(DayCountBasis::Days360);
        p.accrue(dec("788.49"), dec("0.18"), 4);
        assert_eq!(p.rounded().to_string(), "1.58");
        let mut p = Penalty::zero(DayCountBasis::Days365);
        p.accrue(dec("10000.00"), dec("0.18"), 1);
        // 1800 / 365 = 4.9315… → 4.93.
        assert_eq!(p.rounded().to_string(), "4.93");
    }

    #[test]
    fn accruals_of_a_period_sum_to_its_interest() {
        // 100.00 over 31 days (Jan 15 → Feb 15): 3.23 on day 1, … the last
        // day takes the remainder; the sum is 100.00 exactly.
        let period = AccrualPeriod {
            start: date("2026-01-15"),
            due: date("2026-02-15"),
            interest: dec("100.00"),
        };
        assert_eq!(period.accrued_through(date("2026-01-14")), Decimal::ZERO);
        assert_eq!(
            period.accrued_through(date("2026-01-15")).to_string(),
            "3.23"
        );
        assert_eq!(
            period.accrued_through(date("2026-02-14")).to_string(),
            "100.00"
        );
        assert_eq!(
            period.accrued_through(date("2026-03-01")).to_string(),
            "100.00"
        );
        let mut total = Decimal::ZERO;
        let mut day = date("2026-01-15");
        let mut before = Decimal::ZERO;
        while day < date("2026-02-15") {
            let through = period.accrued_through(day);
            total += through - before;
            before = through;
            day = day.succ_opt().unwrap();
        }
        assert_eq!(total.to_string(), "100.00");
    }
}
