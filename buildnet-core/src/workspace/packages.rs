//! A package-manager workspace: which package manager, which packages, and the edges between
//! them, read as Turborepo reads them.
//!
//! - **Manager**: `packageManager` in the root `package.json` (`pnpm@9.1.0`; yarn ≥ 2 is berry),
//!   else the lockfile at the root (`package-lock.json`, `pnpm-lock.yaml`, `yarn.lock` (berry
//!   when it has `__metadata`), `bun.lock`). Several lockfiles, or none and no field, is an
//!   error.
//! - **Packages**: the globs of `pnpm-workspace.yaml` `packages` (pnpm) or `package.json`
//!   `workspaces` (array or `{packages: [...]}`; npm, yarn, bun), `!` globs excluding, a leading
//!   `./` dropped, each manager's default exclusions (`node_modules`, and `.yarn` for berry).
//!   Every `<glob>/package.json` is a package named by its `name`; a package without a name is
//!   skipped with a warning; two with one name are an error naming both folders. The root is
//!   the package `//`.
//! - **Edges**: `dependencies`, `devDependencies`, `optionalDependencies` (never
//!   `peerDependencies`) naming a workspace package, when the spec is `workspace:` (any range,
//!   an alias or a path), `file:`/`link:` to a package folder inside the repository, `*`, or a
//!   range the package's version satisfies (a range or version that does not parse counts, as
//!   in turbo). Ranges count only where the manager links workspace packages: always for npm,
//!   yarn 1 and bun; pnpm < 9 unless `link-workspace-packages=false`; pnpm ≥ 9 only with
//!   `linkWorkspacePackages: true` (`pnpm-workspace.yaml`) or `link-workspace-packages=true`
//!   (`.npmrc`); berry unless `enableTransparentWorkspaces: false` (`.yarnrc.yml`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::error::{Error, Result};

/// A package manager, as turbo tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagerKind {
    Npm,
    Pnpm,
    /// yarn 1.
    Yarn,
    /// yarn 2 and later.
    Berry,
    Bun,
}

impl ManagerKind {
    /// The executable users type (`yarn` for both yarns).
    pub fn binary(self) -> &'static str {
        match self {
            ManagerKind::Npm => "npm",
            ManagerKind::Pnpm => "pnpm",
            ManagerKind::Yarn | ManagerKind::Berry => "yarn",
            ManagerKind::Bun => "bun",
        }
    }

    /// The lockfile this manager writes at the root.
    pub fn lockfile(self) -> &'static str {
        match self {
            ManagerKind::Npm => "package-lock.json",
            ManagerKind::Pnpm => "pnpm-lock.yaml",
            ManagerKind::Yarn | ManagerKind::Berry => "yarn.lock",
            ManagerKind::Bun => "bun.lock",
        }
    }
}

/// The workspace's package manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manager {
    pub kind: ManagerKind,
    /// From `packageManager`, when given (`9.1.0`).
    pub version: Option<String>,
    /// The lockfile's path relative to the root, when it exists.
    pub lockfile: Option<String>,
}

impl Manager {
    /// Whether `<pm> run <script>` runs `pre<script>` and `post<script>` around it.
    pub fn runs_pre_post(&self) -> bool {
        match self.kind {
            ManagerKind::Npm | ManagerKind::Yarn | ManagerKind::Bun => true,
            ManagerKind::Berry => false,
            // pnpm 7 alone did not run them (`enable-pre-post-scripts` was false by default).
            ManagerKind::Pnpm => self.major() != Some(7),
        }
    }

    fn major(&self) -> Option<u64> {
        self.version.as_deref()?.split('.').next()?.parse().ok()
    }
}

/// One package of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// `name` from its package.json; `//` for the root.
    pub name: String,
    /// Folder relative to the root, `/`-separated; empty for the root.
    pub dir: String,
    pub version: Option<String>,
    pub scripts: BTreeMap<String, String>,
    /// Workspace packages it depends on (by name).
    pub internal: BTreeSet<String>,
    /// Registry (and other non-workspace) dependencies: name -> spec.
    pub external: BTreeMap<String, String>,
}

/// The packages of a workspace and the manager that installs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packages {
    pub manager: Manager,
    /// By name, the root (`//`) included.
    pub by_name: BTreeMap<String, Package>,
    /// Problems that did not stop the read (a package without a name).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The name of the root package.
pub const ROOT_PACKAGE: &str = "//";

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackageJson {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    scripts: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, serde_json::Value>,
    package_manager: Option<String>,
    workspaces: Option<serde_json::Value>,
}

impl PackageJson {
    fn read(path: &Path) -> Result<PackageJson> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{}:{}:{}: invalid package.json: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Every dependency in the order turbo scans them (later fields win for a repeated name).
    fn all_dependencies(&self) -> BTreeMap<String, String> {
        let mut all = BTreeMap::new();
        for map in [
            &self.dev_dependencies,
            &self.optional_dependencies,
            &self.dependencies,
        ] {
            for (name, spec) in map {
                if let Some(spec) = spec.as_str() {
                    all.insert(name.clone(), spec.to_owned());
                }
            }
        }
        all
    }
}

impl Packages {
    /// Reads the workspace rooted at `root` (the folder of the root package.json).
    pub fn read(root: &Path) -> Result<Packages> {
        let root_json = PackageJson::read(&root.join("package.json"))?;
        let manager = detect_manager(root, &root_json)?;
        let (include, exclude) = workspace_globs(root, &root_json, manager.kind)?;
        let mut warnings = Vec::new();
        let mut found: Vec<(String, PackageJson)> = Vec::new();
        for dir in package_dirs(root, &include, &exclude, manager.kind)? {
            let json = PackageJson::read(&root.join(&dir).join("package.json"))?;
            found.push((dir, json));
        }
        let mut dirs_by_name: BTreeMap<String, String> = BTreeMap::new();
        let mut parsed = Vec::new();
        for (dir, json) in found {
            let Some(name) = json.name.clone().filter(|n| !n.is_empty()) else {
                warnings.push(format!(
                    "{dir}/package.json: package.json must have a name field (skipped)"
                ));
                continue;
            };
            if let Some(other) = dirs_by_name.insert(name.clone(), dir.clone()) {
                return Err(Error::config(format!(
                    "two workspace packages are named {name:?}: {other} and {dir}"
                )));
            }
            parsed.push((name, dir, json));
        }
        parsed.push((ROOT_PACKAGE.to_owned(), String::new(), root_json));
        let link = links_workspace_packages(root, &manager);
        let versions: BTreeMap<&str, Option<&str>> = parsed
            .iter()
            .map(|(name, _, json)| (name.as_str(), json.version.as_deref()))
            .collect();
        let by_dir: BTreeMap<&str, &str> = parsed
            .iter()
            .map(|(name, dir, _)| (dir.as_str(), name.as_str()))
            .collect();
        let mut by_name = BTreeMap::new();
        for (name, dir, json) in &parsed {
            let mut internal = BTreeSet::new();
            let mut external = BTreeMap::new();
            for (dep, spec) in json.all_dependencies() {
                let edge =
                    internal_target(&dep, &spec, dir, manager.kind, link, &versions, &by_dir);
                match edge {
                    Some(target) if target != *name => {
                        internal.insert(target);
                    }
                    Some(_) => {}
                    None => {
                        external.insert(dep, spec);
                    }
                }
            }
            let scripts = json
                .scripts
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            by_name.insert(
                name.clone(),
                Package {
                    name: name.clone(),
                    dir: dir.clone(),
                    version: json.version.clone(),
                    scripts,
                    internal,
                    external,
                },
            );
        }
        Ok(Packages {
            manager,
            by_name,
            warnings,
        })
    }

    /// The package whose folder holds `rel` (relative to the root): the deepest one.
    pub fn containing(&self, rel: &str) -> Option<&Package> {
        self.by_name
            .values()
            .filter(|p| {
                p.dir.is_empty()
                    || rel == p.dir
                    || rel
                        .strip_prefix(p.dir.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|p| p.dir.len())
    }

    /// Packages that depend directly on `name`.
    pub fn dependents(&self, name: &str) -> impl Iterator<Item = &Package> {
        let name = name.to_owned();
        self.by_name
            .values()
            .filter(move |p| p.internal.contains(&name))
    }
}

/// `packageManager` first, then the lockfile.
fn detect_manager(root: &Path, json: &PackageJson) -> Result<Manager> {
    let lockfiles: Vec<&str> = [
        "package-lock.json",
        "pnpm-lock.yaml",
        "yarn.lock",
        "bun.lock",
        "bun.lockb",
    ]
    .into_iter()
    .filter(|f| root.join(f).is_file())
    .collect();
    let berry_lock = || {
        std::fs::read_to_string(root.join("yarn.lock"))
            .map(|t| t.contains("__metadata:"))
            .unwrap_or(false)
    };
    if let Some(field) = &json.package_manager {
        let (name, version) = field.split_once('@').ok_or_else(|| {
            Error::config(format!(
                "package.json: packageManager {field:?} is not like \"pnpm@9.1.0\""
            ))
        })?;
        let version = version.split('+').next().unwrap_or(version).to_owned();
        let major: Option<u64> = version.split('.').next().and_then(|m| m.parse().ok());
        let kind = match name {
            "npm" => ManagerKind::Npm,
            "pnpm" => ManagerKind::Pnpm,
            "yarn" if major.is_some_and(|m| m >= 2) => ManagerKind::Berry,
            "yarn" => ManagerKind::Yarn,
            "bun" => ManagerKind::Bun,
            other => {
                return Err(Error::config(format!(
                    "package.json: unknown package manager {other:?} in packageManager (known: npm, pnpm, yarn, bun)"
                )))
            }
        };
        let lockfile = root
            .join(kind.lockfile())
            .is_file()
            .then(|| kind.lockfile().to_owned());
        return Ok(Manager {
            kind,
            version: Some(version),
            lockfile,
        });
    }
    let kind = match lockfiles.as_slice() {
        [] => {
            return Err(Error::config(format!(
                "{}: no packageManager field in package.json and no lockfile (package-lock.json, pnpm-lock.yaml, yarn.lock, bun.lock) to tell the package manager",
                root.display()
            )))
        }
        ["bun.lockb"] => {
            return Err(Error::config(
                "only found bun.lockb, please run `bun install --save-text-lockfile`",
            ))
        }
        ["bun.lock"] | ["bun.lock", "bun.lockb"] => ManagerKind::Bun,
        ["package-lock.json"] => ManagerKind::Npm,
        ["pnpm-lock.yaml"] => ManagerKind::Pnpm,
        ["yarn.lock"] if berry_lock() => ManagerKind::Berry,
        ["yarn.lock"] => ManagerKind::Yarn,
        several => {
            return Err(Error::config(format!(
                "multiple package managers in the repository: {} (set packageManager in package.json, or remove the stale lockfiles)",
                several.join(", ")
            )))
        }
    };
    Ok(Manager {
        kind,
        version: None,
        lockfile: Some(kind.lockfile().to_owned()),
    })
}

/// The inclusion and exclusion globs of the workspace, as `<glob>/package.json` patterns.
fn workspace_globs(
    root: &Path,
    json: &PackageJson,
    kind: ManagerKind,
) -> Result<(Vec<String>, Vec<String>)> {
    let globs: Vec<String> = if kind == ManagerKind::Pnpm {
        let file = root.join("pnpm-workspace.yaml");
        let text = std::fs::read_to_string(&file).map_err(|_| {
            Error::config("pnpm-workspace.yaml: no packages found (the file is missing)")
        })?;
        #[derive(serde::Deserialize)]
        struct PnpmWorkspace {
            #[serde(default)]
            packages: Vec<String>,
        }
        let parsed: PnpmWorkspace = if text.trim().is_empty() {
            PnpmWorkspace {
                packages: Vec::new(),
            }
        } else {
            serde_norway::from_str(&text)
                .map_err(|e| Error::config(format!("{}: {e}", file.display())))?
        };
        if parsed.packages.is_empty() {
            return Err(Error::config("pnpm-workspace.yaml: no packages found"));
        }
        parsed.packages
    } else {
        let list = match &json.workspaces {
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(serde_json::Value::Object(obj)) => match obj.get("packages") {
                Some(serde_json::Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let list: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if list.is_empty() {
            return Err(Error::config(
                "package.json: no workspaces found (`workspaces` lists no package folders)",
            ));
        }
        list
    };
    let clean = |g: &str| -> String {
        let g = g.trim();
        let g = g.strip_prefix("./").unwrap_or(g);
        g.trim_end_matches('/').to_owned()
    };
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for glob in &globs {
        match glob.strip_prefix('!') {
            Some(ex) => {
                let ex = clean(ex);
                exclude.push(format!("{ex}/package.json"));
                exclude.push(format!("{ex}/**"));
            }
            None => include.push(format!("{}/package.json", clean(glob))),
        }
    }
    exclude.push("**/node_modules/**".into());
    if kind == ManagerKind::Berry {
        exclude.push("**/.yarn/**".into());
    }
    Ok((include, exclude))
}

fn globset(globs: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::config(format!("workspace glob {glob:?}: {e}")))?;
        builder.add(compiled);
    }
    builder
        .build()
        .map_err(|e| Error::config(format!("workspace globs: {e}")))
}

/// The folders (relative to the root, sorted) whose package.json the globs match.
fn package_dirs(
    root: &Path,
    include: &[String],
    exclude: &[String],
    _kind: ManagerKind,
) -> Result<Vec<String>> {
    let include_set = globset(include)?;
    let exclude_set = globset(exclude)?;
    // Walk only below the literal start of each glob (`packages/*` walks `packages`), and no
    // deeper than the glob reaches unless it has a `**`.
    let mut starts: BTreeMap<PathBuf, Option<usize>> = BTreeMap::new();
    for glob in include {
        let parts: Vec<&str> = glob.split('/').collect();
        let literal = parts
            .iter()
            .take_while(|part| !part.contains(['*', '?', '[', '{']))
            .count()
            .min(parts.len() - 1);
        let depth = (!glob.contains("**")).then_some(parts.len() - literal);
        let start = root.join(parts[..literal].join("/"));
        let entry = starts.entry(start).or_insert(depth);
        *entry = match (*entry, depth) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    let mut dirs = BTreeSet::new();
    let check = |path: &Path, dirs: &mut BTreeSet<String>| {
        let Ok(rel) = path.strip_prefix(root) else {
            return;
        };
        let rel_text = rel.to_string_lossy().replace('\\', "/");
        if rel_text != "package.json"
            && include_set.is_match(&rel_text)
            && !exclude_set.is_match(&rel_text)
        {
            dirs.insert(rel_text.trim_end_matches("/package.json").to_owned());
        }
    };
    for (start, depth) in starts {
        if !start.is_dir() {
            continue;
        }
        if let Some(depth) = depth {
            // No `**`: list folder by folder to the glob's depth, and at the last level look
            // for package.json alone (a package's own files are never listed).
            let mut level = vec![start.clone()];
            for _ in 1..depth {
                let mut next = Vec::new();
                for dir in &level {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let is_dir = entry
                            .file_type()
                            .is_ok_and(|t| t.is_dir() || (t.is_symlink() && entry.path().is_dir()));
                        if is_dir && !super::skipped_name(&entry.file_name()) {
                            next.push(entry.path());
                        }
                    }
                }
                level = next;
            }
            for dir in level {
                let file = dir.join("package.json");
                if file.is_file() {
                    check(&file, &mut dirs);
                }
            }
            continue;
        }
        let walker = ignore::WalkBuilder::new(&start)
            .standard_filters(false)
            .hidden(false)
            .follow_links(true)
            .filter_entry(|e| {
                !(e.depth() > 0
                    && e.file_type().is_some_and(|t| t.is_dir())
                    && super::skipped_name(e.file_name()))
            })
            .build();
        for entry in walker.flatten() {
            if entry.file_name() == "package.json" && entry.file_type().is_some_and(|t| t.is_file())
            {
                check(entry.path(), &mut dirs);
            }
        }
    }
    Ok(dirs.into_iter().collect())
}

/// Whether plain version ranges may name workspace packages (`link-workspace-packages`).
fn links_workspace_packages(root: &Path, manager: &Manager) -> bool {
    let npmrc = || -> Option<bool> {
        let text = std::fs::read_to_string(root.join(".npmrc")).ok()?;
        text.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == "link-workspace-packages").then(|| v.trim() != "false")
        })
    };
    match manager.kind {
        ManagerKind::Npm | ManagerKind::Yarn | ManagerKind::Bun => true,
        ManagerKind::Berry => {
            let text = std::fs::read_to_string(root.join(".yarnrc.yml")).unwrap_or_default();
            !text.lines().any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.trim() == "enableTransparentWorkspaces" && v.trim() == "false"
                })
            })
        }
        ManagerKind::Pnpm => {
            let yaml = std::fs::read_to_string(root.join("pnpm-workspace.yaml"))
                .ok()
                .and_then(|t| serde_norway::from_str::<serde_norway::Value>(&t).ok())
                .and_then(|v| v.get("linkWorkspacePackages").and_then(|b| b.as_bool()));
            if let Some(set) = yaml.or_else(npmrc) {
                return set;
            }
            let pnpm9 = match manager.major() {
                Some(major) => major >= 9,
                None => std::fs::read_to_string(root.join("pnpm-lock.yaml"))
                    .map(|t| t.contains("lockfileVersion: '9"))
                    .unwrap_or(false),
            };
            !pnpm9
        }
    }
}

/// The workspace package a dependency resolves to, or `None` for an external one.
fn internal_target(
    name: &str,
    spec: &str,
    from_dir: &str,
    kind: ManagerKind,
    link: bool,
    versions: &BTreeMap<&str, Option<&str>>,
    by_dir: &BTreeMap<&str, &str>,
) -> Option<String> {
    let by_path = |path: &str, base: &str| -> Option<String> {
        let joined = normalize(&format!("{base}/{path}"))?;
        by_dir.get(joined.as_str()).map(|n| n.to_string())
    };
    if let Some(rest) = spec.strip_prefix("workspace:") {
        if rest.contains('/') && !rest.starts_with('@') {
            let base = if kind == ManagerKind::Berry {
                ""
            } else {
                from_dir
            };
            return by_path(rest, base);
        }
        // `workspace:alias@*` names another package.
        if let Some((alias, _range)) = rest.rsplit_once('@').filter(|(a, _)| !a.is_empty()) {
            return versions.contains_key(alias).then(|| alias.to_owned());
        }
        return versions.contains_key(name).then(|| name.to_owned());
    }
    if let Some(path) = spec
        .strip_prefix("file:")
        .or_else(|| spec.strip_prefix("link:"))
    {
        return by_path(path, from_dir);
    }
    let version = versions.get(name)?;
    if name == ROOT_PACKAGE || !link {
        return None;
    }
    let range = spec.strip_prefix("npm:").unwrap_or(spec).trim();
    if range.contains(':') || range.contains('/') && !range.starts_with('@') {
        return None; // github:, catalog:, git+https:, user/repo ...
    }
    if range == "*" || range.is_empty() {
        return Some(name.to_owned());
    }
    let (Ok(range), Some(Ok(version))) = (
        nodejs_semver::Range::parse(range),
        version.map(nodejs_semver::Version::parse),
    ) else {
        // Either side unparseable: internal, as turbo does for compatibility.
        return Some(name.to_owned());
    };
    range.satisfies(&version).then(|| name.to_owned())
}

/// `a/./b/../c` → `a/c`; `None` when it leaves the root.
pub(super) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn pkg(name: &str, version: &str, deps: &str) -> String {
        format!(
            r#"{{"name": "{name}", "version": "{version}", "scripts": {{"build": "echo {name}"}}, {deps}}}"#
        )
    }

    #[test]
    fn npm_workspace_edges_by_range_exclusions_and_no_peer_edges() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "package.json",
            r#"{"name": "r", "packageManager": "npm@11.0.0", "workspaces": ["./packages/*", "apps/*", "!apps/ignored"]}"#,
        );
        write(
            root,
            "packages/a/package.json",
            &pkg("a", "1.2.0", r#""dependencies": {"left-pad": "^1.0.0"}"#),
        );
        write(
            root,
            "packages/b/package.json",
            &pkg(
                "b",
                "2.0.0",
                r#""dependencies": {"a": "^1.0.0"}, "peerDependencies": {"c": "*"}"#,
            ),
        );
        write(
            root,
            "packages/c/package.json",
            &pkg(
                "c",
                "1.0.0",
                r#""devDependencies": {"a": "^2.0.0"}, "optionalDependencies": {"b": "*"}"#,
            ),
        );
        write(
            root,
            "apps/web/package.json",
            &pkg(
                "web",
                "0.0.1",
                r#""dependencies": {"b": "file:../../packages/b", "c": "github:x/c"}"#,
            ),
        );
        write(
            root,
            "apps/ignored/package.json",
            &pkg("ignored", "1.0.0", r#""x": 1"#),
        );
        write(
            root,
            "packages/a/node_modules/z/package.json",
            &pkg("z", "1.0.0", r#""x": 1"#),
        );
        let p = Packages::read(root).unwrap();
        assert_eq!(p.manager.kind, ManagerKind::Npm);
        let names: Vec<&str> = p.by_name.keys().map(String::as_str).collect();
        assert_eq!(names, ["//", "a", "b", "c", "web"]);
        assert_eq!(p.by_name["a"].dir, "packages/a");
        assert!(p.by_name["a"].internal.is_empty());
        assert_eq!(
            p.by_name["a"].external.keys().collect::<Vec<_>>(),
            ["left-pad"]
        );
        // A range a's version satisfies is an edge; peerDependencies never are.
        assert_eq!(p.by_name["b"].internal, BTreeSet::from(["a".to_string()]));
        // ^2.0.0 is not satisfied by a@1.2.0: external; `*` is internal.
        assert_eq!(p.by_name["c"].internal, BTreeSet::from(["b".to_string()]));
        assert!(p.by_name["c"].external.contains_key("a"));
        // file: inside the repo is an edge; github: is not.
        assert_eq!(p.by_name["web"].internal, BTreeSet::from(["b".to_string()]));
        assert_eq!(p.containing("packages/a/src/x.ts").unwrap().name, "a");
        assert_eq!(p.containing("README.md").unwrap().name, "//");
        assert_eq!(
            p.dependents("a")
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn pnpm9_links_only_workspace_specs_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "package.json",
            r#"{"name": "r", "packageManager": "pnpm@9.15.0"}"#,
        );
        write(
            root,
            "pnpm-workspace.yaml",
            "packages:\n  - 'packages/*'\n  - '!packages/skip'\n",
        );
        write(
            root,
            "packages/a/package.json",
            &pkg("a", "1.0.0", r#""x": 1"#),
        );
        write(
            root,
            "packages/b/package.json",
            &pkg("b", "1.0.0", r#""dependencies": {"a": "1.0.0"}"#),
        );
        write(
            root,
            "packages/c/package.json",
            &pkg("c", "1.0.0", r#""dependencies": {"a": "workspace:^"}"#),
        );
        write(
            root,
            "packages/skip/package.json",
            &pkg("skip", "1.0.0", r#""x": 1"#),
        );
        let p = Packages::read(root).unwrap();
        assert!(!p.by_name.contains_key("skip"));
        assert!(
            p.by_name["b"].internal.is_empty(),
            "pnpm 9: a range is not a link"
        );
        assert_eq!(p.by_name["c"].internal, BTreeSet::from(["a".to_string()]));
        write(root, ".npmrc", "link-workspace-packages=true\n");
        let p = Packages::read(root).unwrap();
        assert_eq!(p.by_name["b"].internal, BTreeSet::from(["a".to_string()]));
        assert!(
            p.manager.runs_pre_post(),
            "pnpm 9 runs pre and post scripts"
        );
    }

    #[test]
    fn manager_from_lockfiles_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "package.json",
            r#"{"name": "r", "workspaces": {"packages": ["p/*"]}}"#,
        );
        write(root, "p/a/package.json", &pkg("a", "1.0.0", r#""x": 1"#));
        let err = Packages::read(root).unwrap_err();
        assert!(err.message().contains("no lockfile"), "{}", err.message());
        write(root, "yarn.lock", "__metadata:\n  version: 8\n");
        assert_eq!(
            Packages::read(root).unwrap().manager.kind,
            ManagerKind::Berry
        );
        write(root, "yarn.lock", "# yarn lockfile v1\n");
        assert_eq!(
            Packages::read(root).unwrap().manager.kind,
            ManagerKind::Yarn
        );
        write(root, "package-lock.json", "{}");
        let err = Packages::read(root).unwrap_err();
        assert!(
            err.message().contains("multiple package managers"),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("package-lock.json, yarn.lock"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn duplicate_names_name_both_folders_and_nameless_packages_warn() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "package.json",
            r#"{"name": "r", "packageManager": "bun@1.2.0", "workspaces": ["p/*"]}"#,
        );
        write(root, "p/a/package.json", &pkg("same", "1.0.0", r#""x": 1"#));
        write(root, "p/b/package.json", &pkg("same", "1.0.0", r#""x": 1"#));
        let err = Packages::read(root).unwrap_err();
        assert_eq!(
            err.message(),
            "two workspace packages are named \"same\": p/a and p/b"
        );
        write(root, "p/b/package.json", r#"{"version": "1.0.0"}"#);
        let p = Packages::read(root).unwrap();
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("p/b/package.json"));
        write(root, "p/b/package.json", "{ not json");
        let err = Packages::read(root).unwrap_err();
        assert!(
            err.message().contains("p/b/package.json:1:"),
            "{}",
            err.message()
        );
    }
}
