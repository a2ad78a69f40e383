//! [`CarryDigest`]: the sha256 a kind returns from
//! [`crate::runtime::JobKind::carry_digest`] over what its business date
//! carries into the next one. Rows must be added in a stable order (sorted by
//! key); each row is hashed as its JSON array of fields, so no separator
//! inside a field can make two different row sets hash alike.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// Builds a carry digest row by row.
#[derive(Debug, Clone, Default)]
pub struct CarryDigest {
    hasher: Sha256,
    rows: u64,
}

impl CarryDigest {
    /// Adds one row of fields.
    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) {
        let fields: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
        let line = serde_json::to_string(&fields).unwrap_or_default();
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        self.rows += 1;
    }

    /// The digest, hex, prefixed with the row count (`rows:sha256`).
    pub fn finish(self) -> String {
        let hash: String = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}:{hash}", self.rows)
    }
}

/// An amount as digest text: the same value gives the same text whatever
/// its scale (`10.5` and `10.50` read back from different backends).
pub fn amount(value: Decimal) -> String {
    value.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[&[&str]]) -> String {
        let mut d = CarryDigest::default();
        for row in rows {
            d.row(row);
        }
        d.finish()
    }

    #[test]
    fn rows_and_fields_are_not_confused() {
        assert_ne!(digest(&[&["a|b", "c"]]), digest(&[&["a", "b|c"]]));
        assert_ne!(digest(&[&["a", "b"]]), digest(&[&["a"], &["b"]]));
        assert_eq!(digest(&[&["x", "1"]]), digest(&[&["x", "1"]]));
        // sha256 of `[]` + newline, computed with `printf '[]\n' | sha256sum`.
        assert_eq!(
            digest(&[&[]]),
            "1:37517e5f3dc66819f61f5a7bb8ace1921282415f10551d2defa5c3eb0985b570"
        );
    }

    #[test]
    fn amount_ignores_scale() {
        let a: Decimal = "10.50".parse().unwrap();
        let b: Decimal = "10.5".parse().unwrap();
        assert_eq!(amount(a), amount(b));
        assert_eq!(amount("0.00".parse().unwrap()), "0");
    }
}
