//! A pull-based subscription to the event bus, for the bindings: the C ABI's
//! `buildnet_next_event`, Python's `events()` and Node's `onEvent` all read one of these.
//!
//! Blocking calls wait on the process's runtime with a timeout. [`EventStream::close`], or
//! closing the daemon it came from, wakes a caller waiting on another thread, which then gets
//! `InvalidState`, as does every later call. Calls from several threads take turns; one with a
//! zero timeout never waits for another's turn (it answers "nothing yet").

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::{watch, Mutex};

use crate::error::{Error, Result};
use crate::events::EventEnvelope;
use crate::runtime;

/// Every event published after the stream was made, in order.
pub struct EventStream {
    events: Mutex<broadcast::Receiver<Arc<EventEnvelope>>>,
    closing: watch::Sender<bool>,
    /// The daemon's own "closed" signal: closing the daemon ends its streams.
    daemon_closed: watch::Receiver<bool>,
}

/// One item of an [`EventStream`].
#[derive(Debug, Clone)]
pub enum StreamItem {
    Event(Arc<EventEnvelope>),
    /// The reader fell this many events behind the bus's buffer; they are lost.
    Lagged(u64),
}

impl StreamItem {
    /// The item as JSON: the event envelope, or `{"type":"lagged","missed":N}`.
    pub fn to_json(&self) -> String {
        match self {
            StreamItem::Event(envelope) => {
                serde_json::to_string(envelope.as_ref()).unwrap_or_else(|e| {
                    serde_json::json!({"type": "error", "message": e.to_string()}).to_string()
                })
            }
            StreamItem::Lagged(missed) => {
                serde_json::json!({ "type": "lagged", "missed": missed }).to_string()
            }
        }
    }

    /// The same as a JSON value, for faces that hand objects over (no text in between).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            StreamItem::Event(envelope) => serde_json::to_value(envelope.as_ref())
                .unwrap_or_else(|e| serde_json::json!({"type": "error", "message": e.to_string()})),
            StreamItem::Lagged(missed) => serde_json::json!({ "type": "lagged", "missed": missed }),
        }
    }
}

fn closed() -> Error {
    Error::invalid_state("the event stream was closed")
}

impl EventStream {
    pub(crate) fn new(
        events: broadcast::Receiver<Arc<EventEnvelope>>,
        daemon_closed: watch::Receiver<bool>,
    ) -> EventStream {
        EventStream {
            events: Mutex::new(events),
            closing: watch::channel(false).0,
            daemon_closed,
        }
    }

    /// The next item, waiting at most `timeout` (`None`: until one comes or the stream is
    /// closed). `Ok(None)` when nothing came in time.
    pub fn next(&self, timeout: Option<Duration>) -> Result<Option<StreamItem>> {
        if self.is_closed() {
            return Err(closed());
        }
        if timeout == Some(Duration::ZERO) {
            // Never waits, not even for another caller's turn.
            let Ok(mut events) = self.events.try_lock() else {
                return Ok(None);
            };
            return match events.try_recv() {
                Ok(envelope) => Ok(Some(StreamItem::Event(envelope))),
                Err(TryRecvError::Lagged(missed)) => Ok(Some(StreamItem::Lagged(missed))),
                Err(TryRecvError::Closed) => Err(closed()),
                Err(TryRecvError::Empty) => Ok(None),
            };
        }
        let mut closing = self.closing.subscribe();
        let mut daemon_closed = self.daemon_closed.clone();
        let received = runtime::block_on(async {
            let wait = async {
                let mut events = self.events.lock().await;
                tokio::select! {
                    // Closing first: whoever closes may publish events of its own meanwhile.
                    biased;
                    _ = closing.wait_for(|c| *c) => None,
                    _ = daemon_closed.wait_for(|c| *c) => None,
                    received = events.recv() => Some(received),
                }
            };
            match timeout {
                Some(limit) => tokio::time::timeout(limit, wait).await.ok(),
                None => Some(wait.await),
            }
        })?;
        match received {
            None => Ok(None),
            Some(None) | Some(Some(Err(RecvError::Closed))) => Err(closed()),
            Some(Some(Ok(envelope))) => Ok(Some(StreamItem::Event(envelope))),
            Some(Some(Err(RecvError::Lagged(missed)))) => Ok(Some(StreamItem::Lagged(missed))),
        }
    }

    /// Ends the stream: a waiting [`EventStream::next`] returns `InvalidState` at once, and so
    /// does every later call.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether the stream, or the daemon it came from, was closed.
    pub fn is_closed(&self) -> bool {
        *self.closing.borrow() || *self.daemon_closed.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::events::{Event, EventBus};

    #[test]
    fn items_arrive_in_order_then_time_out_then_close_wakes_a_waiter() {
        let bus = EventBus::new();
        let (daemon_closed, daemon_closed_rx) = watch::channel(false);
        let stream = Arc::new(EventStream::new(bus.subscribe(), daemon_closed_rx));
        bus.publish(Event::DaemonStopped);
        bus.publish(Event::ConfigReloaded { targets: 3 });
        let first = stream.next(Some(Duration::ZERO)).unwrap().unwrap();
        assert!(first.to_json().contains(r#""type":"daemon_stopped""#));
        let second = stream.next(None).unwrap().unwrap();
        assert!(second.to_json().contains(r#""targets":3"#));
        assert!(stream
            .next(Some(Duration::from_millis(20)))
            .unwrap()
            .is_none());

        let waiter = {
            let stream = Arc::clone(&stream);
            std::thread::spawn(move || stream.next(None))
        };
        std::thread::sleep(Duration::from_millis(50));
        stream.close();
        bus.publish(Event::DaemonStopped);
        let woken = waiter.join().unwrap().unwrap_err();
        assert_eq!(woken.code(), ErrorCode::InvalidState);
        assert!(stream.next(Some(Duration::ZERO)).is_err());

        // Closing the daemon ends a stream too.
        let other = Arc::new(EventStream::new(bus.subscribe(), daemon_closed.subscribe()));
        let waiter = {
            let other = Arc::clone(&other);
            std::thread::spawn(move || other.next(None))
        };
        std::thread::sleep(Duration::from_millis(50));
        daemon_closed.send_replace(true);
        assert!(waiter.join().unwrap().is_err());
        assert!(other.is_closed());
    }

    #[test]
    fn a_zero_timeout_does_not_wait_for_a_caller_blocked_on_another_thread() {
        let bus = EventBus::new();
        let (_daemon_closed, rx) = watch::channel(false);
        let stream = Arc::new(EventStream::new(bus.subscribe(), rx));
        let waiter = {
            let stream = Arc::clone(&stream);
            std::thread::spawn(move || stream.next(Some(Duration::from_secs(2))))
        };
        std::thread::sleep(Duration::from_millis(100));
        let started = std::time::Instant::now();
        assert!(stream.next(Some(Duration::ZERO)).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_millis(500));
        bus.publish(Event::DaemonStopped);
        assert!(waiter.join().unwrap().unwrap().is_some());
    }

    #[test]
    fn a_reader_that_fell_behind_is_told_how_far() {
        let bus = EventBus::new();
        let (_daemon_closed, rx) = watch::channel(false);
        let stream = EventStream::new(bus.subscribe(), rx);
        for _ in 0..(crate::events::CAPACITY + 5) {
            bus.publish(Event::DaemonStopped);
        }
        let item = stream.next(Some(Duration::ZERO)).unwrap().unwrap();
        assert!(matches!(item, StreamItem::Lagged(5)), "{item:?}");
        assert_eq!(item.to_json(), r#"{"missed":5,"type":"lagged"}"#);
        assert_eq!(
            item.to_value(),
            serde_json::json!({"type": "lagged", "missed": 5})
        );
    }
}
