//! How a build is asked to run.

use serde::Serialize;

pub use crate::config::MAX_CONCURRENCY;

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
    /// Arguments appended to every Turborepo task's script (what follows `--` on turbo's
    /// command line); they enter the tasks' keys.
    #[serde(default)]
    pub args: Vec<String>,
    /// Run Turborepo tasks as `<pm> run <script>` instead of starting the script directly.
    #[serde(default)]
    pub pm_run: bool,
    /// Run only the targets asked for, not their dependencies (`turbo run --only`).
    #[serde(default)]
    pub only: bool,
    /// Run the targets asked for and their dependencies without waiting for each other
    /// (`turbo run --parallel`).
    #[serde(default)]
    pub parallel: bool,
    /// The environment the build's keys and commands see instead of the daemon's: a client
    /// that hands its build to a running daemon sends its own, so `NODE_ENV=production
    /// buildnet run build` means the same through a daemon as without one.
    #[serde(default)]
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Which caches the build reads and writes, as turbo's `--cache` (`local:rw,remote:r`);
    /// `None`: `TURBO_CACHE`, else both read and write.
    #[serde(default)]
    pub cache: Option<String>,
    /// Run every command here even when `remote_execution` is configured.
    #[serde(default)]
    pub local: bool,
    /// Remote-cache settings given on the command line (`buildnet run --api --token --team
    /// --remote-cache-timeout --preflight`); they win over the environment and turbo's files.
    #[serde(default)]
    pub remote_cache: crate::remote_cache::Layer,
}

impl BuildOptions {
    /// Refuses options out of range, naming the field.
    pub fn validate(&self) -> crate::error::Result<()> {
        if let Some(n) = self.concurrency {
            if n == 0 || n > MAX_CONCURRENCY {
                return Err(crate::error::Error::invalid_argument(format!(
                    "field `concurrency`: {n} is not between 1 and {MAX_CONCURRENCY}"
                )));
            }
        }
        Ok(())
    }

    /// The variables the build sees: the ones it was given, else the daemon's.
    pub fn vars(&self) -> std::collections::BTreeMap<String, String> {
        match &self.env {
            Some(env) => env.clone(),
            None => crate::process::env::current(),
        }
    }

    /// Which dependency edges the build keeps.
    pub fn edges(&self) -> super::graph::Edges {
        if self.only {
            super::graph::Edges::Only
        } else if self.parallel {
            super::graph::Edges::Parallel
        } else {
            super::graph::Edges::All
        }
    }

    /// What the options add to the targets' definitions.
    pub fn run_args(&self) -> super::target::RunArgs<'_> {
        super::target::RunArgs {
            args: &self.args,
            pm_run: self.pm_run,
        }
    }
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
            args: Vec::new(),
            pm_run: false,
            only: false,
            parallel: false,
            env: None,
            cache: None,
            local: false,
            remote_cache: Default::default(),
        }
    }
}
