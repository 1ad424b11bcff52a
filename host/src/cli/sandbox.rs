//! `payops sandbox`: the daemon plus every provider's simulator on loopback
//! and demo accounts (no credentials needed).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use payops_core::AccountConfig;
use serde_json::{Value, json};

use super::{EXIT_CONFIG, EXIT_USAGE, Global, Mode, daemon, fail, setup};
use crate::config::{self, Account, TokenConfig};

/// Arguments of `payops sandbox`.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: Option<String>,
    /// The first port of the simulators on 127.0.0.1: the providers' (in
    /// `payops providers` order) take this port and the next ones. Default:
    /// ports the system picks.
    #[arg(long, value_name = "PORT")]
    pub sim_ports: Option<u16>,
}

/// A bearer token for this sandbox run: 122 random bits (UUID v4), hex.
fn sandbox_token() -> String {
    format!("sandbox-{}", uuid::Uuid::new_v4().simple())
}

/// Runs the sandbox until SIGTERM/SIGINT.
pub async fn run(g: &Global, a: &SandboxArgs) -> Result<ExitCode, ExitCode> {
    let s = setup(g, a.listen.as_ref(), "info")?;
    if s.registry.providers.is_empty() {
        return Err(fail(
            EXIT_CONFIG,
            format!(
                "no providers loaded; looked in {}: run `cargo build --workspace` first (the providers are cdylibs next to the payops binary), or install with `cargo xtask dist`",
                super::providers::search_path(&s.cfg.plugins.dirs)
            ),
        ));
    }
    // The sandbox serves its demo accounts only, behind its own token, on a
    // store of its own: never a config's real accounts, tokens or store.
    if !s.cfg.accounts.is_empty() || !s.cfg.tokens.is_empty() {
        eprintln!(
            "payops: sandbox: the config's {} account(s) and {} token(s) are not served (use `payops serve` for them)",
            s.cfg.accounts.len(),
            s.cfg.tokens.len()
        );
    }
    let mut accts = std::collections::BTreeMap::new();
    let mut servers = Vec::new();
    let mut examples = Vec::new();
    // The demo accounts whose provider posts to one URL per merchant:
    // (simulator, account, provider).
    let mut posting = Vec::new();
    for (i, (id, p)) in s.registry.providers.iter().enumerate() {
        let sim = p
            .simulator()
            .map_err(|e| fail(EXIT_CONFIG, format!("{id} simulator: {e}")))?;
        let demo = sim.demo_accounts();
        let port = match a.sim_ports {
            Some(first) => u16::try_from(usize::from(first) + i).map_err(|_| {
                fail(
                    EXIT_USAGE,
                    format!("--sim-ports {first}: no port for the {}th simulator", i + 1),
                )
            })?,
            None => 0,
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let server = payops_transport::SimServer::start(sim, addr)
            .await
            .map_err(|e| fail(EXIT_CONFIG, format!("{id} simulator on {addr}: {e}")))?;
        tracing::info!(provider = %id, url = %server.url(), "simulator serving");
        for (name, values) in demo.as_object().into_iter().flatten() {
            let mut map = values.as_object().cloned().unwrap_or_default();
            map.insert("base_url".into(), json!(server.url()));
            let schema = &p.info().account_schema;
            let secrets = p.info().secret_keys();
            let errs = config::schema_errors(schema, &Value::Object(map.clone()));
            if !errs.is_empty() {
                return Err(fail(
                    EXIT_CONFIG,
                    format!("{id} demo account {name} does not match its schema: {errs:?}"),
                ));
            }
            accts.insert(
                name.clone(),
                Account {
                    name: name.clone(),
                    provider: id.clone(),
                    config: AccountConfig::new(map, secrets),
                    limits: Default::default(),
                    order_freshness_secs: crate::config::DEFAULT_ORDER_FRESHNESS_SECS,
                    order_query: true,
                },
            );
            examples.push((name.clone(), id.clone()));
            if !p.info().account_callbacks.is_empty() {
                posting.push((servers.len(), name.clone(), id.clone()));
            }
        }
        servers.push(server);
    }
    let token = sandbox_token();
    let tokens = vec![TokenConfig {
        name: "sandbox".into(),
        token_sha256: crate::signing::sha256_hex(&token),
        accounts: vec!["*".into()],
        operations: vec!["*".into()],
        role: Some(crate::people::Role::Admin),
        resolve: true,
        override_open: true,
        max_amount_per_operation: None,
        max_amount_per_day: None,
    }];
    // A store of its own: never one a sandbox killed before left behind (a
    // process id alone is reused).
    let db = std::env::temp_dir().join(format!(
        "payops-sandbox-{}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let store_url = format!("sqlite://{}", db.display());
    let mut banner = format!(
        "sandbox token: {token}\nsandbox store: {} (removed when the sandbox stops)\ndemo accounts: {}\nconsole: http://{{addr}}/ui/ (sign in with the token)\n",
        db.display(),
        examples
            .iter()
            .map(|(n, p)| format!("{n} ({p})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if examples.iter().any(|(n, _)| n == "esnek-demo") {
        banner.push_str(&format!(
            "try (its Idempotency-Key makes a repeat of the line answer with the same refund, never a second one):\n  curl -s -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n    -H 'Idempotency-Key: try-DEMO-1001-500' \\\n    -d '{{\"order_ref\": \"DEMO-1001\", \"amount\": 500}}' \\\n    http://{{addr}}/v1/accounts/esnek-demo/operations/refund\n"
        ));
    }
    // The simulators' own posts (callbacks with asynchronous results),
    // delivered by the sandbox host: simulators stay sans-IO.
    let servers = Arc::new(servers);
    let ticking = servers.clone();
    let transport = payops_transport::ReqwestTransport::new().map_err(|e| fail(EXIT_CONFIG, e))?;
    let ticker = tokio::spawn(async move {
        use payops_core::HttpTransport;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            for server in ticking.iter() {
                for mut request in server.tick() {
                    request.timeout_ms = Some(10_000);
                    // Not the token (the URL's last segment) in logs.
                    let url = request
                        .url
                        .rsplit_once('/')
                        .map_or(String::new(), |(u, _)| u.to_owned());
                    match transport.send(request).await {
                        Ok(r) => {
                            tracing::info!(%url, status = r.status, "simulator callback delivered")
                        }
                        Err(e) => {
                            tracing::warn!(%url, error = %e, "simulator callback not delivered")
                        }
                    }
                }
            }
        }
    });
    // Once the daemon has its address: each simulator that posts to one
    // URL per merchant is given its demo account's (as a merchant sets it
    // in the provider's panel).
    let seeding = servers.clone();
    let ready = Box::new(move |engine: &crate::engine::Engine| {
        let Some(cb) = &engine.settings.callbacks else {
            return;
        };
        for (i, account, provider) in posting {
            let url = cb.account_url(&provider, &account);
            let seed = json!({ "account_callbacks": { &account: url } });
            if let Err(e) = seeding[i].with_sim(|sim| sim.seed(&seed)) {
                tracing::warn!(%provider, %account, error = %e, "simulator not told its callback URL");
            }
        }
    });
    let mode = Mode::Sandbox { banner, ready };
    let r = daemon(&s, accts, &store_url, tokens, mode).await;
    ticker.abort();
    drop(servers);
    for suffix in ["", "-wal", "-shm"] {
        let mut f = db.clone().into_os_string();
        f.push(suffix);
        let _ = std::fs::remove_file(f);
    }
    r
}
