-- Business ledger (shared by settlement and the reconciliation jobs) and the
-- end-of-day settlement outputs. See docs/settlement.md.
-- SQLite: money is TEXT holding an exact decimal (the Money type); instants are
-- RFC 3339 UTC text as sqlx writes a chrono DateTime<Utc>
-- (`2026-11-21T15:59:59+00:00`), so text order is time order; business dates
-- are YYYY-MM-DD text.

CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL
);

-- Chart of accounts. opening_balance: the balance before the first business
-- date this account is settled (normal-side sign, see account_type).
CREATE TABLE accounts (
    account_code    TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    account_type    TEXT NOT NULL CHECK (account_type IN ('asset','liability','equity','income','expense')),
    currency        TEXT NOT NULL,
    opening_balance TEXT NOT NULL DEFAULT '0'
);

-- Payment orders: what a payer paid a merchant through a channel.
CREATE TABLE payment_orders (
    order_no         TEXT PRIMARY KEY,
    merchant_id      TEXT NOT NULL,
    channel          TEXT NOT NULL,
    channel_order_no TEXT,
    currency         TEXT NOT NULL,
    amount           TEXT NOT NULL,
    fee              TEXT NOT NULL DEFAULT '0',
    status           TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed','closed')),
    created_at       TEXT NOT NULL,
    completed_at     TEXT,
    -- A succeeded row needs its completion time: it decides the business date.
    CHECK (status <> 'succeeded' OR completed_at IS NOT NULL)
);
CREATE INDEX payment_orders_by_completed ON payment_orders (completed_at);
CREATE INDEX payment_orders_by_merchant ON payment_orders (merchant_id, completed_at);

-- Refunds of payment orders. fee: the part of the order's fee given back to the merchant.
CREATE TABLE refunds (
    refund_no         TEXT PRIMARY KEY,
    order_no          TEXT NOT NULL,
    merchant_id       TEXT NOT NULL,
    channel           TEXT NOT NULL,
    channel_refund_no TEXT,
    currency          TEXT NOT NULL,
    amount            TEXT NOT NULL,
    fee               TEXT NOT NULL DEFAULT '0',
    status            TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed')),
    created_at        TEXT NOT NULL,
    completed_at      TEXT,
    -- A succeeded row needs its completion time: it decides the business date.
    CHECK (status <> 'succeeded' OR completed_at IS NOT NULL)
);
CREATE INDEX refunds_by_completed ON refunds (completed_at);
CREATE INDEX refunds_by_order ON refunds (order_no);

-- Double-entry journal: one row per posting line; the lines of one entry_no balance.
CREATE TABLE journal_postings (
    entry_no     TEXT NOT NULL,
    line_no      INTEGER NOT NULL,
    account_code TEXT NOT NULL,
    direction    TEXT NOT NULL CHECK (direction IN ('debit','credit')),
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    posted_at    TEXT NOT NULL,
    order_no     TEXT,
    refund_no    TEXT,
    memo         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (entry_no, line_no)
);
CREATE INDEX journal_postings_by_posted ON journal_postings (posted_at);
CREATE INDEX journal_postings_by_order ON journal_postings (order_no);

-- Settlement outputs: one line per merchant and currency per (job, business date).
CREATE TABLE settlement_lines (
    job            TEXT NOT NULL,
    business_date  TEXT NOT NULL,
    merchant_id    TEXT NOT NULL,
    currency       TEXT NOT NULL,
    item           INTEGER NOT NULL,
    payment_count  INTEGER NOT NULL,
    payment_amount TEXT NOT NULL,
    refund_count   INTEGER NOT NULL,
    refund_amount  TEXT NOT NULL,
    fee_amount     TEXT NOT NULL,
    net_amount     TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    PRIMARY KEY (job, business_date, merchant_id, currency)
);
CREATE INDEX settlement_lines_by_item ON settlement_lines (job, business_date, item);

-- Daily balance snapshot per account (期初余额 / 借方 / 贷方 / 期末余额).
CREATE TABLE account_balances (
    job             TEXT NOT NULL,
    business_date   TEXT NOT NULL,
    account_code    TEXT NOT NULL,
    item            INTEGER NOT NULL,
    account_type    TEXT NOT NULL,
    currency        TEXT NOT NULL,
    opening_balance TEXT NOT NULL,
    debit_amount    TEXT NOT NULL,
    credit_amount   TEXT NOT NULL,
    debit_count     INTEGER NOT NULL,
    credit_count    INTEGER NOT NULL,
    closing_balance TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    PRIMARY KEY (job, business_date, account_code)
);
CREATE INDEX account_balances_by_item ON account_balances (job, business_date, item);
CREATE INDEX account_balances_by_account ON account_balances (job, account_code, business_date);
