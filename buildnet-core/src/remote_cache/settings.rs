//! Which caches a build reads and writes, and where its remote cache is: from `--cache`
//! (turbo's `local:rw,remote:r` form, else `TURBO_CACHE`), the build's environment
//! (`TURBO_API`, `TURBO_TOKEN`, `TURBO_TEAM`, `TURBO_TEAMID`,
//! `TURBO_REMOTE_CACHE_SIGNATURE_KEY`, `TURBO_REMOTE_CACHE_TIMEOUT`), `remote_cache:` in
//! `buildnet.yaml` and the root turbo.json's `remoteCache`, in that order of precedence.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};

/// What a build may do with each cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheModes {
    pub local_read: bool,
    pub local_write: bool,
    pub remote_read: bool,
    pub remote_write: bool,
}

impl Default for CacheModes {
    fn default() -> Self {
        CacheModes {
            local_read: true,
            local_write: true,
            remote_read: true,
            remote_write: true,
        }
    }
}

impl CacheModes {
    /// turbo's `--cache` value: comma-separated `local:<r|w|rw|>` and `remote:<...>`; a source
    /// left out is off (`--cache=remote:r` reads the remote cache only).
    pub fn parse(value: &str) -> Result<CacheModes> {
        let mut modes = CacheModes {
            local_read: false,
            local_write: false,
            remote_read: false,
            remote_write: false,
        };
        let bad = |why: String| {
            Error::invalid_argument(format!(
                "--cache {value:?}: {why} (expected e.g. local:rw,remote:r)"
            ))
        };
        let mut seen = Vec::new();
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (source, actions) = part
                .split_once(':')
                .ok_or_else(|| bad(format!("{part:?} has no ':'")))?;
            if seen.contains(&source) {
                return Err(bad(format!("{source} is given twice")));
            }
            seen.push(source);
            let (read, write) = match actions {
                "" => (false, false),
                "r" => (true, false),
                "w" => (false, true),
                "rw" | "wr" => (true, true),
                other => return Err(bad(format!("{other:?} is not r, w, rw or empty"))),
            };
            match source {
                "local" => (modes.local_read, modes.local_write) = (read, write),
                "remote" => (modes.remote_read, modes.remote_write) = (read, write),
                other => return Err(bad(format!("{other:?} is not local or remote"))),
            }
        }
        Ok(modes)
    }
}

/// A remote cache as one build uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The base URL, without a trailing `/`.
    pub url: String,
    pub token: Option<String>,
    /// Sent as `teamId` (and signed over).
    pub team_id: Option<String>,
    /// Sent as `slug`.
    pub slug: Option<String>,
    pub read: bool,
    pub write: bool,
    pub timeout: Duration,
    pub upload_timeout: Duration,
    /// The key artifacts are signed with, when signatures are on.
    pub signature_key: Option<String>,
}

/// The caches of one build: its modes, and its remote cache if one is set and in use.
pub fn resolve(
    config: &Config,
    vars: &BTreeMap<String, String>,
    cache_flag: Option<&str>,
) -> Result<(CacheModes, Option<Settings>)> {
    let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
    let flag = cache_flag.map(str::to_owned).or_else(|| var("TURBO_CACHE"));
    let modes = match flag {
        Some(f) => CacheModes::parse(&f)?,
        None => CacheModes::default(),
    };
    let yaml = config.remote_cache.as_ref();
    let turbo = config.repo.as_ref().map(|r| &r.turbo.remote_cache);
    let url = var("TURBO_API")
        .or_else(|| yaml.and_then(|y| y.url.clone()))
        .or_else(|| turbo.and_then(|t| t.api_url.clone()));
    let enabled = turbo.and_then(|t| t.enabled).unwrap_or(true);
    let (Some(url), true) = (url, enabled) else {
        return Ok((modes, None));
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::config(format!(
            "the remote cache URL {url:?} (TURBO_API or remote_cache.url) is not http:// or https://"
        )));
    }
    let team = var("TURBO_TEAM").or_else(|| yaml.and_then(|y| y.team.clone()));
    let (mut team_id, mut slug) = match team {
        Some(t) if t.starts_with("team_") => (Some(t), None),
        Some(t) => (None, Some(t)),
        None => (None, None),
    };
    if let Some(id) = var("TURBO_TEAMID").or_else(|| turbo.and_then(|t| t.team_id.clone())) {
        team_id = Some(id);
    }
    if slug.is_none() && team_id.is_none() {
        slug = turbo.and_then(|t| t.team_slug.clone());
    }
    let signature =
        yaml.is_some_and(|y| y.signature) || turbo.and_then(|t| t.signature).unwrap_or(false);
    let signature_key = if signature {
        Some(var("TURBO_REMOTE_CACHE_SIGNATURE_KEY").ok_or_else(|| {
            Error::config(
                "remote-cache signatures are on (remoteCache.signature or remote_cache.signature) \
                 but TURBO_REMOTE_CACHE_SIGNATURE_KEY is not set",
            )
        })?)
    } else {
        None
    };
    let seconds = |name: &str| -> Result<Option<Duration>> {
        var(name)
            .map(|v| {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| Error::config(format!("{name}: {v:?} is not a number of seconds")))
            })
            .transpose()
    };
    let timeout = seconds("TURBO_REMOTE_CACHE_TIMEOUT")?
        .or_else(|| yaml.map(|y| Duration::from_millis(y.timeout_ms)))
        .or_else(|| turbo.and_then(|t| t.timeout).map(Duration::from_secs))
        .unwrap_or(Duration::from_secs(30));
    let upload_timeout = seconds("TURBO_REMOTE_CACHE_UPLOAD_TIMEOUT")?
        .or_else(|| {
            turbo
                .and_then(|t| t.upload_timeout)
                .map(Duration::from_secs)
        })
        .unwrap_or(timeout.max(Duration::from_secs(60)));
    let settings = Settings {
        url: url.trim_end_matches('/').to_owned(),
        token: var("TURBO_TOKEN").or_else(|| yaml.and_then(|y| y.token.clone())),
        team_id,
        slug,
        read: modes.remote_read && yaml.is_none_or(|y| y.read),
        write: modes.remote_write && yaml.is_none_or(|y| y.write),
        timeout,
        upload_timeout,
        signature_key,
    };
    Ok((modes, (settings.read || settings.write).then_some(settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_flags_as_turbo_writes_them() {
        let m = CacheModes::parse("local:rw,remote:r").unwrap();
        assert_eq!(
            (m.local_read, m.local_write, m.remote_read, m.remote_write),
            (true, true, true, false)
        );
        let m = CacheModes::parse("remote:rw").unwrap();
        assert!(!m.local_read && !m.local_write && m.remote_read && m.remote_write);
        let m = CacheModes::parse("local:,remote:w").unwrap();
        assert!(!m.local_read && !m.local_write && !m.remote_read && m.remote_write);
        for bad in ["local", "local:x", "cloud:r", "local:r,local:w"] {
            assert!(CacheModes::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_environment_wins_over_the_file_and_team_ids_are_told_from_slugs() {
        let mut config = Config::parse(
            "remote_cache:\n  url: http://file.example:1/\n  team: acme\n  token: file-token\n  write: false\n",
            None,
            std::path::Path::new("/tmp"),
        )
        .unwrap();
        let vars = BTreeMap::new();
        let (_, s) = resolve(&config, &vars, None).unwrap();
        let s = s.unwrap();
        assert_eq!(s.url, "http://file.example:1");
        assert_eq!(
            (s.slug.as_deref(), s.team_id.as_deref()),
            (Some("acme"), None)
        );
        assert_eq!(s.token.as_deref(), Some("file-token"));
        assert!(s.read && !s.write);

        let vars: BTreeMap<String, String> = [
            ("TURBO_API", "http://env.example:2"),
            ("TURBO_TOKEN", "env-token"),
            ("TURBO_TEAM", "team_abc"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (_, s) = resolve(&config, &vars, Some("local:rw,remote:r")).unwrap();
        let s = s.unwrap();
        assert_eq!(s.url, "http://env.example:2");
        assert_eq!(s.token.as_deref(), Some("env-token"));
        assert_eq!(
            (s.slug.as_deref(), s.team_id.as_deref()),
            (None, Some("team_abc"))
        );

        // No remote use at all: no settings.
        let (modes, s) = resolve(&config, &vars, Some("local:rw")).unwrap();
        assert!(s.is_none() && modes.local_read);
        // Signatures without a key are an error that names the variable.
        config.remote_cache.as_mut().unwrap().signature = true;
        let err = resolve(&config, &vars, None).unwrap_err();
        assert!(err.message().contains("TURBO_REMOTE_CACHE_SIGNATURE_KEY"));
    }
}
