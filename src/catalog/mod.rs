//! The job catalog: `jobs/*.toml`, one file per job, loaded and validated into
//! typed [`JobDef`]s. Everything is checked at load time so a bad file is
//! refused with its path, the field and what is wrong, before anything runs.

mod def;
mod load;

pub use def::{BusinessDateRule, ItemParameters, JobDef, MisfirePolicy, RetryPolicy, RunsPerDate};
pub use load::{Catalog, CatalogError, FileProblem, KindCheck};
