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
    let (read, _) = super::config_files(g);
    eprintln!(
        "payops: config read from: {} (then PAYOPS_* variables)",
        if read.is_empty() {
            "no file (built-in defaults)".to_owned()
        } else {
            read.join(", ")
        }
    );
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
            let auth = crate::config::resolve_auth(&s.figment, &s.cfg);
            if let Err(errors) = &auth {
                for e in errors {
                    eprintln!("payops: config: {e}");
                }
            }
            let approvals = crate::config::check_approvals(&s.figment, &s.cfg);
            if let Err(errors) = &approvals {
                for e in errors {
                    eprintln!("payops: config: {e}");
                }
            }
            // `[server]`'s callbacks, as `serve` reads them.
            let callbacks = crate::config::resolve_callbacks(&s.figment, &s.cfg);
            if let Err(errors) = &callbacks {
                for e in errors {
                    eprintln!("payops: config: {e}");
                }
            }
            let a = a?;
            for (name, acct) in &a {
                for key in acct.config.secret_key_names() {
                    if let Some(why) = acct
                        .config
                        .secret_value(&key)
                        .as_deref()
                        .and_then(weak_credential)
                    {
                        eprintln!(
                            "payops: warning: accounts.{name}.{key}: {why}: every piece of {} characters of a credential is blanked wherever it appears in a provider's answer, so ordinary text or ids may be blanked too",
                            payops_core::outcome::PIECE_CHARS
                        );
                    }
                }
            }
            let hooks =
                hooks.map_err(|e| fail(EXIT_CONFIG, format!("{} config error(s)", e.len())))?;
            auth.map_err(|e| fail(EXIT_CONFIG, format!("{} config error(s)", e.len())))?;
            approvals.map_err(|e| fail(EXIT_CONFIG, format!("{} config error(s)", e.len())))?;
            let callbacks =
                callbacks.map_err(|e| fail(EXIT_CONFIG, format!("{} config error(s)", e.len())))?;
            if store.is_err() {
                return Err(fail(EXIT_CONFIG, "the store cannot be used"));
            }
            // Providers that post to one URL per merchant: the URL to set in
            // their panel.
            for (name, acct) in &a {
                let Some(p) = s.registry.providers.get(&acct.provider) else {
                    continue;
                };
                for spec in &p.info().account_callbacks {
                    match &callbacks {
                        Some(cb) => println!(
                            "accounts.{name}: {} posts {} results to one URL per merchant; set it in {}'s panel: {}",
                            p.info().name,
                            spec.operation,
                            p.info().name,
                            cb.account_url(&acct.provider, name)
                        ),
                        None => eprintln!(
                            "payops: warning: accounts.{name}: {} posts {} results to one URL per merchant; payops takes them only with server.public_url (and callback_secret) set",
                            p.info().name,
                            spec.operation
                        ),
                    }
                }
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

/// Why a credential is short or regular enough that its pieces may collide
/// with ordinary text or ids, or `None`.
fn weak_credential(v: &str) -> Option<String> {
    let n = v.chars().count();
    if n < 12 {
        return Some(format!("{n} characters"));
    }
    if v.chars().all(|c| c.is_ascii_digit()) {
        return Some("digits only".into());
    }
    if v.chars().all(|c| c.is_ascii_lowercase()) {
        return Some("lower-case letters only".into());
    }
    None
}
