//! The iyzico simulator: `/payment/refund`, `/payment/cancel` and
//! `/payment/detail` over an in-memory ledger, checking the IYZWSv2
//! signature of every request as iyzico does.
//!
//! Where iyzico's public docs give no code for a refusal (a refund over
//! what remains, a second cancel), the simulator answers `errorCode` `11`
//! ("Geçersiz istek"); this is the simulator's choice, not iyzico's
//! documented behavior.

use std::collections::BTreeMap;

use payops_core::chrono::{DateTime, FixedOffset};
use payops_core::money::{DecimalStyle, format_minor, parse_json_minor};
use payops_core::{HttpRequest, HttpResponse, Simulator};
use serde_json::{Value, json};

use crate::wire;

/// One payment: its items (payment transaction id → paid, refunded).
#[derive(Debug, Clone)]
struct Payment {
    currency: String,
    items: BTreeMap<String, (i64, i64)>,
    cancelled: bool,
}

/// The simulator's ledger and merchants.
pub struct IyzicoSim {
    merchants: BTreeMap<String, String>,
    payments: BTreeMap<String, Payment>,
    log: Vec<Value>,
}

const DEMO_KEY: &str = "sandbox-demo-api-key";
const DEMO_SECRET: &str = "sandbox-demo-secret-key";

impl IyzicoSim {
    /// The simulator with the sandbox's demo merchant and payments.
    pub fn demo() -> IyzicoSim {
        let mut sim = IyzicoSim {
            merchants: BTreeMap::new(),
            payments: BTreeMap::new(),
            log: Vec::new(),
        };
        sim.seed(&json!({
            "merchants": [{"api_key": DEMO_KEY, "secret_key": DEMO_SECRET}],
            "payments": [
                {"payment_id": "DEMO-1001", "items": [{"payment_transaction_id": "DEMO-1001-1", "paid": 10000}]},
                {"payment_id": "DEMO-1002", "items": [{"payment_transaction_id": "DEMO-1002-1", "paid": 2500}]}
            ]
        }))
        .expect("demo data is valid");
        sim
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<(), (&'static str, &'static str)> {
        let rnd = request
            .header("x-iyzi-rnd")
            .ok_or(("1004", "Random string gönderilmesi zorunludur"))?;
        let (api, key_rnd, sig) = request
            .header("Authorization")
            .and_then(wire::parse_authorization)
            .ok_or(("1001", "Api bilgileri bulunamadı"))?;
        let secret = self
            .merchants
            .get(&api)
            .ok_or(("1001", "Api bilgileri bulunamadı"))?;
        let body = String::from_utf8_lossy(&request.body);
        if key_rnd != rnd || wire::signature(secret, &key_rnd, request.path(), &body) != sig {
            return Err(("1000", "Geçersiz imza"));
        }
        Ok(())
    }

    fn act(&mut self, path: &str, body: &Value) -> Result<Value, (&'static str, &'static str)> {
        let invalid = ("11", "Geçersiz istek");
        let str_of = |k: &str| body[k].as_str().map(str::to_owned).ok_or(invalid);
        match path {
            "/payment/refund" => {
                let ptid = str_of("paymentTransactionId")?;
                let amount = parse_json_minor(&body["price"], 2, DecimalStyle::Point)
                    .map_err(|_| invalid)?;
                let (pid, p) = self
                    .payments
                    .iter_mut()
                    .find(|(_, p)| p.items.contains_key(&ptid))
                    .ok_or(invalid)?;
                let (paid, refunded) = p.items.get_mut(&ptid).ok_or(invalid)?;
                if p.cancelled || amount <= 0 || *refunded + amount > *paid {
                    return Err(invalid);
                }
                *refunded += amount;
                Ok(
                    json!({"paymentId": pid, "paymentTransactionId": ptid, "price": price(amount),
                          "currency": p.currency, "hostReference": format!("H{}", self.log.len() + 1)}),
                )
            }
            "/payment/cancel" => {
                let pid = str_of("paymentId")?;
                let p = self.payments.get_mut(&pid).ok_or(invalid)?;
                if p.cancelled || p.items.values().any(|(_, r)| *r > 0) {
                    return Err(invalid);
                }
                p.cancelled = true;
                let total: i64 = p.items.values().map(|(paid, _)| paid).sum();
                Ok(
                    json!({"paymentId": pid, "price": price(total), "currency": p.currency,
                          "hostReference": format!("H{}", self.log.len() + 1)}),
                )
            }
            "/payment/detail" => {
                let pid = str_of("paymentId")?;
                let p = self.payments.get(&pid).ok_or(invalid)?;
                let total: i64 = p.items.values().map(|(paid, _)| paid).sum();
                let items: Vec<Value> = p.items.iter().map(|(id, (paid, _))| json!({
                    "paymentTransactionId": id, "transactionStatus": 2, "price": price(*paid), "paidPrice": price(*paid)
                })).collect();
                Ok(
                    json!({"paymentId": pid, "price": price(total), "paidPrice": price(total), "currency": p.currency,
                          "installment": 1, "paymentStatus": "SUCCESS", "fraudStatus": 1, "itemTransactions": items}),
                )
            }
            _ => Err(invalid),
        }
    }
}

/// A price as iyzico writes it: a JSON number in decimal form. Marked here
/// as a string and turned into a number in the written body (never a float).
fn price(minor: i64) -> Value {
    json!(format!("#num:{}", format_minor(minor, 2, '.')))
}

impl Simulator for IyzicoSim {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let head = json!({"locale": body["locale"], "systemTime": now.timestamp_millis(),
                          "conversationId": body["conversationId"]});
        let result = self
            .authenticate(request)
            .and_then(|()| self.act(request.path(), &body));
        let mut answer = match &result {
            Ok(_) => json!({"status": "success"}),
            Err((code, message)) => {
                json!({"status": "failure", "errorCode": code, "errorMessage": message})
            }
        };
        merge(&mut answer, head);
        if let Ok(fields) = &result {
            merge(&mut answer, fields.clone());
        }
        self.log
            .push(json!({"path": request.path(), "request": body, "answer": answer}));
        let text = answer.to_string();
        HttpResponse::new(
            200,
            "application/json",
            unquote_numbers(&text).unwrap_or(text),
        )
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        for m in document["merchants"].as_array().into_iter().flatten() {
            let (Some(k), Some(s)) = (m["api_key"].as_str(), m["secret_key"].as_str()) else {
                return Err(format!("a merchant needs api_key and secret_key: {m}"));
            };
            self.merchants.insert(k.to_owned(), s.to_owned());
        }
        for p in document["payments"].as_array().into_iter().flatten() {
            let id = p["payment_id"]
                .as_str()
                .ok_or("a payment needs payment_id")?;
            let mut items = BTreeMap::new();
            for i in p["items"].as_array().into_iter().flatten() {
                let (Some(t), Some(paid)) =
                    (i["payment_transaction_id"].as_str(), i["paid"].as_i64())
                else {
                    return Err(format!(
                        "an item needs payment_transaction_id and paid: {i}"
                    ));
                };
                items.insert(t.to_owned(), (paid, 0));
            }
            let currency = p["currency"].as_str().unwrap_or("TRY").to_owned();
            self.payments.insert(
                id.to_owned(),
                Payment {
                    currency,
                    items,
                    cancelled: false,
                },
            );
        }
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"log": self.log, "payments": self.payments.iter().map(|(id, p)| (id.clone(), json!({
            "cancelled": p.cancelled,
            "items": p.items.iter().map(|(t, (paid, refunded))| (t.clone(), json!({"paid": paid, "refunded": refunded}))).collect::<BTreeMap<_, _>>()
        }))).collect::<BTreeMap<_, _>>()})
    }

    fn demo_accounts(&self) -> Value {
        json!({"iyzico-demo": {"api_key": DEMO_KEY, "secret_key": DEMO_SECRET}})
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// `"#num:12.50"` → `12.50` in the written JSON text.
fn unquote_numbers(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\"#num:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        let end = after.find('"')?;
        out.push_str(&after[..end]);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}
