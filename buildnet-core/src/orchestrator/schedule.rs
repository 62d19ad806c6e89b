//! One build's schedule: targets start when their dependencies succeeded, on `concurrency`
//! worker slots; a ready target that is a cache hit is settled on the scheduler's thread (no
//! slot, no hand-off); a failure skips its dependents (with `fail_fast`, stops everything).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Mutex};

use super::{
    BuildCtx, Orchestrator, ResolvedTarget, RunResult, SlotInfo, TargetGraph, TargetOutcome,
};
use crate::error::{Error, Result};
use crate::lock;
use crate::state::{now_ms, BuildStatus, TargetRun, TargetStatus};

impl Orchestrator {
    /// Runs the graph; returns the build's final status.
    pub(super) fn schedule(&self, ctx: &BuildCtx<'_>, graph: &TargetGraph) -> Result<BuildStatus> {
        #[derive(Clone, PartialEq)]
        enum State {
            Pending,
            Running,
            Succeeded(String),
            Failed,
        }
        self.load_stats();
        let slots = ctx
            .options
            .concurrency
            .unwrap_or(ctx.config.concurrency)
            .max(1);
        // Targets by their place in the graph's order (dependencies first).
        let order = &graph.order;
        let index: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let deps: Vec<Vec<usize>> = order
            .iter()
            .map(|name| graph.deps[name].iter().map(|d| index[d.as_str()]).collect())
            .collect();
        let mut resolved: Vec<Option<ResolvedTarget>> =
            ResolvedTarget::resolve_all(ctx.config, order, ctx.options.run_args())
                .into_iter()
                .map(Some)
                .collect();
        let mut states = vec![State::Pending; order.len()];
        // Ready targets found not to be cache hits: they wait for a slot, not for another look.
        // Hits are looked for on this thread only when the watcher's tree cache makes the look
        // a lookup; otherwise the workers walk the input trees in parallel, as for a miss.
        let mut miss = vec![!self.hasher.tree_cache_enabled(); order.len()];
        let mut any_failed = false;
        // `slots` workers run targets; one more stores finished runs' outputs, so a slot is free
        // again as soon as its command ended.
        let (tx, rx) = mpsc::channel::<(usize, TargetOutcome)>();
        let (work_tx, work_rx) =
            mpsc::channel::<(usize, ResolvedTarget, BTreeMap<String, String>)>();
        let (store_tx, store_rx) = mpsc::channel::<(ResolvedTarget, RunResult)>();
        let work_rx = Mutex::new(work_rx);
        *lock(&self.slots) = vec![None; slots];
        let cancelled = std::thread::scope(|scope| -> Result<bool> {
            for slot in 0..slots.min(order.len()) {
                let (tx, store_tx, work_rx) = (tx.clone(), store_tx.clone(), &work_rx);
                scope.spawn(move || loop {
                    let job = lock(work_rx).recv();
                    let Ok((at, target, dep_keys)) = job else {
                        return;
                    };
                    self.set_slot(
                        slot,
                        Some(SlotInfo {
                            build_id: ctx.id.to_owned(),
                            target: target.name.clone(),
                            since_ms: now_ms(),
                        }),
                    );
                    self.run_worker_job(ctx, at, target, dep_keys, &tx, &store_tx);
                    self.set_slot(slot, None);
                });
            }
            // Only workers send outcomes: if they are all gone, `recv` fails instead of hanging.
            drop(tx);
            drop(store_tx);
            scope.spawn(move || {
                for (target, result) in store_rx {
                    if let Err(err) = self.store_result(ctx, &target, result) {
                        self.not_cached(ctx, &target.name, &err);
                    }
                }
            });
            let mut running = 0usize;
            let settle = |at: usize, outcome: TargetOutcome, states: &mut Vec<State>| {
                if outcome.run.status == TargetStatus::Succeeded {
                    states[at] = State::Succeeded(outcome.key.unwrap_or_default());
                    false
                } else {
                    if ctx.options.fail_fast {
                        ctx.active.stop.store(true, Ordering::SeqCst);
                    }
                    states[at] = State::Failed;
                    true
                }
            };
            loop {
                // Targets whose dependencies failed can never run.
                let mut changed = true;
                while changed {
                    changed = false;
                    for at in 0..order.len() {
                        if states[at] != State::Pending {
                            continue;
                        }
                        if let Some(&dep) = deps[at].iter().find(|&&d| states[d] == State::Failed) {
                            let mut run = TargetRun::pending(&order[at]);
                            run.status = TargetStatus::Skipped;
                            run.error = Some(format!("dependency {} did not succeed", order[dep]));
                            self.record_run(ctx.id, &run);
                            self.publish_finished(ctx.id, &run);
                            states[at] = State::Failed;
                            changed = true;
                        }
                    }
                }
                // Ready targets: a cache hit is finished right here (no slot, no hand-off);
                // the others go to a worker as slots allow.
                let mut settled_here = false;
                for at in 0..order.len() {
                    if ctx.active.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if states[at] != State::Pending || (miss[at] && running >= slots) {
                        continue;
                    }
                    let mut dep_keys = BTreeMap::new();
                    for &dep in &deps[at] {
                        match &states[dep] {
                            State::Succeeded(key) => {
                                dep_keys.insert(order[dep].clone(), key.clone());
                            }
                            _ => break,
                        }
                    }
                    if dep_keys.len() != deps[at].len() {
                        continue;
                    }
                    let target = resolved[at].take().expect("resolved once per target");
                    if !miss[at] {
                        let hit = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.try_hit(ctx, &target, &dep_keys)
                        }));
                        if let Ok(Some(outcome)) = hit {
                            any_failed |= settle(at, outcome, &mut states);
                            settled_here = true;
                            continue;
                        }
                        miss[at] = true;
                    }
                    if running >= slots {
                        resolved[at] = Some(target);
                        continue;
                    }
                    states[at] = State::Running;
                    running += 1;
                    work_tx
                        .send((at, target, dep_keys))
                        .map_err(|_| Error::internal("the target workers are gone"))?;
                }
                if settled_here {
                    // Dependents of what was settled may be ready (or must be skipped) now.
                    continue;
                }
                if running == 0 {
                    break;
                }
                let (at, outcome) = rx
                    .recv()
                    .map_err(|_| Error::internal("a target worker vanished"))?;
                running -= 1;
                any_failed |= settle(at, outcome, &mut states);
            }
            drop(work_tx);
            // Whether a cancel stopped targets from starting (they are recorded `cancelled`
            // rather than `skipped` below).
            Ok(ctx.active.cancelled.load(Ordering::SeqCst))
        })?;
        // Whatever never started was stopped by a cancellation or fail-fast.
        for (name, state) in order.iter().zip(&states) {
            if *state == State::Pending {
                let mut run = TargetRun::pending(name);
                run.status = if cancelled {
                    TargetStatus::Cancelled
                } else {
                    TargetStatus::Skipped
                };
                self.record_run(ctx.id, &run);
            }
        }
        Ok(if cancelled {
            BuildStatus::Cancelled
        } else if any_failed {
            BuildStatus::Failed
        } else {
            BuildStatus::Succeeded
        })
    }

    /// One worker job: run the target, report it, hand what is left to store to the storer. A
    /// panic (a bug, not the command) fails the target and the build goes on.
    pub(super) fn run_worker_job(
        &self,
        ctx: &BuildCtx<'_>,
        at: usize,
        target: ResolvedTarget,
        dep_keys: BTreeMap<String, String>,
        done: &mpsc::Sender<(usize, TargetOutcome)>,
        to_store: &mpsc::Sender<(ResolvedTarget, RunResult)>,
    ) {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_target(ctx, &target, dep_keys)
        }));
        let (outcome, result) = ran.unwrap_or_else(|_| {
            let mut run = TargetRun::pending(&target.name);
            run.status = TargetStatus::Failed;
            run.error = Some("internal error while running this target".into());
            self.record_run(ctx.id, &run);
            self.publish_finished(ctx.id, &run);
            (TargetOutcome { run, key: None }, None)
        });
        let _ = done.send((at, outcome));
        if let Some(result) = result {
            let _ = to_store.send((target, result));
        }
    }

    pub(super) fn set_slot(&self, slot: usize, info: Option<SlotInfo>) {
        if let Some(s) = lock(&self.slots).get_mut(slot) {
            *s = info;
        }
    }
}
