//! BuildNet as a remote-cache client: it speaks Turborepo's v8 artifacts API, so one remote
//! cache serves it from its own `buildnet serve`, ducktors' turborepo-remote-cache or Vercel.
//! Artifacts are in turbo's format ([`archive`]); keys are BuildNet's own cache keys, so only
//! BuildNet clients hit each other's artifacts (turbo computes different keys).
//!
//! A remote cache can only make a build faster, never fail it: a download that fails, is
//! refused, does not verify or does not unpack is a miss, and an upload that fails is a warning.
//! After three failures in a row that look like an outage (no connection, a timeout, a 5xx)
//! the remote cache is skipped for 30 s, then tried again (turbo's breaker). A 403 on upload
//! stops uploads for the rest of the build (a read-only token), as turbo does. With signatures
//! on, uploads carry turbo's v2 `x-artifact-tag` and a download whose tag is missing or wrong
//! is a miss. [`settings`] says which caches a build uses.

pub mod archive;
pub mod layers;
pub mod settings;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cas::ArtifactStore;
use crate::error::{Error, Result};
pub use archive::ArtifactFile;
pub use layers::Layer;
pub use settings::{resolve, CacheModes, Settings};

/// turbo 2.11's signature domain (vercel/turborepo PR #13059).
const SIGNATURE_DOMAIN: &[u8] = b"artifact-signature:v2";
/// The headers a preflight says a download and an upload will send (turbo's lists).
const READ_HEADERS: &str = "Authorization, User-Agent";
const WRITE_HEADERS: &str = "Authorization, Content-Type, User-Agent, x-artifact-duration, \
                             x-artifact-tag, x-artifact-sha, x-artifact-dirty-hash";
/// Failures in a row that open the breaker, and how long it stays open.
const BREAKER_FAILURES: u32 = 3;
const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);

/// An HMAC over turbo's v2 signature fields up to the body, which `update` then adds:
/// `le64(len)‖field` for the domain, the hash, the team id (`""` without one) and the body.
pub fn signature_mac(key: &[u8], hash: &str, team_id: &str, body_len: u64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for field in [SIGNATURE_DOMAIN, hash.as_bytes(), team_id.as_bytes()] {
        mac.update(&(field.len() as u64).to_le_bytes());
        mac.update(field);
    }
    mac.update(&body_len.to_le_bytes());
    mac
}

/// The remote cache's outage breaker, kept across builds.
#[derive(Default)]
pub struct Breaker {
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    /// Whether requests may go out now.
    fn allows(&self) -> bool {
        let mut open = crate::lock(&self.open_until);
        match *open {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Cooled down: let requests probe again.
                *open = None;
                true
            }
            None => true,
        }
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Counts an outage-like failure; `true` when it opened the breaker.
    fn failure(&self) -> bool {
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= BREAKER_FAILURES {
            self.failures.store(0, Ordering::Relaxed);
            *crate::lock(&self.open_until) = Some(Instant::now() + BREAKER_COOLDOWN);
            return true;
        }
        false
    }
}

/// A temporary file in the artifact store's folder, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A downloaded artifact.
pub struct Download {
    pub archive: TempFile,
    pub size: u64,
    /// `x-artifact-duration`: what the run took where it ran.
    pub duration_ms: u64,
}

/// One build's remote cache.
pub struct RemoteCache<'a> {
    settings: Settings,
    agent: ureq::Agent,
    upload_agent: ureq::Agent,
    breaker: &'a Breaker,
    /// Largest artifact downloaded (`cache.max_artifact_bytes`).
    limit: u64,
    /// Uploads are off for the rest of the build (a 403).
    uploads_off: AtomicBool,
    /// Every warning of this build (each said once), and how many were reported.
    warnings: Mutex<(Vec<String>, usize)>,
}

/// How a request went wrong.
enum Failure {
    /// No connection, a timeout, a 5xx: counts toward the breaker.
    Outage(String),
    /// Anything else (a refusal, a bad answer).
    Other(String),
}

impl<'a> RemoteCache<'a> {
    pub fn new(settings: Settings, breaker: &'a Breaker, limit: u64) -> RemoteCache<'a> {
        let agent = |timeout: Duration| -> ureq::Agent {
            ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .user_agent(concat!("buildnet ", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        RemoteCache {
            agent: agent(settings.timeout),
            upload_agent: agent(settings.upload_timeout),
            settings,
            breaker,
            limit,
            uploads_off: AtomicBool::new(false),
            warnings: Mutex::new((Vec::new(), 0)),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The warnings since the last call; a warning is said once per build.
    pub fn take_warnings(&self) -> Vec<String> {
        let mut warnings = crate::lock(&self.warnings);
        let (said, reported) = &mut *warnings;
        let new = said[*reported..].to_vec();
        *reported = said.len();
        new
    }

    fn warn(&self, message: String) {
        let mut warnings = crate::lock(&self.warnings);
        if !warnings.0.contains(&message) {
            tracing::warn!(url = %self.settings.url, "{message}");
            warnings.0.push(message);
        }
    }

    /// Where to send a request for `key`, and whether it may carry the token. Without
    /// preflight: the artifact's URL, with it. With preflight (turbo's `--preflight`), an
    /// `OPTIONS` of that URL first, as turbo 2.11 sends it: its `Location` (absolute, or joined
    /// to the base URL) is where the request goes, as it is (turbo adds no team to it), and
    /// the token goes only if `Access-Control-Allow-Headers` names `Authorization`. The
    /// preflight's status is not looked at, as in turbo.
    fn target(
        &self,
        key: &str,
        method: &str,
        headers: &str,
    ) -> std::result::Result<(String, bool), Failure> {
        let url = self.with_team(format!("{}/v8/artifacts/{key}", self.settings.url));
        if !self.settings.preflight {
            return Ok((url, true));
        }
        let response = self
            .authorized(self.agent.options(&url))
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .call()
            .map_err(Self::classify)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let to = match header("Location") {
            "" => url.clone(),
            location => join_url(&self.settings.url, location),
        };
        let allow_auth = header("Access-Control-Allow-Headers")
            .split(',')
            .any(|h| h.trim().eq_ignore_ascii_case("authorization"));
        Ok((to, allow_auth))
    }

    /// `url` with the team's query parameters.
    fn with_team(&self, mut url: String) -> String {
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for (name, value) in [
            ("teamId", &self.settings.team_id),
            ("slug", &self.settings.slug),
        ] {
            if let Some(value) = value {
                url.push(sep);
                url.push_str(name);
                url.push('=');
                url.push_str(&percent_encode(value));
                sep = '&';
            }
        }
        url
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.settings.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    /// `request` with the token when the preflight allowed it.
    fn authorized_if<B>(
        &self,
        allow: bool,
        request: ureq::RequestBuilder<B>,
    ) -> ureq::RequestBuilder<B> {
        if allow {
            self.authorized(request)
        } else {
            request
        }
    }

    /// Records how a request ended: for the breaker, and as a warning when it failed.
    fn note(&self, result: std::result::Result<(), Failure>, what: &str) {
        match result {
            Ok(()) => self.breaker.success(),
            Err(Failure::Outage(why)) => {
                if self.breaker.failure() {
                    self.warn(format!(
                        "the remote cache is unavailable ({why}); skipping it for {} s",
                        BREAKER_COOLDOWN.as_secs()
                    ));
                } else {
                    self.warn(format!("remote cache {what} failed: {why}"));
                }
            }
            Err(Failure::Other(why)) => self.warn(format!("remote cache {what} failed: {why}")),
        }
    }

    fn classify(err: ureq::Error) -> Failure {
        match err {
            ureq::Error::Timeout(_)
            | ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound => Failure::Outage(err.to_string()),
            other => Failure::Other(other.to_string()),
        }
    }

    fn status_failure(status: u16, body: &str) -> Failure {
        let why = format!(
            "HTTP {status}{}",
            if body.is_empty() {
                String::new()
            } else {
                format!(": {}", body.trim())
            }
        );
        if status >= 500 {
            Failure::Outage(why)
        } else {
            Failure::Other(why)
        }
    }

    /// Whether the remote cache holds `key` (a `HEAD`, for dry runs).
    pub fn exists(&self, key: &str) -> bool {
        if !self.settings.read || !self.breaker.allows() {
            return false;
        }
        let result = self
            .target(key, "GET", READ_HEADERS)
            .and_then(|(url, auth)| {
                self.authorized_if(auth, self.agent.head(&url))
                    .call()
                    .map_err(Self::classify)
            });
        match result {
            Ok(response) if response.status().is_success() => {
                self.note(Ok(()), "lookup");
                true
            }
            Ok(response) if response.status().as_u16() == 404 => {
                self.note(Ok(()), "lookup");
                false
            }
            Ok(response) => {
                self.note(
                    Err(Self::status_failure(response.status().as_u16(), "")),
                    "lookup",
                );
                false
            }
            Err(failure) => {
                self.note(Err(failure), "lookup");
                false
            }
        }
    }

    /// Downloads the artifact of `key` into a temporary file of `cas`, checked for size and,
    /// with signatures on, for its tag. `None` on a miss and on any failure (warned).
    pub fn fetch(&self, cas: &ArtifactStore, key: &str) -> Option<Download> {
        if !self.settings.read || !self.breaker.allows() {
            return None;
        }
        match self.try_fetch(cas, key) {
            Ok(found) => {
                self.note(Ok(()), "download");
                found
            }
            Err(failure) => {
                self.note(Err(failure), "download");
                None
            }
        }
    }

    fn try_fetch(
        &self,
        cas: &ArtifactStore,
        key: &str,
    ) -> std::result::Result<Option<Download>, Failure> {
        let other = |e: Error| Failure::Other(e.to_string());
        let (url, auth) = self.target(key, "GET", READ_HEADERS)?;
        let mut response = self
            .authorized_if(auth, self.agent.get(&url))
            .call()
            .map_err(Self::classify)?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(Self::status_failure(status, &error_body(&mut response)));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let duration_ms = match header("x-artifact-duration") {
            None => 0,
            Some(d) => d.trim().parse().map_err(|_| {
                Failure::Other(format!("x-artifact-duration {d:?} is not a number"))
            })?,
        };
        let tag = header("x-artifact-tag");
        let (path, mut file) = cas.temp_file().map_err(other)?;
        let archive = TempFile { path };
        let mut reader = response.body_mut().with_config().limit(self.limit).reader();
        let size = std::io::copy(&mut reader, &mut file)
            .map_err(|e| Failure::Outage(format!("reading the artifact: {e}")))?;
        drop(file);
        if let Some(key_bytes) = &self.settings.signature_key {
            let tag = tag.ok_or_else(|| {
                Failure::Other("the artifact has no x-artifact-tag (signatures are on)".into())
            })?;
            let given = base64::engine::general_purpose::STANDARD
                .decode(tag.trim())
                .map_err(|_| Failure::Other("x-artifact-tag is not base64".into()))?;
            let mac = self
                .mac_of(key_bytes, key, &archive.path, size)
                .map_err(other)?;
            mac.verify_slice(&given).map_err(|_| {
                Failure::Other("the artifact's signature does not match: not used".into())
            })?;
        }
        Ok(Some(Download {
            archive,
            size,
            duration_ms,
        }))
    }

    fn mac_of(&self, key: &str, hash: &str, path: &Path, size: u64) -> Result<Hmac<Sha256>> {
        let team_id = self.settings.team_id.as_deref().unwrap_or("");
        let mut mac = signature_mac(key.as_bytes(), hash, team_id, size);
        let mut file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
        let mut buf = crate::hash::AlignedBuf::new(256 * 1024);
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io(path.display(), e))?;
            if n == 0 {
                return Ok(mac);
            }
            mac.update(&buf[..n]);
        }
    }

    /// Whether uploads are still on for this build.
    pub fn uploads(&self) -> bool {
        self.settings.write && !self.uploads_off.load(Ordering::Relaxed)
    }

    /// Uploads the artifact at `archive` as `key`. Failures are warnings (see the module
    /// documentation); returns the bytes sent.
    pub fn upload(&self, key: &str, archive: &Path, duration_ms: u64) -> Option<u64> {
        if !self.uploads() || !self.breaker.allows() {
            return None;
        }
        match self.try_upload(key, archive, duration_ms) {
            Ok(size) => {
                self.note(Ok(()), "upload");
                Some(size)
            }
            Err(failure) => {
                self.note(Err(failure), "upload");
                None
            }
        }
    }

    fn try_upload(
        &self,
        key: &str,
        archive: &Path,
        duration_ms: u64,
    ) -> std::result::Result<u64, Failure> {
        let other = |e: Error| Failure::Other(e.to_string());
        let file = File::open(archive).map_err(|e| other(Error::io(archive.display(), e)))?;
        let size = file
            .metadata()
            .map_err(|e| other(Error::io(archive.display(), e)))?
            .len();
        let (url, auth) = self.target(key, "PUT", WRITE_HEADERS)?;
        let mut request = self
            .authorized_if(auth, self.upload_agent.put(&url))
            .header("Content-Type", "application/octet-stream")
            .header("x-artifact-duration", &duration_ms.to_string());
        if let Some(signing_key) = &self.settings.signature_key {
            let mac = self
                .mac_of(signing_key, key, archive, size)
                .map_err(other)?;
            let tag = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            request = request.header("x-artifact-tag", &tag);
        }
        let mut response = request.send(file).map_err(Self::classify)?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(size);
        }
        let body = error_body(&mut response);
        if status == 403 {
            self.uploads_off.store(true, Ordering::Relaxed);
            return Err(Failure::Other(format!(
                "the remote cache refused an upload with 403 ({}); no more uploads in this build",
                body.trim()
            )));
        }
        Err(Self::status_failure(status, &body))
    }

    /// Writes the artifact of `files` to a new temporary file of `cas`.
    pub fn pack(cas: &ArtifactStore, files: &[ArtifactFile]) -> Result<TempFile> {
        let (path, mut file) = cas.temp_file()?;
        let temp = TempFile { path };
        archive::pack(cas, files, &mut file)?;
        file.flush()
            .map_err(|e| Error::io(temp.path.display(), e))?;
        Ok(temp)
    }
}

/// The start of an error answer's body, to say what the server said.
fn error_body(response: &mut ureq::http::Response<ureq::Body>) -> String {
    response
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default()
}

/// A preflight's `Location`, absolute or relative to the base URL (as a URL join does: a path
/// from `/` replaces the base's path, any other replaces its last segment).
fn join_url(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    if location.starts_with('/') {
        return format!("{}{location}", &base[..origin_end]);
    }
    let dir_end = base[origin_end..]
        .rfind('/')
        .map_or(origin_end, |i| origin_end + i);
    format!("{}/{location}", &base[..dir_end])
}

/// `value` for a URL's query: unreserved characters as they are, the rest `%XX`.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::join_url;

    #[test]
    fn a_preflight_location_is_joined_as_a_url() {
        let base = "http://cache:1/api";
        assert_eq!(join_url(base, "https://cdn/x?sig=1"), "https://cdn/x?sig=1");
        assert_eq!(
            join_url(base, "/v8/artifacts/k"),
            "http://cache:1/v8/artifacts/k"
        );
        assert_eq!(join_url(base, "other/k"), "http://cache:1/other/k");
        assert_eq!(join_url("http://cache:1", "/k"), "http://cache:1/k");
    }
}
