//! One verdict: a request document is valid for payops exactly when its
//! exported schema says so, under the Rust validator and under Ajv 2020-12
//! in strict mode (Node, `host/tests/ajv`); and every exported schema
//! compiles under Ajv strict with the standard formats.
//!
//! Known divergences (rules a schema cannot express, enforced by payops with
//! the same error shape and stated in the fields' descriptions) are not in
//! the corpus: sums across fields (sub-merchant splits), a URL the daemon
//! supplies (`back_url` with `server.public_url`), and numbers that cannot
//! be read exactly (refused when the body is read).

mod common;

use std::path::Path;
use std::sync::Arc;

use payops_core::driver::PluginProvider;
use payops_core::{
    HttpRequest, HttpResponse, HttpTransport, OperationKind, TransportError, TransportErrorKind,
};
use serde_json::{Value, json};

/// Refuses to connect: an operation that gets this far was accepted.
struct Nowhere;

#[payops_core::async_trait::async_trait]
impl HttpTransport for Nowhere {
    async fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
        Err(TransportError::new(TransportErrorKind::Connect, "not sent"))
    }
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `script` (in `host/tests/ajv`) with `args`; `None` when Node or its
/// packages are missing outside CI (skipped, and said so).
fn node(script: &str, args: &[&Path]) -> Option<Value> {
    let dir = root().join("host/tests/ajv");
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !dir.join("node_modules/ajv").exists() {
        assert!(
            !ci,
            "CI=true but host/tests/ajv has no node_modules: run `npm ci` there"
        );
        eprintln!("SKIPPED: Node checks (run `npm ci` in host/tests/ajv)");
        return None;
    }
    let out = match std::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(!ci, "CI=true but node is missing: {e}");
            eprintln!("SKIPPED: Node checks (node: {e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// react-jsonschema-form 6 (with its Ajv 2020-12 validator) renders every
/// request and account schema with no unsupported field and no console
/// error.
#[test]
fn rjsf_renders_every_request_and_account_schema() {
    let Some(out) = node("render.mjs", &[&root().join("schemas")]) else {
        return;
    };
    assert_eq!(out["problems"], json!([]), "{out}");
    assert_eq!(
        out["rendered"],
        json!(29),
        "every request and account schema"
    );
}

/// Every request and account schema carries `examples`, and each is valid
/// under its schema for the Rust validator (formats on) and for Ajv strict.
#[test]
fn every_request_and_account_schema_has_valid_examples() {
    let mut corpus = Vec::new();
    let mut files = Vec::new();
    let mut stack = vec![root().join("schemas")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with("request.json")
                || p.to_string_lossy().ends_with("account.json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    assert_eq!(files.len(), 29, "{files:?}");
    for f in &files {
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let rel = f
            .strip_prefix(root().join("schemas"))
            .unwrap()
            .display()
            .to_string();
        let examples = schema["examples"].as_array().cloned().unwrap_or_default();
        assert!(!examples.is_empty(), "{rel} has no examples");
        let v = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        for ex in examples {
            let errors: Vec<String> = v.iter_errors(&ex).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{rel}: example {ex} is invalid: {errors:?}"
            );
            corpus.push(json!({"schema": rel, "doc": ex}));
        }
    }
    let Some(out) = ajv("examples", &Value::Array(corpus.clone())) else {
        return;
    };
    for (c, verdict) in corpus.iter().zip(out["verdicts"].as_array().unwrap()) {
        assert_eq!(verdict, &json!(true), "Ajv refuses the example {c}");
    }
}

/// Runs the Ajv checker on `corpus`.
fn ajv(name: &str, corpus: &Value) -> Option<Value> {
    // A folder per test: tests run in parallel in one process.
    let file = common::temp_dir(&format!("ajv-{name}")).join("corpus.json");
    std::fs::write(&file, corpus.to_string()).unwrap();
    node("check.mjs", &[&root().join("schemas"), &file])
}

/// Documents around each operation's example: the example, boundaries and
/// classic mistakes.
fn variants(example: &Value) -> Vec<Value> {
    let mut out = vec![example.clone()];
    let with = |k: &str, v: Value| {
        let mut d = example.clone();
        d[k] = v;
        d
    };
    if example.get("amount").is_some() {
        for a in [
            json!(1),
            json!(0),
            json!(-1),
            json!(1.5),
            json!("5"),
            json!(1000.0),
            json!(9007199254740991i64),
            json!(9007199254740992i64),
            json!(9223372036854775807i64),
            Value::Null,
        ] {
            out.push(with("amount", a));
        }
    }
    for o in [json!(""), json!(7), json!("x".repeat(65)), json!("Ş-1")] {
        out.push(with("order_ref", o));
    }
    if example.get("back_url").is_some() {
        // A `format: uri` field: payops checks formats as the exported
        // schema and Ajv do.
        for u in [json!("not a url"), json!("https://merchant.example/cb?x=1")] {
            out.push(with("back_url", u));
        }
    }
    out.push(with("currency", json!("USD")));
    out.push(with("nonsense", json!(true)));
    let mut missing = example.clone();
    missing.as_object_mut().unwrap().remove("order_ref");
    out.push(missing);
    out
}

#[tokio::test]
async fn payops_the_rust_validator_and_ajv_agree() {
    // (provider lib, schema dir, per-operation example)
    let cases = [
        (
            "payops_esnekpos",
            "esnekpos",
            vec![
                (
                    OperationKind::Refund,
                    json!({"order_ref": "P-1", "amount": 500}),
                ),
                (
                    OperationKind::Cancel,
                    json!({"order_ref": "P-1", "amount": 500}),
                ),
                (
                    OperationKind::Cancel,
                    json!({"order_ref": "P-1", "channel": "android_pos", "back_url": "https://merchant.example/cb"}),
                ),
                (OperationKind::Query, json!({"order_ref": "P-1"})),
                (
                    OperationKind::Return,
                    json!({"order_ref": "P-1", "amount": 500}),
                ),
                (
                    OperationKind::SubMerchantAdjust,
                    json!({"order_ref": "P-1", "sub_merchant_id": "S1", "direction": "reduce", "amount": 500}),
                ),
            ],
            json!({"environment": "test", "merchant": "M1", "merchant_key": "k3y-Zq8vT2kW", "sub_merchant_sign": "reduce_is_negative"}),
        ),
        (
            "payops_turkpos",
            "turkpos",
            vec![
                (
                    OperationKind::Refund,
                    json!({"order_ref": "T-1", "marketplace_order_guid": "5E8B2D71-9C4A-4F36-A1E0-3B7D6C9F2A18", "amount": 1000, "seller_payout_amount": 3000}),
                ),
                (OperationKind::Query, json!({"order_ref": "T-1"})),
                (
                    OperationKind::Return,
                    json!({"order_ref": "T-1", "marketplace_order_guid": "5E8B2D71-9C4A-4F36-A1E0-3B7D6C9F2A18", "amount": 1000, "seller_payout_amount": 3000}),
                ),
            ],
            json!({"environment": "test", "client_code": "555", "client_username": "u", "client_password": "Xr7Kq2Wm9Z", "guid": "7C3E9A1F-B42D-4E8A-9F61-D05B8C2A7E34"}),
        ),
        (
            "payops_iyzico",
            "iyzico",
            vec![
                (
                    OperationKind::Refund,
                    json!({"order_ref": "11223344", "payment_transaction_id": "55667788", "amount": 1250}),
                ),
                (OperationKind::Cancel, json!({"order_ref": "22334455"})),
                (OperationKind::Query, json!({"order_ref": "11223344"})),
                (
                    OperationKind::Return,
                    json!({"order_ref": "11223344", "amount": 500}),
                ),
            ],
            json!({"environment": "sandbox", "api_key": "sandbox-k", "secret_key": "sandbox-Wq4Rz8Tn2Kv6Lp9X"}),
        ),
        (
            "payops_nestpay",
            "nestpay",
            vec![
                (
                    OperationKind::Refund,
                    json!({"order_ref": "20221030B3FF", "amount": 1050}),
                ),
                (OperationKind::Cancel, json!({"order_ref": "20221030B3FF"})),
                (OperationKind::Query, json!({"order_ref": "20221030B3FF"})),
                (
                    OperationKind::Return,
                    json!({"order_ref": "20221030B3FF", "amount": 500}),
                ),
            ],
            json!({"bank": "test", "client_id": "700655000200", "name": "ISBANKAPI", "password": "Tq7Wz2Kx9Rv4Lm8N"}),
        ),
        (
            "payops_paytr",
            "paytr",
            vec![
                (
                    OperationKind::Refund,
                    json!({"order_ref": "SIP20240001", "amount": 1197}),
                ),
                (OperationKind::Query, json!({"order_ref": "SIP20240001"})),
                (
                    OperationKind::Return,
                    json!({"order_ref": "SIP20240001", "amount": 500}),
                ),
            ],
            json!({"merchant_id": "123456", "merchant_key": "Kq8Wz3Tn7Rv2Lm9X", "merchant_salt": "Hs4Pd6Yc1Gb5Nf8J"}),
        ),
        (
            "payops_sipay",
            "sipay",
            vec![
                (
                    OperationKind::Refund,
                    json!({"order_ref": "INV-20230101-001", "amount": 5000}),
                ),
                (
                    OperationKind::Query,
                    json!({"order_ref": "INV-20230101-001"}),
                ),
                (
                    OperationKind::Return,
                    json!({"order_ref": "INV-20230101-001", "amount": 500}),
                ),
            ],
            json!({"app_id": "app_id_123", "app_secret": "Qz7Vb2Nx9Kd4Wm1T", "merchant_key": "Hp3Ls8Jc6Fr5Yg0E"}),
        ),
    ];
    let mut corpus = Vec::new();
    let mut ours = Vec::new();
    for (lib, dir, examples, account) in cases {
        let p: PluginProvider =
            payops_core::loader::load(&payops_conformance::built_cdylib(lib)).unwrap();
        let ctx = payops_conformance::context(&p, account, Arc::new(Nowhere));
        for (op, example) in examples {
            let schema_file = format!("{dir}/{op}.request.json");
            let schema: Value = serde_json::from_str(
                &std::fs::read_to_string(root().join("schemas").join(&schema_file)).unwrap(),
            )
            .unwrap();
            let rust = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap();
            // What the daemon validates with: the provider's own schema (as
            // the engine compiles it), not the exported file.
            let daemon = jsonschema::options()
                .should_validate_formats(true)
                .build(&p.info().operations[&op].request)
                .unwrap();
            for doc in variants(&example) {
                let by_schema = rust.is_valid(&doc);
                // payops: the daemon's reading (integral numbers), its
                // validation, then the provider's own checks up to sending.
                let normalized = payops_host::engine::integral_numbers(doc.clone());
                // (Nowhere refuses the connection: a document that got as far
                // as sending is refused as unreachable.)
                let by_payops = daemon.is_valid(&normalized)
                    && match p.execute(op, &ctx, normalized).await {
                        Ok(_) => true,
                        Err(e) => {
                            e.refusal_reason() == Some(payops_core::outcome::Reason::Unreachable)
                        }
                    };
                assert_eq!(
                    by_payops, by_schema,
                    "{schema_file}: payops says {by_payops}, the schema {by_schema}: {doc}"
                );
                corpus.push(json!({"schema": schema_file, "doc": doc}));
                ours.push(by_schema);
            }
        }
    }
    let Some(out) = ajv("verdicts", &Value::Array(corpus.clone())) else {
        return;
    };
    assert_eq!(out["errors"], json!([]), "Ajv strict refused a schema");
    let files = walk(&root().join("schemas"));
    assert_eq!(
        out["compiled"].as_u64().unwrap() as usize,
        files,
        "every schema compiled"
    );
    let theirs = out["verdicts"].as_array().unwrap();
    for ((c, mine), theirs) in corpus.iter().zip(&ours).zip(theirs) {
        assert_eq!(
            Some(*mine),
            theirs.as_bool(),
            "Ajv disagrees on {}: {}",
            c["schema"],
            c["doc"]
        );
    }
}

fn walk(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += walk(&p);
        } else if p.extension().is_some_and(|x| x == "json")
            && p.file_name()
                .is_some_and(|f| f != "index.json" && f != "openapi.json")
        {
            n += 1;
        }
    }
    n
}
