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
use crate::cas::{BlobReader, Staged};
use crate::config::CacheAccess;
use crate::error::Error;
use crate::metrics::Served;
use crate::state::Protocol;

/// The routes of every protocol served.
pub(super) fn router() -> Router<App> {
    turbo::routes()
        .merge(nx::routes())
        .merge(bazel::routes())
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

/// Downloads up to this size are read and verified whole before the answer starts, so a
/// corrupt blob is answered as a miss; larger ones are verified as they stream (see
/// [`BlobReader`]).
const WHOLE_READ_BYTES: u64 = 1024 * 1024;
/// Pieces a download is sent in.
const CHUNK_BYTES: usize = 256 * 1024;

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
    pair.split_once(':').map(|(_, password)| password.to_owned())
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
            app.inner
                .daemon
                .count_served(protocol, Served::Refusals, 1);
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

/// Streams `body` into the artifact store, passing each piece to `observe` too (a digest or a
/// signature being checked). Refused past `cache.max_artifact_bytes`, or when it ends short of
/// or beyond its declared length.
pub(super) async fn receive(
    app: &App,
    body: Body,
    declared: Option<u64>,
    mut observe: impl FnMut(&[u8]),
) -> Result<Staged, Refusal> {
    let daemon = &app.inner.daemon;
    let limit = daemon.config().cache.max_artifact_bytes;
    let mut writer = daemon.served_writer()?;
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| Refusal::Invalid(format!("reading the body: {e}")))?;
        if writer.size() + piece.len() as u64 > limit {
            return Err(Refusal::TooLarge(limit));
        }
        observe(&piece);
        writer.write(&piece)?;
    }
    if let Some(n) = declared {
        if writer.size() != n {
            return Err(Refusal::Invalid(format!(
                "the body has {} bytes, Content-Length said {n}",
                writer.size()
            )));
        }
    }
    Ok(writer.finish())
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

/// The body of a download: small blobs read and verified whole (`None` if corrupt, a miss),
/// larger ones streamed and verified as they go.
pub(super) fn download(
    app: &App,
    protocol: Protocol,
    mut reader: BlobReader,
) -> Result<Option<Body>, Refusal> {
    let size = reader.size();
    let daemon = &app.inner.daemon;
    let body = if size <= WHOLE_READ_BYTES {
        let mut whole = Vec::with_capacity(size as usize);
        loop {
            match reader.next_chunk(WHOLE_READ_BYTES as usize + 1) {
                Ok(Some(piece)) => whole.extend_from_slice(&piece),
                Ok(None) => break,
                Err(_) => return Ok(None),
            }
        }
        Body::from(Bytes::from(whole))
    } else {
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            match reader.next_chunk(CHUNK_BYTES) {
                Ok(Some(piece)) => Some((Ok(Bytes::from(piece)), reader)),
                Ok(None) => None,
                Err(err) => {
                    tracing::warn!(%err, "a download was cut short");
                    Some((Err(std::io::Error::other(err.to_string())), reader))
                }
            }
        });
        Body::from_stream(stream)
    };
    daemon.count_served(protocol, Served::Hits, 1);
    daemon.count_served(protocol, Served::BytesOut, size);
    Ok(Some(body))
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
