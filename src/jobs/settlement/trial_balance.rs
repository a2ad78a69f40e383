//! The trial balance (试算平衡) of one business date, checked on the outputs
//! read back from the database: every journal entry balances, total debits
//! equal total credits per currency, the balance snapshots carry exactly the
//! journal's movements, every closing follows from its opening and movements,
//! every opening is the previous closing, and the debit-normal balances equal
//! the credit-normal ones (assets + expenses = liabilities + equity + income).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::model::{Balance, Direction};
use crate::money::{CENTS, format_scaled};

/// One journal line as the trial balance needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub entry_no: String,
    pub account_code: String,
    pub direction: Direction,
    pub amount: Decimal,
    pub currency: String,
}

/// Debit and credit totals of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sides {
    pub debit: Decimal,
    pub credit: Decimal,
}

impl Sides {
    /// `debit − credit`.
    pub fn difference(&self) -> Decimal {
        self.debit - self.credit
    }

    /// True when both sides are equal.
    pub fn balanced(&self) -> bool {
        self.difference().is_zero()
    }
}

/// The totals of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub accounts: u64,
    pub entries: u64,
    pub lines: u64,
    /// Openings: debit-normal accounts vs credit-normal accounts.
    pub opening: Sides,
    /// The journal's debits and credits.
    pub journal: Sides,
    /// The snapshots' debit and credit movements.
    pub movements: Sides,
    /// Closings: debit-normal accounts vs credit-normal accounts.
    pub closing: Sides,
}

/// Something that does not balance, naming what and by how much.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// A journal entry whose debits and credits differ (lines: account, side, amount).
    Entry {
        currency: String,
        entry_no: String,
        sides: (Decimal, Decimal),
        lines: Vec<(String, Direction, Decimal)>,
    },
    /// An account's snapshot does not carry the journal's movements for it.
    Movements {
        currency: String,
        account_code: String,
        snapshot: (Decimal, Decimal),
        journal: (Decimal, Decimal),
    },
    /// An account's closing is not opening ± movements.
    Closing {
        currency: String,
        account_code: String,
        closing: Decimal,
        expected: Decimal,
    },
    /// An account's opening is not the previous business date's closing.
    Opening {
        currency: String,
        account_code: String,
        opening: Decimal,
        previous_closing: Decimal,
        previous_date: NaiveDate,
    },
    /// The previous business date's stored opening is not the closing of the
    /// date before it: the previous date was settled on a closing that a
    /// rerun has changed since (it is stale), so this date builds on it too.
    PreviousOpening {
        currency: String,
        account_code: String,
        /// D-1 and its stored opening.
        previous_date: NaiveDate,
        previous_opening: Decimal,
        /// D-2 and its stored closing.
        before_date: NaiveDate,
        before_closing: Decimal,
    },
}

impl Problem {
    /// One line for an operator, naming the accounts and amounts.
    pub fn describe(&self) -> String {
        let money = |d: Decimal| format_scaled(d, CENTS);
        match self {
            Problem::Entry {
                currency,
                entry_no,
                sides,
                lines,
            } => format!(
                "{currency} journal entry {entry_no} does not balance: debits {} credits {} (difference {}); lines {}",
                money(sides.0),
                money(sides.1),
                money(sides.0 - sides.1),
                describe_lines(lines)
            ),
            Problem::Movements {
                currency,
                account_code,
                snapshot,
                journal,
            } => format!(
                "account {account_code} ({currency}): snapshot debits {} credits {} but the journal has debits {} credits {}",
                money(snapshot.0),
                money(snapshot.1),
                money(journal.0),
                money(journal.1)
            ),
            Problem::Closing {
                currency,
                account_code,
                closing,
                expected,
            } => format!(
                "account {account_code} ({currency}): closing {} but opening and movements give {}",
                money(*closing),
                money(*expected)
            ),
            Problem::Opening {
                currency,
                account_code,
                opening,
                previous_closing,
                previous_date,
            } => format!(
                "account {account_code} ({currency}): opening {} but the closing of {previous_date} is {}",
                money(*opening),
                money(*previous_closing)
            ),
            Problem::PreviousOpening {
                currency,
                account_code,
                previous_date,
                previous_opening,
                before_date,
                before_closing,
            } => format!(
                "account {account_code} ({currency}): {previous_date} opened at {} but the closing of {before_date} is now {}: {previous_date} is stale, rerun it first (reckon rerun --cascade)",
                money(*previous_opening),
                money(*before_closing)
            ),
        }
    }
}

fn describe_lines(lines: &[(String, Direction, Decimal)]) -> String {
    lines
        .iter()
        .map(|(account, direction, amount)| {
            format!(
                "{account} {} {}",
                direction.as_str(),
                format_scaled(*amount, CENTS)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checked trial balance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialBalance {
    /// By currency.
    pub totals: Vec<CurrencyTotals>,
    /// Sorted; empty when everything balances.
    pub problems: Vec<Problem>,
}

impl TrialBalance {
    /// True when every check passed.
    pub fn is_balanced(&self) -> bool {
        self.problems.is_empty()
            && self.totals.iter().all(|t| {
                t.opening.balanced()
                    && t.journal.balanced()
                    && t.movements.balanced()
                    && t.closing.balanced()
            })
    }

    /// Every failed check as one line each: the entries and accounts at
    /// fault first (they say where to look), then the totals they upset.
    pub fn failures(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.problems.iter().map(Problem::describe).collect();
        for totals in &self.totals {
            for (name, sides) in [
                (
                    "opening balances (debit-normal vs credit-normal)",
                    totals.opening,
                ),
                ("journal debits vs credits", totals.journal),
                ("snapshot debits vs credits", totals.movements),
                (
                    "closing balances (debit-normal vs credit-normal)",
                    totals.closing,
                ),
            ] {
                if !sides.balanced() {
                    lines.push(format!(
                        "{} {name}: {} vs {} (difference {})",
                        totals.currency,
                        format_scaled(sides.debit, CENTS),
                        format_scaled(sides.credit, CENTS),
                        format_scaled(sides.difference(), CENTS)
                    ));
                }
            }
        }
        lines
    }
}

/// Checks the snapshots of one business date against the journal lines of
/// its window and the previous date's closings (`previous`: account → closing).
pub fn check(
    balances: &[Balance],
    journal: &[JournalLine],
    previous: &BTreeMap<String, Decimal>,
    previous_date: NaiveDate,
) -> TrialBalance {
    let mut totals: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    let mut problems = entry_problems(journal);
    let mut by_account: BTreeMap<&str, Sides> = BTreeMap::new();
    let mut entries: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for line in journal {
        let currency = totals_for(&mut totals, &line.currency);
        currency.lines += 1;
        let account = by_account.entry(&line.account_code).or_default();
        match line.direction {
            Direction::Debit => {
                currency.journal.debit += line.amount;
                account.debit += line.amount;
            }
            Direction::Credit => {
                currency.journal.credit += line.amount;
                account.credit += line.amount;
            }
        }
        entries
            .entry(&line.currency)
            .or_default()
            .insert(&line.entry_no);
    }
    for (currency, set) in entries {
        totals_for(&mut totals, currency).entries = set.len() as u64;
    }
    for balance in balances {
        let currency = totals_for(&mut totals, &balance.currency);
        currency.accounts += 1;
        let side = |sides: &mut Sides, amount| {
            if balance.account_type.is_debit_normal() {
                sides.debit += amount;
            } else {
                sides.credit += amount;
            }
        };
        side(&mut currency.opening, balance.opening);
        side(&mut currency.closing, balance.closing);
        currency.movements.debit += balance.debit_amount;
        currency.movements.credit += balance.credit_amount;
        problems.extend(account_problems(
            balance,
            by_account
                .remove(balance.account_code.as_str())
                .unwrap_or_default(),
            previous.get(&balance.account_code).copied(),
            previous_date,
        ));
    }
    // Journal lines on accounts without a snapshot: movements nobody carried.
    for (account_code, sides) in by_account {
        let currency = journal
            .iter()
            .find(|l| l.account_code == account_code)
            .map(|l| l.currency.clone())
            .unwrap_or_default();
        problems.push(Problem::Movements {
            currency,
            account_code: account_code.to_string(),
            snapshot: (Decimal::ZERO, Decimal::ZERO),
            journal: (sides.debit, sides.credit),
        });
    }
    problems.sort();
    TrialBalance {
        totals: totals.into_values().collect(),
        problems,
    }
}

/// The stored snapshots of one earlier business date.
#[derive(Debug, Clone, Copy)]
pub struct PreviousDay<'a> {
    pub date: NaiveDate,
    /// Its snapshots (openings as stored when it was settled).
    pub balances: &'a [Balance],
    /// The closings of the date before it, account → closing.
    pub before: &'a BTreeMap<String, Decimal>,
    pub before_date: NaiveDate,
}

/// Checks that D-1 still stands on D-2: every D-1 opening equals D-2's
/// stored closing, where D-2 has one. A rerun of D-2 that changed its
/// closings leaves D-1 stale; D, settled on D-1's closings, would then
/// balance on top of a stale day, so its trial balance fails instead.
pub fn check_previous_day(trial: &mut TrialBalance, previous: PreviousDay<'_>) {
    for balance in previous.balances {
        if let Some(&closing) = previous.before.get(&balance.account_code)
            && closing != balance.opening
        {
            trial.problems.push(Problem::PreviousOpening {
                currency: balance.currency.clone(),
                account_code: balance.account_code.clone(),
                previous_date: previous.date,
                previous_opening: balance.opening,
                before_date: previous.before_date,
                before_closing: closing,
            });
        }
    }
    trial.problems.sort();
}

fn totals_for<'a>(
    totals: &'a mut BTreeMap<String, CurrencyTotals>,
    currency: &str,
) -> &'a mut CurrencyTotals {
    totals
        .entry(currency.to_string())
        .or_insert_with(|| CurrencyTotals {
            currency: currency.to_string(),
            ..CurrencyTotals::default()
        })
}

/// Entries whose debits and credits differ, per currency.
fn entry_problems(journal: &[JournalLine]) -> Vec<Problem> {
    let mut entries: BTreeMap<(&str, &str), Vec<&JournalLine>> = BTreeMap::new();
    for line in journal {
        entries
            .entry((&line.currency, &line.entry_no))
            .or_default()
            .push(line);
    }
    entries
        .into_iter()
        .filter_map(|((currency, entry_no), lines)| {
            let mut sides = Sides::default();
            for line in &lines {
                match line.direction {
                    Direction::Debit => sides.debit += line.amount,
                    Direction::Credit => sides.credit += line.amount,
                }
            }
            (!sides.balanced()).then(|| Problem::Entry {
                currency: currency.to_string(),
                entry_no: entry_no.to_string(),
                sides: (sides.debit, sides.credit),
                lines: lines
                    .iter()
                    .map(|l| (l.account_code.clone(), l.direction, l.amount))
                    .collect(),
            })
        })
        .collect()
}

fn account_problems(
    balance: &Balance,
    journal: Sides,
    previous_closing: Option<Decimal>,
    previous_date: NaiveDate,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if (balance.debit_amount, balance.credit_amount) != (journal.debit, journal.credit) {
        problems.push(Problem::Movements {
            currency: balance.currency.clone(),
            account_code: balance.account_code.clone(),
            snapshot: (balance.debit_amount, balance.credit_amount),
            journal: (journal.debit, journal.credit),
        });
    }
    let expected =
        balance
            .account_type
            .closing(balance.opening, balance.debit_amount, balance.credit_amount);
    if balance.closing != expected {
        problems.push(Problem::Closing {
            currency: balance.currency.clone(),
            account_code: balance.account_code.clone(),
            closing: balance.closing,
            expected,
        });
    }
    if let Some(previous_closing) = previous_closing
        && previous_closing != balance.opening
    {
        problems.push(Problem::Opening {
            currency: balance.currency.clone(),
            account_code: balance.account_code.clone(),
            opening: balance.opening,
            previous_closing,
            previous_date,
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::business::accounts::AccountType;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn line(entry: &str, account: &str, direction: Direction, amount: &str) -> JournalLine {
        JournalLine {
            entry_no: entry.into(),
            account_code: account.into(),
            direction,
            amount: dec(amount),
            currency: "CNY".into(),
        }
    }

    fn balance(
        code: &str,
        kind: AccountType,
        opening: &str,
        dr: &str,
        cr: &str,
        closing: &str,
    ) -> Balance {
        Balance {
            account_code: code.into(),
            account_type: kind,
            currency: "CNY".into(),
            opening: dec(opening),
            debit_amount: dec(dr),
            credit_amount: dec(cr),
            debit_count: 0,
            credit_count: 0,
            closing: dec(closing),
        }
    }

    fn date() -> NaiveDate {
        "2026-11-20".parse().unwrap()
    }

    #[test]
    fn balanced_day_has_no_problems() {
        let journal = [
            line("E1", "1122", Direction::Debit, "100"),
            line("E1", "2202", Direction::Credit, "99.4"),
            line("E1", "6001", Direction::Credit, "0.6"),
        ];
        let balances = [
            balance("1122", AccountType::Asset, "10", "100", "0", "110"),
            balance("2202", AccountType::Liability, "10", "0", "99.4", "109.4"),
            balance("6001", AccountType::Income, "0", "0", "0.6", "0.6"),
        ];
        let previous = BTreeMap::from([("1122".to_string(), dec("10"))]);
        let trial = check(&balances, &journal, &previous, date());
        assert!(trial.is_balanced(), "{:?}", trial.failures());
        assert_eq!(trial.totals[0].closing.debit, dec("110"));
        assert_eq!(trial.totals[0].closing.credit, dec("110"));
        assert_eq!((trial.totals[0].entries, trial.totals[0].lines), (1, 3));
    }

    #[test]
    fn one_sided_entry_names_entry_account_and_amount() {
        let journal = [line("E9", "1122", Direction::Debit, "10")];
        let balances = [
            balance("1122", AccountType::Asset, "0", "10", "0", "10"),
            balance("2202", AccountType::Liability, "0", "0", "0", "0"),
        ];
        let trial = check(&balances, &journal, &BTreeMap::new(), date());
        assert!(!trial.is_balanced());
        let text = trial.failures().join("\n");
        assert!(text.contains("journal entry E9 does not balance"), "{text}");
        assert!(text.contains("1122 debit 10.00"), "{text}");
        assert!(
            text.contains("journal debits vs credits: 10.00 vs 0.00"),
            "{text}"
        );
    }

    #[test]
    fn stale_previous_day_is_named() {
        let balances = [
            balance("1002", AccountType::Asset, "60", "0", "0", "60"),
            balance("4001", AccountType::Equity, "60", "0", "0", "60"),
        ];
        let mut trial = check(&balances, &[], &BTreeMap::new(), date());
        assert!(trial.is_balanced(), "{:?}", trial.failures());
        let previous = [
            balance("1002", AccountType::Asset, "50", "10", "0", "60"),
            balance("4001", AccountType::Equity, "50", "0", "10", "60"),
        ];
        let before = BTreeMap::from([
            ("1002".to_string(), dec("55")),
            ("4001".to_string(), dec("50")),
        ]);
        check_previous_day(
            &mut trial,
            PreviousDay {
                date: date(),
                balances: &previous,
                before: &before,
                before_date: "2026-11-19".parse().unwrap(),
            },
        );
        assert!(!trial.is_balanced());
        assert_eq!(
            trial.failures(),
            [
                "account 1002 (CNY): 2026-11-20 opened at 50.00 but the closing of 2026-11-19 is now 55.00: \
              2026-11-20 is stale, rerun it first (reckon rerun --cascade)"
            ]
        );
    }

    #[test]
    fn wrong_closing_and_stale_opening_are_named() {
        let balances = [
            balance("1002", AccountType::Asset, "50", "0", "0", "51"),
            balance("4001", AccountType::Equity, "50", "0", "0", "50"),
        ];
        let previous = BTreeMap::from([("4001".to_string(), dec("49"))]);
        let trial = check(&balances, &[], &previous, date());
        let text = trial.failures().join("\n");
        assert!(
            text.contains("account 1002 (CNY): closing 51.00 but opening and movements give 50.00"),
            "{text}"
        );
        assert!(
            text.contains(
                "account 4001 (CNY): opening 50.00 but the closing of 2026-11-20 is 49.00"
            ),
            "{text}"
        );
        assert!(
            text.contains("closing balances (debit-normal vs credit-normal): 51.00 vs 50.00"),
            "{text}"
        );
    }
}
