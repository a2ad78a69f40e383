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
    // The ledger, when there is one already (listing jobs creates no database).
    let fresh_sqlite = config
        .database_url
        .strip_prefix("sqlite://")
        .is_some_and(|path| !std::path::Path::new(path).exists());
    let ledger = if fresh_sqlite {
        None
    } else {
        super::context::ledger(config).await.ok()
    };
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
            let names: Vec<&str> = job.depends_on.iter().map(|d| d.as_str()).collect();
            println!("  depends on {}", names.join(", "));
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
        if let Some(ledger) = &ledger {
            let mut never_ran = ledger.missed_dates(&job.name).await.map_err(Failure::run)?;
            // Fire times due but not handled yet (no node was running).
            if job.cron.is_some()
                && let Some(last) = ledger.last_fire(&job.name).await.map_err(Failure::run)?
            {
                for fire in crate::schedule::next_fires(job, last, 10_000) {
                    if fire > now {
                        break;
                    }
                    let date = crate::schedule::business_date_for(job, fire);
                    if !never_ran.contains(&date) {
                        never_ran.push(date);
                    }
                }
            }
            if !never_ran.is_empty() {
                let dates: Vec<String> = never_ran.iter().map(|d| d.to_string()).collect();
                println!(
                    "  missed business dates that never ran ({}): {}",
                    job.misfire.name(),
                    dates.join(", ")
                );
            }
        }
    }
    Ok(EXIT_OK)
}
