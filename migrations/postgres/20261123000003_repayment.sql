-- Repayment schedules (kind = "repayment"). Money is NUMERIC, dates DATE.

-- Inputs: loans and repayments received.
CREATE TABLE repayment_loans (
    loan_id          TEXT PRIMARY KEY,
    principal        NUMERIC NOT NULL,
    annual_rate      NUMERIC NOT NULL,
    months           BIGINT NOT NULL,
    method           TEXT NOT NULL,
    disbursed_on     DATE NOT NULL,
    repayment_day    BIGINT NOT NULL,
    day_count_basis  BIGINT NOT NULL
);
CREATE INDEX repayment_loans_by_date ON repayment_loans (disbursed_on);

CREATE TABLE repayment_receipts (
    repayment_id  TEXT PRIMARY KEY,
    loan_id       TEXT NOT NULL,
    received_on   DATE NOT NULL,
    amount        NUMERIC NOT NULL
);
CREATE INDEX repayment_receipts_by_loan ON repayment_receipts (loan_id, received_on);

-- Schedules: version 0 generated at disbursement, version k after the k-th prepayment.
CREATE TABLE repayment_schedules (
    loan_id            TEXT NOT NULL,
    version            BIGINT NOT NULL,
    period             BIGINT NOT NULL,
    generated_on       DATE NOT NULL,
    reason             TEXT NOT NULL CHECK (reason IN ('disbursement','prepayment')),
    convention         TEXT NOT NULL,
    due_date           DATE NOT NULL,
    installment        NUMERIC NOT NULL,
    principal          NUMERIC NOT NULL,
    interest           NUMERIC NOT NULL,
    remaining_balance  NUMERIC NOT NULL,
    PRIMARY KEY (loan_id, version, period)
);
CREATE INDEX repayment_schedules_by_date ON repayment_schedules (generated_on);

-- Installments as of the latest end of day run for the loan (as_of).
CREATE TABLE repayment_installments (
    loan_id         TEXT NOT NULL,
    period          BIGINT NOT NULL,
    due_date        DATE NOT NULL,
    installment     NUMERIC NOT NULL,
    principal       NUMERIC NOT NULL,
    interest        NUMERIC NOT NULL,
    penalty         NUMERIC NOT NULL,
    paid_principal  NUMERIC NOT NULL,
    paid_interest   NUMERIC NOT NULL,
    paid_penalty    NUMERIC NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending','overdue','paid')),
    as_of           DATE NOT NULL,
    PRIMARY KEY (loan_id, period)
);

-- Per-day outputs, keyed (job, business_date, item, …): a rerun replaces them.
CREATE TABLE repayment_loan_days (
    job                    TEXT NOT NULL,
    business_date          DATE NOT NULL,
    item                   BIGINT NOT NULL,
    loan_id                TEXT NOT NULL,
    status                 TEXT NOT NULL,
    new_schedule           BIGINT NOT NULL,
    outstanding_principal  NUMERIC NOT NULL,
    overdue_principal      NUMERIC NOT NULL,
    overdue_interest       NUMERIC NOT NULL,
    penalty_owed           NUMERIC NOT NULL,
    days_overdue           BIGINT NOT NULL,
    receipts               BIGINT NOT NULL,
    received               NUMERIC NOT NULL,
    applied_penalty        NUMERIC NOT NULL,
    applied_interest       NUMERIC NOT NULL,
    applied_principal      NUMERIC NOT NULL,
    prepaid_principal      NUMERIC NOT NULL,
    unapplied              NUMERIC NOT NULL,
    accrued_interest       NUMERIC NOT NULL,
    penalty_today          NUMERIC NOT NULL,
    PRIMARY KEY (job, business_date, loan_id)
);
CREATE INDEX repayment_loan_days_by_item ON repayment_loan_days (job, business_date, item);

CREATE TABLE repayment_installment_days (
    job             TEXT NOT NULL,
    business_date   DATE NOT NULL,
    item            BIGINT NOT NULL,
    loan_id         TEXT NOT NULL,
    period          BIGINT NOT NULL,
    due_date        DATE NOT NULL,
    installment     NUMERIC NOT NULL,
    principal       NUMERIC NOT NULL,
    interest        NUMERIC NOT NULL,
    paid_principal  NUMERIC NOT NULL,
    paid_interest   NUMERIC NOT NULL,
    penalty         NUMERIC NOT NULL,
    paid_penalty    NUMERIC NOT NULL,
    penalty_today   NUMERIC NOT NULL,
    days_overdue    BIGINT NOT NULL,
    status          TEXT NOT NULL,
    PRIMARY KEY (job, business_date, loan_id, period)
);
CREATE INDEX repayment_installment_days_by_item ON repayment_installment_days (job, business_date, item);

CREATE TABLE repayment_allocations (
    job            TEXT NOT NULL,
    business_date  DATE NOT NULL,
    item           BIGINT NOT NULL,
    loan_id        TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    repayment_id   TEXT NOT NULL,
    period         BIGINT NOT NULL,
    component      TEXT NOT NULL,
    amount         NUMERIC NOT NULL,
    PRIMARY KEY (job, business_date, loan_id, seq)
);
CREATE INDEX repayment_allocations_by_item ON repayment_allocations (job, business_date, item);

CREATE TABLE repayment_rejects (
    job            TEXT NOT NULL,
    business_date  DATE NOT NULL,
    item           BIGINT NOT NULL,
    source         TEXT NOT NULL,
    record         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    PRIMARY KEY (job, business_date, source, record)
);
CREATE INDEX repayment_rejects_by_item ON repayment_rejects (job, business_date, item);
