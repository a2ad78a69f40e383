//! A private PostgreSQL cluster for fault trials that restart the
//! database: `initdb` into a temporary directory, a free port, `pg_ctl`
//! start / stop / restart — the way the cluster tests start their own
//! ZooKeeper, so restarting it never disturbs the shared test server.
//! The binaries are found under `/usr/lib/postgresql/*/bin` (or
//! `RECKON_TEST_PG_BIN`); PostgreSQL refuses to run as root, so as root
//! the server runs as the `postgres` user (`runuser`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A PostgreSQL server of its own, stopped (immediately) on drop.
pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    run_as: Option<String>,
}

/// The newest `/usr/lib/postgresql/*/bin` holding `pg_ctl`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RECKON_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (or RECKON_TEST_PG_BIN)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().expect("a PostgreSQL version with pg_ctl").1
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgServer {
    /// Initialises a cluster (trust authentication, superuser `postgres`)
    /// and starts it on a free port of 127.0.0.1.
    pub fn start() -> PgServer {
        let dir = tempfile::tempdir().expect("pg dir");
        let run_as = is_root().then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            // The server's user must own its directory.
            let status = Command::new("chown")
                .args(["-R", user, &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the PostgreSQL directory");
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
        }
        let server = PgServer {
            port: free_port(),
            bin: bin_dir(),
            dir,
            run_as,
        };
        let data = server.data();
        let out = server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        server.pg_ctl_start();
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.path().join("server.log").display().to_string()
    }

    /// Runs one of the server binaries, as the server's user.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{} runs: {e}", path.display()))
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &self.log(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {}", text(&out));
        self.wait_accepting();
    }

    fn wait_accepting(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.run(
                "pg_isready",
                &["-h", "127.0.0.1", "-p", &self.port.to_string()],
            );
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL on port {} not ready: {}",
                self.port,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/{database}`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server: `fast` ends sessions cleanly, `immediate` is a crash.
    pub fn stop(&self, mode: &str) {
        let out = self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }

    /// Starts a stopped server again on the same port and data.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    /// A crash and restart: every connection is cut, the server recovers.
    pub fn restart(&self) {
        self.stop("immediate");
        self.pg_ctl_start();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
