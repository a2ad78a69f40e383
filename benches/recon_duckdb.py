"""The recon benchmark's DuckDB side, written as a competent DuckDB user would
write it for the same output as `reckon recon` (issue 15):

- line number = the table's `rowid` + 2 on a table created from `read_csv`
  (insertion order is kept; line 1 is the header);
- duplicate keys found by one `GROUP BY key, kind HAVING count(*) > 1` (a small
  table), not a window over every row joined back;
- the first row of each key is compared: full outer join on (key, kind), the
  categories of reckon (status, amount, fee mismatch, missing, pending, CLOSED
  agrees with silence), later rows of a key are duplicates;
- no global sort but the final small one over the break rows.

Modes:
  full (default)  the same diff rows as reckon's diff.csv
  join            the floor: join + four categories, no duplicates, no pending

Usage: python3 benches/recon_duckdb.py LEDGER STATEMENT OUT_DIR CUTOFF [full|join]
Run by `reckon bench recon`; needs `pip install duckdb`.
"""

import os
import sys

import duckdb

COLUMNS = (
    "{'order_no': 'VARCHAR', 'amount': 'DECIMAL(18,2)', 'status': 'VARCHAR', "
    "'completed_at': 'TIMESTAMP', 'fee': 'DECIMAL(18,5)', 'refund_no': 'VARCHAR'}"
)


def load(con, name, path):
    con.execute(
        f"""
        CREATE TABLE {name} AS
        SELECT CASE WHEN status = 'REFUND' THEN refund_no ELSE order_no END AS key,
               status = 'REFUND' AS refund, amount, status, completed_at, fee
        FROM read_csv('{path}', header = true, columns = {COLUMNS})
        """
    )


def full(con, out_dir, cutoff):
    window = f"TIMESTAMP '{cutoff}' - INTERVAL 30 MINUTE"
    for name in ("l", "s"):
        # Keys seen more than once on a side, with the rowid of their first row.
        con.execute(
            f"""
            CREATE TABLE {name}_dup AS
            SELECT key, refund, min(rowid) AS first FROM {name}
            GROUP BY key, refund HAVING count(*) > 1
            """
        )
    con.execute(
        f"""
        COPY (
          WITH lf AS (SELECT l.*, l.rowid + 2 AS line FROM l LEFT JOIN l_dup d USING (key, refund)
                      WHERE d.first IS NULL OR l.rowid = d.first),
               sf AS (SELECT s.*, s.rowid + 2 AS line FROM s LEFT JOIN s_dup d USING (key, refund)
                      WHERE d.first IS NULL OR s.rowid = d.first),
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
                 coalesce(lf.refund, sf.refund) AS refund,
                 lf.amount AS ledger_amount, sf.amount AS statement_amount,
                 coalesce(sf.amount, 0) - coalesce(lf.amount, 0) AS delta,
                 lf.fee AS ledger_fee, sf.fee AS statement_fee,
                 lf.status AS ledger_status, sf.status AS statement_status,
                 lf.completed_at AS ledger_time, sf.completed_at AS statement_time,
                 lf.line AS ledger_line, sf.line AS statement_line
                 FROM lf FULL OUTER JOIN sf ON lf.key = sf.key AND lf.refund = sf.refund)
          SELECT * FROM j WHERE category <> 'matched'
          UNION ALL
          SELECT 'duplicate_in_ledger', l.key, l.refund, l.amount, NULL, -l.amount, l.fee, NULL,
                 l.status, NULL, l.completed_at, NULL, l.rowid + 2, NULL
          FROM l JOIN l_dup d USING (key, refund) WHERE l.rowid > d.first
          UNION ALL
          SELECT 'duplicate_in_statement', s.key, s.refund, NULL, s.amount, s.amount, NULL, s.fee,
                 NULL, s.status, NULL, s.completed_at, NULL, s.rowid + 2
          FROM s JOIN s_dup d USING (key, refund) WHERE s.rowid > d.first
          ORDER BY category, key, ledger_line, statement_line
        ) TO '{out_dir}/diff.csv' (HEADER, DELIMITER ',')
        """
    )


def join_only(con, out_dir):
    con.execute(
        f"""
        COPY (
          SELECT CASE WHEN s.key IS NULL THEN 'missing_in_channel'
                      WHEN l.key IS NULL THEN 'missing_in_ledger'
                      WHEN l.status <> s.status THEN 'status_mismatch'
                      ELSE 'amount_mismatch' END AS category,
                 coalesce(l.key, s.key) AS key, l.amount, s.amount
          FROM l FULL OUTER JOIN s ON l.key = s.key
          WHERE l.key IS NULL OR s.key IS NULL OR l.status <> s.status OR l.amount <> s.amount
        ) TO '{out_dir}/diff.csv' (HEADER, DELIMITER ',')
        """
    )


def main():
    ledger, statement, out_dir, cutoff = sys.argv[1:5]
    mode = sys.argv[5] if len(sys.argv) > 5 else "full"
    os.makedirs(out_dir, exist_ok=True)
    con = duckdb.connect()
    load(con, "l", ledger)
    load(con, "s", statement)
    if mode == "join":
        join_only(con, out_dir)
    else:
        full(con, out_dir, cutoff)


if __name__ == "__main__":
    main()
