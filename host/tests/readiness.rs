//! `/readyz` answers whether operations can be recorded, through the real
//! binary on both stores: with the store unable to take a write (held by
//! another connection's exclusive lock, as a full disk or a read-only
//! database would leave it), the daemon is not ready (503 naming why) while
//! `/healthz` stays up; once the store takes writes again, it is ready.
//! (Before: `/readyz` said "ready" while every money operation answered 503
//! "nothing was sent".)

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use sqlx::Connection;

fn daemon(name: &str, dir: &Path, store: &str) -> Daemon {
    let path = TestConfig::new(dir)
        .store(store)
        .write(&dir.join("payops.toml"));
    Daemon::serve(name, &path, dir)
}

/// `/readyz`'s status within `within`, polled until it is `want`.
async fn ready_becomes(d: &Daemon, want: u16, within: Duration) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + within;
    loop {
        let (s, v) = http("GET", &format!("{}/readyz", d.url), None, None).await;
        if s == want || Instant::now() > deadline {
            return (s, v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn readiness_follows_the_stores_writes(store: &str, lock: &str, unlock: &str) {
    let dir = temp_dir(&unique("readyz"));
    let d = daemon("readyz", &dir, store);
    let (s, _) = ready_becomes(&d, 200, Duration::from_secs(10)).await;
    assert_eq!(s, 200);
    let mut blocker = sqlx::AnyConnection::connect(store).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
        .execute(&mut blocker)
        .await
        .unwrap();
    let (s, v) = ready_becomes(&d, 503, Duration::from_secs(15)).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("store"),
        "{v}"
    );
    let (s, _) = http("GET", &format!("{}/healthz", d.url), None, None).await;
    assert_eq!(s, 200, "alive, only not ready");
    sqlx::raw_sql(sqlx::AssertSqlSafe(unlock))
        .execute(&mut blocker)
        .await
        .unwrap();
    let (s, v) = ready_becomes(&d, 200, Duration::from_secs(15)).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_the_stores_writes_sqlite() {
    sqlx::any::install_default_drivers();
    let dir = temp_dir(&unique("readyz-db"));
    readiness_follows_the_stores_writes(&sqlite_url(&dir), "BEGIN EXCLUSIVE", "COMMIT").await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_the_stores_writes_postgres() {
    sqlx::any::install_default_drivers();
    let url = pg_url().unwrap();
    readiness_follows_the_stores_writes(
        &url,
        "BEGIN; LOCK TABLE instances IN ACCESS EXCLUSIVE MODE",
        "COMMIT",
    )
    .await;
}
