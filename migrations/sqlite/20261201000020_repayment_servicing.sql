-- Repayment servicing (docs/repayment.md): a loan's own penalty rate, the
-- advance (预存) and prepayment interest of a day, rejected repayments'
-- amounts. Existing rows get the values that were implicit before.
ALTER TABLE repayment_loans ADD COLUMN penalty_rate TEXT;

ALTER TABLE repayment_loan_days ADD COLUMN prepayment_interest TEXT NOT NULL DEFAULT '0.00';
ALTER TABLE repayment_loan_days ADD COLUMN advance_in TEXT NOT NULL DEFAULT '0.00';
ALTER TABLE repayment_loan_days ADD COLUMN advance_applied TEXT NOT NULL DEFAULT '0.00';
ALTER TABLE repayment_loan_days ADD COLUMN advance_balance TEXT NOT NULL DEFAULT '0.00';

ALTER TABLE repayment_rejects ADD COLUMN loan_id TEXT NOT NULL DEFAULT '';
ALTER TABLE repayment_rejects ADD COLUMN amount TEXT;
