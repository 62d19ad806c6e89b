//! Bazel's HTTP remote cache (`--remote_cache=http://HOST:PORT[/INSTANCE]`): `GET`, `HEAD`
//! and `PUT` of `/ac/{sha256}` (the action cache: a serialized REAPI `ActionResult`, keyed by
//! the SHA-256 of the action) and `/cas/{sha256}` (blobs, keyed by the SHA-256 of their
//! bytes), with an optional instance name before them. A CAS upload whose body does not hash
//! to its name is refused, and so is an action-cache value that is not an `ActionResult`
//! whose digests and paths make sense. The instance name (else the token's first team) is the
//! namespace. Errors are plain text.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use sha2::{Digest as _, Sha256};

use super::{
    answer, artifact_response, authorize, commit, declared_length, download, miss, receive,
    text_response, Observe, Refusal,
};
use crate::reapi::{is_sha256, parse_action_result};
use crate::server::App;
use crate::state::{Protocol, ServedMeta};

/// The SHA-256 of no bytes: always present, as every REAPI store treats it.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Action-cache values are read whole to be checked; larger ones are refused.
const MAX_ACTION_RESULT: usize = 16 * 1024 * 1024;
/// First path segments that are BuildNet's own, never an instance name.
const RESERVED: [&str; 5] = ["api", "v1", "v8", "ws", "metrics"];

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/ac/{hash}", get(serve).head(serve).put(serve))
        .route("/cas/{hash}", get(serve).head(serve).put(serve))
        .route("/{instance}/ac/{hash}", get(serve).head(serve).put(serve))
        .route("/{instance}/cas/{hash}", get(serve).head(serve).put(serve))
}

/// Every route: the store is the path's `ac` or `cas`, the instance its first segment if any.
async fn serve(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
    body: Body,
) -> Response {
    // `/ac/{hash}` or `/{instance}/ac/{hash}`: the segment before the hash names the store.
    let store = uri.path().rsplit('/').nth(1).unwrap_or("");
    let protocol = if store == "ac" {
        Protocol::BazelAc
    } else {
        Protocol::BazelCas
    };
    let hash = params.get("hash").cloned().unwrap_or_default();
    let instance = params.get("instance").cloned();
    let result = handle(&app, protocol, &method, &headers, instance, &hash, body).await;
    answer(&app, protocol, result, Refusal::text)
}

async fn handle(
    app: &App,
    protocol: Protocol,
    method: &Method,
    headers: &HeaderMap,
    instance: Option<String>,
    hash: &str,
    body: Body,
) -> Result<Response, Refusal> {
    let grant = authorize(app, headers)?;
    if let Some(name) = &instance {
        if RESERVED.contains(&name.as_str()) {
            return Err(Refusal::Invalid(format!(
                "{name:?} cannot be an instance name here"
            )));
        }
    }
    let namespace = grant.namespace(instance.as_deref())?;
    if !is_sha256(hash) {
        return Err(Refusal::Invalid(format!(
            "{hash:?} is not a SHA-256 (64 lowercase hex digits)"
        )));
    }
    let daemon = &app.inner.daemon;
    if *method == Method::PUT {
        grant.check_write()?;
        let declared = declared_length(app, headers)?;
        let staged = match protocol {
            Protocol::BazelCas => {
                let (staged, sha) = receive(app, body, declared, Sha256::new()).await?;
                let actual = crate::reapi::hex(&sha.finalize());
                if actual != hash {
                    return Err(Refusal::Invalid(format!(
                        "the body hashes to {actual}, not {hash}: refused"
                    )));
                }
                staged
            }
            _ => {
                let (staged, value) = receive(app, body, declared, Collect::default()).await?;
                if value.over {
                    return Err(Refusal::TooLarge(MAX_ACTION_RESULT as u64));
                }
                parse_action_result(&value.bytes).map_err(Refusal::Invalid)?;
                staged
            }
        };
        if !(protocol == Protocol::BazelCas && hash == EMPTY_SHA256) {
            commit(
                app,
                protocol,
                namespace,
                hash.to_owned(),
                staged,
                ServedMeta::default(),
                true,
            )
            .await?;
        }
        return Ok(text_response(StatusCode::OK, "stored"));
    }
    if protocol == Protocol::BazelCas && hash == EMPTY_SHA256 {
        return Ok(artifact_response(Body::empty(), 0));
    }
    let not_found = || {
        miss(app, protocol);
        Ok(text_response(StatusCode::NOT_FOUND, "not found"))
    };
    if *method == Method::HEAD {
        return match daemon.served_entry(protocol, &namespace, hash)? {
            Some(entry) => Ok(artifact_response(Body::empty(), entry.size)),
            None => not_found(),
        };
    }
    let Some((entry, reader)) = daemon.served_open(protocol, &namespace, hash)? else {
        return not_found();
    };
    match download(app, protocol, &entry.blob, reader)? {
        Some(body) => Ok(artifact_response(body, entry.size)),
        None => not_found(),
    }
}

/// An action-cache value kept whole to be checked, up to [`MAX_ACTION_RESULT`].
#[derive(Default)]
struct Collect {
    bytes: Vec<u8>,
    over: bool,
}

impl Observe for Collect {
    fn update(&mut self, piece: &[u8]) {
        self.over |= self.bytes.len() + piece.len() > MAX_ACTION_RESULT;
        if !self.over {
            self.bytes.extend_from_slice(piece);
        }
    }
}
