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

/// A new, empty PostgreSQL database next to `base`'s (named `prefix` and
/// this process's id): the admin pool, its name and its URL.
async fn fresh_database(base: &str, prefix: &str) -> (sqlx::PgPool, String, String) {
    let admin = sqlx::PgPool::connect(base).await.unwrap();
    let name = format!("{prefix}_{}", std::process::id());
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let (at, _) = base.rsplit_once('/').expect("a database in the URL");
    let url = format!("{at}/{name}");
    (admin, name, url)
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
    let (admin, name, url) = fresh_database(&base, "payops_migr").await;
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

/// The store the release before refusals (61ee378) wrote, through its
/// sandbox and CLI: a TurkPos refund refused by the provider's own checks
/// (`fx-turk-1`), eight refunds refused by the order guard while racing on
/// one order (`fx-race-1`..`8`), a refund to a closed port (`fx-down-1`),
/// all stored as `failed`; and one refund that succeeded (`fx-ok-1`).
const BEFORE_REFUSALS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/before-refusals.sqlite3"
);

/// What the migration must make of [`BEFORE_REFUSALS`]: refusals, not
/// failed operations, their keys free; the succeeded refund as it was.
async fn refusals_of_the_release_before_are_refusals(store: &Store) {
    use payops_store::{ListFilter, RefusalFilter};
    let failed = store
        .list(&ListFilter {
            states: vec![State::Failed],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failed.is_empty(), "no failed operation is left: {failed:?}");
    let all = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1, "only the succeeded refund is an operation");
    assert_eq!(all[0].idempotency_key.as_deref(), Some("fx-ok-1"));
    assert!(!store.events(&all[0].id).await.unwrap().is_empty());

    let refusals = store
        .list_refusals(&RefusalFilter::default())
        .await
        .unwrap();
    assert_eq!(refusals.len(), 10);
    let count = |reason: &str| refusals.iter().filter(|r| r.reason == reason).count();
    assert_eq!(count("conflict"), 8);
    assert_eq!(count("invalid_request"), 1);
    assert_eq!(count("unreachable"), 1);
    let turk = refusals
        .iter()
        .find(|r| r.idempotency_key.as_deref() == Some("fx-turk-1"))
        .unwrap();
    assert_eq!(turk.refusal_id, "rf_01a24d51f1f677c4a1d3c73dfe8be2b2");
    assert_eq!(turk.account, "turk-demo");
    assert_eq!(turk.error["code"], "invalid_request");
    assert_eq!(turk.error["reason"], "invalid_request");
    assert_eq!(turk.error["details"][0]["path"], "/marketplace_order_guid");
    assert_eq!(turk.order_ref.as_deref(), Some("TP-FX-1"));
    let down = refusals
        .iter()
        .find(|r| r.idempotency_key.as_deref() == Some("fx-down-1"))
        .unwrap();
    assert_eq!(down.error["code"], "unavailable");
    assert!(
        down.error["message"]
            .as_str()
            .unwrap()
            .contains("Connection refused")
    );
    // Their events went with them.
    assert!(
        store
            .events("op_01a24d51f1f677c4a1d3c73dfe8be2b2")
            .await
            .unwrap()
            .is_empty()
    );

    // The refused key is free: the corrected document runs under it.
    let corrected = NewOperation {
        id: "op_0195f0c0a1b27c3d8e9f0a1b2c3d4eaa".into(),
        account: "turk-demo".into(),
        provider: "turkpos".into(),
        operation: "refund".into(),
        idempotency_key: Some("fx-turk-1".into()),
        request: json!({"order_ref": "TP-FX-1", "amount": 100, "seller_payout_amount": 0, "marketplace_order_guid": "0c13d406-873b-403b-9c09-a5766840d98c"}),
        owner: "inst_test".into(),
        started_at: Utc::now(),
        actor: None,
        deadline: std::time::Duration::from_secs(300),
    };
    assert!(matches!(
        store.begin(&corrected).await.unwrap(),
        Begin::Created
    ));
    // The succeeded one still binds its key.
    let again = NewOperation {
        id: "op_0195f0c0a1b27c3d8e9f0a1b2c3d4ebb".into(),
        account: "esnek-demo".into(),
        provider: "esnekpos".into(),
        idempotency_key: Some("fx-ok-1".into()),
        request: json!({"order_ref": "DEMO-1001", "amount": 10}),
        ..corrected
    };
    assert!(matches!(
        store.begin(&again).await.unwrap(),
        Begin::Existing(_)
    ));
}

#[tokio::test]
async fn a_sqlite_store_with_refusals_stored_as_failed_migrates() {
    let dir = std::env::temp_dir().join(format!("payops-refusals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("before.db");
    std::fs::copy(BEFORE_REFUSALS, &db).unwrap();
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&url).await.unwrap();
    refusals_of_the_release_before_are_refusals(&store).await;
    drop(store);
    // Opening again moves nothing more.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.refusal_count().await.unwrap(), 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test]
async fn a_postgres_store_with_refusals_stored_as_failed_migrates() {
    let Some(base) = postgres_url() else { return };
    let (admin, name, url) = fresh_database(&base, "payops_refusals").await;
    {
        // The schema of the release before refusals, then its rows, copied
        // from the SQLite store it wrote.
        let pg = sqlx::PgPool::connect(&url).await.unwrap();
        payops_store::MIGRATOR
            .run_to(20261205000008, &pg)
            .await
            .unwrap();
        let lite = sqlx::SqlitePool::connect(&format!("sqlite://{BEFORE_REFUSALS}?mode=ro"))
            .await
            .unwrap();
        let text = [
            "id",
            "account",
            "provider",
            "operation",
            "idempotency_key",
            "request_sha256",
            "request",
            "state",
            "envelope",
            "owner",
            "created_at",
            "updated_at",
            "resolution",
            "order_ref",
            "actor",
        ];
        let numbers = ["deadline_ms", "reconcile_attempts", "next_reconcile_ms"];
        let columns: Vec<&str> = text.iter().chain(numbers.iter()).copied().collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO operations ({}) VALUES ({})",
            columns.join(", "),
            placeholders.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM operations",
            columns.join(", ")
        )))
        .fetch_all(&lite)
        .await
        .unwrap();
        assert_eq!(rows.len(), 11);
        for r in &rows {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for c in text {
                q = q.bind(r.get::<Option<String>, _>(c));
            }
            for c in numbers {
                q = q.bind(r.get::<Option<i64>, _>(c));
            }
            q.execute(&pg).await.unwrap();
        }
        let events =
            sqlx::query("SELECT operation_id, at, kind, detail, actor FROM operation_events")
                .fetch_all(&lite)
                .await
                .unwrap();
        for e in &events {
            sqlx::query("INSERT INTO operation_events (operation_id, at, kind, detail, actor) VALUES ($1, $2, $3, $4, $5)")
                .bind(e.get::<String, _>(0))
                .bind(e.get::<String, _>(1))
                .bind(e.get::<String, _>(2))
                .bind(e.get::<String, _>(3))
                .bind(e.get::<Option<String>, _>(4))
                .execute(&pg)
                .await
                .unwrap();
        }
        pg.close().await;
        lite.close().await;
    }
    // Two daemons opening at once: each marked row moves once.
    let (a, b) = tokio::join!(Store::open(&url), Store::open(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    refusals_of_the_release_before_are_refusals(&a).await;
    assert_eq!(b.refusal_count().await.unwrap(), 10);
    drop((a, b));
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}

/// A store a newer payops migrated (a migration this build does not know):
/// a clear error naming it, at once (the migrator could block on its own
/// lock on PostgreSQL).
async fn a_newer_store_is_refused(url: &str) {
    let store = Store::open(url).await.unwrap();
    store.close().await;
    let insert = "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (29991231000001, 'from the future', CURRENT_TIMESTAMP, TRUE, $1, 0)";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(insert)
            .bind(vec![0u8])
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(insert)
            .bind(vec![0u8])
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let e = tokio::time::timeout(std::time::Duration::from_secs(20), Store::open(url))
        .await
        .expect("an answer, not a hang")
        .unwrap_err();
    assert!(
        e.to_string().contains("migrated by a newer payops")
            && e.to_string().contains("29991231000001"),
        "{e}"
    );
}

#[tokio::test]
async fn a_sqlite_store_of_a_newer_payops_is_refused() {
    let dir = std::env::temp_dir().join(format!("payops-newer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    a_newer_store_is_refused(&format!("sqlite://{}", dir.join("n.db").display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test]
async fn a_postgres_store_of_a_newer_payops_is_refused() {
    let Some(base) = postgres_url() else { return };
    let (admin, name, url) = fresh_database(&base, "payops_newer").await;
    a_newer_store_is_refused(&url).await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}
