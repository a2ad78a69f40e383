//! Atomic publication of a report set and its manifest.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ReportError;

/// One file of a report set in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    pub file: String,
    pub sha256: String,
    pub rows: u64,
    pub bytes: u64,
}

/// `manifest.json`: what was written, by which run.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub job: String,
    pub business_date: String,
    pub run_id: String,
    pub attempt: i64,
    pub instance: String,
    pub generated_at: String,
    pub files: Vec<ManifestEntry>,
}

/// Writes each `(name, bytes, rows)` file into `dir`, then `manifest.json`;
/// every file goes to a temporary name first and is renamed into place, so
/// a reader never sees half a file. Returns the paths written (manifest last).
pub fn publish(
    dir: &Path,
    files: Vec<(String, Vec<u8>, u64)>,
    mut manifest: Manifest,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(files.len() + 1);
    for (name, bytes, rows) in files {
        let path = write_atomic(dir, &name, &bytes)?;
        manifest.files.push(ManifestEntry {
            file: name,
            sha256: hex(&Sha256::digest(&bytes)),
            rows,
            bytes: bytes.len() as u64,
        });
        written.push(path);
    }
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    written.push(write_atomic(dir, "manifest.json", &json)?);
    Ok(written)
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    let target = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let error = |source| ReportError::Write {
        path: target.clone(),
        source,
    };
    std::fs::write(&temporary, bytes).map_err(error)?;
    std::fs::rename(&temporary, &target).map_err(error)?;
    Ok(target)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_files_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest {
            job: "j".into(),
            business_date: "2026-11-21".into(),
            run_id: "r".into(),
            attempt: 1,
            instance: "i".into(),
            generated_at: "t".into(),
            files: Vec::new(),
        };
        let paths = publish(
            dir.path(),
            vec![("a.csv".into(), b"x\n1\n".to_vec(), 1)],
            manifest,
        )
        .unwrap();
        assert_eq!(paths.len(), 2);
        assert_eq!(std::fs::read(dir.path().join("a.csv")).unwrap(), b"x\n1\n");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        // sha256("x\n1\n") computed independently with `printf 'x\n1\n' | sha256sum`.
        assert_eq!(
            manifest["files"][0]["sha256"],
            "daff832f802000e645771a60983c76c963f6ee602a6230e45237bd360e91cc1a"
        );
        assert!(!dir.path().join(".a.csv.tmp").exists());
    }
}
