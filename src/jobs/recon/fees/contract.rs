//! A channel's fee contract (`[params.fee]` of a `recon-funds` job): the
//! rate (with the dates it changes), the rounding rule, the per-transaction
//! minimum and maximum, and whether a refund gives the fee back pro rata.
//! All figures are exact decimals; see docs/recon.md (*Fee audit*).

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::jobs::params::{ParamError, Params};
use crate::jobs::recon::engine::{cents_to_decimal, decimal_to_fee_units};

/// How a computed fee is rounded to the contract's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeRounding {
    /// 四舍五入: ties away from zero.
    HalfUp,
    /// Banker's rounding: ties to the even digit.
    HalfEven,
    /// 进一法: any remainder rounds away from zero.
    Up,
    /// 去尾法: any remainder is dropped.
    Down,
}

impl FeeRounding {
    fn parse(text: &str) -> Option<FeeRounding> {
        match text {
            "half_up" => Some(FeeRounding::HalfUp),
            "half_even" => Some(FeeRounding::HalfEven),
            "up" => Some(FeeRounding::Up),
            "down" => Some(FeeRounding::Down),
            _ => None,
        }
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            FeeRounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            FeeRounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            FeeRounding::Up => RoundingStrategy::AwayFromZero,
            FeeRounding::Down => RoundingStrategy::ToZero,
        }
    }
}

/// A rate and the first date it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePeriod {
    pub from: NaiveDate,
    pub rate: Decimal,
}

/// The contract: what the channel may charge per transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeContract {
    /// The rate before the first change (a fraction: `0.006` = 0.60 %).
    pub rate: Decimal,
    /// Rate changes, by their first date, ascending.
    pub changes: Vec<RatePeriod>,
    /// Decimal places the fee is rounded to (2 = the cent; WeChat prints 5).
    pub scale: u32,
    pub rounding: FeeRounding,
    /// Least fee per transaction (a payment whose computed fee is lower pays this).
    pub min: Option<Decimal>,
    /// Most fee per transaction.
    pub max: Option<Decimal>,
    /// A refund gives back the payment's fee in proportion to the amount refunded.
    pub refund_returns_fee: bool,
}

/// The fee scale the engine holds exactly (1/100000 yuan).
const SCALE_MAX: u32 = 5;

impl FeeContract {
    /// Reads `[params.fee]`; `None` when the job has no contract.
    pub fn from_params(params: &toml::Table) -> Result<Option<FeeContract>, ParamError> {
        let Some(table) = Params::new(params).table("fee")? else {
            return Ok(None);
        };
        let field = |name: &str| format!("fee.{name}");
        let prefixed = |e: ParamError| ParamError::new(field(&e.field), e.reason);
        for key in table.keys() {
            if ![
                "rate",
                "rates",
                "scale",
                "rounding",
                "min",
                "max",
                "refund_returns_fee",
            ]
            .contains(&key.as_str())
            {
                return Err(ParamError::new(field(key), "is not a fee contract setting"));
            }
        }
        let p = Params::new(table);
        let rate = parse_rate(table.get("rate"), &field("rate"))?.ok_or_else(|| {
            ParamError::new(
                field("rate"),
                "is required: the rate as a string, e.g. \"0.006\" or \"0.6%\"",
            )
        })?;
        let mut changes = Vec::new();
        match table.get("rates") {
            None => {}
            Some(toml::Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let name = field(&format!("rates[{index}]"));
                    let toml::Value::Table(entry) = item else {
                        return Err(ParamError::new(name, "must be a table { from, rate }"));
                    };
                    let from = Params::new(entry)
                        .opt_date("from")
                        .map_err(|e| ParamError::new(format!("{name}.from"), e.reason))?
                        .ok_or_else(|| ParamError::new(format!("{name}.from"), "is required"))?;
                    let rate = parse_rate(entry.get("rate"), &format!("{name}.rate"))?
                        .ok_or_else(|| ParamError::new(format!("{name}.rate"), "is required"))?;
                    changes.push(RatePeriod { from, rate });
                }
            }
            Some(_) => {
                return Err(ParamError::new(
                    field("rates"),
                    "must be a list of { from = \"YYYY-MM-DD\", rate = \"…\" }",
                ));
            }
        }
        changes.sort_by_key(|c| c.from);
        if changes.windows(2).any(|w| w[0].from == w[1].from) {
            return Err(ParamError::new(
                field("rates"),
                "two rates start on the same date",
            ));
        }
        let scale = p.u64_or("scale", 2).map_err(prefixed)?;
        let scale = u32::try_from(scale)
            .ok()
            .filter(|&s| s <= SCALE_MAX)
            .ok_or_else(|| ParamError::new(field("scale"), "must be between 0 and 5"))?;
        let rounding_text = p.str_or("rounding", "half_up").map_err(prefixed)?;
        let rounding = FeeRounding::parse(rounding_text).ok_or_else(|| {
            ParamError::new(
                field("rounding"),
                format!("`{rounding_text}` is not a rounding rule: half_up, half_even, up or down"),
            )
        })?;
        let bound = |name: &str| -> Result<Option<Decimal>, ParamError> {
            if !table.contains_key(name) {
                return Ok(None);
            }
            let value = p.decimal_or(name, Decimal::ZERO).map_err(prefixed)?;
            if value < Decimal::ZERO || decimal_to_fee_units(value).is_none() {
                return Err(ParamError::new(
                    field(name),
                    "must be a non-negative amount with at most 5 decimals",
                ));
            }
            Ok(Some(value))
        };
        let (min, max) = (bound("min")?, bound("max")?);
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(ParamError::new(field("min"), "is above fee.max"));
        }
        Ok(Some(FeeContract {
            rate,
            changes,
            scale,
            rounding,
            min,
            max,
            refund_returns_fee: p.bool_or("refund_returns_fee", true).map_err(prefixed)?,
        }))
    }

    /// The rate that applies on `date`.
    pub fn rate_on(&self, date: NaiveDate) -> Decimal {
        self.changes
            .iter()
            .rev()
            .find(|c| c.from <= date)
            .map_or(self.rate, |c| c.rate)
    }

    /// Rounds by the contract's rule, to its scale.
    pub fn round(&self, value: Decimal) -> Decimal {
        value.round_dp_with_strategy(self.scale, self.rounding.strategy())
    }

    /// The contractual fee, in 1/100000 units, of a payment of `cents` made
    /// on `date`: amount × rate, rounded, then held between min and max. A
    /// zero payment costs nothing.
    pub fn payment_fee(&self, cents: i64, date: NaiveDate) -> Option<i64> {
        if cents == 0 {
            return Some(0);
        }
        let amount = cents_to_decimal(cents);
        let mut fee = self.round(amount.checked_mul(self.rate_on(date))?);
        if let Some(min) = self.min {
            fee = fee.max(min);
        }
        if let Some(max) = self.max {
            fee = fee.min(max);
        }
        decimal_to_fee_units(fee)
    }

    /// The fee given back (as a negative figure, the statements' convention)
    /// by a refund that takes the order's refunded total from `before` to
    /// `after` cents of a payment of `paid` cents whose contractual fee is
    /// `fee` units: the fee is returned in proportion to the amount refunded,
    /// computed on the cumulative total so that refunding the whole payment
    /// in parts gives back exactly its fee (nothing beyond what was paid).
    pub fn refund_fee(&self, fee: i64, paid: i64, before: i64, after: i64) -> Option<i64> {
        if !self.refund_returns_fee || paid <= 0 {
            return Some(0);
        }
        let share = |refunded: i64| -> Option<Decimal> {
            let refunded = Decimal::from(refunded.clamp(0, paid));
            let fee = Decimal::new(fee, SCALE_MAX);
            Some(
                self.round(
                    fee.checked_mul(refunded)?
                        .checked_div(Decimal::from(paid))?,
                ),
            )
        };
        let returned = share(after)?.checked_sub(share(before)?)?;
        decimal_to_fee_units(-returned)
    }
}

/// A rate written as a decimal string (`"0.006"`) or a percentage (`"0.6%"`);
/// never a TOML float.
fn parse_rate(value: Option<&toml::Value>, field: &str) -> Result<Option<Decimal>, ParamError> {
    let text = match value {
        None => return Ok(None),
        Some(toml::Value::String(text)) => text.trim(),
        Some(toml::Value::Float(f)) => {
            return Err(ParamError::new(
                field,
                format!("write the rate as a string (\"{f}\"), a float is not exact"),
            ));
        }
        Some(other) => {
            return Err(ParamError::new(
                field,
                format!("must be a decimal string, found {}", other.type_str()),
            ));
        }
    };
    let (number, percent) = match text.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (text, false),
    };
    let parsed = crate::money::parse_amount(number)
        .map_err(|_| ParamError::new(field, format!("`{text}` is not a rate")))?;
    let rate = if percent {
        parsed / Decimal::ONE_HUNDRED
    } else {
        parsed
    };
    if rate < Decimal::ZERO || rate >= Decimal::ONE {
        return Err(ParamError::new(
            field,
            format!("`{text}` is not a rate between 0 and 100 %"),
        ));
    }
    Ok(Some(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(text: &str) -> FeeContract {
        let params: toml::Table = toml::from_str(text).unwrap();
        FeeContract::from_params(&params).unwrap().unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn wechat_bill_examples_round_half_up_to_the_cent() {
        let c = contract("[fee]\nrate = \"0.6%\"\n");
        // E2: 6.00 at 0.60 % = 0.036 → 0.04; E3: 60.00 at 0.54 % = 0.324 → 0.32.
        assert_eq!(c.payment_fee(600, day("2024-07-09")), Some(4_000));
        let c54 = contract("[fee]\nrate = \"0.0054\"\n");
        assert_eq!(c54.payment_fee(6_000, day("2024-07-09")), Some(32_000));
        // E3's refund of the whole 50.00 gives back −0.27.
        let fee = c54.payment_fee(5_000, day("2024-07-09")).unwrap();
        assert_eq!(c54.refund_fee(fee, 5_000, 0, 5_000), Some(-27_000));
    }

    #[test]
    fn five_decimal_scale_keeps_sub_cent_fees() {
        // E10: 0.01 at 0.60 % = 0.00006 when fees are kept at 5 decimals.
        let c = contract("[fee]\nrate = \"0.006\"\nscale = 5\n");
        assert_eq!(c.payment_fee(1, day("2024-07-09")), Some(6));
        let cent = contract("[fee]\nrate = \"0.006\"\n");
        assert_eq!(cent.payment_fee(1, day("2024-07-09")), Some(0));
    }

    #[test]
    fn rate_changes_min_max_and_rounding_rules() {
        let c = contract(
            "[fee]\nrate = \"0.006\"\nrounding = \"up\"\nmin = \"0.01\"\nmax = \"5.00\"\n\
             [[fee.rates]]\nfrom = \"2026-11-16\"\nrate = \"0.38%\"\n",
        );
        assert_eq!(c.rate_on(day("2026-11-15")), "0.006".parse().unwrap());
        assert_eq!(c.rate_on(day("2026-11-16")), "0.0038".parse().unwrap());
        // 100.00 × 0.38 % = 0.38; 10.01 × 0.6 % = 0.06006 → up → 0.07.
        assert_eq!(c.payment_fee(10_000, day("2026-11-20")), Some(38_000));
        assert_eq!(c.payment_fee(1_001, day("2026-11-01")), Some(7_000));
        // The minimum and maximum per transaction.
        assert_eq!(c.payment_fee(1, day("2026-11-20")), Some(1_000));
        assert_eq!(c.payment_fee(10_000_000, day("2026-11-20")), Some(500_000));
        let down = contract("[fee]\nrate = \"0.006\"\nrounding = \"down\"\n");
        assert_eq!(down.payment_fee(1_001, day("2026-11-01")), Some(6_000));
        let even = contract("[fee]\nrate = \"0.005\"\nrounding = \"half_even\"\n");
        // 5.00 × 0.5 % = 0.025 → 0.02 (half even), 7.00 → 0.035 → 0.04.
        assert_eq!(even.payment_fee(500, day("2026-11-01")), Some(2_000));
        assert_eq!(even.payment_fee(700, day("2026-11-01")), Some(4_000));
    }

    #[test]
    fn partial_refunds_give_back_exactly_the_fee() {
        let c = contract("[fee]\nrate = \"0.006\"\n");
        // 10.00 paid, fee 0.06; refunds of 3.33, 3.33, 3.34.
        let fee = c.payment_fee(1_000, day("2026-11-01")).unwrap();
        let parts = [
            c.refund_fee(fee, 1_000, 0, 333).unwrap(),
            c.refund_fee(fee, 1_000, 333, 666).unwrap(),
            c.refund_fee(fee, 1_000, 666, 1_000).unwrap(),
        ];
        assert_eq!(parts.iter().sum::<i64>(), -fee);
        // Beyond what was paid nothing more is given back.
        assert_eq!(c.refund_fee(fee, 1_000, 1_000, 1_200), Some(0));
        let kept = contract("[fee]\nrate = \"0.006\"\nrefund_returns_fee = false\n");
        assert_eq!(kept.refund_fee(fee, 1_000, 0, 1_000), Some(0));
    }

    #[test]
    fn bad_contracts_are_refused_naming_the_field() {
        let refuse = |text: &str| {
            let params: toml::Table = toml::from_str(text).unwrap();
            FeeContract::from_params(&params).unwrap_err().field
        };
        assert_eq!(refuse("[fee]\nrate = 0.006\n"), "fee.rate");
        assert_eq!(refuse("[fee]\nscale = 2\n"), "fee.rate");
        assert_eq!(
            refuse("[fee]\nrate = \"0.6%\"\nrounding = \"nearest\"\n"),
            "fee.rounding"
        );
        assert_eq!(refuse("[fee]\nrate = \"0.6%\"\nscale = 6\n"), "fee.scale");
        assert_eq!(
            refuse("[fee]\nrate = \"0.6%\"\nmin = \"2\"\nmax = \"1\"\n"),
            "fee.min"
        );
        assert_eq!(refuse("[fee]\nrate = \"0.6%\"\nrats = []\n"), "fee.rats");
        assert_eq!(
            refuse("[fee]\nrate = \"0.6%\"\n[[fee.rates]]\nrate = \"0.3%\"\n"),
            "fee.rates[0].from"
        );
    }
}
