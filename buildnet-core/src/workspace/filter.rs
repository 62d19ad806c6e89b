//! Turborepo's `--filter` grammar, and the task ids a `run` asks for.
//!
//! ```text
//! [!] [...[^]] ( name-glob | ./dir | {./dir} ) [[^]...] [ [ref] | [a...b] | ...[ref] ]
//! ```
//!
//! - A name is a glob over package names (`@acme/*`); `./x`, `../x` and `.` select by folder,
//!   relative to where the command runs (globs allowed); with other parts the folder is
//!   written `{./apps/*}`.
//! - A trailing `...` adds each match's dependencies, a leading `...` its dependents; `^` next
//!   to the dots leaves the match itself out.
//! - `[ref]`: packages with files changed since `ref` (committed or not); `[a...b]`: changed
//!   between two refs; `...[ref]` in that place: packages whose dependencies changed too. A
//!   change to a global file (the root `package.json`, `turbo.json`, the lockfile, a
//!   `globalDependencies` match) changes every package; another file at the root changes the
//!   root package.
//! - Filters are a union; `!` filters take packages away (from everything, when only `!`
//!   filters are given). A name that matches no package is an error, as in turbo.

use std::collections::BTreeSet;
use std::path::Path;

use globset::GlobBuilder;

use super::packages::{normalize, ROOT_PACKAGE};
use super::tasks::Repo;
use crate::error::{Error, Result};

/// Files changed between `from` and `to` (`None`: the working tree, uncommitted changes and
/// untracked files included), relative to the repository root; `Ok(None)` when it cannot be
/// told (an unknown ref, a shallow clone): then everything counts as changed.
pub type ChangedFiles<'a> = dyn FnMut(&str, Option<&str>) -> Result<Option<Vec<String>>> + 'a;

#[derive(Debug, Default, PartialEq, Eq)]
struct Selector {
    exclude: bool,
    dependents: bool,
    dependencies: bool,
    exclude_self: bool,
    name: Option<String>,
    dir: Option<String>,
    from_ref: Option<String>,
    to_ref: Option<String>,
    changed_in_dependencies: bool,
    raw: String,
}

fn parse(filter: &str) -> Result<Selector> {
    let raw = filter.to_owned();
    let bad = |why: &str| Error::invalid_argument(format!("invalid filter {filter:?}: {why}"));
    let mut s = filter.trim();
    let mut sel = Selector {
        raw,
        ..Selector::default()
    };
    if let Some(rest) = s.strip_prefix('!') {
        sel.exclude = true;
        s = rest;
    }
    if let Some(rest) = s.strip_prefix("...") {
        sel.dependents = true;
        s = rest;
        if let Some(rest) = s.strip_prefix('^') {
            sel.exclude_self = true;
            s = rest;
        }
    }
    // The changed-files part comes last: `[ref]`, `[a...b]`, `...[ref]`.
    if s.ends_with(']') {
        let open = s.rfind('[').ok_or_else(|| bad("`]` without `[`"))?;
        let inner = &s[open + 1..s.len() - 1];
        if inner.is_empty() {
            return Err(bad("empty `[]`"));
        }
        match inner.split_once("...") {
            Some((a, b)) => {
                sel.from_ref = Some(a.to_owned());
                sel.to_ref = (!b.is_empty()).then(|| b.to_owned());
            }
            None => sel.from_ref = Some(inner.to_owned()),
        }
        s = &s[..open];
        if let Some(rest) = s.strip_suffix("...") {
            if rest.is_empty() || rest.ends_with('}') || !rest.is_empty() {
                sel.changed_in_dependencies = true;
                s = rest;
            }
        }
    }
    if let Some(rest) = s.strip_suffix("...") {
        sel.dependencies = true;
        s = rest;
        if let Some(rest) = s.strip_suffix('^') {
            sel.exclude_self = true;
            s = rest;
        }
    }
    if s == "." || s.starts_with("./") || s.starts_with("../") {
        sel.dir = Some(s.to_owned());
        s = "";
    } else if let Some(open) = s.find('{') {
        let close = s.rfind('}').ok_or_else(|| bad("`{` without `}`"))?;
        if close < open || close != s.len() - 1 {
            return Err(bad("a folder in `{}` must end the selector"));
        }
        sel.dir = Some(s[open + 1..close].to_owned());
        s = &s[..open];
    }
    if !s.is_empty() {
        sel.name = Some(s.to_owned());
    }
    if sel.name.is_none() && sel.dir.is_none() && sel.from_ref.is_none() {
        return Err(bad("it selects nothing"));
    }
    Ok(sel)
}

fn glob_matcher(pattern: &str) -> Result<globset::GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::invalid_argument(format!("invalid filter glob {pattern:?}: {e}")))
}

impl Repo {
    /// The packages `filters` select, run from `cwd` (relative folders are read from there).
    /// No filters: every package.
    pub fn select_packages(
        &self,
        filters: &[String],
        cwd: &Path,
        changed: &mut ChangedFiles<'_>,
    ) -> Result<BTreeSet<String>> {
        let all: BTreeSet<String> = self.packages.by_name.keys().cloned().collect();
        if filters.is_empty() {
            return Ok(all);
        }
        let selectors: Vec<Selector> = filters.iter().map(|f| parse(f)).collect::<Result<_>>()?;
        let mut chosen = BTreeSet::new();
        if selectors.iter().all(|s| s.exclude) {
            chosen = all.clone();
        }
        for sel in selectors.iter().filter(|s| !s.exclude) {
            chosen.extend(self.apply(sel, cwd, changed)?);
        }
        for sel in selectors.iter().filter(|s| s.exclude) {
            for name in self.apply(sel, cwd, changed)? {
                chosen.remove(&name);
            }
        }
        Ok(chosen)
    }

    fn apply(
        &self,
        sel: &Selector,
        cwd: &Path,
        changed: &mut ChangedFiles<'_>,
    ) -> Result<BTreeSet<String>> {
        let mut base: BTreeSet<String> = self.packages.by_name.keys().cloned().collect();
        if let Some(name) = &sel.name {
            let m = glob_matcher(name)?;
            base.retain(|p| m.is_match(p));
            // A name that matches nothing is an error; a glob that does is an empty scope.
            if base.is_empty() && !name.contains(['*', '?', '[', '{']) {
                return Err(Error::not_found(format!(
                    "No package found with name '{name}' in workspace"
                )));
            }
        }
        if let Some(dir) = &sel.dir {
            let rel_cwd = cwd
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let joined = normalize(&format!("{rel_cwd}/{dir}")).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "filter {:?}: the folder leaves the repository",
                    sel.raw
                ))
            })?;
            let literal: String = joined
                .split('/')
                .take_while(|p| !p.contains(['*', '?', '[', '{']))
                .collect::<Vec<_>>()
                .join("/");
            if !self.root.join(&literal).is_dir() {
                return Err(Error::invalid_argument(format!(
                    "Directory '{}' specified in filter does not exist",
                    self.root.join(&literal).display()
                )));
            }
            let m = glob_matcher(if joined.is_empty() { "" } else { &joined })?;
            base.retain(|p| {
                let dir = &self.packages.by_name[p].dir;
                if joined.is_empty() {
                    dir.is_empty()
                } else {
                    m.is_match(dir)
                }
            });
        }
        if let Some(from) = &sel.from_ref {
            let touched = self.changed_packages(from, sel.to_ref.as_deref(), changed)?;
            let touched = if sel.changed_in_dependencies {
                // Packages whose dependencies (or themselves) changed.
                let mut with_dependents = touched.clone();
                for name in &touched {
                    with_dependents.extend(self.closure(name, true));
                }
                with_dependents
            } else {
                touched
            };
            base.retain(|p| touched.contains(p));
        }
        let mut out = BTreeSet::new();
        for name in &base {
            if !sel.exclude_self {
                out.insert(name.clone());
            }
            if sel.dependencies {
                out.extend(self.closure(name, false));
            }
            if sel.dependents {
                out.extend(self.closure(name, true));
            }
        }
        Ok(out)
    }

    /// Every package `name` reaches through its dependencies (or, `up`, its dependents),
    /// itself excluded.
    fn closure(&self, name: &str, up: bool) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(at) = stack.pop() {
            let next: Vec<String> = if up {
                self.packages
                    .dependents(&at)
                    .map(|p| p.name.clone())
                    .collect()
            } else {
                self.packages
                    .by_name
                    .get(&at)
                    .map(|p| p.internal.iter().cloned().collect())
                    .unwrap_or_default()
            };
            for n in next {
                if n != name && seen.insert(n.clone()) {
                    stack.push(n);
                }
            }
        }
        seen
    }

    /// The packages with a file changed between the refs.
    fn changed_packages(
        &self,
        from: &str,
        to: Option<&str>,
        changed: &mut ChangedFiles<'_>,
    ) -> Result<BTreeSet<String>> {
        let all: BTreeSet<String> = self.packages.by_name.keys().cloned().collect();
        let Some(files) = changed(from, to)? else {
            return Ok(all);
        };
        let mut global: Vec<globset::GlobMatcher> = Vec::new();
        for g in &self.turbo.global_dependencies {
            global.push(glob_matcher(g.strip_prefix("$TURBO_ROOT$/").unwrap_or(g))?);
        }
        let lockfile = self.packages.manager.lockfile.clone().unwrap_or_default();
        let mut out = BTreeSet::new();
        for file in files {
            let Some(package) = self.packages.containing(&file) else {
                continue;
            };
            if package.name == ROOT_PACKAGE {
                let is_global = file == "package.json"
                    || file == lockfile
                    || file == "turbo.json"
                    || file == "turbo.jsonc"
                    || global.iter().any(|g| g.is_match(&file));
                if is_global {
                    return Ok(all);
                }
            }
            out.insert(package.name.clone());
        }
        Ok(out)
    }

    /// The target ids `turbo run <tasks>` asks for over `packages`: `pkg#task` as given, and
    /// for a bare task name the task of each selected package that defines it (the root's
    /// `//#task` included). A task no turbo.json defines is an error.
    pub fn entry_points(
        &self,
        tasks: &[String],
        packages: &BTreeSet<String>,
    ) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for task in tasks {
            if task.contains('#') {
                if !self.tasks.contains_key(task) {
                    return Err(Error::not_found(format!(
                        "could not find task `{task}` in project"
                    )));
                }
                ids.push(task.clone());
                continue;
            }
            let before = ids.len();
            for package in packages {
                let id = format!("{package}#{task}");
                if self.tasks.contains_key(&id) {
                    ids.push(id);
                }
            }
            // A task no turbo.json defines is an error; one the selected packages lack (or an
            // empty selection) is an empty run, as in turbo.
            if ids.len() == before && !self.tasks.values().any(|t| t.spec.task == *task) {
                return Err(Error::not_found(format!(
                    "could not find task `{task}` in project (no turbo.json defines it)"
                )));
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let s = parse("!...^@acme/*...").unwrap();
        assert!(s.exclude && s.dependents && s.exclude_self && s.dependencies);
        assert_eq!(s.name.as_deref(), Some("@acme/*"));
        let s = parse("./apps/*").unwrap();
        assert_eq!(s.dir.as_deref(), Some("./apps/*"));
        let s = parse("web{./apps/*}[main]").unwrap();
        assert_eq!(
            (s.name.as_deref(), s.dir.as_deref()),
            (Some("web"), Some("./apps/*"))
        );
        assert_eq!(s.from_ref.as_deref(), Some("main"));
        let s = parse("[main...HEAD]").unwrap();
        assert_eq!(
            (s.from_ref.as_deref(), s.to_ref.as_deref()),
            (Some("main"), Some("HEAD"))
        );
        let s = parse("web...[HEAD^1]").unwrap();
        assert!(s.changed_in_dependencies && !s.dependencies);
        assert_eq!(s.name.as_deref(), Some("web"));
        let s = parse("lib^...").unwrap();
        assert!(s.dependencies && s.exclude_self);
        assert!(parse("!").is_err());
        assert!(parse("[]").is_err());
    }
}
