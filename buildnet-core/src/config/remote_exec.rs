//! `remote_execution`: the Remote Execution API engine (BuildGrid, Buildbarn, BuildBuddy,
//! NativeLink) that runs targets' commands instead of this machine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where targets' commands run when they are not cache hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteExecutionConfig {
    /// The engine, `grpc://HOST:PORT`.
    pub url: String,
    /// The engine's instance name (`""`: its default one).
    #[serde(default)]
    pub instance: String,
    /// Platform properties every action asks for (`OSFamily: linux`, a container image, ...):
    /// part of the action's digest, matched by the engine against its workers.
    #[serde(default)]
    pub platform: BTreeMap<String, String>,
    /// How long one action may take from `Execute` to its result (queueing included), and
    /// the timeout each action carries when its target sets none. Default 1 hour.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Run a target here when the engine cannot be reached (default: the target fails).
    #[serde(default)]
    pub fallback_local: bool,
    /// Globs from the workspace root whose files every action's input root carries besides the
    /// target's inputs and its dependencies' outputs: the tools its commands need, such as
    /// `node_modules/**`.
    #[serde(default)]
    pub inputs: Vec<String>,
}

fn default_timeout_ms() -> u64 {
    3_600_000
}

impl RemoteExecutionConfig {
    pub fn validate(&self) -> Result<()> {
        crate::reapi::client::endpoint_uri(&self.url)?;
        if self.timeout_ms == 0 || self.timeout_ms > crate::config::MAX_TIMEOUT_MS {
            return Err(Error::config(format!(
                "field `remote_execution.timeout_ms`: {} is not between 1 and {}",
                self.timeout_ms,
                crate::config::MAX_TIMEOUT_MS
            )));
        }
        for glob in &self.inputs {
            if glob.starts_with('/') || glob.split('/').any(|c| c == "..") {
                return Err(Error::config(format!(
                    "field `remote_execution.inputs`: {glob:?} must stay inside the workspace"
                )));
            }
        }
        Ok(())
    }
}
