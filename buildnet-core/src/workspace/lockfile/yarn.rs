//! yarn 1's `yarn.lock`: its own line format, read by a small line parser.
//!
//! ```text
//! # yarn lockfile v1
//!
//! "is-number@^6.0.0", is-number@~6.0.0:
//!   version "6.0.0"
//!   resolved "https://registry.yarnpkg.com/is-number/-/is-number-6.0.0.tgz#…"
//!   integrity sha512-…
//!   dependencies:
//!     kind-of "^3.0.2"
//! ```
//!
//! An unindented line lists the descriptors (`name@range`, quoted when they need it) that
//! resolved to the entry; two-space lines are its fields; four-space lines are the items of its
//! `dependencies:` or `optionalDependencies:` block. A dependency `name "range"` resolves to the
//! entry listing `name@range`, and so does a workspace package's dependency `name` with the spec
//! from its package.json (yarn 1 does not record workspace packages, so the folder plays no
//! part). The entry is `name@version integrity` (`resolved` when there is no integrity). The
//! `# yarn lockfile v1` header is required: it tells yarn 1's file from berry's.

use std::collections::{BTreeMap, HashMap};

use super::{label, Graph, Target};

/// How a workspace package's direct dependencies resolve in a yarn 1 lockfile.
pub(super) struct YarnRoots {
    /// Descriptor (`name@range`) → node.
    index: HashMap<String, usize>,
}

/// One entry of the file.
#[derive(Default)]
struct Entry {
    descriptors: Vec<String>,
    fields: HashMap<String, String>,
    dependencies: Vec<(String, String)>,
    optional: Vec<(String, String)>,
}

/// Parses a yarn 1 `yarn.lock` into its package graph.
pub(super) fn parse(text: &str) -> Result<(Graph, YarnRoots), String> {
    let entries = parse_entries(text)?;
    let mut graph = Graph::default();
    let mut roots = YarnRoots {
        index: HashMap::new(),
    };
    for entry in &entries {
        let name = descriptor_name(entry.descriptors.first().map_or("", String::as_str));
        let version = entry.fields.get("version").map_or("", String::as_str);
        let checksum = entry
            .fields
            .get("integrity")
            .or_else(|| entry.fields.get("resolved"))
            .map_or("", String::as_str);
        let i = graph.add(label(&format!("{name}@{version}"), checksum));
        for descriptor in &entry.descriptors {
            roots.index.insert(descriptor.clone(), i);
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let edges = entry
            .dependencies
            .iter()
            .map(|d| (d, false))
            .chain(entry.optional.iter().map(|d| (d, true)));
        for ((name, range), optional) in edges {
            let target = roots.lookup(name, range);
            graph.link(i, target, optional);
        }
    }
    Ok((graph, roots))
}

/// Splits the file into entries.
fn parse_entries(text: &str) -> Result<Vec<Entry>, String> {
    if !text.lines().any(|l| l.trim() == "# yarn lockfile v1") {
        return Err("yarn.lock has no `# yarn lockfile v1` header".into());
    }
    let mut entries: Vec<Entry> = Vec::new();
    // The block (`dependencies`, …) that four-space lines belong to.
    let mut block: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let body = line.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let at = || format!("yarn.lock line {}", n + 1);
        let indent = line.len() - body.len();
        match indent {
            0 => {
                let keys = body
                    .strip_suffix(':')
                    .ok_or_else(|| format!("{}: expected `descriptors:`", at()))?;
                let descriptors = split_descriptors(keys)
                    .ok_or_else(|| format!("{}: bad descriptor list", at()))?;
                entries.push(Entry {
                    descriptors,
                    ..Entry::default()
                });
                block = None;
            }
            2 => {
                let entry = entries
                    .last_mut()
                    .ok_or_else(|| format!("{}: field outside an entry", at()))?;
                let (key, value) =
                    split_pair(body).ok_or_else(|| format!("{}: bad field", at()))?;
                // `dependencies:` opens a block; anything else is a field.
                let opens = if value.is_empty() {
                    key.strip_suffix(':').map(str::to_owned)
                } else {
                    None
                };
                if opens.is_none() {
                    entry.fields.insert(key, value);
                }
                block = opens;
            }
            4 => {
                let entry = entries
                    .last_mut()
                    .ok_or_else(|| format!("{}: item outside an entry", at()))?;
                let (key, value) = split_pair(body).ok_or_else(|| format!("{}: bad item", at()))?;
                match block.as_deref() {
                    Some("dependencies") => entry.dependencies.push((key, value)),
                    Some("optionalDependencies") => entry.optional.push((key, value)),
                    Some(_) => {}
                    None => return Err(format!("{}: item outside a block", at())),
                }
            }
            _ => return Err(format!("{}: unexpected indentation", at())),
        }
    }
    Ok(entries)
}

/// The comma-separated descriptors of an entry line, unquoted; None when one is malformed or
/// there are none.
fn split_descriptors(keys: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = keys.trim();
    while !rest.is_empty() {
        let (token, after) = take_token(rest, ',')?;
        if token.is_empty() {
            return None;
        }
        out.push(token);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(more) => more.trim_start(),
            None if after.is_empty() => after,
            None => return None,
        };
    }
    (!out.is_empty()).then_some(out)
}

/// A `key value` line: the key (unquoted, a trailing `:` kept) and the value (unquoted, empty
/// when there is none).
fn split_pair(body: &str) -> Option<(String, String)> {
    let (key, rest) = take_token(body, ' ')?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Some((key, String::new()));
    }
    // A quoted value must end the line; an unquoted one is the rest of it.
    if rest.starts_with('"') {
        let (value, after) = take_token(rest, ' ')?;
        after.trim().is_empty().then_some((key, value))
    } else {
        Some((key, rest.to_owned()))
    }
}

/// The first token of `s`: a JSON-style quoted string, or everything up to `stop`. Returns it
/// (unquoted) and the text after it; None for an unterminated quote.
fn take_token(s: &str, stop: char) -> Option<(String, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find(stop).unwrap_or(s.len());
        let (token, rest) = s.split_at(end);
        return Some((token.trim_end().to_owned(), rest));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &quoted[i + c.len_utf8()..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, other)) => out.push(other),
                None => return None,
            },
            _ => out.push(c),
        }
    }
    None
}

/// The package name of a descriptor: `@scope/x@^1` → `@scope/x`, `x@npm:y@1` → `x`.
fn descriptor_name(descriptor: &str) -> &str {
    let from = usize::from(descriptor.starts_with('@'));
    match descriptor.get(from..).and_then(|s| s.find('@')) {
        Some(at) => &descriptor[..from + at],
        None => descriptor,
    }
}

impl YarnRoots {
    /// Where dependency `name` with range `range` leads.
    fn lookup(&self, name: &str, range: &str) -> Target {
        match self.index.get(&format!("{name}@{range}")) {
            Some(&i) => Target::Node(i),
            None => Target::Missing,
        }
    }

    /// The direct dependencies `deps` (name → spec as in package.json).
    pub(super) fn resolve(&self, deps: &BTreeMap<String, String>) -> Option<Vec<Target>> {
        Some(
            deps.iter()
                .map(|(name, spec)| self.lookup(name, spec))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, IS_NUMBER_6, IS_NUMBER_7, IS_ODD};
    use super::super::LockfileKind;
    use super::*;

    const ACME: &str = include_str!("testdata/yarn1.lock");

    #[test]
    fn acme_closures() {
        let n7 = format!("is-number@7.0.0 {IS_NUMBER_7}");
        let n6 = format!("is-number@6.0.0 {IS_NUMBER_6}");
        let odd = format!("is-odd@3.0.1 {IS_ODD}");
        testutil::acme_suite(
            LockfileKind::Yarn,
            ACME,
            &[&n7],
            &[&n6, &odd],
            &[
                (IS_ODD, "sha512-changed"),
                (IS_NUMBER_6, "sha512-changed"),
                ("version \"3.0.1\"", "version \"3.0.2\""),
                ("version \"6.0.0\"", "version \"6.0.1\""),
            ],
        );
    }

    #[test]
    fn quoting_scopes_blocks_and_cycles() {
        let text = r#"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@s/x@^1.0.0", "@s/x@>= 1.0.0 < 2":
  version "1.2.0"
  resolved "https://r/x.tgz#abc"
  dependencies:
    y "npm:z@^2"
  optionalDependencies:
    fsevents "^2.0.0"

y@npm:z@^2:
  version "2.0.0"
  integrity sha1-z
  dependencies:
    "@s/x" ">= 1.0.0 < 2"
"#;
        let got = testutil::closure(LockfileKind::Yarn, text, "", &[("@s/x", "^1.0.0")]);
        assert_eq!(
            got,
            Some(testutil::strings(&[
                "@s/x@1.2.0 https://r/x.tgz#abc",
                "y@2.0.0 sha1-z"
            ]))
        );
        // A required dependency that is missing makes the closure None.
        let stale = text.replace("y@npm:z@^2:", "y@npm:z@^3:");
        let got = testutil::closure(LockfileKind::Yarn, &stale, "", &[("@s/x", "^1.0.0")]);
        assert_eq!(got, None);
    }

    #[test]
    fn tokens_and_names() {
        assert_eq!(
            split_descriptors(r#""a@^1", a@~1 , "@s/b@>= 1 < 2""#),
            Some(testutil::strings(&["a@^1", "a@~1", "@s/b@>= 1 < 2"]))
        );
        assert_eq!(split_descriptors(r#""a@^1"#), None);
        assert_eq!(split_descriptors(" , "), None);
        assert_eq!(
            split_pair(r#"version "1.0.0""#),
            Some(("version".into(), "1.0.0".into()))
        );
        assert_eq!(
            split_pair("dependencies:"),
            Some(("dependencies:".into(), String::new()))
        );
        assert_eq!(
            split_pair(r#""a\"b" "c""#),
            Some(("a\"b".into(), "c".into()))
        );
        assert_eq!(descriptor_name("@s/x@^1"), "@s/x");
        assert_eq!(descriptor_name("x@npm:y@1"), "x");
        assert_eq!(descriptor_name("x"), "x");
        assert_eq!(descriptor_name("@"), "@");
        assert_eq!(descriptor_name(""), "");
    }

    #[test]
    fn rejects_garbage() {
        let no_header = "is-number@7.0.0:\n  version \"7.0.0\"\n";
        let no_colon = "# yarn lockfile v1\nis-number@7.0.0\n  version \"7.0.0\"\n";
        let orphan = "# yarn lockfile v1\n  version \"7.0.0\"\n";
        let odd_indent = "# yarn lockfile v1\na@1:\n   version \"1\"\n";
        let open_quote = "# yarn lockfile v1\n\"a@1:\n";
        testutil::rejects_garbage(
            LockfileKind::Yarn,
            &[no_header, no_colon, orphan, odd_indent, open_quote],
        );
    }
}
