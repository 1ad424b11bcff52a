//! The Acme Pay simulator: the API of README.md over an in-memory ledger.
//! The host serves it on loopback in `payops sandbox`; the conformance
//! suite drives it in memory.

use std::collections::BTreeMap;

use payops_core::chrono::{DateTime, FixedOffset};
use payops_core::serde_json::{Value, json};
use payops_core::{HttpRequest, HttpResponse, Simulator};

/// Payments by id, the API key it accepts, and every answer by idempotency
/// key (a repeated key gets the first answer again, as Acme Pay documents).
pub struct AcmeSim {
    api_key: String,
    payments: BTreeMap<String, Value>,
    answers: BTreeMap<String, (u16, Value)>,
    next_id: u32,
}

impl AcmeSim {
    /// The simulator with the sandbox's demo data.
    pub fn demo() -> AcmeSim {
        let mut sim = AcmeSim {
            api_key: "acme-demo-key".into(),
            payments: BTreeMap::new(),
            answers: BTreeMap::new(),
            next_id: 0,
        };
        let demo = json!({"payments": [{"order_ref": "DEMO-1001", "amount": 10000},
                                       {"order_ref": "DEMO-1002", "amount": 2500}]});
        sim.seed(&demo).expect("demo data is valid");
        sim
    }

    fn act(&mut self, method: &str, path: &[&str], body: &Value, now: String) -> (u16, Value) {
        let Some(p) = path.get(2).and_then(|id| self.payments.get_mut(*id)) else {
            return error(404, "payment_not_found");
        };
        let refunded = p["amount_refunded"].as_i64().unwrap_or(0);
        match (method, path.get(3).copied()) {
            ("GET", None) => (200, p.clone()),
            ("POST", Some("refunds")) => {
                let Some(amount) = body["amount"].as_i64().filter(|a| *a > 0) else {
                    return error(400, "invalid_request");
                };
                if p["status"] == "cancelled" {
                    return error(422, "payment_not_cancellable");
                }
                if refunded + amount > p["amount"].as_i64().unwrap_or(0) {
                    return error(422, "amount_exceeds_refundable");
                }
                self.next_id += 1;
                let refund = json!({"id": format!("re_{}", self.next_id), "payment_id": p["id"],
                    "amount": amount, "currency": p["currency"], "status": "succeeded",
                    "idempotency_key": body["idempotency_key"], "created_at": now});
                p["refunds"]
                    .as_array_mut()
                    .expect("seeded")
                    .push(refund.clone());
                p["amount_refunded"] = json!(refunded + amount);
                p["status"] = json!(if refunded + amount == p["amount"].as_i64().unwrap_or(0) {
                    "refunded"
                } else {
                    "partially_refunded"
                });
                (201, refund)
            }
            ("POST", Some("cancel")) => {
                if p["status"] != "captured" {
                    return error(422, "payment_not_cancellable");
                }
                self.next_id += 1;
                let c = json!({"id": format!("cn_{}", self.next_id), "payment_id": p["id"],
                    "status": "succeeded", "idempotency_key": body["idempotency_key"], "created_at": now});
                p["status"] = json!("cancelled");
                p["cancellation"] = c.clone();
                (200, c)
            }
            _ => error(404, "not_found"),
        }
    }
}

fn error(status: u16, code: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": code.replace('_', " ")}}),
    )
}

impl Simulator for AcmeSim {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        let (status, body) =
            if request.header("Authorization") != Some(&format!("Bearer {}", self.api_key)) {
                error(401, "unauthorized")
            } else {
                let path: Vec<&str> = request.path().trim_matches('/').split('/').collect();
                let mut body: Value =
                    payops_core::serde_json::from_slice(&request.body).unwrap_or(json!({}));
                let key = request.header("Idempotency-Key").map(str::to_owned);
                body["idempotency_key"] = json!(key);
                match key.as_ref().and_then(|k| self.answers.get(k)) {
                    Some(first) => first.clone(),
                    None => {
                        let answer = self.act(&request.method, &path, &body, now.to_rfc3339());
                        if let Some(k) = key {
                            self.answers.insert(k, answer.clone());
                        }
                        answer
                    }
                }
            };
        HttpResponse::json(status, &body)
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        if let Some(key) = document["api_key"].as_str() {
            self.api_key = key.to_owned();
        }
        for p in document["payments"].as_array().into_iter().flatten() {
            let (Some(id), Some(amount)) = (p["order_ref"].as_str(), p["amount"].as_i64()) else {
                return Err(format!("a payment needs order_ref and amount: {p}"));
            };
            let payment = json!({"id": id, "amount": amount, "currency": p.get("currency").unwrap_or(&json!("TRY")),
                "status": "captured", "amount_refunded": 0, "refunds": [], "cancellation": null,
                "created_at": p.get("created_at").unwrap_or(&json!("2026-01-05T10:00:00+03:00"))});
            self.payments.insert(id.to_owned(), payment);
        }
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"payments": self.payments})
    }

    fn demo_accounts(&self) -> Value {
        json!({"acme-demo": {"api_key": self.api_key}})
    }
}
