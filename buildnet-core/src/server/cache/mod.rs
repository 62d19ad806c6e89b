//! The remote caches a team points its existing tools at, one module per protocol:
//! [`turbo`] (Turborepo's `/v8/artifacts`), [`nx`] (Nx's self-hosted `/v1/cache`) and
//! [`bazel`] (Bazel's HTTP cache, `/ac` and `/cas`). They are protocols, not BuildNet's API, so
//! they are not in the route table or the OpenAPI document; `docs/remote-cache.md` describes
//! them.
//!
//! What they share lives here: who may read and write ([`authorize`]: the admin token does
//! everything, `server.cache_tokens` grant read or read-write access and may bind a token to
//! teams; with no token configured, on loopback, the caches are open), bodies streamed both
//! ways (an upload goes piece by piece into the artifact store, hashed as it arrives, and is
//! refused past `cache.max_artifact_bytes`; a download is read piece by piece and verified, so
//! a multi-gigabyte artifact never sits in memory), and the counters per protocol.

pub(super) mod bazel;
pub(super) mod nx;
pub(super) mod turbo;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::Engine;
use futures_util::StreamExt;

use super::guard::constant_time_eq;
use super::App;
use crate::cas::Staged;
use crate::config::CacheAccess;
use crate::daemon::served::{ServedBody, HOT_MAX_BLOB};
use crate::error::Error;
use crate::metrics::Served;
use crate::state::Protocol;

/// The routes of every protocol served.
pub(super) fn router() -> Router<App> {
    turbo::routes().merge(nx::routes()).merge(bazel::routes())
}

/// Whether `path` is one of the remote-cache protocols' (they take bodies up to
/// `cache.max_artifact_bytes` and check tokens themselves).
pub(crate) fn is_cache_path(path: &str) -> bool {
    if path.starts_with("/v8/artifacts") || path.starts_with("/v1/cache/") {
        return true;
    }
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut segments = rest.split('/');
    let first = segments.next().unwrap_or("");
    let second = segments.next();
    matches!(first, "ac" | "cas") || matches!(second, Some("ac" | "cas"))
}

/// Pieces a download is sent in.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Why a request was refused, answered in each protocol's own shape.
#[derive(Debug)]
pub(super) enum Refusal {
    /// 401: no token, or one that is not configured.
    Unauthorized(&'static str),
    /// 403: a read-only token writing, or another team's namespace.
    Forbidden(String),
    /// 413: the body is over `cache.max_artifact_bytes`.
    TooLarge(u64),
    /// 400: a malformed key, header or body.
    Invalid(String),
    /// 411: the protocol needs the body's length up front.
    LengthRequired(&'static str),
    /// 500: the store failed.
    Internal(Error),
}

impl Refusal {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Invalid(_) => StatusCode::BAD_REQUEST,
            Refusal::LengthRequired(_) => StatusCode::LENGTH_REQUIRED,
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(super) fn message(&self) -> String {
        match self {
            Refusal::Unauthorized(m) | Refusal::LengthRequired(m) => (*m).to_owned(),
            Refusal::Forbidden(m) | Refusal::Invalid(m) => m.clone(),
            Refusal::TooLarge(limit) => {
                format!("artifact larger than {limit} bytes (cache.max_artifact_bytes)")
            }
            Refusal::Internal(err) => format!("the cache failed: {err}"),
        }
    }

    /// A plain-text answer (Nx shows it to the user; Bazel logs it).
    pub(super) fn text(self) -> Response {
        text_response(self.status(), &self.message())
    }
}

impl From<Error> for Refusal {
    fn from(err: Error) -> Self {
        Refusal::Internal(err)
    }
}

pub(super) fn text_response(status: StatusCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// What a request's token allows.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    write: bool,
    /// The namespaces it may reach; `None` = all.
    teams: Option<Vec<String>>,
}

impl Grant {
    /// The namespace a request works in: the one it names (a team, an instance), which the
    /// token must reach, else the token's first team, else the shared one (`""`).
    pub(super) fn namespace(&self, requested: Option<&str>) -> Result<String, Refusal> {
        match (requested, &self.teams) {
            (Some(ns), Some(teams)) if !teams.iter().any(|t| t == ns) => Err(Refusal::Forbidden(
                format!("this token may not use the artifacts of {ns:?}"),
            )),
            (Some(ns), _) => Ok(ns.to_owned()),
            (None, Some(teams)) => Ok(teams[0].clone()),
            (None, None) => Ok(String::new()),
        }
    }

    pub(super) fn check_write(&self) -> Result<(), Refusal> {
        if self.write {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                "this token is read-only: uploads are refused".into(),
            ))
        }
    }
}

/// The token a request carries: `Authorization: Bearer <t>`, or the password of
/// `Authorization: Basic` (Bazel's `http://user:token@host` form).
fn token_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    pair.split_once(':')
        .map(|(_, password)| password.to_owned())
}

/// Who is asking (see the module documentation).
pub(super) fn authorize(app: &App, headers: &HeaderMap) -> Result<Grant, Refusal> {
    let config = app.inner.daemon.config();
    let server = &config.server;
    if server.token.is_none() && server.cache_tokens.is_empty() {
        // Open, as the rest of the API: `start` refuses to listen off loopback without a token.
        return Ok(Grant {
            write: true,
            teams: None,
        });
    }
    let Some(given) = token_of(headers) else {
        return Err(Refusal::Unauthorized(
            "a token is required: send Authorization: Bearer <token>",
        ));
    };
    if let Some(admin) = &server.token {
        if constant_time_eq(given.as_bytes(), admin.as_bytes()) {
            return Ok(Grant {
                write: true,
                teams: None,
            });
        }
    }
    // Every configured token is compared, so the time taken does not tell which one matched.
    let mut found = None;
    for token in &server.cache_tokens {
        if constant_time_eq(given.as_bytes(), token.token.as_bytes()) && found.is_none() {
            found = Some(Grant {
                write: token.access == CacheAccess::ReadWrite,
                teams: token.teams.clone(),
            });
        }
    }
    found.ok_or(Refusal::Unauthorized("wrong token"))
}

/// The answer to a request: its response, or its refusal in `protocol`'s `shape`, counted
/// (a failure of the store is not a refusal, and is logged instead).
pub(super) fn answer(
    app: &App,
    protocol: Protocol,
    result: Result<Response, Refusal>,
    shape: fn(Refusal) -> Response,
) -> Response {
    match result {
        Ok(response) => response,
        Err(Refusal::Internal(err)) => {
            tracing::warn!(%err, protocol = protocol.as_str(), "remote cache request failed");
            shape(Refusal::Internal(err))
        }
        Err(refusal) => {
            app.inner.daemon.count_served(protocol, Served::Refusals, 1);
            shape(refusal)
        }
    }
}

/// A key as the protocols name artifacts: 1 to 128 letters, digits, `-`, `_` or `.`.
pub(super) fn check_key(key: &str) -> Result<(), Refusal> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Refusal::Invalid(format!(
            "{key:?} is not an artifact key (1 to 128 letters, digits, - _ .)"
        )))
    }
}

/// The body's declared length, if any; refused when it is over the limit.
pub(super) fn declared_length(app: &App, headers: &HeaderMap) -> Result<Option<u64>, Refusal> {
    let limit = app.inner.daemon.config().cache.max_artifact_bytes;
    let declared = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| Refusal::Invalid("Content-Length is not a number".into()))?,
        ),
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(Refusal::TooLarge(limit));
    }
    Ok(declared)
}

/// What watches an upload's bytes go by besides the store's own hash: a digest or a signature
/// being checked. It runs on the writing thread and is handed back at the end.
pub(super) trait Observe: Send + 'static {
    fn update(&mut self, piece: &[u8]);
}

impl Observe for () {
    fn update(&mut self, _: &[u8]) {}
}

impl<O: Observe> Observe for Option<O> {
    fn update(&mut self, piece: &[u8]) {
        if let Some(o) = self {
            o.update(piece);
        }
    }
}

impl Observe for sha2::Sha256 {
    fn update(&mut self, piece: &[u8]) {
        sha2::Digest::update(self, piece);
    }
}

impl Observe for hmac::Hmac<sha2::Sha256> {
    fn update(&mut self, piece: &[u8]) {
        hmac::Mac::update(self, piece);
    }
}

/// Pieces of an upload in flight between the connection and the writing thread.
const PIECES_IN_FLIGHT: usize = 16;

/// Streams `body` into the artifact store, passing each piece to `observe` too, and returns
/// the staged blob and the observer. The connection is read here while a blocking thread writes
/// and hashes, so the two overlap. Refused past `cache.max_artifact_bytes`, or when the body
/// ends short of or beyond its declared length.
pub(super) async fn receive<O: Observe>(
    app: &App,
    body: Body,
    declared: Option<u64>,
    mut observe: O,
) -> Result<(Staged, O), Refusal> {
    let daemon = &app.inner.daemon;
    let limit = daemon.config().cache.max_artifact_bytes;
    let mut writer = daemon.served_writer()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(PIECES_IN_FLIGHT);
    let writing = tokio::task::spawn_blocking(move || -> crate::error::Result<_> {
        while let Some(piece) = rx.blocking_recv() {
            observe.update(&piece);
            writer.write(&piece)?;
        }
        Ok((writer, observe))
    });
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let mut failed = None;
    while let Some(piece) = stream.next().await {
        let piece = match piece {
            Ok(piece) => piece,
            Err(e) => {
                failed = Some(Refusal::Invalid(format!("reading the body: {e}")));
                break;
            }
        };
        received += piece.len() as u64;
        if received > limit {
            failed = Some(Refusal::TooLarge(limit));
            break;
        }
        if tx.send(piece).await.is_err() {
            // The writer stopped (a disk error): its error is the answer.
            break;
        }
    }
    drop(tx);
    let (writer, observe) = writing
        .await
        .map_err(|e| Error::internal(format!("writing an upload: {e}")))??;
    if let Some(refusal) = failed {
        return Err(refusal);
    }
    if let Some(n) = declared {
        if writer.size() != n {
            return Err(Refusal::Invalid(format!(
                "the body has {} bytes, Content-Length said {n}",
                writer.size()
            )));
        }
    }
    Ok((writer.finish(), observe))
}

/// Stores a received upload off the async workers (placing a blob may fsync).
pub(super) async fn commit(
    app: &App,
    protocol: Protocol,
    namespace: String,
    key: String,
    staged: Staged,
    meta: crate::state::ServedMeta,
    overwrite: bool,
) -> Result<bool, Refusal> {
    let daemon = app.inner.daemon.clone();
    let size = staged.size;
    let stored = tokio::task::spawn_blocking(move || {
        daemon.served_commit(protocol, &namespace, &key, staged, &meta, overwrite)
    })
    .await
    .map_err(|e| Error::internal(format!("storing an upload: {e}")))??;
    if stored {
        app.inner
            .daemon
            .count_served(protocol, Served::BytesIn, size);
    }
    Ok(stored)
}

/// The body of a download: from memory when the blob is kept there; small blobs read and
/// verified whole (`None` if corrupt, a miss) and then kept; larger ones read and verified
/// piece by piece on a blocking thread while the connection sends the pieces before.
pub(super) fn download(
    app: &App,
    protocol: Protocol,
    blob: &str,
    body: ServedBody,
) -> Result<Option<Body>, Refusal> {
    let daemon = &app.inner.daemon;
    let reader = match body {
        ServedBody::Hot(bytes) => {
            let size = bytes.len() as u64;
            return Ok(Some(counted(app, protocol, Body::from(bytes), size)));
        }
        ServedBody::Disk(reader) => *reader,
    };
    let size = reader.size();
    let body = if size <= HOT_MAX_BLOB {
        match reader.read_whole() {
            Ok(whole) => {
                let bytes = Bytes::from(whole);
                daemon.served_keep(blob, bytes.clone());
                Body::from(bytes)
            }
            Err(_) => return Ok(None),
        }
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        let mut reader = reader;
        tokio::task::spawn_blocking(move || loop {
            let piece = match reader.next_chunk(CHUNK_BYTES) {
                Ok(Some(piece)) => Ok(Bytes::from(piece)),
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(%err, "a download was cut short");
                    Err(std::io::Error::other(err.to_string()))
                }
            };
            let last = piece.is_err();
            if tx.blocking_send(piece).is_err() || last {
                return;
            }
        });
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|piece| (piece, rx))
        }))
    };
    Ok(Some(counted(app, protocol, body, size)))
}

/// Counts a hit and its bytes for `protocol`.
fn counted(app: &App, protocol: Protocol, body: Body, size: u64) -> Body {
    let daemon = &app.inner.daemon;
    daemon.count_served(protocol, Served::Hits, 1);
    daemon.count_served(protocol, Served::BytesOut, size);
    body
}

/// A `200` answer carrying an artifact of `size` bytes.
pub(super) fn artifact_response(body: Body, size: u64) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    response
}

/// Counts a miss for `protocol`.
pub(super) fn miss(app: &App, protocol: Protocol) {
    app.inner.daemon.count_served(protocol, Served::Misses, 1);
}

#[cfg(test)]
mod tests;
