//! The read pages, `/metrics`, `/healthz` and `/readyz`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Local, NaiveDate, Utc};
use serde::Deserialize;

use super::auth::{self, Session};
use super::html::{Chrome, Tab, cells, csrf_field, esc, flash, page, pill, table, url};
use super::{App, Shared};
use crate::jobs::compensation::{Message, State as MsgState, store};
use crate::jobs::recon::breaks::{self, Break, BreakFilter, BreakState};
use crate::ledger::{CellRun, RunFilter, RunRecord, RunStatus};
use crate::money::format_scaled;

/// Rows shown at most on list pages (the rest is counted, and filters narrow it).
const LIST_MAX: i64 = 500;
/// A prepared or committed message untouched this long is "stuck".
const STUCK_AFTER_MS: i64 = 3_600_000;
/// Largest summary.csv rendered inline.
const SUMMARY_BYTES_MAX: u64 = 1 << 20;

/// Who is asking: their session (new if they had none) and operator.
pub(super) struct Visit {
    pub session: Session,
    /// Set-Cookie to send (a new or renewed session).
    pub set_cookie: Option<String>,
    pub operator: Option<String>,
    /// Authenticated by a bearer token (no cookie, no CSRF needed).
    pub bearer: bool,
}

pub(super) fn now_secs() -> i64 {
    Utc::now().timestamp()
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl App {
    pub(super) fn visit(&self, headers: &HeaderMap) -> Visit {
        let now = now_secs();
        if let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            && let Some(op) = auth::verify_token(&self.state.settings, token.trim())
        {
            let mut session = self.keys.fresh(now, 60);
            session.op = Some(op.clone());
            return Visit {
                session,
                set_cookie: None,
                operator: Some(op),
                bearer: true,
            };
        }
        let opened = cookie_value(headers, auth::COOKIE).and_then(|v| self.keys.open(&v, now));
        let (mut session, set_cookie) = match opened {
            Some(s) => (s, None),
            None => {
                let s = self.keys.fresh(now, self.ttl_secs);
                let c = self.cookie(&s);
                (s, Some(c))
            }
        };
        // An operator removed from the configuration is signed out.
        if let Some(op) = &session.op
            && !self.state.settings.operators.iter().any(|o| &o.name == op)
        {
            session.op = None;
        }
        Visit {
            operator: session.op.clone(),
            session,
            set_cookie,
            bearer: false,
        }
    }

    pub(super) fn cookie(&self, session: &Session) -> String {
        let secure = if self.state.settings.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            auth::COOKIE,
            self.keys.seal(session),
            self.ttl_secs
        )
    }

    /// A whole HTML page for this visit.
    pub(super) async fn render(
        &self,
        visit: &Visit,
        title: &str,
        tab: Tab,
        body: &str,
    ) -> Response {
        let csrf = self.keys.csrf(&visit.session);
        let leader = self.state.runner.coordinator().is_leader().await;
        let chrome = Chrome {
            operator: visit.operator.as_deref(),
            csrf: &csrf,
            node: self.state.runner.coordinator().instance_id(),
            leader,
        };
        let html = page(title, tab, &chrome, body);
        with_cookie(visit, html_response(StatusCode::OK, html))
    }

    /// Read pages: open when configured, otherwise to signed-in operators.
    pub(super) fn may_read(&self, visit: &Visit) -> bool {
        self.read_open || visit.operator.is_some()
    }
}

pub(super) fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
        .into_response()
}

pub(super) fn with_cookie(visit: &Visit, mut response: Response) -> Response {
    if let Some(cookie) = &visit.set_cookie
        && let Ok(value) = HeaderValue::from_str(cookie)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Sends a visitor who may not read to the sign-in page.
fn to_login(visit: &Visit, next: &str) -> Response {
    with_cookie(
        visit,
        Redirect::to(&format!("/login?next={}", url(next))).into_response(),
    )
}

macro_rules! readable {
    ($app:expr, $headers:expr, $path:expr) => {{
        let visit = $app.visit(&$headers);
        if !$app.may_read(&visit) {
            return to_login(&visit, $path);
        }
        visit
    }};
}

/// An error shown as a page.
async fn error_page(app: &App, visit: &Visit, status: StatusCode, text: &str) -> Response {
    let mut response = app
        .render(
            visit,
            status.canonical_reason().unwrap_or("Error"),
            Tab::None,
            &flash("error", text),
        )
        .await;
    *response.status_mut() = status;
    response
}

/// The database (or registry) did not answer: 503 with the reason.
async fn unavailable(
    app: &App,
    visit: &Visit,
    err: &(dyn std::error::Error + Send + Sync),
) -> Response {
    error_page(
        app,
        visit,
        StatusCode::SERVICE_UNAVAILABLE,
        &crate::error_chain::chain(err),
    )
    .await
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => {
            let ms = (e - s).num_milliseconds().max(0);
            if ms < 10_000 {
                format!("{:.2}s", ms as f64 / 1000.0)
            } else if ms < 3_600_000 {
                format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
            } else {
                format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
            }
        }
        _ => String::new(),
    }
}

fn flash_from(q: &HashMap<String, String>) -> String {
    flashes(
        q.get("ok").map(String::as_str),
        q.get("error").map(String::as_str),
    )
}

/// The message an action left in the query (`?ok=…` / `?error=…`).
fn flashes(ok: Option<&str>, error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(ok) = ok {
        out.push_str(&flash("ok", ok));
    }
    if let Some(err) = error {
        out.push_str(&flash("error", err));
    }
    out
}

/// The grid's status of a latest attempt (`stale` = pending/running whose
/// owner stopped heartbeating for longer than the run lease).
fn cell_status(cell: &CellRun, lease: Duration, now: DateTime<Utc>) -> &'static str {
    match cell.status {
        RunStatus::Pending | RunStatus::Running
            if cell.heartbeat_at.unwrap_or(cell.created_at) < now - lease =>
        {
            "stale"
        }
        status => status.as_str(),
    }
}

/// Fire times listed at most per job and grid (a cron firing every minute
/// over 62 days stays under it only roughly; past it every date counts).
const GRID_FIRES_MAX: usize = 20_000;

/// Business dates in `start..=end` that `job`'s cron fired for by `now`:
/// "not run" is shown only there (a weekday job's weekend, a monthly job's
/// other days, dates still to come stay blank). `None`: too many fires to
/// list, every date up to now counts.
fn due_dates(
    job: &crate::catalog::JobDef,
    start: NaiveDate,
    end: NaiveDate,
    now: DateTime<Utc>,
) -> Option<std::collections::HashSet<NaiveDate>> {
    let mut due = std::collections::HashSet::new();
    let Some(cron) = &job.cron else {
        return Some(due);
    };
    // A fire's local day is at most a day or two from its business date.
    let from = (start - Duration::days(3)).and_hms_opt(0, 0, 0)?.and_utc();
    for (n, at) in cron.fires_after(job.time_zone, from).enumerate() {
        if at > now {
            break;
        }
        if n >= GRID_FIRES_MAX {
            return None;
        }
        let date = crate::schedule::business_date_for(job, at);
        if date > end + Duration::days(3) {
            break;
        }
        if date >= start && date <= end {
            due.insert(date);
        }
    }
    Some(due)
}

#[derive(Deserialize, Default)]
pub(super) struct GridQuery {
    days: Option<String>,
    end: Option<String>,
    ok: Option<String>,
    error: Option<String>,
}

/// A filter's `<option>`s: `values` with `selected` marked, after an
/// `any` option (empty value) when `any`.
fn options<'a>(
    values: impl IntoIterator<Item = &'a str>,
    selected: Option<&str>,
    any: bool,
) -> String {
    let mut out = String::new();
    if any {
        out.push_str("<option value=\"\">any</option>");
    }
    for value in values {
        let sel = if selected == Some(value) {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{sel}>{}</option>", esc(value));
    }
    out
}

fn parse_date(text: Option<&str>) -> Option<NaiveDate> {
    text.filter(|t| !t.is_empty())
        .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
}

/// `GET /`: jobs × the last N business dates.
pub(super) async fn grid(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<GridQuery>,
) -> Response {
    let visit = readable!(app, headers, "/");
    let runner = &app.state.runner;
    let ledger = runner.ledger();
    let now = Utc::now();
    let days = q
        .days
        .as_deref()
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(i64::from(app.state.settings.grid_days.unwrap_or(14)))
        .clamp(1, 62);
    let catalog = runner.catalog();
    let expected = catalog
        .jobs()
        .map(|j| crate::schedule::business_date_for(j, now))
        .max()
        .unwrap_or_else(|| now.date_naive());
    let mut note = String::new();
    let end = match parse_date(q.end.as_deref()) {
        Some(end) => end,
        None => match ledger.latest_business_date().await {
            // Nothing ran in the window (a demo book, a long pause): show the latest runs.
            Ok(Some(latest)) if latest < expected - Duration::days(days - 1) => {
                note = format!(
                    "<p class=\"muted\">No runs in the last {days} business dates; showing the {days} dates up to the latest run ({latest}). <a href=\"/?end={expected}\">Show up to {expected}</a></p>"
                );
                latest
            }
            Ok(_) => expected,
            Err(err) => {
                return error_page(
                    &app,
                    &visit,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("ledger: {}", crate::error_chain::chain(&err)),
                )
                .await;
            }
        },
    };
    let start = end - Duration::days(days - 1);
    let cells = match ledger.latest_attempts(start, end).await {
        Ok(cells) => cells,
        Err(err) => {
            return error_page(
                &app,
                &visit,
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("ledger: {}", crate::error_chain::chain(&err)),
            )
            .await;
        }
    };
    // Jobs disabled at run time: a single node's `disabled` table, or
    // ZooKeeper through this node's session. Unreadable, the page says so
    // (no job is shown as disabled then, and the reader is told not to trust that).
    let disabled_jobs: Result<BTreeSet<String>, String> = match &app.state.cluster {
        None => crate::toggles::node_switches(ledger.db())
            .await
            .map(|s| s.jobs)
            .map_err(|e| crate::error_chain::chain(&e)),
        Some(cluster) => match cluster.switches() {
            Ok(switches) => switches
                .disabled(crate::coord::zookeeper::status::Toggle::Job)
                .await
                .map_err(|e| crate::error_chain::chain(&e)),
            Err(err) => Err(crate::error_chain::chain(&err)),
        },
    };
    let disabled_jobs = disabled_jobs.unwrap_or_else(|err| {
        note.push_str(&flash(
            "error",
            &format!("Which jobs are disabled is unknown (not shown below): {err}"),
        ));
        BTreeSet::new()
    });
    let by: HashMap<(&str, NaiveDate), &CellRun> = cells
        .iter()
        .map(|c| ((c.job.as_str(), c.business_date), c))
        .collect();
    let lease = Duration::from_std(runner.config().run_lease).unwrap_or(Duration::days(365));
    let dates: Vec<NaiveDate> = (0..days).map(|i| end - Duration::days(i)).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut body = flashes(q.ok.as_deref(), q.error.as_deref());
    body.push_str(&note);
    let mut table = String::from("<table class=\"grid\"><thead><tr><th>Job</th><th>Next fire</th>");
    for d in &dates {
        let _ = write!(
            table,
            "<th>{}<span class=\"sub\">{}</span></th>",
            d.format("%m-%d"),
            d.format("%a")
        );
    }
    table.push_str("</tr></thead><tbody>");
    for job in catalog.dependency_order() {
        let next = crate::schedule::next_fires(job, now, 1)
            .first()
            .map(|t| {
                let local = t.with_timezone(&job.time_zone);
                format!(
                    "{}<span class=\"sub\">{}</span>",
                    local.format("%m-%d %H:%M"),
                    esc(job.time_zone.name())
                )
            })
            .unwrap_or_else(|| "<span class=\"muted\">manual</span>".into());
        let disabled = if job.enabled && !disabled_jobs.contains(job.name.as_str()) {
            String::new()
        } else {
            format!(" {}", pill("disabled"))
        };
        let _ = write!(
            table,
            "<tr><td class=\"job\"><b>{}</b>{disabled}<span class=\"sub\">{}</span></td><td>{next}</td>",
            esc(&job.name),
            esc(&job.kind)
        );
        let due = due_dates(job, start, end, now);
        let paused = disabled_jobs.contains(job.name.as_str());
        for d in &dates {
            match by.get(&(job.name.as_str(), *d)) {
                Some(cell) => {
                    let status = cell_status(cell, lease, now);
                    *counts.entry(status).or_default() += 1;
                    let attempt = if cell.attempt > 1 {
                        format!("<span class=\"sub\">attempt {}</span>", cell.attempt)
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        table,
                        "<td><a class=\"pill {status}\" href=\"/runs/{}\" title=\"{} {} attempt {}\">{status}</a>{attempt}</td>",
                        url(&cell.run_id),
                        esc(&job.name),
                        d,
                        cell.attempt
                    );
                }
                None if job.enabled
                    && !paused
                    && due.as_ref().is_none_or(|due| due.contains(d)) =>
                {
                    *counts.entry("not run").or_default() += 1;
                    table.push_str("<td><span class=\"pill not-run\">not run</span></td>");
                }
                None => table.push_str("<td><span class=\"muted\">·</span></td>"),
            }
        }
        table.push_str("</tr>");
    }
    table.push_str("</tbody></table>");
    body.push_str("<div class=\"cards\">");
    for status in [
        "succeeded",
        "failed",
        "running",
        "pending",
        "stale",
        "not run",
    ] {
        let _ = write!(
            body,
            "<div class=\"card\"><b>{}</b><span>{status}</span></div>",
            counts.get(status).copied().unwrap_or(0)
        );
    }
    let _ = write!(
        body,
        "</div><p class=\"muted\">Business dates {start} to {end}, newest first; each cell is the latest attempt. \
         <a href=\"/?end={}&amp;days={days}\">◀ earlier</a> · <a href=\"/?end={}&amp;days={days}\">later ▶</a></p>",
        start - Duration::days(1),
        end + Duration::days(days)
    );
    body.push_str(&table);
    if visit.operator.is_some() {
        let csrf = app.keys.csrf(&visit.session);
        let mut options = String::new();
        for job in catalog.jobs() {
            let _ = write!(options, "<option>{}</option>", esc(&job.name));
        }
        let _ = write!(
            body,
            "<h2>Run a job</h2><div class=\"panel\"><form method=\"post\" action=\"/actions/run\">{}\
             <label>Job<select name=\"job\">{options}</select></label>\
             <label>Business date<input name=\"date\" placeholder=\"YYYY-MM-DD\" size=\"11\"></label>\
             <label>or from<input name=\"from\" placeholder=\"YYYY-MM-DD\" size=\"11\"></label>\
             <label>to<input name=\"to\" placeholder=\"YYYY-MM-DD\" size=\"11\"></label>\
             <label>Reason<input name=\"reason\" required size=\"30\"></label>\
             <button>Run</button></form><p class=\"muted\">An empty date runs the job's business date for now; from/to is a backfill in date order.</p></div>",
            csrf_field(&csrf)
        );
    }
    app.render(&visit, "Grid", Tab::Grid, &body).await
}

#[derive(Deserialize, Default)]
pub(super) struct RunsQuery {
    job: Option<String>,
    date: Option<String>,
    status: Option<String>,
}

/// `GET /runs`: run history, newest first.
pub(super) async fn runs(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<RunsQuery>,
) -> Response {
    let visit = readable!(app, headers, "/runs");
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<RunStatus>().ok());
    let filter = RunFilter {
        job: q
            .job
            .as_deref()
            .filter(|j| !j.is_empty())
            .map(crate::ledger::JobName::from),
        business_date: parse_date(q.date.as_deref()),
        status,
        limit: 200,
    };
    let found = match app.state.runner.ledger().runs(&filter).await {
        Ok(found) => found,
        Err(err) => {
            return unavailable(&app, &visit, &err).await;
        }
    };
    let mut body = String::new();
    let jobs = options(
        app.state.runner.catalog().jobs().map(|j| j.name.as_str()),
        filter.job.as_deref(),
        true,
    );
    let statuses = options(
        ["pending", "running", "succeeded", "failed", "cancelled"],
        status.map(|x| x.as_str()),
        true,
    );
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\"><label>Job<select name=\"job\">{jobs}</select></label>\
         <label>Business date<input name=\"date\" value=\"{}\" placeholder=\"YYYY-MM-DD\" size=\"11\"></label>\
         <label>Status<select name=\"status\">{statuses}</select></label><button class=\"secondary\">Filter</button></form>",
        esc(q.date.as_deref().unwrap_or(""))
    );
    body.push_str(&run_table(&found));
    if found.len() as i64 >= filter.limit {
        let _ = write!(
            body,
            "<p class=\"muted\">The newest {} runs; filter to see older ones.</p>",
            filter.limit
        );
    }
    app.render(&visit, "Runs", Tab::Runs, &body).await
}

fn run_table(runs: &[RunRecord]) -> String {
    let rows = runs.iter().map(|r| {
        format!(
            "<td class=\"mono\"><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            url(&r.run_id),
            esc(&r.run_id),
            esc(&r.job),
            r.business_date,
            r.attempt,
            r.trigger,
            pill(r.status.as_str()),
            esc(&r.requested_by),
            esc(r.reason.as_deref().unwrap_or("")),
            time(r.started_at),
            duration(r.started_at, r.finished_at)
        )
    });
    table(
        "",
        &[
            "Run",
            "Job",
            "Business date",
            "#Attempt",
            "Trigger",
            "Status",
            "Requested by",
            "Reason",
            "Started",
            "Duration",
        ],
        rows,
        Some("No runs."),
    )
}

/// The reports of a run as recorded in its outcome.
pub(super) fn reports_of(run: &RunRecord) -> Vec<std::path::PathBuf> {
    run.outcome
        .as_ref()
        .and_then(|o| o.get("reports"))
        .and_then(|r| r.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(std::path::PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /runs/{id}`.
pub(super) async fn run(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let visit = readable!(app, headers, &format!("/runs/{}", url(&id)));
    let ledger = app.state.runner.ledger();
    let id = crate::ledger::RunId::from(id);
    let run = match ledger.run(&id).await {
        Ok(run) => run,
        Err(crate::ledger::LedgerError::UnknownRun(_)) => {
            return error_page(
                &app,
                &visit,
                StatusCode::NOT_FOUND,
                &format!("There is no run {id}."),
            )
            .await;
        }
        Err(err) => {
            return unavailable(&app, &visit, &err).await;
        }
    };
    let (shards, events, children) = match (
        ledger.shards(&id).await,
        ledger.events(&id).await,
        ledger.reruns_of(&id).await,
    ) {
        (Ok(s), Ok(e), Ok(c)) => (s, e, c),
        (Err(err), _, _) | (_, Err(err), _) | (_, _, Err(err)) => {
            return unavailable(&app, &visit, &err).await;
        }
    };
    let mut body = flash_from(&q);
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>Run</dt><dd class=\"mono\">{}</dd><dt>Job</dt><dd><b>{}</b></dd><dt>Business date</dt><dd>{}</dd>\
         <dt>Attempt</dt><dd>{} ({})</dd><dt>Status</dt><dd>{}</dd><dt>Requested by</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd>\
         <dt>Owner</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Finished</dt><dd>{} {}</dd>",
        esc(&run.run_id),
        esc(&run.job),
        run.business_date,
        run.attempt,
        run.trigger,
        pill(run.status.as_str()),
        esc(&run.requested_by),
        esc(run.reason.as_deref().unwrap_or("—")),
        esc(run.owner.as_deref().unwrap_or("—")),
        time(Some(run.created_at)),
        time(run.started_at),
        time(run.finished_at),
        duration(run.started_at, run.finished_at),
    );
    if let Some(error) = &run.error {
        let _ = write!(body, "<dt>Error</dt><dd class=\"err\">{}</dd>", esc(error));
    }
    if let Some(parent) = &run.parent_run {
        let only = if run.failed_only {
            " (failed shards only)"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<dt>Rerun of</dt><dd class=\"mono\"><a href=\"/runs/{}\">{}</a>{only}</dd>",
            url(parent),
            esc(parent)
        );
    }
    body.push_str("</dl>");
    let attention: Vec<&str> = run
        .outcome
        .as_ref()
        .and_then(|o| o.get("attention"))
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    if !attention.is_empty() {
        body.push_str("<h2>Needs attention</h2><div class=\"panel\"><ul>");
        for line in attention {
            let _ = write!(body, "<li>{}</li>", esc(line));
        }
        body.push_str("</ul></div>");
    }
    if run.status.is_final() && visit.operator.is_some() {
        let _ = write!(
            body,
            "<h2>Rerun</h2><div class=\"panel\"><form method=\"post\" action=\"/actions/rerun\">{}\
             <input type=\"hidden\" name=\"run_id\" value=\"{}\">\
             <label>Reason<input name=\"reason\" required size=\"40\"></label>\
             <label style=\"flex-direction:row;align-items:center;gap:6px\"><input type=\"checkbox\" name=\"failed_only\" value=\"on\"> failed shards only</label>\
             <button>Rerun</button></form></div>",
            csrf_field(&app.keys.csrf(&visit.session)),
            esc(&run.run_id)
        );
    }
    let shard_rows = shards.iter().map(|s| {
        let carried = s
            .carried_from
            .as_ref()
            .map(|c| {
                format!(
                    " <span class=\"muted\">carried from <a href=\"/runs/{}\">{}</a></span>",
                    url(c),
                    esc(&c.chars().take(13).collect::<String>())
                )
            })
            .unwrap_or_default();
        format!(
            "<td class=\"num\">{}</td><td>{}{carried}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"err\">{}</td>",
            s.item,
            pill(s.status.as_str()),
            esc(s.instance.as_deref().unwrap_or("")),
            s.epoch.map(|e| e.to_string()).unwrap_or_default(),
            s.attempts,
            duration(s.started_at, s.finished_at),
            s.rows_in,
            s.rows_out,
            esc(s.error.as_deref().unwrap_or(""))
        )
    });
    body.push_str("<h2>Shards</h2>");
    body.push_str(&table(
        "",
        &[
            "#Item",
            "Status",
            "Instance",
            "#Epoch",
            "#Attempts",
            "Duration",
            "#Rows in",
            "#Rows out",
            "Error",
        ],
        shard_rows,
        Some("No shards yet."),
    ));
    if !children.is_empty() {
        body.push_str("<h2>Reruns of this run</h2>");
        body.push_str(&run_table(&children));
    }
    let reports = reports_of(&run);
    body.push_str("<h2>Reports</h2>");
    if reports.is_empty() {
        body.push_str("<p class=\"muted\">No reports recorded.</p>");
    } else {
        body.push_str("<div class=\"panel\"><ul>");
        for (n, path) in reports.iter().enumerate() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let _ = write!(
                body,
                "<li><a href=\"/runs/{}/reports/{n}\">{}</a> <span class=\"muted mono\">{}</span></li>",
                url(&run.run_id),
                esc(&name),
                esc(&path.display().to_string())
            );
        }
        body.push_str("</ul></div>");
        if let Some(summary) = reports
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == "summary.csv"))
        {
            body.push_str("<h2>summary.csv</h2>");
            body.push_str(&csv_table(summary));
        }
    }
    let event_rows = events.iter().map(|e| {
        format!(
            "<td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>",
            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.item.map(|i| i.to_string()).unwrap_or_default(),
            esc(&e.kind),
            esc(&e.message)
        )
    });
    body.push_str("<h2>Events</h2>");
    body.push_str(&table(
        "",
        &["At (UTC)", "#Item", "Kind", "Message"],
        event_rows,
        None,
    ));
    let title = format!("Run · {} · {}", run.job, run.business_date);
    app.render(&visit, &title, Tab::Runs, &body).await
}

/// A CSV report as an HTML table (the first row is the header).
fn csv_table(path: &std::path::Path) -> String {
    let too_big = std::fs::metadata(path)
        .map(|m| m.len() > SUMMARY_BYTES_MAX)
        .unwrap_or(false);
    if too_big {
        return "<p class=\"muted\">Too large to show here; download it.</p>".into();
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            return format!(
                "<p class=\"err\">Cannot read {}: {}</p>",
                esc(&path.display().to_string()),
                esc(&err.to_string())
            );
        }
    };
    let text =
        String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = String::from("<table>");
    for (i, record) in reader.records().enumerate() {
        let Ok(record) = record else {
            return "<p class=\"err\">summary.csv is not valid CSV.</p>".into();
        };
        let cell = if i == 0 { "th" } else { "td" };
        if i == 0 {
            out.push_str("<thead>");
        } else if i == 1 {
            out.push_str("<tbody>");
        }
        out.push_str("<tr>");
        for field in record.iter() {
            let numeric = i > 0
                && !field.is_empty()
                && field
                    .trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.');
            let class = if numeric { " class=\"num\"" } else { "" };
            let _ = write!(out, "<{cell}{class}>{}</{cell}>", esc(field));
        }
        out.push_str("</tr>");
        if i == 0 {
            out.push_str("</thead>");
        }
    }
    out.push_str("</tbody></table>");
    out
}

/// `GET /runs/{id}/reports/{n}`: a report listed in the run's outcome, as a download.
pub(super) async fn report(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, usize)>,
) -> Response {
    let visit = readable!(app, headers, &format!("/runs/{}", url(&id)));
    let run = match app
        .state
        .runner
        .ledger()
        .run(&crate::ledger::RunId::from(id.as_str()))
        .await
    {
        Ok(run) => run,
        Err(_) => {
            return error_page(
                &app,
                &visit,
                StatusCode::NOT_FOUND,
                &format!("There is no run {id}."),
            )
            .await;
        }
    };
    let Some(path) = reports_of(&run).into_iter().nth(n) else {
        return error_page(
            &app,
            &visit,
            StatusCode::NOT_FOUND,
            "That run has no such report.",
        )
        .await;
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "report".into());
            let safe: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            let kind = if safe.ends_with(".csv") {
                "text/csv; charset=utf-8"
            } else if safe.ends_with(".json") {
                "application/json"
            } else {
                "application/octet-stream"
            };
            (
                [
                    (header::CONTENT_TYPE, kind.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{safe}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(err) => {
            error_page(
                &app,
                &visit,
                StatusCode::NOT_FOUND,
                &format!("{}: {err}", path.display()),
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct BreaksQuery {
    job: Option<String>,
    date: Option<String>,
    category: Option<String>,
    state: Option<String>,
    age: Option<String>,
    ok: Option<String>,
    error: Option<String>,
}

fn amount(value: Option<rust_decimal::Decimal>) -> String {
    value
        .map(|a| format_scaled(a, 2))
        .unwrap_or_else(|| "—".into())
}

/// `GET /breaks`: the register with filters and aging buckets.
pub(super) async fn breaks(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BreaksQuery>,
) -> Response {
    let visit = readable!(app, headers, "/breaks");
    let db = app.state.runner.ledger().db();
    let today = Local::now().date_naive();
    let state_filter = q.state.as_deref().unwrap_or("unresolved");
    let mut filter = BreakFilter {
        job: q.job.clone().filter(|j| !j.is_empty()),
        today: Some(today),
        business_date: parse_date(q.date.as_deref()),
        category: q.category.clone().filter(|c| !c.is_empty()),
        limit: Some(LIST_MAX + 1),
        ..BreakFilter::default()
    };
    match state_filter {
        "unresolved" => filter.unresolved = true,
        "" | "any" => {}
        other => filter.state = BreakState::parse(other),
    }
    if let Some(age) = q.age.as_deref().filter(|a| !a.is_empty())
        && let Some((_, lo, hi)) = crate::metrics::AGE_BUCKETS
            .iter()
            .find(|(name, _, _)| *name == age)
    {
        // Age = days from the business date to today: lo ≤ age ≤ hi.
        if *lo > 0 {
            filter.older_than_days = u32::try_from(*lo - 1).ok();
        }
        if *hi < i64::MAX {
            filter.younger_than_days = u32::try_from(*hi).ok();
        }
    }
    let (found, by_date, categories) = match (
        breaks::list(db, &filter).await,
        breaks::unresolved_by_date(db).await,
        breaks::categories(db).await,
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return unavailable(&app, &visit, &e).await;
        }
    };
    let mut body = flashes(q.ok.as_deref(), q.error.as_deref());
    let mut buckets: BTreeMap<&str, i64> = BTreeMap::new();
    for (job, date, n) in &by_date {
        if filter.job.as_ref().is_some_and(|j| j != job) {
            continue;
        }
        *buckets
            .entry(crate::metrics::age_bucket(
                (today - *date).num_days().max(0),
            ))
            .or_default() += n;
    }
    body.push_str("<div class=\"cards\">");
    for (name, _, _) in crate::metrics::AGE_BUCKETS {
        let _ = write!(
            body,
            "<a class=\"card\" style=\"text-decoration:none;color:inherit\" href=\"/breaks?age={}&amp;job={}\"><b>{}</b><span>unresolved, {name} old</span></a>",
            url(name),
            url(filter.job.as_deref().unwrap_or("")),
            buckets.get(name).copied().unwrap_or(0)
        );
    }
    body.push_str("</div>");
    let mut job_names: Vec<String> = by_date.iter().map(|(j, _, _)| j.clone()).collect();
    job_names.extend(
        app.state
            .runner
            .catalog()
            .jobs()
            .filter(|j| j.kind.starts_with("recon"))
            .map(|j| j.name.to_string()),
    );
    job_names.sort();
    job_names.dedup();
    let jobs = options(
        job_names.iter().map(String::as_str),
        filter.job.as_deref(),
        true,
    );
    let cats = options(
        categories.iter().map(String::as_str),
        filter.category.as_deref(),
        true,
    );
    let states = options(
        [
            "unresolved",
            "pending",
            "open",
            "resolved",
            "auto_resolved",
            "any",
        ],
        Some(state_filter),
        false,
    );
    let ages = options(
        crate::metrics::AGE_BUCKETS.iter().map(|(name, _, _)| *name),
        q.age.as_deref(),
        true,
    );
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\"><label>Job<select name=\"job\">{jobs}</select></label>\
         <label>Business date<input name=\"date\" value=\"{}\" placeholder=\"YYYY-MM-DD\" size=\"11\"></label>\
         <label>Category<select name=\"category\">{cats}</select></label><label>State<select name=\"state\">{states}</select></label>\
         <label>Age<select name=\"age\">{ages}</select></label><button class=\"secondary\">Filter</button></form>",
        esc(q.date.as_deref().unwrap_or(""))
    );
    body.push_str(&break_table(
        &found[..found.len().min(LIST_MAX as usize)],
        today,
    ));
    if found.len() as i64 > LIST_MAX {
        let _ = write!(
            body,
            "<p class=\"muted\">The oldest {LIST_MAX} matching breaks; filter to narrow.</p>"
        );
    }
    app.render(&visit, "Breaks 差错登记簿", Tab::Breaks, &body)
        .await
}

/// The two side names of a break (`ledger/statement` → ledger, statement).
fn side_names(sides: &str) -> (String, String) {
    match sides.split_once('/') {
        Some((l, r)) => (l.to_string(), r.to_string()),
        None => ("left".into(), "right".into()),
    }
}

fn break_table(found: &[Break], today: NaiveDate) -> String {
    let rows = found.iter().map(|b| {
        format!(
            "<td class=\"num\"><a href=\"/breaks/{id}\">{id}</a></td><td>{}</td><td class=\"num\">{}d</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>",
            b.business_date,
            b.age_days(today),
            esc(&b.job),
            pill(b.state.as_str()),
            esc(&b.category),
            esc(&b.key),
            esc(&b.sides),
            amount(b.left_amount),
            amount(b.right_amount),
            format_scaled(b.delta, 2),
            esc(b.note.as_deref().unwrap_or(&b.detail)),
            id = b.id,
        )
    });
    table(
        "",
        &[
            "#Id",
            "Business date",
            "#Age",
            "Job",
            "State",
            "Category",
            "Key",
            "Sides",
            "#Left",
            "#Right",
            "#Delta",
            "Detail / note",
        ],
        rows,
        Some("No breaks match."),
    )
}

/// `GET /breaks/{id}`: one break, its two sides, and the resolve form.
pub(super) async fn break_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let visit = readable!(app, headers, &format!("/breaks/{}", url(&id)));
    let Ok(id) = id.parse::<i64>() else {
        return error_page(
            &app,
            &visit,
            StatusCode::BAD_REQUEST,
            "A break id is a number.",
        )
        .await;
    };
    let b = match breaks::get(app.state.runner.ledger().db(), id).await {
        Ok(b) => b,
        Err(breaks::BreakError::NotFound(_)) => {
            return error_page(
                &app,
                &visit,
                StatusCode::NOT_FOUND,
                &format!("There is no break {id}."),
            )
            .await;
        }
        Err(e) => {
            return unavailable(&app, &visit, &e).await;
        }
    };
    let today = Local::now().date_naive();
    let (left, right) = side_names(&b.sides);
    let mut body = flash_from(&q);
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>Break</dt><dd>{}</dd><dt>State</dt><dd id=\"break-state\">{}</dd><dt>Job</dt><dd>{}</dd>\
         <dt>Business date</dt><dd>{} ({} days old)</dd><dt>Category</dt><dd>{} (found as {})</dd><dt>Key</dt><dd class=\"mono\">{} ({})</dd>\
         <dt>Detail</dt><dd>{}</dd>",
        b.id,
        pill(b.state.as_str()),
        esc(&b.job),
        b.business_date,
        b.age_days(today),
        esc(&b.category),
        esc(&b.found_as),
        esc(&b.key),
        esc(&b.kind),
        esc(&b.detail)
    );
    if let Some(on) = b.settled_on {
        let _ = write!(body, "<dt>Changed by the run of</dt><dd>{on}</dd>");
    }
    if let Some(by) = &b.resolved_by {
        let _ = write!(
            body,
            "<dt>Resolved by</dt><dd>{} at {} UTC</dd>",
            esc(by),
            time(b.resolved_at)
        );
    }
    if let Some(note) = &b.note {
        let _ = write!(
            body,
            "<dt>Note</dt><dd id=\"break-note\">{}</dd>",
            esc(note)
        );
    }
    let _ = write!(
        body,
        "</dl><div class=\"sides\"><div class=\"panel\"><h2>{}</h2><b style=\"font-size:20px\">{}</b></div>\
         <div class=\"panel\"><h2>{}</h2><b style=\"font-size:20px\">{}</b></div></div>\
         <p>Delta ({} − {}): <b>{}</b></p>",
        esc(&left),
        amount(b.left_amount),
        esc(&right),
        amount(b.right_amount),
        esc(&right),
        esc(&left),
        format_scaled(b.delta, 2)
    );
    if b.state.is_unresolved() {
        if visit.operator.is_some() {
            let _ = write!(
                body,
                "<h2>Resolve</h2><div class=\"panel\"><form method=\"post\" action=\"/breaks/{}/resolve\">{}\
                 <label>Note (why it is resolved)<textarea name=\"note\" id=\"note\" required></textarea></label>\
                 <button id=\"resolve\">Resolve break</button></form></div>",
                b.id,
                csrf_field(&app.keys.csrf(&visit.session))
            );
        } else {
            body.push_str(
                "<p class=\"muted\"><a href=\"/login\">Sign in</a> to resolve this break.</p>",
            );
        }
    }
    app.render(&visit, &format!("Break {}", b.id), Tab::Breaks, &body)
        .await
}

fn ms_time(ms: i64) -> String {
    time(DateTime::<Utc>::from_timestamp_millis(ms))
}

fn message_table(messages: &[&Message], now_ms: i64) -> String {
    let rows = messages.iter().map(|m| {
        let stuck = m.state != MsgState::Dead && now_ms - m.updated_at_ms > STUCK_AFTER_MS;
        let state = if stuck {
            format!("{} {}", pill(m.state.as_str()), pill("stuck"))
        } else {
            pill(m.state.as_str())
        };
        format!(
            "<td class=\"mono\"><a href=\"/messages/{}\">{}</a></td><td>{}</td><td class=\"mono\">{}</td><td>{state}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"err\">{}</td>",
            url(&m.id),
            esc(&m.id),
            esc(&m.txn_type),
            esc(&m.business_key),
            m.check_count,
            m.delivery_attempts,
            amount(m.amount),
            ms_time(m.updated_at_ms),
            esc(m.last_error.as_deref().unwrap_or(""))
        )
    });
    table(
        "",
        &[
            "Id",
            "Type",
            "Business key",
            "State",
            "#Checks",
            "#Attempts",
            "#Amount",
            "Updated (UTC)",
            "Last error",
        ],
        rows,
        Some("None."),
    )
}

/// `GET /messages`: dead and stuck transactional messages.
pub(super) async fn messages(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let visit = readable!(app, headers, "/messages");
    let db = app.state.runner.ledger().db();
    let limit = LIST_MAX as usize;
    let (counts, dead, prepared, committed) = match (
        store::count_by_state(db).await,
        store::list(db, Some(MsgState::Dead), limit).await,
        store::list(db, Some(MsgState::Prepared), limit).await,
        store::list(db, Some(MsgState::Committed), limit).await,
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return unavailable(&app, &visit, &e).await;
        }
    };
    let now_ms = Utc::now().timestamp_millis();
    let mut body = flash_from(&q);
    body.push_str("<div class=\"cards\">");
    for state in MsgState::ALL {
        let _ = write!(
            body,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            counts.get(state.as_str()).copied().unwrap_or(0),
            state.as_str()
        );
    }
    body.push_str("</div><h2>Dead</h2><p class=\"muted\">Check-back or delivery gave up: retry, or decide the outcome by hand.</p>");
    let dead_refs: Vec<&Message> = dead.iter().collect();
    body.push_str(&message_table(&dead_refs, now_ms));
    let stuck: Vec<&Message> = prepared
        .iter()
        .chain(committed.iter())
        .filter(|m| now_ms - m.updated_at_ms > STUCK_AFTER_MS)
        .collect();
    let _ = write!(
        body,
        "<h2>Stuck</h2><p class=\"muted\">Prepared or committed and untouched for more than {} minutes.</p>",
        STUCK_AFTER_MS / 60_000
    );
    body.push_str(&message_table(&stuck, now_ms));
    app.render(&visit, "Transactional messages", Tab::Messages, &body)
        .await
}

/// `GET /messages/{id}`.
pub(super) async fn message(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let visit = readable!(app, headers, &format!("/messages/{}", url(&id)));
    let db = app.state.runner.ledger().db();
    let m = match store::get(db, &id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return error_page(
                &app,
                &visit,
                StatusCode::NOT_FOUND,
                &format!("There is no message {id}."),
            )
            .await;
        }
        Err(e) => {
            return unavailable(&app, &visit, &e).await;
        }
    };
    let actions = store::actions(db, &id).await.unwrap_or_default();
    let mut body = flash_from(&q);
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>Id</dt><dd class=\"mono\">{}</dd><dt>Type</dt><dd>{}</dd><dt>Business key</dt><dd class=\"mono\">{}</dd>\
         <dt>State</dt><dd id=\"message-state\">{}{}</dd><dt>Amount</dt><dd>{}</dd><dt>Check-backs</dt><dd>{}</dd><dt>Delivery attempts</dt><dd>{}</dd>\
         <dt>Next attempt</dt><dd>{} UTC</dd><dt>Last error</dt><dd class=\"err\">{}</dd><dt>Prepared at</dt><dd>{} UTC</dd>\
         <dt>Updated at</dt><dd>{} UTC</dd><dt>Payload</dt><dd class=\"mono\">{}</dd></dl>",
        esc(&m.id),
        esc(&m.txn_type),
        esc(&m.business_key),
        pill(m.state.as_str()),
        m.dead_from
            .map(|f| format!(" <span class=\"muted\">(died in {f})</span>"))
            .unwrap_or_default(),
        amount(m.amount),
        m.check_count,
        m.delivery_attempts,
        ms_time(m.next_attempt_at_ms),
        esc(m.last_error.as_deref().unwrap_or("—")),
        ms_time(m.created_at_ms),
        ms_time(m.updated_at_ms),
        esc(&m.payload)
    );
    let undecided = m.state == MsgState::Prepared
        || (m.state == MsgState::Dead && m.dead_from != Some(MsgState::Committed));
    if visit.operator.is_some() && (m.state == MsgState::Dead || undecided) {
        let csrf = csrf_field(&app.keys.csrf(&visit.session));
        body.push_str("<h2>Handle by hand</h2>");
        if m.state == MsgState::Dead {
            let _ = write!(
                body,
                "<div class=\"panel\"><form method=\"post\" action=\"/messages/{}/retry\">{csrf}\
                 <label>Reason<input name=\"reason\" required size=\"40\"></label><button>Retry</button></form></div>",
                url(&m.id)
            );
        }
        if undecided {
            let _ = write!(
                body,
                "<div class=\"panel\"><form method=\"post\" action=\"/messages/{}/resolve\">{csrf}\
                 <label>Decision<select name=\"decision\"><option value=\"commit\">committed: deliver it</option>\
                 <option value=\"rollback\">rolled back</option></select></label>\
                 <label>Reason<input name=\"reason\" required size=\"40\"></label><button>Resolve</button></form></div>",
                url(&m.id)
            );
        }
    }
    let rows = actions.iter().map(|a| {
        cells(&[
            &ms_time(a.at_ms),
            &a.action,
            &a.old_state,
            &a.new_state,
            &a.actor,
            &a.reason,
        ])
    });
    body.push_str("<h2>Journal</h2>");
    body.push_str(&table(
        "",
        &["At (UTC)", "Action", "From", "To", "By", "Reason"],
        rows,
        Some("No manual actions."),
    ));
    app.render(&visit, &format!("Message {}", m.id), Tab::Messages, &body)
        .await
}

/// `GET /cluster`: instances, leader, assignments, running shards, disabled jobs/instances.
pub(super) async fn cluster(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let visit = readable!(app, headers, "/cluster");
    let runner = &app.state.runner;
    let mut body = flash_from(&q);
    let csrf = csrf_field(&app.keys.csrf(&visit.session));
    let operator = visit.operator.is_some();
    let toggle = |name: &str, what: &str, off: bool| {
        if operator {
            toggle_form(&csrf, name, what, off)
        } else {
            String::new()
        }
    };
    let on_off = |off: bool| pill(if off { "disabled" } else { "enabled" });
    match &app.state.cluster {
        None => {
            let switches = match crate::toggles::node_switches(runner.ledger().db()).await {
                Ok(s) => s,
                Err(e) => return unavailable(&app, &visit, &e).await,
            };
            let me = runner.coordinator().instance_id();
            let me_off = switches.instances.contains(me);
            body.push_str("<p class=\"muted\">Single node (embedded coordinator): this node is the cluster and always leads.</p><h2>Instances</h2>");
            let row = format!(
                "<td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                esc(me),
                pill("leader"),
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                on_off(me_off),
                toggle(me, "instance", me_off)
            );
            body.push_str(&table(
                "",
                &["Instance", "Role", "Version", "PID", "State", ""],
                [row],
                None,
            ));
            let rows = runner.catalog().jobs().map(|job| {
                let off = switches.jobs.contains(job.name.as_str());
                let state = if !job.enabled {
                    format!(
                        "{} <span class=\"sub\">in its job file</span>",
                        pill("disabled")
                    )
                } else {
                    on_off(off)
                };
                let toggle = if job.enabled {
                    toggle(&job.name, "job", off)
                } else {
                    String::new()
                };
                format!(
                    "<td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{toggle}</td>",
                    esc(&job.name),
                    esc(&job.kind),
                    job.shards
                )
            });
            body.push_str("<h2>Jobs</h2>");
            body.push_str(&table(
                "",
                &["Job", "Kind", "Shards", "State", ""],
                rows,
                None,
            ));
            body.push_str("<p class=\"muted\">A disabled job does not fire and is not run or rerun by hand; a disabled instance fires nothing (the switch lives in this node's database; <code>reckon cluster disable|enable NAME --reason …</code> does the same). <code>enabled = false</code> in a job file turns a job off for good.</p>");
        }
        Some(cluster) => {
            let catalog_jobs: Vec<String> = runner
                .catalog()
                .jobs()
                .map(|j| j.name.to_string())
                .collect();
            let status = match cluster.status(&catalog_jobs).await {
                Ok(s) => s,
                Err(e) => {
                    return error_page(
                        &app,
                        &visit,
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("registry: {}", crate::error_chain::chain(&e)),
                    )
                    .await;
                }
            };
            // Journal rows a crashed toggle left pending, settled before they are listed.
            if let Ok(switches) = cluster.switches()
                && let Err(e) =
                    crate::toggles::reconcile(runner.ledger().db(), &switches, Utc::now()).await
            {
                body.push_str(&flash("error", &crate::error_chain::chain(&e)));
            }
            let _ = write!(
                body,
                "<div class=\"cards\"><div class=\"card\"><b>{}</b><span>leader</span></div><div class=\"card\"><b>{}</b><span>instances</span></div>\
                 <div class=\"card\"><b>{}</b><span>running shards</span></div></div>",
                esc(status.leader.as_deref().unwrap_or("none")),
                status.instances.len(),
                status.running.len()
            );
            let rows = status.instances.iter().map(|m| {
                let (host, pid, version, since) = m.info.as_ref().map_or(
                    ("?".to_string(), 0, "?".to_string(), "?".to_string()),
                    |i| {
                        (
                            i.host.clone(),
                            i.pid,
                            i.version.clone(),
                            i.started_at.clone(),
                        )
                    },
                );
                format!(
                    "<td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{pid}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>",
                    esc(&m.id),
                    pill(if m.leader { "leader" } else { "follower" }),
                    esc(&host),
                    esc(&version),
                    esc(&since),
                    m.queued,
                    on_off(m.disabled),
                    toggle(&m.id, "instance", m.disabled)
                )
            });
            body.push_str("<h2>Instances</h2>");
            body.push_str(&table(
                "",
                &[
                    "Instance", "Role", "Host", "PID", "Version", "Since", "#Queued", "State", "",
                ],
                rows,
                None,
            ));
            let rows = status.jobs.iter().map(|j| {
                let assignment = j
                    .assignment
                    .as_ref()
                    .map(|(v, strategy, run, items)| {
                        format!("v{v}: {} {} {}", esc(strategy), esc(run), esc(items))
                    })
                    .unwrap_or_else(|| "<span class=\"muted\">none yet</span>".into());
                format!(
                    "<td>{}</td><td class=\"mono\">{assignment}</td><td>{}</td><td>{}</td>",
                    esc(&j.job),
                    on_off(j.disabled),
                    toggle(&j.job, "job", j.disabled)
                )
            });
            body.push_str("<h2>Jobs and assignments</h2>");
            body.push_str(&table("", &["Job", "Assignment", "State", ""], rows, None));
            let rows = status.running.iter().map(|(run, item, owner)| {
                format!(
                    "<td class=\"mono\"><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td>",
                    url(run),
                    esc(run),
                    item,
                    esc(owner)
                )
            });
            body.push_str("<h2>Running shards</h2>");
            body.push_str(&table("", &["Run", "Item", "Instance"], rows, None));
            for (dead, waiting) in &status.awaiting_failover {
                let _ = write!(
                    body,
                    "<p class=\"err\">Awaiting failover from {}: {}</p>",
                    esc(dead),
                    esc(&waiting.join(", "))
                );
            }
        }
    }
    match runner.ledger().active_runs().await {
        Ok(active) => {
            body.push_str("<h2>Active runs</h2>");
            body.push_str(&run_table(&active));
        }
        Err(e) => body.push_str(&flash("error", &crate::error_chain::chain(&e))),
    }
    match crate::toggles::journal(runner.ledger().db(), 20).await {
        Ok(entries) if !entries.is_empty() => {
            let rows = entries.iter().map(|e| {
                let state = e.state.replace('_', " ");
                format!(
                    "{}<td title=\"{}\">{}</td>",
                    cells(&[
                        &time(Some(e.at)),
                        &e.what,
                        &e.name,
                        &e.action,
                        &e.actor,
                        &e.reason,
                        &e.scope,
                    ]),
                    esc(e.settled_how.as_deref().unwrap_or("")),
                    pill(&state)
                )
            });
            body.push_str("<h2>Disable/enable journal</h2>");
            body.push_str(&table(
                " id=\"toggle-journal\"",
                &[
                    "At", "What", "Name", "Action", "By", "Reason", "Where", "State",
                ],
                rows,
                None,
            ));
        }
        Ok(_) => {}
        Err(e) => body.push_str(&flash("error", &crate::error_chain::chain(&e))),
    }
    app.render(&visit, "Cluster", Tab::Cluster, &body).await
}

fn toggle_form(csrf: &str, name: &str, what: &str, disabled: bool) -> String {
    let (action, label) = if disabled {
        ("enable", "Enable")
    } else {
        ("disable", "Disable")
    };
    format!(
        "<form method=\"post\" action=\"/cluster/toggle\" class=\"inline\">{csrf}<input type=\"hidden\" name=\"name\" value=\"{}\">\
         <input type=\"hidden\" name=\"what\" value=\"{what}\"><input type=\"hidden\" name=\"action\" value=\"{action}\">\
         <input name=\"reason\" placeholder=\"reason\" required size=\"14\"> <button class=\"secondary\">{label}</button></form>",
        esc(name)
    )
}

#[derive(Deserialize, Default)]
pub(super) struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

/// `GET /login`.
pub(super) async fn login(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let visit = app.visit(&headers);
    let csrf = app.keys.csrf(&visit.session);
    let next = q
        .next
        .as_deref()
        .filter(|n| super::actions::local_path(n))
        .unwrap_or("/");
    let mut body = String::new();
    if let Some(e) = &q.error {
        body.push_str(&flash("error", e));
    }
    let _ = write!(
        body,
        "<div class=\"login\"><form method=\"post\" action=\"/login\">{}<input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Operator<input name=\"name\" id=\"name\" autocomplete=\"username\" required></label>\
         <label>Password or token<input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button id=\"signin\">Sign in</button></form></div>",
        csrf_field(&csrf),
        esc(next)
    );
    app.render(&visit, "Sign in", Tab::None, &body).await
}

/// `GET /metrics`.
pub(super) async fn metrics(State(app): State<Shared>) -> Response {
    match super::gather(&app.state).await {
        Ok(snapshot) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            app.state.metrics.render(&snapshot),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("metrics unavailable: {e}\n"),
        )
            .into_response(),
    }
}

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers (and, in a cluster, this node holds
/// a connected ZooKeeper session — its own, no new one per probe).
pub(super) async fn readyz(State(app): State<Shared>) -> Response {
    if let Err(e) = app.state.runner.ledger().db().ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database: {}\n", crate::error_chain::chain(&e)),
        )
            .into_response();
    }
    if let Some(cluster) = &app.state.cluster
        && !cluster.connected()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "registry: no connected ZooKeeper session\n",
        )
            .into_response();
    }
    "ready\n".into_response()
}

/// Anything else.
pub(super) async fn not_found(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let visit = app.visit(&headers);
    error_page(&app, &visit, StatusCode::NOT_FOUND, "No such page.").await
}
