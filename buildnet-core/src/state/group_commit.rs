//! Group commit without a writer thread.
//!
//! A caller queues its write. If no one is leading, it becomes the leader: it takes every queued
//! write (its own and any queued meanwhile), runs them in one `BEGIN IMMEDIATE` transaction,
//! commits once, hands each caller its result and wakes them. Callers that queue while a leader
//! runs wait; when the leader is done, those whose writes it ran return, and one whose write is
//! still queued leads the next batch. Leadership passes on after every batch, so no caller waits
//! behind an endless stream of others.
//!
//! A lone writer runs its single statement as an autocommit statement: one transaction, exactly
//! what a plain `execute` costs. Writes sharing a transaction each run inside a savepoint, so one
//! failing write does not undo the others. A write is acknowledged (its call returns `Ok`) only
//! after the transaction holding it committed.

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::Connection;

use crate::error::{Error, ErrorCode, Result};
use crate::lock;

/// How often a new leader yields to let writers already inside `write` join its batch, when
/// every commit is fsynced. Without fsync a commit costs about what a thread switch does, so
/// waiting for company would only slow the leader down.
const FSYNC_GATHER_YIELDS: usize = 8;

pub(super) type JobOutput = Result<Box<dyn Any + Send>>;
type JobFn = Box<dyn FnOnce(&Connection) -> JobOutput + Send>;
/// Where a job's result goes, and the condition its caller sleeps on.
struct SlotInner {
    output: Mutex<Option<JobOutput>>,
    ready: Condvar,
}
type Slot = Arc<SlotInner>;

/// A queued write and the place its result goes.
pub(super) struct Job {
    pub(super) run: JobFn,
    /// The job is one statement, so alone it may run as an autocommit statement.
    pub(super) single_statement: bool,
    slot: Slot,
}

impl Job {
    pub(super) fn new(single_statement: bool, run: JobFn) -> Job {
        Job {
            run,
            single_statement,
            slot: Arc::new(SlotInner {
                output: Mutex::new(None),
                ready: Condvar::new(),
            }),
        }
    }

    #[cfg(test)]
    pub(super) fn take_output(&self) -> Option<JobOutput> {
        lock(&self.slot.output).take()
    }

    #[cfg(test)]
    pub(super) fn handle(&self) -> Job {
        Job {
            run: Box::new(|_| Err(Error::internal("a handle is never run"))),
            single_statement: false,
            slot: Arc::clone(&self.slot),
        }
    }
}

struct Queue {
    pending: Vec<Job>,
    leading: bool,
    /// Callers inside `write` (queued, leading, or about to queue).
    active: usize,
}

pub(super) struct WriteQueue {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    gather_yields: usize,
}

impl WriteQueue {
    pub(super) fn new(conn: Connection, fsync_per_commit: bool) -> WriteQueue {
        WriteQueue {
            gather_yields: if fsync_per_commit {
                FSYNC_GATHER_YIELDS
            } else {
                0
            },
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                leading: false,
                active: 0,
            }),
        }
    }

    /// Runs `f` in a write transaction, possibly shared with concurrent writers.
    pub(super) fn write<R, F>(&self, single_statement: bool, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let mut queue = lock(&self.queue);
        if !queue.leading && queue.pending.is_empty() && single_statement {
            // Alone: run it straight away as one autocommit statement, nothing to queue.
            queue.leading = true;
            drop(queue);
            let output =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&lock(&self.conn))))
                    .unwrap_or_else(|_| Err(Error::internal("a state write panicked")));
            self.hand_over();
            return output;
        }
        let job = Job::new(
            single_statement,
            Box::new(move |conn| f(conn).map(|r| Box::new(r) as Box<dyn Any + Send>)),
        );
        let slot = Arc::clone(&job.slot);
        queue.pending.push(job);
        queue.active += 1;
        loop {
            if let Some(output) = lock(&slot.output).take() {
                queue.active -= 1;
                return downcast(output);
            }
            if !queue.leading {
                break;
            }
            queue = slot.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
        queue.leading = true;
        // When a commit is expensive (an fsync), writers that just got their results and are on
        // their way back with more are worth a moment: they join this batch and share its
        // fsync. A lone writer never waits here.
        for _ in 0..self.gather_yields {
            if queue.pending.len() >= queue.active {
                break;
            }
            drop(queue);
            std::thread::yield_now();
            queue = lock(&self.queue);
        }
        queue.active -= 1;
        let batch = std::mem::take(&mut queue.pending);
        drop(queue);
        let finished: Vec<Slot> = batch.iter().map(|j| Arc::clone(&j.slot)).collect();
        run_batch(&lock(&self.conn), batch);
        let mut queue = lock(&self.queue);
        queue.leading = false;
        // Wake the callers whose writes ran, and the first one still queued to lead next.
        for done in finished.iter().filter(|s| !Arc::ptr_eq(s, &slot)) {
            done.ready.notify_one();
        }
        if let Some(next) = queue.pending.first() {
            next.slot.ready.notify_one();
        }
        drop(queue);
        let output = lock(&slot.output)
            .take()
            .ok_or_else(|| Error::internal("a queued write was never run"))?;
        downcast(output)
    }

    /// Ends a lone leader's turn: the first writer that queued meanwhile leads next.
    fn hand_over(&self) {
        let mut queue = lock(&self.queue);
        queue.leading = false;
        if let Some(next) = queue.pending.first() {
            next.slot.ready.notify_one();
        }
    }

    #[cfg(test)]
    pub(super) fn run_batch_for_test(&self, batch: Vec<Job>) {
        run_batch(&lock(&self.conn), batch);
    }
}

fn downcast<R: 'static>(output: JobOutput) -> Result<R> {
    output.and_then(|boxed| {
        boxed
            .downcast::<R>()
            .map(|r| *r)
            .map_err(|_| Error::internal("a write returned the wrong type"))
    })
}

/// Runs a job; a panic in it becomes that job's error instead of unwinding through the queue.
fn run_job(run: JobFn, conn: &Connection) -> JobOutput {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(conn)))
        .unwrap_or_else(|_| Err(Error::internal("a state write panicked")))
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_batch(conn: &Connection, batch: Vec<Job>) {
    if batch.is_empty() {
        return;
    }
    if batch.len() == 1 && batch[0].single_statement {
        let job = batch.into_iter().next().expect("one job");
        let output = run_job(job.run, conn);
        *lock(&job.slot.output) = Some(output);
        return;
    }
    if let Err(err) = exec(conn, "BEGIN IMMEDIATE") {
        let err = busy_or_db(err);
        for job in batch {
            *lock(&job.slot.output) = Some(Err(err.clone()));
        }
        return;
    }
    let shared = batch.len() > 1;
    let mut outputs = Vec::with_capacity(batch.len());
    let mut lost = None;
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        if shared {
            if let Err(err) = exec(conn, "SAVEPOINT job") {
                outputs.push((job.slot, Err(Error::from(err))));
                continue;
            }
        }
        let output = run_job(job.run, conn);
        if shared {
            if output.is_err() {
                let _ = exec(conn, "ROLLBACK TO job");
            }
            let _ = exec(conn, "RELEASE job");
        }
        outputs.push((job.slot, output));
        // SQLite rolls a whole transaction back by itself on some errors (disk full, I/O):
        // then nothing written so far in this batch survives, and no one may be told it did.
        if conn.is_autocommit() {
            lost = Some(Error::new(
                ErrorCode::Database,
                "the state database rolled back a transaction after an error",
            ));
            break;
        }
    }
    if let Some(err) = lost {
        let slots = outputs
            .into_iter()
            .map(|(slot, _)| slot)
            .chain(jobs.map(|j| j.slot));
        for slot in slots {
            *lock(&slot.output) = Some(Err(err.clone()));
        }
        return;
    }
    let all_failed = outputs.iter().all(|(_, o)| o.is_err());
    let end = if all_failed { "ROLLBACK" } else { "COMMIT" };
    if let Err(err) = exec(conn, end) {
        let err = busy_or_db(err);
        let _ = exec(conn, "ROLLBACK");
        for (slot, _) in outputs {
            *lock(&slot.output) = Some(Err(err.clone()));
        }
        return;
    }
    for (slot, output) in outputs {
        *lock(&slot.output) = Some(output);
    }
}

pub(super) fn busy_or_db(err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            Error::new(ErrorCode::Busy, format!("state database is busy: {err}"))
        }
        _ => Error::from(err),
    }
}
