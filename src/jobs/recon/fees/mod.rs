//! Fee audit against the channel contract (手续费核对): every statement row's
//! fee is recomputed from the contract and a fee that differs is a
//! `fee_overcharge` / `fee_undercharge` finding, whatever our ledger says
//! (a ledger that copied the channel's fee agrees with the channel and the
//! engine sees no `fee_mismatch`; the contract still does).
//!
//! Payments are audited in each shard, as their rows go by ([`ShardFeeAudit`]);
//! refunds in finalize, once each is linked to its payment (the fee given
//! back depends on the payment's contractual fee and on the order's refunded
//! total; `crate::jobs::recon::refunds`).

pub mod contract;

pub use contract::{FeeContract, FeeRounding};

use crate::jobs::recon::findings::{FeeTotals, Finding, FindingCategory, values_of};
use crate::jobs::recon::formats::{LedgerStatus, Record, RecordKind};

/// The fee audit of one shard's statement payments.
#[derive(Debug, Default)]
pub struct ShardFeeAudit {
    pub totals: FeeTotals,
    pub findings: Vec<Finding>,
}

impl ShardFeeAudit {
    /// Audits one statement record: a paid payment's fee against the
    /// contract's fee for its amount on its date (the record's local date).
    /// Refunds are audited in finalize; rows without money moved are not fees.
    pub fn observe(&mut self, contract: &FeeContract, record: &Record) {
        if record.kind != RecordKind::Payment || record.status != LedgerStatus::Success {
            return;
        }
        let Some(values) = values_of(record) else {
            // Out of range: the engine rejects the row.
            return;
        };
        let (Some(charged), Some(expected)) = (
            values.fee,
            contract.payment_fee(values.amount, record.time.date()),
        ) else {
            self.totals.unaudited += 1;
            return;
        };
        self.totals.add(expected, charged);
        if let Some(category) = fee_category(expected, charged) {
            self.findings.push(Finding {
                category,
                key: record.key.clone(),
                kind: RecordKind::Payment,
                order_no: record.order_no.clone(),
                ledger: None,
                statement: Some(values),
                payment_date: None,
                paid: None,
                refunded_total: None,
                expected_fee: Some(expected),
            });
        }
    }
}

/// Over- or undercharged, when the charged fee is not the contractual one
/// (fees signed as on statements: charged positive, given back negative, so
/// a refund that gives back too little is an overcharge).
pub fn fee_category(expected: i64, charged: i64) -> Option<FindingCategory> {
    match charged.cmp(&expected) {
        std::cmp::Ordering::Greater => Some(FindingCategory::FeeOvercharge),
        std::cmp::Ordering::Less => Some(FindingCategory::FeeUndercharge),
        std::cmp::Ordering::Equal => None,
    }
}
