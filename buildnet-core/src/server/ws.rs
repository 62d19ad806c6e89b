//! `GET /ws`: the event bus over a WebSocket, filtered by type and build; a client changes its
//! filter by sending one as JSON.

use std::collections::HashSet;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::response::{error_response, split_names};
use super::stream::{bus_stream, BusItem};
use super::App;
use crate::error::ErrorCode;
use crate::events::Event;

/// Which events a WebSocket client wants.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WsFilter {
    /// Event types (`build_started`, `target_log`, ...); all when absent.
    #[serde(default, deserialize_with = "types_list")]
    types: Option<HashSet<String>>,
    /// Only events of this build (events of no build are left out too).
    build: Option<String>,
}

/// Accepts `"a,b"` (query string) or `["a","b"]` (message).
pub(crate) fn types_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<HashSet<String>>, D::Error> {
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
    pub(crate) fn accepts(&self, event: &Event) -> bool {
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

pub(crate) async fn ws(
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

pub(crate) async fn ws_session(app: App, mut socket: WebSocket, mut filter: WsFilter) {
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
