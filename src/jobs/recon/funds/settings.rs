//! The `[params]` of a `recon-funds` job, checked at catalog load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::jobs::business::window::{Window, local_instant};
use crate::jobs::params::{ParamError, Params};
use crate::jobs::recon::fees::FeeContract;
use crate::jobs::recon::formats::{FormatName, GenericMapping, ReadOptions, StatementFormat};

/// Everything a `recon-funds` job is configured with.
#[derive(Debug, Clone)]
pub struct FundsSettings {
    /// The channel whose orders and refunds form our side (`payment_orders.channel`).
    pub channel: String,
    pub format: StatementFormat,
    /// Statement paths relative to the data directory, with `{date}`
    /// (`YYYY-MM-DD`) and `{yyyymmdd}` for the business date.
    pub statements: Vec<String>,
    pub poll_interval: Duration,
    /// Give up waiting for a statement at this local time on the day after the business date.
    pub deadline: NaiveTime,
    /// The business day's cut-off (as for settlement; `00:00` = calendar day).
    pub cut_off: NaiveTime,
    /// A one-sided record completed this close to the cut-off is pending.
    pub pending_window: Duration,
    /// A pending record not matched after this many days becomes a break.
    pub pending_days: u32,
    /// Unresolved breaks older than this many days are named in the run's attention.
    pub escalate_after_days: u32,
    pub read: ReadOptions,
    /// The channel's fee contract (`[params.fee]`), for the fee audit.
    pub fee: Option<FeeContract>,
}

impl FundsSettings {
    /// Reads and checks the `[params]` table.
    pub fn from_params(params: &toml::Table) -> Result<FundsSettings, ParamError> {
        let p = Params::new(params);
        let channel = p
            .str("channel", "the channel in payment_orders, e.g. \"wechat\"")?
            .to_string();
        let format_name = p.str("format", "wechat, alipay or generic")?;
        let name = FormatName::parse(format_name).ok_or_else(|| {
            ParamError::new(
                "format",
                format!("`{format_name}` is not a statement format: use wechat, alipay or generic"),
            )
        })?;
        let mapping = match p.table("mapping")? {
            Some(table) => Some(
                GenericMapping::from_table(table)
                    .map_err(|e| ParamError::new("mapping", e.to_string()))?,
            ),
            None => None,
        };
        let format = StatementFormat::new(name, mapping)
            .map_err(|e| ParamError::new("mapping", e.to_string()))?;
        let mut statements = p.str_list("statements")?;
        if let Some(single) = p.opt_str("statement")? {
            statements.push(single.to_string());
        }
        if statements.is_empty() {
            return Err(ParamError::new(
                "statements",
                "is required: the statement file(s), e.g. [\"inbox/wechat/{date}.csv\"]",
            ));
        }
        let pending_days = p.u64_or("pending_days", 1)?;
        let pending_days = u32::try_from(pending_days)
            .ok()
            .filter(|&days| days >= 1)
            .ok_or_else(|| ParamError::new("pending_days", "must be between 1 and 4294967295"))?;
        let escalate_after_days = u32::try_from(p.u64_or("escalate_after_days", 3)?)
            .map_err(|_| ParamError::new("escalate_after_days", "is too large"))?;
        let reject_limit_percent = p.u64_or("reject_limit_percent", 50)?;
        if reject_limit_percent > 100 {
            return Err(ParamError::new(
                "reject_limit_percent",
                "must be at most 100",
            ));
        }
        Ok(FundsSettings {
            channel,
            format,
            statements,
            poll_interval: p.duration_or("poll_interval", Duration::from_secs(60))?,
            deadline: p.time_or(
                "deadline",
                NaiveTime::from_hms_opt(6, 0, 0).unwrap_or_default(),
            )?,
            cut_off: p.time_or("cut_off", NaiveTime::MIN)?,
            pending_window: p.duration_or("pending_window", Duration::from_secs(30 * 60))?,
            pending_days,
            escalate_after_days,
            read: ReadOptions {
                reject_limit_percent: reject_limit_percent as u32,
            },
            fee: FeeContract::from_params(params)?,
        })
    }

    /// The statement files of `date`, under `data_dir`.
    pub fn statement_paths(&self, data_dir: &Path, date: NaiveDate) -> Vec<PathBuf> {
        self.statements
            .iter()
            .map(|template| data_path(data_dir, template, date))
            .collect()
    }

    /// The instants of business date `date` in `zone`.
    pub fn window(&self, date: NaiveDate, zone: Tz) -> Window {
        Window::for_date(date, self.cut_off, zone)
    }

    /// The end of the business day as local wall-clock time (the engine's cut-off).
    pub fn local_cutoff(&self, date: NaiveDate, zone: Tz) -> NaiveDateTime {
        self.window(date, zone)
            .end
            .with_timezone(&zone)
            .naive_local()
    }

    /// When to stop waiting for `date`'s statements.
    pub fn deadline_instant(&self, date: NaiveDate, zone: Tz) -> DateTime<Utc> {
        let day = date.succ_opt().unwrap_or(date);
        local_instant(day.and_time(self.deadline), zone)
    }
}

/// `template` under `data_dir` with `{date}` (`YYYY-MM-DD`) and `{yyyymmdd}`
/// of `date` filled in.
pub fn data_path(data_dir: &Path, template: &str, date: NaiveDate) -> PathBuf {
    data_dir.join(
        template
            .replace("{date}", &date.format("%Y-%m-%d").to_string())
            .replace("{yyyymmdd}", &date.format("%Y%m%d").to_string()),
    )
}
