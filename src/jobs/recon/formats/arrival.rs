//! Waiting for a statement file that a channel drops at an unknown time.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::error::FormatError;
use crate::schedule::Clock;

/// Shortest poll interval accepted, so a zero in a TOML file cannot spin a core.
pub const POLL_INTERVAL_MIN: Duration = Duration::from_millis(10);

/// What was seen of the file at one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
}

/// Waits until `path` exists, is not empty and has kept the same size and
/// modification time across two polls `poll_interval` apart (a file still
/// being copied is not read half-written). Errors naming the path when
/// `clock` passes `deadline` first, or when `cancel` fires.
///
/// A statement with only a header is a legitimate day with no transactions:
/// this function only waits for the file, it does not judge its content.
pub async fn await_statement(
    path: &Path,
    poll_interval: Duration,
    deadline: DateTime<Utc>,
    cancel: CancellationToken,
    clock: &dyn Clock,
) -> Result<PathBuf, FormatError> {
    let poll_interval = poll_interval.max(POLL_INTERVAL_MIN);
    let mut previous: Option<Seen> = None;
    loop {
        let seen = probe(path).await?;
        if let (Some(now), Some(before)) = (seen, previous)
            && now == before
            && now.len > 0
        {
            return Ok(path.to_path_buf());
        }
        // A file first seen at or after the deadline (a rerun days later, a
        // file dropped just in time) still gets one more poll to show it is
        // complete; a missing, empty or changing file fails at the deadline.
        let first_sight = previous.is_none() && seen.is_some_and(|s| s.len > 0);
        previous = seen;
        if clock.now() >= deadline && !first_sight {
            let detail = match seen {
                None => "no such file".to_string(),
                Some(Seen { len: 0, .. }) => "the file is still empty".to_string(),
                Some(Seen { len, .. }) => format!("the file is still changing ({len} bytes)"),
            };
            return Err(FormatError::NotArrived {
                path: path.to_path_buf(),
                deadline,
                detail,
            });
        }
        tokio::select! {
            () = cancel.cancelled() => {
                return Err(FormatError::Cancelled { path: path.to_path_buf() });
            }
            () = tokio::time::sleep(poll_interval) => {}
        }
    }
}

/// The file's size and modification time, `None` if it does not exist yet.
async fn probe(path: &Path) -> Result<Option<Seen>, FormatError> {
    match tokio::fs::metadata(path).await {
        Ok(metadata) => Ok(Some(Seen {
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FormatError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
