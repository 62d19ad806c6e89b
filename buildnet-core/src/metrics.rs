//! Counters behind `GET /metrics` (Prometheus text format) and the cache figures of
//! `GET /api/v1/status`.
//!
//! Build and cache counters are derived from the event bus as events are published (not by a
//! subscriber, which could lag and miss some), so they agree with what the stream showed. HTTP
//! counters are bumped by the server's guard layer. Everything is a relaxed atomic: a scrape may
//! see one counter a request ahead of another, never a torn value.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::events::{Event, Observer};
use crate::state::{BuildStatus, Protocol, TargetStatus};

/// Upper bounds (seconds) of the target duration histogram's buckets.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// The final statuses counted, each a label value of its counter.
const BUILD_STATUSES: [BuildStatus; 3] = [
    BuildStatus::Succeeded,
    BuildStatus::Failed,
    BuildStatus::Cancelled,
];
const TARGET_STATUSES: [TargetStatus; 4] = [
    TargetStatus::Succeeded,
    TargetStatus::Failed,
    TargetStatus::Skipped,
    TargetStatus::Cancelled,
];
const HTTP_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Default)]
pub struct Metrics {
    builds: [AtomicU64; 3],
    targets: [AtomicU64; 4],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    saved_ms: AtomicU64,
    /// Commands that ran (not cache hits): count per bucket, then +Inf, then the sum in ms.
    duration_buckets: [AtomicU64; 11],
    duration_sum_ms: AtomicU64,
    http: [AtomicU64; 5],
    watch_builds: AtomicU64,
    /// The remote caches served, per [`Protocol`], per [`Served`] counter.
    served: [[AtomicU64; 5]; 4],
}

/// What the remote caches served count, each a counter per protocol.
#[derive(Debug, Clone, Copy)]
pub enum Served {
    Hits,
    Misses,
    BytesIn,
    BytesOut,
    /// Requests refused: a wrong or missing token, a read-only token writing, another team's
    /// namespace, a body over the limit, a bad signature or digest, a malformed key or value.
    Refusals,
}

const SERVED: [(Served, &str, &str); 5] = [
    (
        Served::Hits,
        "buildnet_remote_cache_hits_total",
        "Remote-cache downloads answered with an artifact.",
    ),
    (
        Served::Misses,
        "buildnet_remote_cache_misses_total",
        "Remote-cache lookups of an absent artifact.",
    ),
    (
        Served::BytesIn,
        "buildnet_remote_cache_bytes_in_total",
        "Artifact bytes uploaded and stored.",
    ),
    (
        Served::BytesOut,
        "buildnet_remote_cache_bytes_out_total",
        "Artifact bytes downloaded.",
    ),
    (
        Served::Refusals,
        "buildnet_remote_cache_refusals_total",
        "Remote-cache requests refused.",
    ),
];

/// Cache figures since the daemon started.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// `hits / (hits + misses)`, `None` before any target ran.
    pub hit_rate: Option<f64>,
    /// What the cached runs took when they really ran.
    pub saved_ms: u64,
}

/// Gauges the caller reads at scrape time.
pub struct Gauges {
    pub uptime_seconds: f64,
    pub builds_running: usize,
    pub builds_queued: usize,
    pub slots: usize,
    pub slots_busy: usize,
    pub artifacts: u64,
    pub artifact_bytes: u64,
    pub kv_keys: u64,
}

impl Observer for Metrics {
    /// Counts what `event` says happened.
    fn observe(&self, event: &Event) {
        match event {
            Event::BuildFinished { status, .. } => {
                if let Some(i) = BUILD_STATUSES.iter().position(|s| s == status) {
                    self.builds[i].fetch_add(1, Relaxed);
                }
            }
            Event::TargetFinished {
                status,
                cached,
                duration_ms,
                ..
            } => {
                if let Some(i) = TARGET_STATUSES.iter().position(|s| s == status) {
                    self.targets[i].fetch_add(1, Relaxed);
                }
                if status.is_result() {
                    if *cached {
                        self.cache_hits.fetch_add(1, Relaxed);
                    } else {
                        self.cache_misses.fetch_add(1, Relaxed);
                        let secs = *duration_ms as f64 / 1000.0;
                        let bucket = DURATION_BUCKETS
                            .iter()
                            .position(|b| secs <= *b)
                            .unwrap_or(DURATION_BUCKETS.len());
                        self.duration_buckets[bucket].fetch_add(1, Relaxed);
                        self.duration_sum_ms.fetch_add(*duration_ms, Relaxed);
                    }
                }
            }
            Event::CacheHit { saved_ms, .. } => {
                self.saved_ms.fetch_add(*saved_ms, Relaxed);
            }
            Event::WatchTriggered { .. } => {
                self.watch_builds.fetch_add(1, Relaxed);
            }
            _ => {}
        }
    }
}

impl Metrics {
    /// Counts one HTTP response with `status`.
    pub fn http_response(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.http[class].fetch_add(1, Relaxed);
    }

    /// Adds `n` to the served cache's `counter` of `protocol`.
    pub fn served(&self, protocol: Protocol, counter: Served, n: u64) {
        self.served[protocol.index()][counter as usize].fetch_add(n, Relaxed);
    }

    /// The served cache's `counter` of `protocol`.
    pub fn served_count(&self, protocol: Protocol, counter: Served) -> u64 {
        self.served[protocol.index()][counter as usize].load(Relaxed)
    }

    pub fn cache(&self) -> CacheStats {
        let hits = self.cache_hits.load(Relaxed);
        let misses = self.cache_misses.load(Relaxed);
        CacheStats {
            hits,
            misses,
            hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
            saved_ms: self.saved_ms.load(Relaxed),
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "buildnet_builds_total",
            "counter",
            "Builds finished, by final status.",
        );
        for (i, s) in BUILD_STATUSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "buildnet_builds_total{{status=\"{s}\"}} {}",
                self.builds[i].load(Relaxed)
            );
        }
        family(
            &mut out,
            "buildnet_targets_total",
            "counter",
            "Targets finished in builds, by status.",
        );
        for (i, s) in TARGET_STATUSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "buildnet_targets_total{{status=\"{s}\"}} {}",
                self.targets[i].load(Relaxed)
            );
        }
        let cache = self.cache();
        let counters = [
            (
                "buildnet_cache_hits_total",
                "Targets whose outputs were restored from the cache.",
                cache.hits as f64,
            ),
            (
                "buildnet_cache_misses_total",
                "Targets whose command ran.",
                cache.misses as f64,
            ),
            (
                "buildnet_cache_saved_seconds_total",
                "Time the cached runs took when they really ran.",
                cache.saved_ms as f64 / 1000.0,
            ),
            (
                "buildnet_watch_builds_total",
                "Builds started by the file watcher.",
                self.watch_builds.load(Relaxed) as f64,
            ),
        ];
        for (name, help, value) in counters {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        for (counter, name, help) in SERVED {
            family(&mut out, name, "counter", help);
            for protocol in Protocol::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{}\"}} {}",
                    protocol.as_str(),
                    self.served_count(protocol, counter)
                );
            }
        }
        family(
            &mut out,
            "buildnet_target_duration_seconds",
            "histogram",
            "Duration of targets whose command ran.",
        );
        let mut cumulative = 0;
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += self.duration_buckets[i].load(Relaxed);
            let _ = writeln!(
                out,
                "buildnet_target_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.duration_buckets[DURATION_BUCKETS.len()].load(Relaxed);
        let _ = writeln!(
            out,
            "buildnet_target_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             buildnet_target_duration_seconds_sum {}\n\
             buildnet_target_duration_seconds_count {cumulative}",
            self.duration_sum_ms.load(Relaxed) as f64 / 1000.0
        );
        family(
            &mut out,
            "buildnet_http_responses_total",
            "counter",
            "HTTP responses sent, by status class.",
        );
        for (i, c) in HTTP_CLASSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "buildnet_http_responses_total{{code=\"{c}\"}} {}",
                self.http[i].load(Relaxed)
            );
        }
        let gauges = [
            (
                "buildnet_uptime_seconds",
                "Seconds since the server started.",
                gauges.uptime_seconds,
            ),
            (
                "buildnet_builds_running",
                "Builds running now.",
                gauges.builds_running as f64,
            ),
            (
                "buildnet_builds_queued",
                "Builds waiting for the running one.",
                gauges.builds_queued as f64,
            ),
            (
                "buildnet_worker_slots",
                "Targets that may run at once.",
                gauges.slots as f64,
            ),
            (
                "buildnet_worker_slots_busy",
                "Worker slots running a target now.",
                gauges.slots_busy as f64,
            ),
            (
                "buildnet_artifacts",
                "Blobs in the artifact store.",
                gauges.artifacts as f64,
            ),
            (
                "buildnet_artifact_bytes",
                "Bytes in the artifact store.",
                gauges.artifact_bytes as f64,
            ),
            (
                "buildnet_kv_keys",
                "Live keys in the key-value store.",
                gauges.kv_keys as f64,
            ),
        ];
        for (name, help, value) in gauges {
            family(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(status: TargetStatus, cached: bool, ms: u64) -> Event {
        Event::TargetFinished {
            build_id: "b".into(),
            target: "t".into(),
            status,
            cached,
            duration_ms: ms,
            exit_code: None,
            error: None,
            cache_key: None,
            warnings: Vec::new(),
            remote_bytes: None,
            remote_execution: None,
        }
    }

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        m.observe(&finished(TargetStatus::Succeeded, true, 0));
        m.observe(&finished(TargetStatus::Succeeded, false, 70));
        m.observe(&finished(TargetStatus::Failed, false, 3_000));
        m.observe(&finished(TargetStatus::Skipped, false, 0));
        m.observe(&Event::CacheHit {
            build_id: "b".into(),
            target: "t".into(),
            saved_ms: 1_500,
        });
        m.http_response(200);
        m.http_response(404);
        m.http_response(404);
        let cache = m.cache();
        assert_eq!((cache.hits, cache.misses, cache.saved_ms), (1, 2, 1_500));
        assert!((cache.hit_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        let text = m.render(&Gauges {
            uptime_seconds: 1.0,
            builds_running: 0,
            builds_queued: 0,
            slots: 2,
            slots_busy: 0,
            artifacts: 3,
            artifact_bytes: 10,
            kv_keys: 0,
        });
        assert!(text.contains("buildnet_cache_hits_total 1\n"));
        assert!(text.contains("buildnet_targets_total{status=\"skipped\"} 1\n"));
        assert!(text.contains("buildnet_target_duration_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("buildnet_target_duration_seconds_bucket{le=\"2.5\"} 1\n"));
        assert!(text.contains("buildnet_target_duration_seconds_bucket{le=\"5\"} 2\n"));
        assert!(text.contains("buildnet_target_duration_seconds_count 2\n"));
        assert!(text.contains("buildnet_http_responses_total{code=\"4xx\"} 2\n"));
        assert!(text.contains("buildnet_worker_slots 2\n"));
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {base} ")), "{line}");
        }
    }
}
