//! Multi-row INSERTs on either backend: rows are collected and written many
//! per statement (anonymous `?` parameters on SQLite, which sqlx binds by
//! position — `$N` makes a large SQLite statement slow —, `$N` on PostgreSQL).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::db::DbTx;
use crate::money::Money;
use crate::on_tx;

/// Most bind parameters in one statement (SQLite allows 32,766).
const PARAMS_MAX: usize = 30_000;
/// Bytes of COPY text sent per message to PostgreSQL.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// One column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Date(NaiveDate),
    /// Exact money, stored as [`Money`].
    Money(Decimal),
    /// Money or NULL.
    OptionalMoney(Option<Decimal>),
}

/// Rows waiting to be inserted into one table.
#[derive(Debug)]
pub struct RowBatch {
    table: &'static str,
    columns: &'static [&'static str],
    suffix: &'static str,
    values: Vec<Value>,
}

impl RowBatch {
    /// An empty batch for `table (columns…)`.
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> RowBatch {
        RowBatch {
            table,
            columns,
            suffix: "",
            values: Vec::new(),
        }
    }

    /// Appends `ON CONFLICT DO NOTHING` to every statement.
    pub fn ignoring_conflicts(mut self) -> RowBatch {
        self.suffix = " ON CONFLICT DO NOTHING";
        self
    }

    /// Queues one row; it must have one value per column.
    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len(), "{}", self.table);
        self.values.extend(row);
    }

    /// Rows queued.
    pub fn len(&self) -> usize {
        self.values.len() / self.columns.len().max(1)
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Inserts the queued rows inside `tx` and empties the batch.
    pub async fn flush(&mut self, tx: &mut DbTx) -> Result<(), sqlx::Error> {
        if let DbTx::Postgres(conn) = tx
            && self.suffix.is_empty()
            && !self.values.is_empty()
        {
            // PostgreSQL: one COPY of all queued rows, several times faster
            // than multi-row INSERTs (`reckon bench repayment --job`).
            let text = self.copy_text();
            let statement = format!(
                "COPY {} ({}) FROM STDIN",
                self.table,
                self.columns.join(", ")
            );
            let mut copy = conn.copy_in_raw(&statement).await?;
            for chunk in text.chunks(COPY_CHUNK_BYTES) {
                copy.send(chunk).await?;
            }
            copy.finish().await?;
            self.values.clear();
            return Ok(());
        }
        let width = self.columns.len().max(1);
        let per_statement = (PARAMS_MAX / width).max(1) * width;
        for chunk in self.values.chunks(per_statement) {
            let sql = self.statement(tx, chunk.len() / width);
            on_tx!(tx, conn => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for value in chunk {
                    query = match value {
                        Value::Text(text) => query.bind(text.as_str()),
                        Value::Int(int) => query.bind(*int),
                        Value::Date(date) => query.bind(*date),
                        Value::Money(amount) => query.bind(Money(*amount)),
                        Value::OptionalMoney(amount) => query.bind(amount.map(Money)),
                    };
                }
                query.execute(&mut **conn).await?;
            });
        }
        self.values.clear();
        Ok(())
    }

    /// The queued rows in PostgreSQL's COPY text format: tab-separated,
    /// `\N` for NULL, backslash, tab, newline and carriage return escaped.
    fn copy_text(&self) -> Vec<u8> {
        let width = self.columns.len().max(1);
        let mut out = Vec::with_capacity(self.values.len() * 12);
        for row in self.values.chunks(width) {
            for (index, value) in row.iter().enumerate() {
                if index > 0 {
                    out.push(b'\t');
                }
                match value {
                    Value::Text(text) => {
                        for byte in text.bytes() {
                            match byte {
                                b'\\' => out.extend_from_slice(b"\\\\"),
                                b'\t' => out.extend_from_slice(b"\\t"),
                                b'\n' => out.extend_from_slice(b"\\n"),
                                b'\r' => out.extend_from_slice(b"\\r"),
                                other => out.push(other),
                            }
                        }
                    }
                    Value::Int(int) => push_int(&mut out, *int),
                    Value::Date(date) => push_date(&mut out, *date),
                    Value::Money(amount) | Value::OptionalMoney(Some(amount)) => {
                        push_decimal(&mut out, *amount)
                    }
                    Value::OptionalMoney(None) => out.extend_from_slice(b"\\N"),
                }
            }
            out.push(b'\n');
        }
        out
    }

    fn statement(&self, tx: &DbTx, rows: usize) -> String {
        let width = self.columns.len();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.table,
            self.columns.join(", ")
        );
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 0..width {
                if column > 0 {
                    sql.push_str(", ");
                }
                match tx {
                    DbTx::Sqlite(_) => sql.push('?'),
                    DbTx::Postgres(_) => sql.push_str(&format!("${}", row * width + column + 1)),
                }
            }
            sql.push(')');
        }
        sql.push_str(self.suffix);
        sql
    }
}

/// Appends `value` in decimal.
fn push_int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_digits(out, u128::from(value.unsigned_abs()));
}

/// Appends `value` in decimal.
pub fn push_digits(out: &mut Vec<u8>, mut value: u128) {
    let mut digits = [0u8; 40];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `YYYY-MM-DD` (other years through `Display`).
pub fn push_date(out: &mut Vec<u8>, date: NaiveDate) {
    use chrono::Datelike;
    let year = date.year();
    if !(1000..=9999).contains(&year) {
        out.extend_from_slice(date.to_string().as_bytes());
        return;
    }
    let (y, m, d) = (year as u32, date.month(), date.day());
    out.extend_from_slice(&[
        b'0' + (y / 1000 % 10) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b'-',
        b'0' + (d / 10) as u8,
        b'0' + (d % 10) as u8,
    ]);
}

/// Appends `amount` exactly as `Display` writes it (every digit of its
/// scale), with a fast path for scale 2.
pub fn push_decimal(out: &mut Vec<u8>, amount: Decimal) {
    if amount.scale() != 2 {
        out.extend_from_slice(amount.to_string().as_bytes());
        return;
    }
    let mantissa = amount.mantissa();
    if mantissa < 0 {
        out.push(b'-');
    }
    let cents = mantissa.unsigned_abs();
    push_digits(out, cents / 100);
    out.push(b'.');
    out.push(b'0' + (cents / 10 % 10) as u8);
    out.push(b'0' + (cents % 10) as u8);
}

/// Most keys in one `IN (…)` list (SQLite).
const KEYS_MAX: usize = 10_000;

/// Deletes from `table` the rows whose `column` is one of `keys` and that
/// meet `condition`, which may use `{date}` for `date`. On PostgreSQL one
/// statement, `column = ANY($n)` with the keys as one array parameter; on
/// SQLite `IN (…)` lists of up to 10,000 keys.
pub async fn delete_in(
    tx: &mut DbTx,
    table: &str,
    condition: &str,
    date: Option<NaiveDate>,
    column: &str,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    if let DbTx::Postgres(conn) = tx {
        let array = if date.is_some() { "$2" } else { "$1" };
        let sql = format!(
            "DELETE FROM {table} WHERE {} AND {column} = ANY({array})",
            condition.replace("{date}", "$1")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        if let Some(date) = date {
            query = query.bind(date);
        }
        query.bind(keys).execute(&mut **conn).await?;
        return Ok(());
    }
    for chunk in keys.chunks(KEYS_MAX) {
        let sql = format!(
            "DELETE FROM {table} WHERE {} AND {column} IN ({})",
            condition.replace("{date}", "?"),
            vec!["?"; chunk.len()].join(", ")
        );
        on_tx!(tx, conn => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(date) = date {
                query = query.bind(date);
            }
            for key in chunk {
                query = query.bind(key.as_str());
            }
            query.execute(&mut **conn).await?;
        });
    }
    Ok(())
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_marks_null() {
        let mut batch = RowBatch::new("t", &["a", "b", "c", "d"]);
        batch.push(vec![
            Value::Text("x\ty\\z\nw".into()),
            Value::Int(-7),
            Value::Money("12.30".parse().unwrap()),
            Value::OptionalMoney(None),
        ]);
        batch.push(vec![
            Value::Text(String::new()),
            Value::Int(0),
            Value::Date(NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()),
            Value::OptionalMoney(Some("0.00".parse().unwrap())),
        ]);
        batch.push(vec![
            Value::Text("-".into()),
            Value::Int(i64::MIN),
            Value::Money("-0.05".parse().unwrap()),
            Value::OptionalMoney(Some("-1234567.891".parse().unwrap())),
        ]);
        assert_eq!(
            String::from_utf8(batch.copy_text()).unwrap(),
            "x\\ty\\\\z\\nw\t-7\t12.30\t\\N\n\t0\t2026-11-21\t0.00\n\
             -\t-9223372036854775808\t-0.05\t-1234567.891\n"
        );
    }
}
