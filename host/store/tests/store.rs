//! The same tests on SQLite (always) and PostgreSQL (when
//! `PAYOPS_TEST_POSTGRES_URL` is set; `.ci/run` sets it).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use payops_core::{Envelope, EnvelopeMeta, OperationKind, Outcome, Status};
use payops_store::{Begin, ListFilter, NewOperation, Settle, Settlement, State, Store};
use serde_json::json;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    )
}

fn intent(
    id: &str,
    account: &str,
    key: Option<&str>,
    doc: serde_json::Value,
    owner: &str,
) -> NewOperation {
    NewOperation {
        id: id.into(),
        account: account.into(),
        provider: "esnekpos".into(),
        operation: "refund".into(),
        idempotency_key: key.map(str::to_owned),
        request: doc,
        owner: owner.into(),
        started_at: Utc::now(),
        actor: None,
        deadline: std::time::Duration::from_secs(300),
    }
}

fn envelope(id: &str, account: &str, status: Status) -> Envelope {
    let now = payops_core::chrono::Utc::now().with_timezone(&payops_core::turkey_offset());
    let mut o = Outcome::new(status);
    o.provider_reference = Some("REF-1".into());
    o.raw = json!({"RETURN_CODE": "0", "nested": {"ş": [1, 2]}});
    Envelope::new(
        EnvelopeMeta {
            operation_id: id.into(),
            account: account.into(),
            provider: "esnekpos".into(),
            operation: OperationKind::Refund,
            idempotency_key: Some("k".into()),
            started_at: now,
        },
        o,
        now,
    )
}

async fn suite(url: &str) {
    let store = Store::open(url).await.unwrap();
    // Opened, hence migrated: the next command finds it current and does
    // no migration work.
    assert!(store.schema_current().await);
    let acct = unique("acct");
    let doc = json!({"order_ref": "A1", "amount": 500});

    // Record, finish, read back.
    let id = unique("op");
    assert!(matches!(
        store
            .begin(&intent(&id, &acct, Some("k1"), doc.clone(), "me"))
            .await
            .unwrap(),
        Begin::Created
    ));
    let got = store.get(&id).await.unwrap().unwrap();
    assert_eq!(got.state, State::InFlight);
    let env = envelope(&id, &acct, Status::Succeeded);
    assert!(store.finish(&id, &env).await.unwrap());
    let got = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.envelope.as_ref()),
        (State::Succeeded, Some(&env))
    );
    // The same answer written again (its first commit reported failed
    // though it happened, and the engine retried): applied, no second
    // event. Another answer: late, with its event.
    assert!(
        store.finish(&id, &env).await.unwrap(),
        "the same answer again"
    );
    assert!(
        !store
            .finish(&id, &envelope(&id, &acct, Status::Failed))
            .await
            .unwrap(),
        "finished once"
    );
    let finished: Vec<String> = store
        .events(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "finished")
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        finished,
        ["status succeeded", "status failed (late: not applied)"]
    );

    // Same key, same document (keys in another order): existing; other document: conflict.
    let again = store
        .begin(&intent(
            &unique("op"),
            &acct,
            Some("k1"),
            json!({"amount": 500, "order_ref": "A1"}),
            "me",
        ))
        .await
        .unwrap();
    match again {
        Begin::Existing(op) => assert_eq!(op.envelope.as_ref(), Some(&env)),
        other => panic!("{other:?}"),
    }
    let other = store
        .begin(&intent(
            &unique("op"),
            &acct,
            Some("k1"),
            json!({"order_ref": "A1", "amount": 501}),
            "me",
        ))
        .await
        .unwrap();
    assert!(matches!(other, Begin::Conflict(_)));
    // Keys are scoped per account; no key never conflicts.
    assert!(matches!(
        store
            .begin(&intent(
                &unique("op"),
                &unique("acct"),
                Some("k1"),
                doc.clone(),
                "me"
            ))
            .await
            .unwrap(),
        Begin::Created
    ));
    assert!(matches!(
        store
            .begin(&intent(&unique("op"), &acct, None, doc.clone(), "me"))
            .await
            .unwrap(),
        Begin::Created
    ));
    assert!(matches!(
        store
            .begin(&intent(&unique("op"), &acct, None, doc.clone(), "me"))
            .await
            .unwrap(),
        Begin::Created
    ));

    // 200 concurrent intents with one key: exactly one is created.
    let store2 = Arc::new(store.clone());
    let key = unique("k");
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (s, a, k, d) = (store2.clone(), acct.clone(), key.clone(), doc.clone());
        tasks.push(tokio::spawn(async move {
            s.begin(&intent(&unique("op"), &a, Some(&k), d, "me"))
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Begin::Created => created += 1,
            Begin::Existing(_) => {}
            Begin::Conflict(c) => panic!("conflict {c:?}"),
        }
    }
    assert_eq!(created, 1);

    // Taken keys and new ones mixed (sharing group commits on SQLite): a
    // taken key fails its own write only.
    let shared = unique("k");
    let mixed = unique("acct");
    let before = store2.group_commits();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (s, a, d) = (store2.clone(), mixed.clone(), doc.clone());
        let k = if i % 2 == 0 {
            shared.clone()
        } else {
            unique("k")
        };
        tasks.push(tokio::spawn(async move {
            let id = unique("op");
            let r = s.begin(&intent(&id, &a, Some(&k), d, "me")).await.unwrap();
            (i, id, r)
        }));
    }
    let mut created_shared = 0;
    for t in tasks {
        let (i, id, r) = t.await.unwrap();
        match (i % 2, r) {
            (0, Begin::Created) => created_shared += 1,
            (0, Begin::Existing(_)) => {}
            (1, Begin::Created) => assert!(store.get(&id).await.unwrap().is_some()),
            (_, other) => panic!("write {i}: {other:?}"),
        }
    }
    assert_eq!(created_shared, 1);
    // The 51 intents written (the 50 taken keys write nothing and are not
    // counted) shared commits (SQLite transactions, PostgreSQL statements).
    let (c0, w0) = before.expect("a group-commit writer");
    let (c1, w1) = store2.group_commits().expect("a group-commit writer");
    let (commits, writes) = (c1 - c0, w1 - w0);
    assert_eq!(writes, 51, "{commits} commits");
    assert!(commits < writes, "{commits} commits for {writes} writes");

    // A write the database refuses for its own reason (PostgreSQL takes no
    // NUL in text; SQLite does) fails alone: the others sharing its batch
    // are written.
    let odd = unique("acct");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (s, a, d) = (store2.clone(), odd.clone(), doc.clone());
        let k = if i == 20 {
            "nul\0key".to_owned()
        } else {
            unique("k")
        };
        tasks.push(tokio::spawn(async move {
            let id = unique("op");
            (
                i,
                id.clone(),
                s.begin(&intent(&id, &a, Some(&k), d, "me")).await,
            )
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            (20, _, r) => assert!(
                matches!(r, Ok(Begin::Created)) || (url.starts_with("postgres") && r.is_err()),
                "{r:?}"
            ),
            (i, id, r) => {
                assert!(matches!(r, Ok(Begin::Created)), "write {i}: {r:?}");
                assert!(store.get(&id).await.unwrap().is_some());
            }
        }
    }

    // Recovery: a dead owner's in-flight operation becomes unknown; a live one's does not.
    let dead = unique("op");
    let live = unique("op");
    store
        .begin(&intent(&dead, &acct, None, doc.clone(), "dead-instance"))
        .await
        .unwrap();
    store.heartbeat("live-instance").await.unwrap();
    store
        .begin(&intent(&live, &acct, None, doc.clone(), "live-instance"))
        .await
        .unwrap();
    let a2 = acct.clone();
    let recovered = store
        .recover("me", Duration::from_secs(30), |op| {
            envelope(&op.id, &a2, Status::Unknown)
        })
        .await
        .unwrap();
    assert!(recovered.contains(&dead), "{recovered:?}");
    assert!(!recovered.contains(&live));
    assert_eq!(
        store.get(&dead).await.unwrap().unwrap().state,
        State::Unknown
    );
    assert_eq!(
        store.get(&live).await.unwrap().unwrap().state,
        State::InFlight
    );
    assert!(
        !store.finish(&dead, &env).await.unwrap(),
        "a late answer never overwrites a recovered unknown"
    );
    // Reconciliation replaces it once, recording how.
    assert!(
        store
            .resolve(
                &dead,
                State::Unknown,
                &envelope(&dead, &acct, Status::Failed),
                "no matching transaction"
            )
            .await
            .unwrap()
    );
    let r = store.get(&dead).await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.resolution.as_deref()),
        (State::Failed, Some("no matching transaction"))
    );
    let kinds: Vec<String> = store
        .events(&dead)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec!["recorded", "recovered", "finished", "reconciled"]
    );
    let late = store.events(&dead).await.unwrap();
    assert!(
        late[2].detail.ends_with("(late: not applied)"),
        "the late answer is recorded as not applied: {late:?}"
    );

    // Listing with filters.
    let unknown = store
        .list(&ListFilter {
            account: Some(acct.clone()),
            states: vec![State::InFlight],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        unknown
            .iter()
            .all(|o| o.state == State::InFlight && o.account == acct)
    );
    assert!(unknown.iter().any(|o| o.id == live));
    let all = store
        .list(&ListFilter {
            account: Some(acct.clone()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        6,
        "k1, two without key, the concurrent one, dead, live"
    );
    let none = store
        .list(&ListFilter {
            account: Some(acct.clone()),
            since: Some(Utc::now() + chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    store.close().await;

    // Everything survives a reopen.
    let store = Store::open(url).await.unwrap();
    let got = store.get(&id).await.unwrap().unwrap();
    assert_eq!(got.envelope.as_ref(), Some(&env));
    assert_eq!(got.request, doc);

    // Search: by id, by order, by the provider's reference (exact, as the
    // answer names it; `%` and `_` are not wildcards).
    let by = |f: ListFilter| {
        let store = store.clone();
        async move {
            store
                .list(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
        }
    };
    let mine = |f: ListFilter| ListFilter {
        account: Some(acct.clone()),
        ..f
    };
    assert_eq!(
        by(mine(ListFilter {
            search: Some(id.clone()),
            ..Default::default()
        }))
        .await,
        vec![id.clone()]
    );
    assert!(
        by(mine(ListFilter {
            search: Some("A1".into()),
            ..Default::default()
        }))
        .await
        .contains(&id)
    );
    assert!(
        by(mine(ListFilter {
            search: Some("REF-1".into()),
            ..Default::default()
        }))
        .await
        .contains(&id)
    );
    assert!(
        by(mine(ListFilter {
            provider_reference: Some("REF-1".into()),
            ..Default::default()
        }))
        .await
        .contains(&id)
    );
    assert!(
        by(mine(ListFilter {
            provider_reference: Some("REF-%".into()),
            ..Default::default()
        }))
        .await
        .is_empty()
    );
    assert!(
        by(mine(ListFilter {
            provider_reference: Some("REF-".into()),
            ..Default::default()
        }))
        .await
        .is_empty()
    );
    assert!(
        by(mine(ListFilter {
            order_ref: Some("A1".into()),
            ..Default::default()
        }))
        .await
        .contains(&id)
    );
    assert!(
        by(mine(ListFilter {
            order_ref: Some("A".into()),
            ..Default::default()
        }))
        .await
        .is_empty()
    );

    // What an operator watches: an unknown operation counts under its
    // account, with its age; none of this account is overdrawn.
    let watch_acct = unique("watch");
    let watched = unique("op");
    store
        .begin(&intent(
            &watched,
            &watch_acct,
            None,
            json!({"order_ref": "W1", "amount": 100}),
            "me",
        ))
        .await
        .unwrap();
    assert!(
        store
            .finish(&watched, &envelope(&watched, &watch_acct, Status::Unknown))
            .await
            .unwrap()
    );
    let w = store.watch().await.unwrap();
    let mine: Vec<&payops_store::Backlog> = w
        .unresolved
        .iter()
        .filter(|b| b.account == watch_acct)
        .collect();
    assert_eq!(mine.len(), 1, "{w:?}");
    assert_eq!((mine[0].state.as_str(), mine[0].count), ("unknown", 1));
    assert!(
        mine[0]
            .oldest
            .is_some_and(|t| (Utc::now() - t).num_seconds().abs() < 60),
        "{w:?}"
    );
    assert!(!w.overdrawn.iter().any(|(a, _)| *a == watch_acct));
    // An order whose returns outside payops exceed what was paid counts.
    store
        .set_order_money(
            &watch_acct,
            "W2",
            &payops_store::PaidFacts {
                currency: "TRY".into(),
                paid: 1_000,
                read_ms: 1,
                by: "op_query".into(),
            },
            1_500,
        )
        .await
        .unwrap();
    let w = store.watch().await.unwrap();
    assert!(
        w.overdrawn.contains(&(watch_acct.clone(), 1)),
        "{:?}",
        w.overdrawn
    );

    // The day's money counts refunds, cancels and returns that did not
    // fail (a return was left out of the daily limits once).
    let since = Utc::now() - chrono::Duration::minutes(1);
    let day_acct = unique("day");
    let refund = unique("op");
    store
        .begin(&intent(
            &refund,
            &day_acct,
            None,
            json!({"order_ref": "A2", "amount": 500}),
            "me",
        ))
        .await
        .unwrap();
    let ret = unique("op");
    let mut r = intent(
        &ret,
        &day_acct,
        None,
        json!({"order_ref": "A2", "amount": 700}),
        "me",
    );
    r.operation = "return".into();
    store.begin(&r).await.unwrap();
    let q = unique("op");
    let mut query = intent(&q, &day_acct, None, json!({"order_ref": "A2"}), "me");
    query.operation = "query".into();
    store.begin(&query).await.unwrap();
    let mut day: Vec<(String, i64)> = store
        .money_since(Some(&day_acct), None, since)
        .await
        .unwrap();
    day.sort();
    let mut want = vec![(refund, 500), (ret.clone(), 700)];
    want.sort();
    assert_eq!(day, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let dir = std::env::temp_dir().join(unique("payops-store"));
    std::fs::create_dir_all(&dir).unwrap();
    suite(&format!("sqlite://{}", dir.join("payops.db").display())).await;
    claims_and_deadlines(&format!("sqlite://{}", dir.join("payops.db").display())).await;
    outbox(&format!("sqlite://{}", dir.join("payops.db").display())).await;
    reservations(&format!("sqlite://{}", dir.join("payops.db").display())).await;
    // Durability never below the cheapest durable baseline: WAL with
    // synchronous=FULL (2) on every connection.
    let store = Store::open(&format!("sqlite://{}", dir.join("payops.db").display()))
        .await
        .unwrap();
    for _ in 0..4 {
        let (journal, sync) = store.sqlite_durability().await.unwrap().unwrap();
        assert_eq!((journal.as_str(), sync), ("wal", 2));
    }
    assert!(dir.join("payops.db-wal").exists() || dir.join("payops.db").exists());
}

/// The quick "schema current" check never skips what the migrator would
/// refuse: a changed checksum sends the open through the migrator, which
/// names the mismatch.
#[tokio::test]
async fn a_changed_migration_is_not_taken_for_current() {
    let dir = std::env::temp_dir().join(unique("payops-store-mig"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("payops.db").display());
    let store = Store::open(&url).await.unwrap();
    assert!(store.schema_current().await);
    store.close().await;
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let e = Store::open(&url).await.unwrap_err();
    assert!(e.to_string().contains("migrat"), "{e}");
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    match std::env::var("PAYOPS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            suite(&url).await;
            claims_and_deadlines(&url).await;
            outbox(&url).await;
            reservations(&url).await;
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but PAYOPS_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL store tests (set PAYOPS_TEST_POSTGRES_URL=postgres://…)")
        }
    }
}

#[tokio::test]
async fn bad_urls_are_refused() {
    let e = Store::open("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("sqlite://"), "{e}");
    // An in-memory store would lose every intent with the process.
    for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite://"] {
        let e = Store::open(url).await.unwrap_err();
        assert!(e.to_string().contains("name a file"), "{url}: {e}");
    }
}

/// Two settlements racing for one provider transaction: exactly one wins.
/// An operation past its store-clock deadline becomes unknown.
async fn claims_and_deadlines(url: &str) {
    let a = Arc::new(Store::open(url).await.unwrap());
    let b = Arc::new(Store::open(url).await.unwrap());
    let acct = unique("claims");
    let order = unique("order");
    let scope = unique("esnekpos:M1");
    let mut ids = Vec::new();
    for i in 0..2 {
        let id = unique(&format!("op{i}"));
        let op = intent(
            &id,
            &acct,
            None,
            json!({"order_ref": order, "amount": 500}),
            "inst",
        );
        assert!(matches!(a.begin(&op).await.unwrap(), Begin::Created));
        assert!(
            a.finish(&id, &envelope(&id, &acct, Status::Unknown))
                .await
                .unwrap()
        );
        ids.push(id);
    }
    let on_order = a.on_order(&acct, &order).await.unwrap();
    assert_eq!(on_order.len(), 2);
    assert_eq!(on_order[0].order_ref.as_deref(), Some(order.as_str()));
    let env = |id: &str| envelope(id, &acct, Status::Succeeded);
    let (e0, e1) = (env(&ids[0]), env(&ids[1]));
    let (s0, s1) = (settlement(&e0, &scope), settlement(&e1, &scope));
    let (r0, r1) = tokio::join!(a.settle(&ids[0], &s0), b.settle(&ids[1], &s1));
    let results = [r0.unwrap(), r1.unwrap()];
    let done = results.iter().filter(|r| **r == Settle::Done).count();
    assert_eq!(done, 1, "{results:?}");
    assert!(
        results.iter().any(|r| matches!(r, Settle::Claimed(_))),
        "{results:?}"
    );
    let states: Vec<State> = futures_states(&a, &ids).await;
    assert_eq!(
        states.iter().filter(|s| **s == State::Succeeded).count(),
        1,
        "{states:?}"
    );
    let claims = a.claims(&scope, &["9".into(), "10".into()]).await.unwrap();
    assert_eq!(claims.len(), 1);

    // A deadline of 0 ms: overdue at once, on the store's clock.
    let id = unique("overdue");
    let mut op = intent(&id, &acct, None, json!({"order_ref": order}), "inst-alive");
    op.deadline = Duration::from_millis(1);
    assert!(matches!(a.begin(&op).await.unwrap(), Begin::Created));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let expired = a
        .expire_overdue(|o| envelope(&o.id, &o.account, Status::Unknown))
        .await
        .unwrap();
    assert!(expired.contains(&id), "{expired:?}");
    assert_eq!(a.get(&id).await.unwrap().unwrap().state, State::Unknown);
    let now = a.now_ms().await.unwrap();
    assert!((now - Utc::now().timestamp_millis()).abs() < 60_000);
}

fn settlement<'a>(env: &'a payops_core::Envelope, scope: &'a str) -> Settlement<'a> {
    Settlement {
        from: State::Unknown,
        envelope: env,
        how: "row 9",
        claim: Some((scope, "9")),
        kind: "reconciled",
        actor: None,
    }
}

async fn futures_states(store: &Store, ids: &[String]) -> Vec<State> {
    let mut out = Vec::new();
    for id in ids {
        out.push(store.get(id).await.unwrap().unwrap().state);
    }
    out
}

/// With CI=true the PostgreSQL tests must run, not be ignored.
#[test]
fn postgres_tests_are_not_ignored_in_ci() {
    if std::env::var("CI").as_deref() == Ok("true") && !cfg!(payops_postgres) {
        panic!("CI=true but the PostgreSQL tests were built ignored: set PAYOPS_TEST_POSTGRES_URL");
    }
}

/// Every status change writes its event in the same transaction, one row
/// per webhook that wants it; two deliverers never take the same row in
/// one round; attempts are recorded; a redelivery makes it due again.
async fn outbox(url: &str) {
    use payops_store::{AttemptResult, DeliveryState, WebhookRoute};
    let acct = unique("hooks");
    let routes = vec![
        WebhookRoute {
            name: unique("all"),
            events: vec!["*".into()],
            accounts: vec![acct.clone()],
        },
        WebhookRoute {
            name: unique("settled"),
            events: vec!["operation.settled".into()],
            accounts: vec!["*".into()],
        },
    ];
    let a = Arc::new(
        Store::open(url)
            .await
            .unwrap()
            .with_webhooks(routes.clone()),
    );
    let b = Arc::new(
        Store::open(url)
            .await
            .unwrap()
            .with_webhooks(routes.clone()),
    );
    let id = unique("hooked");
    let op = intent(
        &id,
        &acct,
        None,
        json!({"order_ref": "H-1", "amount": 5}),
        "i",
    );
    assert!(matches!(a.begin(&op).await.unwrap(), Begin::Created));
    // in_flight -> unknown: one event, for the "*" webhook only.
    assert!(
        a.finish(&id, &envelope(&id, &acct, Status::Unknown))
            .await
            .unwrap()
    );
    // unknown -> succeeded: operation.succeeded, settled: both webhooks.
    let done = envelope(&id, &acct, Status::Succeeded);
    let s = Settlement {
        from: State::Unknown,
        envelope: &done,
        how: "row 1",
        claim: None,
        kind: "reconciled",
        actor: None,
    };
    assert_eq!(a.settle(&id, &s).await.unwrap(), Settle::Done);
    // A change that did not happen (stale) writes nothing.
    assert_eq!(a.settle(&id, &s).await.unwrap(), Settle::Stale);
    let mine: Vec<_> = a
        .deliveries(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.operation_id == id)
        .collect();
    assert_eq!(mine.len(), 3, "{mine:?}");
    let types: Vec<(&str, &str)> = mine
        .iter()
        .map(|d| (d.event_type.as_str(), d.webhook.as_str()))
        .collect();
    assert!(
        types.contains(&("operation.unknown", routes[0].name.as_str())),
        "{types:?}"
    );
    assert!(
        types.contains(&("operation.succeeded", routes[0].name.as_str())),
        "{types:?}"
    );
    assert!(
        types.contains(&("operation.succeeded", routes[1].name.as_str())),
        "{types:?}"
    );
    let settled = mine.iter().find(|d| d.webhook == routes[1].name).unwrap();
    assert_eq!(settled.payload["settled"], json!(true));
    assert_eq!(settled.payload["data"]["status"], json!("succeeded"));
    assert_eq!(settled.payload["id"], json!(settled.event_id));
    // The same event id for both webhooks.
    let same: Vec<_> = mine
        .iter()
        .filter(|d| d.event_id == settled.event_id)
        .collect();
    assert_eq!(same.len(), 2);

    // Two deliverers claim at once: each of this test's rows goes to one.
    let (ca, cb) = tokio::join!(
        a.claim_deliveries(10_000, 60_000),
        b.claim_deliveries(10_000, 60_000)
    );
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    let count = |v: &Vec<payops_store::Delivery>| v.iter().filter(|d| d.operation_id == id).count();
    assert_eq!(count(&ca) + count(&cb), 3, "claimed once each");
    let again = a.claim_deliveries(10_000, 60_000).await.unwrap();
    assert_eq!(count(&again), 0, "leased rows are not taken again");
    let all: Vec<_> = ca
        .into_iter()
        .chain(cb)
        .filter(|d| d.operation_id == id)
        .collect();
    let failing = &all[0];
    a.record_attempt(
        failing,
        &AttemptResult::Retry {
            status: Some(503),
            error: "HTTP 503".into(),
            next_attempt_ms: Some(0),
        },
    )
    .await
    .unwrap();
    for d in &all[1..] {
        a.record_attempt(d, &AttemptResult::Delivered(204))
            .await
            .unwrap();
    }
    // Due again at once (next_attempt 0, lease cleared): claimed, given up.
    let retry: Vec<_> = a
        .claim_deliveries(10_000, 60_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.operation_id == id)
        .collect();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts, 1);
    a.record_attempt(
        &retry[0],
        &AttemptResult::Retry {
            status: None,
            error: "refused".into(),
            next_attempt_ms: None,
        },
    )
    .await
    .unwrap();
    let shown = a.delivery(&failing.event_id).await.unwrap();
    let (d, attempts) = shown
        .iter()
        .find(|(d, _)| d.webhook == failing.webhook)
        .unwrap();
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Some(503));
    assert_eq!(attempts[1].error.as_deref(), Some("refused"));
    assert_eq!(
        a.redeliver(&failing.event_id, Some(&failing.webhook))
            .await
            .unwrap(),
        1
    );
    let back = a.claim_deliveries(10_000, 60_000).await.unwrap();
    assert_eq!(count(&back), 1);
    let (pending, _age) = a.delivery_backlog().await.unwrap();
    assert!(pending >= 1);

    // The periodic reconciliation's backoff: an unresolved operation is due
    // at once, then not until its delay has passed.
    let id3 = unique("backoff");
    let op = intent(&id3, &acct, None, json!({"order_ref": "H-3"}), "i");
    assert!(matches!(a.begin(&op).await.unwrap(), Begin::Created));
    assert!(
        a.finish(&id3, &envelope(&id3, &acct, Status::Pending))
            .await
            .unwrap()
    );
    let due = |v: Vec<payops_store::StoredOperation>| v.iter().any(|o| o.id == id3);
    assert!(due(a.due_for_reconcile(Some(&acct)).await.unwrap()));
    a.back_off_reconcile(&id3, 60_000, 600_000).await.unwrap();
    assert!(
        !due(a.due_for_reconcile(Some(&acct)).await.unwrap()),
        "backed off"
    );
    assert!(
        due(a.unresolved(Some(&acct)).await.unwrap()),
        "an explicit pass sees it"
    );
    a.back_off_reconcile(&id3, 0, 0).await.unwrap();
    assert!(
        due(a.due_for_reconcile(Some(&acct)).await.unwrap()),
        "a zero delay: due again"
    );

    // A store without routes writes no events.
    let plain = Store::open(url).await.unwrap();
    let id2 = unique("unhooked");
    let op = intent(&id2, &acct, None, json!({"order_ref": "H-2"}), "i");
    assert!(matches!(plain.begin(&op).await.unwrap(), Begin::Created));
    assert!(
        plain
            .finish(&id2, &envelope(&id2, &acct, Status::Succeeded))
            .await
            .unwrap()
    );
    let none = plain.deliveries(None, 10_000).await.unwrap();
    assert!(none.iter().all(|d| d.operation_id != id2));
}

/// The hot lookups use the index made for them, in its order (no scan of
/// an account's operations, no sort of what matches), on SQLite, whose
/// planner has no statistics to go by.
#[tokio::test]
async fn lookups_use_their_indexes() {
    let dir = std::env::temp_dir().join(unique("payops-store-plan"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.join("payops.db").display()))
        .await
        .unwrap();
    let plan = |sql: String| {
        let store = store.clone();
        async move { store.sqlite_plan(&sql).await.unwrap().join(" | ") }
    };
    let p = plan(Store::on_order_sql()).await;
    assert!(p.contains("USING INDEX operations_order_ref_page"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    let list = |f: ListFilter| Store::list_sql(&f).unwrap().0;
    for (filter, index) in [
        (
            ListFilter {
                account: Some("a".into()),
                states: vec![State::Succeeded],
                ..Default::default()
            },
            "operations_account_state_page",
        ),
        (
            ListFilter {
                account: Some("a".into()),
                ..Default::default()
            },
            "operations_account_page",
        ),
        (
            ListFilter {
                states: vec![State::Unknown],
                ..Default::default()
            },
            "operations_state_page",
        ),
        (ListFilter::default(), "operations_created_page"),
    ] {
        let p = plan(list(filter)).await;
        assert!(p.contains(index), "{index}: {p}");
        assert!(!p.contains("TEMP B-TREE"), "{index}: {p}");
    }
}

/// The order guard's reservations: an order's row holds at most what was
/// paid (racing reservations included); a failed or withdrawn operation
/// gives its amount back exactly once; writing the row anew counts each
/// reservation once and drops those of failed operations.
async fn reservations(url: &str) {
    use payops_store::{PaidFacts, Reserve};
    let store = Arc::new(Store::open(url).await.unwrap());
    let account = unique("res");
    let order = "O-RES";
    let refund = |n: usize, amount: Option<i64>| {
        let mut doc = json!({"order_ref": order});
        if let Some(a) = amount {
            doc["amount"] = json!(a);
        }
        intent(
            &format!("op_{account}_{n}"),
            &account,
            Some(&format!("k{n}")),
            doc,
            "inst",
        )
    };
    // No row: nothing is held.
    let a = refund(0, Some(100));
    store.begin(&a).await.unwrap();
    assert_eq!(
        store
            .reserve(&account, order, &a.id, Some(100))
            .await
            .unwrap(),
        Reserve::NoRow
    );
    let paid = PaidFacts {
        currency: "TRY".into(),
        paid: 10_000,
        read_ms: 1,
        by: "op_query".into(),
    };
    // 2,000 returned outside payops, counted by the ledger.
    let row = store
        .set_order_money(&account, order, &paid, 2_000)
        .await
        .unwrap();
    assert_eq!((row.held, row.remaining()), (0, 8_000));

    // 20 racing reservations of 500: 16 fit (8,000), 4 do not.
    let ops: Vec<NewOperation> = (1..=20).map(|n| refund(n, Some(500))).collect();
    for o in &ops {
        store.begin(o).await.unwrap();
    }
    let tasks: Vec<_> = ops
        .iter()
        .map(|o| {
            let (store, account, id) = (store.clone(), account.clone(), o.id.clone());
            tokio::spawn(async move {
                store
                    .reserve(&account, order, &id, Some(500))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut held = Vec::new();
    for (o, t) in ops.iter().zip(tasks) {
        match t.await.unwrap() {
            Reserve::Held(500) => held.push(o.id.clone()),
            Reserve::Exceeds(row) => assert!(row.remaining() < 500, "{row:?}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(held.len(), 16);
    let row = store.order_money(&account, order).await.unwrap().unwrap();
    assert_eq!((row.base, row.held, row.remaining()), (2_000, 8_000, 0));

    // A failed answer gives 500 back; the same answer written again does
    // not give it twice.
    let failed = envelope(&held[0], &account, Status::Failed);
    assert!(store.finish(&held[0], &failed).await.unwrap());
    assert!(store.finish(&held[0], &failed).await.unwrap());
    let row = store.order_money(&account, order).await.unwrap().unwrap();
    assert_eq!(row.held, 7_500);
    // A succeeded one keeps it.
    assert!(
        store
            .finish(&held[1], &envelope(&held[1], &account, Status::Succeeded))
            .await
            .unwrap()
    );
    // A withdrawn one (refused before sending) gives it back with it.
    let refusal = payops_store::NewRefusal {
        id: payops_store::refusal_id_of(&held[2]),
        at: Utc::now(),
        account: account.clone(),
        provider: "esnekpos".into(),
        operation: "refund".into(),
        idempotency_key: None,
        actor: None,
        reason: "unreachable".into(),
        error: json!({}),
        request: json!({}),
    };
    assert!(store.refuse(&held[2], &refusal).await.unwrap());
    let row = store.order_money(&account, order).await.unwrap().unwrap();
    assert_eq!((row.held, row.remaining()), (7_000, 1_000));
    // A whole-order request holds what remains; then nothing fits.
    let whole = refund(30, None);
    store.begin(&whole).await.unwrap();
    assert_eq!(
        store
            .reserve(&account, order, &whole.id, None)
            .await
            .unwrap(),
        Reserve::Held(1_000)
    );
    let late = refund(31, None);
    store.begin(&late).await.unwrap();
    assert!(matches!(
        store
            .reserve(&account, order, &late.id, None)
            .await
            .unwrap(),
        Reserve::Exceeds(_)
    ));
    // Writing the row anew: held is summed from the reservations now (16
    // x 500 - 2 given back + 1,000), whatever it said.
    let reserved = store.reservations(&account, order).await.unwrap();
    assert_eq!(reserved.len(), 15, "{reserved:?}");
    let row = store
        .set_order_money(&account, order, &paid, 2_000)
        .await
        .unwrap();
    assert_eq!(row.held, 14 * 500 + 1_000);
    // The reservation of an operation that failed without giving it back
    // (its give-back never ran) is dropped when the row is written anew,
    // and a give-back after that gives nothing twice.
    let settled = envelope(&held[3], &account, Status::Failed);
    sqlx::any::install_default_drivers();
    {
        use sqlx::Connection;
        let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE operations SET state = 'failed' WHERE id = $1")
            .bind(&held[3])
            .execute(&mut c)
            .await
            .unwrap();
    }
    let row = store
        .set_order_money(&account, order, &paid, 2_000)
        .await
        .unwrap();
    assert_eq!(row.held, 13 * 500 + 1_000);
    assert!(
        !store.finish(&held[3], &settled).await.unwrap(),
        "no longer in flight"
    );
    let row = store.order_money(&account, order).await.unwrap().unwrap();
    assert_eq!(row.held, 13 * 500 + 1_000);
    // Unresolved refunds of the order, read by its state index: the
    // whole-order one left unknown; not another account's.
    assert!(
        store
            .unresolved_on_order(&account, order)
            .await
            .unwrap()
            .is_empty()
    );
    let mut unknown = envelope(&whole.id, &account, Status::Unknown);
    unknown.operation = OperationKind::Refund;
    assert!(store.finish(&whole.id, &unknown).await.unwrap());
    let open = store.unresolved_on_order(&account, order).await.unwrap();
    assert_eq!(
        open.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        [whole.id.as_str()]
    );
    assert!(
        store
            .unresolved_on_order("another", order)
            .await
            .unwrap()
            .is_empty()
    );
}
