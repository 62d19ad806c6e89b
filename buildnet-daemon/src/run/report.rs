//! `--graph`, `--dry` and `--summarize`: the task graph and turbo's dry-run document.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;

use buildnet_core::{BuildOptions, BuildRecord, Daemon, Error, Result, TargetGraph};

use super::{short, shown};

pub(super) fn write_graph(graph: &TargetGraph, to: &str) -> Result<ExitCode> {
    let text = if to.ends_with(".json") {
        serde_json::to_string_pretty(graph).map_err(|e| Error::internal(e.to_string()))?
    } else if to.ends_with(".mermaid") || to.ends_with(".mmd") {
        let mut s = String::from("graph TD\n");
        for (i, t) in graph.order.iter().enumerate() {
            s.push_str(&format!("  T{i}(\"{}\")\n", shown(t)));
        }
        let index: BTreeMap<&str, usize> = graph
            .order
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        for t in &graph.order {
            for d in &graph.deps[t] {
                s.push_str(&format!(
                    "  T{} --> T{}\n",
                    index[t.as_str()],
                    index[d.as_str()]
                ));
            }
        }
        s
    } else if to.is_empty() || to.ends_with(".dot") || to.ends_with(".gv") {
        graph.to_dot()
    } else {
        return Err(Error::invalid_argument(format!(
            "--graph={to}: write .dot, .json or .mermaid (images need Graphviz: `dot -Tsvg`)"
        )));
    };
    if to.is_empty() {
        print!("{text}");
    } else {
        std::fs::write(to, text).map_err(|e| Error::io(to, e))?;
        println!("✔ Generated task graph in {to}");
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn dry_run(
    daemon: &Daemon,
    ids: &[String],
    options: &BuildOptions,
    mode: &str,
) -> Result<ExitCode> {
    // No task selected: nothing to look at (an empty list would mean every target).
    let (entries, graph) = if ids.is_empty() {
        let empty = TargetGraph {
            order: Vec::new(),
            deps: Default::default(),
        };
        (Vec::new(), empty)
    } else {
        (
            daemon.dry_run(ids, options)?,
            daemon.graph_for(ids, options)?,
        )
    };
    match mode {
        "json" => {
            let doc = dry_json(daemon, &graph, &entries, None, &options.args);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).map_err(|e| Error::internal(e.to_string()))?
            );
        }
        "text" | "true" => {
            let config = daemon.config();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "Tasks to Run");
            for entry in &entries {
                let spec = config.targets[&entry.target].task.clone();
                let command = spec
                    .as_ref()
                    .and_then(|s| s.script.clone())
                    .unwrap_or_else(|| "<NONEXISTENT>".into());
                let status = match (entry.hit, entry.remote, entry.action_cache) {
                    (true, _, true) => "HIT (action cache)",
                    (true, true, _) => "HIT (remote)",
                    (true, false, _) => "HIT",
                    _ => "MISS",
                };
                let _ = writeln!(out, "{}", shown(&entry.target));
                let _ = writeln!(out, "  Hash         = {}", short(&entry.cache_key));
                let _ = writeln!(out, "  Cached       = {status}");
                let _ = writeln!(out, "  Command      = {command}");
                if !entry.hit && !entry.reasons.is_empty() {
                    let _ = writeln!(out, "  Why          = {}", entry.reasons.join("; "));
                }
                for warning in &entry.warnings {
                    let _ = writeln!(out, "  Warning      = {warning}");
                }
            }
        }
        other => {
            return Err(Error::invalid_argument(format!(
                "--dry={other}: use --dry or --dry=json"
            )))
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// turbo's dry-run (and `--summarize`) document, with BuildNet's miss reasons added.
pub(super) fn dry_json(
    daemon: &Daemon,
    graph: &TargetGraph,
    entries: &[buildnet_core::DryRunEntry],
    record: Option<&BuildRecord>,
    args: &[String],
) -> serde_json::Value {
    use serde_json::json;
    let config = daemon.config();
    let repo = config.repo.clone();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, deps) in &graph.deps {
        for d in deps {
            dependents.entry(d.as_str()).or_default().push(t.as_str());
        }
    }
    let mut packages = BTreeSet::new();
    let mut tasks = Vec::new();
    for entry in entries {
        let target = &config.targets[&entry.target];
        let spec = target.task.clone();
        let (package, task) = match &spec {
            Some(s) => (s.package.clone(), s.task.clone()),
            None => (String::new(), entry.target.clone()),
        };
        packages.insert(package.clone());
        let dir = spec
            .as_ref()
            .map(|s| s.package_dir.clone())
            .unwrap_or_default();
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let inputs: BTreeMap<String, String> = entry
            .inputs
            .iter()
            .map(|(path, hash)| {
                let rel = match path.strip_prefix(&prefix) {
                    Some(rel) if !prefix.is_empty() => rel.to_owned(),
                    _ if prefix.is_empty() => path.clone(),
                    _ => format!("$TURBO_ROOT$/{path}"),
                };
                (rel, hash.clone())
            })
            .collect();
        let run = record.and_then(|r| r.targets.iter().find(|t| t.target == entry.target));
        let mut item = json!({
            "taskId": entry.target,
            "task": task,
            "package": package,
            "hash": short(&entry.cache_key),
            "cacheKey": entry.cache_key,
            "inputs": inputs,
            "hashOfExternalDependencies": spec.as_ref().map(|s| short(&s.external_deps).to_owned()).unwrap_or_default(),
            "cache": {
                "local": entry.hit && !entry.remote && !entry.action_cache,
                "remote": entry.remote || entry.action_cache,
                "status": if entry.hit { "HIT" } else { "MISS" },
                "source": match (entry.hit, entry.remote || entry.action_cache) {
                    (true, true) => Some("REMOTE"),
                    (true, false) => Some("LOCAL"),
                    _ => None,
                },
            },
            "command": spec.as_ref().and_then(|s| s.script.clone()).unwrap_or_else(|| "<NONEXISTENT>".into()),
            "cliArguments": args,
            // turbo lists the declared globs; the log it caches beside them is `logFile`.
            "outputs": target.outputs.iter().filter(|o| !o.starts_with('!') && spec.as_ref().is_none_or(|s| **o != s.log_file)).collect::<Vec<_>>(),
            "excludedOutputs": target.outputs.iter().filter_map(|o| o.strip_prefix('!')).collect::<Vec<_>>(),
            "logFile": spec.as_ref().map(|s| if dir.is_empty() { s.log_file.clone() } else { format!("{dir}/{}", s.log_file) }),
            "directory": dir,
            "dependencies": graph.deps.get(&entry.target).cloned().unwrap_or_default(),
            "dependents": dependents.get(entry.target.as_str()).cloned().unwrap_or_default(),
            "resolvedTaskDefinition": spec.as_ref().map(|s| serde_json::to_value(&s.definition).unwrap_or_default()),
            "framework": spec.as_ref().and_then(|s| s.framework.clone()).unwrap_or_default(),
            "envMode": if target.env_mode == buildnet_core::EnvMode::Strict { "strict" } else { "loose" },
            "environmentVariables": {
                "specified": { "env": target.env, "passThroughEnv": target.pass_env },
            },
            "missReasons": entry.reasons,
            "warnings": entry.warnings,
        });
        if let Some(run) = run {
            item["execution"] = json!({
                "status": run.status,
                "cached": run.cached,
                "exitCode": run.exit_code,
                "startTime": run.started_at,
                "endTime": run.finished_at,
                "error": run.error,
            });
        }
        tasks.push(item);
    }
    let global = repo.as_ref().map(|r| {
        json!({
            "rootKey": "buildnet",
            "files": r.turbo.global_dependencies,
            "environmentVariables": { "specified": { "env": r.turbo.global_env, "passThroughEnv": r.turbo.global_pass_through_env } },
        })
    });
    let mut doc = json!({
        "id": record.map(|r| r.id.clone()),
        "version": "1",
        "turboVersion": format!("buildnet {}", buildnet_core::VERSION),
        "monorepo": true,
        "globalCacheInputs": global,
        "packages": packages.into_iter().filter(|p| p != "//").collect::<Vec<_>>(),
        "envMode": repo.as_ref().map(|r| format!("{:?}", r.turbo.env_mode).to_lowercase()),
        "frameworkInference": true,
        "tasks": tasks,
    });
    if let Some(r) = record {
        doc["execution"] = json!({
            "status": r.status,
            "startTime": r.started_at,
            "endTime": r.finished_at,
        });
    }
    doc
}
