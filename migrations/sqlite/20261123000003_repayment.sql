-- Repayment schedules (kind = "repayment"). Money is TEXT (exact decimal
-- digits, see src/money.rs); dates are YYYY-MM-DD text.

-- Inputs: loans and repayments received.
CREATE TABLE repayment_loans (
    loan_id          TEXT PRIMARY KEY,
    principal        TEXT NOT NULL,
    annual_rate      TEXT NOT NULL,
    months           INTEGER NOT NULL,
    method           TEXT NOT NULL,
    disbursed_on     TEXT NOT NULL,
    repayment_day    INTEGER NOT NULL,
    day_count_basis  INTEGER NOT NULL
);
CREATE INDEX repayment_loans_by_date ON repayment_loans (disbursed_on);

CREATE TABLE repayment_receipts (
    repayment_id  TEXT PRIMARY KEY,
    loan_id       TEXT NOT NULL,
    received_on   TEXT NOT NULL,
    amount        TEXT NOT NULL
);
CREATE INDEX repayment_receipts_by_loan ON repayment_receipts (loan_id, received_on);

-- Schedules: version 0 generated at disbursement, version k after the k-th prepayment.
CREATE TABLE repayment_schedules (
    loan_id            TEXT NOT NULL,
    version            INTEGER NOT NULL,
    period             INTEGER NOT NULL,
    generated_on       TEXT NOT NULL,
    reason             TEXT NOT NULL CHECK (reason IN ('disbursement','prepayment')),
    convention         TEXT NOT NULL,
    due_date           TEXT NOT NULL,
    installment        TEXT NOT NULL,
    principal          TEXT NOT NULL,
    interest           TEXT NOT NULL,
    remaining_balance  TEXT NOT NULL,
    PRIMARY KEY (loan_id, version, period)
);
CREATE INDEX repayment_schedules_by_date ON repayment_schedules (generated_on);

-- Installments as of the latest end of day run for the loan (as_of).
CREATE TABLE repayment_installments (
    loan_id         TEXT NOT NULL,
    period          INTEGER NOT NULL,
    due_date        TEXT NOT NULL,
    installment     TEXT NOT NULL,
    principal       TEXT NOT NULL,
    interest        TEXT NOT NULL,
    penalty         TEXT NOT NULL,
    paid_principal  TEXT NOT NULL,
    paid_interest   TEXT NOT NULL,
    paid_penalty    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending','overdue','paid')),
    as_of           TEXT NOT NULL,
    PRIMARY KEY (loan_id, period)
);

-- Per-day outputs, keyed (job, business_date, item, …): a rerun replaces them.
CREATE TABLE repayment_loan_days (
    job                    TEXT NOT NULL,
    business_date          TEXT NOT NULL,
    item                   INTEGER NOT NULL,
    loan_id                TEXT NOT NULL,
    status                 TEXT NOT NULL,
    new_schedule           INTEGER NOT NULL,
    outstanding_principal  TEXT NOT NULL,
    overdue_principal      TEXT NOT NULL,
    overdue_interest       TEXT NOT NULL,
    penalty_owed           TEXT NOT NULL,
    days_overdue           INTEGER NOT NULL,
    receipts               INTEGER NOT NULL,
    received               TEXT NOT NULL,
    applied_penalty        TEXT NOT NULL,
    applied_interest       TEXT NOT NULL,
    applied_principal      TEXT NOT NULL,
    prepaid_principal      TEXT NOT NULL,
    unapplied              TEXT NOT NULL,
    accrued_interest       TEXT NOT NULL,
    penalty_today          TEXT NOT NULL,
    PRIMARY KEY (job, business_date, loan_id)
);
CREATE INDEX repayment_loan_days_by_item ON repayment_loan_days (job, business_date, item);

CREATE TABLE repayment_installment_days (
    job             TEXT NOT NULL,
    business_date   TEXT NOT NULL,
    item            INTEGER NOT NULL,
    loan_id         TEXT NOT NULL,
    period          INTEGER NOT NULL,
    due_date        TEXT NOT NULL,
    installment     TEXT NOT NULL,
    principal       TEXT NOT NULL,
    interest        TEXT NOT NULL,
    paid_principal  TEXT NOT NULL,
    paid_interest   TEXT NOT NULL,
    penalty         TEXT NOT NULL,
    paid_penalty    TEXT NOT NULL,
    penalty_today   TEXT NOT NULL,
    days_overdue    INTEGER NOT NULL,
    status          TEXT NOT NULL,
    PRIMARY KEY (job, business_date, loan_id, period)
);
CREATE INDEX repayment_installment_days_by_item ON repayment_installment_days (job, business_date, item);

CREATE TABLE repayment_allocations (
    job            TEXT NOT NULL,
    business_date  TEXT NOT NULL,
    item           INTEGER NOT NULL,
    loan_id        TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    repayment_id   TEXT NOT NULL,
    period         INTEGER NOT NULL,
    component      TEXT NOT NULL,
    amount         TEXT NOT NULL,
    PRIMARY KEY (job, business_date, loan_id, seq)
);
CREATE INDEX repayment_allocations_by_item ON repayment_allocations (job, business_date, item);

CREATE TABLE repayment_rejects (
    job            TEXT NOT NULL,
    business_date  TEXT NOT NULL,
    item           INTEGER NOT NULL,
    source         TEXT NOT NULL,
    record         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    PRIMARY KEY (job, business_date, source, record)
);
CREATE INDEX repayment_rejects_by_item ON repayment_rejects (job, business_date, item);
