//! Alerts against a local HTTP server that records what it receives: the
//! payload of each event in each format (generic JSON, WeCom, DingTalk with
//! its signature), one alert per event, retries with backoff when a target
//! fails, failures counted in the metrics, and the SLA rule.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{TestDb, date, harness, probe_job, run_job};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reckon::alerts::{AlertKind, AlertSettings, Alerts, Watcher, WebhookFormat, WebhookSettings};
use reckon::metrics::{Metrics, Snapshot};
use reckon::schedule::{Clock, ManualClock};
use tokio_util::sync::CancellationToken;

/// What the recorder received: (path and query, JSON body).
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, serde_json::Value)>>,
    /// Answers 500 to this many requests first.
    fail_first: Mutex<usize>,
}

impl Recorder {
    fn on(&self, path: &str) -> Vec<(String, serde_json::Value)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with(path))
            .cloned()
            .collect()
    }
}

async fn record(recorder: Arc<Recorder>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let recorder = recorder.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let recorder = recorder.clone();
                    async move {
                        let uri = req.uri().to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let json: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let fail = {
                            let mut left = recorder.fail_first.lock().unwrap();
                            let fail = *left > 0 && uri.starts_with("/flaky");
                            if fail {
                                *left -= 1;
                            }
                            fail
                        };
                        recorder.seen.lock().unwrap().push((uri.clone(), json));
                        let (status, answer) = if fail {
                            (500, "{}")
                        } else if uri.starts_with("/refuses") {
                            (200, r#"{"errcode":310000,"errmsg":"sign not match"}"#)
                        } else {
                            (200, r#"{"errcode":0,"errmsg":"ok"}"#)
                        };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(answer)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn hook(name: &str, format: WebhookFormat, url: String, secret: Option<&str>) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        format,
        url,
        secret: secret.map(str::to_string),
        events: vec![],
    }
}

const SECRET: &str = "SECtest0123456789";

async fn wait_for(recorder: &Recorder, path: &str, n: usize) -> Vec<(String, serde_json::Value)> {
    for _ in 0..200 {
        let seen = recorder.on(path);
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{path}: expected {n} requests, got {:?}", recorder.on(path));
}

/// Event kinds received, sorted (deliveries run concurrently).
fn kinds(seen: &[(String, serde_json::Value)]) -> Vec<String> {
    let mut kinds: Vec<String> = seen
        .iter()
        .map(|(_, v)| v["kind"].as_str().unwrap_or("").to_string())
        .collect();
    kinds.sort();
    kinds
}

/// The received body of one event kind (generic format).
fn of_kind(seen: &[(String, serde_json::Value)], kind: &str) -> serde_json::Value {
    seen.iter()
        .find(|(_, v)| v["kind"] == kind)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {kind} in {seen:?}"))
}

/// The received robot message whose text mentions `needle`.
fn mentioning(seen: &[(String, serde_json::Value)], needle: &str) -> (String, serde_json::Value) {
    seen.iter()
        .find(|(_, v)| v.to_string().contains(needle))
        .cloned()
        .unwrap_or_else(|| panic!("no message with {needle} in {seen:?}"))
}

on_both_backends! {
    every_event_in_every_format => every_event_in_every_format;
}

async fn every_event_in_every_format(db: &TestDb) {
    let recorder = Arc::new(Recorder::default());
    let addr = record(recorder.clone()).await;
    let settings = AlertSettings {
        webhooks: vec![
            hook(
                "ops-json",
                WebhookFormat::Generic,
                format!("http://{addr}/generic"),
                None,
            ),
            hook(
                "wecom",
                WebhookFormat::Wecom,
                format!("http://{addr}/wecom?key=K"),
                None,
            ),
            hook(
                "dingtalk",
                WebhookFormat::Dingtalk,
                format!("http://{addr}/dingtalk?access_token=T"),
                Some(SECRET),
            ),
        ],
        retries: Some(2),
        backoff: Some("20ms".into()),
        console_url: Some("http://ops:8080".into()),
    };
    let metrics = Metrics::default();
    let shutdown = CancellationToken::new();
    let alerts = Alerts::start(&settings, metrics.clone(), shutdown.clone()).unwrap();

    // 2026-11-22 09:00 in Shanghai: past settle's 08:00 deadline for 2026-11-21.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap(),
    ));
    let jobs = [
        (
            "settle",
            probe_job(
                "settle",
                2,
                "cron = \"0 30 1 * * *\"\ntime_zone = \"Asia/Shanghai\"\ndeadline = \"08:00\"",
            ),
        ),
        (
            "later",
            probe_job(
                "later",
                1,
                "cron = \"0 30 1 * * *\"\ntime_zone = \"Asia/Shanghai\"\ndeadline = \"10:00\"",
            ),
        ),
    ];
    let h = harness(db, &jobs, clock.clone()).await;
    let watcher = Watcher {
        runner: h.runner.clone(),
        alerts: alerts.clone(),
        registry: None,
        poll: Duration::from_millis(50),
    };
    let mut since = clock.now() - chrono::Duration::seconds(1);

    // A failed run → run_failed, once however often it is seen.
    h.control.fail(0, true);
    let failed = run_job(&h.runner, "settle", "2026-11-21").await;
    watcher.look(&mut since).await.unwrap();
    watcher.look(&mut since).await.unwrap();
    alerts.run_finished(&failed.run);
    wait_for(&recorder, "/generic", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let generic_now = recorder.on("/generic");
    assert_eq!(
        kinds(&generic_now),
        vec!["run_failed", "sla_miss"],
        "one alert per event: {generic_now:?}"
    );
    let failed_alert = &of_kind(&generic_now, "run_failed");
    assert_eq!(failed_alert["job"], "settle");
    assert_eq!(failed_alert["business_date"], "2026-11-21");
    assert_eq!(failed_alert["run_id"], failed.run.run_id.as_str());
    assert_eq!(failed_alert["source"], "reckon");
    assert_eq!(
        failed_alert["link"],
        format!("http://ops:8080/runs/{}", failed.run.run_id)
    );
    assert!(failed_alert["title"].as_str().unwrap().contains("failed"));
    let sla = &of_kind(&generic_now, "sla_miss");
    assert_eq!(sla["job"], "settle", "`later` is not due before 10:00");
    assert_eq!(sla["business_date"], "2026-11-21");
    assert!(sla["title"].as_str().unwrap().contains("08:00"));

    // WeCom: markdown message with the facts.
    let wecom = wait_for(&recorder, "/wecom", 2).await;
    let (path, failed_msg) = mentioning(&wecom, "run failed");
    assert!(path.starts_with("/wecom?key=K"));
    assert_eq!(failed_msg["msgtype"], "markdown");
    let content = failed_msg["markdown"]["content"].as_str().unwrap();
    assert!(
        content.contains("run failed")
            && content.contains("settle")
            && content.contains("2026-11-21"),
        "{content}"
    );
    assert!(content.contains("[open the run](http://ops:8080/runs/"));

    // DingTalk: markdown with a title, the URL signed with timestamp and sign.
    let ding = wait_for(&recorder, "/dingtalk", 2).await;
    let (path, ding_msg) = mentioning(&ding, "run failed");
    assert_eq!(ding_msg["msgtype"], "markdown");
    assert!(
        ding_msg["markdown"]["title"]
            .as_str()
            .unwrap()
            .starts_with("reckon: settle")
    );
    assert!(
        ding_msg["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("settle")
    );
    let query = path.split_once('?').unwrap().1;
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    assert_eq!(param("access_token"), "T");
    let ts: i64 = param("timestamp").parse().unwrap();
    assert!(
        (Utc::now().timestamp_millis() - ts).abs() < 60_000,
        "timestamp in milliseconds, now"
    );
    assert_eq!(param("sign"), reckon::alerts::dingtalk_sign(SECRET, ts));

    // The SLA is met once the date succeeds: no new alert; attention, node and leader events.
    h.control.fail(0, false);
    let rerun = common::rerun_run(&h.runner, &failed, "fixed").await;
    assert_eq!(rerun.run.status, reckon::ledger::RunStatus::Succeeded);
    assert_eq!(
        reckon::alerts::sla_missed(
            &h.ledger,
            h.runner.catalog().get("settle").unwrap(),
            clock.now()
        )
        .await
        .unwrap(),
        None
    );
    let mut attention = rerun.run.clone();
    attention.outcome = Some(
        serde_json::json!({"attention": ["3 new breaks of settle", "2 rejected rows in wechat.csv"]}),
    );
    alerts.run_finished(&attention);
    alerts.node_left("node-b", "s1");
    alerts.leadership_changed("node-a", true, 1);
    alerts.leadership_changed("node-a", true, 1);
    let generic = wait_for(&recorder, "/generic", 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        kinds(&recorder.on("/generic")),
        vec![
            "leadership_changed",
            "node_left",
            "run_attention",
            "run_failed",
            "sla_miss"
        ]
    );
    assert_eq!(
        of_kind(&generic, "run_attention")["lines"][1],
        "2 rejected rows in wechat.csv"
    );
    assert_eq!(of_kind(&generic, "node_left")["instance"], "node-b");
    assert!(
        of_kind(&generic, "leadership_changed")["title"]
            .as_str()
            .unwrap()
            .contains("node-a is now the leader")
    );
    let wecom = wait_for(&recorder, "/wecom", 5).await;
    mentioning(&wecom, "rejected rows");
    mentioning(&wait_for(&recorder, "/dingtalk", 5).await, "node-b");

    let text = metrics.render(&Snapshot {
        today: date("2026-11-22"),
        ..Snapshot::default()
    });
    assert!(
        text.contains("reckon_alerts_raised_total{event=\"run_failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("reckon_alerts_sent_total{target=\"dingtalk\",event=\"sla_miss\"} 1"),
        "{text}"
    );
    shutdown.cancel();
}

/// A target that answers 500 twice gets the alert on the third try; one that
/// answers errcode ≠ 0 is retried, given up, logged and counted; neither
/// delays the other nor the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_and_counts_failures() {
    let recorder = Arc::new(Recorder::default());
    *recorder.fail_first.lock().unwrap() = 2;
    let addr = record(recorder.clone()).await;
    let settings = AlertSettings {
        webhooks: vec![
            hook(
                "flaky",
                WebhookFormat::Generic,
                format!("http://{addr}/flaky"),
                None,
            ),
            hook(
                "refuses",
                WebhookFormat::Dingtalk,
                format!("http://{addr}/refuses?access_token=T"),
                None,
            ),
            WebhookSettings {
                events: vec![AlertKind::SlaMiss],
                ..hook(
                    "sla-only",
                    WebhookFormat::Generic,
                    format!("http://{addr}/sla-only"),
                    None,
                )
            },
        ],
        retries: Some(3),
        backoff: Some("30ms".into()),
        console_url: None,
    };
    let metrics = Metrics::default();
    let shutdown = CancellationToken::new();
    let alerts = Alerts::start(&settings, metrics.clone(), shutdown.clone()).unwrap();
    let started = std::time::Instant::now();
    alerts.node_left("node-c", "s9");
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "raising never blocks"
    );
    let flaky = wait_for(&recorder, "/flaky", 3).await;
    assert!(flaky.iter().all(|(_, v)| v["kind"] == "node_left"));
    wait_for(&recorder, "/refuses", 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        recorder.on("/flaky").len(),
        3,
        "delivered on the third try, then no more"
    );
    assert_eq!(recorder.on("/refuses").len(), 4, "1 try + 3 retries");
    assert!(recorder.on("/sla-only").is_empty(), "filtered by event");
    let text = metrics.render(&Snapshot::default());
    assert!(
        text.contains(
            "reckon_alert_delivery_failures_total{target=\"flaky\",event=\"node_left\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("reckon_alerts_sent_total{target=\"flaky\",event=\"node_left\"} 1"));
    assert!(text.contains(
        "reckon_alert_delivery_failures_total{target=\"refuses\",event=\"node_left\"} 4"
    ));
    assert!(
        text.contains("reckon_alerts_given_up_total{target=\"refuses\",event=\"node_left\"} 1")
    );
    shutdown.cancel();
}

#[test]
fn bad_alert_settings_are_refused() {
    let https = AlertSettings {
        webhooks: vec![hook(
            "x",
            WebhookFormat::Wecom,
            "https://qyapi.example/send".into(),
            None,
        )],
        ..AlertSettings::default()
    };
    assert!(https.validate().unwrap_err().contains("http://"));
    let secret = AlertSettings {
        webhooks: vec![hook(
            "x",
            WebhookFormat::Wecom,
            "http://127.0.0.1:1/".into(),
            Some("SEC"),
        )],
        ..AlertSettings::default()
    };
    assert!(secret.validate().unwrap_err().contains("DingTalk"));
    assert_eq!(
        WebhookFormat::Dingtalk,
        toml::from_str::<WebhookSettings>(
            "name = \"d\"\nformat = \"dingtalk\"\nurl = \"http://x/\""
        )
        .unwrap()
        .format
    );
}
