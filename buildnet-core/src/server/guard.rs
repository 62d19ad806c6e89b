//! The checks every request goes through before its route: the `Host` header must name this
//! server (DNS rebinding), a browser `Origin` must be this server's own or configured (CORS is
//! answered for those only), a declared body over the limit is refused unread (the remote
//! caches have their own limit), and with a token configured the API, `/ws` and `/metrics`
//! need it. Responses get `nosniff` and are counted.

use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::{Query, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::cache::is_cache_path;
use super::response::error_response;
use super::{App, MAX_BODY_BYTES};
use crate::error::ErrorCode;

/// The checks every request goes through (see the module documentation). Its future is not
/// boxed: the checks are synchronous, and the response only gets headers added.
#[derive(Clone)]
pub struct Guard<S> {
    pub(crate) inner: S,
    pub(crate) app: App,
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
pub(crate) fn host_allowed(allowed: &HashSet<String>, host: &str) -> bool {
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
        let Some(host) = headers.get(header::HOST) else {
            return Err(Box::new(error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidArgument,
                "a Host header is required",
            )));
        };
        let Ok(host) = host.to_str() else {
            return Err(Box::new(error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidArgument,
                "the Host header is not a host name",
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
        let path = request.uri().path();
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) && !is_cache_path(path) {
            return Err(Box::new(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidArgument,
                &format!("request body larger than {MAX_BODY_BYTES} bytes"),
            )));
        }
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
pub(crate) fn query_token(request: &Request) -> Option<String> {
    #[derive(Deserialize)]
    struct Token {
        access_token: Option<String>,
    }
    Query::<Token>::try_from_uri(request.uri())
        .ok()?
        .0
        .access_token
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
