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
    voided: Option<String>,
    refunds: Vec<(String, i64, bool, DateTime<FixedOffset>)>,
}

/// The simulator's merchants (client id → name, password) and orders.
#[derive(Default)]
pub struct NestPaySim {
    merchants: BTreeMap<String, (String, String)>,
    orders: BTreeMap<String, Order>,
    log: Vec<Value>,
}

const DEMO: (&str, &str, &str) = ("100100000", "DEMOAPI", "sandbox-demo-pass");

impl NestPaySim {
    /// The simulator with the sandbox's demo merchant and orders (one
    /// settled; two whose day the bank has not closed, one for `cancel`,
    /// one for `return`).
    pub fn demo() -> NestPaySim {
        let mut sim = NestPaySim::default();
        sim.seed(&json!({
            "merchants": [{"client_id": DEMO.0, "name": DEMO.1, "password": DEMO.2}],
            "orders": [{"order_ref": "DEMO-1001", "amount": 10000},
                       {"order_ref": "DEMO-1002", "amount": 2500, "settled": false},
                       {"order_ref": "DEMO-1003", "amount": 4000, "settled": false}]
        }))
        .expect("demo data is valid");
        sim
    }

    /// What the bank says to the request `f` (its leaves) at `now`, its
    /// `TransId` being `tx`: the answer's line, what follows its message,
    /// the history's rows.
    fn act(&mut self, f: &BTreeMap<&str, &str>, now: DateTime<FixedOffset>, tx: &str) -> Said {
        let field = |k: &str| f.get(k).copied().unwrap_or_default();
        let known = self.merchants.get(field("ClientId"));
        if known.is_none_or(|(n, p)| n != field("Name") || p != field("Password")) {
            return (AUTH, String::new(), Vec::new());
        }
        let (id, history) = (field("OrderId"), f.contains_key("ORDERHISTORY"));
        let Some(o) = self.orders.get_mut(id) else {
            let line = if history { NO_HISTORY } else { NO_ORDER };
            return (line, id.to_owned(), Vec::new());
        };
        let settled = o.settled.unwrap_or(o.date.date_naive() < now.date_naive());
        let refunded: i64 = o.refunds.iter().filter(|r| r.2).map(|r| r.1).sum();
        if history {
            let when = |d: &DateTime<FixedOffset>| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
            let (stat, sale) = match &o.voided {
                Some(v) => ("V", v.clone()),
                None => ("S", format!("SALE-{id}")),
            };
            let (p, d) = (o.paid, when(&o.date));
            let mut rows = vec![format!("S\t{stat}\t{p}\t{p}\t{d}\t{d}\t\t\t\t00\t{sale}")];
            rows.extend(o.refunds.iter().map(|(t, a, ok, d)| {
                let (s, c) = if *ok { ("S", "00") } else { ("D", "99") };
                format!("C\t{s}\t{a}\t{a}\t{w}\t{w}\t\t\t\t{c}\t{t}", w = when(d))
            }));
            rows.reverse();
            return (APPROVED, String::new(), rows);
        }
        let line = match field("Type") {
            // A declined credit moved nothing: it does not stand in a void's way.
            "Void" if !settled && o.voided.is_none() && !o.refunds.iter().any(|r| r.2) => {
                o.voided = Some(tx.to_owned());
                APPROVED
            }
            "Void" => VOID_2008,
            "Credit" => {
                let amount = parse_minor(field("Total"), 2, DecimalStyle::Point).unwrap_or(0);
                let line = if !settled {
                    REFUND_2508
                } else if o.voided.is_some() || refunded >= o.paid {
                    NET_ZERO
                } else if amount <= 0 || refunded + amount > o.paid {
                    OVER
                } else {
                    APPROVED
                };
                o.refunds
                    .push((tx.to_owned(), amount, line == APPROVED, now));
                line
            }
            _ => BAD_TYPE,
        };
        (line, String::new(), Vec::new())
    }
}

/// An answer's line: `Response`, `ProcReturnCode`, `ERRORCODE` and
/// `ErrMsg`, tab-separated.
type Line = &'static str;
const APPROVED: Line = "Approved\t00\t\t";
const AUTH: Line = "Declined\t99\t\tKullanici dogrulanamadi.";
const NO_ORDER: Line = "Declined\t99\t\tSiparis bulunamadi: ";
const NO_HISTORY: Line = "Declined\t05\t\tNo record found for ";
const VOID_2008: Line = "Error\t99\tCORE-2008\tİptal edilmeye uygun satış işlemi bulunamadı.";
const REFUND_2508: Line = "Error\t99\tCORE-2508\tIade yapilamaz, siparis gunsonuna girmemis.";
const NET_ZERO: Line = "Error\t99\t215021\tNet tutar 0.";
const OVER: Line = "Declined\t12\t\tIade tutari kalan tutari asiyor.";
const BAD_TYPE: Line = "Error\t99\t\tGecersiz islem tipi.";

/// An answer of the simulator: its line, what follows its message, the
/// history's rows.
type Said = (Line, String, Vec<String>);

/// What `seed` takes: merchants and orders (`settled` forces the end of
/// day either way; otherwise an order is settled once its day is over).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    #[serde(default)]
    merchants: Vec<SeedMerchant>,
    #[serde(default)]
    orders: Vec<SeedOrder>,
}

#[derive(serde::Deserialize)]
struct SeedMerchant {
    client_id: String,
    name: String,
    password: String,
}

#[derive(serde::Deserialize)]
struct SeedOrder {
    order_ref: String,
    amount: i64,
    date: Option<String>,
    settled: Option<bool>,
}

impl Simulator for NestPaySim {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        let text = String::from_utf8_lossy(&request.body).into_owned();
        let root = xml::parse(&text).unwrap_or_else(|_| xml::parse("<x/>").expect("valid"));
        let leaves = root.leaves();
        let f: BTreeMap<&str, &str> = leaves.iter().copied().collect();
        let order = f.get("OrderId").copied().unwrap_or_default();
        let tx = format!("{}NP{:05}", now.format("%y%j"), self.log.len() + 1);
        let (line, more, rows) = self.act(&f, now, &tx);
        let mut parts = line.split('\t');
        let mut next = || parts.next().unwrap_or_default();
        let (response, code, error) = (next(), next(), next());
        let message = format!("{}{more}", next());
        let approved = response == "Approved";
        let date = now.format("%Y%m%d %H:%M:%S").to_string();
        let trx: Vec<String> = (1..=rows.len()).map(|i| format!("TRX{i}")).collect();
        let count = trx.len().to_string();
        let mut extra = vec![
            ("ERRORCODE", Field::Text(error)),
            ("TRXDATE", Field::Text(&date)),
        ];
        let rows = trx.iter().zip(&rows);
        extra.extend(rows.map(|(k, v)| (k.as_str(), Field::Text(v))));
        if f.contains_key("ORDERHISTORY") {
            extra.push(("TRXCOUNT", Field::Text(&count)));
        }
        let fields = [
            ("OrderId", Field::Text(if approved { order } else { "" })),
            ("Response", Field::Text(response)),
            ("ProcReturnCode", Field::Text(code)),
            ("TransId", Field::Text(&tx)),
            ("ErrMsg", Field::Text(&message)),
            ("Extra", Field::Group(extra)),
        ];
        let body = xml::document("CC5Response", &fields).replacen("utf-8", "ISO-8859-9", 1);
        self.log.push(json!({"order_ref": order, "type": f.get("Type"), "history": f.contains_key("ORDERHISTORY"),
            "response": response, "code": code, "error": error}));
        let (bytes, _, _) = encoding_rs::WINDOWS_1254.encode(&body);
        HttpResponse::new(200, "text/xml;charset=ISO-8859-9", bytes.into_owned())
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        let seed: Seed =
            serde_json::from_value(document.clone()).map_err(|e| format!("seed: {e}"))?;
        for m in seed.merchants {
            self.merchants.insert(m.client_id, (m.name, m.password));
        }
        for o in seed.orders {
            let date = o.date.as_deref().unwrap_or("2020-01-01T10:00:00+03:00");
            let date = DateTime::parse_from_rfc3339(date)
                .map_err(|e| format!("order {}: date: {e}", o.order_ref))?;
            let order = Order {
                paid: o.amount,
                date,
                settled: o.settled,
                voided: None,
                refunds: Vec::new(),
            };
            self.orders.insert(o.order_ref, order);
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
