//! The shipped Prometheus rules and Grafana dashboard: `promtool check
//! rules` and `promtool test rules` pass (every alert has a case), the
//! docs' `prometheus.yml` passes `promtool check config`, and every
//! metric they name is one payops exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use payops_core::OperationKind;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The sample names payops's `/metrics` can show: every family touched
/// once, rendered, `# TYPE` lines expanded to their samples' names.
fn exported() -> BTreeSet<String> {
    let m = payops_host::metrics::Metrics::default();
    m.record(
        "a",
        OperationKind::Refund,
        "succeeded",
        std::time::Duration::from_millis(5),
    );
    m.refusal("a", OperationKind::Refund, "conflict", "operation_conflict");
    m.webhook("w", "delivered");
    m.approval("a", "requested");
    m.http(200);
    m.outcome_reason("a", OperationKind::Refund, payops_core::Reason::Timeout);
    m.reconciled("settled");
    let backlog = |state: &str| payops_store::Backlog {
        account: "a".into(),
        state: state.into(),
        count: 1,
        oldest: Some(chrono::Utc::now()),
    };
    m.watch(
        &payops_store::Watch {
            unresolved: vec![backlog("unknown")],
            approvals: vec![backlog("awaiting_approval")],
            overdrawn: vec![("a".into(), 1)],
        },
        chrono::Utc::now(),
    );
    let text = m.render();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        for s in suffixes {
            names.insert(format!("{name}{s}"));
        }
    }
    names
}

/// The `payops_…` metric names in `text` (not recording rules, `payops:…`).
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("payops_") {
        let start = i + at;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        // A whole word only (not `x_payops_y`).
        if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

#[test]
fn every_metric_the_rules_and_the_dashboard_name_is_exported() {
    let exported = exported();
    for must in [
        "payops_unresolved_oldest_age_seconds",
        "payops_orders_overdrawn",
        "payops_approvals_waiting",
        "payops_provider_problems_total",
        "payops_reconcile_attempts_total",
        "payops_store_up",
        "payops_operation_duration_seconds_bucket",
        "payops_build_info",
    ] {
        assert!(exported.contains(must), "{must} not in {exported:?}");
    }
    let rules = std::fs::read_to_string(examples().join("prometheus/payops-rules.yml")).unwrap();
    let dashboard =
        std::fs::read_to_string(examples().join("grafana/payops-dashboard.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut exprs = String::new();
    for p in d["panels"].as_array().unwrap() {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "a panel without a query: {p}");
        for t in targets {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    for (what, text) in [
        ("payops-rules.yml", &rules),
        ("payops-dashboard.json", &exprs),
    ] {
        let names = named(text);
        assert!(names.len() >= 8, "{what}: {names:?}");
        let unknown: Vec<&String> = names.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} names metrics payops does not export: {unknown:?}"
        );
    }
    // The checker sees a name that is not exported.
    assert!(!exported.contains("payops_operations_failed_total"));
    assert_eq!(
        named("rate(payops_operations_failed_total[5m]) / x_payops_y"),
        BTreeSet::from(["payops_operations_failed_total".to_owned()])
    );
}

#[test]
#[cfg_attr(
    not(payops_promtool),
    ignore = "needs promtool (Debian's prometheus package)"
)]
fn the_alert_rules_pass_promtool_and_every_alert_has_a_test() {
    let dir = examples().join("prometheus");
    let promtool = |args: &[&str]| {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs: apt-get install prometheus");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    promtool(&["check", "rules", "payops-rules.yml"]);
    promtool(&["test", "rules", "payops-rules.test.yml"]);
    // operators.md's `prometheus.yml`, its rule path pointed at this copy.
    let docs = std::fs::read_to_string(examples().join("../docs/operators.md")).unwrap();
    let snippet = docs
        .split("```yaml\n")
        .find_map(|b| {
            b.starts_with("# prometheus.yml")
                .then(|| b.split("```").next().unwrap())
        })
        .expect("operators.md has the prometheus.yml example");
    let scratch = std::env::temp_dir().join(format!("payops-promcfg-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let config = scratch.join("prometheus.yml");
    std::fs::write(
        &config,
        snippet.replace(
            "/etc/prometheus/payops-rules.yml",
            &dir.join("payops-rules.yml").display().to_string(),
        ),
    )
    .unwrap();
    promtool(&["check", "config", &config.display().to_string()]);
    std::fs::remove_dir_all(&scratch).ok();
    let rules = std::fs::read_to_string(dir.join("payops-rules.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("payops-rules.test.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 12, "{alerts:?}");
    for a in alerts {
        // A case that expects it to fire (exp_alerts with labels).
        let firing = tests
            .split("alertname: ")
            .skip(1)
            .any(|case| case.starts_with(&format!("{a}\n")) && case.contains("exp_labels"));
        assert!(firing, "{a} has no promtool case that fires it");
    }
}
