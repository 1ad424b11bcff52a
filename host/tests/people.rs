//! People through the real binary, on SQLite and on PostgreSQL: local
//! users added with `payops users add` sign in for a session (cookie +
//! CSRF token); every role's boundary holds on the API for people and for
//! tokens alike (viewer reads, operator runs, approver resolves and
//! overrides, admin manages people), scoped to accounts; the records name
//! the person; disabling a user ends their live session; failed sign-ins
//! are limited and say the same whether or not the name exists.

mod common;

use std::path::Path;

use common::*;
use payops_core::Simulator;
use serde_json::json;

const ESNEK_KEY: &str = "people-esnek-key-7777";

async fn esnek_sim() -> payops_transport::SimServer {
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": "PEOPLE", "merchant_key": ESNEK_KEY}],
                    "payments": [{"order_ref": "ORD-A", "amount": 100000, "date": "2020-01-01T10:00:00+03:00"},
                                 {"order_ref": "ORD-B", "amount": 100000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A daemon with accounts shop-a and shop-b, a token of each role, and a
/// local user of each role (names made unique for a shared PostgreSQL).
async fn setup(
    name: &str,
    store: &str,
) -> (
    Daemon,
    payops_transport::SimServer,
    std::path::PathBuf,
    String,
) {
    let dir = temp_dir(name);
    let sim = esnek_sim().await;
    let account = json!({"provider": "esnekpos", "environment": "test", "base_url": sim.url(),
                         "timeout_ms": 5000, "merchant": "PEOPLE", "merchant_key": ESNEK_KEY});
    let mut cfg = TestConfig::new(&dir)
        .store(store)
        .account("shop-a", account.clone())
        .account("shop-b", account)
        .with(|c| c.auth.cookie_secure = false);
    for role in ["viewer", "operator", "approver", "admin"] {
        cfg = cfg.token_with(
            &format!("{role}-token"),
            &format!("{role}-token-secret-0123456789"),
            &["*"],
            &["*"],
            |t| t.role = Some(role.parse().unwrap()),
        );
    }
    let cfg = cfg.write(&dir.join("payops.toml"));
    let tag = unique("p").replace('-', "");
    for role in ["viewer", "operator", "approver", "admin"] {
        let (code, out, err) = users(
            &cfg,
            &dir,
            &[
                "add",
                &format!("{role}{tag}"),
                "--role",
                role,
                "--accounts",
                "*",
                "--display-name",
                &format!("Ayşe the {role}"),
            ],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    // An operator of shop-a only.
    let (code, out, err) = users(
        &cfg,
        &dir,
        &[
            "add",
            &format!("clerk{tag}"),
            "--role",
            "operator",
            "--accounts",
            "shop-a",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    let cfg_path = cfg.clone();
    let d = dir.clone();
    let label = name.to_owned();
    let daemon = tokio::task::spawn_blocking(move || Daemon::serve(&label, &cfg_path, &d))
        .await
        .unwrap();
    (daemon, sim, dir, tag)
}

async fn role_boundaries(name: &str, store: &str) {
    let (d, _sim, dir, tag) = setup(name, store).await;
    let u = |p: &str| format!("{}{p}", d.url);
    let refund = |order: &str| json!({"order_ref": order, "amount": 100});
    let mut who: Vec<(String, Auth)> = Vec::new();
    for role in ["viewer", "operator", "approver", "admin"] {
        who.push((
            format!("{role} token"),
            bearer(&format!("{role}-token-secret-0123456789")),
        ));
        who.push((
            format!("{role} person"),
            sign_in(&d, &format!("{role}{tag}")).await,
        ));
    }
    // An unresolved operation for the resolve boundary: resolve needs one
    // that is unknown, so each attempt below is judged by its status only
    // (403 or not).
    for (label, auth) in &who {
        let role = label.split(' ').next().unwrap();
        let at_least = |r: &str| {
            let order = ["viewer", "operator", "approver", "admin"];
            order.iter().position(|x| *x == role) >= order.iter().position(|x| *x == r)
        };
        // Everyone reads.
        let a = call("GET", &u("/v1/operations?account=shop-a"), auth, None).await;
        assert_eq!(a.status, 200, "{label} lists: {}", a.body);
        let a = call("GET", &u("/v1/accounts"), auth, None).await;
        assert_eq!(a.status, 200, "{label}: {}", a.body);
        let offered = a.body["accounts"][0]["operations"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(offered > 0, at_least("operator"), "{label}: {}", a.body);
        // Operators and above run operations.
        let a = call(
            "POST",
            &u("/v1/accounts/shop-a/operations/refund"),
            auth,
            Some(&refund("ORD-A")),
        )
        .await;
        if at_least("operator") {
            assert_eq!(a.status, 200, "{label} refunds: {}", a.body);
            assert_eq!(a.body["status"], "succeeded", "{label}: {}", a.body);
            // The record names who did it.
            let id = a.body["operation_id"].as_str().unwrap();
            let op = call("GET", &u(&format!("/v1/operations/{id}")), auth, None).await;
            let actor = op.body["operation"]["actor"].as_str().unwrap();
            if label.ends_with("person") {
                assert_eq!(actor, format!("user:{role}{tag}"), "{label}");
                assert_eq!(
                    op.body["operation"]["actor_name"],
                    format!("Ayşe the {role}"),
                    "{label}"
                );
                assert_eq!(
                    op.body["events"][0]["actor_name"],
                    format!("Ayşe the {role}")
                );
            } else {
                assert_eq!(actor, format!("{role}-token"), "{label}");
            }
            // Reconcile is an operator's too (it runs the query).
            let r = call(
                "POST",
                &u(&format!("/v1/operations/{id}/reconcile")),
                auth,
                None,
            )
            .await;
            assert_ne!(r.status, 403, "{label} reconciles: {}", r.body);
            // Resolving needs the approver role.
            let r = call(
                "POST",
                &u(&format!("/v1/operations/{id}/resolve")),
                auth,
                Some(&json!({"status": "failed", "evidence": "test"})),
            )
            .await;
            assert_eq!(
                r.status == 403,
                !at_least("approver"),
                "{label} resolves: {}",
                r.body
            );
        } else {
            assert_eq!(a.status, 403, "{label} may not refund: {}", a.body);
            assert_eq!(a.body["error"]["code"], "forbidden");
            // Nothing was recorded, not even a refusal.
            let ops = call("GET", &u("/v1/operations?account=shop-a"), auth, None).await;
            assert!(
                ops.body["operations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|o| o["actor"] != json!(format!("user:{role}{tag}"))),
                "{}",
                ops.body
            );
        }
        // Going past the order guard needs the approver role.
        let mut over = auth.clone();
        over.bearer = auth.bearer.clone();
        let a = {
            use payops_core::{HttpRequest, HttpTransport};
            let t = payops_transport::ReqwestTransport::new().unwrap();
            let mut headers = vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Idempotency-Key".to_owned(), unique("ov")),
                ("X-Payops-Override-Open".to_owned(), "op_none".to_owned()),
            ];
            if let Some(b) = &over.bearer {
                headers.push(("Authorization".into(), format!("Bearer {b}")));
            }
            if let Some(c) = &over.cookie {
                headers.push(("Cookie".into(), format!("payops_session={c}")));
                headers.push(("X-CSRF-Token".into(), over.csrf.clone().unwrap()));
            }
            t.send(HttpRequest {
                method: "POST".into(),
                url: u("/v1/accounts/shop-a/operations/refund"),
                headers,
                body: refund("ORD-B").to_string().into_bytes(),
                timeout_ms: Some(30_000),
                safe: false,
            })
            .await
            .unwrap()
        };
        assert_eq!(
            a.status == 403,
            !at_least("approver"),
            "{label} overrides: {}",
            String::from_utf8_lossy(&a.body)
        );
        // Only an admin (over every account) manages people.
        let a = call("GET", &u("/v1/people"), auth, None).await;
        assert_eq!(
            a.status == 200,
            role == "admin",
            "{label} lists people: {}",
            a.body
        );
        assert_eq!(a.status == 403, role != "admin", "{label}: {}", a.body);
    }
    // Scoped to accounts: the clerk runs on shop-a, not on shop-b, and
    // does not see shop-b's operations.
    let clerk = sign_in(&d, &format!("clerk{tag}")).await;
    let a = call(
        "POST",
        &u("/v1/accounts/shop-a/operations/refund"),
        &clerk,
        Some(&refund("ORD-A")),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(
        "POST",
        &u("/v1/accounts/shop-b/operations/refund"),
        &clerk,
        Some(&refund("ORD-B")),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call("GET", &u("/v1/operations?account=shop-b"), &clerk, None).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = call("GET", &u("/v1/operations"), &clerk, None).await;
    assert!(
        a.body["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["account"] == "shop-a"),
        "{}",
        a.body
    );
    // A person's request that changes something needs the CSRF token.
    let mut no_csrf = clerk.clone();
    no_csrf.csrf = None;
    let a = call(
        "POST",
        &u("/v1/accounts/shop-a/operations/refund"),
        &no_csrf,
        Some(&refund("ORD-A")),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-CSRF-Token"),
        "{}",
        a.body
    );
    let mut wrong = clerk.clone();
    wrong.csrf = Some("0".repeat(64));
    let a = call(
        "POST",
        &u("/v1/accounts/shop-a/operations/refund"),
        &wrong,
        Some(&refund("ORD-A")),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // The admin sees everyone, and disables the clerk: the clerk's live
    // session ends at once.
    let admin = who
        .iter()
        .find(|(l, _)| l == "admin person")
        .unwrap()
        .1
        .clone();
    let people = call("GET", &u("/v1/people"), &admin, None).await;
    let listed: Vec<&str> = people.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["actor"].as_str())
        .collect();
    assert!(
        listed.contains(&format!("user:clerk{tag}").as_str()),
        "{listed:?}"
    );
    assert!(
        people.body["people"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("password_hash").is_none()),
        "{}",
        people.body
    );
    let a = call(
        "POST",
        &u(&format!("/v1/people/user:clerk{tag}/disable")),
        &admin,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call("GET", &u("/v1/me"), &clerk, None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    // An admin cannot lock themselves out (another admin can).
    let me = call("GET", &u("/v1/me"), &admin, None).await;
    let own = me.body["actor"].as_str().unwrap().to_owned();
    let a = call(
        "POST",
        &u(&format!("/v1/people/{own}/disable")),
        &admin,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("you cannot disable yourself")),
        "{}",
        a.body
    );
    // No OpenID provider here: its routes are not found.
    for path in [
        "/v1/auth/oidc/start",
        "/v1/auth/oidc/callback?code=x&state=y",
    ] {
        let a = call("GET", &u(path), &admin, None).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
    }
    // Signing out ends a session.
    let viewer = who
        .iter()
        .find(|(l, _)| l == "viewer person")
        .unwrap()
        .1
        .clone();
    let a = call("POST", &u("/v1/auth/logout"), &viewer, None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = call("GET", &u("/v1/me"), &viewer, None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_role_boundary_holds_on_sqlite() {
    let dir = temp_dir("people-sqlite-store");
    role_boundaries("people-roles-sqlite", &sqlite_url(&dir)).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread")]
async fn every_role_boundary_holds_on_postgres() {
    let url = pg_url().expect("PAYOPS_TEST_POSTGRES_URL");
    role_boundaries("people-roles-pg", &url).await;
}

/// Disabling a user with the CLI ends their live session at its next
/// request (the daemon reads the store, not a cache); enabling them does
/// not bring the ended session back.
#[tokio::test(flavor = "multi_thread")]
async fn disabling_a_user_ends_their_live_session() {
    let dir0 = temp_dir("people-disable-store");
    let (d, _sim, dir, tag) = setup("people-disable", &sqlite_url(&dir0)).await;
    let me = format!("{}/v1/me", d.url);
    let s = sign_in(&d, &format!("operator{tag}")).await;
    assert_eq!(call("GET", &me, &s, None).await.status, 200);
    let cfg = dir.join("payops.toml");
    let (code, out, err) = users(&cfg, &dir, &["disable", &format!("operator{tag}")], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("sessions have ended"), "{out}");
    let a = call("GET", &me, &s, None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    // A disabled user cannot sign in; the answer is the usual one.
    let a = call(
        "POST",
        &format!("{}/v1/auth/login", d.url),
        &Auth::default(),
        Some(&json!({"username": format!("operator{tag}"), "password": PASSWORD})),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    let (code, out, err) = users(&cfg, &dir, &["enable", &format!("operator{tag}")], "");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(call("GET", &me, &s, None).await.status, 401);
    let fresh = sign_in(&d, &format!("operator{tag}")).await;
    assert_eq!(call("GET", &me, &fresh, None).await.status, 200);
    // `users list` shows them; the hash never appears.
    let (code, out, _) = users(&cfg, &dir, &["list", "--output", "json"], "");
    assert_eq!(code, 0);
    assert!(out.contains(&format!("user:operator{tag}")), "{out}");
    assert!(!out.contains("argon2"), "{out}");
    // A short password is refused.
    let (code, _, err) = users(&cfg, &dir, &["passwd", &format!("viewer{tag}")], "short\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 12"), "{err}");
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&dir0).ok();
}

/// Failed sign-ins: a name nobody has and a wrong password read the same;
/// after `auth.max_failed_sign_ins` (5) failures of a name, even its right
/// password is held (429 with Retry-After) for the window.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_is_limited_and_does_not_tell_who_exists() {
    let dir0 = temp_dir("people-limit-store");
    let (d, _sim, dir, tag) = setup("people-limit", &sqlite_url(&dir0)).await;
    let login = format!("{}/v1/auth/login", d.url);
    let try_as = |name: String, password: &'static str| {
        let login = login.clone();
        async move {
            call(
                "POST",
                &login,
                &Auth::default(),
                Some(&json!({"username": name, "password": password})),
            )
            .await
        }
    };
    let nobody = try_as(format!("nobody{tag}"), "whatever-password").await;
    let wrong = try_as(format!("viewer{tag}"), "not-the-password").await;
    assert_eq!(nobody.status, 401);
    assert_eq!(wrong.status, 401);
    assert_eq!(nobody.body, wrong.body, "the same words for both");
    for _ in 0..4 {
        assert_eq!(
            try_as(format!("viewer{tag}"), "not-the-password")
                .await
                .status,
            401
        );
    }
    let held = try_as(format!("viewer{tag}"), PASSWORD).await;
    assert_eq!(held.status, 429, "{}", held.body);
    // Another user is not held by the viewer's failures.
    let other = try_as(format!("operator{tag}"), PASSWORD).await;
    assert_eq!(other.status, 200, "{}", other.body);
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&dir0).ok();
}

/// The `[auth]` example of operators.md ("People") is a config that
/// passes `config check` (its secret file made here); the mistakes it
/// warns about are config errors naming the key.
#[test]
fn the_documented_people_config_checks_and_mistakes_are_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/operators.md")).unwrap();
    let block = doc
        .split("<!-- people-example -->\n```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("operators.md has the people example");
    let dir = temp_dir("people-doc");
    let secret = dir.join("oidc_client_secret");
    std::fs::write(&secret, "documented-client-secret-123\n").unwrap();
    let text = block.replace(
        "/run/credentials/payops.service/oidc_client_secret",
        secret.to_str().unwrap(),
    );
    let plugins = plugin_dir(&dir);
    let store = sqlite_url(&dir);
    std::fs::write(
        dir.join("good.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n[store]\nurl = {store:?}\n{text}\n"),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "good.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    // An inline secret is not shown by `config show`.
    std::fs::write(
        dir.join("inline.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[store]\nurl = {store:?}\n{}\n",
            block.replace(
                "client_secret_file = \"/run/credentials/payops.service/oidc_client_secret\"",
                "client_secret = \"documented-client-secret-123\"",
            )
        ),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "inline.toml", "config", "show"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("issuer"), "{out}");
    assert!(!out.contains("documented-client-secret"), "{out}");
    // Mistakes: a viewer token that resolves, no role mapping, a redirect
    // that is not the callback, no secret.
    std::fs::write(
        dir.join("bad.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[store]\nurl = {store:?}\n\
             [[tokens]]\nname = \"reader\"\ntoken_sha256 = \"{}\"\naccounts = [\"*\"]\noperations = [\"*\"]\nrole = \"viewer\"\nresolve = true\n\
             [auth.oidc]\nissuer = \"https://login.example.com\"\nclient_id = \"payops\"\nredirect_url = \"https://payops.example.com/callback\"\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "bad.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{err}");
    for key in [
        "tokens[0].role",
        "auth.oidc.roles",
        "auth.oidc.redirect_url",
        "auth.oidc.client_secret",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
