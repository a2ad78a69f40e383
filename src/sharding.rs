//! Pure shard assignment: which instance runs which item, and which item a
//! record key belongs to.
//!
//! The partition hash is FNV-1a 64 over the key's UTF-8 bytes, modulo the item
//! count. It is fixed forever (DESIGN.md invariant 5): every node and every
//! version maps a key to the same item. Never use Rust's randomized hasher here.

use std::collections::BTreeMap;

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stable 64-bit FNV-1a hash of `bytes`.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The shard item (0-based, `< items`) that owns a record key.
pub fn partition_of(key: &str, items: u32) -> u32 {
    assert!(items > 0, "a job has at least one shard item");
    (stable_hash(key.as_bytes()) % u64::from(items)) as u32
}

/// How items are spread over the live instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Contiguous blocks; the remainder goes one each to the first instances.
    #[default]
    Average,
    /// Average over the instance list, reversed when the job name's hash is
    /// even (ElasticJob's odevity rule, with FNV-1a instead of Java's hashCode).
    Odevity,
    /// Average over the instance list rotated by the job name's hash.
    RoundRobin,
}

impl Strategy {
    /// The name used in job files.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Average => "average",
            Strategy::Odevity => "odevity",
            Strategy::RoundRobin => "round_robin",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "average" => Ok(Strategy::Average),
            "odevity" => Ok(Strategy::Odevity),
            "round_robin" => Ok(Strategy::RoundRobin),
            other => Err(format!(
                "`{other}` is not one of average, odevity, round_robin"
            )),
        }
    }
}

/// Assigns items `0..items` to `instances` (already in their well-defined
/// order: registration order). Returns instance → sorted items; instances
/// with nothing to do are present with an empty list.
pub fn assign(
    strategy: Strategy,
    job: &str,
    instances: &[String],
    items: u32,
) -> BTreeMap<String, Vec<u32>> {
    let ordered: Vec<String> = match strategy {
        Strategy::Average => instances.to_vec(),
        Strategy::Odevity => {
            let mut list = instances.to_vec();
            if stable_hash(job.as_bytes()).is_multiple_of(2) {
                list.reverse();
            }
            list
        }
        Strategy::RoundRobin => {
            let mut list = instances.to_vec();
            if !list.is_empty() {
                let shift = (stable_hash(job.as_bytes()) % list.len() as u64) as usize;
                list.rotate_left(shift);
            }
            list
        }
    };
    average(&ordered, items)
}

fn average(instances: &[String], items: u32) -> BTreeMap<String, Vec<u32>> {
    let mut result: BTreeMap<String, Vec<u32>> =
        instances.iter().map(|i| (i.clone(), Vec::new())).collect();
    let count = instances.len() as u32;
    if count == 0 {
        return result;
    }
    let per = items / count;
    for (index, instance) in instances.iter().enumerate() {
        let start = index as u32 * per;
        result
            .entry(instance.clone())
            .or_default()
            .extend(start..start + per);
    }
    for (offset, item) in (per * count..items).enumerate() {
        result
            .entry(instances[offset].clone())
            .or_default()
            .push(item);
    }
    for list in result.values_mut() {
        list.sort_unstable();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    #[test]
    fn average_matches_elasticjob() {
        let got = assign(Strategy::Average, "job", &names(3), 8);
        assert_eq!(got["node-0"], [0, 1, 6]);
        assert_eq!(got["node-1"], [2, 3, 7]);
        assert_eq!(got["node-2"], [4, 5]);
    }

    #[test]
    fn odevity_reverses_for_even_hashes() {
        // FNV-1a 64 (computed in Python): "settlement" is even, "eod" is odd.
        let even = assign(Strategy::Odevity, "settlement", &names(3), 8);
        assert_eq!(even["node-2"], [0, 1, 6]);
        assert_eq!(even["node-1"], [2, 3, 7]);
        assert_eq!(even["node-0"], [4, 5]);
        let odd = assign(Strategy::Odevity, "eod", &names(3), 8);
        assert_eq!(odd["node-0"], [0, 1, 6]);
    }

    #[test]
    fn round_robin_rotates_by_the_job_hash() {
        // FNV-1a 64 mod 3 (computed in Python): "settlement" → 2, "recon" → 0.
        let got = assign(Strategy::RoundRobin, "settlement", &names(3), 8);
        assert_eq!(got["node-2"], [0, 1, 6]);
        assert_eq!(got["node-0"], [2, 3, 7]);
        assert_eq!(got["node-1"], [4, 5]);
        let got = assign(Strategy::RoundRobin, "recon", &names(3), 8);
        assert_eq!(got["node-0"], [0, 1, 6]);
    }

    #[test]
    fn every_item_assigned_once() {
        for strategy in [Strategy::Average, Strategy::Odevity, Strategy::RoundRobin] {
            for n in 1..6 {
                for items in 1..20 {
                    let got = assign(strategy, "settlement", &names(n), items);
                    let mut all: Vec<u32> = got.values().flatten().copied().collect();
                    all.sort_unstable();
                    assert_eq!(all, (0..items).collect::<Vec<_>>());
                }
            }
        }
    }

    #[test]
    fn fnv1a_is_the_documented_hash() {
        // Reference values of FNV-1a 64 (from the algorithm's published test vectors).
        assert_eq!(stable_hash(b""), 0xcbf29ce484222325);
        assert_eq!(stable_hash(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(stable_hash(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn partition_is_in_range() {
        for key in ["A1", "ORD-2026-0001", "订单号"] {
            assert!(partition_of(key, 7) < 7);
        }
    }
}
