//! Applying a repayment to what is due: the oldest due installment first,
//! and within an installment penalty, then interest, then principal. Pure.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::interest::{DayCountBasis, Penalty};
use super::schedule::{Installment, ZERO_CENTS};

/// Where part of a repayment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Penalty,
    Interest,
    Principal,
    /// Surplus that reduced principal not yet due (a prepayment).
    Prepayment,
    /// Interest on the prepaid principal (payoff / partial prepayment).
    PrepaymentInterest,
    /// Received before anything was due and held (预存/挂账) until a due date.
    Advance,
    /// Surplus left over once the loan was repaid in full.
    Unapplied,
}

impl Component {
    /// The name used in tables and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Penalty => "penalty",
            Component::Interest => "interest",
            Component::Principal => "principal",
            Component::Prepayment => "prepayment",
            Component::PrepaymentInterest => "prepayment_interest",
            Component::Advance => "advance",
            Component::Unapplied => "unapplied",
        }
    }
}

/// One installment with what has been paid on it and the penalty it has accrued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallmentState {
    pub period: u32,
    pub due_date: NaiveDate,
    pub principal: Decimal,
    pub interest: Decimal,
    /// Penalty interest accrued so far (all days), exact.
    pub penalty: Penalty,
    /// Penalty accrued on the business date alone, exact.
    pub penalty_today: Penalty,
    pub paid_principal: Decimal,
    pub paid_interest: Decimal,
    pub paid_penalty: Decimal,
}

impl InstallmentState {
    /// An unpaid installment of a schedule; penalty on `basis`.
    pub fn new(installment: &Installment, basis: DayCountBasis) -> InstallmentState {
        InstallmentState {
            period: installment.period,
            due_date: installment.due_date,
            principal: installment.principal,
            interest: installment.interest,
            penalty: Penalty::zero(basis),
            penalty_today: Penalty::zero(basis),
            paid_principal: ZERO_CENTS,
            paid_interest: ZERO_CENTS,
            paid_penalty: ZERO_CENTS,
        }
    }

    pub fn owed_principal(&self) -> Decimal {
        self.principal - self.paid_principal
    }

    pub fn owed_interest(&self) -> Decimal {
        self.interest - self.paid_interest
    }

    /// Penalty billed so far: the exact accrual rounded once.
    pub fn penalty_billed(&self) -> Decimal {
        self.penalty.rounded()
    }

    pub fn owed_penalty(&self) -> Decimal {
        self.penalty_billed() - self.paid_penalty
    }

    /// Everything still owed on it.
    pub fn owed(&self) -> Decimal {
        self.owed_principal() + self.owed_interest() + self.owed_penalty()
    }

    /// Nothing left to pay.
    pub fn is_paid(&self) -> bool {
        self.owed().is_zero()
    }
}

/// One allocation: `amount` of a repayment went to `component` of `period`
/// (period 0 for prepayments and unapplied surplus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub period: u32,
    pub component: Component,
    pub amount: Decimal,
}

/// Applies `amount` to the installments due on or before `date`, oldest first
/// (penalty, interest, principal of each); appends what went where and
/// returns the surplus left over.
pub fn allocate(
    installments: &mut [InstallmentState],
    date: NaiveDate,
    amount: Decimal,
    out: &mut Vec<Allocation>,
) -> Decimal {
    let mut left = amount;
    for installment in installments.iter_mut().filter(|i| i.due_date <= date) {
        for component in [
            Component::Penalty,
            Component::Interest,
            Component::Principal,
        ] {
            if left.is_zero() {
                return left;
            }
            let (owed, paid) = match component {
                Component::Penalty => (installment.owed_penalty(), &mut installment.paid_penalty),
                Component::Interest => {
                    (installment.owed_interest(), &mut installment.paid_interest)
                }
                _ => (
                    installment.owed_principal(),
                    &mut installment.paid_principal,
                ),
            };
            let applied = owed.min(left);
            if applied > Decimal::ZERO {
                *paid += applied;
                left -= applied;
                out.push(Allocation {
                    period: installment.period,
                    component,
                    amount: applied,
                });
            }
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("test decimal")
    }

    fn state(
        period: u32,
        due: &str,
        principal: &str,
        interest: &str,
        penalty: &str,
    ) -> InstallmentState {
        let basis = DayCountBasis::Days360;
        InstallmentState {
            period,
            due_date: due.parse().expect("date"),
            principal: dec(principal),
            interest: dec(interest),
            // penalty × 360 units at rate 1 for 1 day: rounds back to `penalty`.
            penalty: Penalty {
                units: dec(penalty) * Decimal::from(360),
                basis,
            },
            penalty_today: Penalty::zero(basis),
            paid_principal: dec("0.00"),
            paid_interest: dec("0.00"),
            paid_penalty: dec("0.00"),
        }
    }

    #[test]
    fn oldest_first_penalty_interest_principal() {
        let mut book = vec![
            state(1, "2026-10-10", "800.00", "100.00", "12.00"),
            state(2, "2026-11-10", "810.00", "90.00", "3.00"),
            state(3, "2026-12-10", "820.00", "80.00", "0.00"),
        ];
        let mut out = Vec::new();
        // 12 + 100 + 800 = 912 settles period 1; 3 + 90 + 45 go to period 2.
        let left = allocate(
            &mut book,
            "2026-11-21".parse().unwrap(),
            dec("1050.00"),
            &mut out,
        );
        assert_eq!(left, dec("0.00"));
        let got: Vec<(u32, &str, String)> = out
            .iter()
            .map(|a| (a.period, a.component.as_str(), a.amount.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "penalty", "12.00".to_string()),
                (1, "interest", "100.00".to_string()),
                (1, "principal", "800.00".to_string()),
                (2, "penalty", "3.00".to_string()),
                (2, "interest", "90.00".to_string()),
                (2, "principal", "45.00".to_string()),
            ]
        );
        assert!(book[0].is_paid());
        assert_eq!(book[1].owed_principal(), dec("765.00"));
        // Period 3 is not due: a further payment is surplus once 2 is settled.
        let left = allocate(
            &mut book,
            "2026-11-21".parse().unwrap(),
            dec("800.00"),
            &mut out,
        );
        assert_eq!(left, dec("35.00"));
        assert_eq!(book[2].paid_principal, dec("0.00"));
    }
}
