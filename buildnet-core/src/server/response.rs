//! The JSON envelope: `{"success":true, ...}`, or `{"success":false,"error","code"}` with the
//! HTTP status that follows from the error code; and the helpers every handler shares.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, ErrorCode};

/// An error as the API reports it.
pub(crate) struct ApiError(pub(crate) Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidArgument | ErrorCode::Config => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Cycle => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Busy => StatusCode::CONFLICT,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::InvalidState => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(crate) fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = json!({ "success": false, "error": message, "code": code.as_str() });
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(status_of(self.0.code()), self.0.code(), self.0.message())
    }
}

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

/// `{"success": true}` merged with the fields of `value`.
pub(crate) fn success(value: impl Serialize) -> ApiResult {
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
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("request task failed: {e}")))?
        .map_err(ApiError)
}

/// Parses a JSON body, reporting malformed JSON as a 400 with the parser's message.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError(Error::invalid_argument(format!("invalid JSON body: {e}"))))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError(Error::not_found("no such route"))
}

/// Splits a comma-separated list of names, dropping empty ones.
pub(crate) fn split_names(names: &str) -> Vec<String> {
    names
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}
