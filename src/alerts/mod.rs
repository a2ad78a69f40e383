//! Alerts: webhook targets in three formats (generic JSON, WeCom group robot,
//! DingTalk robot with its signature) for the events an on-call operator must
//! hear about. [`Alerts::raise`] never blocks and never fails: each event is
//! queued once (an event key already raised is dropped, so retries of a run or
//! repeated checks cause no storm), sent by a background task with retries and
//! backoff, and every failure is logged and counted in the metrics.
//!
//! Payload formats: docs/console.md#alerts cites the robots' documentation.

mod format;
mod watch;

pub use format::{dingtalk_sign, payload};
pub use watch::{Watcher, expected_business_date, sla_missed};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A run ended failed (or cancelled).
    RunFailed,
    /// A run ended with findings that need a person: new breaks, dead
    /// messages, rejected rows (its outcome's `attention`).
    RunAttention,
    /// A job's `deadline` passed without a succeeded run for the expected date.
    SlaMiss,
    /// A node left the cluster.
    NodeLeft,
    /// This node gained or lost leadership.
    LeadershipChanged,
}

impl AlertKind {
    /// The name used in payloads, configuration and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RunFailed => "run_failed",
            AlertKind::RunAttention => "run_attention",
            AlertKind::SlaMiss => "sla_miss",
            AlertKind::NodeLeft => "node_left",
            AlertKind::LeadershipChanged => "leadership_changed",
        }
    }
}

/// One event to tell people about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    pub kind: AlertKind,
    /// Identity of the event: the same key is sent once per process.
    pub key: String,
    /// One-line summary.
    pub title: String,
    /// Detail lines (errors, findings).
    pub lines: Vec<String>,
    pub job: Option<String>,
    pub business_date: Option<chrono::NaiveDate>,
    pub run_id: Option<String>,
    pub instance: Option<String>,
    /// When it happened (UTC, RFC 3339).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Payload format of a webhook target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"kind": …, "title": …, …}`: the event as JSON.
    Generic,
    /// WeCom (企业微信) group robot: `{"msgtype":"markdown","markdown":{"content":…}}`.
    Wecom,
    /// DingTalk (钉钉) custom robot: markdown message, signed URL when `secret` is set.
    Dingtalk,
}

/// One `[[alerts.webhooks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Shown in logs and metrics.
    pub name: String,
    pub format: WebhookFormat,
    /// `http://…` (the WeCom/DingTalk robot URL with its key or access token).
    pub url: String,
    /// DingTalk "加签" secret (`SEC…`): the request is signed with it.
    pub secret: Option<String>,
    /// Only these events (default: all).
    #[serde(default)]
    pub events: Vec<AlertKind>,
}

/// The `[alerts]` table of reckon.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// Tries per alert and target after the first (default 4).
    pub retries: Option<u32>,
    /// First backoff, doubled per retry (default `2s`).
    pub backoff: Option<String>,
    /// Link target for "open in console" lines (e.g. `http://ops:8080`).
    pub console_url: Option<String>,
}

/// Delivery timing.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub retries: u32,
    pub backoff: Duration,
    pub timeout: Duration,
}

impl AlertSettings {
    /// Retries and backoff, validated.
    pub fn delivery(&self) -> Result<Delivery, String> {
        let backoff = match &self.backoff {
            Some(text) => humantime::parse_duration(text)
                .map_err(|e| format!("alerts.backoff `{text}`: {e}"))?,
            None => Duration::from_secs(2),
        };
        Ok(Delivery {
            retries: self.retries.unwrap_or(4),
            backoff,
            timeout: Duration::from_secs(10),
        })
    }

    /// Checks every target: a URL hyper can send to, a secret only for DingTalk.
    pub fn validate(&self) -> Result<(), String> {
        self.delivery()?;
        for hook in &self.webhooks {
            let uri: hyper::Uri = hook
                .url
                .parse()
                .map_err(|e| format!("alerts webhook `{}`: url `{}`: {e}", hook.name, hook.url))?;
            if uri.scheme_str() != Some("http") {
                // The hyper client here speaks plain HTTP; a TLS-terminating
                // egress proxy in front of the robots is the usual setup.
                return Err(format!(
                    "alerts webhook `{}`: url `{}` must be http:// (put an egress proxy in front of https robots)",
                    hook.name, hook.url
                ));
            }
            if hook.secret.is_some() && hook.format != WebhookFormat::Dingtalk {
                return Err(format!(
                    "alerts webhook `{}`: `secret` is DingTalk's signature key; format is not dingtalk",
                    hook.name
                ));
            }
        }
        Ok(())
    }
}

/// The sink the node loop (and the watcher) raise events into. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    sender: Option<mpsc::UnboundedSender<AlertEvent>>,
    raised: Mutex<HashSet<(AlertKind, String)>>,
    metrics: Metrics,
}

/// Upper bound on remembered event keys (older keys are forgotten in bulk).
const RAISED_KEYS_MAX: usize = 100_000;

impl Alerts {
    /// A sink with no targets: events are counted and dropped.
    pub fn disabled(metrics: Metrics) -> Alerts {
        Alerts {
            inner: Arc::new(Inner {
                sender: None,
                raised: Mutex::new(HashSet::new()),
                metrics,
            }),
        }
    }

    /// Starts the delivery task for `settings` (stops with `shutdown`).
    pub fn start(
        settings: &AlertSettings,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Result<Alerts, String> {
        settings.validate()?;
        if settings.webhooks.is_empty() {
            return Ok(Alerts::disabled(metrics));
        }
        let delivery = settings.delivery()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let targets = Arc::new(settings.webhooks.clone());
        let console_url = settings.console_url.clone();
        tokio::spawn(deliver_all(
            receiver,
            targets,
            delivery,
            console_url,
            metrics.clone(),
            shutdown,
        ));
        Ok(Alerts {
            inner: Arc::new(Inner {
                sender: Some(sender),
                raised: Mutex::new(HashSet::new()),
                metrics,
            }),
        })
    }

    /// Raises an event once: a key already raised is dropped. Never blocks.
    pub fn raise(&self, event: AlertEvent) {
        {
            let mut raised = match self.inner.raised.lock() {
                Ok(raised) => raised,
                Err(poisoned) => poisoned.into_inner(),
            };
            if raised.len() >= RAISED_KEYS_MAX {
                raised.clear();
            }
            if !raised.insert((event.kind, event.key.clone())) {
                return;
            }
        }
        self.inner.metrics.alert_raised(event.kind);
        tracing::warn!(kind = event.kind.as_str(), key = %event.key, "alert: {}", event.title);
        if let Some(sender) = &self.inner.sender {
            let _ = sender.send(event);
        }
    }

    /// A finished run: failed → `run_failed`; attention lines → `run_attention`.
    pub fn run_finished(&self, run: &crate::ledger::RunRecord) {
        use crate::ledger::RunStatus;
        let base = |kind: AlertKind, title: String, lines: Vec<String>| AlertEvent {
            kind,
            key: run.run_id.clone(),
            title,
            lines,
            job: Some(run.job.clone()),
            business_date: Some(run.business_date),
            run_id: Some(run.run_id.clone()),
            instance: run.owner.clone(),
            at: run.finished_at.unwrap_or_else(chrono::Utc::now),
        };
        if matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
            self.raise(base(
                AlertKind::RunFailed,
                format!(
                    "{} for {} {} (attempt {})",
                    run.job, run.business_date, run.status, run.attempt
                ),
                run.error.iter().cloned().collect(),
            ));
        }
        let attention: Vec<String> = run
            .outcome
            .as_ref()
            .and_then(|o| o.get("attention"))
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !attention.is_empty() {
            self.raise(base(
                AlertKind::RunAttention,
                format!(
                    "{} for {} needs attention ({} findings)",
                    run.job,
                    run.business_date,
                    attention.len()
                ),
                attention,
            ));
        }
    }

    /// A node left the cluster (raised by the leader that saw it go).
    pub fn node_left(&self, instance: &str, session_epoch: &str) {
        self.raise(AlertEvent {
            kind: AlertKind::NodeLeft,
            key: format!("{instance}@{session_epoch}"),
            title: format!("node {instance} left the cluster"),
            lines: vec![],
            job: None,
            business_date: None,
            run_id: None,
            instance: Some(instance.to_string()),
            at: chrono::Utc::now(),
        });
    }

    /// This node became leader (`leads`) or stopped leading.
    pub fn leadership_changed(&self, instance: &str, leads: bool, change: u64) {
        let title = if leads {
            format!("{instance} is now the leader")
        } else {
            format!("{instance} is no longer the leader")
        };
        self.raise(AlertEvent {
            kind: AlertKind::LeadershipChanged,
            key: format!("{instance}#{change}"),
            title,
            lines: vec![],
            job: None,
            business_date: None,
            run_id: None,
            instance: Some(instance.to_string()),
            at: chrono::Utc::now(),
        });
    }
}

async fn deliver_all(
    mut receiver: mpsc::UnboundedReceiver<AlertEvent>,
    targets: Arc<Vec<WebhookSettings>>,
    delivery: Delivery,
    console_url: Option<String>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<hyper::body::Bytes>>();
    loop {
        let event = tokio::select! {
            event = receiver.recv() => match event { Some(e) => e, None => return },
            _ = shutdown.cancelled() => return,
        };
        for target in targets.iter() {
            if !target.events.is_empty() && !target.events.contains(&event.kind) {
                continue;
            }
            // Each target retries on its own, so a slow robot delays no other.
            let (client, target, event, metrics, console_url) = (
                client.clone(),
                target.clone(),
                event.clone(),
                metrics.clone(),
                console_url.clone(),
            );
            tokio::spawn(async move {
                deliver_one(
                    &client,
                    &target,
                    &event,
                    delivery,
                    console_url.as_deref(),
                    &metrics,
                )
                .await
            });
        }
    }
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<hyper::body::Bytes>,
>;

async fn deliver_one(
    client: &HttpClient,
    target: &WebhookSettings,
    event: &AlertEvent,
    delivery: Delivery,
    console_url: Option<&str>,
    metrics: &Metrics,
) {
    let body = payload(target.format, event, console_url).to_string();
    let mut wait = delivery.backoff;
    for attempt in 0..=delivery.retries {
        let url = match (&target.secret, target.format) {
            (Some(secret), WebhookFormat::Dingtalk) => {
                let now_ms = chrono::Utc::now().timestamp_millis();
                let sign = dingtalk_sign(secret, now_ms);
                let sep = if target.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}timestamp={now_ms}&sign={sign}", target.url)
            }
            _ => target.url.clone(),
        };
        match send(client, &url, &body, delivery.timeout).await {
            Ok(()) => {
                metrics.alert_sent(&target.name, event.kind);
                return;
            }
            Err(reason) => {
                metrics.alert_failed(&target.name, event.kind);
                tracing::warn!(
                    target = %target.name,
                    kind = event.kind.as_str(),
                    key = %event.key,
                    attempt = attempt + 1,
                    "alert not delivered: {reason}"
                );
            }
        }
        if attempt < delivery.retries {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2).min(Duration::from_secs(300));
        }
    }
    metrics.alert_given_up(&target.name, event.kind);
    tracing::error!(target = %target.name, kind = event.kind.as_str(), key = %event.key,
        "alert given up after {} tries", delivery.retries + 1);
}

/// One POST; a non-2xx status or a robot's `errcode` ≠ 0 is a failure.
async fn send(client: &HttpClient, url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    use http_body_util::BodyExt;
    let request = hyper::Request::post(url)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(http_body_util::Full::new(hyper::body::Bytes::from(
            body.to_string(),
        )))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = tokio::time::timeout(timeout, response.into_body().collect())
        .await
        .map_err(|_| "body timed out".to_string())?
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    // WeCom and DingTalk answer 200 with {"errcode": N, "errmsg": …}.
    if let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(code) = answer.get("errcode").and_then(|c| c.as_i64())
        && code != 0
    {
        return Err(format!(
            "errcode {code}: {}",
            answer.get("errmsg").and_then(|m| m.as_str()).unwrap_or("")
        ));
    }
    Ok(())
}
