//! Databases created by payops 0.1.0 (before `sqlx::migrate!`, no migration
//! table) open, adopt the migrations and keep their operations.

use chrono::Utc;
use payops_core::{Envelope, EnvelopeMeta, OperationKind, Outcome, Status};
use payops_store::{Begin, NewOperation, State, Store};
use serde_json::json;
use sqlx::Row;

/// The PostgreSQL URL, or `None` (a skip) outside CI; in CI it must be set.
fn postgres_url() -> Option<String> {
    match std::env::var("PAYOPS_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but PAYOPS_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)");
            None
        }
    }
}

/// Writes a new operation and finishes it, as the current release does.
async fn write_one(store: &Store, id: &str) {
    let op = NewOperation {
        id: id.into(),
        account: "acct".into(),
        provider: "esnekpos".into(),
        operation: "refund".into(),
        idempotency_key: Some(format!("k-{id}")),
        request: json!({"order_ref": "O-1", "amount": 500}),
        owner: "inst_test".into(),
        started_at: Utc::now(),
        actor: None,
        deadline: std::time::Duration::from_secs(300),
    };
    assert!(matches!(store.begin(&op).await.unwrap(), Begin::Created));
    let now = Utc::now().with_timezone(&payops_core::turkey_offset());
    let env = Envelope::new(
        EnvelopeMeta {
            operation_id: id.into(),
            account: "acct".into(),
            provider: "esnekpos".into(),
            operation: OperationKind::Refund,
            idempotency_key: op.idempotency_key.clone(),
            started_at: now,
        },
        Outcome::new(Status::Succeeded),
        now,
    );
    store.finish(id, &env).await.unwrap();
    assert_eq!(
        store.get(id).await.unwrap().unwrap().state,
        State::Succeeded
    );
}

#[tokio::test]
async fn a_sqlite_database_of_release_0_1_0_migrates() {
    let dir = std::env::temp_dir().join(format!("payops-migr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("old.db");
    // Made by payops 0.1.0's sandbox: one refund (key `fixture-1`) and one query.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v0.1.0.sqlite3"),
        &db,
    )
    .unwrap();
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&url).await.unwrap();
    // The ids of 0.1.0 (`op_` + 28 hex digits) are found as they were.
    let old = store
        .get("op_01a21356728def4c0e962e95c802")
        .await
        .unwrap()
        .expect("the 0.1.0 refund");
    assert_eq!(old.state, State::Succeeded);
    assert_eq!(old.idempotency_key.as_deref(), Some("fixture-1"));
    assert_eq!(old.request["order_ref"], "DEMO-1001");
    let env = old.envelope.expect("stored envelope");
    assert_eq!(env.provider_reference.as_deref(), Some("SIM00000009"));
    assert!(
        !store
            .events("op_01a21356728def4c0e962e95c802")
            .await
            .unwrap()
            .is_empty()
    );
    // The same key on the same account is still a duplicate.
    let dup = NewOperation {
        id: "op_new".into(),
        account: "esnek-demo".into(),
        provider: "esnekpos".into(),
        operation: "refund".into(),
        idempotency_key: Some("fixture-1".into()),
        request: json!({"order_ref": "DEMO-1001", "amount": 500}),
        owner: "inst_test".into(),
        started_at: Utc::now(),
        actor: None,
        deadline: std::time::Duration::from_secs(300),
    };
    assert!(matches!(
        store.begin(&dup).await.unwrap(),
        Begin::Existing(_)
    ));
    write_one(&store, "op_0195f0c0a1b27c3d8e9f0a1b2c3d4e5f").await;
    drop(store);

    // The migration is recorded once, and opening again changes nothing.
    let store = Store::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let applied: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i64> = payops_store::MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(applied, expected);
    assert!(
        store
            .get("op_01a21356728def4c0e962e95c802")
            .await
            .unwrap()
            .is_some()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DDL payops 0.1.0 ran by hand on PostgreSQL.
const V0_1_0_DDL: &[&str] = &[
    "CREATE TABLE operations (id TEXT PRIMARY KEY, account TEXT NOT NULL, provider TEXT NOT NULL, operation TEXT NOT NULL, idempotency_key TEXT, request_sha256 TEXT NOT NULL, request TEXT NOT NULL, state TEXT NOT NULL, envelope TEXT, owner TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolution TEXT)",
    "CREATE UNIQUE INDEX operations_idempotency ON operations (account, idempotency_key)",
    "CREATE INDEX operations_state ON operations (state)",
    "CREATE INDEX operations_created ON operations (created_at)",
    "CREATE TABLE operation_events (operation_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE INDEX operation_events_op ON operation_events (operation_id)",
    "CREATE TABLE instances (id TEXT PRIMARY KEY, heartbeat_ms BIGINT NOT NULL)",
];

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test]
async fn a_postgres_database_of_release_0_1_0_migrates() {
    let Some(base) = postgres_url() else { return };
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    let name = format!("payops_migr_{}", std::process::id());
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').expect("a database in the URL");
    let url = format!("{prefix}/{name}");
    {
        let old = sqlx::PgPool::connect(&url).await.unwrap();
        for stmt in V0_1_0_DDL {
            sqlx::query(*stmt).execute(&old).await.unwrap();
        }
        sqlx::query("INSERT INTO operations (id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution) VALUES ('op_01a21356728def4c0e962e95c802', 'acct', 'esnekpos', 'refund', 'k1', 'x', '{\"order_ref\":\"O-1\",\"amount\":500}', 'unknown', NULL, 'inst_old', '2026-11-25T15:32:42.253738Z', '2026-11-25T15:32:42.253738Z', NULL)")
            .execute(&old)
            .await
            .unwrap();
        old.close().await;
    }
    // Two daemons opening at once: the migrator's lock applies it once.
    let (a, b) = tokio::join!(Store::open(&url), Store::open(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let old = a
        .get("op_01a21356728def4c0e962e95c802")
        .await
        .unwrap()
        .expect("0.1.0 row");
    assert_eq!(old.state, State::Unknown);
    write_one(&b, "op_0195f0c0a1b27c3d8e9f0a1b2c3d4e5f").await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let n: i64 = sqlx::query("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, payops_store::MIGRATOR.iter().count());
    drop((a, b));
    pool.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}
