//! `payops refusals list | show`: requests refused before anything was
//! sent to the provider (not operations; kept for the audit, the newest
//! `store.refusals_kept`).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::operations::parse_time;
use super::{EXIT_CONFIG, EXIT_USAGE, Global, Output, fail, setup};

/// `payops refusals` actions.
#[derive(Subcommand, Debug)]
pub enum RefusalsAction {
    /// List refusals, newest first.
    List {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only these reasons (repeatable): invalid_request, conflict,
        /// limit, unreachable, ...
        #[arg(long = "reason")]
        reason: Vec<String>,
        /// At or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Before (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// One refusal: who, what, why, when (JSON).
    Show {
        /// The refusal id (`rf_…`).
        id: String,
    },
}

/// Runs `payops refusals ACTION`.
pub async fn run(g: &Global, action: &RefusalsAction) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let store = payops_store::Store::open_existing(&s.cfg.store.url)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    match action {
        RefusalsAction::List {
            account,
            reason,
            since,
            until,
            limit,
            output,
        } => {
            for r in reason {
                if !payops_core::outcome::Reason::ALL
                    .iter()
                    .any(|k| k.as_str() == r)
                {
                    return Err(fail(EXIT_USAGE, format!("--reason {r:?} is not a reason")));
                }
            }
            let filter = payops_store::RefusalFilter {
                account: account.clone(),
                reasons: reason.clone(),
                since: parse_time("--since", since)?,
                until: parse_time("--until", until)?,
                limit: Some(*limit),
                ..Default::default()
            };
            let list = store
                .list_refusals(&filter)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            if *output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                for r in &list {
                    println!(
                        "{}  {}  {:<10} {:<20} {:<16} {:<12} {}  {}",
                        r.refusal_id,
                        r.at.with_timezone(&payops_core::turkey_offset())
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                        r.account,
                        r.operation,
                        r.reason,
                        r.order_ref.as_deref().unwrap_or("-"),
                        r.actor.as_deref().unwrap_or("-"),
                        r.error["message"].as_str().unwrap_or_default(),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RefusalsAction::Show { id } => {
            let r = store
                .refusal(id)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?
                .ok_or_else(|| fail(EXIT_USAGE, format!("no refusal {id}")))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"refusal": r})).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
