//! Traces over OTLP, through the real binary: one refund sent with a W3C
//! `traceparent` reaches an OTLP receiver as one tree (the request, the
//! operation, the intent's write, the provider's call with its HTTP request,
//! the answer's write), the webhook it causes carries the same trace to the
//! receiver, and no attribute holds any part of a credential.
//!
//! The receiver is `otlp/receiver.py`: the official `opentelemetry-proto`
//! definitions (PyPI) decoding what payops's exporter (the official Rust
//! SDK's) sends; the OpenTelemetry Collector has no package here.

mod common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const TOKEN: &str = "traces-token-5RbQ2mW8xZ";
const HOOK_SECRET: &str = "whsec_traces_9Tq4Lm7Pz2Vk";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// The receiver, started on a free port; killed when dropped.
struct Receiver {
    child: std::process::Child,
    url: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(out: &Path) -> Receiver {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("the OTLP receiver did not start: {line:?}"))
        .to_owned();
    Receiver { child, url }
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn str_attr<'a>(span: &'a Value, key: &str) -> &'a str {
    attr(span, key)
        .and_then(|v| v["string_value"].as_str())
        .unwrap_or("")
}

#[cfg_attr(
    not(payops_otlp),
    ignore = "needs python3 with opentelemetry-proto (pip install opentelemetry-proto)"
)]
#[tokio::test(flavor = "multi_thread")]
async fn one_refund_is_one_trace_from_the_caller_to_the_provider_and_the_webhook() {
    let dir = temp_dir("traces");
    let spans_file = dir.join("spans.jsonl");
    let otlp = receiver(&spans_file);
    let mut esnek = payops_esnekpos::sim::EsnekSimulator::empty();
    esnek
        .seed(&json!({"merchants": [{"merchant": "M1", "merchant_key": SECRETS[0]}],
                       "payments": [{"order_ref": "T1", "amount": 50000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(esnek), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (hook_url, heads) = webhook_receiver_with(|head, _| Some(head)).await;
    let hook: payops_host::config::WebhookConfig = serde_json::from_value(json!({
        "name": "platform", "url": hook_url, "secret": HOOK_SECRET,
        "retry_initial_ms": 100, "retry_max_ms": 400, "timeout_ms": 2000
    }))
    .unwrap();
    let endpoint = format!("{}/v1/traces", otlp.url);
    let cfg = TestConfig::new(&dir)
        .store(&sqlite_url(&dir))
        .token("ops", TOKEN, &["*"], &["*"])
        .account(
            "esnek",
            json!({"provider": "esnekpos", "base_url": sim.url(), "timeout_ms": 5000,
                   "merchant": "M1", "merchant_key": SECRETS[0],
                   "sub_merchant_sign": "reduce_is_negative", "order_query": false}),
        )
        .with(|c| {
            c.webhooks.push(hook);
            c.traces.enabled = true;
            c.traces.endpoint = Some(endpoint);
        })
        .write(&dir.join("payops.toml"));
    let cfg = cfg.display().to_string();
    let (c2, d2) = (cfg.clone(), dir.clone());
    let mut daemon = tokio::task::spawn_blocking(move || {
        Daemon::start_env(
            "traces",
            &["--config", &c2, "serve", "--listen", "127.0.0.1:0"],
            &d2,
            // Spans leave every 200 ms (the SDK's default is 5 s).
            &[
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment.name=test",
                ),
            ],
        )
    })
    .await
    .unwrap();

    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let (status, body) = http_with(
        "POST",
        &format!("{}/v1/accounts/esnek/operations/refund", daemon.url),
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("traceparent", &traceparent),
        ],
        Some(r#"{"order_ref":"T1","amount":1250}"#),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("succeeded")),
        "{body}"
    );
    let operation_id = body["operation_id"].as_str().unwrap().to_owned();

    // The webhook carries the refund's trace onward.
    let deadline = Instant::now() + Duration::from_secs(15);
    let head = loop {
        if let Some(h) = heads.lock().unwrap().first().cloned() {
            break h;
        }
        assert!(Instant::now() < deadline, "no webhook delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent = head
        .lines()
        .find_map(|l| l.strip_prefix("traceparent: "))
        .unwrap_or_else(|| panic!("the delivery has no traceparent:\n{head}"));
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("00", TRACE_ID, "01"),
        "{sent}"
    );

    // Every span of the trace has arrived when the delivery's has.
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&spans_file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|s: &Value| s["trace_id"] == TRACE_ID)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = read();
        if spans.iter().any(|s| s["name"] == "webhook.delivery") {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the receiver has not got the trace: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_id: BTreeMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["span_id"].as_str().unwrap(), s))
        .collect();
    let children = |parent: &Value| -> Vec<&Value> {
        let id = parent["span_id"].as_str().unwrap();
        let mut c: Vec<&Value> = spans.iter().filter(|s| s["parent_span_id"] == id).collect();
        c.sort_by_key(|s| {
            s["start_time_unix_nano"]
                .as_str()
                .unwrap_or("")
                .parse::<u128>()
                .unwrap_or(0)
        });
        c
    };
    let names = |v: &[&Value]| -> Vec<String> {
        v.iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };

    // The request: a server span, child of the caller's.
    let request = spans
        .iter()
        .find(|s| s["parent_span_id"] == CALLER_SPAN)
        .unwrap_or_else(|| panic!("no span continues the caller's: {spans:#?}"));
    assert_eq!(
        request["name"],
        "POST /v1/accounts/{account}/operations/{operation}"
    );
    assert_eq!(request["kind"], "SPAN_KIND_SERVER");
    assert_eq!(
        attr(request, "http.response.status_code").and_then(|v| v["int_value"].as_str()),
        Some("200")
    );
    assert_eq!(str_attr(&request["resource"], "service.name"), "payops");
    assert_eq!(
        str_attr(&request["resource"], "deployment.environment.name"),
        "test"
    );
    // The operation under it, with its id.
    let ops: Vec<&Value> = children(request)
        .into_iter()
        .filter(|s| s["name"] == "operation")
        .collect();
    assert_eq!(ops.len(), 1, "{:?}", names(&children(request)));
    let op = ops[0];
    assert_eq!(str_attr(op, "operation_id"), operation_id);
    assert_eq!(str_attr(op, "account"), "esnek");
    assert_eq!(str_attr(op, "provider"), "esnekpos");
    assert_eq!(str_attr(op, "operation"), "refund");
    // Its children, in time order: the intent written, the provider called,
    // the answer written.
    let steps = children(op);
    let wanted = ["store.intent", "provider.call", "store.answer"];
    let got: Vec<String> = names(&steps)
        .into_iter()
        .filter(|n| wanted.contains(&n.as_str()))
        .collect();
    assert_eq!(got, wanted, "{:?}", names(&steps));
    for s in steps
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("store."))
    {
        assert_eq!(str_attr(s, "db.system.name"), "sqlite");
    }
    // The provider's HTTP request under its call: a client span with the
    // simulator's address and the answer's status.
    let call = steps.iter().find(|s| s["name"] == "provider.call").unwrap();
    let http = children(call);
    assert_eq!(http.len(), 1, "{:?}", names(&http));
    assert_eq!(http[0]["kind"], "SPAN_KIND_CLIENT");
    assert!(
        http[0]["name"].as_str().unwrap().starts_with("POST /"),
        "{}",
        http[0]["name"]
    );
    assert_eq!(str_attr(http[0], "server.address"), "127.0.0.1");
    assert_eq!(
        attr(http[0], "http.response.status_code").and_then(|v| v["int_value"].as_str()),
        Some("200")
    );
    // The delivery: in the trace, under the answer's write (which wrote
    // the event), and what the receiver got is its own context.
    let delivery = spans
        .iter()
        .find(|s| s["name"] == "webhook.delivery")
        .unwrap();
    let parent = by_id[delivery["parent_span_id"].as_str().unwrap()];
    assert_eq!(parent["name"], "store.answer");
    assert_eq!(parts[2], delivery["span_id"]);
    assert_eq!(str_attr(delivery, "operation_id"), operation_id);
    assert_eq!(
        attr(delivery, "http.response.status_code").and_then(|v| v["int_value"].as_str()),
        Some("204")
    );

    // No attribute of any span holds 8 characters of a credential.
    let text = std::fs::read_to_string(&spans_file).unwrap();
    for secret in SECRETS.iter().chain([&TOKEN, &HOOK_SECRET]) {
        let chars: Vec<char> = secret.chars().collect();
        for w in chars.windows(8) {
            let part: String = w.iter().collect();
            assert!(
                !text.contains(&part),
                "an exported span holds {part:?} of a credential"
            );
        }
    }

    // Shutdown sends what is still queued: the daemon exits cleanly.
    daemon.terminate();
    assert_eq!(daemon.wait(), 0);
    drop(sim);
}

#[test]
fn a_traces_endpoint_with_a_password_or_an_unknown_protocol_is_refused() {
    let dir = temp_dir("traces-config");
    let cfg = TestConfig::new(&dir)
        .with(|c| {
            c.traces.enabled = true;
            c.traces.endpoint = Some("http://user:hunter2@collector:4318/v1/traces".into());
        })
        .write(&dir.join("bad.toml"));
    let cfg = cfg.display().to_string();
    let (code, _, err) = run(&["--config", &cfg, "config", "check"], &dir);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("traces.endpoint") && err.contains("OTEL_EXPORTER_OTLP_HEADERS"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let ok = TestConfig::new(&dir)
        .with(|c| c.traces.enabled = true)
        .write(&dir.join("ok.toml"));
    let ok = ok.display().to_string();
    // The same from the standard variable.
    let env = [(
        "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
        "https://user:hunter2@collector:4318".to_owned(),
    )];
    let (code, _, err) = run_env(&["--config", &ok, "config", "check"], &dir, &env);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let env = [("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned())];
    let (code, _, err) = run_env(&["--config", &ok, "config", "check"], &dir, &env);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("http/protobuf"), "{err}");
    // Off by the standard variable whatever the config says.
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned()),
        ("OTEL_SDK_DISABLED".to_owned(), "true".to_owned()),
    ];
    let (code, out, err) = run_env(&["--config", &ok, "config", "check"], &dir, &env);
    assert_eq!(code, 0, "{out}{err}");
}
