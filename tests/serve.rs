//! `reckon serve` as a process: cron fires a run, SIGTERM stops it gracefully —
//! shards that do not finish within the grace period are cancelled and marked
//! so, the run does not stay `running`, and the process exits 0.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestDb;
use reckon::ledger::{RunFilter, RunStatus};

on_both_backends! {
    sigterm_cancels_running_shards_and_marks_them => sigterm_cancels_running_shards_and_marks_them;
}

async fn sigterm_cancels_running_shards_and_marks_them(db: &TestDb) {
    let jobs = db.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    // Fires every second; business date = today in Shanghai. One shard
    // finishes at once, the other sleeps far past the grace period.
    std::fs::write(
        jobs.join("tick.toml"),
        "name = \"tick\"\nkind = \"command\"\ncron = \"* * * * * *\"\n\
         business_date = \"same_day\"\nshards = 2\nitem_parameters = \"0=0,1=60\"\n\
         [params]\nprogram = \"sh\"\nargs = [\"-c\", \"sleep $RECKON_SHARD_PARAM\"]\n",
    )
    .unwrap();
    let config = db.dir.path().join("reckon.toml");
    std::fs::write(&config, "shutdown_grace = \"1s\"\n").unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args(["--database", &db.url, "--jobs", jobs.to_str().unwrap()])
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("RECKON_REPORTS_DIR", db.reports_dir())
        .env_remove("RECKON_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reckon serve starts");

    let ledger = reckon::ledger::Ledger::new(
        db.db.clone(),
        std::sync::Arc::new(reckon::schedule::SystemClock),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let runs = ledger.runs(&tick_runs()).await.unwrap();
        if let Some(run) = runs.into_iter().find(|r| r.status == RunStatus::Running) {
            let shards = ledger.shards(&run.run_id).await.unwrap();
            if shards
                .iter()
                .any(|s| s.item == 0 && s.status == RunStatus::Succeeded)
            {
                break run;
            }
        }
        assert!(Instant::now() < deadline, "cron never fired a run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let pid = serve.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped_by = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < stopped_by,
            "serve did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(serve.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "serve exited with {status}: {stderr}");

    let shards = ledger.shards(&run.run_id).await.unwrap();
    let by_item: Vec<(u32, RunStatus)> = shards.iter().map(|s| (s.item, s.status)).collect();
    assert_eq!(
        by_item,
        vec![(0, RunStatus::Succeeded), (1, RunStatus::Cancelled)],
        "{shards:#?}"
    );
    let after = ledger.run(&run.run_id).await.unwrap();
    assert_ne!(
        after.status,
        RunStatus::Running,
        "run left running: {after:#?}"
    );
    assert_ne!(
        after.status,
        RunStatus::Succeeded,
        "a cancelled shard cannot make a run succeed"
    );
    let runs = ledger.runs(&tick_runs()).await.unwrap();
    assert_eq!(runs.len(), 1, "one business date, one run: {runs:#?}");
}

fn tick_runs() -> RunFilter {
    RunFilter {
        job: Some("tick".into()),
        limit: 10,
        ..RunFilter::default()
    }
}

/// The README's demo line: `reckon serve --http … --read-only-open` shows the
/// book's runs without a sign-in; without the flag (and no
/// `read_only_open`) every page sends the visitor to /login, even on
/// loopback with no operator configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_sign_in_unless_read_only_open() {
    let db = TestDb::sqlite().await;
    let jobs = db.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("eod.toml"),
        "name = \"eod\"\nkind = \"command\"\nshards = 1\n[params]\nprogram = \"true\"\n",
    )
    .unwrap();
    let reckon = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reckon"));
        command
            .args(["--database", &db.url, "--jobs", jobs.to_str().unwrap()])
            .args(args)
            .env("RECKON_REPORTS_DIR", db.reports_dir())
            .env_remove("RECKON_DATABASE_URL")
            .env_remove("RECKON_HTTP_ADDR")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let ran = reckon(&["run", "eod", "--date", "2026-11-21"])
        .status()
        .unwrap();
    assert!(ran.success());
    for open in [false, true] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--http", addr.as_str()];
        if open {
            args.push("--read-only-open");
        }
        let mut serve = reckon(&args).spawn().unwrap();
        let base = format!("http://{addr}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            assert!(Instant::now() < deadline, "console did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let grid = common::http::Browser::new(&base).get("/").await;
        if open {
            assert_eq!(grid.status, 200);
            assert!(grid.body.contains("eod") && grid.body.contains("succeeded"));
        } else {
            assert_eq!(grid.status, 303);
            assert!(grid.location().starts_with("/login"), "{}", grid.location());
        }
        let _ = serve.kill();
        let _ = serve.wait();
    }
    db.cleanup().await;
}
