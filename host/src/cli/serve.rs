//! `payops serve`: the daemon.

use std::process::ExitCode;

use clap::Args;

use super::{Global, Mode, accounts, daemon, setup};

/// Arguments of `payops serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(g: &Global, a: &ServeArgs) -> Result<ExitCode, ExitCode> {
    let s = setup(g, a.listen.as_ref(), "info")?;
    let accts = accounts(&s)?;
    if s.cfg.tokens.is_empty() {
        tracing::warn!("no [[tokens]] configured: every API call will be refused with 401");
    }
    daemon(
        &s,
        accts,
        &s.cfg.store.url,
        s.cfg.tokens.clone(),
        Mode::Serve,
    )
    .await
}
