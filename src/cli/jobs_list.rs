//! `reckon jobs`.

use chrono::Utc;

use super::context::catalog;
use super::{EXIT_OK, Failure};
use crate::config::Config;

/// Next fire times shown per job.
const FIRES_SHOWN: usize = 3;

/// Prints the catalog with each job's next fire times, in its own zone.
pub(super) async fn jobs(config: &Config) -> Result<u8, Failure> {
    let catalog = catalog(config)?;
    let now = Utc::now();
    for job in catalog.jobs() {
        let state = if job.enabled { "" } else { " (disabled)" };
        println!(
            "{}{state}  kind {}  shards {}  zone {}",
            job.name, job.kind, job.shards, job.time_zone
        );
        if !job.description.is_empty() {
            println!("  {}", job.description);
        }
        if !job.depends_on.is_empty() {
            println!("  depends on {}", job.depends_on.join(", "));
        }
        match &job.cron {
            Some(cron) => {
                let fires: Vec<String> = crate::schedule::next_fires(job, now, FIRES_SHOWN)
                    .iter()
                    .map(|t| {
                        t.with_timezone(&job.time_zone)
                            .format("%Y-%m-%d %H:%M:%S %Z")
                            .to_string()
                    })
                    .collect();
                println!("  cron `{}`  next {}", cron.source(), fires.join(", "));
            }
            None => println!("  no cron: manual runs only"),
        }
    }
    Ok(EXIT_OK)
}
