//! The `cache:`, `retention:` and `remote_cache:` sections, and the tokens of the remote caches
//! served (`server.cache_tokens`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Garbage collection brings the artifact store down to this many bytes: one budget for
    /// BuildNet's own outputs and the artifacts it serves to turbo, nx and Bazel.
    pub max_bytes: u64,
    /// The largest artifact a remote-cache client may upload; larger bodies get 413.
    pub max_artifact_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 10 * 1024 * 1024 * 1024,
            max_artifact_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

impl CacheConfig {
    pub(super) fn validate(&self) -> Result<()> {
        // SQLite's integers are signed: a larger budget would wrap.
        let max = i64::MAX as u64;
        if self.max_bytes == 0 || self.max_bytes > max {
            return Err(Error::config(format!(
                "field `cache.max_bytes`: must be between 1 and {max}"
            )));
        }
        if self.max_artifact_bytes == 0 || self.max_artifact_bytes > max {
            return Err(Error::config(format!(
                "field `cache.max_artifact_bytes`: must be between 1 and {max}"
            )));
        }
        Ok(())
    }
}

/// How much history the state database keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Finished builds kept, newest first, with their target runs (default 1000). Older ones
    /// are deleted after each build. Logs are kept for the last 100 builds regardless.
    pub builds: u64,
}

/// The most builds `retention.builds` may keep.
pub const MAX_RETAINED_BUILDS: u64 = 1_000_000;

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { builds: 1000 }
    }
}

impl RetentionConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.builds == 0 || self.builds > MAX_RETAINED_BUILDS {
            return Err(Error::config(format!(
                "field `retention.builds`: must be between 1 and {MAX_RETAINED_BUILDS}"
            )));
        }
        Ok(())
    }
}

/// What a cache token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheAccess {
    /// Download only: every upload is refused with 403 (untrusted CI, pull requests).
    Read,
    /// Download and upload.
    ReadWrite,
}

/// One entry of `server.cache_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheToken {
    /// The bearer token (or Basic-auth password) the client sends. Never serialized back out.
    #[serde(skip_serializing)]
    pub token: String,
    pub access: CacheAccess,
    /// The namespaces (Turborepo teams, Bazel instance names) this token may reach; absent =
    /// all. A token bound to teams is answered 403 for any other team's artifacts, and its
    /// first team is its namespace where the protocol names none (Nx, Bazel without an
    /// instance).
    #[serde(default)]
    pub teams: Option<Vec<String>>,
}

/// Tokens must be non-empty, distinct, and name at least one team when they name teams.
pub(super) fn validate_tokens(tokens: &[CacheToken]) -> Result<()> {
    for (i, token) in tokens.iter().enumerate() {
        let field = format!("field `server.cache_tokens[{i}]`");
        if token.token.trim().is_empty() {
            return Err(Error::config(format!("{field}.token: must not be empty")));
        }
        if tokens[..i].iter().any(|t| t.token == token.token) {
            return Err(Error::config(format!(
                "{field}.token: the same token is listed twice"
            )));
        }
        if let Some(teams) = &token.teams {
            if teams.is_empty() || teams.iter().any(|t| t.trim().is_empty()) {
                return Err(Error::config(format!(
                    "{field}.teams: list one or more team names, or leave `teams` out for all"
                )));
            }
        }
    }
    Ok(())
}

/// `remote_cache:`: a Turborepo v8 server (BuildNet's own, ducktors' turborepo-remote-cache,
/// Vercel) that builds read from after a local miss and write to after a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteCacheConfig {
    /// The server's base URL (`http://cache.internal:7890`), as turbo's `TURBO_API`.
    #[serde(default)]
    pub url: Option<String>,
    /// The bearer token, as `TURBO_TOKEN` (which wins). Never serialized back out.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
    /// The team: sent as `teamId` when it starts with `team_`, else as `slug` (turbo's rule).
    #[serde(default)]
    pub team: Option<String>,
    /// Download artifacts after a local miss.
    #[serde(default = "yes")]
    pub read: bool,
    /// Upload artifacts after a successful run.
    #[serde(default = "yes")]
    pub write: bool,
    /// How long one request may take (turbo's `remoteCache.timeout`, 30 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Sign uploads and check downloads with `TURBO_REMOTE_CACHE_SIGNATURE_KEY` (turbo's
    /// `remoteCache.signature`).
    #[serde(default)]
    pub signature: bool,
}

fn yes() -> bool {
    true
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl RemoteCacheConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if let Some(url) = &self.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::config(format!(
                    "field `remote_cache.url`: {url:?} is not an http:// or https:// URL"
                )));
            }
        }
        if self.timeout_ms == 0 || self.timeout_ms > 3_600_000 {
            return Err(Error::config(
                "field `remote_cache.timeout_ms`: must be between 1 and 3600000",
            ));
        }
        Ok(())
    }
}
