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
}
