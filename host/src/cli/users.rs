//! `payops users add | list | disable | enable | passwd`: the local users
//! who sign in to the console (argon2id hashes in the store), and the
//! people an OpenID provider signed in (listed, disabled, enabled).
//!
//! The password is read from standard input when it is not a terminal
//! (`--password-stdin` insists), else asked twice without echo.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Subcommand;

use super::{EXIT_CONFIG, EXIT_USAGE, Global, Output, fail, setup};
use crate::people::Role;
use crate::people::password;

/// `payops users` actions.
#[derive(Subcommand, Debug)]
pub enum UsersAction {
    /// Add a local user (the password from stdin, or asked twice).
    Add {
        /// The user name they sign in with (letters, digits, `.`, `_`,
        /// `-`, `@`; case does not matter).
        name: String,
        /// Their role: viewer, operator, approver, admin.
        #[arg(long)]
        role: Role,
        /// The accounts of their role (repeatable; `*` for all).
        #[arg(long = "accounts", num_args = 1.., required = true)]
        accounts: Vec<String>,
        /// The name shown for them (default: the user name).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Everyone: local users and the people an OpenID provider signed in.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Disable someone: they cannot sign in, and their sessions end.
    Disable {
        /// A local user's name, or an actor (`user:NAME`, `oidc:ISSUER#SUBJECT`).
        who: String,
    },
    /// Enable someone disabled.
    Enable {
        /// A local user's name, or an actor.
        who: String,
    },
    /// Set a local user's password (their sessions end).
    Passwd {
        /// The user name.
        name: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A local user's actor from their name, checked and lowercased.
fn user_actor(name: &str) -> Result<String, ExitCode> {
    let name = name.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c));
    if !ok {
        return Err(fail(
            EXIT_USAGE,
            format!("{name:?} is not a user name: 1 to 64 letters, digits, '.', '_', '-' or '@'"),
        ));
    }
    Ok(format!("user:{name}"))
}

/// `who` as an actor: an actor as given, else a local user's name.
fn actor_of(who: &str) -> Result<String, ExitCode> {
    if who.starts_with("user:") || who.starts_with("oidc:") {
        Ok(who.to_owned())
    } else {
        user_actor(who)
    }
}

/// The new password: one line of stdin, or asked twice at the terminal.
fn new_password(from_stdin: bool) -> Result<String, ExitCode> {
    let pw = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail(EXIT_USAGE, format!("cannot read the password: {e}")))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let a = rpassword::prompt_password("Password: ")
            .map_err(|e| fail(EXIT_USAGE, format!("cannot read the password: {e}")))?;
        let b = rpassword::prompt_password("Again: ")
            .map_err(|e| fail(EXIT_USAGE, format!("cannot read the password: {e}")))?;
        if a != b {
            return Err(fail(EXIT_USAGE, "the two passwords differ"));
        }
        a
    };
    password::check_new(&pw).map_err(|e| fail(EXIT_USAGE, e))?;
    Ok(pw)
}

/// Runs `payops users ACTION`.
pub async fn run(g: &Global, action: &UsersAction) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let url = &s.cfg.store.url;
    let redacted = crate::config::redact_url(url);
    let store = match action {
        // Users may be added before the daemon first ran.
        UsersAction::Add { .. } => payops_store::Store::open(url).await,
        _ => payops_store::Store::open_existing(url).await,
    }
    .map_err(|e| fail(EXIT_CONFIG, format!("{e} ({redacted})")))?;
    let store_err = |e: payops_store::StoreError| fail(EXIT_CONFIG, e);
    match action {
        UsersAction::Add {
            name,
            role,
            accounts,
            display_name,
            password_stdin,
        } => {
            let actor = user_actor(name)?;
            if *role == Role::Admin && !accounts.iter().any(|a| a == "*") {
                eprintln!(
                    "payops: warning: an admin manages people only over every account (--accounts '*'); this one has the approver's rights on its accounts"
                );
            }
            let pw = new_password(*password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            let shown = display_name
                .clone()
                .unwrap_or_else(|| actor.trim_start_matches("user:").to_owned());
            if !store
                .add_local_user(&actor, &shown, &hash, role.as_str(), accounts)
                .await
                .map_err(store_err)?
            {
                return Err(fail(
                    EXIT_USAGE,
                    format!("{actor} exists (payops users passwd to change the password)"),
                ));
            }
            println!("added {actor} ({role} on {})", accounts.join(", "));
        }
        UsersAction::List { output } => {
            let people = store.people().await.map_err(store_err)?;
            match output {
                Output::Json => {
                    for p in &people {
                        println!("{}", serde_json::to_string(p).expect("a person serializes"));
                    }
                }
                Output::Text => {
                    if people.is_empty() {
                        println!(
                            "nobody yet: payops users add NAME --role ROLE --accounts ACCOUNT"
                        );
                    }
                    for p in &people {
                        let role = match &p.role {
                            Some(r) => format!("{r} on {}", p.accounts.join(",")),
                            None => "roles from the identity provider".into(),
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            p.actor,
                            p.display_name,
                            role,
                            if p.disabled { "disabled" } else { "enabled" },
                            p.last_sign_in_at.as_deref().unwrap_or("never signed in"),
                        );
                    }
                }
            }
        }
        UsersAction::Disable { who } | UsersAction::Enable { who } => {
            let disable = matches!(action, UsersAction::Disable { .. });
            let actor = actor_of(who)?;
            if !store
                .set_disabled(&actor, disable)
                .await
                .map_err(store_err)?
            {
                return Err(fail(EXIT_USAGE, format!("nobody is {actor}")));
            }
            println!(
                "{actor} {}",
                if disable {
                    "disabled; their sessions have ended"
                } else {
                    "enabled"
                }
            );
        }
        UsersAction::Passwd {
            name,
            password_stdin,
        } => {
            let actor = user_actor(name)?;
            let known = store.person(&actor).await.map_err(store_err)?;
            if known.is_none_or(|p| p.kind != "local") {
                return Err(fail(EXIT_USAGE, format!("no local user {actor}")));
            }
            let pw = new_password(*password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            store.set_password(&actor, &hash).await.map_err(store_err)?;
            println!("password of {actor} set; their sessions have ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}
