//! The `reckon` binary as operators use it: exit codes, refusals, reruns.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::TestDb;

fn reckon(db: &TestDb, jobs: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args(["--database", &db.url, "--jobs", jobs.to_str().unwrap()])
        .args(args)
        .env("RECKON_REPORTS_DIR", db.reports_dir())
        .env("RECKON_DATA_DIR", db.dir.path())
        .env_remove("RECKON_DATABASE_URL")
        .output()
        .expect("reckon runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_job(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!("name = \"{name}\"\nkind = \"command\"\n{body}"),
    )
    .unwrap();
}

on_both_backends! {
    concurrent_cli_runs_one_wins => concurrent_cli_runs_one_wins;
    failed_shard_rerun_from_cli => failed_shard_rerun_from_cli;
    disable_enable_on_a_single_node => disable_enable_on_a_single_node;
}

/// `reckon cluster disable|enable` without a registry: the single node's
/// switch in its database, journaled as `cli:USER` with the reason; a
/// manual run and a rerun (plain or cascading) of the disabled job are
/// refused, naming who disabled it and why.
async fn disable_enable_on_a_single_node(db: &TestDb) {
    let jobs = db.dir.path().join("jobs");
    write_job(&jobs, "eod", "shards = 1\n[params]\nprogram = \"true\"\n");
    let ran = reckon(db, &jobs, &["run", "eod", "--date", "2026-11-20"]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));
    let first = run_ids(db).await.remove(0);
    let out = reckon(db, &jobs, &["cluster", "disable", "eod"]);
    assert_eq!(out.status.code(), Some(2), "--reason is required");
    let out = reckon(
        db,
        &jobs,
        &["cluster", "disable", "eod", "--reason", "statement late"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("job eod disabled on this node"));
    let refusals = [
        vec!["run", "eod", "--date", "2026-11-21"],
        vec!["rerun", first.as_str(), "--reason", "again"],
        vec![
            "rerun",
            first.as_str(),
            "--failed-only",
            "--reason",
            "again",
        ],
        vec!["rerun", first.as_str(), "--cascade", "--reason", "again"],
    ];
    for args in refusals {
        let refused = reckon(db, &jobs, &args);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        let stderr = text(&refused.stderr);
        assert!(
            stderr.contains("job `eod` is disabled on this node by cli:")
                && stderr.contains("UTC: statement late"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(run_ids(db).await.len(), 1, "nothing created while disabled");
    let out = reckon(
        db,
        &jobs,
        &["cluster", "enable", "eod", "--reason", "arrived"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ran = reckon(db, &jobs, &["run", "eod", "--date", "2026-11-21"]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));
    let rerun = reckon(db, &jobs, &["rerun", &first, "--reason", "again"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    let journal = reckon::toggles::journal(&db.db, 10).await.unwrap();
    assert_eq!(journal.len(), 2);
    assert_eq!(
        (journal[0].action.as_str(), journal[0].reason.as_str()),
        ("enable", "arrived")
    );
    assert!(journal[1].actor.starts_with("cli:"), "{:?}", journal[1]);
    assert_eq!(journal[1].scope, "node");
    assert!(journal.iter().all(|e| e.state == "applied"));
}

async fn run_ids(db: &TestDb) -> Vec<String> {
    reckon::on_db!(&db.db, pool => {
        sqlx::query_scalar("SELECT run_id FROM runs ORDER BY created_at")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

async fn concurrent_cli_runs_one_wins(db: &TestDb) {
    let jobs = db.dir.path().join("jobs");
    write_job(
        &jobs,
        "slow",
        "shards = 1\n[params]\nprogram = \"sleep\"\nargs = [\"2\"]\n",
    );
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_reckon"))
            .args([
                "--database",
                &db.url,
                "--jobs",
                jobs.to_str().unwrap(),
                "run",
                "slow",
                "--date",
                "2026-11-21",
            ])
            .env("RECKON_REPORTS_DIR", db.reports_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = spawn();
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(b.status.code(), Some(1), "the second run is refused");
    let refusal = text(&b.stderr);
    assert!(
        refusal.contains("a run of `slow` for 2026-11-21 is already"),
        "{refusal}"
    );
    let listed = text(&reckon(db, &jobs, &["runs", "--job", "slow"]).stdout);
    assert_eq!(
        listed.lines().filter(|l| l.contains("succeeded")).count(),
        1,
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 2, "header + one run: {listed}");
}

async fn failed_shard_rerun_from_cli(db: &TestDb) {
    let jobs = db.dir.path().join("jobs");
    write_job(
        &jobs,
        "eod",
        "shards = 3\nretries = 0\n[params]\nprogram = \"sh\"\nargs = [\"-c\", \"test $RECKON_SHARD_ITEM != 1 || test -e ok.flag\"]\n",
    );
    let failed = reckon(
        db,
        &jobs,
        &["run", "eod", "--date", "2026-11-21", "--reason", "nightly"],
    );
    assert_eq!(failed.status.code(), Some(1));
    let out = text(&failed.stdout);
    assert!(out.contains("failed (2/3 shards"), "{out}");
    let run_id = out.split_whitespace().nth(1).unwrap().to_string();

    std::fs::write(db.dir.path().join("ok.flag"), "").unwrap();
    let rerun = reckon(
        db,
        &jobs,
        &["rerun", &run_id, "--failed-only", "--reason", "input fixed"],
    );
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    let new_id = text(&rerun.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let shown = text(&reckon(db, &jobs, &["show", &new_id]).stdout);
    assert!(
        shown.contains(&format!("rerun of     {run_id} (failed shards only)")),
        "{shown}"
    );
    assert_eq!(shown.matches("(kept from").count(), 2, "{shown}");
    assert!(shown.contains("reason       input fixed"), "{shown}");
    let usage = reckon(db, &jobs, &["rerun", &run_id]);
    assert_eq!(usage.status.code(), Some(2), "--reason is required");
}

#[test]
fn bad_job_files_exit_2_with_path_field_reason() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    write_job(
        &jobs,
        "bad",
        "cron = \"0 61 * * * *\"\n[params]\nprogram = \"true\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args([
            "--database",
            &format!("sqlite://{}", dir.path().join("r.db").display()),
            "--jobs",
            jobs.to_str().unwrap(),
            "jobs",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml: field `cron`: `0 61 * * * *` is not a valid cron expression"),
        "{err}"
    );
}

#[test]
fn jobs_lists_next_fire_times() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    write_job(
        &jobs,
        "nightly",
        "cron = \"0 30 1 * * *\"\n[params]\nprogram = \"true\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args([
            "--database",
            &format!("sqlite://{}", dir.path().join("r.db").display()),
            "--jobs",
            jobs.to_str().unwrap(),
            "jobs",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("cron `0 30 1 * * *`  next "), "{listed}");
    assert_eq!(listed.matches("01:30:00 CST").count(), 3, "{listed}");
}

/// The shipped catalog (`jobs/`) on the shipped fixtures, as the README's first
/// command runs it: every enabled job succeeds, and a second demo writes
/// byte-identical CSV reports.
#[test]
fn demo_runs_every_shipped_job_and_is_repeatable() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let run_demo = |dir: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_reckon"))
            .current_dir(work.path())
            .args(["--jobs", repo.join("jobs").to_str().unwrap(), "demo"])
            .args(["--dir", dir, "--fixtures"])
            .arg(repo.join("fixtures"))
            .env_remove("RECKON_DATABASE_URL")
            .env_remove("RECKON_REPORTS_DIR")
            .output()
            .expect("reckon demo runs");
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "demo failed: {stdout}\n{}",
            text(&out.stderr)
        );
        stdout
    };
    let first = run_demo("one");
    let catalog =
        reckon::catalog::Catalog::load_dir(&repo.join("jobs"), &reckon::jobs::builtin()).unwrap();
    for job in catalog.jobs().filter(|j| j.enabled) {
        assert!(
            first
                .lines()
                .any(|l| l.contains(&format!(" {} 2026-11-21 ", job.name))
                    && l.contains("succeeded")),
            "job {} did not succeed in the demo:\n{first}",
            job.name
        );
    }
    run_demo("two");
    let csvs = |dir: &str| {
        let mut files = std::collections::BTreeMap::new();
        let root = work.path().join(dir).join("reports/2026-11-21");
        for job in std::fs::read_dir(&root).unwrap() {
            let job = job.unwrap();
            for run in std::fs::read_dir(job.path()).unwrap() {
                for file in std::fs::read_dir(run.unwrap().path()).unwrap() {
                    let path = file.unwrap().path();
                    if path.extension().is_some_and(|e| e == "csv") {
                        let key = format!(
                            "{}/{}",
                            job.file_name().to_string_lossy(),
                            path.file_name().unwrap().to_string_lossy()
                        );
                        files.insert(key, std::fs::read(&path).unwrap());
                    }
                }
            }
        }
        files
    };
    let (one, two) = (csvs("one"), csvs("two"));
    assert!(!one.is_empty(), "the demo wrote no CSV report");
    assert_eq!(one, two, "a second demo wrote different CSV bytes");
}
