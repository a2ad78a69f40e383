//! Amount and date-time fields as statements print them: thousands
//! separators, negatives as `-` or in parentheses, and the cent rule.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use crate::money::{AmountError, parse_amount, round_cents};

/// How a file writes negative amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NegativeStyle {
    /// `-12.30` only.
    Minus,
    /// `(12.30)` only (accountants' style).
    Parentheses,
    /// Either of the above.
    #[default]
    Either,
}

/// How a file writes amounts (generic mappings; WeChat and Alipay use the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountFormat {
    /// The grouping character, e.g. `,` in `1,234.50`; none by default.
    #[serde(default)]
    pub thousands_separator: Option<char>,
    #[serde(default)]
    pub negative: NegativeStyle,
}

/// Parses an amount in `format`: optional parentheses or sign, optional
/// thousands separators in groups of three, then a plain decimal (see
/// [`crate::money::parse_amount`]). Exact; never rounds.
pub fn parse_formatted_amount(text: &str, format: AmountFormat) -> Result<Decimal, AmountError> {
    let error = |reason| AmountError {
        text: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let (negative, body) = match trimmed
        .strip_prefix('(')
        .and_then(|inner| inner.strip_suffix(')'))
    {
        Some(_) if format.negative == NegativeStyle::Minus => {
            return Err(error("parentheses are not how this file writes negatives"));
        }
        Some(inner) => (true, inner.trim()),
        None if format.negative == NegativeStyle::Parentheses && trimmed.starts_with('-') => {
            return Err(error("a minus sign is not how this file writes negatives"));
        }
        None => (false, trimmed),
    };
    if negative && body.starts_with(['-', '+']) {
        return Err(error("a sign inside parentheses"));
    }
    let plain = match format.thousands_separator {
        Some(separator) if body.contains(separator) => ungroup(body, separator)
            .ok_or_else(|| error("thousands separators must group three digits"))?,
        _ => body.to_string(),
    };
    let value = parse_amount(&plain).map_err(|e| error(e.reason))?;
    Ok(if negative { -value } else { value })
}

/// Removes thousands separators from the whole part, checking the groups.
fn ungroup(body: &str, separator: char) -> Option<String> {
    let (sign, digits) = match body.strip_prefix(['-', '+']) {
        Some(rest) => (&body[..1], rest),
        None => ("", body),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    if fraction.is_some_and(|f| f.contains(separator)) {
        return None;
    }
    let mut groups = whole.split(separator);
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 {
        return None;
    }
    let mut out = format!("{sign}{first}");
    for group in groups {
        if group.len() != 3 {
            return None;
        }
        out.push_str(group);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

/// The amount at scale 2 if it is a whole number of cents (`12.3` → `12.30`,
/// `1.000` → `1.00`); `None` for sub-cent digits such as `0.005`, which a
/// currency amount cannot have and which we refuse to round silently.
pub fn exact_cents(amount: Decimal) -> Option<Decimal> {
    let cents = round_cents(amount);
    (cents == amount).then_some(cents)
}

/// A fee kept exact, shown with at least 2 decimals.
pub(crate) fn fee_scale(mut fee: Decimal) -> Decimal {
    if fee.scale() < 2 {
        fee.rescale(2);
    }
    fee
}

/// Parses a date-time with `format` (chrono `strftime` syntax); a format
/// without a time of day (e.g. `%Y%m%d`) gives midnight.
pub fn parse_time(text: &str, format: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if format == ISO_SECONDS
        && let Some(time) = parse_iso_seconds(text)
    {
        return Some(time);
    }
    NaiveDateTime::parse_from_str(text, format)
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, format)
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// The format of WeChat, Alipay and ledger files, parsed by hand on the hot path.
const ISO_SECONDS: &str = "%Y-%m-%d %H:%M:%S";

/// `YYYY-MM-DD HH:MM:SS` exactly (every statement row has one, and chrono's
/// format interpreter costs more than the rest of the row); any other shape
/// returns `None` and goes to chrono, so the accepted texts do not change.
pub(crate) fn parse_iso_seconds(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &digit| {
            digit
                .is_ascii_digit()
                .then(|| acc * 10 + u32::from(digit - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?.and_hms_opt(
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, format: AmountFormat, expected: Option<&str>) {
        let got = parse_formatted_amount(text, format)
            .ok()
            .map(|d| d.to_string());
        assert_eq!(got.as_deref(), expected, "{text:?} with {format:?}");
    }

    #[test]
    fn amounts_in_every_style() {
        let comma = AmountFormat {
            thousands_separator: Some(','),
            negative: NegativeStyle::Either,
        };
        check("1,234.50", comma, Some("1234.50"));
        check("(1,234.50)", comma, Some("-1234.50"));
        check("-1,234,567.00", comma, Some("-1234567.00"));
        check("999", comma, Some("999"));
        check("12,34.50", comma, None);
        check("1,2345.00", comma, None);
        check(",123.00", comma, None);
        check("1.234,50", comma, None);
        check("(-5.00)", comma, None);
        check("1,234.50", AmountFormat::default(), None);
        let minus = AmountFormat {
            thousands_separator: None,
            negative: NegativeStyle::Minus,
        };
        check("(5.00)", minus, None);
        check("-5.00", minus, Some("-5.00"));
        let parens = AmountFormat {
            thousands_separator: None,
            negative: NegativeStyle::Parentheses,
        };
        check("-5.00", parens, None);
        check("(5.00)", parens, Some("-5.00"));
    }

    #[test]
    fn cents_are_exact_or_refused() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            exact_cents(d("12.3")).map(|v| v.to_string()).as_deref(),
            Some("12.30")
        );
        assert_eq!(
            exact_cents(d("1.000")).map(|v| v.to_string()).as_deref(),
            Some("1.00")
        );
        assert_eq!(exact_cents(d("0.005")), None);
    }

    #[test]
    fn times_with_and_without_time_of_day() {
        let t = parse_time("2026-11-21 23:59:59", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(t.to_string(), "2026-11-21 23:59:59");
        let d = parse_time("20261121", "%Y%m%d").unwrap();
        assert_eq!(d.to_string(), "2026-11-21 00:00:00");
        assert!(parse_time("2026-11-31 10:00:00", "%Y-%m-%d %H:%M:%S").is_none());
        // The hand-parsed shape never disagrees with chrono; anything else goes to chrono.
        let iso = "%Y-%m-%d %H:%M:%S";
        for text in [
            "2026-11-21 00:00:00",
            "2024-02-29 12:30:45",
            "2026-02-29 12:30:45",
            "2026-11-21 24:00:00",
            "2026-11-21 23:60:00",
            "2026-11-21T10:00:00",
            "2026-1-21 10:00:00",
            "2026-11-21 10:00:0x",
            "+026-11-21 10:00:00",
        ] {
            let chrono = NaiveDateTime::parse_from_str(text, iso).ok();
            assert_eq!(parse_time(text, iso), chrono, "{text}");
            if let Some(fast) = parse_iso_seconds(text) {
                assert_eq!(Some(fast), chrono, "{text}");
            }
        }
    }
}
