//! Pure computations of one shard: merchant settlement lines and account
//! balance snapshots. No I/O; amounts are exact (no rounding happens here).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::SettlementError;
use super::model::{Account, Balance, Direction, MerchantLine, Payment, Posting, Refund};

/// Sums payments and refunds into one line per (merchant, currency), in that order.
/// Refuses negative amounts and fees larger than their amount.
pub fn settle_merchants(
    payments: &[Payment],
    refunds: &[Refund],
) -> Result<Vec<MerchantLine>, SettlementError> {
    let mut lines: BTreeMap<(String, String), MerchantLine> = BTreeMap::new();
    for payment in payments {
        check_amount_and_fee(
            "payment order",
            &payment.order_no,
            payment.amount,
            payment.fee,
        )?;
        let entry = line_of(&mut lines, &payment.merchant_id, &payment.currency);
        entry.payment_count += 1;
        entry.payment_amount += payment.amount;
        entry.fee_amount += payment.fee;
    }
    for refund in refunds {
        check_amount_and_fee("refund", &refund.refund_no, refund.amount, refund.fee)?;
        let entry = line_of(&mut lines, &refund.merchant_id, &refund.currency);
        entry.refund_count += 1;
        entry.refund_amount += refund.amount;
        entry.fee_amount -= refund.fee;
    }
    Ok(lines
        .into_values()
        .map(|mut line| {
            line.net_amount = line.payment_amount - line.refund_amount - line.fee_amount;
            line
        })
        .collect())
}

fn line_of<'a>(
    lines: &'a mut BTreeMap<(String, String), MerchantLine>,
    merchant: &str,
    currency: &str,
) -> &'a mut MerchantLine {
    lines
        .entry((merchant.to_string(), currency.to_string()))
        .or_insert_with(|| MerchantLine {
            merchant_id: merchant.to_string(),
            currency: currency.to_string(),
            ..MerchantLine::default()
        })
}

fn check_amount_and_fee(
    table: &'static str,
    key: &str,
    amount: Decimal,
    fee: Decimal,
) -> Result<(), SettlementError> {
    let reason = if amount <= Decimal::ZERO {
        format!("amount {amount} is not positive")
    } else if fee < Decimal::ZERO {
        format!("fee {fee} is negative")
    } else if fee > amount {
        format!("fee {fee} is larger than the amount {amount}")
    } else {
        return Ok(());
    };
    Err(SettlementError::BadRow {
        table,
        key: key.to_string(),
        reason,
    })
}

/// Balance snapshots of `accounts` (one each, in code order) from their
/// openings and the day's postings. `openings` holds the previous closing of
/// accounts that have one; the others open at their `opening_balance`.
/// Every posting must name one of `accounts`, in its currency, with a positive amount.
pub fn balances(
    accounts: &[Account],
    openings: &BTreeMap<String, Decimal>,
    postings: &[Posting],
) -> Result<Vec<Balance>, SettlementError> {
    let mut by_code: BTreeMap<&str, Balance> = accounts
        .iter()
        .map(|account| {
            let opening = openings
                .get(&account.code)
                .copied()
                .unwrap_or(account.opening_balance);
            let balance = Balance {
                account_code: account.code.clone(),
                account_type: account.account_type,
                currency: account.currency.clone(),
                opening,
                debit_amount: Decimal::ZERO,
                credit_amount: Decimal::ZERO,
                debit_count: 0,
                credit_count: 0,
                closing: Decimal::ZERO,
            };
            (account.code.as_str(), balance)
        })
        .collect();
    for posting in postings {
        let bad = |reason: String| SettlementError::BadRow {
            table: "journal posting",
            key: format!("{} line {}", posting.entry_no, posting.line_no),
            reason,
        };
        let Some(balance) = by_code.get_mut(posting.account_code.as_str()) else {
            return Err(bad(format!(
                "account `{}` is not in the chart of accounts",
                posting.account_code
            )));
        };
        if posting.currency != balance.currency {
            return Err(bad(format!(
                "currency {} differs from account {}'s currency {}",
                posting.currency, posting.account_code, balance.currency
            )));
        }
        if posting.amount <= Decimal::ZERO {
            return Err(bad(format!("amount {} is not positive", posting.amount)));
        }
        match posting.direction {
            Direction::Debit => {
                balance.debit_amount += posting.amount;
                balance.debit_count += 1;
            }
            Direction::Credit => {
                balance.credit_amount += posting.amount;
                balance.credit_count += 1;
            }
        }
    }
    Ok(by_code
        .into_values()
        .map(|mut balance| {
            balance.closing = balance.account_type.closing(
                balance.opening,
                balance.debit_amount,
                balance.credit_amount,
            );
            balance
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::business::accounts::AccountType;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn payment(no: &str, merchant: &str, currency: &str, amount: &str, fee: &str) -> Payment {
        Payment {
            order_no: no.into(),
            merchant_id: merchant.into(),
            currency: currency.into(),
            amount: dec(amount),
            fee: dec(fee),
        }
    }

    #[test]
    fn merchant_lines_net_refunds_and_returned_fees() {
        let payments = [
            payment("O1", "M1", "CNY", "100.00", "0.60"),
            payment("O2", "M1", "CNY", "50.00", "0.30"),
            payment("O3", "M1", "USD", "10.00", "0.05"),
        ];
        let refunds = [Refund {
            refund_no: "R1".into(),
            merchant_id: "M1".into(),
            currency: "CNY".into(),
            amount: dec("20.00"),
            fee: dec("0.12"),
        }];
        let lines = settle_merchants(&payments, &refunds).unwrap();
        assert_eq!(lines.len(), 2);
        // CNY: gross 150.00, refunds 20.00, fees 0.90 − 0.12 = 0.78, net 150 − 20 − 0.78 = 129.22.
        assert_eq!((lines[0].payment_count, lines[0].refund_count), (2, 1));
        assert_eq!(lines[0].fee_amount, dec("0.78"));
        assert_eq!(lines[0].net_amount, dec("129.22"));
        assert_eq!(
            (lines[1].currency.as_str(), lines[1].net_amount),
            ("USD", dec("9.95"))
        );
    }

    #[test]
    fn bad_amounts_are_refused_with_the_row() {
        for (amount, fee, needle) in [
            ("0", "0", "not positive"),
            ("-1", "0", "not positive"),
            ("1", "-0.01", "negative"),
            ("1", "1.01", "larger"),
        ] {
            let err = settle_merchants(&[payment("O9", "M", "CNY", amount, fee)], &[]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("O9") && text.contains(needle), "{text}");
        }
    }

    #[test]
    fn closing_follows_the_normal_side() {
        let accounts = [
            Account {
                code: "1002".into(),
                name: "bank".into(),
                account_type: AccountType::Asset,
                currency: "CNY".into(),
                opening_balance: dec("100"),
            },
            Account {
                code: "2202".into(),
                name: "payable".into(),
                account_type: AccountType::Liability,
                currency: "CNY".into(),
                opening_balance: dec("100"),
            },
        ];
        let posting = |line, code: &str, direction, amount| Posting {
            entry_no: "E1".into(),
            line_no: line,
            account_code: code.into(),
            direction,
            amount: dec(amount),
            currency: "CNY".into(),
        };
        let postings = [
            posting(1, "1002", Direction::Debit, "30"),
            posting(2, "2202", Direction::Credit, "30"),
            posting(3, "1002", Direction::Credit, "5"),
            posting(4, "2202", Direction::Debit, "5"),
        ];
        let openings = BTreeMap::from([("2202".to_string(), dec("70"))]);
        let got = balances(&accounts, &openings, &postings).unwrap();
        // Asset: 100 + 30 − 5 = 125. Liability opens at yesterday's 70: 70 + 30 − 5 = 95.
        assert_eq!(got[0].closing, dec("125"));
        assert_eq!(got[1].opening, dec("70"));
        assert_eq!(got[1].closing, dec("95"));
        assert_eq!((got[0].debit_count, got[0].credit_count), (1, 1));

        let stray = [posting(1, "9999", Direction::Debit, "1")];
        let err = balances(&accounts, &openings, &stray)
            .unwrap_err()
            .to_string();
        assert!(err.contains("E1 line 1") && err.contains("9999"), "{err}");
    }
}
