//! Coordination adapters: [`Embedded`] is the single-process default; the
//! ZooKeeper adapter answers the same [`Coordinator`] contract (which lives
//! with the runtime, `crate::runtime::coordinator`) for a cluster.

mod embedded;
pub mod zookeeper;

pub use crate::runtime::{Assignment, CoordError, Coordinator};
pub use embedded::Embedded;
