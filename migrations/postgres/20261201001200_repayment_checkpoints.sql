-- Repayment checkpoints (docs/repayment.md, "Checkpoints"): each loan's replay
-- state at the end of a business date and the digest of the inputs it
-- summarises, written by the shard in the transaction of its outputs. A
-- later date continues from the latest one whose inputs are unchanged.
CREATE TABLE repayment_checkpoints (
    job            TEXT NOT NULL,
    business_date  DATE NOT NULL,
    item           BIGINT NOT NULL,
    loan_id        TEXT NOT NULL,
    inputs         TEXT NOT NULL,
    state          TEXT NOT NULL,
    PRIMARY KEY (job, business_date, loan_id)
);
CREATE INDEX repayment_checkpoints_by_item ON repayment_checkpoints (job, business_date, item);
