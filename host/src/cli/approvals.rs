//! `payops approvals list | show | approve | reject`: the requests waiting
//! for a second person. The CLI decides as its OS user (`cli:LOGIN`), never
//! for a request it asked for itself; an approval it records is sent at
//! once (by this command, claiming it in the store: a daemon's worker
//! cannot send it too), unless `--no-send` leaves that to the daemons.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use payops_store::{ApprovalFilter, ApprovalState};

use super::{EXIT_CONFIG, EXIT_USAGE, Global, Output, accounts, build_engine, fail, setup};

/// `payops approvals` actions.
#[derive(Subcommand, Debug)]
pub enum ApprovalsAction {
    /// Approvals, newest first (by default those not final yet).
    List {
        /// Only these states (repeatable): awaiting_approval, approved,
        /// rejected, expired, sent.
        #[arg(long = "status")]
        status: Vec<String>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// One approval (JSON).
    Show {
        /// Its id (`ap_…`).
        id: String,
    },
    /// Approve a waiting request; it is then sent once.
    Approve {
        /// Its id (`ap_…`).
        id: String,
        /// A note kept with the decision.
        #[arg(long)]
        note: Option<String>,
        /// Record the approval only; a daemon's worker sends it.
        #[arg(long)]
        no_send: bool,
    },
    /// Reject a waiting request (final; nothing is sent).
    Reject {
        /// Its id (`ap_…`).
        id: String,
        /// Why (kept with the decision).
        #[arg(long)]
        note: Option<String>,
    },
}

/// Runs `payops approvals ACTION`.
pub async fn run(g: &Global, action: &ApprovalsAction) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let store_err = |e: payops_store::StoreError| fail(EXIT_CONFIG, e);
    match action {
        ApprovalsAction::List {
            status,
            account,
            limit,
            output,
        } => {
            let store = payops_store::Store::open_existing(&s.cfg.store.url)
                .await
                .map_err(store_err)?;
            let mut states = Vec::new();
            let given: Vec<&str> = if status.is_empty() {
                vec!["awaiting_approval", "approved"]
            } else {
                status.iter().map(String::as_str).collect()
            };
            for st in given {
                states.push(ApprovalState::parse(st).ok_or_else(|| {
                    fail(
                        EXIT_USAGE,
                        format!("--status {st:?}: awaiting_approval, approved, rejected, expired or sent"),
                    )
                })?);
            }
            let list = store
                .approvals(&ApprovalFilter {
                    states,
                    accounts: account.clone().map(|a| vec![a]),
                    limit: *limit,
                })
                .await
                .map_err(store_err)?;
            match output {
                Output::Json => {
                    for a in &list {
                        println!("{}", serde_json::to_string(a).unwrap_or_default());
                    }
                }
                Output::Text => {
                    if list.is_empty() {
                        println!("no approvals");
                    }
                    for a in &list {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            a.approval_id,
                            a.status.as_str(),
                            a.account,
                            a.operation,
                            a.order_ref.as_deref().unwrap_or("-"),
                            a.amount
                                .map(|v| v.to_string())
                                .unwrap_or_else(|| "whole".into()),
                            a.requested_by,
                            a.why
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsAction::Show { id } => {
            let store = payops_store::Store::open_existing(&s.cfg.store.url)
                .await
                .map_err(store_err)?;
            let a = store
                .approval(id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| fail(EXIT_USAGE, format!("no approval {id:?}")))?;
            println!("{}", serde_json::to_string_pretty(&a).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsAction::Approve { id, note, no_send } => {
            decide(&s, id, true, note.as_deref(), !*no_send).await
        }
        ApprovalsAction::Reject { id, note } => decide(&s, id, false, note.as_deref(), false).await,
    }
}

/// Approves or rejects `id` as the OS user; sends an approval at once
/// when `send`.
async fn decide(
    s: &super::Setup,
    id: &str,
    approve: bool,
    note: Option<&str>,
    send: bool,
) -> Result<ExitCode, ExitCode> {
    let accts = accounts(s)?;
    let engine = Arc::new(build_engine(s, accts, &s.cfg.store.url).await?);
    let by = super::cli_actor();
    // The CLI holds the config and the store: it may decide on any
    // account, but never its own request.
    let a = crate::approving::decide(&engine, id, approve, &by, |_| true, note)
        .await
        .map_err(|e| {
            let code = match e.code() {
                payops_core::ErrorCode::OperationConflict => super::EXIT_CONFLICT,
                payops_core::ErrorCode::Forbidden | payops_core::ErrorCode::NotFound => EXIT_USAGE,
                _ => super::exit_code_of(&e),
            };
            fail(code, e)
        })?;
    println!(
        "{} {} by {by}",
        a.approval_id,
        if approve {
            "approved"
        } else {
            "rejected: nothing was sent"
        }
    );
    if !approve {
        return Ok(ExitCode::SUCCESS);
    }
    if !send {
        println!("a daemon sends it (payops approvals show {id} tells when)");
        return Ok(ExitCode::SUCCESS);
    }
    match crate::approving::send_one(&engine, Some(id)).await {
        Ok(Some(a)) if a.status == ApprovalState::Sent => {
            let op = a.operation_id.clone().unwrap_or_default();
            let status = match engine.store.get(&op).await {
                Ok(Some(o)) => o
                    .envelope
                    .map(|e| e.status.to_string())
                    .unwrap_or_else(|| o.state.as_str().to_owned()),
                _ => "-".into(),
            };
            println!("sent as {op}: {status}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Some(a)) => {
            println!(
                "not sent yet: {}; it stays approved and is tried again",
                a.last_refusal.as_deref().unwrap_or("-")
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => {
            println!("another sender holds it now (a daemon): payops approvals show {id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(fail(EXIT_CONFIG, e)),
    }
}
