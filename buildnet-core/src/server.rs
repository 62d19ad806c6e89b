//! The HTTP API (axum). Every route reaches the engine through the [`Daemon`] facade.
//!
//! Responses are JSON: `{"success":true, ...}` or `{"success":false,"error":"...","code":"..."}`
//! with a status that follows from the error code. When a token is configured, every `/api/`
//! route needs `Authorization: Bearer <token>`; `/health` stays open for supervisors.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::{Daemon, VERSION};
use crate::error::{Error, ErrorCode};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most keys one list request returns.
const MAX_LIST: usize = 10_000;

/// The application router for `daemon`.
pub fn router(daemon: Daemon) -> Router {
    let api = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/state", get(list_state))
        .route(
            "/api/v1/state/{*key}",
            get(get_state).put(put_state).delete(delete_state),
        )
        .route("/api/v1/locks", get(list_locks))
        .route(
            "/api/v1/locks/{*resource}",
            axum::routing::post(acquire_lock).delete(release_lock),
        )
        .route_layer(middleware::from_fn_with_state(
            daemon.clone(),
            require_token,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_declared_oversize))
        .with_state(daemon)
}

/// An error as the API reports it.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.code() {
            ErrorCode::InvalidArgument | ErrorCode::Config => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Cycle => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Busy => StatusCode::CONFLICT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::InvalidState => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = json!({
            "success": false,
            "error": self.0.message(),
            "code": self.0.code().as_str(),
        });
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// `{"success": true}` merged with the fields of `value`.
fn success(value: impl Serialize) -> ApiResult {
    let mut value = serde_json::to_value(value)
        .map_err(|e| Error::internal(format!("encoding a response: {e}")))?;
    match &mut value {
        Value::Object(map) => {
            map.insert("success".into(), Value::Bool(true));
            Ok(Json(value))
        }
        _ => Ok(Json(json!({ "success": true, "data": value }))),
    }
}

/// Runs engine work that may touch the disk off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("request task failed: {e}")))?
        .map_err(ApiError)
}

/// Parses a JSON body, reporting malformed JSON as a 400 with the parser's message.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError(Error::invalid_argument(format!("invalid JSON body: {e}"))))
}

/// A body declared larger than the limit is refused before any of it is read.
async fn refuse_declared_oversize(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let body = json!({
            "success": false,
            "error": format!("request body larger than {MAX_BODY_BYTES} bytes"),
            "code": ErrorCode::InvalidArgument.as_str(),
        });
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    }
    next.run(request).await
}

async fn require_token(
    State(daemon): State<Daemon>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let config = daemon.config();
    if let Some(expected) = config.server.token.as_deref() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            return ApiError(Error::new(
                ErrorCode::Unauthorized,
                "missing or wrong token: send Authorization: Bearer <token>",
            ))
            .into_response();
        }
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": VERSION }))
}

async fn not_found() -> ApiError {
    ApiError(Error::not_found("no such route"))
}

async fn status(State(daemon): State<Daemon>) -> ApiResult {
    success(blocking(move || daemon.status()).await?)
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
}

async fn list_state(State(daemon): State<Daemon>, Query(q): Query<ListQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(1000).min(MAX_LIST);
    let entries = blocking(move || daemon.list_state(&q.prefix, limit)).await?;
    success(json!({ "entries": entries }))
}

async fn get_state(State(daemon): State<Daemon>, Path(key): Path<String>) -> ApiResult {
    let k = key.clone();
    match blocking(move || daemon.get_state(&k)).await? {
        Some(value) => success(json!({ "key": key, "value": value })),
        None => Err(Error::not_found(format!("key {key:?} not found")).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutState {
    value: String,
    ttl_ms: Option<u64>,
}

async fn put_state(
    State(daemon): State<Daemon>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let put: PutState = parse_body(&body)?;
    blocking(move || daemon.set_state(&key, &put.value, put.ttl_ms)).await?;
    success(json!({}))
}

async fn delete_state(State(daemon): State<Daemon>, Path(key): Path<String>) -> ApiResult {
    let deleted = blocking(move || daemon.delete_state(&key)).await?;
    success(json!({ "deleted": deleted }))
}

async fn list_locks(State(daemon): State<Daemon>) -> ApiResult {
    let locks = blocking(move || daemon.list_locks()).await?;
    let locks: Vec<Value> = locks
        .into_iter()
        .map(|l| json!({ "resource": l.resource, "fence": l.fence, "expires_at": l.expires_at }))
        .collect();
    success(json!({ "locks": locks }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcquireLock {
    ttl_ms: u64,
}

async fn acquire_lock(
    State(daemon): State<Daemon>,
    Path(resource): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: AcquireLock = parse_body(&body)?;
    let r = resource.clone();
    match blocking(move || daemon.acquire_lock(&r, req.ttl_ms)).await? {
        Some(lock) => success(lock),
        None => Err(Error::new(ErrorCode::Busy, format!("lock {resource:?} is held")).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseLock {
    token: String,
}

async fn release_lock(
    State(daemon): State<Daemon>,
    Path(resource): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: ReleaseLock = parse_body(&body)?;
    let r = resource.clone();
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
