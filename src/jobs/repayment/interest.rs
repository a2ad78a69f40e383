//! Day-count interest: daily penalty interest on overdue principal and the
//! daily interest accrual (计提). Pure functions; rounding half-up to the cent
//! per loan installment and per day (docs/repayment.md).

use rust_decimal::Decimal;

use crate::money::round_cents;

/// Days in the year a daily rate divides by; kept per loan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One day's penalty interest (罚息) on `overdue_principal`:
/// `round_half_up(overdue principal × annual rate × multiplier / basis, 2)`.
pub fn daily_penalty(
    overdue_principal: Decimal,
    annual_rate: Decimal,
    multiplier: Decimal,
    basis: DayCountBasis,
) -> Decimal {
    round_cents(overdue_principal * annual_rate * multiplier / Decimal::from(basis.days()))
}

/// One day's interest accrual (计提) on performing principal:
/// `round_half_up(principal × annual rate / basis, 2)`.
pub fn daily_accrual(principal: Decimal, annual_rate: Decimal, basis: DayCountBasis) -> Decimal {
    round_cents(principal * annual_rate / Decimal::from(basis.days()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("test decimal")
    }

    #[test]
    fn penalty_and_accrual_round_half_up_per_day() {
        // 10000 × 0.12 × 1.5 / 360 = 5 exactly; / 365 = 4.9315… → 4.93.
        let cases = [
            ("10000.00", "0.12", "1.5", DayCountBasis::Days360, "5.00"),
            ("10000.00", "0.12", "1.5", DayCountBasis::Days365, "4.93"),
            // 788.49 × 0.12 × 1.5 / 360 = 0.3942… → 0.39.
            ("788.49", "0.12", "1.5", DayCountBasis::Days360, "0.39"),
            // 250 × 0.144 × 1.5 / 360 = 0.15 exactly.
            ("250.00", "0.144", "1.5", DayCountBasis::Days360, "0.15"),
            // 125 × 0.12 × 1.5 / 360 = 0.0625 → 0.06; tie case 0.005 below.
            ("125.00", "0.12", "1.5", DayCountBasis::Days360, "0.06"),
            ("10.00", "0.12", "1.5", DayCountBasis::Days360, "0.01"),
        ];
        for (principal, rate, multiplier, basis, expected) in cases {
            let got = daily_penalty(dec(principal), dec(rate), dec(multiplier), basis);
            assert_eq!(got.to_string(), expected, "{principal} {basis:?}");
        }
        // 10.00 × 0.12 × 1.5 / 360 = 0.005 exactly: half-up gives 0.01 (above).
        // Accrual: 36500 × 0.10 / 365 = 10 exactly; 1000 × 0.0435 / 360 = 0.1208… → 0.12.
        assert_eq!(
            daily_accrual(dec("36500.00"), dec("0.10"), DayCountBasis::Days365).to_string(),
            "10.00"
        );
        assert_eq!(
            daily_accrual(dec("1000.00"), dec("0.0435"), DayCountBasis::Days360).to_string(),
            "0.12"
        );
        assert_eq!(DayCountBasis::from_days(364), None);
    }
}
