//! Reading typed fields out of one row; each failure is the row's [`RejectReason`].

use chrono::NaiveDateTime;
use csv::StringRecord;
use rust_decimal::Decimal;

use super::amount::{AmountFormat, exact_cents, parse_formatted_amount, parse_time};
use super::record::RejectReason;
use super::text::clean;

/// Amounts read from a row are below this magnitude (13 integer digits).
pub(crate) const AMOUNT_LIMIT: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

/// A row with its header's column names, for reasons that name the column.
pub(crate) struct Row<'a> {
    pub fields: &'a StringRecord,
    pub names: &'a [String],
}

impl<'a> Row<'a> {
    fn name(&self, index: usize) -> String {
        self.names.get(index).cloned().unwrap_or_default()
    }

    /// The cleaned text of a column (empty if the column is absent).
    pub fn text(&self, index: usize) -> &'a str {
        self.fields.get(index).map(clean).unwrap_or("")
    }

    /// A non-empty key (order or refund number).
    pub fn key(&self, index: usize) -> Result<&'a str, RejectReason> {
        match self.text(index) {
            "" => Err(RejectReason::MissingKey {
                column: self.name(index),
            }),
            key => Ok(key),
        }
    }

    /// An exact amount in `format`, any scale, below 10^13 in magnitude
    /// (larger is an `out_of_range` reject: sums over a file stay far from
    /// overflowing, and the engine holds 13 integer digits).
    pub fn amount(&self, index: usize, format: AmountFormat) -> Result<Decimal, RejectReason> {
        let text = self.text(index);
        let value = parse_formatted_amount(text, format).map_err(|_| RejectReason::Amount {
            column: self.name(index),
            text: text.to_string(),
        })?;
        if value.abs() >= AMOUNT_LIMIT {
            return Err(RejectReason::Range {
                column: self.name(index),
                text: text.to_string(),
            });
        }
        Ok(value)
    }

    /// An amount that must be whole cents; returned at scale 2.
    pub fn cents(&self, index: usize, format: AmountFormat) -> Result<Decimal, RejectReason> {
        let value = self.amount(index, format)?;
        exact_cents(value).ok_or_else(|| RejectReason::Amount {
            column: self.name(index),
            text: self.text(index).to_string(),
        })
    }

    /// An optional amount: empty text gives `None`.
    pub fn optional_amount(
        &self,
        index: Option<usize>,
        format: AmountFormat,
    ) -> Result<Option<Decimal>, RejectReason> {
        match index {
            Some(index) if !self.text(index).is_empty() => self.amount(index, format).map(Some),
            _ => Ok(None),
        }
    }

    /// A date-time in `format`.
    pub fn time(&self, index: usize, format: &str) -> Result<NaiveDateTime, RejectReason> {
        let text = self.text(index);
        parse_time(text, format).ok_or_else(|| RejectReason::Time {
            column: self.name(index),
            text: text.to_string(),
        })
    }

    /// A status the format does not know.
    pub fn unknown_status(&self, index: usize) -> RejectReason {
        RejectReason::UnknownStatus {
            column: self.name(index),
            text: self.text(index).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amount_limit_is_ten_to_the_thirteenth() {
        assert_eq!(AMOUNT_LIMIT, Decimal::from(10_000_000_000_000_i64));
    }
}
