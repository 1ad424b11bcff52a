//! The `payops` command line: one file per command, plus what they share.
//!
//! Command files take the [`Global`] flags (and their own arguments), never
//! the whole parsed command line, so nothing imports back from `main.rs`.

pub mod approvals;
pub mod batch;
pub mod config;
pub mod operation;
pub mod operations;
pub mod orders;
pub mod providers;
pub mod reconcile;
pub mod refusals;
pub mod sandbox;
pub mod schemas;
pub mod serve;
pub mod token;
pub mod users;
pub mod webhooks;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::app::{Application, EngineParts, Settings};
use crate::config::{self as cfg, Account, Config, OnPluginError, TokenConfig};
use crate::engine::{Engine, EngineSettings};
use crate::plugins::{self, Registry};

/// Exit code for invalid usage or request documents (nothing sent).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code for config or plugin errors (nothing sent).
pub(crate) const EXIT_CONFIG: u8 = 3;
/// Exit code for an idempotency or operation conflict (nothing sent).
pub(crate) const EXIT_CONFLICT: u8 = 4;
/// Exit code for a request refused by an amount limit (nothing sent).
pub(crate) const EXIT_LIMIT: u8 = 5;
/// Exit code for a request refused because the provider could not be
/// reached (nothing sent; the idempotency key is free).
pub(crate) const EXIT_UNREACHABLE: u8 = 6;
/// Exit code for a request over an approval threshold: recorded, waiting
/// for a second person, nothing sent.
pub(crate) const EXIT_AWAITING_APPROVAL: u8 = 13;

/// The exit code of an operation command that ended in `e` (nothing was
/// sent): by the refusal's kind (invalid document 2, guard or conflict 4,
/// limit 5, provider unreachable 6), else 2 for usage and 3 for config,
/// plugin and store errors. Never 11 (`failed`): no provider said anything.
pub(crate) fn exit_code_of(e: &payops_core::Error) -> u8 {
    use payops_core::ErrorCode;
    use payops_core::outcome::Reason;
    match (e.refusal_reason(), e.code()) {
        (Some(Reason::Limit), _) => EXIT_LIMIT,
        (Some(Reason::Unreachable), _) => EXIT_UNREACHABLE,
        (Some(Reason::Conflict), _) => EXIT_CONFLICT,
        (_, ErrorCode::InvalidRequest | ErrorCode::UnsupportedOperation | ErrorCode::NotFound) => {
            EXIT_USAGE
        }
        (_, ErrorCode::IdempotencyConflict | ErrorCode::OperationConflict) => EXIT_CONFLICT,
        _ => EXIT_CONFIG,
    }
}

/// The actor recorded for CLI commands: `cli:` and the login name
/// (`$USER`, else `$LOGNAME`, else the name of the process's user id, else
/// `uid-N`).
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(uid_name);
    format!("cli:{user}")
}

/// The login name of the process's real user id (`getpwuid_r`), or
/// `uid-N` when the user database has none.
fn uid_name() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut pwd = std::mem::MaybeUninit::<libc::passwd>::zeroed();
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to memory we own for the call's duration;
    // `buf.len()` is its size.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            pwd.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc == 0 && !found.is_null() {
        // SAFETY: on success `found` points to `pwd`, filled in, whose
        // `pw_name` is a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr((*found).pw_name) };
        let name = name.to_string_lossy();
        if !name.is_empty() {
            return name.into_owned();
        }
    }
    format!("uid-{uid}")
}

/// The flags every command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Config file (TOML); repeatable, later files win. `payops.toml` in the working directory is read first if present.
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// More logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Log line format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output format of a command.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON on stdout.
    Json,
}

fn init_logging(cfg: &Config, g: &Global, default_level: &str) -> Result<(), String> {
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, Registry};
    let level = if g.quiet {
        "warn".to_owned()
    } else {
        match g.verbose {
            0 if cfg.log.level != "info" => cfg.log.level.clone(),
            0 => default_level.to_owned(),
            1 => "debug".to_owned(),
            _ => "trace".to_owned(),
        }
    };
    // The spans made for traces alone are never logged (nor made, with
    // traces off: their callsites stay disabled).
    let hide_trace_spans = format!("{}=off", crate::telemetry::TARGET)
        .parse()
        .expect("a valid directive");
    let filter = EnvFilter::try_from_env("PAYOPS_LOG")
        .unwrap_or_else(|_| EnvFilter::new(level))
        .add_directive(hide_trace_spans);
    let json = match g.log_format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => cfg.log.format == "json",
    };
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = if json {
        let format = tracing_subscriber::fmt::format()
            .json()
            .with_current_span(true)
            .with_span_list(cfg.log.span_list);
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(PluginFieldsAsJson(format))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed()
    };
    match crate::telemetry::layer::<Registry>(&cfg.traces)? {
        // Traces on: each layer its own filter (logs at their level, spans
        // of payops's own code at info whatever the log level).
        Some(traces) => {
            // The logs' own `operation` span is left out: in traces the
            // operation is the span of target `payops::trace` around it.
            let spans = tracing_subscriber::filter::Targets::new()
                .with_target("payops", tracing::Level::INFO)
                .with_target("payops_host", tracing::Level::INFO)
                .with_target("payops_store", tracing::Level::INFO)
                .with_target("payops_transport", tracing::Level::INFO)
                .and(tracing_subscriber::filter::filter_fn(|m| {
                    !(m.is_span() && m.name() == "operation" && m.target() == "payops_host::engine")
                }));
            Registry::default()
                .with(vec![
                    fmt.with_filter(filter).boxed(),
                    traces.with_filter(spans).boxed(),
                ])
                .init()
        }
        None => Registry::default().with(fmt).with(filter).init(),
    }
    Ok(())
}

/// The JSON event format, with a plugin event's `plugin_fields` (the
/// plugin's own fields, carried across the boundary as one JSON text)
/// written as a JSON object, so `jq '.fields.plugin_fields.order_ref'` works.
struct PluginFieldsAsJson<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for PluginFieldsAsJson<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        if event.metadata().target() == "payops::plugin"
            && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line.trim_end())
            && let Some(text) = v["fields"]["plugin_fields"].as_str()
            && let Ok(obj @ serde_json::Value::Object(_)) = serde_json::from_str(text)
        {
            v["fields"]["plugin_fields"] = obj;
            line = format!("{v}\n");
        }
        writer.write_str(&line)
    }
}

/// Prints `payops: message` on stderr and returns `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("payops: {message}");
    ExitCode::from(code)
}

/// What every command that reads config starts from.
pub struct Setup {
    /// The layered config, for source lookups.
    pub figment: figment::Figment,
    /// The typed config.
    pub cfg: Config,
    /// The loaded plugins.
    pub registry: Registry,
}

/// The config files a command reads, in order, and whether
/// `./payops.toml` is among them without the command line naming it.
pub(crate) fn config_files(g: &Global) -> (Vec<String>, bool) {
    let local = std::path::Path::new("payops.toml");
    let mut read = Vec::new();
    let mut unnamed = false;
    if local.exists() {
        read.push("payops.toml".to_owned());
        let named = g.config.iter().any(|f| {
            f.canonicalize().ok() == local.canonicalize().ok() && f.canonicalize().is_ok()
        });
        unnamed = !g.config.is_empty() && !named;
    }
    read.extend(g.config.iter().map(|f| f.display().to_string()));
    (read, unnamed)
}

/// Reads config, starts logging, loads plugins.
pub(crate) fn setup(
    g: &Global,
    listen: Option<&String>,
    default_level: &str,
) -> Result<Setup, ExitCode> {
    let mut overrides = Vec::new();
    if let Some(l) = listen {
        overrides.push(("server.listen", json!(l)));
    }
    let figment = cfg::figment(&g.config, &overrides).map_err(|e| fail(EXIT_CONFIG, e))?;
    // `payops.toml` of the working folder is read first, even beside
    // `--config` (dropping it would give existing setups a new meaning):
    // say so when the command line did not name it.
    let (read, unnamed) = config_files(g);
    if unnamed {
        eprintln!(
            "payops: warning: also read payops.toml of the working folder, before {}: its keys apply unless a later file sets them (name it with --config, or run from another folder)",
            read[1..].join(", ")
        );
    }
    let cfg = cfg::extract(&figment).map_err(|e| fail(EXIT_CONFIG, e))?;
    init_logging(&cfg, g, default_level).map_err(|e| fail(EXIT_CONFIG, e))?;
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

/// The configured accounts, every problem printed.
pub fn accounts(s: &Setup) -> Result<BTreeMap<String, Account>, ExitCode> {
    cfg::resolve(&s.figment, &s.cfg, &s.registry).map_err(|errors| {
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
            // One client span per request sent (traces on), retries included.
            Arc::new(payops_transport::RetryConnect::new(
                crate::telemetry::Traced(t),
                3,
                Duration::from_millis(200),
            )) as Arc<dyn payops_core::HttpTransport>
        })
        .map_err(|e| fail(EXIT_CONFIG, e))
}

/// Config errors on stderr, one per line; exit 3.
fn config_errors(errors: Vec<cfg::ConfigError>) -> ExitCode {
    for e in &errors {
        eprintln!("payops: config: {e}");
    }
    fail(EXIT_CONFIG, format!("{} config error(s)", errors.len()))
}

/// The engine's settings from the config: webhooks, callback URLs, the
/// duplicate wait, the in-flight deadline and the refusals kept.
fn engine_settings(s: &Setup) -> Result<EngineSettings, ExitCode> {
    cfg::check_approvals(&s.figment, &s.cfg).map_err(config_errors)?;
    Ok(EngineSettings {
        wait: Duration::from_secs(s.cfg.store.wait_secs),
        in_flight_deadline: Duration::from_secs(s.cfg.store.in_flight_deadline_secs.max(1)),
        webhooks: cfg::resolve_webhooks(&s.figment, &s.cfg).map_err(config_errors)?,
        callbacks: cfg::resolve_callbacks(&s.figment, &s.cfg).map_err(config_errors)?,
        refusals_kept: s.cfg.store.refusals_kept,
        order_wait: Duration::from_secs(s.cfg.store.order_wait_secs),
        approvals: s.cfg.approvals.clone(),
    })
}

/// The engine's parts: the store at `store_url` (with the webhooks' routes),
/// the providers, `accts`, the provider transport and the settings.
async fn engine_parts(
    s: &Setup,
    accts: BTreeMap<String, Account>,
    store_url: &str,
) -> Result<EngineParts, ExitCode> {
    let settings = engine_settings(s)?;
    let store = payops_store::Store::open(store_url)
        .await
        .map_err(|e| {
            fail(
                EXIT_CONFIG,
                format!("{} ({})", e, cfg::redact_url(store_url)),
            )
        })?
        .with_webhooks(settings.webhooks.iter().map(cfg::Webhook::route).collect())
        .with_trace_context(crate::telemetry::traceparent);
    Ok(EngineParts {
        providers: s.registry.providers.clone(),
        accounts: accts,
        transport: transport()?,
        store,
        settings,
    })
}

/// For one-shot commands: opens the store, builds the engine and starts
/// its heartbeat (for as long as the command runs).
pub(crate) async fn build_engine(
    s: &Setup,
    accts: BTreeMap<String, Account>,
    store_url: &str,
) -> Result<Engine, ExitCode> {
    let parts = engine_parts(s, accts, store_url).await?;
    let engine = Engine::new(
        parts.providers,
        parts.accounts,
        parts.transport,
        parts.store,
        parts.settings,
    )
    .map_err(|e| fail(EXIT_CONFIG, e))?;
    engine
        .store
        .heartbeat(&engine.instance)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    crate::app::heartbeat(
        &tokio_util::task::TaskTracker::new(),
        tokio_util::sync::CancellationToken::new(),
        engine.store.clone(),
        engine.instance.clone(),
        Duration::from_secs(s.cfg.store.instance_timeout_secs.max(1)) / 3,
    );
    Ok(engine)
}

/// Which daemon runs.
pub enum Mode {
    /// `payops serve`.
    Serve,
    /// `payops sandbox`: its banner (`{addr}` becomes the address) is
    /// printed after the listening line.
    Sandbox {
        /// The banner.
        banner: String,
        /// Called once the daemon is bound, before the banner: the sandbox
        /// tells its simulators where to post.
        ready: Box<dyn FnOnce(&crate::engine::Engine) + Send>,
    },
}

/// Serves the HTTP API until SIGTERM/SIGINT (shared by `serve` and `sandbox`).
pub async fn daemon(
    s: &Setup,
    accts: BTreeMap<String, Account>,
    store_url: &str,
    tokens: Vec<TokenConfig>,
    mode: Mode,
) -> Result<ExitCode, ExitCode> {
    let sandbox = matches!(mode, Mode::Sandbox { .. });
    let mut settings = Settings::from_config(&s.cfg, sandbox);
    // The sandbox's store is a temporary file nobody added users to: it
    // signs in with its token (or the identity provider, if configured).
    if sandbox {
        settings.auth.local = false;
    }
    settings.oidc = cfg::resolve_auth(&s.figment, &s.cfg).map_err(config_errors)?;
    let parts = engine_parts(s, accts, store_url).await?;
    let app = Application::build(settings, parts, tokens)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    let addr = app.addr();
    let engine = app.engine();
    tracing::info!(%addr, accounts = engine.accounts.len(), providers = engine.providers.len(), "listening");
    println!("payops listening on http://{addr}");
    if let Mode::Sandbox { banner, ready } = mode {
        ready(engine);
        println!("{}", banner.replace("{addr}", &addr.to_string()));
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    app.run_until_stopped().await.map_err(|e| fail(1, e))?;
    Ok(ExitCode::SUCCESS)
}
