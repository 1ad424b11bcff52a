//! `payops token new`: a random bearer token, printed once, and the
//! `[[tokens]]` stanza with its SHA-256 for the config.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{EXIT_USAGE, fail};

/// `payops token` actions.
#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Make a new random token; prints it once, with the config stanza.
    New(NewToken),
}

/// Arguments of `payops token new`.
#[derive(Args, Debug)]
pub struct NewToken {
    /// The token's name (logs, audit, metrics).
    #[arg(long)]
    pub name: String,
    /// Accounts it may use (repeatable; `*` for all).
    #[arg(long = "accounts", num_args = 1.., required = true)]
    pub accounts: Vec<String>,
    /// Operations it may run (repeatable: refund, cancel, return, query,
    /// sub_merchant_adjust; `*` for all).
    #[arg(long = "operations", num_args = 1.., required = true)]
    pub operations: Vec<String>,
    /// Its role on its accounts: viewer, operator (the default), approver
    /// (also resolves and overrides the order guard), admin.
    #[arg(long)]
    pub role: Option<crate::people::Role>,
    /// May record an operator's resolution.
    #[arg(long)]
    pub resolve: bool,
    /// May go past the order guard.
    #[arg(long)]
    pub override_open: bool,
}

/// 256 random bits (two UUID v4s' randomness), hex, with a `pyo_` prefix
/// that secret scanners can recognise.
fn random_token() -> String {
    format!(
        "pyo_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Runs `payops token ACTION` (no config needed).
pub fn run(action: &TokenAction) -> Result<ExitCode, ExitCode> {
    let TokenAction::New(a) = action;
    for op in &a.operations {
        if op != "*" && op.parse::<payops_core::OperationKind>().is_err() {
            return Err(fail(
                EXIT_USAGE,
                format!(
                    "--operations {op:?}: one of refund, cancel, return, query, sub_merchant_adjust or *"
                ),
            ));
        }
    }
    if a.name.trim().is_empty() {
        return Err(fail(EXIT_USAGE, "--name must not be empty"));
    }
    let token = random_token();
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "payops: the token is shown once; give it to its holder and keep only the hash below"
    );
    println!("token: {token}");
    println!();
    println!("[[tokens]]");
    println!("name = {:?}", a.name);
    println!("token_sha256 = \"{}\"", crate::signing::sha256_hex(&token));
    println!("accounts = [{}]", list(&a.accounts));
    println!("operations = [{}]", list(&a.operations));
    if let Some(role) = a.role {
        println!("role = \"{role}\"");
    }
    if a.resolve {
        println!("resolve = true");
    }
    if a.override_open {
        println!("override_open = true");
    }
    Ok(ExitCode::SUCCESS)
}
