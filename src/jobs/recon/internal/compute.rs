//! The pure three-way comparison: one shard's orders, payments and journal
//! entries in, one [`Finding`] per order number and the per-category tallies
//! out. No I/O; every record read lands in exactly one category.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One side of the three-way reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Business orders (the order system, 业务系统).
    Orders,
    /// Payment records (the fund system, 资金系统).
    Payments,
    /// Journal entries (accounting, 账务系统).
    Journal,
}

impl Side {
    /// Every side, in report order.
    pub const ALL: [Side; 3] = [Side::Orders, Side::Payments, Side::Journal];

    /// The name used in reports and in `sides`: `orders`, `payments`, `journal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Orders => "orders",
            Side::Payments => "payments",
            Side::Journal => "journal",
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Orders => 0,
            Side::Payments => 1,
            Side::Journal => 2,
        }
    }
}

/// Where an order number lands. Precedence is the order of [`Category::ALL`]:
/// the first that applies decides (see `docs/recon-internal.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 重复记账: two or more journal entries for one order.
    DoublePosting,
    /// 单边账 (资金有、业务无): a successful payment the order system does not know.
    PaymentWithoutOrder,
    /// 单边账 (业务有、资金无): a paid order without a payment record.
    OrderWithoutPayment,
    /// 单边账 (账务有、资金无): a journal entry without a payment record.
    JournalWithoutPayment,
    /// 漏记账 (资金有、账务无): a successful payment never posted.
    PaymentWithoutJournal,
    /// 状态不符: one side says paid, another says not paid.
    StatusMismatch,
    /// 币种不符: the sides agree on the order but not on its currency.
    CurrencyMismatch,
    /// 金额不符 (长款/短款): the sides disagree on the amount.
    AmountMismatch,
    /// 对平: every side agrees (or no side moved money).
    Matched,
}

impl Category {
    /// Every category, in precedence and report order.
    pub const ALL: [Category; 9] = [
        Category::DoublePosting,
        Category::PaymentWithoutOrder,
        Category::OrderWithoutPayment,
        Category::JournalWithoutPayment,
        Category::PaymentWithoutJournal,
        Category::StatusMismatch,
        Category::CurrencyMismatch,
        Category::AmountMismatch,
        Category::Matched,
    ];

    /// The snake_case name in reports and in the break register.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::DoublePosting => "double_posting",
            Category::PaymentWithoutOrder => "payment_without_order",
            Category::OrderWithoutPayment => "order_without_payment",
            Category::JournalWithoutPayment => "journal_without_payment",
            Category::PaymentWithoutJournal => "payment_without_journal",
            Category::StatusMismatch => "status_mismatch",
            Category::CurrencyMismatch => "currency_mismatch",
            Category::AmountMismatch => "amount_mismatch",
            Category::Matched => "matched",
        }
    }

    /// Position in report order.
    pub fn rank(self) -> usize {
        Category::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// A business order (`business_orders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_no: String,
    pub merchant_id: String,
    pub currency: String,
    pub amount: Decimal,
    /// `created`, `paid`, `closed`, `refunded`.
    pub status: String,
}

impl Order {
    /// The order system says the customer paid (a refunded order was paid first).
    pub fn is_paid(&self) -> bool {
        matches!(self.status.as_str(), "paid" | "refunded")
    }
}

/// A payment record (`payment_orders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub order_no: String,
    pub merchant_id: String,
    pub currency: String,
    pub amount: Decimal,
    /// `pending`, `succeeded`, `failed`, `closed`.
    pub status: String,
}

impl Payment {
    /// Money arrived: only `succeeded`.
    pub fn is_paid(&self) -> bool {
        self.status == "succeeded"
    }
}

/// One journal entry recording a payment: the entry's lines with this order
/// number and no refund number. Its amount is the sum of its debit lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub entry_no: String,
    pub order_no: String,
    pub currency: String,
    pub amount: Decimal,
}

/// What one side holds for an order number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideView {
    /// Records of this side (0 or 1 for orders and payments; entries for the journal).
    pub records: u64,
    /// Their total amount (0 when absent).
    pub amount: Decimal,
    /// Their currency (blank when absent).
    pub currency: String,
    /// `paid`, `succeeded`, `posted`… as the side states it (blank when absent).
    pub status: String,
}

/// The result for one order number: its category and what each side holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub category: Category,
    pub order_no: String,
    /// The two sides that disagree (`orders/payments`, …), or `journal/journal`
    /// for a double posting; blank when matched.
    pub sides: String,
    pub merchant_id: String,
    pub orders: SideView,
    pub payments: SideView,
    pub journal: SideView,
    /// The journal entry numbers, in order.
    pub entries: Vec<String>,
    /// Amount on the first side named in `sides` (None when it lacks the record).
    pub left_amount: Option<Decimal>,
    /// Amount on the second side.
    pub right_amount: Option<Decimal>,
    /// `right − left`, a missing side counting as 0.
    pub delta: Decimal,
    /// One line for a person.
    pub detail: String,
}

impl Finding {
    /// The view of `side`.
    pub fn side(&self, side: Side) -> &SideView {
        match side {
            Side::Orders => &self.orders,
            Side::Payments => &self.payments,
            Side::Journal => &self.journal,
        }
    }

    /// `theirs − ours` between two sides, a missing side counting as 0.
    pub fn difference(&self, from: Side, to: Side) -> Decimal {
        self.side(to).amount - self.side(from).amount
    }
}

/// Count and sum of one side's records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountSum {
    pub count: u64,
    pub amount: Decimal,
}

impl CountSum {
    fn add(&mut self, count: u64, amount: Decimal) {
        self.count += count;
        self.amount += amount;
    }
}

/// One line of a [`Tally`] as a shard stores it: a side's count and sum in a
/// currency, for a category or (`category: None`) for what was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TallyRow {
    pub side: Side,
    pub currency: String,
    pub category: Option<Category>,
    pub count: u64,
    pub amount: Decimal,
}

/// Per side: counts and sums per (currency, category), and what was read per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// `[orders, payments, journal]` → (currency, category) → count and sum.
    pub categories: [BTreeMap<(String, Category), CountSum>; 3],
    /// `[orders, payments, journal]` → currency → records read and their sum.
    pub read: [BTreeMap<String, CountSum>; 3],
}

impl Tally {
    /// The tally as rows (sides, then currency and category order).
    pub fn to_rows(&self) -> Vec<TallyRow> {
        let mut rows = Vec::new();
        for side in Side::ALL {
            for ((currency, category), value) in &self.categories[side.index()] {
                rows.push(TallyRow {
                    side,
                    currency: currency.clone(),
                    category: Some(*category),
                    count: value.count,
                    amount: value.amount,
                });
            }
            for (currency, value) in &self.read[side.index()] {
                rows.push(TallyRow {
                    side,
                    currency: currency.clone(),
                    category: None,
                    count: value.count,
                    amount: value.amount,
                });
            }
        }
        rows
    }

    /// Adds rows written by [`Tally::to_rows`].
    pub fn add_rows(&mut self, rows: &[TallyRow]) {
        for row in rows {
            let slot = match row.category {
                Some(category) => self.categories[row.side.index()]
                    .entry((row.currency.clone(), category))
                    .or_default(),
                None => self.read[row.side.index()]
                    .entry(row.currency.clone())
                    .or_default(),
            };
            slot.add(row.count, row.amount);
        }
    }

    /// Count and sum of `side` in `category` for `currency`.
    pub fn get(&self, side: Side, currency: &str, category: Category) -> CountSum {
        self.categories[side.index()]
            .get(&(currency.to_string(), category))
            .copied()
            .unwrap_or_default()
    }

    /// Records read on `side` in `currency`.
    pub fn read_of(&self, side: Side, currency: &str) -> CountSum {
        self.read[side.index()]
            .get(currency)
            .copied()
            .unwrap_or_default()
    }

    /// Records read on `side`, all currencies.
    pub fn read_count(&self, side: Side) -> u64 {
        self.read[side.index()].values().map(|v| v.count).sum()
    }

    /// Every currency seen on any side, sorted.
    pub fn currencies(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .read
            .iter()
            .flat_map(|m| m.keys().cloned())
            .chain(
                self.categories
                    .iter()
                    .flat_map(|m| m.keys().map(|(c, _)| c.clone())),
            )
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// One shard's result: a finding per order number (sorted by order number)
/// and the tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub tally: Tally,
}

/// A journal entry whose debit lines are in more than one currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "journal entry {entry_no} of order {order_no} debits more than one currency ({currencies})"
)]
pub struct MixedCurrencyEntry {
    pub entry_no: String,
    pub order_no: String,
    pub currencies: String,
}

/// One journal line of a payment entry, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub entry_no: String,
    pub order_no: String,
    /// `debit` or `credit`.
    pub direction: String,
    pub amount: Decimal,
    pub currency: String,
}

/// Groups lines (sorted by entry) into entries: one per (entry, order
/// number), amount = the sum of its debit lines (a payment's entry debits
/// the channel receivable with the amount paid and credits the merchant and
/// the fee income), currency = that of its debit lines.
pub fn entries_from_lines(lines: &[JournalLine]) -> Result<Vec<JournalEntry>, MixedCurrencyEntry> {
    /// Debit total, debit currencies, credit currencies of one entry.
    type Slot<'a> = (Decimal, Vec<&'a str>, Vec<&'a str>);
    let mut grouped: BTreeMap<(&str, &str), Slot<'_>> = BTreeMap::new();
    for line in lines {
        let slot = grouped
            .entry((line.entry_no.as_str(), line.order_no.as_str()))
            .or_default();
        let currencies = if line.direction == "debit" {
            slot.0 += line.amount;
            &mut slot.1
        } else {
            &mut slot.2
        };
        if !currencies.contains(&line.currency.as_str()) {
            currencies.push(&line.currency);
        }
    }
    grouped
        .into_iter()
        .map(|((entry_no, order_no), (amount, debits, credits))| {
            // An entry without debit lines (malformed, but still counted) takes its credits' currency.
            let currencies = if debits.is_empty() { credits } else { debits };
            if currencies.len() > 1 {
                return Err(MixedCurrencyEntry {
                    entry_no: entry_no.to_string(),
                    order_no: order_no.to_string(),
                    currencies: currencies.join(", "),
                });
            }
            Ok(JournalEntry {
                entry_no: entry_no.to_string(),
                order_no: order_no.to_string(),
                currency: currencies
                    .first()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                amount,
            })
        })
        .collect()
}

/// What each side holds for one order number.
type Sides<'a> = (
    Option<&'a Order>,
    Option<&'a Payment>,
    Vec<&'a JournalEntry>,
);

/// Compares the three sides of a set of order numbers.
pub fn reconcile(orders: &[Order], payments: &[Payment], entries: &[JournalEntry]) -> Outcome {
    let mut by_key: BTreeMap<&str, Sides<'_>> = BTreeMap::new();
    let mut tally = Tally::default();
    for order in orders {
        by_key.entry(&order.order_no).or_default().0 = Some(order);
        read(&mut tally, Side::Orders, &order.currency, order.amount);
    }
    for payment in payments {
        by_key.entry(&payment.order_no).or_default().1 = Some(payment);
        read(
            &mut tally,
            Side::Payments,
            &payment.currency,
            payment.amount,
        );
    }
    for entry in entries {
        by_key.entry(&entry.order_no).or_default().2.push(entry);
        read(&mut tally, Side::Journal, &entry.currency, entry.amount);
    }
    let mut findings = Vec::with_capacity(by_key.len());
    for (order_no, (order, payment, mut journal)) in by_key {
        journal.sort_by(|a, b| a.entry_no.cmp(&b.entry_no));
        let finding = classify(order_no, order, payment, &journal);
        count(&mut tally, &finding, order, payment, &journal);
        findings.push(finding);
    }
    Outcome { findings, tally }
}

fn read(tally: &mut Tally, side: Side, currency: &str, amount: Decimal) {
    tally.read[side.index()]
        .entry(currency.to_string())
        .or_default()
        .add(1, amount);
}

/// Counts every record of the key, each in its own currency, under the key's category.
fn count(
    tally: &mut Tally,
    finding: &Finding,
    order: Option<&Order>,
    payment: Option<&Payment>,
    journal: &[&JournalEntry],
) {
    let mut add = |side: Side, currency: &str, amount: Decimal| {
        tally.categories[side.index()]
            .entry((currency.to_string(), finding.category))
            .or_default()
            .add(1, amount);
    };
    if let Some(order) = order {
        add(Side::Orders, &order.currency, order.amount);
    }
    if let Some(payment) = payment {
        add(Side::Payments, &payment.currency, payment.amount);
    }
    for entry in journal {
        add(Side::Journal, &entry.currency, entry.amount);
    }
}

fn view(records: u64, amount: Decimal, currency: &str, status: &str) -> SideView {
    SideView {
        records,
        amount,
        currency: currency.to_string(),
        status: status.to_string(),
    }
}

/// Classifies one order number (precedence: [`Category::ALL`]).
fn classify(
    order_no: &str,
    order: Option<&Order>,
    payment: Option<&Payment>,
    journal: &[&JournalEntry],
) -> Finding {
    let orders = order.map_or_else(SideView::default, |o| {
        view(1, o.amount, &o.currency, &o.status)
    });
    let payments = payment.map_or_else(SideView::default, |p| {
        view(1, p.amount, &p.currency, &p.status)
    });
    let journal_view = match journal.first() {
        None => SideView::default(),
        Some(first) => view(
            journal.len() as u64,
            journal.iter().map(|e| e.amount).sum(),
            &first.currency,
            "posted",
        ),
    };
    let merchant_id = order
        .map(|o| o.merchant_id.clone())
        .or_else(|| payment.map(|p| p.merchant_id.clone()))
        .unwrap_or_default();
    let mut finding = Finding {
        category: Category::Matched,
        order_no: order_no.to_string(),
        sides: String::new(),
        merchant_id,
        orders,
        payments,
        journal: journal_view,
        entries: journal.iter().map(|e| e.entry_no.clone()).collect(),
        left_amount: None,
        right_amount: None,
        delta: Decimal::ZERO,
        detail: String::new(),
    };
    let verdict = verdict(order, payment, journal);
    finding.category = verdict.category;
    if let Some((left, right)) = verdict.pair {
        finding.sides = format!("{}/{}", left.as_str(), right.as_str());
        let amount = |view: &SideView| (view.records > 0).then_some(view.amount);
        let (left_amount, right_amount) = (amount(finding.side(left)), amount(finding.side(right)));
        finding.left_amount = left_amount;
        finding.right_amount = right_amount;
        finding.delta =
            finding.right_amount.unwrap_or_default() - finding.left_amount.unwrap_or_default();
    }
    if finding.category == Category::DoublePosting {
        // left = the first entry, right = all entries: the delta is what was posted too much.
        finding.left_amount = journal.first().map(|e| e.amount);
        finding.right_amount = Some(finding.journal.amount);
        finding.delta =
            finding.journal.amount - journal.first().map_or(Decimal::ZERO, |e| e.amount);
    }
    finding.detail = detail(&finding);
    finding
}

/// A category and the pair of sides it names.
struct Verdict {
    category: Category,
    pair: Option<(Side, Side)>,
}

fn verdict(order: Option<&Order>, payment: Option<&Payment>, journal: &[&JournalEntry]) -> Verdict {
    let is = |category, left, right| Verdict {
        category,
        pair: Some((left, right)),
    };
    let order_paid = order.is_some_and(Order::is_paid);
    let payment_paid = payment.is_some_and(Payment::is_paid);
    let posted = !journal.is_empty();
    if journal.len() >= 2 {
        return is(Category::DoublePosting, Side::Journal, Side::Journal);
    }
    if payment_paid && order.is_none() {
        return is(Category::PaymentWithoutOrder, Side::Orders, Side::Payments);
    }
    if order_paid && payment.is_none() {
        return is(Category::OrderWithoutPayment, Side::Orders, Side::Payments);
    }
    if posted && payment.is_none() {
        return is(
            Category::JournalWithoutPayment,
            Side::Payments,
            Side::Journal,
        );
    }
    if payment_paid && !posted {
        return is(
            Category::PaymentWithoutJournal,
            Side::Payments,
            Side::Journal,
        );
    }
    if order.is_some() && payment.is_some() && order_paid != payment_paid {
        return is(Category::StatusMismatch, Side::Orders, Side::Payments);
    }
    if posted && !payment_paid {
        // Payment present but not successful, yet posted as received.
        return is(Category::StatusMismatch, Side::Payments, Side::Journal);
    }
    if let Some(pair) = first_pair(order, payment, journal, |o, p, j| {
        (o.currency.clone(), p.currency.clone(), j.currency.clone())
    }) {
        return is(Category::CurrencyMismatch, pair.0, pair.1);
    }
    if let Some(pair) = first_pair(order, payment, journal, |o, p, j| {
        (o.amount, p.amount, j.amount)
    }) {
        return is(Category::AmountMismatch, pair.0, pair.1);
    }
    Verdict {
        category: Category::Matched,
        pair: None,
    }
}

/// The first pair of present sides (orders/payments, payments/journal,
/// orders/journal) whose `field` differs. Only reached when every present
/// side agrees money moved (or none did).
fn first_pair<T: PartialEq>(
    order: Option<&Order>,
    payment: Option<&Payment>,
    journal: &[&JournalEntry],
    field: impl Fn(&Order, &Payment, &JournalEntry) -> (T, T, T),
) -> Option<(Side, Side)> {
    let (order, payment, entry) = (order?, payment?, journal.first());
    // Orders and payments are both present here (earlier categories caught a
    // missing one while money moved; with no money moved there is nothing to compare).
    if !payment.is_paid() {
        return None;
    }
    let entry = entry?;
    let (o, p, j) = field(order, payment, entry);
    if o != p {
        Some((Side::Orders, Side::Payments))
    } else if p != j {
        Some((Side::Payments, Side::Journal))
    } else {
        None
    }
}

fn detail(finding: &Finding) -> String {
    let describe = |side: Side| {
        let view = finding.side(side);
        if view.records == 0 {
            format!("{} none", side.as_str())
        } else {
            format!(
                "{} {} {} {}",
                side.as_str(),
                crate::money::format_scaled(view.amount, crate::money::CENTS),
                view.currency,
                view.status
            )
        }
    };
    let all = Side::ALL.map(describe).join(", ");
    match finding.category {
        Category::DoublePosting => format!(
            "{} journal entries ({}) for one order; {all}",
            finding.entries.len(),
            finding.entries.join(" ")
        ),
        Category::Matched => all,
        _ => format!(
            "{} {} by {}; {all}",
            finding.category.as_str(),
            finding.sides,
            crate::money::format_scaled(finding.delta, crate::money::CENTS)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(no: &str, amount: &str, status: &str) -> Order {
        Order {
            order_no: no.into(),
            merchant_id: "M1".into(),
            currency: "CNY".into(),
            amount: amount.parse().unwrap(),
            status: status.into(),
        }
    }

    fn payment(no: &str, amount: &str, status: &str) -> Payment {
        Payment {
            order_no: no.into(),
            merchant_id: "M1".into(),
            currency: "CNY".into(),
            amount: amount.parse().unwrap(),
            status: status.into(),
        }
    }

    fn entry(entry_no: &str, no: &str, amount: &str) -> JournalEntry {
        JournalEntry {
            entry_no: entry_no.into(),
            order_no: no.into(),
            currency: "CNY".into(),
            amount: amount.parse().unwrap(),
        }
    }

    /// One order number's sides → (category, sides, delta).
    fn check(
        orders: &[Order],
        payments: &[Payment],
        entries: &[JournalEntry],
        expected: (Category, &str, &str),
    ) {
        let outcome = reconcile(orders, payments, entries);
        assert_eq!(outcome.findings.len(), 1);
        let found = &outcome.findings[0];
        assert_eq!(
            (found.category, found.sides.as_str(), found.delta),
            (expected.0, expected.1, expected.2.parse().unwrap()),
            "{}",
            found.detail
        );
    }

    #[test]
    fn categories_by_precedence() {
        let (o, p, j) = (order, payment, entry);
        check(
            &[o("A", "10", "paid")],
            &[p("A", "10", "succeeded")],
            &[j("E1", "A", "10")],
            (Category::Matched, "", "0"),
        );
        // Nothing moved anywhere: an unpaid order alone, a failed payment alone.
        check(
            &[o("A", "10", "closed")],
            &[],
            &[],
            (Category::Matched, "", "0"),
        );
        check(
            &[],
            &[p("A", "10", "failed")],
            &[],
            (Category::Matched, "", "0"),
        );
        check(
            &[o("A", "10", "paid")],
            &[p("A", "10", "succeeded")],
            &[j("E1", "A", "10"), j("E2", "A", "10")],
            (Category::DoublePosting, "journal/journal", "10"),
        );
        check(
            &[],
            &[p("A", "10", "succeeded")],
            &[j("E1", "A", "10")],
            (Category::PaymentWithoutOrder, "orders/payments", "10"),
        );
        check(
            &[o("A", "10", "paid")],
            &[],
            &[],
            (Category::OrderWithoutPayment, "orders/payments", "-10"),
        );
        check(
            &[o("A", "10", "paid")],
            &[],
            &[j("E1", "A", "10")],
            (Category::OrderWithoutPayment, "orders/payments", "-10"),
        );
        check(
            &[o("A", "10", "closed")],
            &[],
            &[j("E1", "A", "10")],
            (Category::JournalWithoutPayment, "payments/journal", "10"),
        );
        check(
            &[o("A", "10", "paid")],
            &[p("A", "10", "succeeded")],
            &[],
            (Category::PaymentWithoutJournal, "payments/journal", "-10"),
        );
        check(
            &[o("A", "10", "paid")],
            &[p("A", "10", "closed")],
            &[],
            (Category::StatusMismatch, "orders/payments", "0"),
        );
        check(
            &[o("A", "10", "closed")],
            &[p("A", "10", "failed")],
            &[j("E1", "A", "10")],
            (Category::StatusMismatch, "payments/journal", "0"),
        );
        check(
            &[o("A", "10", "refunded")],
            &[p("A", "9.99", "succeeded")],
            &[j("E1", "A", "9.99")],
            (Category::AmountMismatch, "orders/payments", "-0.01"),
        );
        check(
            &[o("A", "10", "paid")],
            &[p("A", "10", "succeeded")],
            &[j("E1", "A", "12.5")],
            (Category::AmountMismatch, "payments/journal", "2.5"),
        );
        let mut usd = p("A", "10", "succeeded");
        usd.currency = "USD".into();
        check(
            &[o("A", "10", "paid")],
            &[usd],
            &[j("E1", "A", "10")],
            (Category::CurrencyMismatch, "orders/payments", "0"),
        );
    }

    fn line(entry_no: &str, direction: &str, amount: &str, currency: &str) -> JournalLine {
        JournalLine {
            entry_no: entry_no.into(),
            order_no: "A".into(),
            direction: direction.into(),
            amount: amount.parse().unwrap(),
            currency: currency.into(),
        }
    }

    #[test]
    fn an_entry_is_worth_its_debit_lines() {
        // Dr receivable 100.00 = Cr merchant 99.40 + Cr fee income 0.60 → 100.00.
        let entries = entries_from_lines(&[
            line("E1", "debit", "100.00", "CNY"),
            line("E1", "credit", "99.40", "CNY"),
            line("E1", "credit", "0.60", "CNY"),
        ])
        .unwrap();
        assert_eq!(entries, [entry("E1", "A", "100.00")]);
        let mixed = entries_from_lines(&[
            line("E2", "debit", "1.00", "CNY"),
            line("E2", "debit", "1.00", "USD"),
        ]);
        assert_eq!(
            mixed.unwrap_err().to_string(),
            "journal entry E2 of order A debits more than one currency (CNY, USD)"
        );
    }

    #[test]
    fn every_record_is_counted_once_in_its_currency() {
        let outcome = reconcile(
            &[order("A", "10", "paid"), order("B", "5", "paid")],
            &[payment("A", "10", "succeeded")],
            &[entry("E1", "A", "10"), entry("E2", "A", "10")],
        );
        let t = &outcome.tally;
        assert_eq!(
            t.read_of(Side::Journal, "CNY"),
            CountSum {
                count: 2,
                amount: "20".parse().unwrap()
            }
        );
        assert_eq!(
            t.get(Side::Journal, "CNY", Category::DoublePosting).count,
            2
        );
        assert_eq!(
            t.get(Side::Orders, "CNY", Category::OrderWithoutPayment)
                .amount,
            Decimal::from(5)
        );
    }
}
