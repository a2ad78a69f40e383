//! Cluster test harness: a standalone ZooKeeper server per test (stoppable
//! and restartable on the same port and data directory) and `reckon serve`
//! nodes as separate processes that can be killed, stopped and continued.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Session timeout the cluster tests give their nodes.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(2);

/// The classpath of ZooKeeper's server (set by `.ci/run`).
pub fn classpath() -> String {
    std::env::var("RECKON_TEST_ZK_CLASSPATH")
        .unwrap_or_else(|_| "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar".into())
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A standalone ZooKeeper server, killed on drop.
pub struct ZkServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl ZkServer {
    /// Starts a server on a free port and waits until it answers `ruok`.
    pub fn start() -> ZkServer {
        let dir = tempfile::tempdir().expect("zk dir");
        let mut server = ZkServer {
            port: free_port(),
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let cfg = self.dir.path().join("zoo.cfg");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            &cfg,
            format!(
                "tickTime=500\nminSessionTimeout=1000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n",
                data.display(),
                self.port
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("zk.log"))
            .unwrap();
        let child = Command::new("java")
            .args(["-cp", &classpath()])
            .arg(format!("-Dzookeeper.log.dir={}", self.dir.path().display()))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("java starts ZooKeeper (is the zookeeper package installed? run .ci/run)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ok() {
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not answer ruok on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn ok(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"ruok").is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer == "imok"
    }

    /// Stops the server (SIGKILL), keeping its data directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `zk://127.0.0.1:PORT/{namespace}`.
    pub fn url(&self, namespace: &str) -> String {
        format!("zk://127.0.0.1:{}/{namespace}", self.port)
    }

    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `reckon serve` node process, killed on drop.
pub struct Node {
    pub id: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Node {
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig} {}", self.id);
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    pub fn sigstop(&self) {
        self.signal("-STOP");
    }

    pub fn sigcont(&self) {
        self.signal("-CONT");
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the nodes of one test find their jobs, database and registry.
pub struct Setup {
    pub database_url: String,
    pub jobs_dir: PathBuf,
    pub config: PathBuf,
    pub reports_dir: PathBuf,
    pub registry: String,
    pub logs: PathBuf,
}

impl Setup {
    /// Writes `reckon.toml` (session timeout, short grace) and the job files.
    pub fn new(base: &Path, database_url: &str, registry: String, jobs: &[(&str, &str)]) -> Setup {
        let jobs_dir = base.join("jobs");
        std::fs::create_dir_all(&jobs_dir).unwrap();
        for (name, text) in jobs {
            std::fs::write(jobs_dir.join(format!("{name}.toml")), text).unwrap();
        }
        let config = base.join("reckon.toml");
        std::fs::write(
            &config,
            format!(
                "session_timeout = \"{}ms\"\nshutdown_grace = \"1s\"\nheartbeat_interval = \"500ms\"\n",
                SESSION_TIMEOUT.as_millis()
            ),
        )
        .unwrap();
        let logs = base.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        Setup {
            database_url: database_url.to_string(),
            jobs_dir,
            config,
            reports_dir: base.join("reports"),
            registry,
            logs,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reckon"));
        command
            .args(["--database", &self.database_url])
            .args(["--jobs", self.jobs_dir.to_str().unwrap()])
            .args(["--config", self.config.to_str().unwrap()])
            .env("RECKON_REPORTS_DIR", &self.reports_dir)
            .env_remove("RECKON_DATABASE_URL")
            .env_remove("RECKON_REGISTRY")
            .stdin(Stdio::null());
        command
    }

    /// Starts `reckon serve --registry … --instance-id {id}`.
    pub fn node(&self, id: &str) -> Node {
        self.node_with(id, &[])
    }

    /// [`Setup::node`] with more `serve` arguments (e.g. `--http ADDR`).
    pub fn node_with(&self, id: &str, serve_args: &[&str]) -> Node {
        let log = self.logs.join(format!("{id}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = self
            .command()
            .args(["--registry", &self.registry, "--instance-id", id, "serve"])
            .args(serve_args)
            .env("RECKON_LOG", "info,zookeeper_client=warn")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("reckon serve starts");
        Node {
            id: id.to_string(),
            child,
            log,
        }
    }

    /// A `reckon` command with this setup (cluster mode when `cluster`).
    pub fn cli(&self, cluster: bool, args: &[&str]) -> Command {
        let mut command = self.command();
        if cluster {
            command.args(["--registry", &self.registry]);
        }
        command.args(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }

    /// Runs a `reckon` command to its end.
    pub fn run_cli(&self, cluster: bool, args: &[&str]) -> Output {
        self.cli(cluster, args).output().expect("reckon runs")
    }
}

/// A ZooKeeper client for looking at the registry from a test.
pub async fn client(server: &ZkServer) -> zookeeper_client::Client {
    zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&server.hosts())
        .await
        .expect("test client connects to ZooKeeper")
}

/// Live instance ids in registration order (creation zxid).
pub async fn instances(client: &zookeeper_client::Client, ns: &str) -> Vec<String> {
    let dir = format!("/{ns}/instances");
    let Ok(names) = client.list_children(&dir).await else {
        return Vec::new();
    };
    let mut ordered = Vec::new();
    for name in names {
        if let Ok(Some(stat)) = client.check_stat(&format!("{dir}/{name}")).await {
            ordered.push((stat.czxid, name));
        }
    }
    ordered.sort();
    ordered.into_iter().map(|(_, n)| n).collect()
}

/// The elected leader: data of the lowest-sequence lock node.
pub async fn leader(client: &zookeeper_client::Client, ns: &str) -> Option<String> {
    let dir = format!("/{ns}/leader");
    let mut names = client.list_children(&dir).await.ok()?;
    names.sort_by_key(|n| n.rsplit('-').next().unwrap_or("").to_string());
    let first = names.first()?;
    let (data, _) = client.get_data(&format!("{dir}/{first}")).await.ok()?;
    Some(String::from_utf8_lossy(&data).to_string())
}

/// Polls `check` every 100 ms until it gives `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
