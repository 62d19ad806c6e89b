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
//! files stay open. The remote caches served ([`cache`]: Turborepo, Nx, Bazel) are protocols,
//! not the API: they take bodies up to `cache.max_artifact_bytes` and check their own tokens.
//!
//! Files: [`routes`] (the one route table), [`openapi`], [`guard`], [`response`] (the JSON
//! envelope and error statuses), [`stream`] (the bus as a stream, server-sent events), [`ws`],
//! [`assets`] (the dashboard), [`handlers`], one file per area, and [`cache`].

mod assets;
mod cache;
mod guard;
mod handlers;
mod openapi;
mod response;
pub mod routes;
mod stream;
mod ws;

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::sync::{oneshot, watch};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};

use crate::daemon::{Daemon, Serving};
use crate::error::{Error, ErrorCode, Result};
use crate::runtime;

pub use guard::Guard;
pub use openapi::openapi_document;
pub use routes::{RouteSpec, ROUTES};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

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

impl Daemon {
    /// Binds the HTTP server and starts background maintenance. Returns the bound address.
    /// Starting a running daemon returns its address again. (See [`start`].)
    pub fn start(&self) -> Result<SocketAddr> {
        start(self)
    }
}

/// Serves `daemon` over HTTP: checks the host policy (off loopback only with a token), binds
/// `server.host:server.port` and runs the router on the process's runtime; the facade owns the
/// running server from then on (`Daemon::stop` ends it).
pub fn start(daemon: &Daemon) -> Result<SocketAddr> {
    daemon.serve_with(|config| {
        let host = config.server.host.as_str();
        let ip: std::net::IpAddr = match host {
            "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
            other => other.parse().map_err(|_| {
                Error::config(format!(
                    "server.host {other:?} is not an IP address (or localhost)"
                ))
            })?,
        };
        if !ip.is_loopback() && config.server.token.is_none() {
            return Err(Error::new(
                ErrorCode::Unauthorized,
                format!(
                    "refusing to listen on {ip}, off loopback, without a token: \
                     set BUILDNET_TOKEN or server.token"
                ),
            ));
        }
        let listener = std::net::TcpListener::bind((ip, config.server.port))
            .map_err(|e| Error::io(format!("cannot listen on {ip}:{}", config.server.port), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("configuring the listener", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let rt = runtime::get()?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::io("registering the listener", e))?
        };
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let (stopping, stopping_rx) = watch::channel(false);
        let app = service(daemon.clone(), address, stopping_rx);
        let task = rt.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await
        });
        Ok(Serving {
            address,
            shutdown,
            stopping,
            task,
        })
    })
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
    let router = router
        .merge(cache::router())
        .fallback(response::not_found)
        .with_state(app.clone());
    Service(Guard { inner: router, app })
}

#[cfg(test)]
mod tests;
