//! The NestPay simulator: `Credit`, `Void` and `ORDERHISTORY` on one
//! `/fim/api` over an in-memory ledger, answering in ISO-8859-9 as the
//! banks do. An order is refundable only after its day's end of day
//! (before it `CORE-2508`), voidable only before it and only whole
//! (otherwise `CORE-2008`); partial refunds up to what remains.
//!
//! Where the public sources give no answer (a wrong API password, a refund
//! over what remains, an order the bank does not know), the simulator
//! answers `Declined` with `ProcReturnCode` `99` or `12`: the simulator's
//! choice, not NestPay's documented behavior.

use std::collections::BTreeMap;

use payops_core::chrono::{DateTime, FixedOffset};
use payops_core::kit::xml::{self, Field};
use payops_core::money::{DecimalStyle, parse_minor};
use payops_core::{HttpRequest, HttpResponse, Simulator};
use serde_json::{Value, json};

/// One order: paid, refunds (TransId, amount, approved), void.
#[derive(Debug, Clone)]
struct Order {
    paid: i64,
    date: DateTime<FixedOffset>,
    settled: Option<bool>,
    sale_id: String,
    voided: Option<String>,
    refunds: Vec<(String, i64, bool, DateTime<FixedOffset>)>,
}

/// The simulator's merchants (client id → name, password) and orders.
pub struct NestPaySim {
    merchants: BTreeMap<String, (String, String)>,
    orders: BTreeMap<String, Order>,
    log: Vec<Value>,
}

const DEMO: (&str, &str, &str) = ("100100000", "DEMOAPI", "sandbox-demo-pass");

impl NestPaySim {
    /// The simulator with the sandbox's demo merchant and orders (one
    /// settled, one of today).
    pub fn demo() -> NestPaySim {
        let mut sim = NestPaySim {
            merchants: BTreeMap::new(),
            orders: BTreeMap::new(),
            log: Vec::new(),
        };
        sim.seed(&json!({
            "merchants": [{"client_id": DEMO.0, "name": DEMO.1, "password": DEMO.2}],
            "orders": [{"order_ref": "DEMO-1001", "amount": 10000},
                       {"order_ref": "DEMO-1002", "amount": 2500, "settled": false}]
        }))
        .expect("demo data is valid");
        sim
    }

    /// What the bank says to the request `f` (its leaves) at `now`.
    fn act(&mut self, f: &BTreeMap<&str, &str>, now: DateTime<FixedOffset>) -> Said {
        let tx = format!("{}NP{:05}", now.format("%y%j"), self.log.len() + 1);
        let no = |response, code, error, message: &str| Said {
            response,
            code,
            error,
            message: message.to_owned(),
            tx: tx.clone(),
            rows: Vec::new(),
        };
        let field = |k: &str| f.get(k).copied().unwrap_or_default();
        let known = self.merchants.get(field("ClientId"));
        if known.is_none_or(|(n, p)| n != field("Name") || p != field("Password")) {
            return no("Declined", "99", "", "Kullanici dogrulanamadi.");
        }
        let (id, history) = (field("OrderId"), f.contains_key("ORDERHISTORY"));
        let Some(o) = self.orders.get_mut(id) else {
            let (code, text) = if history {
                ("05", "No record found for ")
            } else {
                ("99", "Siparis bulunamadi: ")
            };
            return no("Declined", code, "", &format!("{text}{id}"));
        };
        let settled = o.settled.unwrap_or(o.date.date_naive() < now.date_naive());
        let refunded: i64 = o.refunds.iter().filter(|r| r.2).map(|r| r.1).sum();
        let ok = no("Approved", "00", "", "");
        if history {
            let when = |d: &DateTime<FixedOffset>| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
            let (stat, sale) = match &o.voided {
                Some(v) => ("V", v.clone()),
                None => ("S", o.sale_id.clone()),
            };
            let p = o.paid;
            let mut rows = vec![format!(
                "S\t{stat}\t{p}\t{p}\t{d}\t{d}\t\t\t\t00\t{sale}",
                d = when(&o.date)
            )];
            rows.extend(o.refunds.iter().map(|(t, a, ok, d)| {
                let (s, c) = if *ok { ("S", "00") } else { ("D", "99") };
                format!("C\t{s}\t{a}\t{a}\t{w}\t{w}\t\t\t\t{c}\t{t}", w = when(d))
            }));
            rows.reverse();
            return Said { rows, ..ok };
        }
        match field("Type") {
            "Void" if !settled && o.voided.is_none() && o.refunds.is_empty() => {
                o.voided = Some(tx.clone());
                ok
            }
            "Void" => no(
                "Error",
                "99",
                "CORE-2008",
                "İptal edilmeye uygun satış işlemi bulunamadı.",
            ),
            "Credit" => {
                let amount = parse_minor(field("Total"), 2, DecimalStyle::Point).unwrap_or(0);
                let said = if !settled {
                    no(
                        "Error",
                        "99",
                        "CORE-2508",
                        "Iade yapilamaz, siparis gunsonuna girmemis.",
                    )
                } else if o.voided.is_some() || refunded >= o.paid {
                    no("Error", "99", "215021", "Net tutar 0.")
                } else if amount <= 0 || refunded + amount > o.paid {
                    no("Declined", "12", "", "Iade tutari kalan tutari asiyor.")
                } else {
                    ok
                };
                o.refunds.push((tx, amount, said.code == "00", now));
                said
            }
            _ => no("Error", "99", "", "Gecersiz islem tipi."),
        }
    }
}

/// An answer of the simulator.
struct Said {
    response: &'static str,
    code: &'static str,
    error: &'static str,
    message: String,
    tx: String,
    rows: Vec<String>,
}

impl Simulator for NestPaySim {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        let text = String::from_utf8_lossy(&request.body).into_owned();
        let root = xml::parse(&text).unwrap_or_else(|_| xml::parse("<x/>").expect("valid"));
        let leaves = root.leaves();
        let f: BTreeMap<&str, &str> = leaves.iter().copied().collect();
        let order = f.get("OrderId").copied().unwrap_or_default();
        let said = self.act(&f, now);
        let approved = said.response == "Approved";
        let date = now.format("%Y%m%d %H:%M:%S").to_string();
        let trx: Vec<(String, &str)> = said
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("TRX{}", i + 1), r.as_str()))
            .collect();
        let count = trx.len().to_string();
        let mut extra = vec![
            ("ERRORCODE", Field::Text(said.error)),
            ("TRXDATE", Field::Text(&date)),
        ];
        extra.extend(trx.iter().map(|(k, v)| (k.as_str(), Field::Text(v))));
        if f.contains_key("ORDERHISTORY") {
            extra.push(("TRXCOUNT", Field::Text(&count)));
        }
        let fields = [
            ("OrderId", Field::Text(if approved { order } else { "" })),
            ("Response", Field::Text(said.response)),
            ("ProcReturnCode", Field::Text(said.code)),
            ("TransId", Field::Text(&said.tx)),
            ("ErrMsg", Field::Text(&said.message)),
            ("Extra", Field::Group(extra)),
        ];
        let body = xml::document("CC5Response", &fields).replacen("utf-8", "ISO-8859-9", 1);
        self.log.push(json!({"order_ref": order, "type": f.get("Type"), "history": f.contains_key("ORDERHISTORY"),
            "response": said.response, "code": said.code, "error": said.error}));
        let (bytes, _, _) = encoding_rs::WINDOWS_1254.encode(&body);
        HttpResponse::new(200, "text/xml;charset=ISO-8859-9", bytes.into_owned())
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        for m in document["merchants"].as_array().into_iter().flatten() {
            let (Some(c), Some(n), Some(p)) = (
                m["client_id"].as_str(),
                m["name"].as_str(),
                m["password"].as_str(),
            ) else {
                return Err(format!(
                    "a merchant needs client_id, name and password: {m}"
                ));
            };
            self.merchants
                .insert(c.to_owned(), (n.to_owned(), p.to_owned()));
        }
        for o in document["orders"].as_array().into_iter().flatten() {
            let (Some(id), Some(paid)) = (o["order_ref"].as_str(), o["amount"].as_i64()) else {
                return Err(format!("an order needs order_ref and amount: {o}"));
            };
            let date = o["date"].as_str().unwrap_or("2020-01-01T10:00:00+03:00");
            let date =
                DateTime::parse_from_rfc3339(date).map_err(|e| format!("order {id}: date: {e}"))?;
            let sale_id = format!("SALE-{id}");
            self.orders.insert(
                id.to_owned(),
                Order {
                    paid,
                    date,
                    settled: o["settled"].as_bool(),
                    sale_id,
                    voided: None,
                    refunds: Vec::new(),
                },
            );
        }
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"log": self.log, "orders": self.orders.iter().map(|(id, o)| (id.clone(), json!({
            "paid": o.paid, "voided": o.voided.is_some(),
            "refunds": o.refunds.iter().map(|(t, a, ok, _)| json!({"transaction_id": t, "amount": a, "approved": ok})).collect::<Vec<_>>()
        }))).collect::<BTreeMap<_, _>>()})
    }

    fn demo_accounts(&self) -> Value {
        json!({"nestpay-demo": {"client_id": DEMO.0, "name": DEMO.1, "password": DEMO.2}})
    }
}
