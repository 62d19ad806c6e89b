//! The HTTP API (axum). Every route reaches the engine through the [`Daemon`] facade.
//!
//! Responses are JSON: `{"success":true, ...}` or `{"success":false,"error":"...","code":"..."}`
//! with a status that follows from the error code. Every route is declared once, in [`ROUTES`]:
//! the router is built from that table and so is `GET /api/v1/openapi.json`, so the document
//! cannot drift from what is served.
//!
//! One guard runs before every route (see [`guard`]): the `Host` header must name this server
//! (DNS rebinding), a browser `Origin` must be this server's own or configured, a declared body
//! over [`MAX_BODY_BYTES`] is refused unread, and when a token is configured `/api/`, `/ws` and
//! `/metrics` need `Authorization: Bearer <token>` (`/ws` and the log stream also take
//! `?access_token=`, as browsers cannot set headers there). `/health` and the dashboard's static
//! files stay open.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};

use crate::api::{Daemon, VERSION};
use crate::error::{Error, ErrorCode};
use crate::events::{Event, EventEnvelope};
use crate::orchestrator::BuildOptions;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most keys one list request returns.
const MAX_LIST: usize = 10_000;
/// Most builds or artifacts one page holds.
const MAX_PAGE: u64 = 1_000;

const HEALTH_BODY: &str = concat!(
    "{\"status\":\"ok\",\"version\":\"",
    env!("CARGO_PKG_VERSION"),
    "\"}"
);

const DASHBOARD_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/app.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/style.css");
const DASHBOARD_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What every handler gets.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    daemon: Daemon,
    /// Host names (lowercase, without port) the `Host` header may carry; empty set = any.
    allowed_hosts: HashSet<String>,
    any_host: bool,
    allowed_origins: HashSet<String>,
    /// Flips to `true` when the server stops, ending streams (WebSocket, SSE) so the graceful
    /// shutdown does not wait on them.
    stopping: watch::Receiver<bool>,
}

/// One documented route.
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Whether the token (when configured) is needed.
    pub auth: bool,
    /// Query parameters: name, JSON type, description.
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// JSON schema of the request body, if it takes one.
    pub body: Option<fn() -> Value>,
    /// Status codes it answers with, and what each means.
    pub responses: &'static [(u16, &'static str)],
    /// The content type of a success.
    pub produces: &'static str,
    /// Whether answers are gzipped for clients that accept it (large, compressible ones).
    pub compress: bool,
    handler: fn() -> MethodRouter<App>,
}

const JSON_CT: &str = "application/json";
const ERR_400: (u16, &str) = (400, "malformed request");
const ERR_401: (u16, &str) = (401, "missing or wrong token");
const ERR_404: (u16, &str) = (404, "not found");

/// Every route the server answers, in the order the OpenAPI document lists them.
pub static ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: "GET",
        path: "/health",
        summary: "Liveness: status and version (no token needed)",
        auth: false,
        query: &[],
        body: None,
        responses: &[(200, "the daemon is up")],
        produces: JSON_CT,
        compress: false,
        handler: || get(health),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/status",
        summary: "Version, uptime, address, running and queued builds, cache figures, slots",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "status"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(status),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/graph",
        summary: "The resolved target graph (all targets, or those named and their dependencies)",
        auth: true,
        query: &[("targets", "string", "comma-separated target names")],
        body: None,
        responses: &[
            (200, "order and dependencies"),
            ERR_401,
            (404, "unknown target"),
            (422, "dependency cycle"),
        ],
        produces: JSON_CT,
        compress: true,
        handler: || get(graph),
    },
    RouteSpec {
        method: "POST",
        path: "/api/v1/build",
        summary: "Start a build; 202 with its id. With ?stream=true the answer is the build's \
                  events as server-sent events until it finishes",
        auth: true,
        query: &[(
            "stream",
            "boolean",
            "stream the build's events (text/event-stream)",
        )],
        body: Some(build_body_schema),
        responses: &[
            (202, "build started"),
            (200, "event stream (with stream=true)"),
            (400, "malformed JSON or fields"),
            ERR_401,
            (404, "unknown target"),
            (413, "body too large"),
            (422, "dependency cycle"),
            (503, "the daemon is shutting down"),
        ],
        produces: JSON_CT,
        compress: false,
        handler: || post(start_build),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/builds",
        summary: "Recent builds, newest first",
        auth: true,
        query: &[("limit", "integer", "at most this many (default 20)")],
        body: None,
        responses: &[(200, "builds"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(list_builds),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/builds/{id}",
        summary: "One build with each target's status, cache hit and duration",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "the build"), ERR_401, ERR_404],
        produces: JSON_CT,
        compress: true,
        handler: || get(get_build),
    },
    RouteSpec {
        method: "DELETE",
        path: "/api/v1/builds/{id}",
        summary: "Cancel a build (running commands are stopped)",
        auth: true,
        query: &[],
        body: None,
        responses: &[
            (200, "cancelled (false: it had finished)"),
            ERR_401,
            ERR_404,
        ],
        produces: JSON_CT,
        compress: false,
        handler: || delete(cancel_build),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/workers",
        summary: "Each worker slot and what it runs; the daemons serving this state",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "slots"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(workers),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/artifacts",
        summary: "The artifact store, least recently used first, a page at a time",
        auth: true,
        query: &[
            ("offset", "integer", "skip this many (default 0)"),
            (
                "limit",
                "integer",
                "at most this many (default 100, max 1000)",
            ),
        ],
        body: None,
        responses: &[(200, "a page of artifacts"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(artifacts),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/logs",
        summary: "A target's log in a build: the stored text, or with follow=true server-sent \
                  events (`line`, then `end`)",
        auth: true,
        query: &[
            ("build", "string", "build id (required)"),
            ("target", "string", "target name (required)"),
            ("follow", "boolean", "stream lines as they come"),
            (
                "access_token",
                "string",
                "the token, for clients that cannot set headers",
            ),
        ],
        body: None,
        responses: &[(200, "the log"), ERR_400, ERR_401, ERR_404],
        produces: "text/plain",
        compress: true,
        handler: || get(logs),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/state",
        summary: "List live keys by prefix",
        auth: true,
        query: &[
            ("prefix", "string", "key prefix"),
            ("limit", "integer", "at most this many (default 1000)"),
        ],
        body: None,
        responses: &[(200, "entries"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(list_state),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/state/{*key}",
        summary: "Read a key",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "the value"), ERR_401, ERR_404],
        produces: JSON_CT,
        compress: false,
        handler: || get(get_state),
    },
    RouteSpec {
        method: "PUT",
        path: "/api/v1/state/{*key}",
        summary: "Write a key, with an optional time to live",
        auth: true,
        query: &[],
        body: Some(put_state_schema),
        responses: &[(200, "stored"), ERR_400, ERR_401, (413, "body too large")],
        produces: JSON_CT,
        compress: false,
        handler: || put(put_state),
    },
    RouteSpec {
        method: "DELETE",
        path: "/api/v1/state/{*key}",
        summary: "Delete a key",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "deleted (false: it was not there)"), ERR_401],
        produces: JSON_CT,
        compress: false,
        handler: || delete(delete_state),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/locks",
        summary: "Locks held now",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "locks"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(list_locks),
    },
    RouteSpec {
        method: "POST",
        path: "/api/v1/locks/{*resource}",
        summary: "Acquire a lock: its token and fencing number, or 409 while someone holds it",
        auth: true,
        query: &[],
        body: Some(acquire_lock_schema),
        responses: &[
            (200, "acquired"),
            ERR_400,
            ERR_401,
            (409, "held by someone else"),
        ],
        produces: JSON_CT,
        compress: false,
        handler: || post(acquire_lock),
    },
    RouteSpec {
        method: "DELETE",
        path: "/api/v1/locks/{*resource}",
        summary: "Release a lock with its token",
        auth: true,
        query: &[],
        body: Some(release_lock_schema),
        responses: &[
            (200, "released"),
            ERR_400,
            ERR_401,
            (409, "not held with that token"),
        ],
        produces: JSON_CT,
        compress: false,
        handler: || delete(release_lock),
    },
    RouteSpec {
        method: "GET",
        path: "/api/v1/openapi.json",
        summary: "This document",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "OpenAPI 3.1 document"), ERR_401],
        produces: JSON_CT,
        compress: true,
        handler: || get(openapi),
    },
    RouteSpec {
        method: "GET",
        path: "/metrics",
        summary: "Prometheus metrics: builds, cache hits and misses, target durations, HTTP",
        auth: true,
        query: &[],
        body: None,
        responses: &[(200, "text exposition format 0.0.4"), ERR_401],
        produces: "text/plain",
        compress: true,
        handler: || get(metrics),
    },
    RouteSpec {
        method: "GET",
        path: "/ws",
        summary: "WebSocket stream of the event bus as JSON messages. Filter with ?types=a,b \
                  and ?build=ID, or send {\"types\":[...],\"build\":...} to change it",
        auth: true,
        query: &[
            ("types", "string", "comma-separated event types"),
            ("build", "string", "only events of this build"),
            (
                "access_token",
                "string",
                "the token (browsers cannot set headers here)",
            ),
        ],
        body: None,
        responses: &[
            (101, "switching to the WebSocket protocol"),
            (400, "not a WebSocket upgrade"),
            ERR_401,
            (403, "origin not allowed"),
        ],
        produces: JSON_CT,
        compress: false,
        handler: || get(ws),
    },
    RouteSpec {
        method: "GET",
        path: "/",
        summary: "The dashboard",
        auth: false,
        query: &[],
        body: None,
        responses: &[(200, "HTML page")],
        produces: "text/html",
        compress: true,
        handler: || get(dashboard_html),
    },
    RouteSpec {
        method: "GET",
        path: "/assets/app.js",
        summary: "The dashboard's script",
        auth: false,
        query: &[],
        body: None,
        responses: &[(200, "JavaScript")],
        produces: "text/javascript",
        compress: true,
        handler: || get(dashboard_js),
    },
    RouteSpec {
        method: "GET",
        path: "/assets/style.css",
        summary: "The dashboard's style sheet",
        auth: false,
        query: &[],
        body: None,
        responses: &[(200, "CSS")],
        produces: "text/css",
        compress: true,
        handler: || get(dashboard_css),
    },
];

fn build_body_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "targets": {"type": "array", "items": {"type": "string"},
                        "description": "targets to build (empty or absent: all)"},
            "force": {"type": "boolean", "description": "ignore the cache"},
            "concurrency": {"type": "integer", "minimum": 1},
            "fail_fast": {"type": "boolean"},
            "replay_logs": {"type": "boolean",
                            "description": "publish cached runs' logs as target_log events (default true)"},
        }
    })
}

fn put_state_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["value"],
        "properties": {
            "value": {"type": "string"},
            "ttl_ms": {"type": "integer", "minimum": 1},
        }
    })
}

fn acquire_lock_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["ttl_ms"],
        "properties": {"ttl_ms": {"type": "integer", "minimum": 1}}
    })
}

fn release_lock_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["token"],
        "properties": {"token": {"type": "string"}}
    })
}

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| name.trim_start_matches('*'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(route.query.iter().map(|(name, ty, desc)| {
            json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": ty}})
        }));
        let mut responses = serde_json::Map::new();
        for (code, desc) in route.responses {
            let content = if *code >= 400 {
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})
            } else if *code == 101 {
                json!({})
            } else {
                json!({ route.produces: {} })
            };
            responses.insert(
                code.to_string(),
                json!({"description": desc, "content": content}),
            );
        }
        let mut op = json!({
            "summary": route.summary,
            "operationId": operation_id(route),
            "parameters": params,
            "responses": responses,
        });
        if let Some(schema) = route.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema()}},
            });
        }
        if !route.auth {
            op["security"] = json!([]);
        }
        // `{*key}` (a key may hold `/`) is axum's; OpenAPI writes `{key}`.
        let entry = paths
            .entry(route.path.replace("{*", "{"))
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "BuildNet daemon API",
            "version": VERSION,
            "description": "Builds, their logs and events, the artifact store, and the \
                            key-value store with locks of one BuildNet workspace.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["success", "error", "code"],
                    "properties": {
                        "success": {"const": false},
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                    }
                }
            }
        }
    })
}

fn operation_id(route: &RouteSpec) -> String {
    let mut id = route.method.to_ascii_lowercase();
    for part in route.path.split(['/', '.', '{', '}', '*']) {
        if part.is_empty() || part == "api" || part == "v1" {
            continue;
        }
        id.push('_');
        id.push_str(&part.replace('-', "_"));
    }
    if route.path == "/" {
        id.push_str("_dashboard");
    }
    id
}

/// What `axum::serve` runs: the router behind the guard, the guard outermost (not a router
/// layer, which would box every request once more).
#[derive(Clone)]
pub struct Service(Guard<Router>);

impl<'a> tower_service::Service<axum::serve::IncomingStream<'a, tokio::net::TcpListener>>
    for Service
{
    type Response = Guard<Router>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Guard<Router>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(
        &mut self,
        _: axum::serve::IncomingStream<'a, tokio::net::TcpListener>,
    ) -> Self::Future {
        std::future::ready(Ok(self.0.clone()))
    }
}

/// The HTTP service for `daemon`, listening on `address`. Streams end when `stopping` turns
/// `true`.
pub fn service(daemon: Daemon, address: SocketAddr, stopping: watch::Receiver<bool>) -> Service {
    let config = daemon.config();
    let mut allowed_hosts: HashSet<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ip = match address.ip() {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    allowed_hosts.insert(ip);
    allowed_hosts.extend(
        config
            .server
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase()),
    );
    let any_host = config.server.allowed_hosts.iter().any(|h| h == "*");
    let app = App {
        inner: Arc::new(AppInner {
            daemon,
            allowed_hosts,
            any_host,
            allowed_origins: config.server.allowed_origins.iter().cloned().collect(),
            stopping,
        }),
    };
    // Layers go on the routes that need them only: every layer costs every request it wraps.
    let mut router = Router::new();
    for route in ROUTES {
        let mut handler = (route.handler)();
        if route.body.is_some() {
            handler = handler.layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
        }
        if route.compress {
            handler = handler.layer(
                tower_http::compression::CompressionLayer::new().compress_when(
                    SizeAbove::new(256)
                        .and(NotForContentType::GRPC)
                        .and(NotForContentType::IMAGES)
                        .and(NotForContentType::SSE),
                ),
            );
        }
        router = router.route(route.path, handler);
    }
    let router = router.fallback(not_found).with_state(app.clone());
    Service(Guard { inner: router, app })
}

/// An error as the API reports it.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
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

fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = json!({ "success": false, "error": message, "code": code.as_str() });
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(status_of(self.0.code()), self.0.code(), self.0.message())
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

/// The checks every request goes through (see the module documentation). Its future is not
/// boxed: the checks are synchronous, and the response only gets headers added.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    app: App,
}

impl<S> tower_service::Service<Request> for Guard<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.app.check(&request) {
            Ok(cors) => GuardFuture {
                state: GuardState::Inner(self.inner.call(request)),
                app: self.app.clone(),
                cors,
            },
            Err(refused) => GuardFuture {
                state: GuardState::Done(Some(*refused)),
                app: self.app.clone(),
                cors: None,
            },
        }
    }
}

pub struct GuardFuture<F> {
    state: GuardState<F>,
    app: App,
    cors: Option<HeaderValue>,
}

#[doc(hidden)]
pub enum GuardState<F> {
    Inner(F),
    Done(Option<Response>),
}

impl<F> std::future::Future for GuardFuture<F>
where
    F: std::future::Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // SAFETY: `state` is never moved out of the pinned future: `Inner` is only polled in
        // place, and `Done` only has its `Option` emptied. `app` and `cors` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let mut response = match &mut this.state {
            GuardState::Inner(inner) => {
                // SAFETY: see above; `inner` stays where it is until the future is dropped.
                match unsafe { std::pin::Pin::new_unchecked(inner) }.poll(cx) {
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                    std::task::Poll::Ready(Ok(response)) => response,
                    std::task::Poll::Ready(Err(never)) => match never {},
                }
            }
            GuardState::Done(refused) => refused
                .take()
                .expect("GuardFuture polled after it finished"),
        };
        let h = response.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(origin) = this.cors.take() {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        this.app
            .inner
            .daemon
            .count_response(response.status().as_u16());
        std::task::Poll::Ready(Ok(response))
    }
}

/// Whether `host` (a `Host` header value) names one of `allowed`.
fn host_allowed(allowed: &HashSet<String>, host: &str) -> bool {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        allowed.contains(&name.to_ascii_lowercase())
    } else {
        allowed.contains(name)
    }
}

impl App {
    /// The request's checks: `Ok` with the CORS origin to echo (if any), or the refusal.
    fn check(&self, request: &Request) -> Result<Option<HeaderValue>, Box<Response>> {
        let inner = &self.inner;
        let headers = request.headers();
        // DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host: evil.example.
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return Err(Box::new(error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidArgument,
                "a Host header is required",
            )));
        };
        if !inner.any_host && !host_allowed(&inner.allowed_hosts, host) {
            return Err(Box::new(error_response(
                StatusCode::MISDIRECTED_REQUEST,
                ErrorCode::Unauthorized,
                "this Host is not served here: add it to server.allowed_hosts",
            )));
        }
        // Browsers send Origin on cross-origin requests and every WebSocket handshake.
        let mut cors_origin = None;
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let same = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !same {
                if !inner.allowed_origins.contains(origin) {
                    return Err(Box::new(error_response(
                        StatusCode::FORBIDDEN,
                        ErrorCode::Unauthorized,
                        "cross-origin requests from this origin are refused: add it to \
                         server.allowed_origins",
                    )));
                }
                cors_origin = HeaderValue::from_str(origin).ok();
            }
        }
        if let (Some(origin), &Method::OPTIONS) = (&cors_origin, request.method()) {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            return Err(Box::new(response));
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(Box::new(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidArgument,
                &format!("request body larger than {MAX_BODY_BYTES} bytes"),
            )));
        }
        let path = request.uri().path();
        let protected = path.starts_with("/api/") || path == "/ws" || path == "/metrics";
        if protected {
            let config = inner.daemon.config();
            if let Some(expected) = config.server.token.as_deref() {
                let from_header = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                let from_query = if path == "/ws" || path == "/api/v1/logs" {
                    query_token(request)
                } else {
                    None
                };
                let ok = from_header
                    .or(from_query.as_deref())
                    .is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()));
                if !ok {
                    return Err(Box::new(error_response(
                        StatusCode::UNAUTHORIZED,
                        ErrorCode::Unauthorized,
                        "missing or wrong token: send Authorization: Bearer <token>",
                    )));
                }
            }
        }
        Ok(cors_origin)
    }
}

/// The request's `access_token` query parameter, percent-decoded.
fn query_token(request: &Request) -> Option<String> {
    #[derive(Deserialize)]
    struct Token {
        access_token: Option<String>,
    }
    Query::<Token>::try_from_uri(request.uri())
        .ok()?
        .0
        .access_token
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT))],
        HEALTH_BODY,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError(Error::not_found("no such route"))
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
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

async fn dashboard_html() -> Response {
    static_asset("text/html; charset=utf-8", DASHBOARD_HTML)
}

async fn dashboard_js() -> Response {
    static_asset("text/javascript; charset=utf-8", DASHBOARD_JS)
}

async fn dashboard_css() -> Response {
    static_asset("text/css; charset=utf-8", DASHBOARD_CSS)
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

async fn metrics(State(app): State<App>) -> Result<Response, ApiError> {
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

async fn status(State(app): State<App>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    success(blocking(move || daemon.status()).await?)
}

#[derive(Deserialize)]
struct GraphQuery {
    #[serde(default)]
    targets: String,
}

fn split_names(names: &str) -> Vec<String> {
    names
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

async fn graph(State(app): State<App>, Query(q): Query<GraphQuery>) -> ApiResult {
    let targets = split_names(&q.targets);
    success(app.inner.daemon.graph(&targets)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildBody {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    force: bool,
    concurrency: Option<usize>,
    #[serde(default)]
    fail_fast: bool,
    /// Publish cached runs' logs as `target_log` events (default true).
    replay_logs: Option<bool>,
}

#[derive(Deserialize)]
struct BuildQuery {
    #[serde(default)]
    stream: bool,
}

async fn start_build(
    State(app): State<App>,
    Query(q): Query<BuildQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: BuildBody = if body.is_empty() {
        parse_body(&Bytes::from_static(b"{}"))?
    } else {
        parse_body(&body)?
    };
    if req.concurrency == Some(0) {
        return Err(Error::invalid_argument("concurrency must be at least 1").into());
    }
    let options = BuildOptions {
        force: req.force,
        concurrency: req.concurrency,
        fail_fast: req.fail_fast,
        replay_logs: req.replay_logs.unwrap_or(true),
    };
    let daemon = app.inner.daemon.clone();
    // Subscribed before the build starts, so a stream misses none of its events.
    let events = q.stream.then(|| daemon.subscribe());
    let targets = req.targets;
    let d = daemon.clone();
    let id = blocking(move || d.request_build(&targets, options)).await?;
    let build_id = id.clone();
    match events {
        None => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "success": true, "build_id": id })),
        )
            .into_response()),
        Some(rx) => {
            let first = SseEvent::default()
                .event("build")
                .data(json!({ "build_id": id }).to_string());
            let events = bus_stream(rx, app.inner.stopping.clone())
                .filter(move |item| {
                    std::future::ready(match item {
                        BusItem::Event(env) => env.event.build_id() == Some(id.as_str()),
                        BusItem::Lagged(_) => true,
                    })
                })
                .map(move |item| {
                    // The build's `build_finished` is the last event sent; if it may have been
                    // lost with others (a lagged subscriber), the stream ends once the build has.
                    let last = match &item {
                        BusItem::Event(env) => matches!(env.event, Event::BuildFinished { .. }),
                        BusItem::Lagged(_) => build_over(&daemon, &build_id),
                    };
                    (item.to_sse(), last)
                });
            let events = until_last(events);
            let all = stream::once(async { Ok::<_, Infallible>(first) }).chain(events);
            Ok(Sse::new(all)
                .keep_alive(KeepAlive::default())
                .into_response())
        }
    }
}

/// Whether build `id` has ended, by its record (written before its `build_finished` event).
fn build_over(daemon: &Daemon, id: &str) -> bool {
    daemon
        .build(id)
        .map_or(true, |r| !matches!(r.status.as_str(), "queued" | "running"))
}

/// Yields the events of `items` up to and including the first one marked last, then ends at
/// once (without waiting for another item to arrive).
fn until_last(
    items: impl Stream<Item = (SseEvent, bool)> + Send + 'static,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    stream::unfold((Box::pin(items), false), |(mut items, done)| async move {
        if done {
            return None;
        }
        let (event, last) = items.next().await?;
        Some((Ok(event), (items, last)))
    })
}

/// What a bus subscription yields.
enum BusItem {
    Event(Arc<EventEnvelope>),
    Lagged(u64),
}

impl BusItem {
    fn to_sse(&self) -> SseEvent {
        match self {
            BusItem::Event(env) => SseEvent::default()
                .event("event")
                .data(serde_json::to_string(&**env).unwrap_or_default()),
            BusItem::Lagged(n) => SseEvent::default()
                .event("lagged")
                .data(json!({ "type": "lagged", "missed": n }).to_string()),
        }
    }
}

/// The event bus as a stream, ending when the server stops.
fn bus_stream(
    rx: tokio::sync::broadcast::Receiver<Arc<EventEnvelope>>,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = BusItem> + Send + 'static {
    stream::unfold((rx, stopping), |(mut rx, mut stopping)| async move {
        loop {
            if *stopping.borrow() {
                return None;
            }
            tokio::select! {
                next = rx.recv() => match next {
                    Ok(env) => return Some((BusItem::Event(env), (rx, stopping))),
                    Err(RecvError::Lagged(n)) => return Some((BusItem::Lagged(n), (rx, stopping))),
                    Err(RecvError::Closed) => return None,
                },
                changed = stopping.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    })
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<u64>,
}

async fn list_builds(State(app): State<App>, Query(q): Query<LimitQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(20).min(MAX_PAGE) as usize;
    let daemon = app.inner.daemon.clone();
    let builds = blocking(move || daemon.list_builds(limit)).await?;
    success(json!({ "builds": builds }))
}

async fn get_build(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let build = blocking(move || daemon.build(&id)).await?;
    success(json!({ "build": build }))
}

async fn cancel_build(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let cancelled = blocking(move || daemon.cancel_build(&id)).await?;
    success(json!({ "cancelled": cancelled }))
}

async fn workers(State(app): State<App>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let (slots, daemons) = blocking(move || Ok((daemon.slots()?, daemon.daemons()?))).await?;
    success(json!({ "slots": slots, "daemons": daemons }))
}

#[derive(Deserialize)]
struct PageQuery {
    offset: Option<u64>,
    limit: Option<u64>,
}

async fn artifacts(State(app): State<App>, Query(q): Query<PageQuery>) -> ApiResult {
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(100).min(MAX_PAGE));
    let daemon = app.inner.daemon.clone();
    success(blocking(move || daemon.list_artifacts(offset, limit)).await?)
}

#[derive(Deserialize)]
struct LogsQuery {
    build: Option<String>,
    target: Option<String>,
    #[serde(default)]
    follow: bool,
}

/// Build and target statuses after which no more lines come.
fn finished_status(status: &str) -> bool {
    !matches!(status, "queued" | "pending" | "running")
}

async fn logs(State(app): State<App>, Query(q): Query<LogsQuery>) -> Result<Response, ApiError> {
    let (Some(build), Some(target)) = (q.build, q.target) else {
        return Err(Error::invalid_argument("logs need ?build=ID&target=NAME").into());
    };
    let daemon = app.inner.daemon.clone();
    // Subscribed before the stored log is read: every line is in one or the other (or both,
    // told apart by line numbers).
    let rx = q.follow.then(|| daemon.subscribe());
    let (b, t) = (build.clone(), target.clone());
    let d = daemon.clone();
    // The record before the log: a target that finishes in between has its whole log read.
    let (record, stored) = blocking(move || {
        let record = d.build(&b)?;
        let log = d.target_log_in(&record, &t)?;
        Ok((record, log))
    })
    .await?;
    let stored = stored.unwrap_or_default();
    let Some(rx) = rx else {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            stored,
        )
            .into_response());
    };
    let run_status = record
        .targets
        .iter()
        .find(|r| r.target == target)
        .map(|r| r.status.clone())
        .unwrap_or_default();
    let done = finished_status(&run_status) || finished_status(&record.status);
    let text = String::from_utf8_lossy(&stored).into_owned();
    // While the target runs, only complete lines are sent from the file; the last partial one
    // comes as an event.
    let complete = if done {
        text.as_str()
    } else {
        text.rfind('\n').map_or("", |i| &text[..=i])
    };
    let stored_lines: Vec<String> = complete.lines().map(String::from).collect();
    let seen = stored_lines.len() as u64;
    let line_event = |stream: &str, line: &str, n: u64| {
        SseEvent::default()
            .event("line")
            .data(json!({ "stream": stream, "line": line, "line_no": n }).to_string())
    };
    let head: Vec<Result<SseEvent, Infallible>> = stored_lines
        .iter()
        .enumerate()
        .map(|(i, l)| Ok(line_event("stdout", l, i as u64 + 1)))
        .collect();
    let head = stream::iter(head);
    if done {
        let end = SseEvent::default()
            .event("end")
            .data(json!({ "status": run_status }).to_string());
        let all = head.chain(stream::once(async { Ok::<_, Infallible>(end) }));
        return Ok(Sse::new(all).into_response());
    }
    /// A live item: a line to send, or the end (sent, then the stream stops).
    enum Out {
        Send(SseEvent),
        End(SseEvent),
    }
    let end_event = |status: &str| {
        SseEvent::default()
            .event("end")
            .data(json!({ "status": status }).to_string())
    };
    let (b, t) = (build.clone(), target.clone());
    let live = bus_stream(rx, app.inner.stopping.clone())
        .filter_map(move |item| {
            let out = match &item {
                // Its end may be among the events lost: stop if the build is over.
                BusItem::Lagged(_) if build_over(&daemon, &b) => {
                    Some(Out::End(end_event("unknown")))
                }
                BusItem::Lagged(n) => Some(Out::Send(
                    SseEvent::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string()),
                )),
                BusItem::Event(env) => match &env.event {
                    Event::TargetLog {
                        build_id,
                        target,
                        stream,
                        line,
                        line_no,
                    } if *build_id == b && *target == t && *line_no > seen => {
                        let stream = match stream {
                            crate::process::Stream::Stderr => "stderr",
                            crate::process::Stream::Stdout => "stdout",
                        };
                        Some(Out::Send(line_event(stream, line, *line_no)))
                    }
                    Event::TargetFinished {
                        build_id,
                        target,
                        status,
                        ..
                    } if *build_id == b && *target == t => Some(Out::End(end_event(status))),
                    Event::BuildFinished {
                        build_id, status, ..
                    } if *build_id == b => Some(Out::End(end_event(status))),
                    _ => None,
                },
            };
            std::future::ready(out)
        })
        .map(|out| match out {
            Out::Send(e) => (e, false),
            Out::End(e) => (e, true),
        });
    let live = until_last(live);
    Ok(Sse::new(head.chain(live))
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
}

async fn list_state(State(app): State<App>, Query(q): Query<ListQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(1000).min(MAX_LIST);
    let daemon = app.inner.daemon.clone();
    let entries = blocking(move || daemon.list_state(&q.prefix, limit)).await?;
    success(json!({ "entries": entries }))
}

async fn get_state(State(app): State<App>, Path(key): Path<String>) -> Result<Response, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutState {
    value: String,
    ttl_ms: Option<u64>,
}

async fn put_state(State(app): State<App>, Path(key): Path<String>, body: Bytes) -> ApiResult {
    let put: PutState = parse_body(&body)?;
    let daemon = app.inner.daemon.clone();
    blocking(move || daemon.set_state(&key, &put.value, put.ttl_ms)).await?;
    success(json!({}))
}

async fn delete_state(State(app): State<App>, Path(key): Path<String>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
    let deleted = blocking(move || daemon.delete_state(&key)).await?;
    success(json!({ "deleted": deleted }))
}

async fn list_locks(State(app): State<App>) -> ApiResult {
    let daemon = app.inner.daemon.clone();
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseLock {
    token: String,
}

async fn release_lock(
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

/// Which events a WebSocket client wants.
#[derive(Debug, Default, Deserialize)]
struct WsFilter {
    /// Event types (`build_started`, `target_log`, ...); all when absent.
    #[serde(default, deserialize_with = "types_list")]
    types: Option<HashSet<String>>,
    /// Only events of this build (events of no build are left out too).
    build: Option<String>,
}

/// Accepts `"a,b"` (query string) or `["a","b"]` (message).
fn types_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<HashSet<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Types {
        Csv(String),
        List(Vec<String>),
    }
    Ok(Option::<Types>::deserialize(d)?.map(|t| match t {
        Types::Csv(s) => split_names(&s).into_iter().collect(),
        Types::List(v) => v.into_iter().collect(),
    }))
}

impl WsFilter {
    fn accepts(&self, event: &Event) -> bool {
        if let Some(types) = &self.types {
            if !types.contains(event.kind()) {
                return false;
            }
        }
        match (&self.build, event.build_id()) {
            (Some(want), Some(id)) => want == id,
            (Some(_), None) => false,
            _ => true,
        }
    }
}

async fn ws(
    State(app): State<App>,
    Query(filter): Query<WsFilter>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade
            .on_upgrade(move |socket| ws_session(app, socket, filter))
            .into_response(),
        Err(rejection) => error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidArgument,
            &format!("a WebSocket upgrade is needed here: {rejection}"),
        ),
    }
}

async fn ws_session(app: App, mut socket: WebSocket, mut filter: WsFilter) {
    let rx = app.inner.daemon.subscribe();
    let mut events = Box::pin(bus_stream(rx, app.inner.stopping.clone()));
    loop {
        tokio::select! {
            item = events.next() => {
                let text = match item {
                    None => break,
                    Some(BusItem::Lagged(n)) => json!({ "type": "lagged", "missed": n }).to_string(),
                    Some(BusItem::Event(env)) => {
                        if !filter.accepts(&env.event) {
                            continue;
                        }
                        match serde_json::to_string(&*env) {
                            Ok(t) => t,
                            Err(_) => continue,
                        }
                    }
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<WsFilter>(&text) {
                    Ok(f) => filter = f,
                    Err(e) => {
                        let msg = json!({ "type": "error", "error": format!("invalid filter: {e}") });
                        if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                },
                Some(Ok(_)) => {}
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        let allowed: HashSet<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(host_allowed(&allowed, "LocalHost:7890"));
        assert!(host_allowed(&allowed, "127.0.0.1"));
        assert!(host_allowed(&allowed, "[::1]:80"));
        assert!(!host_allowed(&allowed, "evil.example:7890"));
        assert!(!host_allowed(&allowed, "localhost.evil.example"));
        assert!(!host_allowed(&allowed, ""));
    }

    #[test]
    fn every_route_is_documented_once_with_an_operation_id() {
        let doc = openapi_document();
        let mut ids = HashSet::new();
        for route in ROUTES {
            let op =
                &doc["paths"][route.path.replace("{*", "{")][route.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", route.method, route.path);
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()));
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, ROUTES.len());
    }

    #[test]
    fn ws_filter_by_type_and_build() {
        let f: WsFilter = serde_json::from_str(r#"{"types":["target_log"],"build":"b1"}"#).unwrap();
        let log = |b: &str| Event::TargetLog {
            build_id: b.into(),
            target: "t".into(),
            stream: crate::process::Stream::Stdout,
            line: "x".into(),
            line_no: 1,
        };
        assert!(f.accepts(&log("b1")));
        assert!(!f.accepts(&log("b2")));
        assert!(!f.accepts(&Event::DaemonStopped));
        let all = WsFilter::default();
        assert!(all.accepts(&Event::DaemonStopped));
    }
}
