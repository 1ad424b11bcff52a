//! A tiny provider that exists to test the plugin ABI end to end: it is
//! built as a cdylib, loaded through the core loader, and performs a refund
//! through the host's transport against a loopback server.
//!
//! Wire: `POST {base_url}/refund` with `{"order_ref", "amount", "key"}` and
//! the headers `Idempotency-Key` (the operation id), `X-Nonce` (the host's
//! nonce) and `X-Caller-Key` (the caller's idempotency key, when given);
//! the server answers `{"ok": bool, "ref": "..."}`.

#![warn(missing_docs)]

use payops_core::serde_json::{self, Value, json};
use payops_core::{
    About, Answer, Call, Error, HttpRequest, HttpResponse, Next, Outcome, Provider, Refund, Secret,
    Simulator, Status,
};
use serde::Deserialize;

/// The fixture provider.
#[derive(Default)]
pub struct Fixture;

/// Its account.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct Account {
    /// Where the fixture server listens.
    pub base_url: String,
    /// The credential (deliberately logged by `start`: the host scrubs it).
    pub key: Secret,
}

/// A refund document.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct RefundDoc {
    /// The order.
    pub order_ref: String,
    /// The amount in minor units.
    pub amount: i64,
}

impl Provider for Fixture {
    type Account = Account;

    fn about(&self) -> About {
        About::new("fixture", "Fixture", env!("CARGO_PKG_VERSION"))
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(FixtureSim::default())
    }
}

impl Refund for Fixture {
    type Document = RefundDoc;
    type Phase = ();

    fn details_schema(&self) -> Value {
        json!({"type": "object"})
    }

    fn start(&self, call: &Call, account: &Account, doc: RefundDoc) -> Result<Next<()>, Error> {
        let base = &account.base_url;
        let key = account.key.expose();
        let order_ref = doc.order_ref.as_str();
        if order_ref == "panic" {
            panic!("fixture asked to panic");
        }
        // Deliberately logs the credential: the host must scrub it.
        tracing::info!(order_ref, "fixture refund sent with key {key}");
        let body = json!({"order_ref": order_ref, "amount": doc.amount, "key": key});
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
        Ok(Next::Send { request, phase: () })
    }

    fn resume(&self, _: &Call, _: &Account, _: (), answer: Answer) -> Result<Next<()>, Error> {
        let response = match answer {
            Ok(r) => r,
            Err(e) => return Ok(Next::Done(Outcome::from_transport_error(&e))),
        };
        let Ok(v) = serde_json::from_slice::<Value>(&response.body) else {
            return Ok(Next::Done(Outcome::unparseable(
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
        Ok(Next::Done(o))
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
