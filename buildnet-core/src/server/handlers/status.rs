//! Status, the graph, workers, artifacts and metrics.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::server::response::{blocking, success, ApiError, ApiResult};
use crate::server::App;

use super::{bounded, MAX_PAGE};
use crate::server::response::split_names;

pub(crate) async fn metrics(State(app): State<App>) -> Result<Response, ApiError> {
    let daemon = app.inner.daemon.clone();
    let text = blocking(move || daemon.metrics_text()).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

pub(crate) async fn status(State(app): State<App>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    success(blocking(move || daemon.status()).await?)
}

#[derive(Deserialize)]
pub(crate) struct GraphQuery {
    #[serde(default)]
    targets: String,
}

pub(crate) async fn graph(State(app): State<App>, Query(q): Query<GraphQuery>) -> ApiResult {
    let targets = split_names(&q.targets);
    success(app.inner.daemon.graph(&targets)?)
}

pub(crate) async fn workers(State(app): State<App>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let (slots, daemons) = blocking(move || Ok((daemon.slots()?, daemon.daemons()?))).await?;
    success(json!({ "slots": slots, "daemons": daemons }))
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    offset: Option<u64>,
    limit: Option<u64>,
}

pub(crate) async fn artifacts(State(app): State<App>, Query(q): Query<PageQuery>) -> ApiResult {
    let offset = bounded("offset", q.offset, 0, 0, i64::MAX as u64)?;
    let limit = bounded("limit", q.limit, 100, 1, MAX_PAGE)?;
    let daemon = app.inner.daemon.clone();
    success(blocking(move || daemon.list_artifacts(offset, limit)).await?)
}
