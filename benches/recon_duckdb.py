"""The recon benchmark's DuckDB side: the same comparison as `reckon recon`
(full outer join on the key, the same nine categories, break rows to CSV).

Usage: python3 benches/recon_duckdb.py LEDGER STATEMENT OUT_DIR CUTOFF
Run by `reckon bench recon`; needs `pip install duckdb`.
"""

import os
import sys

import duckdb

COLUMNS = (
    "{'order_no': 'VARCHAR', 'amount': 'DECIMAL(18,2)', 'status': 'VARCHAR', "
    "'completed_at': 'TIMESTAMP', 'fee': 'DECIMAL(18,4)', 'refund_no': 'VARCHAR'}"
)


def side(con, name, path):
    # Line numbers: file order is kept (preserve_insertion_order), header is line 1.
    con.execute(
        f"""
        CREATE TABLE {name} AS
        SELECT *, CASE WHEN status = 'REFUND' THEN refund_no ELSE order_no END AS key,
               row_number() OVER () + 1 AS line
        FROM read_csv('{path}', header = true, columns = {COLUMNS})
        """
    )
    # First row of each key is compared; later rows are duplicates.
    con.execute(
        f"""
        CREATE TABLE {name}_first AS
        SELECT key, min(line) AS line FROM {name} GROUP BY key
        """
    )


def main():
    ledger, statement, out_dir, cutoff = sys.argv[1:5]
    os.makedirs(out_dir, exist_ok=True)
    con = duckdb.connect()
    side(con, "l", ledger)
    side(con, "s", statement)
    window = f"TIMESTAMP '{cutoff}' - INTERVAL 30 MINUTE"
    con.execute(
        f"""
        COPY (
          WITH lf AS (SELECT l.* FROM l JOIN l_first USING (key, line)),
               sf AS (SELECT s.* FROM s JOIN s_first USING (key, line)),
               j AS (
                 SELECT CASE
                   WHEN lf.key IS NOT NULL AND sf.key IS NOT NULL THEN
                     CASE WHEN lf.status <> sf.status THEN 'status_mismatch'
                          WHEN lf.amount <> sf.amount THEN 'amount_mismatch'
                          WHEN lf.fee IS NOT NULL AND sf.fee IS NOT NULL AND lf.fee <> sf.fee
                            THEN 'fee_mismatch'
                          ELSE 'matched' END
                   WHEN sf.key IS NULL THEN
                     CASE WHEN lf.status = 'CLOSED' THEN 'matched'
                          WHEN lf.completed_at >= {window} THEN 'pending'
                          ELSE 'missing_in_channel' END
                   ELSE
                     CASE WHEN sf.status = 'CLOSED' THEN 'matched'
                          WHEN sf.completed_at >= {window} THEN 'pending'
                          ELSE 'missing_in_ledger' END
                 END AS category,
                 coalesce(lf.key, sf.key) AS key,
                 lf.amount AS ledger_amount, sf.amount AS statement_amount,
                 coalesce(sf.amount, 0) - coalesce(lf.amount, 0) AS delta,
                 lf.fee AS ledger_fee, sf.fee AS statement_fee,
                 lf.status AS ledger_status, sf.status AS statement_status,
                 lf.completed_at AS ledger_time, sf.completed_at AS statement_time,
                 lf.line AS ledger_line, sf.line AS statement_line
                 FROM lf FULL OUTER JOIN sf ON lf.key = sf.key)
          SELECT * FROM j WHERE category <> 'matched'
          UNION ALL
          SELECT 'duplicate_in_ledger', l.key, l.amount, NULL, -l.amount, l.fee, NULL,
                 l.status, NULL, l.completed_at, NULL, l.line, NULL
          FROM l ANTI JOIN l_first USING (key, line)
          UNION ALL
          SELECT 'duplicate_in_statement', s.key, NULL, s.amount, s.amount, NULL, s.fee,
                 NULL, s.status, NULL, s.completed_at, NULL, s.line
          FROM s ANTI JOIN s_first USING (key, line)
          ORDER BY category, key, ledger_line, statement_line
        ) TO '{out_dir}/diff.csv' (HEADER, DELIMITER ',')
        """
    )


if __name__ == "__main__":
    main()
