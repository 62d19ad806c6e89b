//! Which caches a build reads and writes, and where its remote cache is: from `--cache`
//! (turbo's `local:rw,remote:r` form, else `TURBO_CACHE`), and turbo's sources in turbo's
//! order ([`super::layers`]: flags, the build's environment, `.turbo/config.json`, the user's
//! login and config), then `remote_cache:` in `buildnet.yaml` and the root turbo.json's
//! `remoteCache`. As in turbo, a token and a team with no URL mean Vercel's remote cache.

use std::collections::BTreeMap;
use std::time::Duration;

use super::layers::{Layer, DEFAULT_API_URL};
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
    /// Ask with an `OPTIONS` request before each artifact request, as turbo's `--preflight`.
    pub preflight: bool,
}

/// The caches of one build: its modes, and its remote cache if one is set and in use.
/// `flags` are the settings given on the command line (`buildnet run --api ...`), which win
/// over every other source ([`super::layers`] lists them in order).
pub fn resolve(
    config: &Config,
    vars: &BTreeMap<String, String>,
    cache_flag: Option<&str>,
    flags: &Layer,
) -> Result<(CacheModes, Option<Settings>)> {
    let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
    let flag = cache_flag.map(str::to_owned).or_else(|| var("TURBO_CACHE"));
    let modes = match flag {
        Some(f) => CacheModes::parse(&f)?,
        None => CacheModes::default(),
    };
    let yaml = config.remote_cache.as_ref();
    let turbo = config.repo.as_ref().map(|r| &r.turbo.remote_cache);
    // turbo's own sources, above buildnet.yaml; its timeouts are seconds, buildnet.yaml's ms.
    let upper = flags
        .clone()
        .or(Layer::from_env(vars)?)
        .or(Layer::from_files(&config.root, vars)?);
    let (yaml_id, yaml_slug) = match yaml.and_then(|y| y.team.clone()) {
        Some(t) if t.starts_with("team_") => (Some(t), None),
        Some(t) => (None, Some(t)),
        None => (None, None),
    };
    let yaml_layer = Layer {
        api_url: yaml.and_then(|y| y.url.clone()),
        token: yaml.and_then(|y| y.token.clone()),
        team_id: yaml_id,
        team_slug: yaml_slug,
        signature: yaml.is_some_and(|y| y.signature).then_some(true),
        ..Layer::default()
    };
    let turbo_layer = turbo
        .map(|t| Layer {
            token: None,
            ..t.clone()
        })
        .unwrap_or_default();
    let all = upper.clone().or(yaml_layer).or(turbo_layer.clone());
    let linked = all.token.is_some() && (all.team_id.is_some() || all.team_slug.is_some());
    let url = all
        .api_url
        .clone()
        .or_else(|| linked.then(|| DEFAULT_API_URL.to_owned()));
    let (Some(url), true) = (url, all.enabled.unwrap_or(true)) else {
        return Ok((modes, None));
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::config(format!(
            "the remote cache URL {url:?} (--api, TURBO_API, .turbo/config.json's apiUrl or \
             remote_cache.url) is not http:// or https://"
        )));
    }
    let signature_key = if all.signature.unwrap_or(false) {
        Some(var("TURBO_REMOTE_CACHE_SIGNATURE_KEY").ok_or_else(|| {
            Error::config(
                "remote-cache signatures are on (remoteCache.signature or remote_cache.signature) \
                 but TURBO_REMOTE_CACHE_SIGNATURE_KEY is not set",
            )
        })?)
    } else {
        None
    };
    let timeout = upper
        .timeout
        .map(seconds)
        .or_else(|| yaml.map(|y| Duration::from_millis(y.timeout_ms)))
        .or_else(|| turbo_layer.timeout.map(seconds))
        .unwrap_or(Duration::from_secs(30));
    let upload_timeout = all
        .upload_timeout
        .map(seconds)
        .unwrap_or(timeout.max(Duration::from_secs(60)));
    let settings = Settings {
        url: url.trim_end_matches('/').to_owned(),
        token: all.token,
        team_id: all.team_id,
        slug: all.team_slug,
        read: modes.remote_read && yaml.is_none_or(|y| y.read),
        write: modes.remote_write && yaml.is_none_or(|y| y.write),
        timeout,
        upload_timeout,
        signature_key,
        preflight: all.preflight.unwrap_or(false),
    };
    Ok((modes, (settings.read || settings.write).then_some(settings)))
}

/// turbo's timeouts are seconds, and 0 is no limit (here, a day).
fn seconds(n: u64) -> Duration {
    Duration::from_secs(if n == 0 { 86_400 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::env::tests::vars;

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
        let none = Layer::default();
        let (_, s) = resolve(&config, &vars, None, &none).unwrap();
        let s = s.unwrap();
        assert_eq!(s.url, "http://file.example:1");
        assert_eq!(
            (s.slug.as_deref(), s.team_id.as_deref()),
            (Some("acme"), None)
        );
        assert_eq!(s.token.as_deref(), Some("file-token"));
        assert!(s.read && !s.write);

        let vars = crate::process::env::tests::vars(&[
            ("TURBO_API", "http://env.example:2"),
            ("TURBO_TOKEN", "env-token"),
            ("TURBO_TEAM", "team_abc"),
        ]);
        let (_, s) = resolve(&config, &vars, Some("local:rw,remote:r"), &none).unwrap();
        let s = s.unwrap();
        assert_eq!(s.url, "http://env.example:2");
        assert_eq!(s.token.as_deref(), Some("env-token"));
        // TURBO_TEAM is a slug whatever it looks like (turbo sends `?slug=team_abc`).
        assert_eq!(
            (s.slug.as_deref(), s.team_id.as_deref()),
            (Some("team_abc"), None)
        );
        // The command line's flags win over the environment.
        let flags = Layer {
            api_url: Some("http://flag.example:3".into()),
            team_slug: Some("flag-team".into()),
            timeout: Some(5),
            preflight: Some(true),
            ..Layer::default()
        };
        let (_, s) = resolve(&config, &vars, None, &flags).unwrap();
        let s = s.unwrap();
        assert_eq!(s.url, "http://flag.example:3");
        assert_eq!(s.slug.as_deref(), Some("flag-team"));
        assert_eq!(s.token.as_deref(), Some("env-token"));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert!(s.preflight);

        // No remote use at all: no settings.
        let (modes, s) = resolve(&config, &vars, Some("local:rw"), &none).unwrap();
        assert!(s.is_none() && modes.local_read);
        // Signatures without a key are an error that names the variable.
        config.remote_cache.as_mut().unwrap().signature = true;
        let err = resolve(&config, &vars, None, &none).unwrap_err();
        assert!(err.message().contains("TURBO_REMOTE_CACHE_SIGNATURE_KEY"));
    }

    #[test]
    fn a_token_and_a_team_without_a_url_mean_vercel() {
        let config = Config::parse("targets: {}\n", None, std::path::Path::new("/tmp")).unwrap();
        let none = Layer::default();
        let linked = vars(&[("TURBO_TOKEN", "t"), ("TURBO_TEAM", "acme")]);
        let (_, s) = resolve(&config, &linked, None, &none).unwrap();
        assert_eq!(s.unwrap().url, DEFAULT_API_URL);
        // A token alone names no team: no remote cache, as in turbo.
        let token_only = vars(&[("TURBO_TOKEN", "t")]);
        assert!(resolve(&config, &token_only, None, &none)
            .unwrap()
            .1
            .is_none());
        // turbo's 0 is no limit, not an instant timeout.
        let flags = Layer {
            timeout: Some(0),
            ..Layer::default()
        };
        let (_, s) = resolve(&config, &linked, None, &flags).unwrap();
        assert!(s.unwrap().timeout >= Duration::from_secs(3600));
    }
}
