//! Turborepo's remote cache, the Vercel v8 artifacts API, as `turbo` 2.x speaks it:
//! `GET /v8/artifacts/status`, `GET`/`HEAD`/`PUT /v8/artifacts/{hash}`, `POST /v8/artifacts`
//! (which of these hashes are stored) and `POST /v8/artifacts/events` (the client's hit and
//! miss analytics, checked and accepted). Each team (`?teamId=`, else `?slug=`) is its own
//! namespace. `x-artifact-duration`, `-tag`, `-sha` and `-dirty-hash` are stored with the body
//! and sent back. Errors are Vercel's `{"error":{"code","message"}}`.
//!
//! With `server.cache_signature_key` set, a PUT must carry the `x-artifact-tag` turbo computes
//! with `remoteCache.signature` on: base64 of HMAC-SHA256 over the length-prefixed fields
//! `"artifact-signature:v2"`, the hash, the team id (`""` with only a slug) and the body. It is
//! checked as the body streams in, before anything is stored.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use hmac::Mac;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    answer, artifact_response, authorize, check_key, commit, declared_length, download, miss,
    receive, Refusal,
};
use crate::remote_cache::signature_mac;
use crate::server::App;
use crate::state::{Protocol, ServedMeta};

const P: Protocol = Protocol::Turbo;
/// The Vercel API's limit on `x-artifact-tag`.
const MAX_TAG: usize = 600;
/// Longest `x-artifact-sha` / `x-artifact-dirty-hash` kept.
const MAX_HASH_HEADER: usize = 128;
/// Largest JSON body of the batch query and the events.
const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/v8/artifacts/status", get(status))
        .route(
            "/v8/artifacts/events",
            post(events)
                .options(preflight)
                .layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v8/artifacts",
            post(query).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v8/artifacts/{hash}",
            get(get_artifact)
                .head(get_artifact)
                .put(put_artifact)
                .options(preflight),
        )
}

/// `OPTIONS /v8/artifacts/{hash}` and `/v8/artifacts/events`: turbo's `--preflight` asks
/// first, and sends its token only if the answer names `Authorization`. No
/// `Access-Control-Allow-Origin` is sent, so this lets no web page in: browsers still need the
/// origin check the guard makes.
async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                "access-control-allow-methods",
                "GET, HEAD, PUT, POST, OPTIONS",
            ),
            (
                "access-control-allow-headers",
                "Authorization, Content-Type, User-Agent, x-artifact-duration, x-artifact-tag, \
                 x-artifact-sha, x-artifact-dirty-hash, x-artifact-client-ci, \
                 x-artifact-client-interactive",
            ),
        ],
    )
        .into_response()
}

/// The team a request names: `teamId` (turbo sends it for ids starting `team_`), else `slug`.
#[derive(Deserialize, Default)]
pub(super) struct Team {
    #[serde(rename = "teamId")]
    team_id: Option<String>,
    slug: Option<String>,
}

impl Team {
    fn requested(&self) -> Option<&str> {
        self.team_id
            .as_deref()
            .or(self.slug.as_deref())
            .filter(|t| !t.is_empty())
    }
}

/// Vercel's error shape.
fn vercel(refusal: Refusal) -> Response {
    let code = match &refusal {
        Refusal::Unauthorized(_) => "unauthorized",
        Refusal::Forbidden(_) => "forbidden",
        Refusal::TooLarge(_) => "payload_too_large",
        Refusal::Invalid(_) | Refusal::LengthRequired(_) => "bad_request",
        Refusal::Internal(_) => "internal_server_error",
    };
    let body = json!({ "error": { "code": code, "message": refusal.message() } });
    (refusal.status(), Json(body)).into_response()
}

fn not_found() -> Response {
    let body = json!({ "error": { "code": "not_found", "message": "Artifact not found" } });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

async fn status(State(app): State<App>, headers: HeaderMap, Query(team): Query<Team>) -> Response {
    let result = authorize(&app, &headers)
        .and_then(|grant| grant.namespace(team.requested()))
        .map(|_| Json(json!({ "status": "enabled" })).into_response());
    answer(&app, P, result, vercel)
}

async fn get_artifact(
    State(app): State<App>,
    method: Method,
    headers: HeaderMap,
    Query(team): Query<Team>,
    Path(hash): Path<String>,
) -> Response {
    let result = fetch(&app, &headers, &team, &hash, method == Method::HEAD);
    answer(&app, P, result, vercel)
}

fn fetch(
    app: &App,
    headers: &HeaderMap,
    team: &Team,
    hash: &str,
    head: bool,
) -> Result<Response, Refusal> {
    let namespace = authorize(app, headers)?.namespace(team.requested())?;
    check_key(hash)?;
    let daemon = &app.inner.daemon;
    let (entry, body) = if head {
        match daemon.served_entry(P, &namespace, hash)? {
            Some(entry) => (entry, Body::empty()),
            None => {
                miss(app, P);
                return Ok(not_found());
            }
        }
    } else {
        let Some((entry, reader)) = daemon.served_open(P, &namespace, hash)? else {
            miss(app, P);
            return Ok(not_found());
        };
        match download(app, P, &entry.blob, reader)? {
            Some(body) => (entry, body),
            None => {
                miss(app, P);
                return Ok(not_found());
            }
        }
    };
    let mut response = artifact_response(body, entry.size);
    let h = response.headers_mut();
    let meta = &entry.meta;
    let fields = [
        (
            "x-artifact-duration",
            meta.duration_ms.map(|d| d.to_string()),
        ),
        ("x-artifact-tag", meta.tag.clone()),
        ("x-artifact-sha", meta.sha.clone()),
        ("x-artifact-dirty-hash", meta.dirty_hash.clone()),
    ];
    for (name, value) in fields {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(HeaderName::from_static(name), value);
        }
    }
    Ok(response)
}

/// A header's value as text, at most `max` bytes.
fn header_text(headers: &HeaderMap, name: &str, max: usize) -> Result<Option<String>, Refusal> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Refusal::Invalid(format!("{name} is not text")))?;
    if text.len() > max {
        return Err(Refusal::Invalid(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    Ok(Some(text.to_owned()))
}

/// The `x-artifact-*` headers of a PUT.
fn meta_of(headers: &HeaderMap) -> Result<ServedMeta, Refusal> {
    let duration_ms = match header_text(headers, "x-artifact-duration", 32)? {
        None => None,
        Some(d) => Some(d.trim().parse::<u64>().map_err(|_| {
            Refusal::Invalid(format!(
                "x-artifact-duration {d:?} is not a whole number of ms"
            ))
        })?),
    };
    Ok(ServedMeta {
        duration_ms,
        tag: header_text(headers, "x-artifact-tag", MAX_TAG)?,
        sha: header_text(headers, "x-artifact-sha", MAX_HASH_HEADER)?,
        dirty_hash: header_text(headers, "x-artifact-dirty-hash", MAX_HASH_HEADER)?,
    })
}

async fn put_artifact(
    State(app): State<App>,
    headers: HeaderMap,
    Query(team): Query<Team>,
    Path(hash): Path<String>,
    body: Body,
) -> Response {
    let result = store(&app, &headers, &team, &hash, body).await;
    answer(&app, P, result, vercel)
}

async fn store(
    app: &App,
    headers: &HeaderMap,
    team: &Team,
    hash: &str,
    body: Body,
) -> Result<Response, Refusal> {
    let grant = authorize(app, headers)?;
    let namespace = grant.namespace(team.requested())?;
    grant.check_write()?;
    check_key(hash)?;
    let meta = meta_of(headers)?;
    let declared = declared_length(app, headers)?;
    let key = app.inner.daemon.config().server.cache_signature_key.clone();
    let mac = match &key {
        None => None,
        Some(key) => {
            let Some(len) = declared else {
                return Err(Refusal::LengthRequired(
                    "signed artifacts need a Content-Length",
                ));
            };
            let team_id = team.team_id.as_deref().unwrap_or("");
            Some(signature_mac(key.as_bytes(), hash, team_id, len))
        }
    };
    let (staged, mac) = receive(app, body, declared, mac).await?;
    if let Some(mac) = mac {
        let tag = meta.tag.as_deref().ok_or_else(|| {
            Refusal::Invalid("artifacts must be signed here: x-artifact-tag is missing".into())
        })?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(tag.trim())
            .map_err(|_| Refusal::Invalid("x-artifact-tag is not base64".into()))?;
        mac.verify_slice(&given).map_err(|_| {
            Refusal::Invalid(
                "x-artifact-tag does not match the artifact (wrong signature key?)".into(),
            )
        })?;
    }
    let url = format!("{namespace}/{hash}");
    commit(app, P, namespace, hash.to_owned(), staged, meta, true).await?;
    Ok(Json(json!({ "urls": [url] })).into_response())
}

/// `POST /v8/artifacts {"hashes": [...]}`: for each hash stored, its size, duration and tag;
/// `null` for the others.
async fn query(
    State(app): State<App>,
    headers: HeaderMap,
    Query(team): Query<Team>,
    body: Bytes,
) -> Response {
    let result = (|| {
        let namespace = authorize(&app, &headers)?.namespace(team.requested())?;
        #[derive(Deserialize)]
        struct Hashes {
            hashes: Vec<String>,
        }
        let asked: Hashes = serde_json::from_slice(&body)
            .map_err(|e| Refusal::Invalid(format!("expected {{\"hashes\": [...]}}: {e}")))?;
        let mut found = Map::new();
        for hash in asked.hashes {
            check_key(&hash)?;
            let entry = app.inner.daemon.served_entry(P, &namespace, &hash)?;
            let value = match entry {
                None => Value::Null,
                Some(e) => {
                    let mut v = json!({
                        "size": e.size,
                        "taskDurationMs": e.meta.duration_ms.unwrap_or(0),
                    });
                    if let Some(tag) = e.meta.tag {
                        v["tag"] = Value::String(tag);
                    }
                    v
                }
            };
            found.insert(hash, value);
        }
        Ok(Json(Value::Object(found)).into_response())
    })();
    answer(&app, P, result, vercel)
}

/// `POST /v8/artifacts/events`: turbo's end-of-run report of hits and misses, checked for
/// shape and accepted (its figures are the server's own counters already).
async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(team): Query<Team>,
    body: Bytes,
) -> Response {
    let result = (|| {
        authorize(&app, &headers)?.namespace(team.requested())?;
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct CacheEvent {
            #[serde(rename = "sessionId")]
            session_id: String,
            source: String,
            event: String,
            hash: String,
            duration: Option<u64>,
        }
        let events: Vec<CacheEvent> = serde_json::from_slice(&body)
            .map_err(|e| Refusal::Invalid(format!("expected an array of cache events: {e}")))?;
        tracing::debug!(count = events.len(), "turbo cache events");
        Ok(Json(json!({})).into_response())
    })();
    answer(&app, P, result, vercel)
}
