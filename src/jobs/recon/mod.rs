//! Reconciliation: statement readers (`formats`), the comparison engine
//! (`engine`), the break register (`breaks`), the rows shards hand to the
//! finalize step (`shard_rows`), and the job kinds built on them.

pub mod breaks;
pub mod engine;
pub mod formats;
pub mod internal;
pub mod shard_rows;
