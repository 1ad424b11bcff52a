//! A tiny provider that exists to test the plugin ABI end to end: it is
//! built as a cdylib, loaded through the core loader, and performs a refund
//! through the host's transport against a loopback server.
//!
//! Wire: `POST {base_url}/refund` with `{"order_ref", "amount", "key"}` and
//! the headers `Idempotency-Key` (the operation id), `X-Nonce` (the host's
//! nonce) and `X-Caller-Key` (the caller's idempotency key, when given);
//! the server answers `{"ok": bool, "ref": "..."}`.

#![warn(missing_docs)]

use std::collections::BTreeMap;

use payops_core::serde_json::{self, Value, json};
use payops_core::{
    Call, Error, HttpRequest, HttpResponse, OperationKind, OperationSchemas, Outcome, Plugin,
    ProviderInfo, Simulator, Status, Step, TransportError,
};

/// The fixture provider.
#[derive(Default)]
pub struct Fixture;

fn account_str<'a>(call: &'a Call, key: &str) -> Result<&'a str, Error> {
    call.account
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_field(format!("/{key}"), "missing"))
}

impl Plugin for Fixture {
    fn info(&self) -> ProviderInfo {
        let mut operations = BTreeMap::new();
        operations.insert(
            OperationKind::Refund,
            OperationSchemas {
                request: json!({"type": "object", "required": ["order_ref", "amount"]}),
                response: json!({"type": "object"}),
            },
        );
        ProviderInfo {
            id: "fixture".into(),
            name: "Fixture".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![OperationKind::Refund],
            account_schema: json!({
                "type": "object",
                "properties": {
                    "base_url": {"type": "string"},
                    "key": {"type": "string", "writeOnly": true}
                }
            }),
            operations,
            merchant_identity: Vec::new(),
            callbacks: Vec::new(),
        }
    }

    fn start(&self, call: &Call, request: &Value) -> Result<Step, Error> {
        let base = account_str(call, "base_url")?;
        let key = account_str(call, "key")?;
        let order_ref = request["order_ref"].as_str().unwrap_or_default();
        if order_ref == "panic" {
            panic!("fixture asked to panic");
        }
        // Deliberately logs the credential: the host must scrub it.
        tracing::info!(order_ref, "fixture refund sent with key {key}");
        let body = json!({"order_ref": order_ref, "amount": request["amount"], "key": key});
        // The operation id is one per intent: the provider-side idempotency
        // key. The caller's key and the host's nonce are passed on as seen.
        let mut request = HttpRequest::post(
            format!("{base}/refund"),
            "application/json",
            body.to_string(),
        )
        .with_header("Idempotency-Key", &call.operation_id)
        .with_header("X-Nonce", &call.nonce);
        if let Some(k) = &call.idempotency_key {
            request = request.with_header("X-Caller-Key", k);
        }
        Ok(Step::Send {
            request,
            state: json!({"order_ref": order_ref}),
        })
    }

    fn resume(
        &self,
        _call: &Call,
        _state: Value,
        response: Result<HttpResponse, TransportError>,
    ) -> Result<Step, Error> {
        let response = match response {
            Ok(r) => r,
            Err(e) => return Ok(Step::Done(Outcome::from_transport_error(&e))),
        };
        let Ok(v) = serde_json::from_slice::<Value>(&response.body) else {
            return Ok(Step::Done(Outcome::unparseable(
                response.status,
                "not JSON",
                &response.body,
            )));
        };
        let mut o = Outcome::new(if v["ok"] == json!(true) {
            Status::Succeeded
        } else {
            Status::Failed
        });
        o.provider_reference = v["ref"].as_str().map(str::to_owned);
        o.raw = v;
        Ok(Step::Done(o))
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(FixtureSim::default())
    }
}

/// Counts refunds; answers every refund with `ok`.
#[derive(Default)]
pub struct FixtureSim {
    refunds: Vec<Value>,
}

impl Simulator for FixtureSim {
    fn handle(
        &mut self,
        request: &HttpRequest,
        _now: payops_core::chrono::DateTime<payops_core::chrono::FixedOffset>,
    ) -> HttpResponse {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.refunds.push(json!({
            "order_ref": body["order_ref"],
            "amount": body["amount"],
            "idempotency_key": request.header("Idempotency-Key"),
            "caller_key": request.header("X-Caller-Key"),
            "nonce": request.header("X-Nonce"),
        }));
        HttpResponse::json(
            200,
            &json!({"ok": true, "ref": format!("R{}", self.refunds.len()), "echo_key": body["key"]}),
        )
    }
    fn seed(&mut self, _document: &Value) -> Result<(), String> {
        Ok(())
    }
    fn state(&self) -> Value {
        json!({"refunds": self.refunds})
    }
    fn demo_accounts(&self) -> Value {
        json!({"fixture-demo": {"key": "demo-key"}})
    }
}

payops_core::export_provider!(Fixture);
