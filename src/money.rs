//! Exact money: parsing, the rounding policy, fixed-scale formatting, and
//! [`Money`], a `Decimal` that sqlx stores exactly on both backends.
//!
//! Policy (DESIGN.md invariant 7): amounts are `rust_decimal::Decimal`, never
//! floats. Rounding to the cent is half-up — ties away from zero
//! (`RoundingStrategy::MidpointAwayFromZero`), the convention of Chinese
//! banking and of the loan contracts reckon computes. Reports print amounts
//! with a fixed scale (2 unless a channel states more, like WeChat's fees).
//! In SQLite, money columns are declared `TEXT` (text affinity keeps the exact
//! digits); in PostgreSQL they are `NUMERIC`.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// The rounding of amounts to their scale: half-up (ties away from zero).
pub const ROUNDING: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;
/// Decimal places of a currency amount (CNY fen).
pub const CENTS: u32 = 2;

/// A text that is not an exact decimal amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an amount: {reason}")]
pub struct AmountError {
    pub text: String,
    pub reason: &'static str,
}

/// Parses a plain decimal amount (`-12.30`, `0.60000`): optional sign, digits,
/// optional fraction. No exponent, no thousands separators, no spaces inside.
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let error = |reason| AmountError {
        text: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    if digits.is_empty() {
        return Err(error("empty"));
    }
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || digits.ends_with('.') {
        return Err(error("want digits with an optional sign and decimal point"));
    }
    Decimal::from_str_exact(trimmed).map_err(|_| error("too many digits"))
}

/// Rounds to cents by the policy above, keeping scale 2.
pub fn round_cents(amount: Decimal) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(CENTS, ROUNDING);
    rounded.rescale(CENTS);
    rounded
}

/// Formats with exactly `scale` decimals (rounding by the policy if needed).
pub fn format_scaled(amount: Decimal, scale: u32) -> String {
    let mut value = amount.round_dp_with_strategy(scale, ROUNDING);
    value.rescale(scale);
    value.to_string()
}

/// A `Decimal` column: `TEXT` in SQLite, `NUMERIC` in PostgreSQL, exact in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub Decimal);

impl Type<Sqlite> for Money {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Money {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Money {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Ok(Money(Decimal::from_str(&text)?))
    }
}

impl Type<Postgres> for Money {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <Decimal as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Money {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Decimal as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Money {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Money(<Decimal as Decode<Postgres>>::decode(value)?))
    }
}

impl From<Decimal> for Money {
    fn from(value: Decimal) -> Self {
        Money(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros_free::dec;

    /// Builds a Decimal from text in tests (no macro crate needed).
    mod rust_decimal_macros_free {
        pub fn dec(text: &str) -> rust_decimal::Decimal {
            text.parse().expect("test decimal")
        }
    }

    #[test]
    fn parses_exact_amounts_and_refuses_others() {
        for (text, expected) in [
            ("12.30", "12.30"),
            ("-0.60000", "-0.60000"),
            ("+5", "5"),
            (" 7.1 ", "7.1"),
        ] {
            let got = parse_amount(text).unwrap();
            assert_eq!(got.to_string(), expected, "{text}");
        }
        for text in [
            "", "-", "1e5", "1,000.00", "12.", ".5", "1.2.3", "NaN", "¥5",
        ] {
            assert!(parse_amount(text).is_err(), "{text} must be refused");
        }
    }

    #[test]
    fn rounds_half_up_to_cents() {
        for (value, expected) in [
            ("0.005", "0.01"),
            ("-0.005", "-0.01"),
            ("2.675", "2.68"),
            ("1", "1.00"),
            ("0.0049", "0.00"),
        ] {
            assert_eq!(round_cents(dec(value)).to_string(), expected, "{value}");
        }
        assert_eq!(format_scaled(dec("0.6"), 5), "0.60000");
    }
}
