//! Following one build: its events, in order, up to its `build_finished`.
//!
//! The one mechanism behind the CLI's progress display, the server's `?stream=true` build
//! stream and the log follow. The subscription is taken before the build is asked for (so none
//! of its events is missed) and bound to the build once its id is known. A follower that fell
//! behind the bus's buffer is told how many events it lost; since the `build_finished` may be
//! among them, the build's record (written before that event) then says whether it is over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::daemon::Daemon;
use crate::error::Result;
use crate::events::{Event, EventEnvelope};
use crate::runtime;

/// A subscription taken before a build was asked for; [`Pending::follow`] binds it.
pub struct Pending {
    rx: broadcast::Receiver<Arc<EventEnvelope>>,
    daemon: Daemon,
}

/// What following a build yields.
#[derive(Debug, Clone)]
pub enum Followed {
    /// One of the build's events.
    Event(Arc<EventEnvelope>),
    /// `missed` events of the bus were lost. With `build_over`, the build turned out to be
    /// over (its `build_finished` may be among them): this is the last item before
    /// [`Followed::End`].
    Lagged { missed: u64, build_over: bool },
    /// Nothing came within the time given to [`BuildFollow::next_within`].
    Idle,
    /// The build is over (its `build_finished` was yielded, or it ended among lost events), or
    /// the bus closed. Every later call yields `End` again.
    End,
}

/// The events of one build.
pub struct BuildFollow {
    rx: broadcast::Receiver<Arc<EventEnvelope>>,
    daemon: Daemon,
    build_id: String,
    over: bool,
}

impl Daemon {
    /// Subscribes to the bus now, to follow a build asked for after this call.
    pub fn prepare_follow(&self) -> Pending {
        Pending {
            rx: self.subscribe(),
            daemon: self.clone(),
        }
    }
}

impl Pending {
    /// Follows build `build_id` with the events seen since [`Daemon::prepare_follow`].
    pub fn follow(self, build_id: impl Into<String>) -> BuildFollow {
        BuildFollow {
            rx: self.rx,
            daemon: self.daemon,
            build_id: build_id.into(),
            over: false,
        }
    }
}

impl BuildFollow {
    pub fn build_id(&self) -> &str {
        &self.build_id
    }

    /// Whether the build is over, as far as this follower knows.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The next item; never [`Followed::Idle`].
    pub async fn next(&mut self) -> Followed {
        if self.over {
            return Followed::End;
        }
        loop {
            match self.rx.recv().await {
                Ok(envelope) => {
                    if let Some(item) = self.take(envelope) {
                        return item;
                    }
                }
                Err(RecvError::Lagged(missed)) => return self.lagged(missed),
                Err(RecvError::Closed) => {
                    self.over = true;
                    return Followed::End;
                }
            }
        }
    }

    /// The next item, waiting at most `timeout` (`None`: no limit): [`Followed::Idle`] when
    /// nothing came in time. Blocks; call it off any async runtime.
    pub fn next_within(&mut self, timeout: Option<Duration>) -> Result<Followed> {
        runtime::block_on(async {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, self.next())
                    .await
                    .unwrap_or(Followed::Idle),
                None => self.next().await,
            }
        })
    }

    /// `envelope` as an item, if it is one of this build's.
    fn take(&mut self, envelope: Arc<EventEnvelope>) -> Option<Followed> {
        if envelope.event.build_id() != Some(self.build_id.as_str()) {
            return None;
        }
        if matches!(envelope.event, Event::BuildFinished { .. }) {
            self.over = true;
        }
        Some(Followed::Event(envelope))
    }

    fn lagged(&mut self, missed: u64) -> Followed {
        // The record is written before `build_finished` is published: if it says the build is
        // over, no event of it is still to come.
        self.over = self
            .daemon
            .build(&self.build_id)
            .map_or(true, |r| r.status.is_finished());
        Followed::Lagged {
            missed,
            build_over: self.over,
        }
    }
}
