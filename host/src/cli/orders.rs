//! `payops orders show`: an order's ledger (what was paid, returned, at
//! risk, what remains; the operations and the external returns).

use std::process::ExitCode;

use clap::Subcommand;

use super::{EXIT_CONFIG, EXIT_USAGE, Global, Output, accounts, build_engine, fail, setup};

/// `payops orders` actions.
#[derive(Subcommand, Debug)]
pub enum OrdersAction {
    /// An order's ledger.
    Show {
        /// The account.
        #[arg(long)]
        account: String,
        /// The order reference.
        order_ref: String,
        /// Query the provider first (recorded as a `query` operation).
        #[arg(long)]
        fresh: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

/// Minor units as major ones with two decimals (every currency payops
/// handles today has an exponent of 2).
fn major(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// Runs `payops orders ACTION`.
pub async fn run(g: &Global, action: &OrdersAction) -> Result<ExitCode, ExitCode> {
    let OrdersAction::Show {
        account,
        order_ref,
        fresh,
        output,
    } = action;
    let s = setup(g, None, "warn")?;
    let accts = accounts(&s)?;
    let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
    let ledger = engine
        .order_ledger(account, order_ref, *fresh, Some(super::cli_actor()))
        .await
        .map_err(|e| {
            let code = match e.code() {
                payops_core::ErrorCode::NotFound | payops_core::ErrorCode::InvalidRequest => {
                    EXIT_USAGE
                }
                _ => EXIT_CONFIG,
            };
            fail(code, e)
        })?;
    if *output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ledger).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let t = &ledger.totals;
    println!("order:        {} on {}", ledger.order_ref, ledger.account);
    match &ledger.paid {
        Some(p) => println!(
            "paid:         {} {} (read {} by {})",
            major(p.amount),
            p.currency.code(),
            p.read_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            p.by_operation
        ),
        None => {
            println!("paid:         not known (no query of this order is stored; --fresh runs one)")
        }
    }
    println!("succeeded:    {}", major(t.succeeded));
    println!("pending:      {}", major(t.pending));
    println!("at risk:      {}", major(t.unknown));
    match t.remaining {
        Some(r) => println!("remaining:    {}", major(r)),
        None => println!("remaining:    not known"),
    }
    for n in &ledger.not_counted {
        println!("not counted:  {n}");
    }
    for o in &ledger.operations {
        println!(
            "  {}  {:<10} {:<10} {:>12}  {}",
            o.operation_id,
            o.operation,
            o.state.as_str(),
            o.amount.map(major).unwrap_or_else(|| "-".into()),
            o.provider_reference.as_deref().unwrap_or("")
        );
    }
    for r in &ledger.external_returns {
        println!(
            "  external {}  {:?} {:?} {:>12}  {}",
            r.transaction_id.as_deref().unwrap_or("(no id)"),
            r.kind,
            r.state,
            r.amount.map(major).unwrap_or_else(|| "-".into()),
            r.date
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
