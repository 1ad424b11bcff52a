//! The daemon's listeners, bounded: a connection may take at most
//! [`Limits::header_read`] to send a request's headers (and may stay idle
//! that long between requests), at most [`Limits::body_read`] to send its
//! body, and at most [`Limits::max_connections`] connections are open at
//! once per listener (past it a new one is closed at once, before any byte
//! is read). A client that sends nothing, half its headers, or headers and
//! part of a body is closed instead of holding a file descriptor forever;
//! the daemon's file limit is shared with the store and provider calls.
//!
//! HTTP/1.1 on hyper, as `axum::serve` does, with hyper's header-read timer
//! on (axum's serve leaves it off) and graceful shutdown: on the signal,
//! no new connection is accepted and each open one finishes its request.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// A listener's bounds (`server.header_read_timeout_secs`,
/// `server.body_read_timeout_secs`, `server.max_connections`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time to send a request's headers, and to stay idle between requests.
    pub header_read: Duration,
    /// Time to send a request's body.
    pub body_read: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// `router` with the body-read timeout: a body that does not arrive in
/// time ends the request (408) and the connection.
pub(crate) fn bounded_router(router: Router, limits: Limits) -> Router {
    router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read,
    ))
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then waits for the open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    let mut refused: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(%peer, max = limits.max_connections, refused, "connection limit reached: new connections are closed");
            }
            drop(stream);
            continue;
        };
        // The peer's address for the handlers that count by it (sign-in).
        let service = hyper_util::service::TowerToHyperService::new(
            tower_http::add_extension::AddExtension::new(
                app.clone(),
                axum::extract::ConnectInfo(peer),
            ),
        );
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
