//! Refund linkage across days (退款关联): every refund of the business date
//! (ours, the channel's, or both) is linked to its order's payment, whatever
//! day it was made, and counted once into the order's refunded total.
//!
//! - Today's refunds come from the shards ([`RefundFact`]: refunds that moved
//!   money, both sides). A ledger and a statement refund are one refund when
//!   their refund numbers are equal, else (Alipay's refund without request
//!   number) when they refund the same order with the same amount.
//! - The payment: our `payment_orders` (any date before the end of the
//!   business day), else the channel's payment of today, else a payment the
//!   channel reported on an earlier date that we never had (the register's
//!   one-sided records). None → `orphan_refund` (无原单退款).
//! - Refunds counted by earlier dates are in `recon_refund_links`; a refund
//!   already counted (same refund number on either side) is not counted again
//!   (a refund seen by our ledger one day and by the channel the next is one
//!   refund). Within the day, refunds count in completion-time order (then
//!   refund number): the refund that takes the total above what was paid,
//!   and every later one, is an `over_refund` (超额退款). Partial refunds
//!   simply add up.
//! - A rerun of D replaces D's links and reads only earlier dates' links, so
//!   it decides the same way; a changed D changes the carry digest and makes
//!   later dates stale.
//!
//! With a fee contract, each refund the channel reported is fee-audited here:
//! the fee given back is the payment's contractual fee in proportion to the
//! refunded total ([`FeeContract::refund_fee`]).

pub mod store;

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};

use crate::jobs::recon::engine::SideValues;
use crate::jobs::recon::fees::{FeeContract, fee_category};
use crate::jobs::recon::findings::{FeeTotals, Finding, FindingCategory, values_of};
use crate::jobs::recon::formats::{LedgerStatus, Record, RecordKind};

/// One refund row that moved money, as a shard saw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefundFact {
    /// Refund number (Alipay without request number: the order number).
    pub key: String,
    pub order_no: String,
    /// Our ledger's row (else the statement's).
    pub on_ledger: bool,
    pub values: SideValues,
}

impl RefundFact {
    /// A refund that moved money (status `REFUND`); anything else is not one.
    pub fn of(record: &Record, on_ledger: bool) -> Option<RefundFact> {
        if record.kind != RecordKind::Refund || record.status != LedgerStatus::Refund {
            return None;
        }
        Some(RefundFact {
            key: record.key.clone(),
            order_no: record.order_no.clone(),
            on_ledger,
            values: values_of(record)?,
        })
    }
}

/// One refund of today: our row, the channel's, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEvent {
    pub order_no: String,
    pub ledger: Option<(String, SideValues)>,
    pub statement: Option<(String, SideValues)>,
}

impl RefundEvent {
    /// The amount counted: the channel's when it reported the refund.
    pub fn amount(&self) -> i64 {
        self.statement
            .as_ref()
            .or(self.ledger.as_ref())
            .map_or(0, |(_, v)| v.amount)
    }

    /// When it was completed: the channel's time when it has one.
    pub fn time(&self) -> NaiveDateTime {
        self.statement
            .as_ref()
            .or(self.ledger.as_ref())
            .map(|(_, v)| v.time)
            .unwrap_or_default()
    }

    /// The refund number shown (ours when we have the refund).
    pub fn key(&self) -> &str {
        self.ledger
            .as_ref()
            .or(self.statement.as_ref())
            .map_or("", |(k, _)| k.as_str())
    }

    fn identity(&self) -> Identity {
        Identity {
            order_no: self.order_no.clone(),
            ledger_key: self.ledger.as_ref().map(|(k, _)| k.clone()),
            statement_key: self.statement.as_ref().map(|(k, _)| k.clone()),
            amount: self.amount(),
        }
    }
}

/// Today's refunds from the shards' facts: a ledger and a statement refund
/// with the same refund number pair; then one-sided ones of the same order
/// and amount (oldest first). Ordered by completion time, then refund
/// number and place: the order in which they are counted.
pub fn events(mut facts: Vec<RefundFact>) -> Vec<RefundEvent> {
    facts.sort_by(|a, b| {
        (
            &a.order_no,
            a.values.time,
            &a.key,
            &a.values.file,
            a.values.line,
        )
            .cmp(&(
                &b.order_no,
                b.values.time,
                &b.key,
                &b.values.file,
                b.values.line,
            ))
    });
    let mut by_order: HashMap<&str, (Vec<&RefundFact>, Vec<&RefundFact>)> = HashMap::new();
    for fact in &facts {
        let entry = by_order.entry(fact.order_no.as_str()).or_default();
        if fact.on_ledger {
            entry.0.push(fact);
        } else {
            entry.1.push(fact);
        }
    }
    let mut events = Vec::new();
    for (order, (ledger, statement)) in by_order {
        let mut ledger: Vec<Option<&RefundFact>> = ledger.into_iter().map(Some).collect();
        let mut statement: Vec<Option<&RefundFact>> = statement.into_iter().map(Some).collect();
        let pair = |l: &RefundFact, s: &RefundFact| RefundEvent {
            order_no: order.to_string(),
            ledger: Some((l.key.clone(), l.values.clone())),
            statement: Some((s.key.clone(), s.values.clone())),
        };
        for rule in [
            (|l: &RefundFact, s: &RefundFact| l.key == s.key)
                as fn(&RefundFact, &RefundFact) -> bool,
            |l, s| l.values.amount == s.values.amount,
        ] {
            for slot in statement.iter_mut() {
                let Some(s) = *slot else { continue };
                let partner = ledger.iter_mut().find(|l| l.is_some_and(|l| rule(l, s)));
                if let Some(l_slot) = partner
                    && let Some(l) = l_slot.take()
                {
                    events.push(pair(l, s));
                    *slot = None;
                }
            }
        }
        for l in ledger.into_iter().flatten() {
            events.push(RefundEvent {
                order_no: order.to_string(),
                ledger: Some((l.key.clone(), l.values.clone())),
                statement: None,
            });
        }
        for s in statement.into_iter().flatten() {
            events.push(RefundEvent {
                order_no: order.to_string(),
                ledger: None,
                statement: Some((s.key.clone(), s.values.clone())),
            });
        }
    }
    events.sort_by(|a, b| {
        let place = |e: &RefundEvent| {
            let (_, v) = e.statement.as_ref().or(e.ledger.as_ref())?;
            Some((v.file.clone(), v.line))
        };
        (a.time(), a.key().to_string(), &a.order_no, place(a)).cmp(&(
            b.time(),
            b.key().to_string(),
            &b.order_no,
            place(b),
        ))
    });
    events
}

/// What identifies a counted refund: its refund numbers on each side, and
/// (for the Alipay shape) its order and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub order_no: String,
    pub ledger_key: Option<String>,
    pub statement_key: Option<String>,
    /// Cents.
    pub amount: i64,
}

impl Identity {
    /// The same refund: a refund number in common (a number equal to the
    /// order number — Alipay's refund without request number — only with
    /// the same amount), or one side's refund against the other side's
    /// refund shown by order number with the same amount.
    fn same_refund(&self, other: &Identity) -> bool {
        if self.order_no != other.order_no {
            return false;
        }
        let mine = [&self.ledger_key, &self.statement_key];
        let theirs = [&other.ledger_key, &other.statement_key];
        let by_order = |key: &str| key == self.order_no;
        let shared = mine.iter().flat_map(|k| k.as_deref()).any(|key| {
            theirs.iter().flat_map(|k| k.as_deref()).any(|other_key| {
                key == other_key && (!by_order(key) || self.amount == other.amount)
            })
        });
        let alipay_shape = |a: &Identity, b: &Identity| {
            a.ledger_key.is_none()
                && a.statement_key.as_deref().is_some_and(by_order)
                && b.statement_key.is_none()
                && a.amount == b.amount
        };
        shared || alipay_shape(self, other) || alipay_shape(other, self)
    }
}

/// A refund counted by an earlier business date (`recon_refund_links`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorLink {
    pub business_date: NaiveDate,
    pub identity: Identity,
}

/// The payment a refund is linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    /// Business date of the payment.
    pub date: NaiveDate,
    /// Cents paid.
    pub amount: i64,
}

/// A refund counted by today's run, as stored in `recon_refund_links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub identity: Identity,
    pub time: NaiveDateTime,
    pub payment: Option<Payment>,
    /// The order's refunded total after this refund (cents).
    pub refunded_total: i64,
    /// `linked`, `over_refund` or `orphan_refund`.
    pub category: &'static str,
}

/// What the linkage of a date produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linkage {
    /// Refunds counted today, in counting order.
    pub links: Vec<NewLink>,
    /// `over_refund`, `orphan_refund`, and the refunds' fee findings.
    pub findings: Vec<Finding>,
    /// Today's refunds already counted (by an earlier date, or twice today).
    pub already_counted: u64,
    /// The refunds' fee audit (with a contract).
    pub fees: FeeTotals,
}

/// Links today's `events` (counting order) to their payments, on top of the
/// refunds earlier dates counted (`prior`, by business date).
pub fn link(
    events: &[RefundEvent],
    prior: &[PriorLink],
    payments: &HashMap<String, Payment>,
    contract: Option<&FeeContract>,
) -> Linkage {
    let mut seen: HashMap<&str, Vec<Identity>> = HashMap::new();
    let mut totals: HashMap<&str, i64> = HashMap::new();
    for link in prior {
        let order = link.identity.order_no.as_str();
        let known = seen.entry(order).or_default();
        // The same refund stored by two dates (an earlier date rerun later) counts once.
        if !known.iter().any(|k| k.same_refund(&link.identity)) {
            *totals.entry(order).or_insert(0) += link.identity.amount;
            known.push(link.identity.clone());
        }
    }
    let mut linkage = Linkage::default();
    for event in events {
        let identity = event.identity();
        let order = event.order_no.as_str();
        let known = seen.entry(order).or_default();
        if known.iter().any(|k| k.same_refund(&identity)) {
            linkage.already_counted += 1;
            continue;
        }
        known.push(identity.clone());
        let total = totals.entry(order).or_insert(0);
        let before = *total;
        *total += event.amount();
        let after = *total;
        let payment = payments.get(order).copied();
        let category = match payment {
            None => Some(FindingCategory::OrphanRefund),
            Some(p) if after > p.amount => Some(FindingCategory::OverRefund),
            Some(_) => None,
        };
        let finding = |category| Finding {
            category,
            key: event.key().to_string(),
            kind: RecordKind::Refund,
            order_no: event.order_no.clone(),
            ledger: event.ledger.as_ref().map(|(_, v)| v.clone()),
            statement: event.statement.as_ref().map(|(_, v)| v.clone()),
            payment_date: payment.map(|p| p.date),
            paid: payment.map(|p| p.amount),
            refunded_total: Some(after),
            expected_fee: None,
        };
        if let Some(category) = category {
            linkage.findings.push(finding(category));
        }
        if let (Some(contract), Some((_, statement))) = (contract, &event.statement) {
            let expected = payment.and_then(|p| {
                let fee = contract.payment_fee(p.amount, p.date)?;
                contract.refund_fee(fee, p.amount, before, after)
            });
            match (expected, statement.fee) {
                (Some(expected), Some(charged)) => {
                    linkage.fees.add(expected, charged);
                    if let Some(category) = fee_category(expected, charged) {
                        linkage.findings.push(Finding {
                            expected_fee: Some(expected),
                            ..finding(category)
                        });
                    }
                }
                _ => linkage.fees.unaudited += 1,
            }
        }
        linkage.links.push(NewLink {
            identity,
            time: event.time(),
            payment,
            refunded_total: after,
            category: category.map_or("linked", FindingCategory::as_str),
        });
    }
    linkage
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(amount: i64, time: &str, line: u64) -> SideValues {
        SideValues {
            amount,
            fee: None,
            status: LedgerStatus::Refund,
            time: NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S").unwrap(),
            file: if line == 0 { "refunds" } else { "stmt.csv" }.to_string(),
            line,
        }
    }

    fn fact(key: &str, order: &str, ledger: bool, amount: i64, time: &str) -> RefundFact {
        RefundFact {
            key: key.into(),
            order_no: order.into(),
            on_ledger: ledger,
            values: values(amount, time, if ledger { 0 } else { 2 }),
        }
    }

    fn paid(amount: i64) -> HashMap<String, Payment> {
        HashMap::from([(
            "P1".to_string(),
            Payment {
                date: "2026-11-20".parse().unwrap(),
                amount,
            },
        )])
    }

    #[test]
    fn both_sides_are_one_refund_and_alipay_order_number_pairs_by_amount() {
        let events = events(vec![
            fact("R1", "P1", true, 3_000, "2026-11-21 10:00:00"),
            fact("R1", "P1", false, 3_000, "2026-11-21 10:00:01"),
            fact("R2", "P1", true, 2_000, "2026-11-21 11:00:00"),
            fact("P1", "P1", false, 2_000, "2026-11-21 11:00:02"),
        ]);
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| e.ledger.is_some() && e.statement.is_some())
        );
        let linkage = link(&events, &[], &paid(10_000), None);
        assert!(linkage.findings.is_empty());
        assert_eq!(linkage.links.last().unwrap().refunded_total, 5_000);
    }

    #[test]
    fn running_total_in_time_order_flags_the_refund_that_exceeds() {
        let events = events(vec![
            fact("R3", "P1", false, 5_000, "2026-11-22 15:00:00"),
            fact("R2", "P1", false, 4_000, "2026-11-22 09:00:00"),
        ]);
        let prior = [PriorLink {
            business_date: "2026-11-21".parse().unwrap(),
            identity: Identity {
                order_no: "P1".into(),
                ledger_key: Some("R1".into()),
                statement_key: Some("R1".into()),
                amount: 3_000,
            },
        }];
        let linkage = link(&events, &prior, &paid(10_000), None);
        // 30 + 40 = 70 ≤ 100; + 50 = 120 > 100.
        assert_eq!(linkage.links.len(), 2);
        assert_eq!(linkage.links[0].category, "linked");
        assert_eq!(linkage.links[1].refunded_total, 12_000);
        assert_eq!(linkage.findings.len(), 1);
        assert_eq!(linkage.findings[0].category, FindingCategory::OverRefund);
        assert_eq!(linkage.findings[0].key, "R3");
    }

    #[test]
    fn a_refund_counted_earlier_is_not_counted_again_and_orphans_are_found() {
        let prior = [PriorLink {
            business_date: "2026-11-21".parse().unwrap(),
            identity: Identity {
                order_no: "P1".into(),
                ledger_key: Some("R1".into()),
                statement_key: None,
                amount: 3_000,
            },
        }];
        // The channel reports R1 a day late; and R9 of an unknown order.
        let events = events(vec![
            fact("R1", "P1", false, 3_000, "2026-11-22 00:10:00"),
            fact("R9", "P9", false, 1_000, "2026-11-22 08:00:00"),
        ]);
        let linkage = link(&events, &prior, &paid(10_000), None);
        assert_eq!(linkage.already_counted, 1);
        assert_eq!(linkage.findings.len(), 1);
        assert_eq!(linkage.findings[0].category, FindingCategory::OrphanRefund);
        assert_eq!(linkage.findings[0].refunded_total, Some(1_000));
    }
}
