//! Nx's self-hosted remote cache (Nx ≥ 20.8, `NX_SELF_HOSTED_REMOTE_CACHE_SERVER`):
//! `PUT /v1/cache/{hash}` answers 200 when stored (Nx 24 fails its tasks on the 202 its own
//! spec names), 409 when the hash is already stored (the first write wins), 403 for a read-only
//! token; `GET /v1/cache/{hash}` answers 200 with the body or 404. Errors are plain text, which
//! Nx shows to the user. Nx names no team: a token bound to teams works in its first team's
//! namespace, others in the shared one.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::{
    answer, artifact_response, authorize, check_key, commit, declared_length, download, miss,
    receive, text_response, Refusal,
};
use crate::server::App;
use crate::state::{Protocol, ServedMeta};

const P: Protocol = Protocol::Nx;

pub(super) fn routes() -> Router<App> {
    Router::new().route("/v1/cache/{hash}", get(get_artifact).put(put_artifact))
}

async fn get_artifact(
    State(app): State<App>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Response {
    let result = (|| {
        let namespace = authorize(&app, &headers)?.namespace(None)?;
        check_key(&hash)?;
        let found = app.inner.daemon.served_open(P, &namespace, &hash)?;
        if let Some((entry, reader)) = found {
            if let Some(body) = download(&app, P, &entry.blob, reader)? {
                return Ok(artifact_response(body, entry.size));
            }
        }
        miss(&app, P);
        Ok(text_response(
            StatusCode::NOT_FOUND,
            "The record was not found",
        ))
    })();
    answer(&app, P, result, Refusal::text)
}

async fn put_artifact(
    State(app): State<App>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    body: Body,
) -> Response {
    let result = store(&app, &headers, &hash, body).await;
    answer(&app, P, result, Refusal::text)
}

fn conflict() -> Response {
    text_response(StatusCode::CONFLICT, "Cannot override an existing record")
}

async fn store(
    app: &App,
    headers: &HeaderMap,
    hash: &str,
    body: Body,
) -> Result<Response, Refusal> {
    let grant = authorize(app, headers)?;
    let namespace = grant.namespace(None)?;
    grant.check_write()?;
    check_key(hash)?;
    let declared = declared_length(app, headers)?;
    // Answered before the body is read: nothing is stored twice.
    if app.inner.daemon.served_contains(P, &namespace, hash)? {
        return Ok(conflict());
    }
    let (staged, ()) = receive(app, body, declared, ()).await?;
    let stored = commit(
        app,
        P,
        namespace,
        hash.to_owned(),
        staged,
        ServedMeta::default(),
        false,
    )
    .await?;
    Ok(if stored {
        let mut ok = Response::new(Body::empty());
        *ok.status_mut() = StatusCode::OK;
        ok
    } else {
        conflict()
    })
}
