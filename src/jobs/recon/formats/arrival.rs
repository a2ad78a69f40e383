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

/// Waits until `path` is complete, then returns it. Complete means, checked
/// at every poll: a marker file `<file>.ok` or `<file>.done` (or the name
/// with its extension replaced: `<stem>.ok`, `<stem>.done`, as banks drop
/// them) exists next to a non-empty file; or the file is not empty and its
/// modification time is at least `poll_interval` old (written before this
/// poll interval began: a file dropped days ago, a manual rerun, is read at
/// once); or it kept the same size and modification time across two polls
/// `poll_interval` apart (a file still being copied is not read
/// half-written). Errors naming the path when `clock` passes `deadline`
/// first, or when `cancel` fires.
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
        if let Some(now) = seen
            && now.len > 0
            && (settled(now, poll_interval) || has_marker(path).await)
        {
            return Ok(path.to_path_buf());
        }
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

/// Whether the file was last modified at least `poll_interval` ago (by the
/// system clock, which stamps files; a modification time in the future is
/// not settled).
fn settled(seen: Seen, poll_interval: Duration) -> bool {
    seen.modified
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age >= poll_interval)
}

/// The marker files that declare `path` complete.
pub fn marker_paths(path: &Path) -> Vec<PathBuf> {
    let mut markers = Vec::new();
    for suffix in ["ok", "done"] {
        let mut appended = path.as_os_str().to_owned();
        appended.push(".");
        appended.push(suffix);
        markers.push(PathBuf::from(appended));
        if path.extension().is_some() {
            markers.push(path.with_extension(suffix));
        }
    }
    markers
}

async fn has_marker(path: &Path) -> bool {
    for marker in marker_paths(path) {
        if tokio::fs::try_exists(&marker).await.unwrap_or(false) {
            return true;
        }
    }
    false
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
