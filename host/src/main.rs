//! # payops
//!
//! The payops host: loads provider plugins (cdylibs) from its own directory
//! and `plugins.dirs`, reads layered config, and runs payment operations from
//! the command line or as a daemon (`payops serve`, `payops sandbox`). See
//! `docs/operators.md` and `../docs/contract.md` of the design.

use payops_host::{config, plugins, reconcile, schemas, server};

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use payops_core::{AccountConfig, ErrorCode, OperationKind, Provider};
use serde_json::{Value, json};

use payops_host::config::{Account, Config, OnPluginError, TokenConfig};
use payops_host::engine::Engine;
use payops_host::plugins::Registry;
use payops_host::server::AppState;

/// Exit code for invalid usage or request documents (nothing sent).
const EXIT_USAGE: u8 = 2;
/// Exit code for config or plugin errors (nothing sent).
const EXIT_CONFIG: u8 = 3;

#[derive(Parser)]
#[command(
    name = "payops",
    version,
    about = "Payment operations across providers: refund, cancel, query, sub-merchant adjustment"
)]
struct Cli {
    /// Config file (TOML); repeatable, later files win. `payops.toml` in the working directory is read first if present.
    #[arg(long = "config", global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// More logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon plus every provider's simulator on loopback and demo accounts (no credentials needed).
    Sandbox {
        /// Address to listen on.
        #[arg(long)]
        listen: Option<String>,
    },
    /// The daemon.
    Serve {
        /// Address to listen on (overrides `server.listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Loaded plugins: id, version, file, capabilities.
    Providers {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Export the JSON Schemas, or check an exported tree.
    Schemas {
        /// Write the schema tree into DIR.
        #[arg(
            long,
            value_name = "DIR",
            conflicts_with = "check",
            required_unless_present = "check"
        )]
        out: Option<PathBuf>,
        /// Compare DIR with what would be exported; exit 1 when stale.
        #[arg(long, value_name = "DIR")]
        check: Option<PathBuf>,
    },
    /// Show or check the effective config.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Refund a payment.
    Refund(OpArgs),
    /// Cancel a payment.
    Cancel(OpArgs),
    /// Query a payment.
    Query(OpArgs),
    /// Adjust a marketplace sub-merchant's balance.
    #[command(name = "sub-merchant-adjust")]
    SubMerchantAdjust(OpArgs),
    /// The audit record of operations.
    Operations {
        #[command(subcommand)]
        action: OperationsAction,
    },
    /// Resolve `unknown` and `pending` operations with the provider's query (never re-sends).
    Reconcile {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only operations at least this old (seconds).
        #[arg(long, default_value_t = 0)]
        min_age_secs: u64,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

#[derive(Subcommand)]
enum OperationsAction {
    /// List operations, newest first.
    List {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only these states (repeatable): in_flight, succeeded, pending, failed, unknown.
        #[arg(long = "status")]
        status: Vec<String>,
        /// Created at or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Created before (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// One operation with its envelope and audit trail (JSON).
    Show {
        /// The operation id.
        id: String,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective config, credentials redacted.
    Show,
    /// Validate the config; exit 0 or 3.
    Check,
}

#[derive(Args)]
struct OpArgs {
    /// The account to use.
    #[arg(long)]
    account: String,
    /// The request document as JSON.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    json: Option<String>,
    /// Read the request document from FILE (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    input: Option<String>,
    /// Idempotency key recorded in the envelope.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

fn init_logging(cfg: &Config, cli: &Cli, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let level = if cli.quiet {
        "warn".to_owned()
    } else {
        match cli.verbose {
            0 if cfg.log.level != "info" => cfg.log.level.clone(),
            0 => default_level.to_owned(),
            1 => "debug".to_owned(),
            _ => "trace".to_owned(),
        }
    };
    let filter = EnvFilter::try_from_env("PAYOPS_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let json = match cli.log_format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => cfg.log.format == "json",
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("payops: {message}");
    ExitCode::from(code)
}

struct Setup {
    figment: figment::Figment,
    cfg: Config,
    registry: Registry,
}

fn setup(cli: &Cli, listen: Option<&String>, default_level: &str) -> Result<Setup, ExitCode> {
    let mut overrides = Vec::new();
    if let Some(l) = listen {
        overrides.push(("server.listen", json!(l)));
    }
    let figment = config::figment(&cli.config, &overrides).map_err(|e| fail(EXIT_CONFIG, e))?;
    let cfg = config::extract(&figment).map_err(|e| fail(EXIT_CONFIG, e))?;
    init_logging(&cfg, cli, default_level);
    let registry = plugins::load_all(&cfg.plugins.dirs);
    if cfg.plugins.on_error == OnPluginError::Fail && !registry.skipped.is_empty() {
        for s in &registry.skipped {
            eprintln!("payops: plugin {}: {}", s.file.display(), s.reason);
        }
        return Err(fail(
            EXIT_CONFIG,
            "plugins failed to load and plugins.on_error = \"fail\"",
        ));
    }
    Ok(Setup {
        figment,
        cfg,
        registry,
    })
}

fn accounts(s: &Setup) -> Result<BTreeMap<String, Account>, ExitCode> {
    config::resolve(&s.figment, &s.cfg, &s.registry).map_err(|errors| {
        for e in &errors {
            eprintln!("payops: config: {e}");
        }
        fail(EXIT_CONFIG, format!("{} config error(s)", errors.len()))
    })
}

fn transport() -> Result<Arc<dyn payops_core::HttpTransport>, ExitCode> {
    // Retries only connection failures (nothing was sent); never anything else.
    payops_transport::ReqwestTransport::new()
        .map(|t| {
            Arc::new(payops_transport::RetryConnect::new(
                t,
                3,
                Duration::from_millis(200),
            )) as Arc<dyn payops_core::HttpTransport>
        })
        .map_err(|e| fail(EXIT_CONFIG, e))
}

/// Opens the store, builds the engine and starts its heartbeat.
async fn build_engine(
    s: &Setup,
    accts: BTreeMap<String, Account>,
    store_url: &str,
) -> Result<Engine, ExitCode> {
    let store = payops_store::Store::open(store_url).await.map_err(|e| {
        fail(
            EXIT_CONFIG,
            format!("{} ({})", e, config::redact_url(store_url)),
        )
    })?;
    let mut engine = Engine::new(s.registry.providers.clone(), accts, transport()?, store)
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    engine.wait = Duration::from_secs(s.cfg.store.wait_secs);
    engine
        .store
        .heartbeat(&engine.instance)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    let (store, instance) = (engine.store.clone(), engine.instance.clone());
    let every = Duration::from_secs(s.cfg.store.instance_timeout_secs.max(1)) / 3;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = store.heartbeat(&instance).await {
                tracing::warn!(error = %e, "store heartbeat failed");
            }
        }
    });
    Ok(engine)
}

/// Recovery at daemon start and the periodic reconciliation task.
async fn start_background(s: &Setup, engine: &Arc<Engine>) -> Result<(), ExitCode> {
    let timeout = Duration::from_secs(s.cfg.store.instance_timeout_secs.max(1));
    engine
        .recover(timeout)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    let every = s.cfg.store.reconcile_interval_secs;
    let min_age = Duration::from_secs(s.cfg.store.reconcile_min_age_secs);
    if every > 0 {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(every)).await;
                if let Err(e) = engine.recover(timeout).await {
                    tracing::warn!(error = %e, "recovery failed");
                }
                match reconcile::run(&engine, None, min_age).await {
                    Ok(list) => {
                        let changed = list.iter().filter(|r| r.to.is_some()).count();
                        if !list.is_empty() {
                            tracing::info!(examined = list.len(), changed, "reconciliation pass");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reconciliation failed"),
                }
            }
        });
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(code) | Err(code) => code,
    }
}

async fn run(cli: &Cli) -> Result<ExitCode, ExitCode> {
    match &cli.command {
        Command::Providers { output } => {
            let s = setup(cli, None, "warn")?;
            providers(&s.registry, *output);
            Ok(ExitCode::SUCCESS)
        }
        Command::Schemas { out, check } => {
            let s = setup(cli, None, "warn")?;
            let tree = schemas::tree(s.registry.providers.values().map(|p| p.as_ref()));
            if let Some(dir) = out {
                schemas::write(dir, &tree)
                    .map_err(|e| fail(1, format!("{}: {e}", dir.display())))?;
                println!("wrote {} schema files to {}", tree.len(), dir.display());
            } else if let Some(dir) = check {
                let diffs = schemas::check(dir, &tree)
                    .map_err(|e| fail(1, format!("{}: {e}", dir.display())))?;
                if !diffs.is_empty() {
                    for (path, what) in &diffs {
                        eprintln!("  {path}: {what}");
                    }
                    return Err(fail(
                        1,
                        format!(
                            "{} is stale: {} file(s) differ; run `payops schemas --out {}`",
                            dir.display(),
                            diffs.len(),
                            dir.display()
                        ),
                    ));
                }
                println!("{} is up to date ({} files)", dir.display(), tree.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action } => {
            let s = setup(cli, None, "warn")?;
            match action {
                ConfigAction::Show => {
                    let v = config::redacted(&s.cfg, &s.registry);
                    let text = toml::to_string_pretty(&v).map_err(|e| fail(EXIT_CONFIG, e))?;
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                ConfigAction::Check => {
                    for sk in &s.registry.skipped {
                        eprintln!(
                            "payops: warning: plugin {} skipped: {}",
                            sk.file.display(),
                            sk.reason
                        );
                    }
                    let a = accounts(&s)?;
                    println!(
                        "config OK: {} account(s), {} token(s), {} provider(s)",
                        a.len(),
                        s.cfg.tokens.len(),
                        s.registry.providers.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Refund(a) => one_shot(cli, OperationKind::Refund, a).await,
        Command::Cancel(a) => one_shot(cli, OperationKind::Cancel, a).await,
        Command::Query(a) => one_shot(cli, OperationKind::Query, a).await,
        Command::SubMerchantAdjust(a) => one_shot(cli, OperationKind::SubMerchantAdjust, a).await,
        Command::Serve { listen } => {
            let s = setup(cli, listen.as_ref(), "info")?;
            let accts = accounts(&s)?;
            if s.cfg.tokens.is_empty() {
                tracing::warn!("no [[tokens]] configured: every API call will be refused with 401");
            }
            let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
            daemon(&s, engine, s.cfg.tokens.clone(), None).await
        }
        Command::Sandbox { listen } => sandbox(cli, listen.as_ref()).await,
        Command::Operations { action } => operations(cli, action).await,
        Command::Reconcile {
            account,
            min_age_secs,
            output,
        } => {
            let s = setup(cli, None, "warn")?;
            let accts = accounts(&s)?;
            let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
            engine
                .recover(Duration::from_secs(
                    s.cfg.store.instance_timeout_secs.max(1),
                ))
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            let list = reconcile::run(
                &engine,
                account.as_deref(),
                Duration::from_secs(*min_age_secs),
            )
            .await
            .map_err(|e| fail(EXIT_CONFIG, e))?;
            if *output == Output::Json {
                let v: Vec<Value> = list
                    .iter()
                    .map(
                        |r| json!({"operation_id": r.id, "from": r.from, "to": r.to, "how": r.how}),
                    )
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                if list.is_empty() {
                    println!("nothing to reconcile");
                }
                for r in &list {
                    let to =
                        r.to.map(|t| t.to_string())
                            .unwrap_or_else(|| "unchanged".into());
                    println!("{}  {} -> {}  {}", r.id, r.from, to, r.how);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_time(
    flag: &str,
    v: &Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ExitCode> {
    v.as_ref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| fail(EXIT_USAGE, format!("{flag} {t:?}: not RFC 3339 ({e})")))
        })
        .transpose()
}

async fn operations(cli: &Cli, action: &OperationsAction) -> Result<ExitCode, ExitCode> {
    let s = setup(cli, None, "warn")?;
    let store = payops_store::Store::open(&s.cfg.store.url)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    match action {
        OperationsAction::List {
            account,
            status,
            since,
            until,
            limit,
            output,
        } => {
            let mut states = Vec::new();
            for st in status {
                let v: payops_store::State = serde_json::from_value(json!(st)).map_err(|_| {
                    fail(
                        EXIT_USAGE,
                        format!(
                            "--status {st:?}: one of in_flight, succeeded, pending, failed, unknown"
                        ),
                    )
                })?;
                states.push(v);
            }
            let filter = payops_store::ListFilter {
                account: account.clone(),
                states,
                since: parse_time("--since", since)?,
                until: parse_time("--until", until)?,
                limit: Some(*limit),
            };
            let list = store
                .list(&filter)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            if *output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                for o in &list {
                    println!(
                        "{}  {}  {:<10} {:<20} {:<10} {}{}",
                        o.id,
                        o.created_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        o.account,
                        o.operation,
                        o.state.as_str(),
                        o.request
                            .get("order_ref")
                            .and_then(Value::as_str)
                            .unwrap_or(""),
                        o.resolution
                            .as_ref()
                            .map(|r| format!("  ({r})"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OperationsAction::Show { id } => {
            let op = store
                .get(id)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?
                .ok_or_else(|| fail(EXIT_USAGE, format!("no operation {id}")))?;
            let events = store.events(id).await.map_err(|e| fail(EXIT_CONFIG, e))?;
            let events: Vec<Value> = events
                .into_iter()
                .map(|(at, kind, detail)| json!({"at": at, "kind": kind, "detail": detail}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"operation": op, "events": events}))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn providers(reg: &Registry, output: Output) {
    let list: Vec<Value> = reg
        .providers
        .values()
        .map(|p| {
            let i = p.info();
            json!({"id": i.id, "name": i.name, "version": i.version,
                   "file": p.file().map(|f| f.display().to_string()),
                   "capabilities": i.capabilities})
        })
        .collect();
    if output == Output::Json {
        let skipped: Vec<Value> = reg
            .skipped
            .iter()
            .map(|s| json!({"file": s.file.display().to_string(), "reason": s.reason}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"providers": list, "skipped": skipped}))
                .unwrap_or_default()
        );
        return;
    }
    if list.is_empty() {
        println!(
            "no providers loaded (build them with `cargo build --workspace`, or set plugins.dirs)"
        );
    }
    for p in &list {
        let caps: Vec<&str> = p["capabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:<10} {:<8} {:<40} {}",
            p["id"].as_str().unwrap_or(""),
            p["version"].as_str().unwrap_or(""),
            caps.join(","),
            p["file"].as_str().unwrap_or("")
        );
    }
    for s in &reg.skipped {
        println!("skipped    {}: {}", s.file.display(), s.reason);
    }
}

fn read_document(a: &OpArgs) -> Result<Value, String> {
    let text = match (&a.json, a.input.as_deref()) {
        (Some(j), _) => j.clone(),
        (None, Some("-")) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("reading stdin: {e}"))?;
            s
        }
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        (None, None) => return Err("give --json or --input".into()),
    };
    serde_json::from_str(&text).map_err(|e| format!("the request document is not JSON: {e}"))
}

async fn one_shot(cli: &Cli, op: OperationKind, a: &OpArgs) -> Result<ExitCode, ExitCode> {
    let document = read_document(a).map_err(|e| fail(EXIT_USAGE, e))?;
    let s = setup(cli, None, "warn")?;
    let accts = accounts(&s)?;
    let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
    match engine
        .execute(&a.account, op, document, a.idempotency_key.clone())
        .await
    {
        Ok(env) => {
            if a.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&env).unwrap_or_default());
            } else {
                println!("operation_id:       {}", env.operation_id);
                println!("status:             {}", env.status);
                println!(
                    "provider_code:      {}",
                    env.provider_code.as_deref().unwrap_or("-")
                );
                println!(
                    "provider_message:   {}",
                    env.provider_message.as_deref().unwrap_or("-")
                );
                println!(
                    "provider_reference: {}",
                    env.provider_reference.as_deref().unwrap_or("-")
                );
                if op == OperationKind::Query && !env.details.is_null() {
                    println!("details:            {}", env.details);
                }
            }
            Ok(ExitCode::from(env.status.exit_code() as u8))
        }
        Err(e) => {
            let code = match e.code() {
                ErrorCode::InvalidRequest
                | ErrorCode::UnsupportedOperation
                | ErrorCode::NotFound => EXIT_USAGE,
                _ => EXIT_CONFIG,
            };
            if a.output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&e.to_body()).unwrap_or_default()
                );
            }
            for d in e.details() {
                eprintln!("payops: {}: {}", d.path, d.message);
            }
            Err(fail(code, e))
        }
    }
}

async fn daemon(
    s: &Setup,
    engine: Engine,
    tokens: Vec<TokenConfig>,
    banner: Option<String>,
) -> Result<ExitCode, ExitCode> {
    let listener = tokio::net::TcpListener::bind(&s.cfg.server.listen)
        .await
        .map_err(|e| {
            fail(
                EXIT_CONFIG,
                format!("cannot listen on {}: {e}", s.cfg.server.listen),
            )
        })?;
    let addr = listener.local_addr().map_err(|e| fail(EXIT_CONFIG, e))?;
    let tree = schemas::tree(engine.providers.values().map(|p| p.as_ref()));
    let engine = Arc::new(engine);
    start_background(s, &engine).await?;
    let state = AppState {
        engine,
        tokens: Arc::new(tokens),
        draining: Arc::new(AtomicBool::new(false)),
        schemas: Arc::new(tree),
    };
    tracing::info!(%addr, accounts = state.engine.accounts.len(), providers = state.engine.providers.len(), "listening");
    println!("payops listening on http://{addr}");
    if let Some(b) = banner {
        println!("{}", b.replace("{addr}", &addr.to_string()));
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    server::serve(
        listener,
        state,
        s.cfg.server.body_limit_bytes,
        Duration::from_secs(s.cfg.server.shutdown_timeout_secs),
    )
    .await
    .map_err(|e| fail(1, e))?;
    Ok(ExitCode::SUCCESS)
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i ^ chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64);
            format!("{:016x}", h.finish())
        })
        .collect()
}

async fn sandbox(cli: &Cli, listen: Option<&String>) -> Result<ExitCode, ExitCode> {
    let s = setup(cli, listen, "info")?;
    if s.registry.providers.is_empty() {
        return Err(fail(
            EXIT_CONFIG,
            "no providers loaded: run `cargo build --workspace` first (the providers are cdylibs next to the payops binary)",
        ));
    }
    let mut accts = accounts(&s)?;
    let mut servers = Vec::new();
    let mut examples = Vec::new();
    for (id, p) in &s.registry.providers {
        let sim = p
            .simulator()
            .map_err(|e| fail(EXIT_CONFIG, format!("{id} simulator: {e}")))?;
        let demo = sim.demo_accounts();
        let server =
            payops_transport::SimServer::start(sim, "127.0.0.1:0".parse().expect("loopback"))
                .await
                .map_err(|e| fail(EXIT_CONFIG, format!("{id} simulator: {e}")))?;
        tracing::info!(provider = %id, url = %server.url(), "simulator serving");
        for (name, values) in demo.as_object().into_iter().flatten() {
            let mut map = values.as_object().cloned().unwrap_or_default();
            map.insert("base_url".into(), json!(server.url()));
            let schema = &p.info().account_schema;
            let secrets = p.info().secret_keys();
            let errs = config::schema_errors(schema, &Value::Object(map.clone()));
            if !errs.is_empty() {
                return Err(fail(
                    EXIT_CONFIG,
                    format!("{id} demo account {name} does not match its schema: {errs:?}"),
                ));
            }
            accts.insert(
                name.clone(),
                Account {
                    name: name.clone(),
                    provider: id.clone(),
                    config: AccountConfig::new(map, secrets),
                },
            );
            examples.push((name.clone(), id.clone()));
        }
        servers.push(server);
    }
    let token = format!("sandbox-{}", random_hex());
    let mut tokens = s.cfg.tokens.clone();
    tokens.push(TokenConfig {
        name: "sandbox".into(),
        token_sha256: server::sha256_hex(&token),
        accounts: vec!["*".into()],
        operations: vec!["*".into()],
    });
    let store_url = if s.cfg.store.url == config::DEFAULT_STORE_URL {
        // The sandbox keeps its operations apart from a real payops.db.
        format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("payops-sandbox-{}.db", std::process::id()))
                .display()
        )
    } else {
        s.cfg.store.url.clone()
    };
    let engine = build_engine(&s, accts, &store_url).await?;
    let mut banner = format!(
        "sandbox token: {token}\ndemo accounts: {}\n",
        examples
            .iter()
            .map(|(n, p)| format!("{n} ({p})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if examples.iter().any(|(n, _)| n == "esnek-demo") {
        banner.push_str(&format!(
            "try:\n  curl -s -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n    -d '{{\"order_ref\": \"DEMO-1001\", \"amount\": 500}}' \\\n    http://{{addr}}/v1/accounts/esnek-demo/operations/refund\n"
        ));
    }
    let r = daemon(&s, engine, tokens, Some(banner)).await;
    drop(servers);
    r
}
