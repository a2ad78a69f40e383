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
use reckon::alerts::{
    AlertKind, AlertSettings, Alerts, Journal, Watcher, WebhookFormat, WebhookSettings,
};
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
    record_on(recorder, None).await
}

/// The recorder behind TLS when `tls` is given (an HTTPS robot stand-in).
async fn record_on(recorder: Arc<Recorder>, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let recorder = recorder.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        // A client that does not trust the certificate fails here.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream, recorder).await;
                        }
                    }
                    None => answer(stream, recorder).await,
                }
            });
        }
    });
    addr
}

async fn answer<S>(stream: S, recorder: Arc<Recorder>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let recorder = recorder.clone();
        async move {
            let uri = req.uri().to_string();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
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
}

/// A private CA made for this test (rcgen) and a server certificate it
/// signed for 127.0.0.1: the TLS acceptor and the CA's PEM.
fn private_ca() -> (tokio_rustls::TlsAcceptor, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reckon test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    )
    .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem())
}

fn hook(name: &str, format: WebhookFormat, url: String, secret: Option<&str>) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        format,
        url,
        secret: secret.map(str::to_string),
        ca_file: None,
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
    let journal = Journal::new(db.db.clone());
    let alerts = Alerts::start(&settings, metrics.clone(), Some(journal.clone())).unwrap();

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
    let watcher = Watcher::new(
        h.runner.clone(),
        alerts.clone(),
        None,
        Some(journal.clone()),
        Duration::from_millis(50),
    );

    // A failed run → run_failed, once however often it is seen.
    h.control.fail(0, true);
    let failed = run_job(&h.runner, "settle", "2026-11-21").await;
    watcher.look().await.unwrap();
    watcher.look().await.unwrap();
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
    alerts.node_left("node-b", 1);
    alerts.leadership_changed("node-a", 1, None);
    alerts.leadership_changed("node-a", 1, None);
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
    let alerts = Alerts::start(&settings, metrics.clone(), None).unwrap();
    let started = std::time::Instant::now();
    alerts.node_left("node-c", 9);
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
    let one = |url: &str, ca_file: Option<&str>| AlertSettings {
        webhooks: vec![WebhookSettings {
            ca_file: ca_file.map(Into::into),
            ..hook("x", WebhookFormat::Wecom, url.into(), None)
        }],
        ..AlertSettings::default()
    };
    one(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
        None,
    )
    .validate()
    .unwrap();
    assert!(
        one("ftp://robot.example/send", None)
            .validate()
            .unwrap_err()
            .contains("https:// or http://")
    );
    assert!(
        one(
            "http://10.0.0.9/hook",
            Some("/etc/ssl/certs/ca-certificates.crt")
        )
        .validate()
        .unwrap_err()
        .contains("ca_file")
    );
    let missing = one("https://10.0.0.9/hook", Some("/nonexistent/ca.pem"))
        .validate()
        .unwrap_err();
    assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
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

/// WeCom and DingTalk robots are https-only: alerts reach an HTTPS receiver
/// whose certificate a private CA signed when the target names that CA in
/// `ca_file`; a target without it refuses the unknown issuer (the failure is
/// counted, nothing is sent in clear).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_trust_the_system_roots_and_their_ca_file() {
    let recorder = Arc::new(Recorder::default());
    let (acceptor, ca_pem) = private_ca();
    let addr = record_on(recorder.clone(), Some(acceptor)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("private-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let with_ca = |name: &str, format, path: &str, secret| WebhookSettings {
        ca_file: Some(ca_file.clone()),
        ..hook(name, format, format!("https://{addr}{path}"), secret)
    };
    let settings = AlertSettings {
        webhooks: vec![
            with_ca("wecom", WebhookFormat::Wecom, "/wecom?key=K", None),
            with_ca(
                "dingtalk",
                WebhookFormat::Dingtalk,
                "/dingtalk?access_token=T",
                Some(SECRET),
            ),
            hook(
                "untrusted",
                WebhookFormat::Generic,
                format!("https://{addr}/untrusted"),
                None,
            ),
        ],
        retries: Some(1),
        backoff: Some("20ms".into()),
        console_url: None,
    };
    settings.validate().unwrap();
    let metrics = Metrics::default();
    let alerts = Alerts::start(&settings, metrics.clone(), None).unwrap();
    alerts.node_left("node-t", 7);
    let (path, wecom) = wait_for(&recorder, "/wecom", 1).await.remove(0);
    assert_eq!(path, "/wecom?key=K");
    let content = wecom["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("node-t"), "{content}");
    assert!(content.contains("event: node_left:node-t@7"), "{content}");
    let (path, _) = wait_for(&recorder, "/dingtalk", 1).await.remove(0);
    assert!(
        path.contains("&timestamp=") && path.contains("&sign="),
        "{path}"
    );
    for _ in 0..200 {
        if metrics
            .render(&Snapshot::default())
            .contains("reckon_alerts_given_up_total{target=\"untrusted\",event=\"node_left\"} 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let text = metrics.render(&Snapshot::default());
    assert!(
        text.contains(
            "reckon_alert_delivery_failures_total{target=\"untrusted\",event=\"node_left\"} 2"
        ),
        "{text}"
    );
    assert!(
        recorder.on("/untrusted").is_empty(),
        "no request without trust"
    );
    assert!(text.contains("reckon_alerts_sent_total{target=\"wecom\",event=\"node_left\"} 1"));
}

on_both_backends! {
    one_alert_per_event_across_restarts => one_alert_per_event_across_restarts;
}

/// The journal across process lifetimes (each `Alerts::start` + `Watcher`
/// is one process): an event alerted before a restart is not alerted again;
/// a run that failed while the node was down is alerted after it (the
/// cursor is in the database); a delivery whose "sent" was never recorded
/// (crash after the receiver answered) is sent again once with the same
/// `event_id`; an event recorded but never sent (crash before sending) is
/// sent by the next start.
async fn one_alert_per_event_across_restarts(db: &TestDb) {
    let recorder = Arc::new(Recorder::default());
    let addr = record(recorder.clone()).await;
    let settings = AlertSettings {
        webhooks: vec![hook(
            "ops",
            WebhookFormat::Generic,
            format!("http://{addr}/ops"),
            None,
        )],
        retries: Some(1),
        backoff: Some("20ms".into()),
        console_url: None,
    };
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap(),
    ));
    let jobs = [("settle", probe_job("settle", 1, ""))];
    let h = harness(db, &jobs, clock.clone()).await;
    let journal = Journal::new(db.db.clone());
    let process = |journal: Journal| {
        let alerts = Alerts::start(&settings, Metrics::default(), Some(journal.clone())).unwrap();
        let watcher = Watcher::new(
            h.runner.clone(),
            alerts.clone(),
            None,
            Some(journal),
            Duration::from_millis(50),
        );
        (alerts, watcher)
    };

    // Process 1: the first look starts the cursor; a failed run is alerted.
    let (_alerts, watcher) = process(journal.clone());
    watcher.look().await.unwrap();
    h.control.fail(0, true);
    clock.set(clock.now() + chrono::Duration::seconds(10));
    let first = run_job(&h.runner, "settle", "2026-11-20").await;
    clock.set(clock.now() + chrono::Duration::seconds(10));
    watcher.look().await.unwrap();
    let seen = wait_for(&recorder, "/ops", 1).await;
    assert_eq!(
        seen[0].1["event_id"],
        format!("run_failed:{}", first.run.run_id)
    );
    let id = format!("run_failed:{}", first.run.run_id);
    for _ in 0..100 {
        if journal.deliveries(&id).await.unwrap()[0].1 == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        journal.deliveries(&id).await.unwrap(),
        vec![("ops".to_string(), "sent".to_string(), 1)]
    );

    // Down: another run fails while no watcher looks.
    clock.set(clock.now() + chrono::Duration::minutes(30));
    let second = run_job(&h.runner, "settle", "2026-11-21").await;
    clock.set(clock.now() + chrono::Duration::minutes(30));

    // Process 2: the old failure is not alerted again, the new one is.
    let (alerts, watcher) = process(journal.clone());
    watcher.look().await.unwrap();
    alerts.run_finished(&first.run);
    let seen = wait_for(&recorder, "/ops", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids: Vec<String> = recorder
        .on("/ops")
        .iter()
        .map(|(_, v)| v["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        vec![id.clone(), format!("run_failed:{}", second.run.run_id)],
        "{seen:?}"
    );

    // A crash after the receiver accepted and before "sent" was written:
    // the delivery is still pending; the next start sends it once more,
    // with the same event_id, and marks it sent.
    sqlx_pending(db, &id).await;
    let (_alerts, _watcher) = process(journal.clone());
    let seen = wait_for(&recorder, "/ops", 3).await;
    assert_eq!(seen[2].1["event_id"], id, "the repeat carries the same id");
    for _ in 0..100 {
        if journal.pending().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        journal.pending().await.unwrap().is_empty(),
        "sent, recorded"
    );
    // A crash right after recording, before any request: sent by the next start.
    let lost = Alerts::node_left_event("node-z", 42);
    assert!(journal.record(&lost, &["ops"]).await.unwrap());
    let (_alerts, _watcher) = process(journal.clone());
    let seen = wait_for(&recorder, "/ops", 4).await;
    assert_eq!(seen[3].1["event_id"], "node_left:node-z@42");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(recorder.on("/ops").len(), 4, "nothing else is repeated");
    assert!(journal.pending().await.unwrap().is_empty());
}

/// Puts one event's delivery back to pending, as a crash before the "sent"
/// write leaves it.
async fn sqlx_pending(db: &TestDb, event_id: &str) {
    match &db.db {
        reckon::db::Db::Sqlite(pool) => {
            sqlx::query("UPDATE alert_deliveries SET state = 'pending' WHERE event_id = $1")
                .bind(event_id)
                .execute(pool)
                .await
                .unwrap();
        }
        reckon::db::Db::Postgres(pool) => {
            sqlx::query("UPDATE alert_deliveries SET state = 'pending' WHERE event_id = $1")
                .bind(event_id)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}
