//! Secret values replaced by `***` in a command's output before anything sees it.
//!
//! The values are those of the build's environment variables whose names look secret
//! ([`DEFAULT_REDACT_ENV`], or the configuration's `redact_env`), plus BuildNet's own tokens.
//! The output is redacted once, as it is read, so the stored log, its replay on a cache hit,
//! the streamed lines and an uploaded artifact all carry `***` (as GitHub Actions does for
//! its secrets). A value that spans two reads is still found: the last bytes that could begin
//! a secret are held back until the next read or the end.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind};

/// Names whose values are redacted when the configuration does not say otherwise.
pub const DEFAULT_REDACT_ENV: [&str; 4] = ["*TOKEN*", "*SECRET*", "*PASSWORD*", "*_KEY"];

/// Values shorter than this are not redacted: `***` in place of every `1` or `on` would hide
/// the output, not the secret.
pub const MIN_SECRET_LEN: usize = 4;

/// The replacement.
pub const MASK: &[u8] = b"***";

/// The values to redact: those of `vars` whose names match `patterns` (case-insensitive,
/// `*` wildcards, `!` negation as for `env`), plus `extra`. A multi-line value is redacted
/// line by line.
pub fn secret_values<'a>(
    patterns: &[String],
    vars: &'a BTreeMap<String, String>,
    extra: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let upper: Vec<String> = patterns.iter().map(|p| p.to_uppercase()).collect();
    let mut values: Vec<String> = vars
        .iter()
        .filter(|(name, _)| {
            let name = name.to_uppercase();
            let mut hit = false;
            for p in &upper {
                match p.strip_prefix('!') {
                    Some(neg) if super::env::matches(neg, &name) => hit = false,
                    None if super::env::matches(p, &name) => hit = true,
                    _ => {}
                }
            }
            hit
        })
        .map(|(_, v)| v.as_str())
        .chain(extra)
        .flat_map(str::lines)
        .map(|l| l.trim_end_matches('\r'))
        .filter(|v| v.trim().len() >= MIN_SECRET_LEN)
        .map(str::to_owned)
        .collect();
    values.sort();
    values.dedup();
    values
}

/// Redacts one command's output, per stream.
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    /// The longest value less one: how many trailing bytes may be the start of a value.
    hold: usize,
    pending: [Vec<u8>; 2],
}

impl Redactor {
    pub fn new(secrets: &[String]) -> Redactor {
        let secrets: Vec<&str> = secrets
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let hold = secrets.iter().map(|s| s.len()).max().unwrap_or(1) - 1;
        let matcher = if secrets.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&secrets)
                .ok()
        };
        Redactor {
            matcher,
            hold,
            pending: [Vec::new(), Vec::new()],
        }
    }

    /// The bytes of `stream` that are safe to pass on after `data` arrived.
    pub fn feed<'a>(&mut self, stream: usize, data: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.matcher.is_none() {
            return std::borrow::Cow::Borrowed(data);
        }
        self.pending[stream].extend_from_slice(data);
        std::borrow::Cow::Owned(self.drain(stream, false))
    }

    /// What is still held back for `stream`, redacted (the output ended).
    pub fn finish(&mut self, stream: usize) -> Vec<u8> {
        if self.matcher.is_none() {
            return std::mem::take(&mut self.pending[stream]);
        }
        self.drain(stream, true)
    }

    fn drain(&mut self, stream: usize, last: bool) -> Vec<u8> {
        let matcher = self.matcher.as_ref().expect("checked by the callers");
        let pending = &mut self.pending[stream];
        // A match that ends in the last `hold` bytes may yet be the start of a longer value,
        // unless a newline follows it.
        let settled = if last {
            pending.len()
        } else {
            pending.len().saturating_sub(self.hold)
        };
        // No value holds a newline, so none can run on past one.
        let last_newline = pending.iter().rposition(|b| *b == b'\n');
        let mut out = Vec::with_capacity(pending.len());
        let mut at = 0;
        let mut deferred = None;
        for m in matcher.find_iter(&pending[..]) {
            if m.end() > settled && last_newline.is_none_or(|nl| nl < m.end()) {
                deferred = Some(m.start() - at);
                break;
            }
            out.extend_from_slice(&pending[at..m.start()]);
            out.extend_from_slice(MASK);
            at = m.end();
        }
        let rest = &pending[at..];
        let keep_from = if last {
            rest.len()
        } else {
            // What follows may be the start of a value: keep it, unless a newline (no value
            // has one) or the longest value's length rules that out.
            let after_newline = rest
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |nl| nl + 1);
            let by_length = rest.len().saturating_sub(self.hold);
            after_newline
                .max(by_length)
                .min(deferred.unwrap_or(rest.len()))
        };
        out.extend_from_slice(&rest[..keep_from]);
        pending.drain(..at + keep_from);
        out
    }
}

/// `data` whole, with each of `secrets` replaced by `***` (a log that arrives in one piece,
/// such as a remote action's stdout and stderr).
pub fn redact(data: &[u8], secrets: &[String]) -> Vec<u8> {
    if secrets.is_empty() {
        return data.to_vec();
    }
    let mut r = Redactor::new(secrets);
    let mut out = r.feed(0, data).into_owned();
    out.extend(r.finish(0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_in_pieces(secrets: &[&str], text: &str, piece: usize) -> String {
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        let mut r = Redactor::new(&secrets);
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(piece) {
            out.extend_from_slice(&r.feed(0, chunk));
        }
        out.extend(r.finish(0));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_masked_wherever_the_reads_split_them() {
        let text = "token=hunter2hunter2 and again hunter2hunter2\nshort hunter2 stays\n";
        let want = "token=*** and again ***\nshort hunter2 stays\n";
        for piece in 1..=text.len() {
            assert_eq!(
                redact_in_pieces(&["hunter2hunter2"], text, piece),
                want,
                "piece {piece}"
            );
        }
        // The longer of two overlapping values wins.
        assert_eq!(
            redact_in_pieces(&["abcd", "abcdef"], "xabcdefy abcdz", 3),
            "x***y ***z"
        );
        assert_eq!(
            redact_in_pieces(&[], "nothing to hide", 4),
            "nothing to hide"
        );
    }

    #[test]
    fn names_that_look_secret_are_picked() {
        let vars: BTreeMap<String, String> = [
            ("GITHUB_TOKEN", "ghp_abcdef"),
            ("npm_token", "npm_lower"),
            ("DB_PASSWORD", "p4ssw0rd"),
            ("API_KEY", "key-1234\nline-two"),
            ("KEYBOARD", "not-a-secret"),
            ("SHORT_TOKEN", "ab"),
            ("PUBLIC_TOKEN", "public-value"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut patterns: Vec<String> = DEFAULT_REDACT_ENV.iter().map(|p| p.to_string()).collect();
        patterns.push("!PUBLIC_TOKEN".into());
        let got = secret_values(&patterns, &vars, ["admin-token"]);
        assert_eq!(
            got,
            [
                "admin-token",
                "ghp_abcdef",
                "key-1234",
                "line-two",
                "npm_lower",
                "p4ssw0rd"
            ]
        );
    }
}
