//! Locks: list, acquire (token and fencing number), release.

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, ErrorCode};
use crate::server::response::{blocking, parse_body, success, ApiResult};
use crate::server::App;

pub(crate) async fn list_locks(State(app): State<App>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let locks = blocking(move || daemon.list_locks()).await?;
    let locks: Vec<Value> = locks
        .into_iter()
        .map(|l| json!({ "resource": l.resource, "fence": l.fence, "expires_at": l.expires_at }))
        .collect();
    success(json!({ "locks": locks }))
}

/// `POST /api/v1/locks/{resource}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcquireLock {
    /// How long the lease lasts unless extended.
    #[schemars(range(min = 1))]
    ttl_ms: u64,
}

pub(crate) async fn acquire_lock(
    State(app): State<App>,
    Path(resource): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: AcquireLock = parse_body(&body)?;
    let r = resource.clone();
    let daemon = app.inner.daemon.clone();
    match blocking(move || daemon.acquire_lock(&r, req.ttl_ms)).await? {
        Some(lock) => success(lock),
        None => Err(Error::new(ErrorCode::Busy, format!("lock {resource:?} is held")).into()),
    }
}

/// `DELETE /api/v1/locks/{resource}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseLock {
    /// The token `POST` gave.
    token: String,
}

pub(crate) async fn release_lock(
    State(app): State<App>,
    Path(resource): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: ReleaseLock = parse_body(&body)?;
    let r = resource.clone();
    let daemon = app.inner.daemon.clone();
    if blocking(move || daemon.release_lock(&r, &req.token)).await? {
        success(json!({ "released": true }))
    } else {
        Err(Error::new(
            ErrorCode::Busy,
            format!("lock {resource:?} is not held with that token"),
        )
        .into())
    }
}
