-- The recon benchmark's PostgreSQL side: COPY both files in, FULL JOIN on the
-- key, the same nine categories, COPY the break rows out. Server-side COPY FROM:
-- the files need absolute paths the server can read.
-- Usage (run by `reckon bench recon`):
--   psql URL -v ON_ERROR_STOP=1 -v ledger=FILE -v statement=FILE -v out=FILE -v cutoff='…' -f benches/recon_postgres.sql
\set QUIET on
DROP TABLE IF EXISTS recon_bench_l, recon_bench_s;
CREATE UNLOGGED TABLE recon_bench_l (line bigserial, order_no text, amount numeric(18,2),
  status text, completed_at timestamp, fee numeric(18,4), refund_no text);
CREATE UNLOGGED TABLE recon_bench_s (LIKE recon_bench_l INCLUDING DEFAULTS);
ALTER TABLE recon_bench_s ALTER COLUMN line SET DEFAULT nextval('recon_bench_l_line_seq');
COPY recon_bench_l (order_no, amount, status, completed_at, fee, refund_no) FROM :'ledger' CSV HEADER;
SELECT setval('recon_bench_l_line_seq', 1, false) AS restarted \gset
COPY recon_bench_s (order_no, amount, status, completed_at, fee, refund_no) FROM :'statement' CSV HEADER;
SET work_mem = '256MB';
\o :out
COPY (WITH l AS (SELECT *, CASE WHEN status = 'REFUND' THEN refund_no ELSE order_no END AS key, line + 1 AS file_line FROM recon_bench_l), s AS (SELECT *, CASE WHEN status = 'REFUND' THEN refund_no ELSE order_no END AS key, line + 1 AS file_line FROM recon_bench_s), lfirst AS (SELECT key, min(file_line) AS file_line FROM l GROUP BY key), sfirst AS (SELECT key, min(file_line) AS file_line FROM s GROUP BY key), lf AS (SELECT l.* FROM l JOIN lfirst USING (key, file_line)), sf AS (SELECT s.* FROM s JOIN sfirst USING (key, file_line)), j AS (SELECT CASE WHEN lf.key IS NOT NULL AND sf.key IS NOT NULL THEN CASE WHEN lf.status <> sf.status THEN 'status_mismatch' WHEN lf.amount <> sf.amount THEN 'amount_mismatch' WHEN lf.fee IS NOT NULL AND sf.fee IS NOT NULL AND lf.fee <> sf.fee THEN 'fee_mismatch' ELSE 'matched' END WHEN sf.key IS NULL THEN CASE WHEN lf.status = 'CLOSED' THEN 'matched' WHEN lf.completed_at >= :'cutoff'::timestamp - interval '30 minutes' THEN 'pending' ELSE 'missing_in_channel' END ELSE CASE WHEN sf.status = 'CLOSED' THEN 'matched' WHEN sf.completed_at >= :'cutoff'::timestamp - interval '30 minutes' THEN 'pending' ELSE 'missing_in_ledger' END END AS category, coalesce(lf.key, sf.key) AS key, lf.amount AS ledger_amount, sf.amount AS statement_amount, coalesce(sf.amount, 0) - coalesce(lf.amount, 0) AS delta, lf.fee AS ledger_fee, sf.fee AS statement_fee, lf.status AS ledger_status, sf.status AS statement_status, lf.completed_at AS ledger_time, sf.completed_at AS statement_time, lf.file_line AS ledger_line, sf.file_line AS statement_line FROM lf FULL JOIN sf ON lf.key = sf.key) SELECT * FROM j WHERE category <> 'matched' UNION ALL SELECT 'duplicate_in_ledger', l.key, l.amount, NULL, -l.amount, l.fee, NULL, l.status, NULL, l.completed_at, NULL, l.file_line, NULL FROM l WHERE NOT EXISTS (SELECT 1 FROM lfirst f WHERE f.key = l.key AND f.file_line = l.file_line) UNION ALL SELECT 'duplicate_in_statement', s.key, NULL, s.amount, s.amount, NULL, s.fee, NULL, s.status, NULL, s.completed_at, NULL, s.file_line FROM s WHERE NOT EXISTS (SELECT 1 FROM sfirst f WHERE f.key = s.key AND f.file_line = s.file_line) ORDER BY category, key, ledger_line, statement_line) TO STDOUT CSV HEADER;
\o
DROP TABLE recon_bench_l, recon_bench_s;
