//! The console's actions: POST forms only (a GET on these paths is 405),
//! each taking an [`Acting`] form — a signed-in operator and the session's
//! CSRF token, checked once for all of them — and calling the same library
//! function as the command line, which journals the operator
//! (`console:NAME`) and the reason.

use std::fmt::Display;

use axum::Form;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

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

/// The metrics label of the action a request is for (by its path).
fn action_of(req: &Request) -> &'static str {
    let path = req.uri().path();
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("login"), None, _) => "login",
        (Some("logout"), None, _) => "logout",
        (Some("actions"), Some("run"), None) => "run",
        (Some("actions"), Some("rerun"), None) => "rerun",
        (Some("breaks"), Some(_), Some("resolve")) => "resolve_break",
        (Some("messages"), Some(_), Some("retry")) => "retry_message",
        (Some("messages"), Some(_), Some("resolve")) => "resolve_message",
        (Some("cluster"), Some("toggle"), None) => "toggle",
        _ => "action",
    }
}

/// A form with the CSRF field beside its own fields.
#[derive(Deserialize)]
struct WithCsrf<F> {
    csrf: Option<String>,
    #[serde(flatten)]
    fields: F,
}

/// A POST form carrying this session's CSRF token (a bearer token needs
/// none): sign-in and sign-out. Refused with 403 otherwise, and with the
/// form extractor's own status (400, 415, 422) when the body is not the form.
pub(super) struct Checked<F> {
    pub visit: Visit,
    pub action: &'static str,
    pub form: F,
}

/// A POST form from a signed-in operator carrying this session's CSRF token
/// (or from a bearer token's operator): every action. Refused with 401
/// without an operator — before the body is read — and as [`Checked`] after.
pub(super) struct Acting<F> {
    pub op: String,
    pub action: &'static str,
    pub form: F,
}

impl<F> Acting<F> {
    /// The actor journaled for this operator.
    fn actor(&self) -> String {
        actor(&self.op)
    }
}

async fn checked_form<F: DeserializeOwned + Send + 'static>(
    req: Request,
    app: &Shared,
    visit: &Visit,
    action: &'static str,
) -> Result<F, Response> {
    let Form(WithCsrf { csrf, fields }) = Form::<WithCsrf<F>>::from_request(req, app)
        .await
        .map_err(|rejection| {
            app.state.metrics.console_action(action, "refused");
            refuse(rejection.status(), &rejection.body_text())
        })?;
    if !visit.bearer
        && !csrf
            .as_deref()
            .is_some_and(|t| app.keys.csrf_ok(&visit.session, t))
    {
        app.state.metrics.console_action(action, "refused_csrf");
        return Err(with_cookie(
            visit,
            refuse(
                StatusCode::FORBIDDEN,
                "The form's CSRF token is missing or not this session's; reload the page and try again.",
            ),
        ));
    }
    Ok(fields)
}

impl<F: DeserializeOwned + Send + 'static> FromRequest<Shared> for Checked<F> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Shared) -> Result<Self, Response> {
        let action = action_of(&req);
        let visit = app.visit(req.headers());
        let form = checked_form(req, app, &visit, action).await?;
        Ok(Checked {
            visit,
            action,
            form,
        })
    }
}

impl<F: DeserializeOwned + Send + 'static> FromRequest<Shared> for Acting<F> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Shared) -> Result<Self, Response> {
        let action = action_of(&req);
        let visit = app.visit(req.headers());
        let Some(op) = visit.operator.clone() else {
            app.state.metrics.console_action(action, "refused_no_login");
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "Sign in as an operator first.",
            ));
        };
        let form = checked_form(req, app, &visit, action).await?;
        Ok(Acting { op, action, form })
    }
}

/// Counts the outcome and goes back with its message: to `done` when it
/// succeeded, to `page` when it was refused.
fn answer(
    app: &App,
    action: &str,
    done: &str,
    page: &str,
    result: Result<String, String>,
) -> Response {
    match result {
        Ok(text) => {
            app.state.metrics.console_action(action, "ok");
            back(done, true, text)
        }
        Err(text) => {
            app.state.metrics.console_action(action, "refused");
            back(page, false, text)
        }
    }
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
    name: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`.
pub(super) async fn login(State(app): State<Shared>, login: Checked<LoginForm>) -> Response {
    let Checked {
        visit,
        action,
        form,
    } = login;
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
            app.state.metrics.console_action(action, "ok");
            tracing::info!(operator = %op, "console sign-in");
            // A new session id on sign-in (no fixation), CSRF token changes with it.
            let mut session = app.keys.fresh(now_secs(), app.ttl_secs);
            session.op = Some(op);
            new_session(&app, &session, &next)
        }
        None => {
            app.state.metrics.console_action(action, "refused_password");
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

/// A redirect to `to` that sets `session`'s cookie.
fn new_session(app: &App, session: &auth::Session, to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Ok(v) = app.cookie(session).parse() {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub(super) struct Nothing {}

/// `POST /logout`.
pub(super) async fn logout(State(app): State<Shared>, logout: Checked<Nothing>) -> Response {
    app.state.metrics.console_action(logout.action, "ok");
    let session = app.keys.fresh(now_secs(), app.ttl_secs);
    new_session(&app, &session, "/login")
}

#[derive(Deserialize)]
pub(super) struct RunForm {
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
pub(super) async fn run(State(app): State<Shared>, acting: Acting<RunForm>) -> Response {
    let result = start_runs(&app, &acting).await;
    answer(&app, acting.action, "/", "/", result)
}

async fn start_runs(app: &App, acting: &Acting<RunForm>) -> Result<String, String> {
    let form = &acting.form;
    let runner = &app.state.runner;
    let job = runner
        .catalog()
        .get(form.job.trim())
        .map_err(|e| e.to_string())?
        .clone();
    let reason = text(&form.reason, "a reason")?;
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
        let new = crate::ops::manual_run(&job.name, date, trigger, &acting.actor(), Some(&reason));
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
    tracing::info!(operator = %acting.op, job = %job.name, runs = started.len(), "console run");
    let mut text = format!("{} started for {}", job.name, started.join(", "));
    if !skipped.is_empty() {
        text.push_str(&format!("; skipped {}", skipped.join(", ")));
    }
    Ok(text)
}

#[derive(Debug)]
enum RunRefusal {
    Run(RunError),
    Disabled(crate::toggles::ToggleError),
    Leader(String),
}

impl Display for RunRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunRefusal::Run(e) => f.write_str(&crate::error_chain::chain(e)),
            RunRefusal::Disabled(e) => f.write_str(&crate::error_chain::chain(e)),
            RunRefusal::Leader(e) => f.write_str(e),
        }
    }
}

/// Creates the run here and executes it in the background (single node:
/// refused while its job is disabled on this node, a run or a rerun alike),
/// or hands it to the cluster's leader through this node's own ZooKeeper
/// session, as `reckon run --registry` does (the leader refuses a job
/// disabled in the cluster).
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
        let answer = cluster
            .submit(&request, std::time::Duration::from_secs(30))
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
    if app.state.cluster.is_none() {
        crate::toggles::refuse_disabled_here(runner.ledger().db(), &new.job)
            .await
            .map_err(RunRefusal::Disabled)?;
    }
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
    run_id: String,
    #[serde(default)]
    reason: String,
    failed_only: Option<String>,
}

/// `POST /actions/rerun`.
pub(super) async fn rerun(State(app): State<Shared>, acting: Acting<RerunForm>) -> Response {
    let form = &acting.form;
    let page = format!("/runs/{}", url(form.run_id.trim()));
    let result = async {
        let reason = text(&form.reason, "a reason")?;
        let parent = app
            .state
            .runner
            .ledger()
            .run(&crate::ledger::RunId::from(form.run_id.trim()))
            .await
            .map_err(|e| crate::error_chain::chain(&e))?;
        let new = crate::ledger::NewRun {
            job: parent.job.clone(),
            business_date: parent.business_date,
            trigger: crate::ledger::Trigger::Rerun,
            requested_by: acting.actor(),
            reason: Some(reason),
            parent_run: Some(parent.run_id.clone()),
            failed_only: form.failed_only.as_deref() == Some("on"),
            params: parent.params.clone(),
        };
        let run_id = submit(&app, new).await.map_err(|e| e.to_string())?;
        tracing::info!(operator = %acting.op, parent = %parent.run_id, %run_id, "console rerun");
        Ok((run_id, parent.run_id))
    }
    .await;
    match result {
        Ok((run_id, parent)) => answer(
            &app,
            acting.action,
            &format!("/runs/{}", url(&run_id)),
            &page,
            Ok(format!("rerun of {parent} started")),
        ),
        Err(e) => answer(&app, acting.action, &page, &page, Err(e)),
    }
}

#[derive(Deserialize)]
pub(super) struct NoteForm {
    #[serde(default)]
    note: String,
}

/// `POST /breaks/{id}/resolve`: `breaks::resolve`, as `reckon breaks resolve`.
pub(super) async fn resolve_break(
    State(app): State<Shared>,
    Path(id): Path<String>,
    acting: Acting<NoteForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return refuse(StatusCode::BAD_REQUEST, "A break id is a number.");
    };
    let page = format!("/breaks/{id}");
    let who = acting.actor();
    let result = async {
        let note = text(&acting.form.note, "a note")?;
        let b = breaks::resolve(app.state.runner.ledger().db(), id, &who, &note, Utc::now())
            .await
            .map_err(|e| crate::error_chain::chain(&e))?;
        tracing::info!(operator = %acting.op, id, "console resolved break");
        Ok(format!(
            "break {id} ({} {}) is resolved by {who}",
            b.category, b.key
        ))
    }
    .await;
    answer(&app, acting.action, &page, &page, result)
}

#[derive(Deserialize)]
pub(super) struct ReasonForm {
    #[serde(default)]
    reason: String,
    decision: Option<String>,
}

/// `POST /messages/{id}/retry`: `compensation::manual::retry`, as `reckon txn retry`;
/// `POST /messages/{id}/resolve`: `compensation::manual::resolve`, as `reckon txn resolve`.
pub(super) async fn message_action(
    State(app): State<Shared>,
    Path(id): Path<String>,
    acting: Acting<ReasonForm>,
) -> Response {
    let page = format!("/messages/{}", url(&id));
    let retry = acting.action == "retry_message";
    let who = acting.actor();
    let result = async {
        let reason = text(&acting.form.reason, "a reason")?;
        let actor = Actor {
            who: &who,
            why: &reason,
        };
        let db = app.state.runner.ledger().db();
        let now_ms = Utc::now().timestamp_millis();
        let done = if retry {
            manual::retry(db, &id, &actor, now_ms).await
        } else {
            let decision = match acting.form.decision.as_deref() {
                Some("commit") => Decision::Commit,
                Some("rollback") => Decision::Rollback,
                _ => return Err("choose a decision: commit or rollback".to_string()),
            };
            manual::resolve(db, &id, decision, &actor, now_ms).await
        };
        let m = done.map_err(|e| crate::error_chain::chain(&e))?;
        tracing::info!(operator = %acting.op, message = %id, state = %m.state, "console {}", acting.action);
        let verb = if retry { "retried" } else { "resolved" };
        Ok(format!("{id} is {} ({verb} by {who})", m.state))
    }
    .await;
    answer(&app, acting.action, &page, &page, result)
}

#[derive(Deserialize)]
pub(super) struct ToggleForm {
    name: String,
    what: String,
    action: String,
    #[serde(default)]
    reason: String,
}

/// `POST /cluster/toggle`: disable or enable a job or an instance, as
/// `reckon cluster disable|enable` (cluster: in ZooKeeper, through this
/// node's session, intent journaled first) or `reckon disable|enable`
/// (single node: in the database); journaled by [`crate::toggles::apply`]
/// either way.
pub(super) async fn toggle(State(app): State<Shared>, acting: Acting<ToggleForm>) -> Response {
    use crate::coord::zookeeper::status::Toggle;
    let form = &acting.form;
    let what = match form.what.as_str() {
        "job" => Toggle::Job,
        "instance" => Toggle::Instance,
        _ => return refuse(StatusCode::BAD_REQUEST, "what must be job or instance"),
    };
    let disable = match form.action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return refuse(StatusCode::BAD_REQUEST, "action must be disable or enable"),
    };
    let who = acting.actor();
    let result = async {
        let reason = text(&form.reason, "a reason")?;
        let name = form.name.trim();
        if what == Toggle::Job && app.state.runner.catalog().get(name).is_err() {
            return Err(format!("there is no job `{name}`"));
        }
        let place = match &app.state.cluster {
            Some(cluster) => crate::toggles::Place::Session(cluster),
            None => crate::toggles::Place::Node,
        };
        let change = crate::toggles::Change {
            what,
            name,
            disable,
            actor: &who,
            reason: &reason,
        };
        crate::toggles::apply(app.state.runner.ledger().db(), place, &change, Utc::now())
            .await
            .map_err(|e| crate::error_chain::chain(&e))?;
        tracing::info!(operator = %acting.op, %name, what = %form.what, action = %form.action, "console toggle");
        Ok(format!("{} {name} {}d by {who}", form.what, form.action))
    }
    .await;
    answer(&app, acting.action, "/cluster", "/cluster", result)
}
