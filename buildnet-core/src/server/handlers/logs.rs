//! `GET /api/v1/logs`: a target's stored log, or with `follow=true` its lines as server-sent
//! events until the target ends.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::json;

use crate::error::Error;
use crate::events::Event;
use crate::follow::Followed;
use crate::server::response::{blocking, ApiError};
use crate::server::stream::{follow_stream, until_last};
use crate::server::App;

#[derive(Deserialize)]
pub(crate) struct LogsQuery {
    build: Option<String>,
    target: Option<String>,
    #[serde(default)]
    follow: bool,
}

pub(crate) async fn logs(
    State(app): State<App>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let (Some(build), Some(target)) = (q.build, q.target) else {
        return Err(Error::invalid_argument("logs need ?build=ID&target=NAME").into());
    };
    let daemon = app.inner.daemon.clone();
    // Subscribed before the stored log is read: every line is in one or the other (or both,
    // told apart by line numbers).
    let pending = q.follow.then(|| daemon.prepare_follow());
    let (b, t) = (build.clone(), target.clone());
    let d = daemon.clone();
    // The record before the log: a target that finishes in between has its whole log read.
    let (record, stored) = blocking(move || {
        let record = d.build(&b)?;
        let log = d.target_log_in(&record, &t)?;
        Ok((record, log))
    })
    .await?;
    let stored = stored.unwrap_or_default();
    let Some(pending) = pending else {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            stored,
        )
            .into_response());
    };
    let run_status = record
        .targets
        .iter()
        .find(|r| r.target == target)
        .map(|r| r.status)
        .ok_or_else(|| Error::not_found(format!("build {build} has no target {target:?}")))?;
    let done = run_status.is_finished() || record.status.is_finished();
    let text = String::from_utf8_lossy(&stored).into_owned();
    // While the target runs, only complete lines are sent from the file; the last partial one
    // comes as an event.
    let complete = if done {
        text.as_str()
    } else {
        text.rfind('\n').map_or("", |i| &text[..=i])
    };
    let stored_lines: Vec<String> = complete.lines().map(String::from).collect();
    let seen = stored_lines.len() as u64;
    let line_event = |stream: &str, line: &str, n: u64| {
        SseEvent::default()
            .event("line")
            .data(json!({ "stream": stream, "line": line, "line_no": n }).to_string())
    };
    let head: Vec<Result<SseEvent, Infallible>> = stored_lines
        .iter()
        .enumerate()
        .map(|(i, l)| Ok(line_event("stdout", l, i as u64 + 1)))
        .collect();
    let head = stream::iter(head);
    if done {
        let end = SseEvent::default()
            .event("end")
            .data(json!({ "status": run_status.as_str() }).to_string());
        let all = head.chain(stream::once(async { Ok::<_, Infallible>(end) }));
        return Ok(Sse::new(all).into_response());
    }
    /// A live item: a line to send, or the end (sent, then the stream stops).
    enum Out {
        Send(SseEvent),
        End(SseEvent),
    }
    let end_event = |status: &str| {
        SseEvent::default()
            .event("end")
            .data(json!({ "status": status }).to_string())
    };
    let (b, t) = (build.clone(), target.clone());
    let follow = pending.follow(build);
    let live = follow_stream(follow, app.inner.stopping.clone())
        .filter_map(move |item| {
            let out = match &item {
                Followed::Idle | Followed::End => None,
                // Its end may be among the events lost: stop if the build is over.
                Followed::Lagged {
                    build_over: true, ..
                } => Some(Out::End(end_event("unknown"))),
                Followed::Lagged { missed: n, .. } => Some(Out::Send(
                    SseEvent::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string()),
                )),
                Followed::Event(env) => match &env.event {
                    Event::TargetLog {
                        build_id,
                        target,
                        stream,
                        line,
                        line_no,
                    } if *build_id == b && *target == t && *line_no > seen => {
                        let stream = match stream {
                            crate::process::Stream::Stderr => "stderr",
                            crate::process::Stream::Stdout => "stdout",
                        };
                        Some(Out::Send(line_event(stream, line, *line_no)))
                    }
                    Event::TargetFinished {
                        build_id,
                        target,
                        status,
                        ..
                    } if *build_id == b && *target == t => {
                        Some(Out::End(end_event(status.as_str())))
                    }
                    Event::BuildFinished { status, .. } => {
                        Some(Out::End(end_event(status.as_str())))
                    }
                    _ => None,
                },
            };
            std::future::ready(out)
        })
        .map(|out| match out {
            Out::Send(e) => (e, false),
            Out::End(e) => (e, true),
        });
    let live = until_last(live);
    Ok(Sse::new(head.chain(live))
        .keep_alive(KeepAlive::default())
        .into_response())
}
