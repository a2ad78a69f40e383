//! `reckon bench <kind>`: performance figures of job kinds on the configured
//! database (`--database`). Each kind keeps its benchmark in its own module.

use clap::{Args, Subcommand};

use super::context::open_db;
use super::{EXIT_OK, Failure};
use crate::config::Config;

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    #[command(subcommand)]
    kind: BenchKind,
}

#[derive(Debug, Subcommand)]
enum BenchKind {
    /// Check-back + state transition of prepared messages (SQL checker in the same database)
    Compensation {
        /// Prepared messages to generate
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        /// Messages moved one round trip at a time for the naive baseline
        #[arg(long, default_value_t = 10_000)]
        naive_sample: usize,
        /// Partitions checked concurrently
        #[arg(long, default_value_t = 2)]
        shards: u32,
        /// Messages per batch
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
}

/// `reckon bench …`.
pub(super) async fn bench(config: &Config, args: BenchArgs) -> Result<u8, Failure> {
    match args.kind {
        BenchKind::Compensation {
            messages,
            naive_sample,
            shards,
            batch_size,
        } => {
            use crate::jobs::compensation::bench;
            if batch_size == 0 || batch_size > 3000 || shards == 0 {
                return Err(Failure::usage(
                    "--batch-size must be 1..=3000 and --shards at least 1",
                ));
            }
            let db = open_db(config).await?;
            let result = bench::run(
                &db,
                &bench::BenchConfig {
                    messages,
                    naive_sample,
                    shards,
                    batch_size,
                },
            )
            .await
            .map_err(Failure::run)?;
            println!(
                "backend    messages generate  batched check-back + transition                              naive baseline (sample)"
            );
            println!("{}", bench::format_result(&result));
            db.close().await;
        }
    }
    Ok(EXIT_OK)
}
