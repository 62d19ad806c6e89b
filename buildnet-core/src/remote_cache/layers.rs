//! Where turbo finds its remote cache, source by source, so a repository that `turbo link`
//! (or a CI job) set up is used as it is. Highest first, as turbo 2.x merges them, each setting
//! taken from the first source that has it:
//!
//! 1. `buildnet run`'s flags (`--api`, `--token`, `--team`, `--remote-cache-timeout`,
//!    `--preflight`);
//! 2. the build's environment (`TURBO_API`, `TURBO_TOKEN`, `TURBO_TEAM`, `TURBO_TEAMID`,
//!    `TURBO_REMOTE_CACHE_TIMEOUT`, `TURBO_REMOTE_CACHE_UPLOAD_TIMEOUT`, `TURBO_PREFLIGHT`),
//!    then Vercel's `VERCEL_ARTIFACTS_TOKEN` with `VERCEL_ARTIFACTS_OWNER` (a team id);
//! 3. the repository's `.turbo/config.json` (what `turbo link` writes: `apiUrl`, `teamId`,
//!    `teamSlug`, `token`, `timeout`, `uploadTimeout`, `preflight`, `signature`, `enabled`;
//!    turbo's lowercase spellings `apiurl`, `teamid`, `teamslug` too);
//! 4. the user's token: `turborepo/auth.json`, else the Vercel CLI's `com.vercel.cli/auth.json`
//!    (`{"token": ...}`), under `TURBO_CONFIG_DIR_PATH` / `VERCEL_CONFIG_DIR_PATH`, else
//!    `$XDG_CONFIG_HOME`, else `~/.config`;
//! 5. the user's `turborepo/config.json` (the keys of 3);
//! 6. `remote_cache:` in `buildnet.yaml`, then the root turbo.json's `remoteCache`.
//!
//! The files are read when a build starts, with the build's own `HOME`, so a daemon that serves
//! several users' builds uses each one's login. A file that is not there is no source; one that
//! is not valid JSON, or has a value of the wrong type, is an error that names it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
/// One source's remote-cache settings, in turbo's shape (turbo.json's `remoteCache`, and
/// `.turbo/config.json`'s keys); `None` leaves a setting to the sources below it.
pub use crate::workspace::TurboRemoteCache as Layer;

/// Where a build's remote cache is when no source names one but a token and a team are set:
/// turbo's default, Vercel's remote cache.
pub const DEFAULT_API_URL: &str = "https://vercel.com/api";

/// The token is never printed.
impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurboRemoteCache")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("team_slug", &self.team_slug)
            .field("team_id", &self.team_id)
            .field("timeout", &self.timeout)
            .field("upload_timeout", &self.upload_timeout)
            .field("preflight", &self.preflight)
            .field("signature", &self.signature)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl Layer {
    /// Each setting from `self`, else from `lower`.
    pub fn or(self, lower: Layer) -> Layer {
        Layer {
            api_url: self.api_url.or(lower.api_url),
            token: self.token.or(lower.token),
            team_slug: self.team_slug.or(lower.team_slug),
            team_id: self.team_id.or(lower.team_id),
            timeout: self.timeout.or(lower.timeout),
            upload_timeout: self.upload_timeout.or(lower.upload_timeout),
            preflight: self.preflight.or(lower.preflight),
            signature: self.signature.or(lower.signature),
            enabled: self.enabled.or(lower.enabled),
        }
    }

    /// Empty strings are unset, as in turbo's files.
    fn without_empty(mut self) -> Layer {
        for value in [
            &mut self.api_url,
            &mut self.token,
            &mut self.team_slug,
            &mut self.team_id,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        self
    }

    /// The build's environment: turbo's variables, then Vercel's artifacts pair.
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Layer> {
        let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
        let seconds = |name: &str| -> Result<Option<u64>> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        Error::config(format!("{name}: {v:?} is not a number of seconds"))
                    })
                })
                .transpose()
        };
        let preflight = match var("TURBO_PREFLIGHT").as_deref() {
            None => None,
            Some("1" | "true") => Some(true),
            Some("0" | "false") => Some(false),
            Some(other) => {
                return Err(Error::config(format!(
                    "TURBO_PREFLIGHT: {other:?} is not true, false, 1 or 0"
                )))
            }
        };
        let turbo = Layer {
            api_url: var("TURBO_API"),
            token: var("TURBO_TOKEN"),
            team_slug: var("TURBO_TEAM"),
            team_id: var("TURBO_TEAMID"),
            timeout: seconds("TURBO_REMOTE_CACHE_TIMEOUT")?,
            upload_timeout: seconds("TURBO_REMOTE_CACHE_UPLOAD_TIMEOUT")?,
            preflight,
            signature: None,
            enabled: None,
        };
        let vercel = match (var("VERCEL_ARTIFACTS_TOKEN"), var("VERCEL_ARTIFACTS_OWNER")) {
            (Some(token), Some(owner)) => Layer {
                token: Some(token),
                team_id: Some(owner),
                ..Layer::default()
            },
            _ => Layer::default(),
        };
        Ok(turbo.or(vercel))
    }

    /// The files of sources 3 to 5, merged.
    pub fn from_files(root: &Path, vars: &BTreeMap<String, String>) -> Result<Layer> {
        let local = read(&root.join(".turbo").join("config.json"))?;
        let dirs = ConfigDirs::of(vars);
        let in_dir = |dir: &Option<PathBuf>, name: &str| -> Result<Layer> {
            match dir {
                Some(dir) => read(&dir.join(name)),
                None => Ok(Layer::default()),
            }
        };
        let auth = match in_dir(&dirs.turbo, "auth.json")?.token {
            Some(token) => Some(token),
            None => in_dir(&dirs.vercel, "auth.json")?.token,
        };
        let global = in_dir(&dirs.turbo, "config.json")?;
        Ok(local
            .or(Layer {
                token: auth,
                ..Layer::default()
            })
            .or(global))
    }
}

/// The user's turbo and Vercel configuration folders, where the build's variables name them.
struct ConfigDirs {
    turbo: Option<PathBuf>,
    vercel: Option<PathBuf>,
}

impl ConfigDirs {
    fn of(vars: &BTreeMap<String, String>) -> ConfigDirs {
        let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let config = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")));
        ConfigDirs {
            turbo: var("TURBO_CONFIG_DIR_PATH")
                .or_else(|| config.clone())
                .map(|d| d.join("turborepo")),
            vercel: var("VERCEL_CONFIG_DIR_PATH")
                .or(config)
                .map(|d| d.join("com.vercel.cli")),
        }
    }
}

/// One of turbo's JSON files; none at `path` is an empty layer, as is an empty file.
fn read(path: &Path) -> Result<Layer> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Layer::default()),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    if text.trim().is_empty() {
        return Ok(Layer::default());
    }
    serde_json::from_str::<Layer>(&text)
        .map(Layer::without_empty)
        .map_err(|e| {
            Error::config(format!(
                "{}: {e} (turbo's remote-cache settings: apiUrl, teamId, teamSlug, token, \
                 timeout, uploadTimeout, preflight, signature, enabled)",
                path.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::env::tests::vars;

    #[test]
    fn files_are_merged_local_then_login_then_global() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(repo.join(".turbo")).unwrap();
        std::fs::create_dir_all(home.join(".config/turborepo")).unwrap();
        std::fs::create_dir_all(home.join(".config/com.vercel.cli")).unwrap();
        // What `turbo link` writes, in turbo's lowercase spelling, with an unknown key.
        std::fs::write(
            repo.join(".turbo/config.json"),
            r#"{"apiurl": "http://local:1", "teamslug": "acme", "teamid": "", "ui": "tui"}"#,
        )
        .unwrap();
        std::fs::write(
            home.join(".config/turborepo/config.json"),
            r#"{"apiUrl": "http://global:2", "teamId": "team_g", "token": "global-token", "timeout": 9}"#,
        )
        .unwrap();
        std::fs::write(
            home.join(".config/com.vercel.cli/auth.json"),
            r#"{"token": "vercel-token"}"#,
        )
        .unwrap();
        let env = vars(&[("HOME", home.to_str().unwrap())]);
        let layer = Layer::from_files(&repo, &env).unwrap();
        assert_eq!(layer.api_url.as_deref(), Some("http://local:1"));
        assert_eq!(layer.team_slug.as_deref(), Some("acme"));
        // The local file's empty teamId is unset, so the global one shows through.
        assert_eq!(layer.team_id.as_deref(), Some("team_g"));
        // The Vercel CLI's login wins over a token in the global config.
        assert_eq!(layer.token.as_deref(), Some("vercel-token"));
        assert_eq!(layer.timeout, Some(9));
        // turbo's own auth.json wins over the Vercel CLI's.
        std::fs::write(
            home.join(".config/turborepo/auth.json"),
            r#"{"token": "turbo-token"}"#,
        )
        .unwrap();
        let layer = Layer::from_files(&repo, &env).unwrap();
        assert_eq!(layer.token.as_deref(), Some("turbo-token"));
        // Without a HOME only the repository's file is read.
        let layer = Layer::from_files(&repo, &BTreeMap::new()).unwrap();
        assert_eq!(
            (layer.token, layer.team_id, layer.api_url.as_deref()),
            (None, None, Some("http://local:1"))
        );
        // A malformed file, or a value of the wrong type, names the file.
        std::fs::write(repo.join(".turbo/config.json"), r#"{"timeout": "soon"}"#).unwrap();
        let err = Layer::from_files(&repo, &env).unwrap_err();
        assert!(err.message().contains(".turbo/config.json"), "{err}");
        std::fs::write(repo.join(".turbo/config.json"), "{not json").unwrap();
        assert!(Layer::from_files(&repo, &env).is_err());
    }

    #[test]
    fn the_environment_and_vercel_artifacts_pair() {
        let layer = Layer::from_env(&vars(&[
            ("TURBO_TEAM", "team_x"),
            ("TURBO_PREFLIGHT", "true"),
            ("VERCEL_ARTIFACTS_TOKEN", "v-token"),
            ("VERCEL_ARTIFACTS_OWNER", "team_owner"),
        ]))
        .unwrap();
        // TURBO_TEAM is always a slug, even with turbo's team-id prefix (as turbo sends it).
        assert_eq!(layer.team_slug.as_deref(), Some("team_x"));
        assert_eq!(layer.team_id.as_deref(), Some("team_owner"));
        assert_eq!(layer.token.as_deref(), Some("v-token"));
        assert_eq!(layer.preflight, Some(true));
        let layer = Layer::from_env(&vars(&[
            ("TURBO_TOKEN", "t"),
            ("VERCEL_ARTIFACTS_TOKEN", "v-token"),
            ("VERCEL_ARTIFACTS_OWNER", "team_owner"),
        ]))
        .unwrap();
        assert_eq!(layer.token.as_deref(), Some("t"));
        for bad in [
            ("TURBO_PREFLIGHT", "yes"),
            ("TURBO_REMOTE_CACHE_TIMEOUT", "x"),
        ] {
            let err = Layer::from_env(&vars(&[bad])).unwrap_err();
            assert!(err.message().contains(bad.0), "{err}");
        }
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let layer = Layer {
            token: Some("s3cret".into()),
            ..Layer::default()
        };
        assert!(!format!("{layer:?}").contains("s3cret"));
    }
}
