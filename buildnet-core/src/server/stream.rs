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

/// `items` until the server stops (at once if it has already begun to).
fn until_stopped<S: Stream + Send + 'static>(
    items: S,
    mut stopping: watch::Receiver<bool>,
) -> impl Stream<Item = S::Item> + Send + 'static {
    // An error means the server is gone: that ends the stream too.
    items.take_until(async move {
        let _ = stopping.wait_for(|stopped| *stopped).await;
    })
}

/// The items of `follow` (see [`crate::follow`]) up to its end, or until the server stops.
pub(crate) fn follow_stream(
    follow: BuildFollow,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = Followed> + Send + 'static {
    let items = stream::unfold(follow, |mut follow| async move {
        match follow.next().await {
            Followed::End => None,
            item => Some((item, follow)),
        }
    });
    until_stopped(items, stopping)
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
    let items = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(env) => Some((BusItem::Event(env), rx)),
            Err(RecvError::Lagged(n)) => Some((BusItem::Lagged(n), rx)),
            Err(RecvError::Closed) => None,
        }
    });
    until_stopped(items, stopping)
}
