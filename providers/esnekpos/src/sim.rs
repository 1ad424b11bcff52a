//! A stateful, sans-IO EsnekPOS simulator: payments with marketplace splits,
//! full and partial returns bounded by what remains, same-day return = cancel
//! (status 5) and later = refund (status 7), Android POS cancel, sub-merchant
//! credits, `SYNC_WITH_POS=false` answered and recorded as pending, wrong
//! credentials (102), unknown orders (100), and an inquiry that reflects every
//! earlier operation. Accepts what EsnekPOS's own samples send (a trailing
//! comma, numbers where strings are documented).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use payops_core::money::format_minor;
use payops_core::{HttpRequest, HttpResponse, Simulator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::wire::{amount_from_wire, format_date, parse_date, text};

/// The merchant of the documentation's samples.
pub const DOC_MERCHANT: &str = "TEST1234";
/// The key of the documentation's samples (a published test key).
pub const DOC_MERCHANT_KEY: &str = "4oK26hK8MOXrIV1bzTRVPA==";
/// The demo account's merchant in the sandbox.
pub const DEMO_MERCHANT: &str = "DEMO0001";
/// The demo account's key (sandbox only; not a real credential).
pub const DEMO_MERCHANT_KEY: &str = "sandbox-esnek-demo-key";

/// A sub-transaction of a payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimTransaction {
    /// `TRANSACTION_ID`.
    pub id: i64,
    /// `STATUS_ID`.
    pub status_id: i64,
    /// Kuruş.
    pub amount: i64,
    /// When.
    pub date: DateTime<FixedOffset>,
    /// Store shares of this transaction (kuruş).
    #[serde(default)]
    pub splits: BTreeMap<String, i64>,
}

/// A seeded payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimPayment {
    /// Owner.
    pub merchant: String,
    /// Kuruş.
    pub amount: i64,
    /// Installments.
    pub installment: u32,
    /// When it was paid; `None` = at the simulator's first request.
    pub date: Option<DateTime<FixedOffset>>,
    /// `online` or `android_pos`.
    pub channel: String,
    /// EsnekPOS's reference.
    pub refno: String,
    /// Sale first, then returns.
    pub transactions: Vec<SimTransaction>,
    /// Current credit of each store (kuruş), changed by returns and adjustments.
    pub sub_merchants: BTreeMap<String, i64>,
}

impl SimPayment {
    fn returned(&self) -> i64 {
        self.transactions
            .iter()
            .skip(1)
            .filter(|t| matches!(t.status_id, 1 | 5 | 7))
            .fold(0i64, |acc, t| acc.saturating_add(t.amount))
    }
    fn remaining(&self) -> i64 {
        self.amount.saturating_sub(self.returned())
    }
    fn cancelled(&self) -> bool {
        self.remaining() == 0 && self.transactions.iter().skip(1).all(|t| t.status_id != 7)
    }
}

/// The simulator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EsnekSimulator {
    merchants: BTreeMap<String, String>,
    /// Merchants whose endpoint reads `AMOUNT` as the tables type it (`int`):
    /// a decimal is refused with `101 FIELD_ERROR`.
    integer_amounts: std::collections::BTreeSet<String>,
    payments: BTreeMap<String, SimPayment>,
    next_transaction: i64,
    next_ref: u64,
    /// Every accepted money-moving request, in order.
    ledger: Vec<Value>,
    /// Android POS cancels accepted and not yet carried out by the device.
    #[serde(default)]
    devices: Vec<DeviceCancel>,
}

/// An Android POS cancel the device carries out later, then posts to
/// `BACK_URL`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceCancel {
    order_ref: String,
    back_url: String,
    due: DateTime<FixedOffset>,
}

/// How long the simulated Android POS takes to carry out a cancel.
pub const DEVICE_DELAY_MS: i64 = 1000;

/// How long EsnekPOS's simulated operations desk takes to complete a
/// refund recorded with `SYNC_WITH_POS=false` (its row goes from STATUS_ID
/// 1, waiting, to 7, refunded).
pub const OPERATIONS_DELAY_MS: i64 = 1500;

#[derive(Deserialize)]
struct SeedDoc {
    #[serde(default)]
    merchants: Vec<SeedMerchant>,
    #[serde(default)]
    payments: Vec<SeedPayment>,
}

#[derive(Deserialize)]
struct SeedMerchant {
    merchant: String,
    merchant_key: String,
    /// Refuse decimal `AMOUNT`s, as an endpoint that takes the tables' `int` literally would.
    #[serde(default)]
    integer_amounts: bool,
}

#[derive(Deserialize)]
struct SeedPayment {
    order_ref: String,
    #[serde(default)]
    merchant: Option<String>,
    amount: i64,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    installment: Option<u32>,
    #[serde(default)]
    status_id: Option<i64>,
    #[serde(default)]
    sub_merchants: Vec<SeedSplit>,
}

#[derive(Deserialize)]
struct SeedSplit {
    sub_merchant_id: String,
    amount: i64,
}

fn reply(code: &str, status: &str, message: &str, order_ref: Option<&str>) -> Value {
    json!({
        "RETURN_CODE": code,
        "RETURN_MESSAGE": message,
        "STATUS": status,
        "ORDER_REF_NUMBER": order_ref,
        "REFNO": null,
    })
}

fn lira(minor: i64) -> String {
    format_minor(minor, 2, ',')
}

/// Parses JSON as EsnekPOS's server does: trailing commas before `}` or `]`
/// are tolerated (the ProcessQuery sample has one).
pub fn lenient_json(bytes: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Some(v);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    serde_json::from_str(&out).ok()
}

impl EsnekSimulator {
    /// An empty simulator (no merchants, no payments).
    pub fn empty() -> EsnekSimulator {
        EsnekSimulator {
            next_transaction: 343_666,
            next_ref: 1,
            ..Default::default()
        }
    }

    /// The documentation's merchant and orders plus demo data for the sandbox.
    pub fn demo() -> EsnekSimulator {
        let mut s = EsnekSimulator::empty();
        s.seed(&json!({
            "merchants": [
                {"merchant": DOC_MERCHANT, "merchant_key": DOC_MERCHANT_KEY},
                {"merchant": DEMO_MERCHANT, "merchant_key": DEMO_MERCHANT_KEY}
            ],
            "payments": [
                {"order_ref": "0.54251300 1595848596|93", "merchant": DOC_MERCHANT, "amount": 125000,
                 "date": "2020-04-19T18:34:35+03:00", "sub_merchants": [{"sub_merchant_id": "999999", "amount": 107300}]},
                {"order_ref": "412", "merchant": DOC_MERCHANT, "amount": 10000, "date": "2020-04-19T10:00:00+03:00",
                 "sub_merchants": [{"sub_merchant_id": "EXTERNAL_ID1", "amount": 8000}]},
                {"order_ref": "ORDER_REF_NUMBER", "merchant": DOC_MERCHANT, "amount": 15000, "channel": "android_pos"},
                {"order_ref": "DEMO-1001", "merchant": DEMO_MERCHANT, "amount": 125000, "date": "2020-04-19T18:34:35+03:00",
                 "sub_merchants": [{"sub_merchant_id": "STORE-1", "amount": 107300}]},
                {"order_ref": "DEMO-1002", "merchant": DEMO_MERCHANT, "amount": 50000, "date": "2020-05-02T09:15:00+03:00"},
                {"order_ref": "DEMO-TODAY", "merchant": DEMO_MERCHANT, "amount": 20000},
                {"order_ref": "DEMO-POS", "merchant": DEMO_MERCHANT, "amount": 15000, "channel": "android_pos"}
            ]
        }))
        .expect("demo seed is valid");
        s
    }

    fn transaction_id(&mut self) -> i64 {
        self.next_transaction += 1;
        self.next_transaction
    }

    fn refno(&mut self) -> String {
        self.next_ref += 1;
        format!("SIM{:08}", self.next_ref)
    }

    fn authenticate(&self, body: &Value) -> Result<String, Value> {
        let merchant = body.get("MERCHANT").and_then(Value::as_str);
        let key = body.get("MERCHANT_KEY").and_then(Value::as_str);
        let (Some(merchant), Some(key)) = (merchant, key) else {
            return Err(reply(
                "101",
                "FIELD_ERROR",
                "MERCHANT ve MERCHANT_KEY zorunludur.",
                None,
            ));
        };
        match self.merchants.get(merchant) {
            Some(k) if k == key => Ok(merchant.to_owned()),
            _ => Err(reply(
                "102",
                "AUTHENTICATION_ERROR",
                "Kimlik doğrulama hatası.",
                None,
            )),
        }
    }

    fn payment<'a>(&'a mut self, merchant: &str, order_ref: &str) -> Option<&'a mut SimPayment> {
        self.payments
            .get_mut(order_ref)
            .filter(|p| p.merchant == merchant)
    }

    fn order_return(&mut self, merchant: &str, body: &Value, now: DateTime<FixedOffset>) -> Value {
        let Some(order_ref) = text(body, &["ORDER_REF_NUMBER"]) else {
            return reply("101", "FIELD_ERROR", "ORDER_REF_NUMBER zorunludur.", None);
        };
        let amount = match body.get("AMOUNT").map(amount_from_wire) {
            Some(Ok(a)) if a > 0 => a,
            _ => return reply("101", "FIELD_ERROR", "AMOUNT geçersiz.", Some(&order_ref)),
        };
        if self.integer_amounts.contains(merchant)
            && !body.get("AMOUNT").is_some_and(|v| v.is_i64() || v.is_u64())
        {
            return reply(
                "101",
                "FIELD_ERROR",
                "AMOUNT tam sayı olmalıdır.",
                Some(&order_ref),
            );
        }
        let sync = body
            .get("SYNC_WITH_POS")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut splits = BTreeMap::new();
        if let Some(list) = body.get("SubMerchantDetails").filter(|v| !v.is_null()) {
            let Some(list) = list.as_array() else {
                return reply(
                    "101",
                    "FIELD_ERROR",
                    "SubMerchantDetails bir dizi olmalıdır.",
                    Some(&order_ref),
                );
            };
            for s in list {
                let id = text(s, &["EXTERNAL_ID"]);
                let a = s.get("AMOUNT").map(amount_from_wire);
                match (id, a) {
                    (Some(id), Some(Ok(a))) if a > 0 => {
                        let e: &mut i64 = splits.entry(id).or_insert(0);
                        *e = i64::saturating_add(*e, a);
                    }
                    _ => {
                        return reply(
                            "101",
                            "FIELD_ERROR",
                            "SubMerchantDetails geçersiz.",
                            Some(&order_ref),
                        );
                    }
                }
            }
            if splits.values().fold(0i64, |t, a| t.saturating_add(*a)) > amount {
                return reply(
                    "101",
                    "FIELD_ERROR",
                    "Alt mağaza tutarları iade tutarını aşıyor.",
                    Some(&order_ref),
                );
            }
        }
        let tx_id = self.transaction_id();
        let refno = self.refno();
        let Some(p) = self.payment(merchant, &order_ref) else {
            return reply("100", "ERROR", "Sipariş bulunamadı.", Some(&order_ref));
        };
        if p.transactions.first().map(|t| t.status_id) != Some(3) {
            return reply(
                "300",
                "ORDER_CANCEL",
                "Başarılı bir ödeme değil.",
                Some(&order_ref),
            );
        }
        if p.remaining() == 0 {
            return reply(
                "300",
                "ORDER_CANCEL",
                "Ödeme daha önce iade/iptal edilmiş.",
                Some(&order_ref),
            );
        }
        if amount > p.remaining() {
            return reply(
                "300",
                "ORDER_CANCEL",
                &format!(
                    "İade tutarı kalan tutardan ({} ₺) büyük.",
                    lira(p.remaining())
                ),
                Some(&order_ref),
            );
        }
        for (id, a) in &splits {
            match p.sub_merchants.get(id) {
                None => {
                    return reply(
                        "101",
                        "FIELD_ERROR",
                        &format!("Alt mağaza bulunamadı: {id}"),
                        Some(&order_ref),
                    );
                }
                Some(credit) if a > credit => {
                    return reply(
                        "300",
                        "ORDER_CANCEL",
                        &format!("Alt mağaza alacağı yetersiz: {id}"),
                        Some(&order_ref),
                    );
                }
                _ => {}
            }
        }
        for (id, a) in &splits {
            if let Some(c) = p.sub_merchants.get_mut(id) {
                *c -= a;
            }
        }
        let paid = p.date.unwrap_or(now);
        let same_day = paid.date_naive() == now.with_timezone(&paid.timezone()).date_naive();
        let status_id = if !sync {
            1
        } else if same_day {
            5
        } else {
            7
        };
        p.transactions.push(SimTransaction {
            id: tx_id,
            status_id,
            amount,
            date: now,
            splits: splits.clone(),
        });
        let kind = match status_id {
            1 => "pending",
            5 => "cancel",
            _ => "refund",
        };
        self.ledger.push(json!({
            "endpoint": "OrderReturn", "order_ref": order_ref, "amount": amount,
            "kind": kind, "transaction_id": tx_id, "sub_merchants": splits,
        }));
        let status = "SUCCESS";
        let message = if sync {
            format!("{} ₺ iade edilmiştir.", lira(amount))
        } else {
            format!(
                "{} ₺ iade talebi alınmıştır; operasyon birimi tarafından tamamlanacaktır.",
                lira(amount)
            )
        };
        json!({
            "RETURN_CODE": "0",
            "RETURN_MESSAGE": message,
            "STATUS": status,
            "ORDER_REF_NUMBER": order_ref,
            "REFNO": refno,
            "TRANSACTION_ID": if sync { json!(tx_id) } else { Value::Null },
        })
    }

    fn physical(&mut self, merchant: &str, body: &Value, now: DateTime<FixedOffset>) -> Value {
        let Some(order_ref) = text(body, &["ORDER_REF_NUMBER"]) else {
            return reply("100", "ERROR", "ORDER_REF_NUMBER zorunludur.", None);
        };
        if text(body, &["BACK_URL"]).is_none_or(|u| u.is_empty()) {
            return reply("100", "ERROR", "BACK_URL zorunludur.", Some(&order_ref));
        }
        let tx_id = self.transaction_id();
        let refno = self.refno();
        let Some(p) = self.payment(merchant, &order_ref) else {
            return reply("100", "ERROR", "Sipariş bulunamadı.", Some(&order_ref));
        };
        if p.channel != "android_pos" {
            return reply(
                "100",
                "ERROR",
                "Android POS ödemesi değil.",
                Some(&order_ref),
            );
        }
        if p.transactions.first().map(|t| t.status_id) != Some(3) || p.remaining() != p.amount {
            return reply(
                "300",
                "ORDER_CANCEL",
                "Ödeme iptal edilemez.",
                Some(&order_ref),
            );
        }
        let amount = p.amount;
        if self.devices.iter().any(|d| d.order_ref == order_ref) {
            return reply(
                "300",
                "ORDER_CANCEL",
                "İptal işlemi cihazda sürüyor.",
                Some(&order_ref),
            );
        }
        // The device carries it out later (tick), then posts to BACK_URL.
        self.devices.push(DeviceCancel {
            order_ref: order_ref.clone(),
            back_url: text(body, &["BACK_URL"]).unwrap_or_default(),
            due: now + chrono::Duration::milliseconds(DEVICE_DELAY_MS),
        });
        self.ledger.push(json!({
            "endpoint": "OrderReturnPhysical", "order_ref": order_ref, "amount": amount,
            "kind": "cancel", "transaction_id": tx_id,
        }));
        json!({
            "RETURN_CODE": "0",
            "RETURN_MESSAGE": null,
            "STATUS": "SUCCESS",
            "ORDER_REF_NUMBER": order_ref,
            "REFNO": refno,
        })
    }

    fn query(&mut self, merchant: &str, body: &Value, now: DateTime<FixedOffset>) -> Value {
        let Some(order_ref) = text(body, &["ORDER_REF_NUMBER"]) else {
            return reply("101", "FIELD_ERROR", "ORDER_REF_NUMBER zorunludur.", None);
        };
        let Some(p) = self.payment(merchant, &order_ref) else {
            return reply("100", "ERROR", "Sipariş bulunamadı.", Some(&order_ref));
        };
        let name = |id: i64| match id {
            1 => "Return - Pending",
            2 => "Payment - Awaiting 3D",
            3 => "Payment - Successful",
            4 => "Payment - Unsuccessful",
            5 => "Cancel - Successful",
            6 => "Cancel - Unsuccessful",
            7 => "Return - Successful",
            _ => "Return - Unsuccessful",
        };
        let marketplace = !p.sub_merchants.is_empty();
        let transactions: Vec<Value> = p
            .transactions
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let splits = if !marketplace {
                    Value::Null
                } else if i == 0 {
                    Value::Array(
                        p.sub_merchants
                            .iter()
                            .map(|(id, credit)| {
                                json!({"EXTERNAL_ID": id, "AMOUNT": lira(*credit), "DATE": format_date(&t.date),
                                       "SUB_MERCHANT_AMOUNT_TRANSFER_DETAIL": null})
                            })
                            .collect(),
                    )
                } else {
                    Value::Array(
                        t.splits
                            .iter()
                            .map(|(id, a)| {
                                json!({"EXTERNAL_ID": id, "AMOUNT": lira(*a), "DATE": format_date(&t.date),
                                       "SUB_MERCHANT_AMOUNT_TRANSFER_DETAIL": null})
                            })
                            .collect(),
                    )
                };
                json!({
                    "TRANSACTION_ID": t.id,
                    "STATUS_NAME": if i == 0 && t.status_id == 1 { "Payment - Waiting" } else { name(t.status_id) },
                    "STATUS_ID": t.status_id,
                    "AMOUNT": lira(t.amount),
                    "DATE": format_date(&t.date),
                    "MERCHANT_AMOUNT_TRANSFER_DETAIL": null,
                    "SUB_MERCHANT_DETAILS": splits,
                })
            })
            .collect();
        let (code, status, message) = if p.cancelled() {
            ("300", "ORDER_CANCEL", "İptal - Başarılı")
        } else {
            ("0", "SUCCESS", "SUCCESS")
        };
        let paid = p.date.unwrap_or(now);
        json!({
            "STATUS": status,
            "RETURN_CODE": code,
            "RETURN_MESSAGE": message,
            "DATE": format_date(&now),
            "PAYMENT_DATE": format_date(&paid),
            "REFNO": p.refno,
            "AMOUNT": lira(p.amount),
            "ORDER_REF_NO": order_ref,
            "INSTALLMENT": p.installment.to_string(),
            "COMMISSION": "1,490",
            "SUCCESS_TRANSACTION_ID": p.transactions.first().map(|t| t.id),
            "PHYSICAL_POS_ID": if p.channel == "android_pos" { json!(7) } else { Value::Null },
            "PHYSICAL_POS_TITLE": if p.channel == "android_pos" { json!("Sandbox Android POS") } else { Value::Null },
            "PAYMENT_WAY": if p.channel == "android_pos" { "ANDROID_POS" } else { "ONLINE" },
            "TRANSACTIONS": transactions,
        })
    }

    fn adjust(&mut self, merchant: &str, body: &Value) -> Value {
        let order_ref = text(body, &["ORDER_REF_NUMBER"]);
        let external = text(body, &["EXTERNAL_ID"]);
        let amount = body.get("AMOUNT").map(amount_from_wire);
        let (Some(order_ref), Some(external), Some(Ok(amount))) = (order_ref, external, amount)
        else {
            return reply(
                "101",
                "FIELD_ERROR",
                "ORDER_REF_NUMBER, EXTERNAL_ID ve AMOUNT zorunludur.",
                None,
            );
        };
        if amount == 0 {
            return reply(
                "101",
                "FIELD_ERROR",
                "AMOUNT sıfır olamaz.",
                Some(&order_ref),
            );
        }
        let Some(p) = self.payment(merchant, &order_ref) else {
            return reply("100", "ERROR", "Sipariş bulunamadı.", Some(&order_ref));
        };
        let Some(credit) = p.sub_merchants.get_mut(&external) else {
            return reply(
                "101",
                "FIELD_ERROR",
                &format!("Alt mağaza bulunamadı: {external}"),
                Some(&order_ref),
            );
        };
        if credit.checked_add(amount).is_none_or(|c| c < 0) {
            return reply(
                "103",
                "LIMIT_ERROR",
                "Alt mağaza alacağı yetersiz.",
                Some(&order_ref),
            );
        }
        *credit += amount;
        let balance = *credit;
        self.ledger.push(json!({
            "endpoint": "AddSubMerchantAmount", "order_ref": order_ref, "sub_merchant_id": external,
            "amount": amount, "balance": balance,
        }));
        // The documented sample echoes a numeric reference as a number.
        let echoed = order_ref
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(order_ref));
        json!({
            "RETURN_CODE": "00",
            "RETURN_MESSAGE": format!("{} ₺ alt mağaza alacağına eklenmiştir.", lira(amount.abs())),
            "STATUS": "SUCCESS",
            "ORDER_REF_NUMBER": echoed,
            "REFNO": null,
        })
    }
}

impl Simulator for EsnekSimulator {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        for p in self.payments.values_mut() {
            if p.date.is_none() {
                p.date = Some(now);
                for t in &mut p.transactions {
                    t.date = now;
                }
            }
        }
        let path = request.path().trim_end_matches('/').to_owned();
        let known = [
            "/api/services/OrderReturn",
            "/api/services/OrderReturnPhysical",
            "/api/services/ProcessQuery",
            "/api/services/AddSubMerchantAmount",
        ];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&path)) {
            return HttpResponse::new(
                404,
                "text/html",
                "<html><body><h1>404 - Not Found</h1></body></html>",
            );
        }
        if !request.method.eq_ignore_ascii_case("POST") {
            return HttpResponse::new(
                405,
                "text/html",
                "<html><body><h1>405 - Method Not Allowed</h1></body></html>",
            );
        }
        let Some(body) = lenient_json(&request.body).filter(Value::is_object) else {
            return HttpResponse::json(400, &reply("101", "FIELD_ERROR", "Geçersiz JSON.", None));
        };
        let merchant = match self.authenticate(&body) {
            Ok(m) => m,
            Err(v) => return HttpResponse::json(200, &v),
        };
        let answer = match path.to_ascii_lowercase().as_str() {
            "/api/services/orderreturn" => self.order_return(&merchant, &body, now),
            "/api/services/orderreturnphysical" => self.physical(&merchant, &body, now),
            "/api/services/processquery" => self.query(&merchant, &body, now),
            _ => self.adjust(&merchant, &body),
        };
        HttpResponse::json(200, &answer)
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        let doc: SeedDoc =
            serde_json::from_value(document.clone()).map_err(|e| format!("EsnekPOS seed: {e}"))?;
        for m in doc.merchants {
            if m.integer_amounts {
                self.integer_amounts.insert(m.merchant.clone());
            }
            self.merchants.insert(m.merchant, m.merchant_key);
        }
        for p in doc.payments {
            if p.amount <= 0 {
                return Err(format!("payment {}: amount must be > 0", p.order_ref));
            }
            let date = match &p.date {
                None => None,
                Some(d) => Some(
                    parse_date(d)
                        .ok_or_else(|| format!("payment {}: bad date {d:?}", p.order_ref))?,
                ),
            };
            let merchant = p
                .merchant
                .or_else(|| self.merchants.keys().next().cloned())
                .ok_or("seed a merchant before payments")?;
            let splits: BTreeMap<String, i64> = p
                .sub_merchants
                .into_iter()
                .map(|s| (s.sub_merchant_id, s.amount))
                .collect();
            if splits.values().fold(0i64, |t, a| t.saturating_add(*a)) > p.amount {
                return Err(format!("payment {}: splits exceed the amount", p.order_ref));
            }
            let id = self.transaction_id();
            let refno = self.refno();
            let placeholder = date.unwrap_or_else(|| {
                DateTime::UNIX_EPOCH.with_timezone(&payops_core::turkey_offset())
            });
            self.payments.insert(
                p.order_ref,
                SimPayment {
                    merchant,
                    amount: p.amount,
                    installment: p.installment.unwrap_or(1),
                    date,
                    channel: p.channel.unwrap_or_else(|| "online".into()),
                    refno,
                    transactions: vec![SimTransaction {
                        id,
                        status_id: p.status_id.unwrap_or(3),
                        amount: p.amount,
                        date: placeholder,
                        splits: splits.clone(),
                    }],
                    sub_merchants: splits,
                },
            );
        }
        Ok(())
    }

    fn state(&self) -> Value {
        let payments: serde_json::Map<String, Value> = self
            .payments
            .iter()
            .map(|(k, p)| {
                (
                    k.clone(),
                    json!({
                        "amount": p.amount, "remaining": p.remaining(), "channel": p.channel,
                        "transactions": p.transactions, "sub_merchants": p.sub_merchants,
                    }),
                )
            })
            .collect();
        let devices: Vec<Value> = self
            .devices
            .iter()
            .map(|d| json!({"order_ref": d.order_ref, "back_url": d.back_url, "due": d.due}))
            .collect();
        json!({"payments": payments, "ledger": self.ledger, "devices": devices})
    }

    /// Refunds recorded with `SYNC_WITH_POS=false` are completed after
    /// [`OPERATIONS_DELAY_MS`]. Android POS cancels whose time came: carried out (a cancel
    /// transaction, STATUS_ID 5, on the payment) and posted to their
    /// BACK_URL as a form. The post's fields are not documented by EsnekPOS
    /// (inferred: `ORDER_REF_NUMBER`, `RETURN_CODE`, `STATUS`,
    /// `TRANSACTION_ID`, as in its synchronous answers).
    fn tick(&mut self, now: DateTime<FixedOffset>) -> Vec<HttpRequest> {
        // The operations desk completes waiting refunds (no post: EsnekPOS
        // documents none for them; the query shows them).
        for p in self.payments.values_mut() {
            for t in &mut p.transactions {
                if t.status_id == 1
                    && t.date + chrono::Duration::milliseconds(OPERATIONS_DELAY_MS) <= now
                {
                    t.status_id = 7;
                }
            }
        }
        let (due, later): (Vec<DeviceCancel>, Vec<DeviceCancel>) =
            std::mem::take(&mut self.devices)
                .into_iter()
                .partition(|d| d.due <= now);
        self.devices = later;
        let mut out = Vec::new();
        for d in due {
            let tx_id = self.transaction_id();
            let Some(p) = self.payments.get_mut(&d.order_ref) else {
                continue;
            };
            let amount = p.amount;
            p.transactions.push(SimTransaction {
                id: tx_id,
                status_id: 5,
                amount,
                date: now,
                splits: BTreeMap::new(),
            });
            let form = format!(
                "ORDER_REF_NUMBER={}&RETURN_CODE=0&STATUS=SUCCESS&TRANSACTION_ID={tx_id}",
                payops_core::http::path_segment(&d.order_ref)
            );
            if !d.back_url.is_empty() {
                out.push(HttpRequest::post(
                    d.back_url,
                    "application/x-www-form-urlencoded",
                    form,
                ));
            }
        }
        out
    }

    fn demo_accounts(&self) -> Value {
        json!({
            "esnek-demo": {
                "environment": "test",
                "merchant": DEMO_MERCHANT,
                "merchant_key": DEMO_MERCHANT_KEY,
                "timeout_ms": 10000,
                // The simulator reads a negative AMOUNT as a reduction.
                "sub_merchant_sign": "reduce_is_negative"
            }
        })
    }
}
