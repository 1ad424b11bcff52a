//! `payops reconcile`: settle `unknown` and `pending` operations with the
//! provider's query (never re-sends).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::{EXIT_CONFIG, Global, Output, accounts, build_engine, fail, setup};

/// Arguments of `payops reconcile`.
#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// Only this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Only operations at least this old (seconds); default
    /// `store.reconcile_min_age_secs` (60).
    #[arg(long)]
    pub min_age_secs: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Runs one reconciliation pass.
pub async fn run(g: &Global, a: &ReconcileArgs) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let accts = accounts(&s)?;
    let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
    engine
        .recover(Duration::from_secs(
            s.cfg.store.instance_timeout_secs.max(1),
        ))
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    let min_age = a.min_age_secs.unwrap_or(s.cfg.store.reconcile_min_age_secs);
    let pass = crate::reconcile::run(
        &engine,
        a.account.as_deref(),
        Duration::from_secs(min_age),
        // An operator's explicit pass looks at everything, backoff or not.
        None,
    )
    .await
    .map_err(|e| fail(EXIT_CONFIG, e))?;
    let list = &pass.examined;
    if a.output == Output::Json {
        let v: Vec<Value> = list
            .iter()
            .map(|r| json!({"operation_id": r.id, "from": r.from, "to": r.to, "how": r.how}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        if pass.too_young > 0 {
            eprintln!(
                "payops: {} unresolved operation(s) younger than {min_age} s left for later",
                pass.too_young
            );
        }
    } else {
        if list.is_empty() && pass.too_young == 0 {
            println!("nothing to reconcile");
        }
        if pass.too_young > 0 {
            println!(
                "{} unresolved operation(s) younger than {min_age} s left for later (an answer may still come; --min-age-secs 0 to include them)",
                pass.too_young
            );
        }
        for r in list {
            let to =
                r.to.map(|t| t.to_string())
                    .unwrap_or_else(|| "unchanged".into());
            println!("{}  {} -> {}  {}", r.id, r.from, to, r.how);
        }
    }
    Ok(ExitCode::SUCCESS)
}
