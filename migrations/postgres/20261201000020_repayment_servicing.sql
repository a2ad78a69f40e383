-- Repayment servicing (docs/repayment.md): a loan's own penalty rate, the
-- advance (预存) and prepayment interest of a day, rejected repayments'
-- amounts. Existing rows get the values that were implicit before.
ALTER TABLE repayment_loans ADD COLUMN penalty_rate NUMERIC;

ALTER TABLE repayment_loan_days ADD COLUMN prepayment_interest NUMERIC NOT NULL DEFAULT 0.00;
ALTER TABLE repayment_loan_days ADD COLUMN advance_in NUMERIC NOT NULL DEFAULT 0.00;
ALTER TABLE repayment_loan_days ADD COLUMN advance_applied NUMERIC NOT NULL DEFAULT 0.00;
ALTER TABLE repayment_loan_days ADD COLUMN advance_balance NUMERIC NOT NULL DEFAULT 0.00;

ALTER TABLE repayment_rejects ADD COLUMN loan_id TEXT NOT NULL DEFAULT '';
ALTER TABLE repayment_rejects ADD COLUMN amount NUMERIC;
