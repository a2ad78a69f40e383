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
