-- Refund linkage (docs/recon.md, 退款关联): the refunds each recon-funds date
-- counted into its orders' refunded totals. A later date reads the rows of
-- earlier dates so that a refund is counted once, whatever day its payment
-- and its two sides appeared; a rerun of a date replaces that date's rows
-- (in the transaction that records its breaks).
-- Keys: '' when the side has no such refund; payment_date '' for an orphan.
CREATE TABLE recon_refund_links (
    job            TEXT NOT NULL,
    business_date  TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    order_no       TEXT NOT NULL,
    ledger_key     TEXT NOT NULL,
    statement_key  TEXT NOT NULL,
    amount         TEXT NOT NULL,
    refunded_total TEXT NOT NULL,
    paid_amount    TEXT,
    payment_date   TEXT NOT NULL,
    refund_time    TEXT NOT NULL,
    category       TEXT NOT NULL CHECK (category IN ('linked','over_refund','orphan_refund')),
    run_id         TEXT NOT NULL,
    PRIMARY KEY (job, business_date, seq)
);
CREATE INDEX recon_refund_links_by_order ON recon_refund_links (job, order_no, business_date);
