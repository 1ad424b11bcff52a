//! The operator console in a real headless Chromium (Playwright driving
//! Debian's `/usr/bin/chromium`, or `PAYOPS_CHROMIUM`) against the sandbox:
//! sign in, an invalid amount refused by the form before anything is sent,
//! a refund from the form `succeeded` after the confirmation that shows the
//! account and the amount in lira, the operations list with an unresolved
//! one marked, an operation opened with its audit events, a reconcile from
//! the page. The script is `host/ui/tests/console.mjs`.
//!
//! Needs `npm ci` in `host/ui` and Chromium (`apt-get install chromium`);
//! without them it is ignored (see `host/build.rs`), and under `CI=true` it
//! runs and fails on what is missing.

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
#[cfg_attr(
    not(payops_browser),
    ignore = "needs `npm ci` in host/ui and Debian's chromium"
)]
fn the_console_runs_a_refund_and_shows_the_operations() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ui = root.join("ui");
    assert!(
        ui.join("node_modules/playwright-core").is_dir(),
        "host/ui has no node_modules: run `npm ci` there"
    );
    let chromium = std::env::var("PAYOPS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (or set PAYOPS_CHROMIUM)"
    );
    let dir = temp_dir("console");
    let plugins = plugin_dir(&dir);
    let cfg = dir.join("payops.toml");
    std::fs::write(&cfg, format!("[plugins]\ndirs = [{plugins:?}]\n")).unwrap();
    let cfg = cfg.display().to_string();
    let daemon = Daemon::start(
        "console",
        &["--config", &cfg, "sandbox", "--listen", "127.0.0.1:0"],
        &dir,
    );
    let token = daemon
        .stdout
        .lock()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("sandbox token: ").map(str::to_owned))
        .expect("the sandbox prints its token");
    // Screenshots for the docs when asked (PAYOPS_CONSOLE_SHOTS=docs/img: a
    // relative folder is the repository's, not host/ui's where node runs).
    let mut args = vec![
        ui.join("tests/console.mjs").display().to_string(),
        daemon.url.clone(),
        token.trim().to_owned(),
    ];
    if let Ok(shots) = std::env::var("PAYOPS_CONSOLE_SHOTS") {
        let shots = root.parent().expect("the repository").join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        args.push(shots.display().to_string());
    }
    let out = std::process::Command::new("node")
        .args(&args)
        .current_dir(&ui)
        .env("PAYOPS_CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no report from the browser script ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(report["problems"], json!([]), "{report:#}\n{stderr}");
    let seen = &report["seen"];
    // The form refused the invalid amount itself: the first request sent
    // is the corrected one.
    assert!(
        seen["fieldError"].as_array().is_some_and(|e| !e.is_empty()),
        "{seen:#}"
    );
    assert_eq!(seen["sent"][0]["body"]["amount"], 1250, "{seen:#}");
    // Lira typed: 12.505 refused by the form (nothing sent), 12.50 and
    // 12,50 both 1250 kuruş; after the send the form is empty.
    assert!(
        seen["moneyError"]
            .as_str()
            .is_some_and(|e| e.contains("at most 2 decimals")),
        "{seen:#}"
    );
    assert_eq!(
        seen["dotMinor"].as_str().map(str::trim),
        Some("= 1250 minor units"),
        "{seen:#}"
    );
    assert_eq!(seen["amountAfterSend"], "", "{seen:#}");
    assert_eq!(seen["sent"][0]["key"], true, "an idempotency key is sent");
    assert_eq!(seen["confirmAccount"], "esnek-demo (esnekpos)");
    assert_eq!(seen["confirmAmount"], "12.50 TL (1250 minor units)");
    assert_eq!(seen["outcome"], "succeeded", "{seen:#}");
    assert_eq!(seen["marked"], 1, "the unknown refund is marked: {seen:#}");
    // The order guard's refusal is shown as a refusal, and is not listed as
    // an operation (the list has the two refunds and the guard's queries).
    assert!(
        seen["refusal"]
            .as_str()
            .is_some_and(|r| r.contains("Refused before sending (conflict)")),
        "{seen:#}"
    );
    let rows: Vec<&str> = seen["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        rows.iter().filter(|r| r.contains("\trefund\t")).count(),
        2,
        "{seen:#}"
    );
    assert_eq!(rows.len(), 5, "{seen:#}");
    assert_eq!(seen["events"], json!(["recorded", "finished"]), "{seen:#}");
    // The order of that refund: DEMO-1001, paid 1,250.00 TL, 12.50 returned.
    assert_eq!(seen["orderRemaining"], "1,237.50 TL", "{seen:#}");
    assert!(
        seen["csp"]
            .as_str()
            .is_some_and(|c| c.contains("script-src 'self'")),
        "{seen:#}"
    );
    assert_eq!(
        seen["storage"],
        json!({"local": 0, "session": 0, "cookie": ""})
    );
    assert!(
        seen["reconciled"].as_str().is_some_and(|r| !r.is_empty()),
        "{seen:#}"
    );
    // The provider's own words (EsnekPOS's 100 "Sipariş bulunamadı." for an
    // order it does not know) and the order's last query, on the page.
    assert_eq!(seen["afterReconcile"], "unknown !", "{seen:#}");
    assert_eq!(seen["providerWords"], "100 Sipariş bulunamadı.", "{seen:#}");
    assert!(
        seen["lastQuery"]
            .as_str()
            .is_some_and(|q| q.contains("failed, \"100 Sipariş bulunamadı.\"")),
        "{seen:#}"
    );
    // Times in the browser's zone (America/New_York), one format.
    let shown = regex_like_time(&seen["createdShown"]);
    assert!(shown, "{seen:#}");
    assert!(
        seen["eventTimes"]
            .as_array()
            .unwrap()
            .iter()
            .all(regex_like_time),
        "{seen:#}"
    );
    assert!(
        seen["zoneNote"]
            .as_str()
            .is_some_and(|z| z.starts_with("Times in America/New_York.")),
        "{seen:#}"
    );
    // Resolved from the page, with the evidence, by the signed-in caller.
    assert_eq!(seen["resolvedStatus"], "failed", "{seen:#}");
    assert_eq!(
        seen["resolution"],
        "resolved by sandbox: EsnekPOS panel: no return on DEMO-1003 on 07.12.2026"
    );
    assert_eq!(seen["resolveFormAfter"], 0, "{seen:#}");
    // Search by order, kept in the URL; a shared address opens the same
    // view after sign-in.
    assert_eq!(seen["searchHash"], "#/operations?q=DEMO-1001");
    assert_eq!(seen["searchRows"].as_array().unwrap().len(), 2, "{seen:#}");
    assert_eq!(seen["shared"], json!({"search": "DEMO-1001", "rows": 2}));
    // Amounts typed in lira filter in kuruş; 12.505 is refused.
    assert_eq!(
        seen["amountHash"],
        "#/operations?min_amount=1250&max_amount=1250"
    );
    let amount_rows = seen["amountRows"].as_array().unwrap();
    assert_eq!(amount_rows.len(), 1, "{seen:#}");
    assert!(
        amount_rows[0]
            .as_str()
            .is_some_and(|r| r.contains("DEMO-1001\t12.50 TL\tsucceeded")),
        "{seen:#}"
    );
    assert!(
        seen["amountError"]
            .as_str()
            .is_some_and(|e| e.contains("at most 2 decimals")),
        "{seen:#}"
    );
    assert_eq!(seen["filterDisabled"], true);
    // Totals of the money: the resolved refund failed, the other succeeded.
    assert_eq!(
        seen["totals"], "failed 5.00 TL (1) · succeeded 12.50 TL (1)",
        "{seen:#}"
    );
    // The export: every row, the formula-like order reference as text.
    let csv = seen["csv"].as_str().unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "created_at,operation_id,account,provider,operation,order_ref,status,amount_minor,amount,currency,provider_reference,provider_code,provider_message,reason,actor,resolution"
    );
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(
        lines[1].contains(",query,\"'=HYPERLINK(\"\"http://x\"\")\","),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",refund,DEMO-1001,succeeded,1250,12.50,TRY,")),
        "{csv}"
    );
    // In the operator's zone.
    assert!(
        lines[1].contains("-05:00,") || lines[1].contains("-04:00,"),
        "{csv}"
    );
    assert!(
        seen["csvName"]
            .as_str()
            .is_some_and(|n| n.starts_with("payops-operations-") && n.ends_with(".csv")),
        "{seen:#}"
    );
    // The order view: its ledger and operations; a refund started there
    // has the account, the operation and the order filled in.
    assert_eq!(seen["orderView"]["remaining"], "1,237.50 TL");
    assert!(
        seen["orderView"]["paid"]
            .as_str()
            .is_some_and(|p| p.starts_with("1,250.00 TL (read ")),
        "{seen:#}"
    );
    assert_eq!(seen["orderView"]["rows"].as_array().unwrap().len(), 2);
    assert_eq!(seen["orderView"]["hash"], "#/order/esnek-demo/DEMO-1001");
    assert_eq!(
        seen["prefilled"],
        json!({"account": "esnek-demo", "operation": "refund", "order": "DEMO-1001"})
    );
    // A batch from the console: a row the schema refuses stops it before
    // anything runs; a good file is shown by order, then run by the daemon
    // and followed to its end.
    assert!(
        seen["batchInvalid"]
            .as_str()
            .is_some_and(|t| t.contains("Row 2: invalid request: /amount")),
        "{seen:#}"
    );
    assert_eq!(seen["batchStartOffered"], 0, "{seen:#}");
    assert_eq!(
        seen["batchOrders"],
        json!(["DEMO-1001\t1, 3\t3.00 TL\t", "DEMO-1002\t2\t3.00 TL\t"])
    );
    assert_eq!(seen["batchStateBeforeStart"], "checked");
    assert_eq!(
        seen["batchProgress"].as_str().map(str::trim),
        Some("3 of 3 rows done: succeeded 3")
    );
    assert_eq!(
        seen["batchOutcomes"],
        json!([
            "DEMO-1001\t1, 3\t3.00 TL\tsucceeded succeeded",
            "DEMO-1002\t2\t3.00 TL\tsucceeded"
        ])
    );
}

/// `YYYY-MM-DD HH:MM:SS`: how the console shows every time.
fn regex_like_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 19
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        })
}

/// Runs a browser script of `host/ui/tests` with `args` (node, Debian's
/// Chromium or `PAYOPS_CHROMIUM`): its report (the last line of its
/// output) and its stderr.
fn browser_script(script: &str, args: &[String]) -> (Value, String) {
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let chromium = std::env::var("PAYOPS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (or set PAYOPS_CHROMIUM)"
    );
    let out = std::process::Command::new("node")
        .arg(ui.join("tests").join(script))
        .args(args)
        .current_dir(&ui)
        .env("PAYOPS_CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no report from {script} ({e}):\n{stdout}\n{stderr}"));
    (report, stderr)
}

/// A free port on 127.0.0.1 (bound, then released for the process that
/// needs to know it before it starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// People in the console (`host/ui/tests/people.mjs`), against
/// `payops serve` with the defaults that ship (the session cookie Secure,
/// HttpOnly, SameSite=Lax) and a real OpenID provider (the `oidc-provider`
/// package, `host/ui/tests/idp.mjs`): a local viewer is not offered the run
/// form and the API refuses their refund; a local operator refunds; a
/// person of the provider whose groups map to the operator role refunds
/// and is named by the record; one whose groups map to no role is told.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(payops_browser),
    ignore = "needs `npm ci` in host/ui and Debian's chromium"
)]
async fn people_sign_in_locally_and_through_a_real_openid_provider() {
    use payops_core::Simulator;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ui = root.join("ui");
    assert!(
        ui.join("node_modules/oidc-provider").is_dir(),
        "host/ui has no node_modules: run `npm ci` there"
    );
    let dir = temp_dir("console-people");
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": "CONSOLE", "merchant_key": "console-people-key-31"}],
                    "payments": [{"order_ref": "ORD-1", "amount": 100000, "date": "2020-01-01T10:00:00+03:00"},
                                 {"order_ref": "ORD-2", "amount": 100000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (idp_port, port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let redirect = format!("{base}/v1/auth/oidc/callback");
    let secret_file = dir.join("oidc-secret");
    let client_secret = "console-test-client-secret-0123456789";
    std::fs::write(&secret_file, format!("{client_secret}\n")).unwrap();
    let cfg = TestConfig::new(&dir)
        .store(&sqlite_url(&dir))
        .account(
            "shop",
            json!({"provider": "esnekpos", "environment": "test", "base_url": sim.url(),
                   "timeout_ms": 5000, "merchant": "CONSOLE", "merchant_key": "console-people-key-31"}),
        )
        .with(|c| {
            c.auth.oidc = Some(payops_host::config::OidcConfig {
                issuer: format!("http://127.0.0.1:{idp_port}"),
                client_id: "payops-console".into(),
                client_secret: None,
                client_secret_file: Some(secret_file.clone()),
                redirect_url: redirect.clone(),
                scopes: vec!["openid".into(), "profile".into(), "groups".into()],
                roles_claim: "groups".into(),
                name_claims: vec!["name".into()],
                label: "Sign in with the company's identity provider".into(),
                roles: vec![
                    payops_host::config::OidcRoleConfig {
                        group: "payops-operators".into(),
                        role: "operator".parse().unwrap(),
                        accounts: vec!["shop".into()],
                    },
                    payops_host::config::OidcRoleConfig {
                        group: "payops-viewers".into(),
                        role: "viewer".parse().unwrap(),
                        accounts: vec!["*".into()],
                    },
                ],
            })
        })
        .write(&dir.join("payops.toml"));
    let password = "console people password";
    for (name, role) in [("selin", "viewer"), ("mehmet", "operator")] {
        let mut child = std::process::Command::new(exe())
            .arg("--config")
            .arg(&cfg)
            .args(["users", "add", name, "--role", role, "--accounts", "*"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    // Its output goes to a file (a closed pipe would end it at its next
    // log line).
    let idp_log = dir.join("idp.log");
    let mut idp = std::process::Command::new("node")
        .args([
            "tests/idp.mjs",
            &idp_port.to_string(),
            "payops-console",
            client_secret,
            &redirect,
        ])
        .current_dir(&ui)
        .stdout(std::fs::File::create(&idp_log).unwrap())
        .stderr(std::fs::File::create(dir.join("idp.err")).unwrap())
        .spawn()
        .expect("node runs");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&idp_log)
        .unwrap_or_default()
        .contains("idp listening")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the identity provider did not start: {}",
            std::fs::read_to_string(dir.join("idp.err")).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (c, d) = (cfg.display().to_string(), dir.clone());
    let listen = format!("127.0.0.1:{port}");
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "console-people",
            &["--config", &c, "serve", "--listen", &listen],
            &d,
        )
    })
    .await
    .unwrap();
    assert_eq!(daemon.url, base);
    let args: Vec<String> = [base.as_str(), "selin", "mehmet", password]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let (report, stderr) = tokio::task::spawn_blocking(move || browser_script("people.mjs", &args))
        .await
        .unwrap();
    let _ = idp.kill();
    let _ = idp.wait();
    let log = daemon.stderr.lock().unwrap().clone();
    assert_eq!(
        report["problems"],
        json!([]),
        "{report:#}\n{stderr}\nthe daemon's log:\n{log}"
    );
    let seen = &report["seen"];
    assert_eq!(seen["viewerWho"], "selin · viewer", "{seen:#}");
    assert_eq!(seen["viewerRunOffered"], 0, "{seen:#}");
    assert_eq!(seen["viewerApi"]["status"], 403, "{seen:#}");
    assert_eq!(seen["viewerApi"]["body"]["error"]["code"], "forbidden");
    assert_eq!(
        seen["cookie"], "",
        "the session cookie is not readable by scripts"
    );
    assert_eq!(
        seen["sessionCookie"],
        json!({"httpOnly": true, "secure": true, "sameSite": "Lax"}),
        "{seen:#}"
    );
    assert_eq!(seen["afterSignOut"], 401, "{seen:#}");
    assert_eq!(seen["operatorWho"], "mehmet · operator", "{seen:#}");
    assert_eq!(seen["operatorRefund"], "succeeded", "{seen:#}");
    assert_eq!(seen["idpPage"], idp_port.to_string(), "{seen:#}");
    assert_eq!(seen["oidcWho"], "Ayşe Yılmaz · operator", "{seen:#}");
    assert_eq!(seen["oidcRefund"], "succeeded", "{seen:#}");
    let actors = seen["oidcActor"].as_array().unwrap();
    assert!(
        actors.contains(&json!(format!("oidc:http://127.0.0.1:{idp_port}#ayse"))),
        "{seen:#}"
    );
    assert!(actors.contains(&json!("user:mehmet")), "{seen:#}");
    assert_eq!(
        seen["oidcDetailActor"],
        format!("Ayşe Yılmaz (oidc:http://127.0.0.1:{idp_port}#ayse)"),
        "{seen:#}"
    );
    assert!(
        seen["noRole"]
            .as_str()
            .is_some_and(|t| t.contains("none of their groups (staff)")),
        "{seen:#}"
    );
    // What the provider did: the two refunds, once each.
    let ledger = ledger(&sim);
    assert_eq!(ledger.len(), 2, "{ledger:#?}");
    drop(daemon);
}

/// Four eyes in the console (`host/ui/tests/approvals.mjs`): a refund
/// above the approval threshold, asked for by one approver, waits with
/// nothing sent; the requester is offered no decision and the API refuses
/// theirs; a second approver approves it from the Approvals view and the
/// provider receives it once.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(payops_browser),
    ignore = "needs `npm ci` in host/ui and Debian's chromium"
)]
async fn a_second_person_approves_in_the_console_and_it_is_sent_once() {
    use payops_core::Simulator;
    let dir = temp_dir("console-approvals");
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": "FOUR", "merchant_key": "console-approvals-key-77"}],
                    "payments": [{"order_ref": "ORD-1", "amount": 100000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let cfg = TestConfig::new(&dir)
        .store(&sqlite_url(&dir))
        .account(
            "shop",
            json!({"provider": "esnekpos", "environment": "test", "base_url": sim.url(),
                   "timeout_ms": 5000, "merchant": "FOUR", "merchant_key": "console-approvals-key-77"}),
        )
        .with(|c| {
            c.approvals.rules = vec![payops_host::config::ApprovalRule {
                accounts: vec!["*".into()],
                operations: vec!["refund".into()],
                roles: Vec::new(),
                tokens: Vec::new(),
                above: Some(50_000),
                per_order_above: None,
                per_day_above: None,
            }]
        })
        .write(&dir.join("payops.toml"));
    for name in ["aylin", "burak"] {
        let (code, out, err) = users(
            &cfg,
            &dir,
            &["add", name, "--role", "approver", "--accounts", "*"],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let (c, d) = (cfg.clone(), dir.clone());
    let daemon = tokio::task::spawn_blocking(move || Daemon::serve("console-approvals", &c, &d))
        .await
        .unwrap();
    let mut args: Vec<String> = [daemon.url.as_str(), "aylin", "burak", PASSWORD]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    // The Approvals view's screenshot for the docs when asked (as above).
    if let Ok(shots) = std::env::var("PAYOPS_CONSOLE_SHOTS") {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let shots = root.parent().expect("the repository").join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        args.push(shots.display().to_string());
    }
    let (report, stderr) =
        tokio::task::spawn_blocking(move || browser_script("approvals.mjs", &args))
            .await
            .unwrap();
    assert_eq!(report["problems"], json!([]), "{report:#}\n{stderr}");
    let seen = &report["seen"];
    assert!(
        seen["approvalId"]
            .as_str()
            .is_some_and(|a| a.starts_with("ap_")),
        "{seen:#}"
    );
    assert!(
        seen["waiting"]
            .as_str()
            .unwrap()
            .contains("Nothing was sent"),
        "{seen:#}"
    );
    assert_eq!(seen["requesterApproveButtons"], 0, "{seen:#}");
    assert_eq!(seen["requesterApi"]["status"], 403, "{seen:#}");
    assert!(
        seen["decision"]
            .as_str()
            .is_some_and(|d| d.contains("approved and sent as op_")),
        "{seen:#}"
    );
    let got = ledger(&sim);
    assert_eq!(got.len(), 1, "{got:#?}");
    drop(daemon);
}
