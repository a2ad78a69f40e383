//! Typed access to a job's `[params]` table, shared by every job kind.
//!
//! Each accessor returns a [`ParamError`] naming the field and what is wrong;
//! it converts into [`JobError::Param`] at run time and into the
//! `(field, reason)` pair that catalog validation reports with the file path.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;

use crate::runtime::JobError;

/// A `[params]` value that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job parameter `{field}`: {reason}")]
pub struct ParamError {
    pub field: String,
    pub reason: String,
}

impl ParamError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> ParamError {
        ParamError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ParamError> for JobError {
    fn from(e: ParamError) -> JobError {
        JobError::Param {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<ParamError> for (String, String) {
    fn from(e: ParamError) -> (String, String) {
        (e.field, e.reason)
    }
}

/// A read-only view of a job's `[params]` table.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a toml::Table);

impl<'a> Params<'a> {
    /// Wraps a `[params]` table.
    pub fn new(table: &'a toml::Table) -> Params<'a> {
        Params(table)
    }

    fn wrong(field: &str, expected: &str, found: &toml::Value) -> ParamError {
        ParamError::new(
            field,
            format!("must be {expected}, found {}", found.type_str()),
        )
    }

    /// An optional string.
    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, ParamError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(Self::wrong(field, "a string", other)),
        }
    }

    /// A required, non-blank string; `what` says what it is for.
    pub fn str(&self, field: &str, what: &str) -> Result<&'a str, ParamError> {
        match self.opt_str(field)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(ParamError::new(field, format!("is required: {what}"))),
        }
    }

    /// A string with a default.
    pub fn str_or(&self, field: &str, default: &'a str) -> Result<&'a str, ParamError> {
        Ok(self.opt_str(field)?.unwrap_or(default))
    }

    /// An optional list of strings.
    pub fn str_list(&self, field: &str) -> Result<Vec<String>, ParamError> {
        match self.0.get(field) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(Self::wrong(field, "a list of strings", other)),
                })
                .collect(),
            Some(other) => Err(Self::wrong(field, "a list of strings", other)),
        }
    }

    /// A non-negative integer with a default.
    pub fn u64_or(&self, field: &str, default: u64) -> Result<u64, ParamError> {
        match self.0.get(field) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) => u64::try_from(*i)
                .map_err(|_| ParamError::new(field, format!("must not be negative, found {i}"))),
            Some(other) => Err(Self::wrong(field, "a whole number", other)),
        }
    }

    /// A boolean with a default.
    pub fn bool_or(&self, field: &str, default: bool) -> Result<bool, ParamError> {
        match self.0.get(field) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(other) => Err(Self::wrong(field, "true or false", other)),
        }
    }

    /// An exact decimal, written as a string (`"1.5"`) or an integer, never a
    /// TOML float (floats cannot hold money or rates exactly).
    pub fn decimal_or(&self, field: &str, default: Decimal) -> Result<Decimal, ParamError> {
        match self.0.get(field) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) => Ok(Decimal::from(*i)),
            Some(toml::Value::String(s)) => s
                .trim()
                .parse::<Decimal>()
                .map_err(|_| ParamError::new(field, format!("`{s}` is not a decimal number"))),
            Some(toml::Value::Float(f)) => Err(ParamError::new(
                field,
                format!("write decimals as a string (\"{f}\"), a float is not exact"),
            )),
            Some(other) => Err(Self::wrong(field, "a decimal string", other)),
        }
    }

    /// A duration in humantime form (`"30s"`, `"5m"`, `"2h"`), with a default.
    pub fn duration_or(&self, field: &str, default: Duration) -> Result<Duration, ParamError> {
        match self.opt_str(field)? {
            None => Ok(default),
            Some(s) => humantime::parse_duration(s)
                .map_err(|e| ParamError::new(field, format!("`{s}` is not a duration: {e}"))),
        }
    }

    /// A time of day `HH:MM` or `HH:MM:SS`, with a default.
    pub fn time_or(&self, field: &str, default: NaiveTime) -> Result<NaiveTime, ParamError> {
        match self.opt_str(field)? {
            None => Ok(default),
            Some(s) => NaiveTime::parse_from_str(s, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                .map_err(|_| ParamError::new(field, format!("`{s}` is not a time of day HH:MM"))),
        }
    }

    /// An optional calendar date `YYYY-MM-DD`.
    pub fn opt_date(&self, field: &str) -> Result<Option<NaiveDate>, ParamError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| ParamError::new(field, format!("`{s}` is not a date YYYY-MM-DD"))),
        }
    }

    /// Nested table, for structured parameters.
    pub fn table(&self, field: &str) -> Result<Option<&'a toml::Table>, ParamError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(other) => Err(Self::wrong(field, "a table", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().expect("test TOML")
    }

    #[test]
    fn decimals_refuse_floats_and_accept_strings() {
        let t = table("a = \"1.50\"\nb = 2\nc = 1.5");
        let p = Params::new(&t);
        assert_eq!(
            p.decimal_or("a", Decimal::ZERO).unwrap().to_string(),
            "1.50"
        );
        assert_eq!(p.decimal_or("b", Decimal::ZERO).unwrap(), Decimal::from(2));
        let err = p.decimal_or("c", Decimal::ZERO).unwrap_err();
        assert_eq!(err.field, "c");
        assert!(err.reason.contains("not exact"), "{err}");
        assert_eq!(p.decimal_or("d", Decimal::ONE).unwrap(), Decimal::ONE);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let t = table("n = -1\ns = 3\nd = \"soon\"\nt = \"25:00\"");
        let p = Params::new(&t);
        assert!(p.u64_or("n", 0).unwrap_err().reason.contains("negative"));
        assert!(p.opt_str("s").unwrap_err().reason.contains("string"));
        assert!(p.duration_or("d", Duration::ZERO).is_err());
        assert!(p.time_or("t", NaiveTime::MIN).is_err());
        assert_eq!(p.str("missing", "the file").unwrap_err().field, "missing");
    }
}
