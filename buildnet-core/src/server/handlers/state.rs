//! The key-value store: list, read, write, delete.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::Error;
use crate::server::response::{blocking, parse_body, success, ApiError, ApiResult};
use crate::server::App;

/// Most keys one list request returns.
const MAX_LIST: u64 = 10_000;

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    prefix: String,
    after: Option<String>,
    limit: Option<u64>,
}

pub(crate) async fn list_state(State(app): State<App>, Query(q): Query<ListQuery>) -> ApiResult {
    let limit = super::bounded("limit", q.limit, 1000, 1, MAX_LIST)? as usize;
    let daemon = app.inner.daemon.clone();
    let page = blocking(move || daemon.list_state(&q.prefix, q.after.as_deref(), limit)).await?;
    success(page)
}

pub(crate) async fn get_state(
    State(app): State<App>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    // A point read: the read cache answers in well under a microsecond and SQLite in a few, so
    // it runs here rather than paying for a hop to the blocking pool.
    match app.inner.daemon.get_state(&key)? {
        Some(value) => {
            #[derive(Serialize)]
            struct Found<'a> {
                success: bool,
                key: &'a str,
                value: &'a str,
            }
            Ok(Json(Found {
                success: true,
                key: &key,
                value: &value,
            })
            .into_response())
        }
        None => Err(Error::not_found(format!("key {key:?} not found")).into()),
    }
}

/// `PUT /api/v1/state/{key}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutState {
    value: String,
    /// Time to live (absent: forever).
    #[schemars(range(min = 1))]
    ttl_ms: Option<u64>,
}

pub(crate) async fn put_state(
    State(app): State<App>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let put: PutState = parse_body(&body)?;
    let daemon = app.inner.daemon.clone();
    blocking(move || daemon.set_state(&key, &put.value, put.ttl_ms)).await?;
    success(json!({}))
}

pub(crate) async fn delete_state(State(app): State<App>, Path(key): Path<String>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let deleted = blocking(move || daemon.delete_state(&key)).await?;
    success(json!({ "deleted": deleted }))
}
