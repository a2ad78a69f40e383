-- Business ledger (shared by settlement and the reconciliation jobs) and the
-- end-of-day settlement outputs. See docs/settlement.md.
-- PostgreSQL: money is NUMERIC (the Money type); instants are TIMESTAMPTZ;
-- business dates are DATE.

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
    opening_balance NUMERIC NOT NULL DEFAULT 0
);

-- Payment orders: what a payer paid a merchant through a channel.
CREATE TABLE payment_orders (
    order_no         TEXT PRIMARY KEY,
    merchant_id      TEXT NOT NULL,
    channel          TEXT NOT NULL,
    channel_order_no TEXT,
    currency         TEXT NOT NULL,
    amount           NUMERIC NOT NULL,
    fee              NUMERIC NOT NULL DEFAULT 0,
    status           TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed','closed')),
    created_at       TIMESTAMPTZ NOT NULL,
    completed_at     TIMESTAMPTZ,
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
    amount            NUMERIC NOT NULL,
    fee               NUMERIC NOT NULL DEFAULT 0,
    status            TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed')),
    created_at        TIMESTAMPTZ NOT NULL,
    completed_at      TIMESTAMPTZ,
    -- A succeeded row needs its completion time: it decides the business date.
    CHECK (status <> 'succeeded' OR completed_at IS NOT NULL)
);
CREATE INDEX refunds_by_completed ON refunds (completed_at);
CREATE INDEX refunds_by_order ON refunds (order_no);

-- Double-entry journal: one row per posting line; the lines of one entry_no balance.
CREATE TABLE journal_postings (
    entry_no     TEXT NOT NULL,
    line_no      BIGINT NOT NULL,
    account_code TEXT NOT NULL,
    direction    TEXT NOT NULL CHECK (direction IN ('debit','credit')),
    amount       NUMERIC NOT NULL,
    currency     TEXT NOT NULL,
    posted_at    TIMESTAMPTZ NOT NULL,
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
    business_date  DATE NOT NULL,
    merchant_id    TEXT NOT NULL,
    currency       TEXT NOT NULL,
    item           BIGINT NOT NULL,
    payment_count  BIGINT NOT NULL,
    payment_amount NUMERIC NOT NULL,
    refund_count   BIGINT NOT NULL,
    refund_amount  NUMERIC NOT NULL,
    fee_amount     NUMERIC NOT NULL,
    net_amount     NUMERIC NOT NULL,
    run_id         TEXT NOT NULL,
    PRIMARY KEY (job, business_date, merchant_id, currency)
);
CREATE INDEX settlement_lines_by_item ON settlement_lines (job, business_date, item);

-- Daily balance snapshot per account (期初余额 / 借方 / 贷方 / 期末余额).
CREATE TABLE account_balances (
    job             TEXT NOT NULL,
    business_date   DATE NOT NULL,
    account_code    TEXT NOT NULL,
    item            BIGINT NOT NULL,
    account_type    TEXT NOT NULL,
    currency        TEXT NOT NULL,
    opening_balance NUMERIC NOT NULL,
    debit_amount    NUMERIC NOT NULL,
    credit_amount   NUMERIC NOT NULL,
    debit_count     BIGINT NOT NULL,
    credit_count    BIGINT NOT NULL,
    closing_balance NUMERIC NOT NULL,
    run_id          TEXT NOT NULL,
    PRIMARY KEY (job, business_date, account_code)
);
CREATE INDEX account_balances_by_item ON account_balances (job, business_date, item);
CREATE INDEX account_balances_by_account ON account_balances (job, account_code, business_date);
