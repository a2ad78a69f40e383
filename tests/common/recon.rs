//! Job files of the reconciliation kinds for tests.

/// A `recon-funds` job on the generic WeChat statement at `statement`
/// (relative to the data directory, `{date}` expanded), 30 minute pending
/// window, pending records kept one day.
pub fn funds_job(name: &str, shards: u32, statement: &str) -> String {
    format!(
        r#"name = "{name}"
kind = "recon-funds"
time_zone = "Asia/Shanghai"
shards = {shards}
retries = 0
timeout = "30s"

[params]
channel = "wechat"
format = "generic"
statements = ["{statement}"]
deadline = "00:00"
poll_interval = "10ms"
pending_window = "30m"
pending_days = 1
"#
    )
}

/// Conservation, read off a `recon-funds` `summary.csv`: per side the
/// engine's categories plus `rejected` hold the rows of `total_read`, and the
/// categories its amount (the findings' rows after `total_read` are not part
/// of it).
pub fn assert_conserved(summary_csv: &str) {
    use rust_decimal::Decimal;
    let rows: Vec<Vec<&str>> = summary_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let end = rows
        .iter()
        .position(|r| r[0] == "total_read")
        .expect("total_read row");
    let total = &rows[end];
    for (count_col, amount_col) in [(1, 2), (3, 4)] {
        let mut count = 0u64;
        let mut amount = Decimal::ZERO;
        for row in &rows[..end] {
            count += row[count_col].parse::<u64>().expect("count");
            if row[0] != "rejected" {
                amount += row[amount_col].parse::<Decimal>().expect("amount");
            }
        }
        assert_eq!(count.to_string(), total[count_col], "{summary_csv}");
        assert_eq!(
            amount,
            total[amount_col].parse::<Decimal>().expect("total"),
            "{summary_csv}"
        );
    }
}
