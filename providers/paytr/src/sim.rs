//! The PayTR simulator: `/odeme/iade` and `/odeme/durum-sorgu` over an
//! in-memory ledger, checking every `paytr_token` as PayTR does. Refunds
//! are partial up to what was paid (beyond it `006`, PayTR's documented
//! error), listed by the status query with their `reference_no` and
//! completed at once.
//!
//! Where PayTR's pages give no answer (a wrong token, a refund of an order
//! it does not know), the simulator answers `error` `001` and `failed`:
//! the simulator's choice, not PayTR's documented behavior.

use std::collections::BTreeMap;

use payops_core::chrono::{DateTime, FixedOffset};
use payops_core::kit::form;
use payops_core::money::{DecimalStyle, format_minor, parse_minor};
use payops_core::{HttpRequest, HttpResponse, Simulator};
use serde_json::{Value, json};

use crate::wire::{REFUND_PATH, STATUS_PATH, token};

/// One order: paid, its date, refunds (amount, reference_no, when).
#[derive(Debug, Clone)]
struct Order {
    paid: i64,
    date: String,
    refunds: Vec<(i64, String, String)>,
}

/// The simulator's merchants (id → key, salt) and orders.
pub struct PayTrSim {
    merchants: BTreeMap<String, (String, String)>,
    orders: BTreeMap<String, Order>,
    log: Vec<Value>,
}

const DEMO: (&str, &str, &str) = ("100001", "sandbox-demo-key", "sandbox-demo-salt");

impl PayTrSim {
    /// The simulator with the sandbox's demo merchant and orders.
    pub fn demo() -> PayTrSim {
        let mut sim = PayTrSim {
            merchants: BTreeMap::new(),
            orders: BTreeMap::new(),
            log: Vec::new(),
        };
        sim.seed(&json!({
            "merchants": [{"merchant_id": DEMO.0, "merchant_key": DEMO.1, "merchant_salt": DEMO.2}],
            "orders": [{"order_ref": "DEMO1001", "amount": 10000}, {"order_ref": "DEMO1002", "amount": 2500}]
        }))
        .expect("demo data is valid");
        sim
    }

    fn act(
        &mut self,
        path: &str,
        f: &BTreeMap<String, String>,
        now: DateTime<FixedOffset>,
    ) -> Value {
        let get = |k: &str| f.get(k).map_or("", String::as_str);
        let (id, oid) = (get("merchant_id"), get("merchant_oid"));
        let signed: Vec<&str> = match path {
            REFUND_PATH => vec![id, oid, get("return_amount")],
            _ => vec![id, oid],
        };
        let error = |no: &str, msg: &str| json!({"status": "error", "err_no": no, "err_msg": msg});
        match self.merchants.get(id) {
            Some((key, salt)) if token(key, salt, &signed) == get("paytr_token") => {}
            _ => return error("001", "paytr_token gecersiz"),
        }
        let Some(o) = self.orders.get_mut(oid) else {
            return match path {
                REFUND_PATH => json!({"status": "failed", "err_msg": "siparis bulunamadi"}),
                _ => error("004", "merchant_oid ile basarili odeme bulunamadi"),
            };
        };
        let refunded: i64 = o.refunds.iter().map(|r| r.0).sum();
        if path == STATUS_PATH {
            let returns: Vec<Value> = o.refunds.iter().map(|(a, r, d)| json!({
                "return_amount": format_minor(*a, 2, '.'), "return_date": d, "return_type": "",
                "date_completed": d, "return_auth_code": "", "return_ref_num": "", "reference_no": r, "return_source": ""
            })).collect();
            let comma = format_minor(o.paid, 2, ',');
            return json!({"status": "success", "payment_amount": comma, "payment_total": comma, "payment_date": o.date,
                "currency": "TL", "taksit": "0", "odeme_tipi": "KART", "test_mode": "1", "returns": returns});
        }
        let amount = parse_minor(get("return_amount"), 2, DecimalStyle::Point).unwrap_or(0);
        if amount <= 0 || refunded + amount > o.paid {
            return error("006", "Toplam iade tutarı odeme tutarindan fazla olamaz");
        }
        o.refunds.push((
            amount,
            get("reference_no").to_owned(),
            now.format("%Y-%m-%d %H:%M:%S").to_string(),
        ));
        json!({"status": "success", "is_test": "1", "merchant_oid": oid, "return_amount": get("return_amount"), "reference_no": get("reference_no")})
    }
}

impl Simulator for PayTrSim {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        let f: BTreeMap<String, String> = form::decode(&request.body).into_iter().collect();
        let answer = match request.path() {
            p @ (REFUND_PATH | STATUS_PATH) => self.act(p, &f, now),
            p => return HttpResponse::new(404, "text/html", format!("<h1>{p} bulunamadi</h1>")),
        };
        self.log.push(json!({"path": request.path(), "merchant_oid": f.get("merchant_oid"), "answer": answer}));
        HttpResponse::new(200, "application/json", answer.to_string())
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        for m in document["merchants"].as_array().into_iter().flatten() {
            let (Some(i), Some(k), Some(s)) = (
                m["merchant_id"].as_str(),
                m["merchant_key"].as_str(),
                m["merchant_salt"].as_str(),
            ) else {
                return Err(format!(
                    "a merchant needs merchant_id, merchant_key and merchant_salt: {m}"
                ));
            };
            self.merchants
                .insert(i.to_owned(), (k.to_owned(), s.to_owned()));
        }
        for o in document["orders"].as_array().into_iter().flatten() {
            let (Some(id), Some(paid)) = (o["order_ref"].as_str(), o["amount"].as_i64()) else {
                return Err(format!("an order needs order_ref and amount: {o}"));
            };
            let date = o["date"]
                .as_str()
                .unwrap_or("2021-01-01 10:00:00")
                .to_owned();
            self.orders.insert(
                id.to_owned(),
                Order {
                    paid,
                    date,
                    refunds: Vec::new(),
                },
            );
        }
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"log": self.log, "orders": self.orders.iter().map(|(id, o)| (id.clone(), json!({
            "paid": o.paid, "refunds": o.refunds.iter().map(|(a, r, _)| json!({"amount": a, "reference_no": r})).collect::<Vec<_>>()
        }))).collect::<BTreeMap<_, _>>()})
    }

    fn demo_accounts(&self) -> Value {
        json!({"paytr-demo": {"merchant_id": DEMO.0, "merchant_key": DEMO.1, "merchant_salt": DEMO.2}})
    }
}
