//! The environment a command gets.
//!
//! - Patterns name variables: `NAME`, `NAME_*` (`*` matches any run of characters), and `!` in
//!   front takes a match back out (later patterns win over earlier ones).
//! - **Loose** mode passes the daemon's whole environment; **strict** mode (turbo's default)
//!   passes only [`STRICT_PASS_THROUGH`] plus what the target's `env` and `pass_env` name.
//! - BuildNet's own secrets ([`OWN_SECRETS`]) never reach a command, in either mode.

use std::collections::BTreeMap;

/// Variables a strict-mode command still gets from the daemon: turbo 2.11's list, names
/// and `PREFIX_*` wildcards (measured: `tests/turbo/FINDINGS.md` §1).
pub const STRICT_PASS_THROUGH: [&str; 62] = [
    "HOME",
    "USER",
    "TZ",
    "LANG",
    "SHELL",
    "PWD",
    "PATH",
    "CI",
    "NODE_OPTIONS",
    "NPM_CONFIG_STORE_DIR",
    "PNPM_HOME",
    "pnpm_config_verify_deps_before_run",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "DYLD_FALLBACK_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
    "LIBPATH",
    "COLORTERM",
    "TERM",
    "TERM_PROGRAM",
    "DISPLAY",
    "FORCE_COLOR",
    "NO_COLOR",
    "TMP",
    "TEMP",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XAUTHORITY",
    "DBUS_SESSION_BUS_ADDRESS",
    "VERCEL",
    "USE_OUTPUT_FOR_EDGE_FUNCTIONS",
    "NOW_BUILDER",
    "APPDATA",
    "PROGRAMDATA",
    "LOCALAPPDATA",
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "USERPROFILE",
    "HOMEDRIVE",
    "HOMEPATH",
    "WINDIR",
    "ProgramFiles",
    "ProgramFiles(x86)",
    "COMSPEC",
    "PATHEXT",
    "ELECTRON_RUN_AS_NODE",
    "JB_INTERPRETER",
    "_JETBRAINS_TEST_RUNNER_RUN_SCOPE_TYPE",
    "VERCEL_*",
    "NEXT_*",
    "GITHUB_*",
    "RUNNER_*",
    "TURBO_*",
    "COREPACK_*",
    "XDG_DATA_*",
    "VSCODE_*",
    "JB_IDE_*",
    "DOCKER_*",
    "BUILDKIT_*",
    "COMPOSE_*",
    "NIX_*",
    "__NIXOS_*",
];

/// BuildNet's own secrets: removed from every command's environment.
pub const OWN_SECRETS: [&str; 2] = ["BUILDNET_TOKEN", "BUILDNET_CACHE_SIGNATURE_KEY"];

/// Whether `name` matches `pattern` (`*` any run of characters; no `!` here).
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(mut tail) = name.strip_prefix(head) else {
                return false;
            };
            if !rest.contains('*') {
                return tail.len() >= rest.len() && tail.ends_with(rest);
            }
            // Several stars: try every split.
            loop {
                if matches(rest, tail) {
                    return true;
                }
                let mut chars = tail.chars();
                if chars.next().is_none() {
                    return false;
                }
                tail = chars.as_str();
            }
        }
    }
}

/// The variables of `vars` the patterns select (later `!` patterns take matches back).
pub fn select<'a>(
    patterns: impl IntoIterator<Item = &'a str> + Clone,
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    vars.iter()
        .filter(|(name, _)| {
            let mut chosen = false;
            for pattern in patterns.clone() {
                match pattern.strip_prefix('!') {
                    Some(neg) if matches(neg, name) => chosen = false,
                    Some(_) => {}
                    None if matches(pattern, name) => chosen = true,
                    None => {}
                }
            }
            chosen
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What the cache key sees of `patterns`: every variable they select, and each plain name
/// that is unset (as `None`), so setting it later changes the key.
pub fn for_key(
    patterns: &[String],
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> =
        select(patterns.iter().map(String::as_str), vars)
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
    for p in patterns {
        if !p.starts_with('!') && !p.contains('*') && !out.contains_key(p) {
            let negated = patterns
                .iter()
                .any(|q| q.strip_prefix('!') == Some(p.as_str()));
            if !negated {
                out.insert(p.clone(), None);
            }
        }
    }
    out
}

/// The daemon's environment now, as text (variables that are not UTF-8 are left out).
pub fn current() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The environment of a command: in strict mode only the pass-through list and `extra`
/// patterns, in loose mode everything; never [`OWN_SECRETS`].
pub fn for_command(
    strict: bool,
    extra: &[String],
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = if strict {
        let patterns: Vec<&str> = STRICT_PASS_THROUGH
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .collect();
        select(patterns.iter().copied(), vars)
    } else {
        vars.clone()
    };
    for secret in OWN_SECRETS {
        out.remove(secret);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A variable map from pairs (the tests of other modules use it too).
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn wildcards_and_negation() {
        assert!(matches("NEXT_PUBLIC_*", "NEXT_PUBLIC_URL"));
        assert!(!matches("NEXT_PUBLIC_*", "NEXT_URL"));
        assert!(matches("*_KEY", "API_KEY"));
        assert!(matches("A*B*C", "AxxBxxC"));
        assert!(!matches("A*B*C", "AxxC"));
        assert!(matches("X", "X") && !matches("X", "XY"));
        let v = vars(&[("API_A", "1"), ("API_SECRET", "2"), ("OTHER", "3")]);
        let picked = select(["API_*", "!API_SECRET"], &v);
        assert_eq!(picked.keys().collect::<Vec<_>>(), ["API_A"]);
        let key = for_key(&["API_*".into(), "UNSET".into(), "!API_SECRET".into()], &v);
        assert_eq!(key.get("API_A"), Some(&Some("1".into())));
        assert_eq!(key.get("UNSET"), Some(&None));
        assert!(!key.contains_key("API_SECRET"));
    }

    #[test]
    fn strict_mode_passes_the_list_and_the_named_and_never_our_token() {
        let v = vars(&[
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("FOO", "x"),
            ("SECRET_TOKEN", "s"),
            ("BUILDNET_TOKEN", "t"),
            ("LC_CTYPE", "C"),
            ("GITHUB_SHA", "abc"),
        ]);
        let strict = for_command(true, &["FOO".into()], &v);
        assert_eq!(
            strict.keys().collect::<Vec<_>>(),
            ["FOO", "GITHUB_SHA", "HOME", "PATH"]
        );
        let loose = for_command(false, &[], &v);
        assert!(loose.contains_key("SECRET_TOKEN"));
        assert!(!loose.contains_key("BUILDNET_TOKEN"));
    }
}
