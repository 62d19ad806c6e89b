//! The dashboard's files, compiled into the binary, and `/health`.
//!
//! The dashboard is native ES modules (no build step): `index.html` loads `app.js`, which
//! imports the others by relative path. Every file is served from [`ASSETS`] by exact name, so
//! no request path ever reaches the filesystem.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::response::ApiError;
use crate::error::Error;

use super::routes::JSON_CT;

const HEALTH_BODY: &str = concat!(
    "{\"status\":\"ok\",\"version\":\"",
    env!("CARGO_PKG_VERSION"),
    "\"}"
);

const DASHBOARD_HTML: &str = include_str!("../dashboard/index.html");

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! js {
    ($name:literal) => {
        ($name, JS, include_str!(concat!("../dashboard/", $name)))
    };
}

/// `/assets/{name}`: name, content type, body.
pub(crate) static ASSETS: &[(&str, &str, &str)] = &[
    js!("api.js"),
    js!("app.js"),
    js!("buildform.js"),
    js!("builds.js"),
    js!("detail.js"),
    js!("dom.js"),
    js!("events.js"),
    js!("format.js"),
    js!("graph.js"),
    js!("header.js"),
    js!("kv.js"),
    js!("locks.js"),
    js!("log.js"),
    js!("notice.js"),
    js!("refresh.js"),
    js!("socket.js"),
    js!("state.js"),
    js!("status.js"),
    js!("token.js"),
    js!("workers.js"),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../dashboard/style.css"),
    ),
];
const DASHBOARD_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub(crate) async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT))],
        HEALTH_BODY,
    )
        .into_response()
}

pub(crate) fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DASHBOARD_CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn dashboard_html() -> Response {
    static_asset("text/html; charset=utf-8", DASHBOARD_HTML)
}

pub(crate) async fn dashboard_asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, content_type, body)| static_asset(content_type, body))
        .ok_or_else(|| ApiError(Error::not_found(format!("no dashboard file {name:?}"))))
}
