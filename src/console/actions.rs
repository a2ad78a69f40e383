//! The console's actions: POST forms only (a GET on these paths is 405),
//! each needing a signed-in operator and the session's CSRF token, each
//! calling the same library function as the command line — which journals
//! the operator (`console:NAME`) and the reason.

use std::fmt::Display;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use super::html::url;
use super::pages::{Visit, html_response, now_secs, with_cookie};
use super::{App, Shared, auth};
use crate::jobs::compensation::manual::{self, Actor, Decision};
use crate::jobs::recon::breaks;
use crate::runtime::RunError;

/// Longest reason or note kept.
const TEXT_MAX: usize = 2000;

/// True for a same-site path (`/…` but not `//host`), safe to redirect to.
pub(super) fn local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

fn refuse(status: StatusCode, text: &str) -> Response {
    html_response(
        status,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Refused</title></head><body><h1>{}</h1><p>{}</p><p><a href=\"/\">Back to the console</a></p></body></html>",
            status.as_u16(),
            super::html::esc(text)
        ),
    )
}

/// Back to `path` with a message shown on the page.
fn back(path: &str, ok: bool, text: impl Display) -> Response {
    let key = if ok { "ok" } else { "error" };
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}{key}={}", url(&text.to_string()))).into_response()
}

/// The operator allowed to act, or the refusal: 401 without a sign-in, 403
/// without this session's CSRF token.
fn operator(
    app: &App,
    visit: &Visit,
    csrf: Option<&str>,
    action: &str,
) -> Result<String, Box<Response>> {
    let Some(op) = visit.operator.clone() else {
        app.state.metrics.console_action(action, "refused_no_login");
        return Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            "Sign in as an operator first.",
        )));
    };
    if !visit.bearer && !csrf.is_some_and(|t| app.keys.csrf_ok(&visit.session, t)) {
        app.state.metrics.console_action(action, "refused_csrf");
        return Err(Box::new(refuse(
            StatusCode::FORBIDDEN,
            "The form's CSRF token is missing or not this session's; reload the page and try again.",
        )));
    }
    Ok(op)
}

/// Trimmed, bounded free text; empty is refused.
fn text(value: &str, what: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{what} is required"));
    }
    if value.chars().count() > TEXT_MAX {
        return Err(format!("{what} is longer than {TEXT_MAX} characters"));
    }
    Ok(value.to_string())
}

/// The actor recorded in journals for an operator.
fn actor(op: &str) -> String {
    format!("console:{op}")
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    csrf: Option<String>,
    name: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`.
pub(super) async fn login(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let visit = app.visit(&headers);
    if !form
        .csrf
        .as_deref()
        .is_some_and(|t| app.keys.csrf_ok(&visit.session, t))
    {
        app.state.metrics.console_action("login", "refused_csrf");
        return with_cookie(
            &visit,
            refuse(
                StatusCode::FORBIDDEN,
                "The sign-in form's CSRF token is missing or stale; reload the page.",
            ),
        );
    }
    let next = form
        .next
        .as_deref()
        .filter(|n| local_path(n))
        .unwrap_or("/")
        .to_string();
    // argon2 is deliberately slow: off the async threads.
    let settings = app.state.settings.clone();
    let (name, password) = (form.name.clone(), form.password.clone());
    let verified =
        tokio::task::spawn_blocking(move || auth::verify_password(&settings, &name, &password))
            .await
            .ok()
            .flatten();
    match verified {
        Some(op) => {
            app.state.metrics.console_action("login", "ok");
            tracing::info!(operator = %op, "console sign-in");
            // A new session id on sign-in (no fixation), CSRF token changes with it.
            let mut session = app.keys.fresh(now_secs(), app.ttl_secs);
            session.op = Some(op);
            let mut response = Redirect::to(&next).into_response();
            if let Ok(v) = app.cookie(&session).parse() {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, v);
            }
            response
        }
        None => {
            app.state
                .metrics
                .console_action("login", "refused_password");
            tracing::warn!(name = %form.name, "console sign-in refused");
            let mut response = with_cookie(
                &visit,
                Redirect::to(&format!(
                    "/login?next={}&error={}",
                    url(&next),
                    url("Unknown operator or wrong password.")
                ))
                .into_response(),
            );
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /logout`.
pub(super) async fn logout(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let visit = app.visit(&headers);
    if !form
        .csrf
        .as_deref()
        .is_some_and(|t| app.keys.csrf_ok(&visit.session, t))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "The form's CSRF token is missing or stale.",
        );
    }
    let session = app.keys.fresh(now_secs(), app.ttl_secs);
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = app.cookie(&session).parse() {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub(super) struct RunForm {
    csrf: Option<String>,
    job: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

fn date_field(value: &str, name: &str) -> Result<Option<NaiveDate>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("{name} `{value}` is not a date YYYY-MM-DD"))
}

/// `POST /actions/run`: a job for a date, for now, or a range (backfill).
pub(super) async fn run(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<RunForm>,
) -> Response {
    let visit = app.visit(&headers);
    let op = match operator(&app, &visit, form.csrf.as_deref(), "run") {
        Ok(op) => op,
        Err(r) => return *r,
    };
    match start_runs(&app, &op, &form).await {
        Ok(text) => {
            app.state.metrics.console_action("run", "ok");
            back("/", true, text)
        }
        Err(text) => {
            app.state.metrics.console_action("run", "refused");
            back("/", false, text)
        }
    }
}

async fn start_runs(app: &App, op: &str, form: &RunForm) -> Result<String, String> {
    let runner = &app.state.runner;
    let job = runner
        .catalog()
        .get(form.job.trim())
        .map_err(|e| e.to_string())?
        .clone();
    let reason = text(&form.reason, "a reason")?;
    if app.state.cluster.is_none() {
        crate::toggles::refuse_disabled_here(runner.ledger().db(), &job.name)
            .await
            .map_err(|e| e.to_string())?;
    }
    let date = date_field(&form.date, "date")?;
    let range = match (date_field(&form.from, "from")?, date_field(&form.to, "to")?) {
        (Some(f), Some(t)) => Some((f, t)),
        (None, None) => None,
        _ => return Err("a range needs both from and to".into()),
    };
    if date.is_some() && range.is_some() {
        return Err("give a date or a range, not both".into());
    }
    let (dates, trigger) = crate::ops::run_dates(&job, date, range).map_err(|e| e.to_string())?;
    let mut started = Vec::new();
    let mut skipped = Vec::new();
    for date in dates {
        let new = crate::ops::manual_run(&job.name, date, trigger, &actor(op), Some(&reason));
        match submit(app, new).await {
            Ok(run_id) => started.push(format!("{date} (run {run_id})")),
            Err(RunRefusal::Run(RunError::AlreadySucceeded { run_id, .. }))
                if trigger == crate::ledger::Trigger::Backfill =>
            {
                skipped.push(format!("{date} already succeeded in run {run_id}"));
            }
            Err(e) if started.is_empty() && skipped.is_empty() => return Err(e.to_string()),
            Err(e) => {
                return Err(format!("started {}; then refused: {e}", started.join(", ")));
            }
        }
    }
    tracing::info!(operator = %op, job = %job.name, runs = started.len(), "console run");
    let mut text = format!("{} started for {}", job.name, started.join(", "));
    if !skipped.is_empty() {
        text.push_str(&format!("; skipped {}", skipped.join(", ")));
    }
    Ok(text)
}

#[derive(Debug)]
enum RunRefusal {
    Run(RunError),
    Leader(String),
}

impl Display for RunRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunRefusal::Run(e) => f.write_str(&crate::error_chain::chain(e)),
            RunRefusal::Leader(e) => f.write_str(e),
        }
    }
}

/// Creates the run here and executes it in the background (single node),
/// or hands it to the cluster's leader, as `reckon run --registry` does.
async fn submit(app: &App, new: crate::ledger::NewRun) -> Result<String, RunRefusal> {
    if let (Some(cluster), false) = (&app.state.cluster, app.state.execute_here) {
        let request = crate::coord::zookeeper::triggers::TriggerRequest {
            job: (new.parent_run.is_none()).then(|| new.job.clone()),
            business_date: (new.parent_run.is_none()).then_some(new.business_date),
            rerun_of: new.parent_run.clone(),
            failed_only: new.failed_only,
            reason: new.reason.clone(),
            requested_by: new.requested_by.clone(),
        };
        let answer = crate::coord::zookeeper::triggers::submit(
            cluster.registry(),
            &request,
            std::time::Duration::from_secs(30),
        )
        .await
        .map_err(|e| RunRefusal::Leader(crate::error_chain::chain(&e)))?;
        return match (answer.run_id, answer.error) {
            (Some(run_id), _) => Ok(run_id.to_string()),
            (None, error) => Err(RunRefusal::Leader(format!(
                "the leader ({}) refused: {}",
                answer.leader,
                error.unwrap_or_else(|| "no reason given".into())
            ))),
        };
    }
    let runner = app.state.runner.clone();
    let requested = match new.parent_run.clone() {
        Some(parent) => {
            runner
                .request_rerun(
                    &parent,
                    new.failed_only,
                    new.reason.as_deref().unwrap_or(""),
                    &new.requested_by,
                )
                .await
        }
        None => runner.request(new).await,
    };
    let run = requested.map_err(RunRefusal::Run)?;
    let run_id = run.run_id.to_string();
    tokio::spawn(async move {
        if let Err(err) = runner
            .execute(
                &run.run_id,
                std::sync::Arc::new(crate::runtime::Progress::default()),
            )
            .await
        {
            tracing::error!(run_id = %run.run_id, error = %crate::error_chain::chain(&err), "console run could not execute");
        }
    });
    Ok(run_id)
}

#[derive(Deserialize)]
pub(super) struct RerunForm {
    csrf: Option<String>,
    run_id: String,
    #[serde(default)]
    reason: String,
    failed_only: Option<String>,
}

/// `POST /actions/rerun`.
pub(super) async fn rerun(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<RerunForm>,
) -> Response {
    let visit = app.visit(&headers);
    let op = match operator(&app, &visit, form.csrf.as_deref(), "rerun") {
        Ok(op) => op,
        Err(r) => return *r,
    };
    let page = format!("/runs/{}", url(form.run_id.trim()));
    let reason = match text(&form.reason, "a reason") {
        Ok(r) => r,
        Err(e) => return back(&page, false, e),
    };
    let parent_id = crate::ledger::RunId::from(form.run_id.trim());
    let parent = match app.state.runner.ledger().run(&parent_id).await {
        Ok(p) => p,
        Err(e) => return back("/runs", false, crate::error_chain::chain(&e)),
    };
    let new = crate::ledger::NewRun {
        job: parent.job.clone(),
        business_date: parent.business_date,
        trigger: crate::ledger::Trigger::Rerun,
        requested_by: actor(&op),
        reason: Some(reason),
        parent_run: Some(parent.run_id.clone()),
        failed_only: form.failed_only.as_deref() == Some("on"),
        params: parent.params.clone(),
    };
    match submit(&app, new).await {
        Ok(run_id) => {
            app.state.metrics.console_action("rerun", "ok");
            tracing::info!(operator = %op, parent = %parent.run_id, %run_id, "console rerun");
            back(
                &format!("/runs/{}", url(&run_id)),
                true,
                format!("rerun of {} started", parent.run_id),
            )
        }
        Err(e) => {
            app.state.metrics.console_action("rerun", "refused");
            back(&page, false, e)
        }
    }
}

#[derive(Deserialize)]
pub(super) struct NoteForm {
    csrf: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /breaks/{id}/resolve`: `breaks::resolve`, as `reckon breaks resolve`.
pub(super) async fn resolve_break(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let visit = app.visit(&headers);
    let op = match operator(&app, &visit, form.csrf.as_deref(), "resolve_break") {
        Ok(op) => op,
        Err(r) => return *r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return refuse(StatusCode::BAD_REQUEST, "A break id is a number.");
    };
    let page = format!("/breaks/{id}");
    let note = match text(&form.note, "a note") {
        Ok(n) => n,
        Err(e) => return back(&page, false, e),
    };
    match breaks::resolve(
        app.state.runner.ledger().db(),
        id,
        &actor(&op),
        &note,
        Utc::now(),
    )
    .await
    {
        Ok(b) => {
            app.state.metrics.console_action("resolve_break", "ok");
            tracing::info!(operator = %op, id, "console resolved break");
            back(
                &page,
                true,
                format!(
                    "break {id} ({} {}) is resolved by {}",
                    b.category,
                    b.key,
                    actor(&op)
                ),
            )
        }
        Err(e) => {
            app.state.metrics.console_action("resolve_break", "refused");
            back(&page, false, crate::error_chain::chain(&e))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ReasonForm {
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
    decision: Option<String>,
}

/// `POST /messages/{id}/retry`: `compensation::manual::retry`, as `reckon txn retry`.
pub(super) async fn retry_message(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    message_action(app, headers, id, form, "retry_message").await
}

/// `POST /messages/{id}/resolve`: `compensation::manual::resolve`, as `reckon txn resolve`.
pub(super) async fn resolve_message(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    message_action(app, headers, id, form, "resolve_message").await
}

async fn message_action(
    app: Shared,
    headers: HeaderMap,
    id: String,
    form: ReasonForm,
    action: &str,
) -> Response {
    let visit = app.visit(&headers);
    let op = match operator(&app, &visit, form.csrf.as_deref(), action) {
        Ok(op) => op,
        Err(r) => return *r,
    };
    let page = format!("/messages/{}", url(&id));
    let reason = match text(&form.reason, "a reason") {
        Ok(r) => r,
        Err(e) => return back(&page, false, e),
    };
    let who = actor(&op);
    let actor = Actor {
        who: &who,
        why: &reason,
    };
    let db = app.state.runner.ledger().db();
    let now_ms = Utc::now().timestamp_millis();
    let result = if action == "retry_message" {
        manual::retry(db, &id, &actor, now_ms).await
    } else {
        let decision = match form.decision.as_deref() {
            Some("commit") => Decision::Commit,
            Some("rollback") => Decision::Rollback,
            _ => return back(&page, false, "choose a decision: commit or rollback"),
        };
        manual::resolve(db, &id, decision, &actor, now_ms).await
    };
    match result {
        Ok(m) => {
            app.state.metrics.console_action(action, "ok");
            tracing::info!(operator = %op, message = %id, state = %m.state, "console {action}");
            back(
                &page,
                true,
                format!(
                    "{id} is {} ({} by {who})",
                    m.state,
                    if action == "retry_message" {
                        "retried"
                    } else {
                        "resolved"
                    }
                ),
            )
        }
        Err(e) => {
            app.state.metrics.console_action(action, "refused");
            back(&page, false, crate::error_chain::chain(&e))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ToggleForm {
    csrf: Option<String>,
    name: String,
    what: String,
    action: String,
    #[serde(default)]
    reason: String,
}

/// `POST /cluster/toggle`: disable or enable a job or an instance, as
/// `reckon cluster disable|enable` (cluster: in ZooKeeper, through this
/// node's session) or `reckon disable|enable` (single node: in the
/// database); journaled by [`crate::toggles::apply`] either way.
pub(super) async fn toggle(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ToggleForm>,
) -> Response {
    let visit = app.visit(&headers);
    let op = match operator(&app, &visit, form.csrf.as_deref(), "toggle") {
        Ok(op) => op,
        Err(r) => return *r,
    };
    let reason = match text(&form.reason, "a reason") {
        Ok(r) => r,
        Err(e) => return back("/cluster", false, e),
    };
    let what = match form.what.as_str() {
        "job" => crate::coord::zookeeper::status::Toggle::Job,
        "instance" => crate::coord::zookeeper::status::Toggle::Instance,
        _ => return refuse(StatusCode::BAD_REQUEST, "what must be job or instance"),
    };
    let disable = match form.action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return refuse(StatusCode::BAD_REQUEST, "action must be disable or enable"),
    };
    let name = form.name.trim();
    if what == crate::coord::zookeeper::status::Toggle::Job
        && app.state.runner.catalog().get(name).is_err()
    {
        return back("/cluster", false, format!("there is no job `{name}`"));
    }
    let place = match &app.state.cluster {
        Some(cluster) => crate::toggles::Place::Session(cluster),
        None => crate::toggles::Place::Node,
    };
    let who = actor(&op);
    let change = crate::toggles::Change {
        what,
        name,
        disable,
        actor: &who,
        reason: &reason,
    };
    match crate::toggles::apply(app.state.runner.ledger().db(), place, &change, Utc::now()).await {
        Ok(()) => {
            app.state.metrics.console_action("toggle", "ok");
            tracing::info!(operator = %op, %name, what = %form.what, action = %form.action, "console toggle");
            back(
                "/cluster",
                true,
                format!("{} {name} {}d by {who}", form.what, form.action),
            )
        }
        Err(e) => {
            app.state.metrics.console_action("toggle", "failed");
            back("/cluster", false, crate::error_chain::chain(&e))
        }
    }
}
