//! `payops operations list | show`: the audit record of operations.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{EXIT_CONFIG, EXIT_USAGE, Global, fail, setup};

/// The formats of `payops operations list`.
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum ListOutput {
    /// Human-readable text.
    Text,
    /// JSON on stdout.
    Json,
    /// CSV (the columns of `GET /v1/operations.csv`, times at +03:00).
    Csv,
}

/// `payops operations` actions.
#[derive(Subcommand, Debug)]
pub enum OperationsAction {
    /// List operations, newest first.
    List {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this order's.
        #[arg(long)]
        order_ref: Option<String>,
        /// An operation id, an order reference or a provider reference.
        #[arg(long)]
        search: Option<String>,
        /// Only these states (repeatable): in_flight, succeeded, pending, failed, unknown.
        #[arg(long = "status")]
        status: Vec<String>,
        /// Created at or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Created before (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Amounts at least this (minor units).
        #[arg(long)]
        min_amount: Option<i64>,
        /// Amounts at most this (minor units).
        #[arg(long)]
        max_amount: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format (csv: the console's export, safe for spreadsheets).
        #[arg(long, value_enum, default_value = "text")]
        output: ListOutput,
    },
    /// One operation with its envelope and audit trail (JSON).
    Show {
        /// The operation id.
        id: String,
    },
    /// Record an operator's resolution of an `unknown` or `pending`
    /// operation that the provider's evidence could not settle.
    Resolve {
        /// The operation id.
        id: String,
        /// What happened to the money.
        #[arg(long, value_parser = ["succeeded", "failed"])]
        status: String,
        /// What proves it (e.g. the provider panel's transaction id).
        #[arg(long)]
        evidence: String,
    },
}

pub(crate) fn parse_time(
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

/// Runs `payops operations ACTION`.
pub async fn run(g: &Global, action: &OperationsAction) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let store = payops_store::Store::open_existing(&s.cfg.store.url)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    match action {
        OperationsAction::List {
            account,
            order_ref,
            search,
            status,
            since,
            until,
            min_amount,
            max_amount,
            limit,
            output,
        } => {
            let mut states = Vec::new();
            for st in status {
                let v = payops_store::State::parse(st).ok_or_else(|| {
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
                order_ref: order_ref.clone(),
                search: search.clone(),
                ..Default::default()
            };
            let (list, _) = crate::report::find(
                &store,
                filter,
                (*min_amount, *max_amount),
                usize::try_from(*limit).unwrap_or(0),
                usize::MAX,
            )
            .await
            .map_err(|e| fail(EXIT_CONFIG, e))?;
            if *output == ListOutput::Csv {
                print!(
                    "{}",
                    crate::report::csv(&list, payops_core::turkey_offset())
                );
            } else if *output == ListOutput::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &list
                            .iter()
                            .map(payops_store::StoredOperation::to_json)
                            .collect::<Vec<_>>()
                    )
                    .unwrap_or_default()
                );
            } else {
                for o in &list {
                    println!(
                        "{}  {}  {:<10} {:<20} {:<10} {}{}",
                        o.id,
                        o.created_at
                            .with_timezone(&payops_core::turkey_offset())
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
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
        OperationsAction::Resolve {
            id,
            status,
            evidence,
        } => {
            let status = if status == "succeeded" {
                payops_core::Status::Succeeded
            } else {
                payops_core::Status::Failed
            };
            let accts = super::accounts(&s)?;
            let engine = super::build_engine(&s, accts, &s.cfg.store.url).await?;
            match crate::approving::resolve(
                &engine,
                id,
                status,
                evidence,
                &super::cli_actor(),
                &crate::config::Asker::default(),
            )
            .await
            {
                Ok(crate::approving::Resolved::Now(env)) => {
                    println!("{}", serde_json::to_string_pretty(&env).unwrap_or_default());
                    Ok(ExitCode::SUCCESS)
                }
                Ok(crate::approving::Resolved::Waiting(a)) => {
                    println!("{}", serde_json::to_string_pretty(&a).unwrap_or_default());
                    eprintln!(
                        "payops: the resolution waits for approval as {} ({}): someone else approves it (payops approvals approve {})",
                        a.approval_id, a.why, a.approval_id
                    );
                    Ok(ExitCode::from(super::EXIT_AWAITING_APPROVAL))
                }
                Err(e) => {
                    let code = match e.code() {
                        payops_core::ErrorCode::NotFound
                        | payops_core::ErrorCode::InvalidRequest => EXIT_USAGE,
                        payops_core::ErrorCode::OperationConflict => super::EXIT_CONFLICT,
                        _ => EXIT_CONFIG,
                    };
                    Err(fail(code, e))
                }
            }
        }
        OperationsAction::Show { id } => {
            let op = store
                .get(id)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?
                .ok_or_else(|| fail(EXIT_USAGE, format!("no operation {id}")))?;
            let events = store.events(id).await.map_err(|e| fail(EXIT_CONFIG, e))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"operation": op.to_json(), "events": events}))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
