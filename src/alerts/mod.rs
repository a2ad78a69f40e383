//! Alerts: webhook targets in three formats (generic JSON, WeCom group robot,
//! DingTalk robot with its signature), over HTTPS (rustls; system roots plus
//! an optional `ca_file` per target) or plain HTTP, for the events an on-call
//! operator must hear about. [`Alerts::raise`] never blocks and never fails:
//! each event is recorded once in the journal under its stable id
//! (`kind:key`; an id already recorded — by this process, an earlier one or
//! another node — is dropped, so retries, restarts and repeated checks cause
//! no storm), sent by background tasks with retries and backoff, and every
//! failure is logged and counted in the metrics. The journal's crash
//! semantics are in [`journal`].
//!
//! Payload formats: docs/console.md#alerts cites the robots' documentation.

mod format;
pub mod journal;
mod watch;

pub use format::{dingtalk_sign, payload};
pub use journal::{Journal, JournalError};
pub use watch::{WatchError, Watcher, expected_business_date, sla_missed};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ledger::{JobName, RunId};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub kind: AlertKind,
    /// Identity of the event within its kind: the same key is alerted once
    /// (across restarts too, through the journal).
    pub key: String,
    /// One-line summary.
    pub title: String,
    /// Detail lines (errors, findings).
    pub lines: Vec<String>,
    pub job: Option<JobName>,
    pub business_date: Option<chrono::NaiveDate>,
    pub run_id: Option<RunId>,
    pub instance: Option<String>,
    /// When it happened (UTC, RFC 3339).
    pub at: chrono::DateTime<chrono::Utc>,
}

impl AlertEvent {
    /// `kind:key`: the stable id sent in every payload (receivers dedupe by it).
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.key)
    }
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
    /// `https://…` (the WeCom/DingTalk robot URL with its key or access
    /// token) or `http://…` (a receiver on the local network).
    pub url: String,
    /// PEM file of CA certificates trusted for this target besides the
    /// system's roots (a private CA, a TLS-inspecting egress proxy).
    pub ca_file: Option<std::path::PathBuf>,
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
            match uri.scheme_str() {
                Some("https") => {}
                Some("http") if hook.ca_file.is_none() => {}
                Some("http") => {
                    return Err(format!(
                        "alerts webhook `{}`: `ca_file` is for https:// urls; url `{}` is http://",
                        hook.name, hook.url
                    ));
                }
                _ => {
                    return Err(format!(
                        "alerts webhook `{}`: url `{}` must be https:// or http://",
                        hook.name, hook.url
                    ));
                }
            }
            if let Some(path) = &hook.ca_file {
                extra_roots(path).map_err(|e| format!("alerts webhook `{}`: {e}", hook.name))?;
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
    targets: Vec<Target>,
    /// Where events and deliveries are recorded (`None`: this process only).
    journal: Option<Journal>,
    /// Event ids this process raised (a cheap first filter before the journal).
    raised: Mutex<HashSet<String>>,
    delivery: Delivery,
    console_url: Option<String>,
    metrics: Metrics,
}

/// A webhook target with the HTTP(S) client that trusts its roots.
struct Target {
    settings: WebhookSettings,
    client: HttpClient,
}

/// Upper bound on remembered event ids (older ids are forgotten in bulk; the
/// journal still knows them).
const RAISED_KEYS_MAX: usize = 100_000;

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<hyper::body::Bytes>,
>;

/// The certificates of a PEM file (at least one).
fn extra_roots(
    path: &std::path::Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "ca_file {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The system's trusted roots (rustls-native-certs: the OS store, or the
/// files named by SSL_CERT_FILE / SSL_CERT_DIR).
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::warn!(error = %err, "alerts: a system root certificate could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            ignored,
            "alerts: no system root certificates; https targets need `ca_file`"
        );
    }
    roots
}

/// A client for `hook`: plain HTTP, or TLS 1.2/1.3 (rustls, ring) trusting
/// the system's roots plus the target's `ca_file`.
fn client_for(
    hook: &WebhookSettings,
    system: &rustls::RootCertStore,
) -> Result<HttpClient, String> {
    let mut roots = system.clone();
    if let Some(path) = &hook.ca_file {
        for cert in extra_roots(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

impl Alerts {
    /// A sink with no targets: events are counted and dropped.
    pub fn disabled(metrics: Metrics) -> Alerts {
        Alerts {
            inner: Arc::new(Inner {
                targets: Vec::new(),
                journal: None,
                raised: Mutex::new(HashSet::new()),
                delivery: Delivery {
                    retries: 0,
                    backoff: Duration::ZERO,
                    timeout: Duration::ZERO,
                },
                console_url: None,
                metrics,
            }),
        }
    }

    /// The sink for `settings`. With a `journal`, every event is recorded
    /// once across processes and deliveries left pending by an earlier
    /// process (a crash, a restart) are sent again now.
    pub fn start(
        settings: &AlertSettings,
        metrics: Metrics,
        journal: Option<Journal>,
    ) -> Result<Alerts, String> {
        settings.validate()?;
        if settings.webhooks.is_empty() {
            return Ok(Alerts::disabled(metrics));
        }
        let system = system_roots();
        let targets = settings
            .webhooks
            .iter()
            .map(|hook| {
                Ok(Target {
                    client: client_for(hook, &system)
                        .map_err(|e| format!("alerts webhook `{}`: {e}", hook.name))?,
                    settings: hook.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let alerts = Alerts {
            inner: Arc::new(Inner {
                targets,
                journal,
                raised: Mutex::new(HashSet::new()),
                delivery: settings.delivery()?,
                console_url: settings.console_url.clone(),
                metrics,
            }),
        };
        if alerts.inner.journal.is_some() {
            let resume = alerts.clone();
            tokio::spawn(async move { resume.resume().await });
        }
        Ok(alerts)
    }

    /// Sends again what an earlier process left pending.
    async fn resume(&self) {
        let Some(journal) = &self.inner.journal else {
            return;
        };
        match journal.pending().await {
            Ok(pending) => {
                if !pending.is_empty() {
                    tracing::info!(
                        deliveries = pending.len(),
                        "alerts: resending deliveries an earlier process left pending"
                    );
                }
                for p in pending {
                    self.remember(&p.event.event_id());
                    match self
                        .inner
                        .targets
                        .iter()
                        .position(|t| t.settings.name == p.target)
                    {
                        Some(index) => self.deliver(index, p.event.clone()),
                        // A target removed from [alerts] since: closed, not carried forever.
                        None => {
                            if let Err(err) = journal
                                .settle(
                                    &p.event.event_id(),
                                    &p.target,
                                    false,
                                    0,
                                    Some("target no longer configured"),
                                )
                                .await
                            {
                                tracing::warn!(error = %crate::error_chain::chain(&err), "alerts: cannot close a delivery");
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %crate::error_chain::chain(&err), "alerts: cannot read pending deliveries")
            }
        }
    }

    /// True when this process had not raised `event_id` yet (and now has).
    fn remember(&self, event_id: &str) -> bool {
        let mut raised = match self.inner.raised.lock() {
            Ok(raised) => raised,
            Err(poisoned) => poisoned.into_inner(),
        };
        if raised.len() >= RAISED_KEYS_MAX {
            raised.clear();
        }
        raised.insert(event_id.to_string())
    }

    fn forget(&self, event_id: &str) {
        if let Ok(mut raised) = self.inner.raised.lock() {
            raised.remove(event_id);
        }
    }

    /// Raises an event once; never blocks and never fails (the journal write
    /// and the deliveries happen in the background; failures are logged).
    pub fn raise(&self, event: AlertEvent) {
        let alerts = self.clone();
        tokio::spawn(async move {
            if let Err(err) = alerts.raise_recorded(event).await {
                tracing::error!(error = %crate::error_chain::chain(&err), "alert not recorded");
            }
        });
    }

    /// Raises an event once and returns when it is recorded in the journal
    /// (the watcher moves its cursor only after this). True when the event
    /// is new; an event id raised before, by this process or — through the
    /// journal — any other, is dropped.
    pub async fn raise_recorded(&self, event: AlertEvent) -> Result<bool, JournalError> {
        let id = event.event_id();
        if !self.remember(&id) {
            return Ok(false);
        }
        let wanted: Vec<usize> = self
            .inner
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.settings.events.is_empty() || t.settings.events.contains(&event.kind)
            })
            .map(|(i, _)| i)
            .collect();
        if let Some(journal) = &self.inner.journal {
            let names: Vec<&str> = wanted
                .iter()
                .map(|&i| self.inner.targets[i].settings.name.as_str())
                .collect();
            match journal.record(&event, &names).await {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(err) => {
                    self.forget(&id);
                    return Err(err);
                }
            }
        }
        self.inner.metrics.alert_raised(event.kind);
        tracing::warn!(kind = event.kind.as_str(), event_id = %id, "alert: {}", event.title);
        for index in wanted {
            self.deliver(index, event.clone());
        }
        Ok(true)
    }

    /// Delivers to one target in the background; each target retries on its
    /// own, so a slow robot delays no other.
    fn deliver(&self, index: usize, event: AlertEvent) {
        let alerts = self.clone();
        tokio::spawn(async move { alerts.deliver_one(index, &event).await });
    }

    /// A finished run's events: failed → `run_failed`; attention lines →
    /// `run_attention` (both keyed by the run id).
    pub fn run_events(run: &crate::ledger::RunRecord) -> Vec<AlertEvent> {
        use crate::ledger::RunStatus;
        let base = |kind: AlertKind, title: String, lines: Vec<String>| AlertEvent {
            kind,
            key: run.run_id.to_string(),
            title,
            lines,
            job: Some(run.job.clone()),
            business_date: Some(run.business_date),
            run_id: Some(run.run_id.clone()),
            instance: run.owner.clone(),
            at: run.finished_at.unwrap_or_else(chrono::Utc::now),
        };
        let mut events = Vec::new();
        if matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
            events.push(base(
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
            events.push(base(
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
        events
    }

    /// Raises a finished run's events ([`Alerts::run_events`]).
    pub fn run_finished(&self, run: &crate::ledger::RunRecord) {
        for event in Alerts::run_events(run) {
            self.raise(event);
        }
    }

    /// A node left the cluster: `registered` is the zxid of the registration
    /// that ended, so one departure is one event whichever leader sees it.
    pub fn node_left_event(instance: &str, registered: i64) -> AlertEvent {
        AlertEvent {
            kind: AlertKind::NodeLeft,
            key: format!("{instance}@{registered}"),
            title: format!("node {instance} left the cluster"),
            lines: vec![],
            job: None,
            business_date: None,
            run_id: None,
            instance: Some(instance.to_string()),
            at: chrono::Utc::now(),
        }
    }

    /// Raises [`Alerts::node_left_event`].
    pub fn node_left(&self, instance: &str, registered: i64) {
        self.raise(Alerts::node_left_event(instance, registered));
    }

    /// The cluster has a new leader: `holder` was elected with leader epoch
    /// `epoch` (keyed by the epoch: one event per election); `previous` is
    /// the leader alerted before, when known.
    pub fn leadership_event(holder: &str, epoch: i64, previous: Option<&str>) -> AlertEvent {
        AlertEvent {
            kind: AlertKind::LeadershipChanged,
            key: format!("epoch-{epoch}"),
            title: format!("{holder} is now the leader (leader epoch {epoch})"),
            lines: previous
                .map(|p| vec![format!("previous leader: {p}")])
                .unwrap_or_default(),
            job: None,
            business_date: None,
            run_id: None,
            instance: Some(holder.to_string()),
            at: chrono::Utc::now(),
        }
    }

    /// Raises [`Alerts::leadership_event`].
    pub fn leadership_changed(&self, holder: &str, epoch: i64, previous: Option<&str>) {
        self.raise(Alerts::leadership_event(holder, epoch, previous));
    }
}

impl Alerts {
    async fn deliver_one(&self, index: usize, event: &AlertEvent) {
        let target = &self.inner.targets[index];
        let hook = &target.settings;
        let delivery = self.inner.delivery;
        let metrics = &self.inner.metrics;
        let body = payload(hook.format, event, self.inner.console_url.as_deref()).to_string();
        let mut wait = delivery.backoff;
        let mut last_error = String::new();
        for attempt in 0..=delivery.retries {
            let url = match (&hook.secret, hook.format) {
                (Some(secret), WebhookFormat::Dingtalk) => {
                    let now_ms = chrono::Utc::now().timestamp_millis();
                    let sign = dingtalk_sign(secret, now_ms);
                    let sep = if hook.url.contains('?') { '&' } else { '?' };
                    format!("{}{sep}timestamp={now_ms}&sign={sign}", hook.url)
                }
                _ => hook.url.clone(),
            };
            match send(&target.client, &url, &body, delivery.timeout).await {
                Ok(()) => {
                    metrics.alert_sent(&hook.name, event.kind);
                    self.settle(event, hook, true, attempt + 1, None).await;
                    return;
                }
                Err(reason) => {
                    metrics.alert_failed(&hook.name, event.kind);
                    tracing::warn!(
                        target = %hook.name,
                        kind = event.kind.as_str(),
                        key = %event.key,
                        attempt = attempt + 1,
                        "alert not delivered: {reason}"
                    );
                    last_error = reason;
                }
            }
            if attempt < delivery.retries {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2).min(Duration::from_secs(300));
            }
        }
        metrics.alert_given_up(&hook.name, event.kind);
        tracing::error!(target = %hook.name, kind = event.kind.as_str(), key = %event.key,
            "alert given up after {} tries", delivery.retries + 1);
        self.settle(event, hook, false, delivery.retries + 1, Some(&last_error))
            .await;
    }

    /// Writes a delivery's end to the journal; a failed write leaves it
    /// pending (sent again by the next start: a repeat, never a loss).
    async fn settle(
        &self,
        event: &AlertEvent,
        hook: &WebhookSettings,
        sent: bool,
        tries: u32,
        last_error: Option<&str>,
    ) {
        if let Some(journal) = &self.inner.journal
            && let Err(err) = journal
                .settle(&event.event_id(), &hook.name, sent, tries, last_error)
                .await
        {
            tracing::warn!(target = %hook.name, event_id = %event.event_id(),
                error = %crate::error_chain::chain(&err), "alert delivery not recorded; it will be sent again on restart");
        }
    }
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
