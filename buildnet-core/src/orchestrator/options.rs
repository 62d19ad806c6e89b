//! How a build is asked to run.

use serde::Serialize;

/// How to run a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BuildOptions {
    /// Ignore cache hits and run every command.
    #[serde(default)]
    pub force: bool,
    /// Targets at once (default: the configuration's `concurrency`).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Stop everything at the first failure.
    #[serde(default)]
    pub fail_fast: bool,
    /// Publish a cached run's stored log as `target_log` events, as if it ran (default true).
    #[serde(default = "yes")]
    pub replay_logs: bool,
}

fn yes() -> bool {
    true
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            force: false,
            concurrency: None,
            fail_fast: false,
            replay_logs: true,
        }
    }
}
