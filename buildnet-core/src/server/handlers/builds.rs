//! Starting a build (with `?stream=true`, its events as server-sent events), listing, reading
//! and cancelling builds.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::json;

use crate::server::response::{blocking, parse_body, success, ApiError, ApiResult};
use crate::server::stream::{follow_stream, followed_sse};
use crate::server::App;

use super::{bounded, MAX_PAGE};
use crate::orchestrator::BuildOptions;

/// `POST /api/v1/build`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuildBody {
    /// Targets to build (empty or absent: all).
    #[serde(default)]
    targets: Vec<String>,
    /// Ignore the cache.
    #[serde(default)]
    force: bool,
    /// Targets at once (default: the configuration's).
    #[schemars(range(min = 1, max = 1024))]
    concurrency: Option<usize>,
    /// Stop everything at the first failure.
    #[serde(default)]
    fail_fast: bool,
    /// Publish cached runs' logs as `target_log` events (default true).
    replay_logs: Option<bool>,
    /// Arguments appended to every Turborepo task's script (turbo's `-- args`).
    #[serde(default)]
    args: Vec<String>,
    /// Run the targets asked for without their dependencies.
    #[serde(default)]
    only: bool,
    /// Run the dependencies too, without waiting for each other.
    #[serde(default)]
    parallel: bool,
    /// Run Turborepo tasks through `<pm> run` instead of starting their scripts directly.
    #[serde(default)]
    pm_run: bool,
    /// The environment the build's keys and commands see instead of the daemon's (a client
    /// handing over its build sends its own).
    env: Option<std::collections::BTreeMap<String, String>>,
    /// Which caches the build reads and writes, as turbo's `--cache` (`local:rw,remote:r`).
    #[serde(default)]
    cache: Option<String>,
    /// Run every command on the daemon's machine even when `remote_execution` is configured.
    #[serde(default)]
    local: bool,
    /// Remote-cache settings that win over the environment's and turbo's files (`apiUrl`,
    /// `token`, `teamSlug`, `teamId`, `timeout`, `uploadTimeout`, `preflight`, ...), as
    /// `buildnet run --api --token --team` sends them.
    #[serde(default)]
    remote_cache: crate::remote_cache::Layer,
}

#[derive(Deserialize)]
pub(crate) struct BuildQuery {
    #[serde(default)]
    stream: bool,
}

pub(crate) async fn start_build(
    State(app): State<App>,
    Query(q): Query<BuildQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: BuildBody = if body.is_empty() {
        parse_body(&Bytes::from_static(b"{}"))?
    } else {
        parse_body(&body)?
    };
    let options = BuildOptions {
        force: req.force,
        concurrency: req.concurrency,
        fail_fast: req.fail_fast,
        replay_logs: req.replay_logs.unwrap_or(true),
        args: req.args,
        only: req.only,
        parallel: req.parallel,
        pm_run: req.pm_run,
        env: req.env,
        cache: req.cache,
        local: req.local,
        remote_cache: req.remote_cache,
    };
    let daemon = app.inner.daemon.clone();
    // Subscribed before the build starts, so a stream misses none of its events.
    let pending = q.stream.then(|| daemon.prepare_follow());
    let targets = req.targets;
    let id = blocking(move || daemon.request_build(&targets, options)).await?;
    let Some(pending) = pending else {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "success": true, "build_id": id })),
        )
            .into_response());
    };
    let first = SseEvent::default()
        .event("build")
        .data(json!({ "build_id": id }).to_string());
    // The build's `build_finished` is the last event sent; if it may have been lost with
    // others (a lagged subscriber), the stream ends once the build has.
    let events = follow_stream(pending.follow(id), app.inner.stopping.clone())
        .filter_map(|item| std::future::ready(followed_sse(&item).map(Ok::<_, Infallible>)));
    let all = stream::once(async { Ok::<_, Infallible>(first) }).chain(events);
    Ok(Sse::new(all)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<u64>,
}

pub(crate) async fn list_builds(State(app): State<App>, Query(q): Query<LimitQuery>) -> ApiResult {
    let limit = bounded("limit", q.limit, 20, 1, MAX_PAGE)? as usize;
    let daemon = app.inner.daemon.clone();
    let builds = blocking(move || daemon.list_builds(limit)).await?;
    success(json!({ "builds": builds }))
}

pub(crate) async fn get_build(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let build = blocking(move || daemon.build(&id)).await?;
    success(json!({ "build": build }))
}

pub(crate) async fn cancel_build(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let cancelled = blocking(move || daemon.cancel_build(&id)).await?;
    success(json!({ "cancelled": cancelled }))
}
