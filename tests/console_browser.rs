//! A real browser on the console: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs) over the W3C WebDriver protocol. It opens the console on a
//! fresh demo database, sees the grid with the demo's runs (and saves a
//! screenshot of it), signs in, resolves a break through the form and sees
//! it resolved.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::http::Browser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reckon::console::{ConsoleSettings, ConsoleState, OperatorSettings};
use reckon::jobs::recon::breaks::{self, BreakFilter, BreakState};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "night shift 2026";
/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{env}: none of {candidates:?} exists; install Debian's chromium and chromium-driver (.ci/run does)"
            )
        })
}

struct Driver {
    child: Child,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        match self.try_call(method, path, body).await {
            Ok(value) => value,
            Err(failure) => panic!("{method} {path}: {failure}"),
        }
    }

    /// One WebDriver command; `Err` carries the status and the driver's answer.
    async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let response = self
            .client
            .request(request)
            .await
            .expect("chromedriver answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value["value"].clone())
        } else {
            Err(format!("{status} {value}"))
        }
    }

    async fn start(chromedriver: &Path, chromium: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
            session: String::new(),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1500,950", "--lang=en-US"]
            }
        }}});
        let created = driver.call("POST", "/session", Some(caps)).await;
        driver.session = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        driver
    }

    async fn go(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            Some(json!({"url": url})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call("GET", &format!("/session/{}/source", self.session), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                &format!("/session/{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            "POST",
            &format!("/session/{}/element/{id}/value", self.session),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            "POST",
            &format!("/session/{}/element/{id}/click", self.session),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks a form's submit button and waits until the browser has left the
    /// page it was on (the old document's root goes stale), so the next lookup
    /// reads the page the form answered with, never the one it came from.
    async fn submit(&self, css: &str) {
        let old_root = self.element("html").await;
        self.click(css).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let probe = self
                .try_call(
                    "GET",
                    &format!("/session/{}/element/{old_root}/name", self.session),
                    None,
                )
                .await;
            match probe {
                Err(answer) if answer.contains("stale element") => break,
                Err(answer) => panic!("waiting for {css} to submit: {answer}"),
                Ok(_) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{css} did not leave the page within 15 s"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call(
            "GET",
            &format!("/session/{}/element/{id}/text", self.session),
            None,
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    async fn screenshot(&self, to: &Path) {
        let png = self
            .call(
                "GET",
                &format!("/session/{}/screenshot", self.session),
                None,
            )
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(to, bytes).unwrap();
    }

    async fn quit(&self) {
        self.call("DELETE", &format!("/session/{}", self.session), None)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sees_demo_grid_and_resolves_a_break() {
    let chromium = find(
        "RECKON_TEST_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let chromedriver = find(
        "RECKON_TEST_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    );

    // The README's demo, into a directory of its own.
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("reckon-demo");
    let demo = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--dir"])
        .arg(&demo_dir)
        .env_remove("RECKON_DATABASE_URL")
        .output()
        .expect("reckon demo runs");
    assert!(
        demo.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let url = format!("sqlite://{}", demo_dir.join("reckon.db").display());
    let db = reckon::db::Db::connect_and_migrate(&url).await.unwrap();
    let catalog = reckon::catalog::Catalog::load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs"),
        &reckon::jobs::builtin(),
    )
    .unwrap();
    let runner = reckon::runtime::Runner::new(
        reckon::ledger::Ledger::new(db.clone(), Arc::new(reckon::schedule::SystemClock)),
        Arc::new(catalog),
        Arc::new(reckon::jobs::builtin()),
        Arc::new(reckon::coord::Embedded::new("demo-node")),
        reckon::runtime::Paths {
            reports_dir: demo_dir.join("reports"),
            data_dir: "fixtures".into(),
            excel_bom: false,
            reports_xlsx: false,
        },
        reckon::runtime::RunnerConfig::default(),
    );
    let open = breaks::list(
        &db,
        &BreakFilter {
            unresolved: true,
            ..BreakFilter::default()
        },
    )
    .await
    .unwrap();
    let target = open.first().expect("the demo leaves open breaks").clone();

    let state = ConsoleState {
        runner,
        settings: ConsoleSettings {
            operators: vec![OperatorSettings {
                name: "alice".into(),
                password_hash: Some(reckon::console::hash_password(PASSWORD).unwrap()),
                token_sha256: None,
            }],
            read_only_open: true,
            ..ConsoleSettings::default()
        },
        metrics: reckon::metrics::Metrics::default(),
        cluster: None,
        execute_here: true,
    };
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(reckon::console::serve(
        state,
        "127.0.0.1:0".parse().unwrap(),
        shutdown.clone(),
        Some(tx),
    ));
    let base = format!("http://{}", rx.await.unwrap());
    assert_eq!(Browser::new(&base).get("/healthz").await.status, 200);

    let driver = Driver::start(&chromedriver, &chromium).await;
    // The grid with the demo's runs.
    driver.go(&format!("{base}/")).await;
    let grid = driver.source().await;
    for job in ["eod-settlement", "recon-wechat", "compensation"] {
        assert!(grid.contains(job), "grid shows {job}");
    }
    assert!(
        grid.contains("2026-11-21") || grid.contains("11-21"),
        "the demo's business date"
    );
    assert!(
        grid.contains(">succeeded</a>"),
        "the demo's runs link from the grid"
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-grid.png");
    driver.screenshot(&shot).await;
    println!("grid screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // Sign in.
    driver
        .go(&format!("{base}/login?next=/breaks/{}", target.id))
        .await;
    driver.type_into("#name", "alice").await;
    driver.type_into("#password", PASSWORD).await;
    driver.submit("#signin").await;
    let page = driver.source().await;
    assert!(page.contains("signed in as <b>alice</b>"), "{page}");
    assert!(
        driver
            .text("#break-state")
            .await
            .contains(target.state.as_str())
    );
    let break_shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-break.png");
    driver.screenshot(&break_shot).await;

    // Resolve it through the form and see it resolved.
    driver
        .type_into("#note", "matched by hand against the bank's advice")
        .await;
    driver.submit("#resolve").await;
    assert_eq!(driver.text("#break-state").await, "resolved");
    assert_eq!(
        driver.text("#break-note").await,
        "matched by hand against the bank's advice"
    );
    assert!(
        driver
            .source()
            .await
            .contains("is resolved by console:alice")
    );
    let stored = breaks::get(&db, target.id).await.unwrap();
    assert_eq!(stored.state, BreakState::Resolved);
    assert_eq!(stored.resolved_by.as_deref(), Some("console:alice"));
    driver.go(&format!("{base}/breaks?state=resolved")).await;
    assert!(
        driver
            .source()
            .await
            .contains(&format!("href=\"/breaks/{}\"", target.id))
    );
    driver.quit().await;
    shutdown.cancel();
    db.close().await;
}
