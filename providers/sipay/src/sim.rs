//! The Sipay simulator: `/ccpayment/api/token`, `/ccpayment/api/refund`
//! and `/ccpayment/api/checkstatus` over an in-memory ledger, checking the
//! bearer token, the credentials and every `hash_key` as Sipay does.
//! Refunds are partial up to what remains (beyond it `49`), a
//! `refund_transaction_id` used before is `104`; an invoice seeded with
//! `review_secs` answers `101` (manual review) and its refunds complete
//! that many seconds later on the simulator's clock; `checkstatus` counts
//! completed refunds in `total_refunded_amount`. An app with a refund
//! webhook URL (seeded as `account_callbacks`, by account name, as the
//! sandbox does) gets Sipay's post when a reviewed refund completes
//! (`invoice_id`, `order_id`, `amount`, `status` `Completed`, the
//! `hash_key` of `status|amount|invoice_id|order_id`); whether Sipay also
//! posts refunds it completes at once is not stated: the simulator does
//! not.
//!
//! Where Sipay's pages give no answer (a bad bearer token or credentials:
//! HTTP 401 with `30`; an unknown path: 404), the answers are the
//! simulator's choice, not Sipay's documented behavior.

use std::collections::BTreeMap;

use payops_core::chrono::{DateTime, Duration, FixedOffset};
use payops_core::money::{DecimalStyle, format_minor, parse_minor};
use payops_core::{HttpRequest, HttpResponse, Simulator};
use serde_json::{Value, json};

use crate::wire::{REFUND_PATH, STATUS_PATH, TOKEN_PATH, hash_key, open_hash_key};

struct Refund {
    amount: i64,
    id: String,
    done_at: DateTime<FixedOffset>,
    /// Where its webhook is to be posted, under which app secret (until it is).
    post: Option<(String, String)>,
}

#[derive(serde::Deserialize)]
struct Order {
    #[serde(rename = "amount")]
    paid: i64,
    review_secs: Option<i64>,
    #[serde(skip)]
    refunds: Vec<Refund>,
}

/// The simulator's apps (id → secret, merchant key), their refund webhook
/// URLs, tokens and invoices.
#[derive(Default)]
pub struct SipaySim {
    apps: BTreeMap<String, (String, String)>,
    webhooks: BTreeMap<String, String>,
    tokens: BTreeMap<String, String>,
    orders: BTreeMap<String, Order>,
    log: Vec<Value>,
}

const DEMO_APP: &str = "sandbox-demo-app";
const DEMO_SECRET: &str = "sandbox-demo-secret";
const DEMO_KEY: &str = "$2y$10$sandbox.demo.merchant.key";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    #[serde(default)]
    apps: Vec<SeedApp>,
    #[serde(default)]
    orders: Vec<SeedOrder>,
    /// Account name (of [`Simulator::demo_accounts`]) → its refund webhook URL.
    #[serde(default)]
    account_callbacks: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct SeedApp {
    app_id: String,
    app_secret: String,
    merchant_key: String,
}

#[derive(serde::Deserialize)]
struct SeedOrder {
    order_ref: String,
    #[serde(flatten)]
    order: Order,
}

const REVIEW: &str =
    "Your refund request has been successfully created. Our team will complete the return process";

fn said(code: i64, description: &str) -> Value {
    json!({"status_code": code, "status_description": description})
}

impl SipaySim {
    /// The simulator with the sandbox's demo app and invoices (`DEMO3001`
    /// goes through manual review for 10 seconds).
    pub fn demo() -> SipaySim {
        let mut sim = SipaySim::default();
        sim.seed(&json!({
            "apps": [{"app_id": DEMO_APP, "app_secret": DEMO_SECRET, "merchant_key": DEMO_KEY}],
            "orders": [{"order_ref": "DEMO3001", "amount": 10000, "review_secs": 10}, {"order_ref": "DEMO3002", "amount": 2500}]
        }))
        .expect("demo data is valid");
        sim
    }

    fn act(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> (u16, String) {
        let f: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let get = |k: &str| f[k].as_str().unwrap_or_default();
        if request.path() == TOKEN_PATH {
            return match self.apps.get(get("app_id")) {
                Some((secret, _)) if secret == get("app_secret") => {
                    let t = format!("sim-token-{}", self.tokens.len() + 1);
                    self.tokens.insert(t.clone(), get("app_id").to_owned());
                    let v = json!({"status_code": 100, "status_description": "Successful",
                        "data": {"token": t, "is_3d": 1, "expires_at": (now + Duration::hours(2)).format("%Y-%m-%d %H:%M:%S").to_string()}});
                    (200, v.to_string())
                }
                _ => (401, said(30, "Invalid Credentials").to_string()),
            };
        }
        let bearer = request.header("Authorization").unwrap_or_default();
        let token = bearer.strip_prefix("Bearer ").unwrap_or_default();
        let app_id = self.tokens.get(token).cloned();
        let Some((secret, key)) = app_id.as_ref().and_then(|id| self.apps.get(id)).cloned() else {
            return (401, said(30, "Invalid Credentials").to_string());
        };
        let invoice = get("invoice_id");
        let secret_ok = request.path() == STATUS_PATH || get("app_secret") == secret;
        if get("merchant_key") != key || !secret_ok {
            return (200, said(30, "Invalid Credentials").to_string());
        }
        let opened = open_hash_key(get("hash_key"), &secret);
        let Some(o) = self.orders.get_mut(invoice) else {
            return (200, said(31, "Transaction not found").to_string());
        };
        let due = |r: &&Refund| r.done_at <= now;
        let done: i64 = o.refunds.iter().filter(due).map(|r| r.amount).sum();
        if request.path() == STATUS_PATH {
            if opened.as_deref() != Some(&format!("{invoice}|{key}")) {
                return (200, said(90, "Invalid Hash key").to_string());
            }
            let inv = serde_json::to_string(invoice).expect("a string");
            let (p, r) = (format_minor(o.paid, 2, '.'), format_minor(done, 2, '.'));
            let n = o.paid;
            let read = format!(
                r#"{{"status_code":100,"status_description":"Successful","transaction_status":"Completed","order_id":"SIM{n}","transaction_id":"T{n}","invoice_id":{inv},"total_refunded_amount":{r},"transaction_amount":{p},"product_price":"{p}","installment":1,"currency_code":"TRY"}}"#
            );
            return (200, read);
        }
        let amount = get("amount");
        if opened.as_deref() != Some(&format!("{amount}|{invoice}|{key}")) {
            return (200, said(90, "Invalid Hash key").to_string());
        }
        let id = get("refund_transaction_id");
        if id.is_empty() || o.refunds.iter().any(|r| r.id == id) {
            let used = said(104, "Return transaction ID must be unique");
            return (200, used.to_string());
        }
        let asked: i64 = o.refunds.iter().map(|r| r.amount).sum();
        let minor = parse_minor(amount, 2, DecimalStyle::Point).unwrap_or(0);
        if minor <= 0 || asked + minor > o.paid {
            let over = "Refund Failed. The total refund amount must not exceed the net amount.";
            return (200, said(49, over).to_string());
        }
        let review = o.review_secs.unwrap_or(0);
        let url = app_id
            .and_then(|a| self.webhooks.get(&a))
            .filter(|_| review > 0);
        o.refunds.push(Refund {
            amount: minor,
            id: id.to_owned(),
            done_at: now + Duration::seconds(review),
            post: url.map(|url| (url.clone(), secret.clone())),
        });
        let (code, text) = [(100, "Refund completed"), (101, REVIEW)][usize::from(review > 0)];
        let n = o.refunds.len();
        (200, json!({"status_code": code, "status_description": text, "order_no": format!("SIM{}", o.paid),
            "invoice_id": invoice, "ref_no": format!("R{n}"), "ref_number": format!("R{n}")}).to_string())
    }
}

impl Simulator for SipaySim {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        if ![TOKEN_PATH, REFUND_PATH, STATUS_PATH].contains(&request.path()) {
            return HttpResponse::new(404, "application/json", said(404, "Not found").to_string());
        }
        let (http, body) = self.act(request, now);
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let f: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.log.push(json!({"path": request.path(), "invoice_id": f["invoice_id"], "status_code": v["status_code"]}));
        HttpResponse::new(http, "application/json", body)
    }

    fn tick(&mut self, now: DateTime<FixedOffset>) -> Vec<HttpRequest> {
        let mut posts = Vec::new();
        for (invoice, o) in &mut self.orders {
            for r in o
                .refunds
                .iter_mut()
                .filter(|r| r.done_at <= now && r.post.is_some())
            {
                let (url, secret) = r.post.take().expect("filtered");
                let (amount, order) = (format_minor(r.amount, 2, '.'), format!("SIM{}", o.paid));
                let hash = hash_key(&["Completed", &amount, invoice, &order], &secret, &r.id);
                let body = json!({"invoice_id": invoice, "order_id": order, "amount": amount,
                    "status": "Completed", "hash_key": hash});
                posts.push(HttpRequest::post(url, "application/json", body.to_string()));
            }
        }
        posts
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        let seed: Seed =
            serde_json::from_value(document.clone()).map_err(|e| format!("seed: {e}"))?;
        for a in seed.apps {
            self.apps.insert(a.app_id, (a.app_secret, a.merchant_key));
        }
        let demo = self.demo_accounts();
        for (account, url) in seed.account_callbacks {
            let app = demo[&account]["app_id"]
                .as_str()
                .ok_or(format!("seed: no {account}"))?;
            self.webhooks.insert(app.to_owned(), url);
        }
        for o in seed.orders {
            self.orders.insert(o.order_ref, o.order);
        }
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"log": self.log, "orders": self.orders.iter().map(|(id, o)| (id.clone(), json!({
            "paid": o.paid,
            "refunds": o.refunds.iter().map(|r| json!({"amount": r.amount, "refund_transaction_id": r.id})).collect::<Vec<_>>()
        }))).collect::<BTreeMap<_, _>>()})
    }

    fn demo_accounts(&self) -> Value {
        json!({"sipay-demo": {"app_id": DEMO_APP, "app_secret": DEMO_SECRET, "merchant_key": DEMO_KEY}})
    }
}
