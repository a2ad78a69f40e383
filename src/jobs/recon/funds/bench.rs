//! `reckon bench recon --shards N`: the statement side of a sharded
//! `recon-funds` run on one node, against the ad-hoc comparison's read of the
//! same file (issue 15). All shards run at once, as on one node:
//! - `adhoc`: `reckon recon`'s read of the statement (one pass) with the
//!   reader the job uses (`stream_statement_file`, as for `--format wechat`);
//! - `reread`: before issue 15, every shard read and parsed the whole file
//!   and kept its partition;
//! - `split`: one shard splits the file once into per-partition files
//!   ([`super::split`]), every shard reads its part.
//!
//! Both shard variants end with each shard's statement side built, as the
//! shard then compares it.

use std::path::Path;
use std::time::Instant;

use crate::jobs::recon::engine::{EngineError, SideBuilder, SideName, read_statement_side};
use crate::jobs::recon::formats::{
    GenericMapping, ReadOptions, StatementFormat, stream_statement_file,
};
use crate::runtime::JobError;
use crate::sharding::partition_of;

/// Wall seconds of each variant, and rows each built.
#[derive(Debug, Clone)]
pub struct ShardFigures {
    pub shards: u32,
    pub adhoc_seconds: f64,
    pub reread_seconds: f64,
    pub split_seconds: f64,
    /// Rows the shards' statement sides hold (the same for both variants).
    pub rows: u64,
}

/// Times the three variants on `statement` (the ledger layout, `generic`).
pub fn statement_shards(
    statement: &Path,
    shards: u32,
    work_dir: &Path,
) -> Result<ShardFigures, JobError> {
    let format = StatementFormat::Generic(Box::new(GenericMapping::ledger()));
    let read = ReadOptions::default();
    let started = Instant::now();
    read_statement_side(statement, &format, false, read).map_err(JobError::from)?;
    let adhoc_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let reread: Vec<Result<u64, EngineError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..shards)
            .map(|item| {
                let format = &format;
                scope.spawn(move || -> Result<u64, EngineError> {
                    let mut builder = SideBuilder::new(SideName::Statement);
                    let mut mine = Vec::new();
                    stream_statement_file(statement, format, read, &mut |record| {
                        if partition_of(&record.key, shards) == item {
                            mine.push(record);
                        }
                    })?;
                    for record in &mine {
                        builder.push_record(record);
                    }
                    Ok(builder.finish().len() as u64)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Ok(0)))
            .collect()
    });
    let reread_seconds = started.elapsed().as_secs_f64();
    let mut reread_rows = 0;
    for rows in reread {
        reread_rows += rows.map_err(JobError::from)?;
    }

    let root = work_dir.join(".statement-split-bench");
    let _ = std::fs::remove_dir_all(&root);
    let paths = vec![statement.to_path_buf()];
    let started = Instant::now();
    let split: Vec<Result<u64, JobError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..shards)
            .map(|item| {
                let (format, paths, root) = (&format, &paths, &root);
                scope.spawn(move || -> Result<u64, JobError> {
                    let part =
                        super::split::statement_part(root, paths, format, read, item, shards)?;
                    let mut builder = SideBuilder::new(SideName::Statement);
                    for record in &part.records {
                        builder.push_record(record);
                    }
                    Ok(builder.finish().len() as u64)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(JobError::Failed("shard thread panicked".into())))
            })
            .collect()
    });
    let split_seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&root);
    let mut split_rows = 0;
    for rows in split {
        split_rows += rows?;
    }
    if split_rows != reread_rows {
        return Err(JobError::Failed(format!(
            "split shards hold {split_rows} rows, re-reading shards {reread_rows}"
        )));
    }
    Ok(ShardFigures {
        shards,
        adhoc_seconds,
        reread_seconds,
        split_seconds,
        rows: split_rows,
    })
}
