//! # payops
//!
//! The payops host: loads provider plugins (cdylibs) from its own directory
//! and `plugins.dirs`, reads layered config, and runs payment operations from
//! the command line or as a daemon (`payops serve`, `payops sandbox`). See
//! `docs/operators.md`. Each command lives in its own file under
//! `host/src/cli/`; this file only parses the command line and dispatches.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use payops_core::OperationKind;
use payops_host::cli::{self, Global};

#[derive(Parser)]
#[command(
    name = "payops",
    version,
    about = "Payment operations across providers: refund, cancel, query, sub-merchant adjustment"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon plus every provider's simulator on loopback and demo accounts (no credentials needed).
    Sandbox(cli::sandbox::SandboxArgs),
    /// The daemon.
    Serve(cli::serve::ServeArgs),
    /// Loaded plugins: id, version, file, capabilities.
    Providers(cli::providers::ProvidersArgs),
    /// Export the JSON Schemas, or check an exported tree.
    Schemas(cli::schemas::SchemasArgs),
    /// Show or check the effective config.
    Config {
        #[command(subcommand)]
        action: cli::config::ConfigAction,
    },
    /// Refund a payment.
    Refund(cli::operation::OpArgs),
    /// Cancel a payment.
    Cancel(cli::operation::OpArgs),
    /// Return money as a cancel or a refund, as the provider's rule chooses.
    Return(cli::operation::OpArgs),
    /// Query a payment.
    Query(cli::operation::OpArgs),
    /// Adjust a marketplace sub-merchant's balance.
    #[command(name = "sub-merchant-adjust")]
    SubMerchantAdjust(cli::operation::OpArgs),
    /// The audit record of operations.
    Operations {
        #[command(subcommand)]
        action: cli::operations::OperationsAction,
    },
    /// An order's ledger: paid, returned, at risk, remaining.
    Orders {
        #[command(subcommand)]
        action: cli::orders::OrdersAction,
    },
    /// Requests refused before anything was sent (not operations): who, what, why, when.
    Refusals {
        #[command(subcommand)]
        action: cli::refusals::RefusalsAction,
    },
    /// Resolve `unknown` and `pending` operations with the provider's query (never re-sends).
    Reconcile(cli::reconcile::ReconcileArgs),
    /// One operation over every row of a CSV or JSON-lines file (resumable).
    Batch(cli::batch::BatchArgs),
    /// The webhook outbox: deliveries, attempts, redelivery.
    Webhooks {
        #[command(subcommand)]
        action: cli::webhooks::WebhooksAction,
    },
    /// People who sign in to the console: local users, and those an OpenID provider signed in.
    Users {
        #[command(subcommand)]
        action: cli::users::UsersAction,
    },
    /// Requests over an approval threshold: list, approve (then sent once), reject.
    Approvals {
        #[command(subcommand)]
        action: cli::approvals::ApprovalsAction,
    },
    /// Bearer tokens: `payops token new` makes one.
    Token {
        #[command(subcommand)]
        action: cli::token::TokenAction,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // `payops --version` (long form) also prints what plugins must match.
    let long_version: &'static str = Box::leak(
        format!(
            "{}\nplugin protocol {} (loads plugins of {} to {})\npayops-core {}",
            env!("CARGO_PKG_VERSION"),
            payops_core::protocol::ABI_VERSION,
            payops_core::protocol::MIN_ABI_VERSION,
            payops_core::protocol::ABI_VERSION,
            payops_core::protocol::CORE_VERSION
        )
        .into_boxed_str(),
    );
    let matches = Cli::command().long_version(long_version).get_matches();
    let c = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let g = &c.global;
    // A one-shot command whose stdout closes (`payops operations list |
    // head -1`) ends quietly, as Unix tools do: SIGPIPE's default action.
    // The daemon (and a batch, which must not stop mid-operation) keep
    // Rust's ignored SIGPIPE and see EPIPE as an error instead.
    if !matches!(
        c.command,
        Command::Serve(_) | Command::Sandbox(_) | Command::Batch(_)
    ) {
        // SAFETY: setting a signal's disposition to its default, before any
        // thread of ours writes; no handler runs Rust code.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let r = match &c.command {
        Command::Sandbox(a) => cli::sandbox::run(g, a).await,
        Command::Serve(a) => cli::serve::run(g, a).await,
        Command::Providers(a) => cli::providers::run(g, a),
        Command::Schemas(a) => cli::schemas::run(g, a),
        Command::Config { action } => cli::config::run(g, action).await,
        Command::Refund(a) => cli::operation::run(g, OperationKind::Refund, a).await,
        Command::Cancel(a) => cli::operation::run(g, OperationKind::Cancel, a).await,
        Command::Return(a) => cli::operation::run(g, OperationKind::Return, a).await,
        Command::Query(a) => cli::operation::run(g, OperationKind::Query, a).await,
        Command::SubMerchantAdjust(a) => {
            cli::operation::run(g, OperationKind::SubMerchantAdjust, a).await
        }
        Command::Operations { action } => cli::operations::run(g, action).await,
        Command::Orders { action } => cli::orders::run(g, action).await,
        Command::Refusals { action } => cli::refusals::run(g, action).await,
        Command::Reconcile(a) => cli::reconcile::run(g, a).await,
        Command::Token { action } => cli::token::run(action),
        Command::Users { action } => cli::users::run(g, action).await,
        Command::Approvals { action } => cli::approvals::run(g, action).await,
        Command::Batch(a) => cli::batch::run(g, a).await,
        Command::Webhooks { action } => cli::webhooks::run(g, action).await,
    };
    // The spans still queued go out before the process ends (traces on).
    payops_host::telemetry::shutdown().await;
    match r {
        Ok(code) | Err(code) => code,
    }
}
