//! Exact money as integer minor units: amounts in cents (scale 2), fees in
//! 1/100000 yuan (scale 5, WeChat's printed fee scale: `0.00006`). Parsing from text and conversion to and from
//! [`Decimal`] happen here, at the engine's edges; never through floats.

use rust_decimal::Decimal;

/// Decimal places of an amount in the engine (cents).
pub const AMOUNT_SCALE: u32 = 2;
/// Decimal places of a fee in the engine (1/100000 yuan): WeChat prints fees
/// with 5 decimals and a 0.01 payment at 0.60 % costs `0.00006`, so fees are
/// kept and compared exactly at this scale.
pub const FEE_SCALE: u32 = 5;
/// Digits allowed before the decimal point (far below `i64` overflow even summed over 10^9 rows).
const INTEGER_DIGITS_MAX: usize = 13;

/// An amount as cents, if it has at most two decimals and fits.
pub fn decimal_to_cents(amount: Decimal) -> Option<i64> {
    to_units(amount, AMOUNT_SCALE)
}

/// A fee as 1/100000 units, if it has at most five decimals and fits.
pub fn decimal_to_fee_units(fee: Decimal) -> Option<i64> {
    to_units(fee, FEE_SCALE)
}

fn to_units(value: Decimal, scale: u32) -> Option<i64> {
    let mut scaled = value;
    scaled.rescale(scale);
    if scaled != value {
        return None;
    }
    i64::try_from(scaled.mantissa()).ok()
}

/// Cents as an exact Decimal with scale 2.
pub fn cents_to_decimal(cents: i64) -> Decimal {
    Decimal::new(cents, AMOUNT_SCALE)
}

/// A sum of cents too large for a [`Decimal`] (never saturated silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} cents is beyond what a decimal amount can hold")]
pub struct CentsOutOfRange(pub i128);

/// A sum of cents as an exact Decimal with scale 2; out of range is an error.
pub fn cents_to_decimal_i128(cents: i128) -> Result<Decimal, CentsOutOfRange> {
    Decimal::try_from_i128_with_scale(cents, AMOUNT_SCALE).map_err(|_| CentsOutOfRange(cents))
}

/// 1/100000 units as an exact Decimal with scale 5.
pub fn fee_units_to_decimal(units: i64) -> Decimal {
    Decimal::new(units, FEE_SCALE)
}

/// Formats cents with exactly two decimals (`-12.30`).
pub(crate) fn format_cents(cents: i128) -> String {
    format_units(cents, AMOUNT_SCALE, AMOUNT_SCALE)
}

/// Formats fee units with two decimals, or as many as the sub-cent digits
/// need (`1.2006`, `0.00006`).
pub(crate) fn format_fee(units: i128) -> String {
    let mut shown = FEE_SCALE;
    while shown > 2 && units % 10i128.pow(FEE_SCALE - shown + 1) == 0 {
        shown -= 1;
    }
    format_units(units, FEE_SCALE, shown)
}

fn format_units(units: i128, scale: u32, shown: u32) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let magnitude = units.unsigned_abs();
    let divisor = 10u128.pow(scale);
    let integer = magnitude / divisor;
    let fraction = (magnitude % divisor) / 10u128.pow(scale - shown);
    format!("{sign}{integer}.{fraction:0width$}", width = shown as usize)
}

/// Parses a plain decimal (`-?digits[.digits]`, at most `scale` decimals,
/// no spaces, no grouping) into units of `10^-scale`.
pub(crate) fn parse_units(text: &str, scale: u32) -> Option<i64> {
    let bytes = text.as_bytes();
    let (negative, body) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let (integer, fraction) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], Some(&body[dot + 1..])),
        None => (body, None),
    };
    if integer.is_empty() || integer.len() > INTEGER_DIGITS_MAX {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in integer {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(digit - b'0');
    }
    let fraction = fraction.unwrap_or(&[]);
    if body.contains(&b'.') && fraction.is_empty() || fraction.len() > scale as usize {
        return None;
    }
    let mut decimals = 0;
    for &digit in fraction {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(digit - b'0');
        decimals += 1;
    }
    value *= 10i64.pow(scale - decimals);
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_exactly() {
        let cases: &[(&str, Option<i64>)] = &[
            ("12.30", Some(1230)),
            ("12.3", Some(1230)),
            ("12", Some(1200)),
            ("-0.05", Some(-5)),
            ("0.001", None),
            ("12.", None),
            (".5", None),
            ("1,000.00", None),
            (" 1.00", None),
            ("abc", None),
            ("", None),
            ("-", None),
            ("12345678901234", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_units(text, AMOUNT_SCALE), *expected, "{text}");
        }
        assert_eq!(parse_units("0.0061", FEE_SCALE), Some(610));
        assert_eq!(parse_units("0.00006", FEE_SCALE), Some(6));
        assert_eq!(parse_units("0.000001", FEE_SCALE), None);
    }

    #[test]
    fn formats_and_converts() {
        assert_eq!(format_cents(-1230), "-12.30");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_fee(6000), "0.06");
        assert_eq!(format_fee(610), "0.0061");
        assert_eq!(format_fee(6), "0.00006");
        assert_eq!(format_fee(-27000), "-0.27");
        assert_eq!(format_fee(120060), "1.2006");
        assert_eq!(decimal_to_cents(Decimal::new(1234, 3)), None);
        assert_eq!(decimal_to_cents(Decimal::new(12340, 3)), Some(1234));
        assert_eq!(cents_to_decimal(1234).to_string(), "12.34");
        assert_eq!(cents_to_decimal_i128(-5).unwrap().to_string(), "-0.05");
        // Out of Decimal's 96-bit range: an error, not Decimal::MAX.
        assert_eq!(
            cents_to_decimal_i128(i128::MAX),
            Err(CentsOutOfRange(i128::MAX))
        );
    }
}
