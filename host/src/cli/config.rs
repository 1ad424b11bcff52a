//! `payops config show | check`.

use std::process::ExitCode;

use clap::Subcommand;

use super::{EXIT_CONFIG, Global, accounts, fail, setup};

/// `payops config` actions.
#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Print the effective config, credentials redacted; exit 3 (after
    /// printing it) when it is not valid.
    Show,
    /// Validate the config; exit 0 or 3.
    Check,
}

/// Runs `payops config ACTION`.
pub async fn run(g: &Global, action: &ConfigAction) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    match action {
        ConfigAction::Show => {
            let v = crate::config::redacted(&s.cfg, &s.registry);
            let text = toml::to_string_pretty(&v).map_err(|e| fail(EXIT_CONFIG, e))?;
            print!("{text}");
            // The same checks as `config check` for the accounts: a config
            // that would not run is not shown as if it were fine.
            accounts(&s)?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigAction::Check => {
            // Skipped plugins were already reported (one warning each) by
            // the loader's log.
            let store = crate::config::check_store(&s.cfg.store.url).await;
            let a = accounts(&s);
            if let Err(e) = &store {
                eprintln!("payops: config: store.url: {e}");
            }
            let hooks = crate::config::resolve_webhooks(&s.figment, &s.cfg);
            if let Err(errors) = &hooks {
                for e in errors {
                    eprintln!("payops: config: {e}");
                }
            }
            let a = a?;
            let hooks =
                hooks.map_err(|e| fail(EXIT_CONFIG, format!("{} config error(s)", e.len())))?;
            if store.is_err() {
                return Err(fail(EXIT_CONFIG, "the store cannot be used"));
            }
            println!(
                "config OK: {} account(s), {} token(s), {} webhook(s), {} provider(s)",
                a.len(),
                s.cfg.tokens.len(),
                hooks.len(),
                s.registry.providers.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
