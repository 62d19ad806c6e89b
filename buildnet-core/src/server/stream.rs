//! The event bus, or one build's events, as a stream that ends when the server stops, and the
//! server-sent events made of them.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event as SseEvent;
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::events::EventEnvelope;
use crate::follow::{BuildFollow, Followed};

/// The items of `follow` (see [`crate::follow`]) up to its end, or until the server stops.
pub(crate) fn follow_stream(
    follow: BuildFollow,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = Followed> + Send + 'static {
    stream::unfold(
        (follow, stopping),
        |(mut follow, mut stopping)| async move {
            loop {
                if *stopping.borrow() {
                    return None;
                }
                tokio::select! {
                    item = follow.next() => return match item {
                        Followed::End => None,
                        item => Some((item, (follow, stopping))),
                    },
                    changed = stopping.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                }
            }
        },
    )
}

/// An item of a build stream as a server-sent event: `event` with the envelope, or `lagged`.
pub(crate) fn followed_sse(item: &Followed) -> Option<SseEvent> {
    match item {
        Followed::Event(env) => Some(
            SseEvent::default()
                .event("event")
                .data(serde_json::to_string(&**env).unwrap_or_default()),
        ),
        Followed::Lagged { missed: n, .. } => Some(
            SseEvent::default()
                .event("lagged")
                .data(json!({ "type": "lagged", "missed": n }).to_string()),
        ),
        Followed::Idle | Followed::End => None,
    }
}

/// Yields the events of `items` up to and including the first one marked last, then ends at
/// once (without waiting for another item to arrive).
pub(crate) fn until_last(
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
pub(crate) enum BusItem {
    Event(Arc<EventEnvelope>),
    Lagged(u64),
}

/// The event bus as a stream, ending when the server stops.
pub(crate) fn bus_stream(
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
