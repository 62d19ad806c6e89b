//! The `buildnet` executable: the daemon (`serve`) and one-shot commands over the same engine.
//!
//! Exit codes: 0 ok, 1 the operation failed or found nothing, 2 usage or configuration error.

mod build;
mod client;
mod commands;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "buildnet",
    version,
    about = "BuildNet: a build daemon for JS/TS monorepos"
)]
struct Cli {
    /// Path to buildnet.yaml (default: found by walking up from the current directory)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (SIGTERM/SIGINT stop it, SIGHUP reloads the config)
    Serve(ServeArgs),
    /// Read and write the key-value store
    #[command(subcommand)]
    Kv(KvCommand),
    /// Take and release leased locks with fencing numbers
    #[command(subcommand)]
    Lock(LockCommand),
    /// Hash files; output matches b3sum's `HEX  PATH` lines
    Hash(HashArgs),
    /// Show whether a daemon serves this workspace, and its state
    Status(StatusArgs),
    /// Build targets (every target when none is named) and their dependencies
    Build(BuildArgs),
    /// Run Turborepo tasks as `turbo run` does (package-manager workspace + turbo.json)
    Run(Box<run::RunArgs>),
    /// Print the target graph (Graphviz DOT, or JSON)
    Graph(GraphArgs),
    /// List recent builds
    Builds(BuildsArgs),
    /// Execute actions for a Remote Execution API engine (a bot of its Remote Workers API)
    Worker(WorkerArgs),
}

#[derive(Args)]
struct WorkerArgs {
    /// The engine's address, grpc://HOST:PORT
    #[arg(long, value_name = "URL")]
    reapi: String,
    /// The engine's instance name
    #[arg(long, default_value = "")]
    instance: String,
    /// Actions at once (one bot session each)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Where exec roots and the blob cache go (default: a private folder under the temp dir)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The name its sessions are registered under (default: HOST-PID)
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
struct BuildArgs {
    /// Targets to build (default: all)
    targets: Vec<String>,
    /// Run every command, ignoring cache hits
    #[arg(long)]
    force: bool,
    /// Targets at once (default: `concurrency` from the config, else the number of cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Option<u32>,
    /// Stop everything at the first failure
    #[arg(long)]
    fail_fast: bool,
    /// Which caches to read and write, as turbo's `--cache`: `local:rw,remote:rw` (the
    /// default), `local:rw,remote:r`, `remote:r`, ... (a source left out is off)
    #[arg(long, value_name = "local:rw,remote:rw")]
    cache: Option<String>,
    /// Only say which targets are cache hits and, for each miss, what changed
    #[arg(long)]
    dry_run: bool,
    /// Print JSON lines (events, then the build record) instead of text
    #[arg(long)]
    json: bool,
    /// Which targets' output to show: every target's (cache hits replayed), only targets that
    /// ran, only failed ones, or none
    #[arg(long, value_enum, default_value_t = OutputLogs::ErrorsOnly)]
    output_logs: OutputLogs,
    /// Build in this process even when a daemon serves the workspace (by default the build is
    /// handed to it)
    #[arg(long)]
    no_daemon: bool,
    /// Run every command on this machine, even when `remote_execution` is configured
    #[arg(long)]
    local: bool,
}

/// `--output-logs`, with Turborepo's names.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputLogs {
    Full,
    NewOnly,
    ErrorsOnly,
    None,
}

#[derive(Args)]
struct GraphArgs {
    /// Targets whose graph to print (default: all)
    targets: Vec<String>,
    /// Print JSON instead of DOT
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BuildsArgs {
    /// How many builds to list
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON lines
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1; off loopback needs BUILDNET_TOKEN)
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks a free one (default 7890)
    #[arg(long)]
    port: Option<u16>,
    /// Watch the workspace and rebuild what changes affect (also `watch: true` in the config)
    #[arg(long)]
    watch: bool,
}

#[derive(Subcommand)]
enum KvCommand {
    /// Print the value of KEY (exit 1 if absent)
    Get { key: String },
    /// Set KEY to VALUE
    Set {
        key: String,
        value: String,
        /// Expire after this many milliseconds
        #[arg(long, value_name = "MS")]
        ttl: Option<u64>,
    },
    /// Delete KEY (exit 1 if it was absent)
    Del { key: String },
    /// List keys (and values) starting with PREFIX
    List {
        #[arg(default_value = "")]
        prefix: String,
        /// Print at most this many entries
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Print JSON lines with key, value and expiry
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LockCommand {
    /// Take the lock on RESOURCE; prints `TOKEN FENCE` (exit 1 if it is held)
    Acquire {
        resource: String,
        /// Lease length in milliseconds
        #[arg(long, value_name = "MS")]
        ttl: u64,
    },
    /// Release the lock on RESOURCE held with TOKEN (exit 1 if not held with it)
    Release { resource: String, token: String },
}

#[derive(Args)]
struct HashArgs {
    /// Use xxh3-64 instead of blake3
    #[arg(long)]
    xxh3: bool,
    /// Hash the workspace instead: every file the FILES globs select (all when none), honouring
    /// .gitignore, with the persisted stat cache; prints `HEX  N files (M read)`
    #[arg(long, conflicts_with = "xxh3")]
    workspace: bool,
    /// Files to hash (`-` for standard input), or globs with --workspace
    #[arg(required_unless_present = "workspace")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct StatusArgs {
    /// Print the daemon's status as JSON
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    commands::init_logging(
        if matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
            "info"
        } else {
            "warn"
        },
    );
    let result = match cli.command {
        Command::Serve(args) => commands::serve(config, args.host, args.port, args.watch),
        Command::Kv(cmd) => match cmd {
            KvCommand::Get { key } => commands::kv_get(config, &key),
            KvCommand::Set { key, value, ttl } => commands::kv_set(config, &key, &value, ttl),
            KvCommand::Del { key } => commands::kv_del(config, &key),
            KvCommand::List {
                prefix,
                limit,
                json,
            } => commands::kv_list(config, &prefix, limit, json),
        },
        Command::Lock(cmd) => match cmd {
            LockCommand::Acquire { resource, ttl } => {
                commands::lock_acquire(config, &resource, ttl)
            }
            LockCommand::Release { resource, token } => {
                commands::lock_release(config, &resource, &token)
            }
        },
        Command::Hash(args) if args.workspace => commands::hash_workspace(config, &args.files),
        Command::Hash(args) => commands::hash(&args.files, args.xxh3),
        Command::Status(args) => commands::status(config, args.json),
        Command::Build(args) => build::build(
            config,
            &args.targets,
            buildnet_core::BuildOptions {
                force: args.force,
                concurrency: args.concurrency.map(|n| n as usize),
                fail_fast: args.fail_fast,
                // Cached logs are replayed only for those who will show them.
                replay_logs: args.json || args.output_logs == OutputLogs::Full,
                cache: args.cache.clone(),
                local: args.local,
                ..Default::default()
            },
            args.dry_run,
            args.json,
            args.output_logs,
            args.no_daemon,
        ),
        Command::Run(args) => run::main(config, *args),
        Command::Graph(args) => build::graph(config, &args.targets, args.json),
        Command::Builds(args) => build::builds(config, args.limit, args.json),
        Command::Worker(args) => commands::worker(
            args.reapi,
            args.instance,
            args.concurrency as usize,
            args.dir,
            args.name,
        ),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("buildnet: {err}");
            commands::exit_code(&err)
        }
    }
}
