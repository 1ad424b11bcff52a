//! The one-shot operation commands: `payops refund | cancel | query |
//! sub-merchant-adjust`.

use std::io::Read;
use std::process::ExitCode;

use clap::Args;
use payops_core::OperationKind;
use serde_json::Value;

use super::{EXIT_USAGE, Global, Output, accounts, build_engine, fail, setup};

/// Arguments of an operation command.
#[derive(Args, Debug)]
pub struct OpArgs {
    /// The account to use.
    #[arg(long)]
    pub account: String,
    /// The request document as JSON.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    pub json: Option<String>,
    /// Read the request document from FILE (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: Option<String>,
    /// Idempotency key: the same key and document on this account return
    /// the stored answer instead of calling the provider again.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Go past the order guard for this unresolved operation of the same
    /// order (its id), knowingly.
    #[arg(long, value_name = "OPERATION_ID")]
    pub override_open: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
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
    payops_core::kit::json::from_slice_exact(text.as_bytes())
        .map_err(|e| format!("the request document: {e}"))
}

/// Runs operation `op` once and exits with the status's code.
pub async fn run(g: &Global, op: OperationKind, a: &OpArgs) -> Result<ExitCode, ExitCode> {
    let document = read_document(a).map_err(|e| fail(EXIT_USAGE, e))?;
    let s = setup(g, None, "warn")?;
    let accts = accounts(&s)?;
    let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
    let ran = engine
        .execute_marked(
            &a.account,
            op,
            document,
            crate::engine::Options {
                idempotency_key: a.idempotency_key.clone(),
                actor: Some(super::cli_actor()),
                override_open: a.override_open.clone(),
                limits: Default::default(),
                // The CLI asks as an operator (its OS user), under the
                // same approval rules as any caller.
                asker: Some(crate::config::Asker::default()),
                approved: None,
            },
        )
        .await;
    let ran = match ran {
        Ok(crate::engine::Ran::Awaiting { approval, replayed }) => {
            if a.output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "status": approval.status,
                        "operation_id": approval.operation_id,
                        "approval": approval,
                    }))
                    .unwrap_or_default()
                );
            } else {
                println!("approval_id:        {}", approval.approval_id);
                println!("status:             {}", approval.status.as_str());
                println!("why:                {}", approval.why);
                println!("expires_at:         {}", approval.expires_at);
            }
            eprintln!(
                "payops: {} for approval{}: nothing was sent; someone else approves it (payops approvals approve {}), then it is sent once",
                if replayed {
                    "already waiting"
                } else {
                    "waiting"
                },
                if replayed {
                    " (the same request, by its key)"
                } else {
                    ""
                },
                approval.approval_id
            );
            return Ok(ExitCode::from(super::EXIT_AWAITING_APPROVAL));
        }
        Ok(crate::engine::Ran::Done(done)) => Ok(done.envelope),
        Err(e) => Err(e),
    };
    match ran {
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
            let code = super::exit_code_of(&e);
            if a.output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&e.to_body()).unwrap_or_default()
                );
            }
            for d in e.details() {
                eprintln!("payops: {}: {}", d.path, d.message);
            }
            if let Some(reason) = e.refusal_reason() {
                eprintln!(
                    "payops: refused before sending ({}){}; the idempotency key is free",
                    reason.as_str(),
                    e.refusal_id()
                        .map(|id| format!(", recorded as {id}"))
                        .unwrap_or_default()
                );
            }
            Err(fail(code, e))
        }
    }
}
