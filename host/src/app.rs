//! The daemon assembled in one place (in the spirit of zero2prod's
//! `Application::build`): from the resolved config's [`Settings`] and the
//! engine's parts it binds the listeners, builds the [`Engine`], the HTTP
//! routers and the background tasks (heartbeat, the deadline watchdog,
//! reconciliation, webhook delivery, the callback listener). Every task
//! runs on one [`TaskTracker`] and stops through one [`CancellationToken`];
//! the operations the engine runs are on the engine's tracker. Shutdown
//! waits on both trackers (bounded by the grace period), never polls.
//! `payops serve` and `payops sandbox` differ only by [`Settings::sandbox`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use payops_core::HttpTransport;
use payops_core::driver::PluginProvider;
use payops_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Account, Config, TokenConfig};
use crate::engine::{Engine, EngineSettings};
use crate::reconcile::Backoff;
use crate::server::AppState;
use crate::signing::Callbacks;

/// How the daemon runs, read from the config once.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The API's address (`server.listen`).
    pub listen: String,
    /// The callback listener's address, if apart from the API's.
    pub callback_listen: Option<String>,
    /// The largest request body.
    pub body_limit: usize,
    /// How long shutdown waits for in-flight operations.
    pub grace: Duration,
    /// The token `/metrics` requires, if any (SHA-256 hex).
    pub metrics_token_sha256: Option<String>,
    /// Origins that may read the schemas and the OpenAPI document.
    pub cors_origins: Vec<String>,
    /// After this long without a heartbeat, a daemon's operations are
    /// recovered by the others.
    pub instance_timeout: Duration,
    /// Periodic reconciliation; `None`: off.
    pub reconcile: Option<ReconcileSettings>,
    /// The sandbox: its simulators post their callbacks to the daemon
    /// itself, so callback URLs point at the API's own address unless the
    /// config gives a public URL.
    pub sandbox: bool,
    /// Each listener's connection limits.
    pub limits: crate::listener::Limits,
    /// `[auth]`.
    pub auth: crate::config::AuthConfig,
    /// `[auth.oidc]`, validated, its secret read.
    pub oidc: Option<crate::people::oidc::OidcSettings>,
}

/// The transport the OpenID client uses (the host's, plain: no retries).
fn people_transport() -> Result<Arc<dyn HttpTransport>, String> {
    payops_transport::ReqwestTransport::new()
        .map(|t| Arc::new(t) as Arc<dyn HttpTransport>)
        .map_err(|e| e.to_string())
}

/// Periodic reconciliation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReconcileSettings {
    /// Each unresolved operation's back-off.
    pub backoff: Backoff,
    /// Operations younger than this are left alone.
    pub min_age: Duration,
}

impl Settings {
    /// The daemon's settings from the config.
    pub(crate) fn from_config(cfg: &Config, sandbox: bool) -> Settings {
        let max = cfg.store.reconcile_interval_secs;
        let reconcile = (max > 0).then(|| ReconcileSettings {
            backoff: Backoff {
                first: Duration::from_secs(cfg.store.reconcile_first_secs.clamp(1, max)),
                max: Duration::from_secs(max),
            },
            min_age: Duration::from_secs(cfg.store.reconcile_min_age_secs),
        });
        Settings {
            listen: cfg.server.listen.clone(),
            callback_listen: cfg.server.callback_listen.clone(),
            body_limit: cfg.server.body_limit_bytes,
            grace: Duration::from_secs(cfg.server.shutdown_timeout_secs),
            metrics_token_sha256: cfg.server.metrics_token_sha256.clone(),
            cors_origins: cfg.server.cors_origins.clone(),
            instance_timeout: Duration::from_secs(cfg.store.instance_timeout_secs.max(1)),
            reconcile,
            sandbox,
            auth: cfg.auth.clone(),
            oidc: None,
            limits: crate::listener::Limits {
                header_read: Duration::from_secs(cfg.server.header_read_timeout_secs.max(1)),
                body_read: Duration::from_secs(cfg.server.body_read_timeout_secs.max(1)),
                max_connections: cfg.server.max_connections.max(1),
            },
        }
    }
}

/// What the engine is made of.
pub(crate) struct EngineParts {
    /// The loaded providers.
    pub providers: BTreeMap<String, Arc<PluginProvider>>,
    /// The resolved accounts.
    pub accounts: BTreeMap<String, Account>,
    /// The provider transport.
    pub transport: Arc<dyn HttpTransport>,
    /// The opened store.
    pub store: Store,
    /// The engine's settings.
    pub settings: EngineSettings,
}

/// The daemon, built and bound, not yet serving.
pub(crate) struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
    callbacks: Option<axum::Router>,
    tasks: TaskTracker,
    stop: CancellationToken,
    settings: Settings,
}

impl Application {
    /// Binds the listeners, builds the engine and starts the background
    /// tasks (recovery first: a daemon starts only once the operations of
    /// dead instances are `unknown`).
    pub async fn build(
        settings: Settings,
        mut parts: EngineParts,
        tokens: Vec<TokenConfig>,
    ) -> Result<Application, String> {
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        if settings.sandbox && parts.settings.callbacks.is_none() {
            parts.settings.callbacks = Some(Callbacks {
                public_url: format!("http://{addr}"),
                secrets: vec![uuid::Uuid::new_v4().simple().to_string()],
            });
        }
        let engine = Arc::new(Engine::new(
            parts.providers,
            parts.accounts,
            parts.transport,
            parts.store,
            parts.settings,
        )?);
        engine
            .store
            .heartbeat(&engine.instance)
            .await
            .map_err(|e| e.to_string())?;
        engine
            .recover(settings.instance_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        heartbeat(
            &tasks,
            stop.clone(),
            engine.store.clone(),
            engine.instance.clone(),
            settings.instance_timeout / 3,
        );
        watchdog(&tasks, stop.clone(), &engine, settings.instance_timeout);
        // Approved requests are sent (once, whichever daemon claims them),
        // overdue ones expired.
        crate::approving::spawn_worker(
            &tasks,
            stop.clone(),
            engine.clone(),
            std::time::Duration::from_secs(1),
        );
        if let Some(r) = settings.reconcile {
            reconciliation(&tasks, stop.clone(), &engine, settings.instance_timeout, r);
        }
        watching(&tasks, stop.clone(), &engine);
        // Webhooks go out through the plain transport: a receiver that got
        // the request may have acted, so only the outbox's own retries apply.
        let webhook_transport = payops_transport::ReqwestTransport::new()
            .map(|t| Arc::new(t) as Arc<dyn HttpTransport>)
            .map_err(|e| e.to_string())?;
        crate::webhooks::spawn(
            &tasks,
            stop.clone(),
            engine.store.clone(),
            engine.settings.webhooks.clone(),
            webhook_transport,
            engine.metrics.clone(),
        );
        // Provider callbacks: on their own listener when configured, else
        // on the API's.
        let mut callbacks = None;
        if engine.settings.callbacks.is_some() {
            let router = crate::server::callbacks::router(engine.clone());
            match &settings.callback_listen {
                Some(at) => {
                    let l = tokio::net::TcpListener::bind(at).await.map_err(|e| {
                        format!("cannot listen on {at} (server.callback_listen): {e}")
                    })?;
                    tracing::info!(addr = %at, "callbacks listening");
                    let stop = stop.clone();
                    let limits = settings.limits;
                    tasks.spawn(async move {
                        let router = crate::listener::bounded_router(router, limits);
                        let serving = crate::listener::serve(l, router, limits, async move {
                            stop.cancelled().await;
                        });
                        if let Err(e) = serving.await {
                            tracing::error!(error = %e, "callback listener stopped");
                        }
                    });
                }
                None => callbacks = Some(router),
            }
        }
        // OpenID Connect goes through the host's transport too.
        let oidc_transport = people_transport()?;
        let tree = crate::schemas::tree(engine.providers.values().map(|p| p.as_ref()));
        let state = AppState {
            engine,
            tokens: Arc::new(tokens),
            batches: Arc::default(),
            people: Arc::new(crate::server::state::PeopleState::new(
                &settings.auth,
                settings
                    .oidc
                    .clone()
                    .map(|o| crate::people::oidc::Oidc::new(o, oidc_transport.clone())),
            )),
            draining: Arc::new(AtomicBool::new(false)),
            schemas: Arc::new(tree),
            metrics_token_sha256: settings.metrics_token_sha256.clone().map(Arc::new),
            cors_origins: Arc::new(settings.cors_origins.clone()),
            ready: Default::default(),
        };
        Ok(Application {
            listener,
            addr,
            state,
            callbacks,
            tasks,
            stop,
            settings,
        })
    }

    /// The API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.state.engine
    }

    /// Serves until SIGTERM or SIGINT, then refuses new work, stops the
    /// background tasks and waits for the operations in flight (at most
    /// the grace period; past it the process exits 1).
    pub(crate) async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            listener,
            state,
            callbacks,
            tasks,
            stop,
            settings,
            ..
        } = self;
        let draining = state.draining.clone();
        let engine = state.engine.clone();
        let router = crate::server::router(state, settings.body_limit);
        let app = match callbacks {
            Some(r) => router.merge(r),
            None => router,
        };
        let grace = settings.grace;
        let shutdown = async move {
            crate::server::shutdown_signal().await;
            draining.store(true, Ordering::SeqCst);
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutdown requested: refusing new work, finishing in-flight operations"
            );
        };
        let app = crate::listener::bounded_router(app, settings.limits);
        crate::listener::serve(listener, app, settings.limits, shutdown).await?;
        // Operations run detached from their connections: wait for the ones
        // a client walked away from, and for the background tasks to stop.
        stop.cancel();
        tasks.close();
        engine.tasks.close();
        let all = async {
            engine.tasks.wait().await;
            tasks.wait().await;
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::error!(
                "in-flight operations did not finish within the shutdown timeout; exiting"
            );
            std::process::exit(1);
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Sleeps `every`, or returns false when `stop` is cancelled first.
async fn tick(stop: &CancellationToken, every: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(every) => true,
    }
}

/// The instance's heartbeat in the store, every `every` until `stop`.
pub fn heartbeat(
    tasks: &TaskTracker,
    stop: CancellationToken,
    store: Store,
    instance: String,
    every: Duration,
) {
    tasks.spawn(async move {
        while tick(&stop, every).await {
            if let Err(e) = store.heartbeat(&instance).await {
                tracing::warn!(error = %e, "store heartbeat failed");
            }
        }
    });
}

/// The watchdog: dead daemons' operations and operations in flight past
/// their deadline become `unknown`, listed for reconciliation.
fn watchdog(tasks: &TaskTracker, stop: CancellationToken, engine: &Arc<Engine>, timeout: Duration) {
    let engine = engine.clone();
    let every = (timeout / 3).clamp(Duration::from_secs(1), Duration::from_secs(10));
    tasks.spawn(async move {
        while tick(&stop, every).await {
            if let Err(e) = engine.recover(timeout).await {
                tracing::warn!(error = %e, "recovery failed");
            }
            if let Err(e) = engine.expire_overdue().await {
                tracing::warn!(error = %e, "deadline check failed");
            }
        }
    });
}

/// How often the daemon reads the figures an operator watches (gauges of
/// unresolved operations, waiting approvals, overdrawn orders).
pub const WATCH_EVERY: Duration = Duration::from_secs(15);

/// Reads the store's watched figures into the metrics every
/// [`WATCH_EVERY`] (at once first).
fn watching(tasks: &TaskTracker, stop: CancellationToken, engine: &Arc<Engine>) {
    let engine = engine.clone();
    tasks.spawn(async move {
        loop {
            match engine.store.watch().await {
                Ok(w) => engine.metrics.watch(&w, chrono::Utc::now()),
                Err(e) => {
                    engine.metrics.store_up.set(0);
                    tracing::warn!(error = %e, "reading the watched figures failed");
                }
            }
            if !tick(&stop, WATCH_EVERY).await {
                break;
            }
        }
    });
}

/// Periodic reconciliation: each pass looks only at the operations whose
/// back-off has passed.
fn reconciliation(
    tasks: &TaskTracker,
    stop: CancellationToken,
    engine: &Arc<Engine>,
    timeout: Duration,
    r: ReconcileSettings,
) {
    let engine = engine.clone();
    let every = r.backoff.first.min(Duration::from_secs(5));
    tasks.spawn(async move {
        while tick(&stop, every).await {
            if let Err(e) = engine.recover(timeout).await {
                tracing::warn!(error = %e, "recovery failed");
            }
            // A pass waits on providers' queries: shutdown does not wait for
            // it (each settlement is its own transaction; an unfinished one
            // is simply not written, and the next pass picks it up).
            let pass = crate::reconcile::run(&engine, None, r.min_age, Some(r.backoff));
            let result = tokio::select! {
                () = stop.cancelled() => break,
                result = pass => result,
            };
            match result {
                Ok(pass) => {
                    let list = &pass.examined;
                    let changed = list.iter().filter(|r| r.to.is_some()).count();
                    if !list.is_empty() {
                        tracing::info!(
                            examined = list.len(),
                            changed,
                            too_young = pass.too_young,
                            "reconciliation pass"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reconciliation failed"),
            }
        }
    });
}
