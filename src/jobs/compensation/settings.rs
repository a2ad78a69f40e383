//! The `[params]` of a compensation job, typed: ages, backoff, limits, and
//! the checker and downstream of each transaction type.

use std::collections::BTreeMap;
use std::time::Duration;

use super::state::RetryLimits;
use crate::jobs::params::{ParamError, Params};

/// Default age a `prepared` message must reach before it is checked back.
pub const MIN_AGE_DEFAULT: Duration = Duration::from_secs(60);
/// Default maximum number of check-backs before a message goes `dead`.
pub const CHECKS_MAX_DEFAULT: u64 = 15;
/// Default maximum number of delivery tries before a message goes `dead`.
pub const ATTEMPTS_MAX_DEFAULT: u64 = 10;
/// Messages read, checked and moved per database round (one batch).
pub const BATCH_SIZE_DEFAULT: u64 = 1000;
/// Upper bound on the batch size (bind parameters per statement stay < 32766).
pub const BATCH_SIZE_MAX: u64 = 3000;
/// HTTP requests in flight at once per shard.
pub const HTTP_CONCURRENCY_DEFAULT: u64 = 16;

/// How the outcome of a business transaction is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerConfig {
    /// An SQL query with `{keys}` where the list of business keys goes; it
    /// returns rows `(business_key, outcome)` with outcome `committed` or
    /// `rolled_back` (anything else, or no row, is unknown).
    Sql {
        query: String,
        /// The business database; `None` = reckon's own database.
        database: Option<String>,
    },
    /// `GET` of a URL with `{key}` where the (percent-encoded) business key goes.
    Http { url: String },
}

/// Where committed messages are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownstreamConfig {
    /// `POST` of the message as JSON with an `Idempotency-Key` header.
    Http { url: String },
    /// A row in `txn_outbox`, in the same transaction as the state change.
    Outbox,
}

/// Everything a compensation step needs to know from the job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub min_age: Duration,
    pub check_limits: RetryLimits,
    pub delivery_limits: RetryLimits,
    pub http_timeout: Duration,
    pub batch_size: usize,
    pub http_concurrency: usize,
    pub checkers: BTreeMap<String, CheckerConfig>,
    pub downstreams: BTreeMap<String, DownstreamConfig>,
}

impl Settings {
    /// Reads and checks the `[params]` table.
    pub fn from_params(table: &toml::Table) -> Result<Settings, ParamError> {
        let p = Params::new(table);
        let backoff_initial = p.duration_or("backoff_initial", Duration::from_secs(30))?;
        let backoff_cap = p.duration_or("backoff_cap", Duration::from_secs(3600))?;
        if backoff_cap < backoff_initial {
            return Err(ParamError::new(
                "backoff_cap",
                "must not be shorter than backoff_initial",
            ));
        }
        let limits = |field: &str, default: u64| -> Result<RetryLimits, ParamError> {
            let tries = p.u64_or(field, default)?;
            if tries == 0 || tries > u64::from(u32::MAX) {
                return Err(ParamError::new(field, "must be at least 1"));
            }
            Ok(RetryLimits {
                backoff_initial,
                backoff_cap,
                tries_max: u32::try_from(tries).unwrap_or(u32::MAX),
            })
        };
        let batch_size = p.u64_or("batch_size", BATCH_SIZE_DEFAULT)?;
        if batch_size == 0 || batch_size > BATCH_SIZE_MAX {
            return Err(ParamError::new(
                "batch_size",
                format!("must be between 1 and {BATCH_SIZE_MAX}"),
            ));
        }
        let http_concurrency = p
            .u64_or("http_concurrency", HTTP_CONCURRENCY_DEFAULT)?
            .max(1);
        Ok(Settings {
            min_age: p.duration_or("min_age", MIN_AGE_DEFAULT)?,
            check_limits: limits("max_checks", CHECKS_MAX_DEFAULT)?,
            delivery_limits: limits("max_attempts", ATTEMPTS_MAX_DEFAULT)?,
            http_timeout: p.duration_or("http_timeout", Duration::from_secs(10))?,
            batch_size: usize::try_from(batch_size).unwrap_or(1000),
            http_concurrency: usize::try_from(http_concurrency).unwrap_or(16),
            checkers: per_type(&p, "checkers", checker)?,
            downstreams: per_type(&p, "downstreams", downstream)?,
        })
    }
}

fn per_type<T>(
    p: &Params<'_>,
    field: &str,
    parse: fn(&str, &toml::Table) -> Result<T, ParamError>,
) -> Result<BTreeMap<String, T>, ParamError> {
    let mut map = BTreeMap::new();
    let Some(table) = p.table(field)? else {
        return Ok(map);
    };
    for (txn_type, value) in table {
        let name = format!("{field}.{txn_type}");
        let toml::Value::Table(entry) = value else {
            return Err(ParamError::new(name, "must be a table"));
        };
        map.insert(txn_type.clone(), parse(&name, entry)?);
    }
    Ok(map)
}

fn checker(name: &str, entry: &toml::Table) -> Result<CheckerConfig, ParamError> {
    let p = Params::new(entry);
    let nested = |e: ParamError| ParamError::new(format!("{name}.{}", e.field), e.reason);
    match (
        p.opt_str("sql").map_err(nested)?,
        p.opt_str("http").map_err(nested)?,
    ) {
        (Some(query), None) => {
            if !query.contains("{keys}") {
                return Err(ParamError::new(
                    format!("{name}.sql"),
                    "must contain {keys} where the business keys go",
                ));
            }
            Ok(CheckerConfig::Sql {
                query: query.to_string(),
                database: p.opt_str("database").map_err(nested)?.map(str::to_string),
            })
        }
        (None, Some(url)) => {
            http_url(&format!("{name}.http"), url)?;
            if !url.contains("{key}") {
                return Err(ParamError::new(
                    format!("{name}.http"),
                    "must contain {key} where the business key goes",
                ));
            }
            Ok(CheckerConfig::Http {
                url: url.to_string(),
            })
        }
        _ => Err(ParamError::new(
            name,
            "needs exactly one of `sql` or `http`",
        )),
    }
}

fn downstream(name: &str, entry: &toml::Table) -> Result<DownstreamConfig, ParamError> {
    let p = Params::new(entry);
    let nested = |e: ParamError| ParamError::new(format!("{name}.{}", e.field), e.reason);
    let outbox = p.bool_or("outbox", false).map_err(nested)?;
    match (p.opt_str("http").map_err(nested)?, outbox) {
        (Some(url), false) => {
            http_url(&format!("{name}.http"), url)?;
            Ok(DownstreamConfig::Http {
                url: url.to_string(),
            })
        }
        (None, true) => Ok(DownstreamConfig::Outbox),
        _ => Err(ParamError::new(
            name,
            "needs exactly one of `http = URL` or `outbox = true`",
        )),
    }
}

fn http_url(field: &str, url: &str) -> Result<(), ParamError> {
    if url.starts_with("http://") {
        Ok(())
    } else {
        Err(ParamError::new(
            field,
            format!("`{url}` is not an http:// URL (TLS is not supported; use a local proxy)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings, ParamError> {
        Settings::from_params(&text.parse().expect("test TOML"))
    }

    #[test]
    fn defaults_and_per_type_entries() {
        let s = settings(
            "[checkers.order]\nsql = \"SELECT k, o FROM t WHERE k IN ({keys})\"\n\
             [checkers.refund]\nhttp = \"http://127.0.0.1:1/check?key={key}\"\n\
             [downstreams.order]\noutbox = true\n",
        )
        .unwrap();
        assert_eq!(s.min_age, Duration::from_secs(60));
        assert_eq!(s.check_limits.tries_max, 15);
        assert_eq!(s.checkers.len(), 2);
        assert_eq!(s.downstreams["order"], DownstreamConfig::Outbox);
    }

    #[test]
    fn bad_entries_name_the_field() {
        for (text, field) in [
            ("[checkers.order]\nsql = \"SELECT 1\"", "checkers.order.sql"),
            (
                "[checkers.order]\nhttp = \"https://x/{key}\"",
                "checkers.order.http",
            ),
            (
                "[downstreams.order]\nhttp = \"http://x\"\noutbox = true",
                "downstreams.order",
            ),
            ("max_checks = 0", "max_checks"),
            ("backoff_initial = \"2h\"", "backoff_cap"),
            ("batch_size = 100000", "batch_size"),
        ] {
            assert_eq!(settings(text).unwrap_err().field, field, "{text}");
        }
    }
}
