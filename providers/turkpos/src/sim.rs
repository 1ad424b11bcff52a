//! A stateful, sans-IO simulator of TurkPos's `Pazaryeri_TP_Iptal_Iade` and
//! `TP_Islem_Sorgulama4`: marketplace orders with a seller payout, `IPTAL`
//! only on the order's day and `IADE` only later, partial and whole (0)
//! returns bounded by what remains, the documented warning when
//! `OdenecekTutar` exceeds the order amount, bad `G` credentials, unknown
//! orders, and a SOAP `Client` fault for a malformed envelope.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use payops_core::{HttpRequest, HttpResponse, Simulator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::wire::{amount_from_wire, amount_to_wire, parse_date};
use payops_core::kit::xml::{self, Element, escape, fault_document};

/// The documentation's terminal.
pub const DOC_CLIENT_CODE: &str = "10738";
/// The documentation's username.
pub const DOC_USERNAME: &str = "Test";
/// The documentation's password.
pub const DOC_PASSWORD: &str = "Test";
/// The documentation's merchant GUID.
pub const DOC_GUID: &str = "0c13d406-873b-403b-9c09-a5766840d98c";
/// The documentation's marketplace order GUID.
pub const DOC_ORDER_GUID: &str = "A4683F02-3259-4C94-8BF8-47D33A5626D8";
/// The sandbox demo account's password (not a real credential).
pub const DEMO_PASSWORD: &str = "demo-pass";
/// The sandbox demo account's merchant GUID (not a real credential).
pub const DEMO_GUID: &str = "9f1c2b7e-5d43-4e2a-8c61-3a7b9e0d4f15";

/// An order: a marketplace order (with its `PYSiparis_GUID`) or a standard
/// one (without).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimOrder {
    /// `PYSiparis_GUID`; `None` for a standard (non-marketplace) order.
    pub marketplace_order_guid: Option<String>,
    /// Kuruş.
    pub amount: i64,
    /// What the seller is paid now (kuruş).
    pub seller_payout: i64,
    /// When it was paid; `None` = at the first request.
    pub date: Option<DateTime<FixedOffset>>,
    /// `Dekont_ID`.
    pub dekont_id: String,
    /// Accepted returns: (`IPTAL`|`IADE`, kuruş).
    pub returns: Vec<(String, i64)>,
}

impl SimOrder {
    fn returned(&self) -> i64 {
        // Each return is at most what remained, so the sum fits; saturate
        // anyway rather than trust that in a simulator fed arbitrary input.
        self.returns
            .iter()
            .fold(0i64, |acc, (_, a)| acc.saturating_add(*a))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Client {
    username: String,
    password: String,
    guid: String,
}

/// The simulator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TurkPosSimulator {
    clients: BTreeMap<String, Client>,
    orders: BTreeMap<String, SimOrder>,
    ledger: Vec<Value>,
    next_dekont: u64,
}

#[derive(Deserialize)]
struct Seed {
    #[serde(default)]
    clients: Vec<SeedClient>,
    #[serde(default)]
    orders: Vec<SeedOrder>,
}

#[derive(Deserialize)]
struct SeedClient {
    client_code: String,
    client_username: String,
    client_password: String,
    guid: String,
}

#[derive(Deserialize)]
struct SeedOrder {
    order_ref: String,
    /// Omitted: a standard (non-marketplace) order.
    #[serde(default)]
    marketplace_order_guid: Option<String>,
    amount: i64,
    #[serde(default)]
    seller_payout_amount: i64,
    #[serde(default)]
    date: Option<String>,
}

fn result(method: &str, fields: &[(&str, String)]) -> HttpResponse {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<soap:Body>\n",
    );
    s.push_str(&format!(
        "<{method}Response xmlns=\"https://turkpos.com.tr/\">\n<{method}Result>\n"
    ));
    for (k, v) in fields {
        if k.starts_with('<') {
            s.push_str(v); // pre-built XML (DT_Bilgi)
        } else {
            s.push_str(&format!("<{k}>{}</{k}>\n", escape(v)));
        }
    }
    s.push_str(&format!(
        "</{method}Result>\n</{method}Response>\n</soap:Body>\n</soap:Envelope>"
    ));
    HttpResponse::new(200, "text/xml; charset=utf-8", s)
}

/// Param's rule for both return methods: `IPTAL` only on the day of the
/// payment, `IADE` only after it (an undated seed order was paid `now`).
fn same_day_rule(
    method: &str,
    durum: &str,
    paid: Option<DateTime<FixedOffset>>,
    now: DateTime<FixedOffset>,
) -> Option<HttpResponse> {
    let paid = paid.unwrap_or(now);
    let same_day = paid.date_naive() == now.with_timezone(&paid.timezone()).date_naive();
    match (durum, same_day) {
        ("IPTAL", false) => Some(sonuc(
            method,
            -3,
            "İptal yalnızca aynı gün yapılabilir; iade (IADE) gönderiniz.",
        )),
        ("IADE", true) => Some(sonuc(
            method,
            -3,
            "Aynı gün işlemler için iptal (IPTAL) gönderiniz.",
        )),
        _ => None,
    }
}

fn sonuc(method: &str, code: i64, message: &str) -> HttpResponse {
    result(
        method,
        &[
            ("Sonuc", code.to_string()),
            ("Sonuc_Str", message.to_owned()),
        ],
    )
}

fn fault(code: &str, message: &str) -> HttpResponse {
    HttpResponse::new(
        500,
        "text/xml; charset=utf-8",
        fault_document(code, message),
    )
}

/// Repairs the documentation sample's broken comment terminator (`-- >`),
/// which a lenient reader would otherwise extend over `<OdenecekTutar>`.
pub fn repair_comments(text: &str) -> String {
    text.replace("-- >", "-->")
}

impl TurkPosSimulator {
    /// An empty simulator.
    pub fn empty() -> TurkPosSimulator {
        TurkPosSimulator {
            next_dekont: 8_000_000,
            ..Default::default()
        }
    }

    /// The documentation's terminal and order plus demo data.
    pub fn demo() -> TurkPosSimulator {
        let mut s = TurkPosSimulator::empty();
        s.seed(&json!({
            "clients": [
                {"client_code": DOC_CLIENT_CODE, "client_username": DOC_USERNAME, "client_password": DOC_PASSWORD, "guid": DOC_GUID},
                {"client_code": "20001", "client_username": "demo", "client_password": DEMO_PASSWORD, "guid": DEMO_GUID}
            ],
            "orders": [
                {"order_ref": "siparis54", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 5000, "seller_payout_amount": 4000, "date": "2020-04-19T10:00:00+03:00"},
                {"order_ref": "TP-DEMO-1", "marketplace_order_guid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "amount": 10001, "seller_payout_amount": 9000, "date": "2020-05-02T12:00:00+03:00"},
                {"order_ref": "TP-DEMO-TODAY", "marketplace_order_guid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "amount": 3000, "seller_payout_amount": 2500},
                {"order_ref": "TP-STD-1", "amount": 7500, "date": "2020-05-02T12:00:00+03:00"},
                {"order_ref": "TP-STD-TODAY", "amount": 4200}
            ]
        }))
        .expect("demo seed is valid");
        s
    }

    fn authenticate(&self, call: &Element) -> bool {
        let Some(g) = call.child("G") else {
            return false;
        };
        let code = g.child_text("CLIENT_CODE").unwrap_or_default();
        match self.clients.get(code) {
            Some(c) => {
                g.child_text("CLIENT_USERNAME") == Some(c.username.as_str())
                    && g.child_text("CLIENT_PASSWORD") == Some(c.password.as_str())
                    && call
                        .child_text("GUID")
                        .is_some_and(|g| g.eq_ignore_ascii_case(&c.guid))
            }
            None => false,
        }
    }

    fn iptal_iade(&mut self, call: &Element, now: DateTime<FixedOffset>) -> HttpResponse {
        const M: &str = "Pazaryeri_TP_Iptal_Iade";
        let get = |k: &str| {
            call.child_text(k)
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        let (durum, order_ref, guid) = (get("Durum"), get("Siparis_ID"), get("PYSiparis_GUID"));
        // .NET cannot bind a non-number to a Double: a Client fault.
        let parse = |k: &str| -> Result<i64, HttpResponse> {
            let t = get(k);
            amount_from_wire(&t).map_err(|_| fault("soap:Client", &format!("Server was unable to read request. ---> Input string was not in a correct format ({k}).")))
        };
        let siparis = match parse("SiparisTutar") {
            Ok(v) => v,
            Err(f) => return f,
        };
        let odenecek = match parse("OdenecekTutar") {
            Ok(v) => v,
            Err(f) => return f,
        };
        if durum != "IPTAL" && durum != "IADE" {
            return sonuc(M, -1, "Durum IPTAL veya IADE olmalıdır.");
        }
        let Some(order) = self.orders.get_mut(&order_ref).filter(|o| {
            o.marketplace_order_guid
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(&guid))
        }) else {
            return sonuc(M, -2, "Sipariş bulunamadı.");
        };
        if let Some(refused) = same_day_rule(M, &durum, order.date, now) {
            return refused;
        }
        if odenecek > order.amount {
            return sonuc(M, -4, "Ödenecek tutar ürün tutarından büyük olamaz");
        }
        if odenecek < 0 || siparis < 0 {
            return sonuc(M, -6, "Tutar negatif olamaz.");
        }
        let remaining = order.amount.saturating_sub(order.returned());
        if remaining == 0 {
            return sonuc(M, -5, "Sipariş daha önce iptal/iade edilmiş.");
        }
        let amount = if siparis == 0 { remaining } else { siparis };
        if amount < 0 || amount > remaining {
            return sonuc(M, -6, "İptal/iade tutarı kalan tutardan büyük olamaz.");
        }
        order.returns.push((durum.clone(), amount));
        order.seller_payout = odenecek;
        self.ledger.push(json!({
            "method": M, "durum": durum, "order_ref": order_ref, "amount": amount, "seller_payout": odenecek,
        }));
        result(
            M,
            &[
                ("Durum", "12".into()),
                ("Durum_Str", "Sipariş Durum Güncellendi".into()),
                ("Sonuc", "1".into()),
                ("Sonuc_Str", "Başarılı".into()),
            ],
        )
    }

    /// `TP_Islem_Iptal_Iade_Kismi2`: a standard order's cancel (same day, the
    /// whole amount, as Param's page says "IPTAL için tüm tutar") or refund
    /// (later days, at most what remains).
    fn standard_iptal_iade(&mut self, call: &Element, now: DateTime<FixedOffset>) -> HttpResponse {
        const M: &str = "TP_Islem_Iptal_Iade_Kismi2";
        let get = |k: &str| {
            call.child_text(k)
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        let (durum, order_ref) = (get("Durum"), get("Siparis_ID"));
        let tutar = match amount_from_wire(&get("Tutar")) {
            Ok(v) => v,
            Err(_) => {
                return fault(
                    "soap:Client",
                    "Server was unable to read request. ---> Input string was not in a correct format (Tutar).",
                );
            }
        };
        if durum != "IPTAL" && durum != "IADE" {
            return sonuc(M, -1, "Durum IPTAL veya IADE olmalıdır.");
        }
        let Some(order) = self.orders.get_mut(&order_ref) else {
            return sonuc(M, -2, "Sipariş bulunamadı.");
        };
        if order.marketplace_order_guid.is_some() {
            return sonuc(
                M,
                -7,
                "Pazaryeri siparişi: Pazaryeri_TP_Iptal_Iade kullanınız.",
            );
        }
        if let Some(refused) = same_day_rule(M, &durum, order.date, now) {
            return refused;
        }
        let remaining = order.amount.saturating_sub(order.returned());
        if remaining == 0 {
            return sonuc(M, -5, "Sipariş daha önce iptal/iade edilmiş.");
        }
        if durum == "IPTAL" && (tutar != order.amount || remaining != order.amount) {
            return sonuc(M, -8, "İptal için tüm tutar yazılmalıdır.");
        }
        if tutar <= 0 || tutar > remaining {
            return sonuc(M, -6, "İptal/iade tutarı kalan tutardan büyük olamaz.");
        }
        order.returns.push((durum.clone(), tutar));
        self.next_dekont += 1;
        let host_ref = format!("{:012}", self.next_dekont);
        self.ledger.push(json!({
            "method": M, "durum": durum, "order_ref": order_ref, "amount": tutar,
        }));
        result(
            M,
            &[
                ("Sonuc", "1".into()),
                ("Sonuc_Str", "Approved".into()),
                ("Banka_Sonuc_Kod", "0".into()),
                ("Bank_AuthCode", "SIM001".into()),
                ("Bank_Trans_ID", format!("SIMTX{host_ref}")),
                ("Bank_Extra", String::new()),
                ("Bank_HostRefNum", host_ref),
            ],
        )
    }

    fn sorgu(&mut self, call: &Element, now: DateTime<FixedOffset>) -> HttpResponse {
        const M: &str = "TP_Islem_Sorgulama4";
        let order_ref = call
            .child_text("Siparis_ID")
            .map(str::trim)
            .unwrap_or_default();
        let Some(order) = self.orders.get(order_ref) else {
            return sonuc(M, -2, "İşlem bulunamadı.");
        };
        let returned = order.returned();
        let all_cancel = order.returns.iter().all(|(d, _)| d == "IPTAL");
        let (odeme, durum) = if returned == 0 {
            ("1", "SUCCESS")
        } else if returned < order.amount {
            ("1", "PARTIAL_REFUND")
        } else if all_cancel {
            ("12", "CANCEL")
        } else {
            ("13", "REFUND")
        };
        let date = order.date.unwrap_or(now);
        let dt = format!(
            "<DT_Bilgi>\n<Odeme_Sonuc>{odeme}</Odeme_Sonuc>\n<Odeme_Sonuc_Aciklama>{}</Odeme_Sonuc_Aciklama>\n<Dekont_ID>{}</Dekont_ID>\n<Siparis_ID>{}</Siparis_ID>\n<Islem_ID>{}</Islem_ID>\n<Durum>{durum}</Durum>\n<Tarih>{}</Tarih>\n<Islem_Tip>Satış</Islem_Tip>\n<Toplam_Tutar>{}</Toplam_Tutar>\n<Toplam_Iade_Tutar>{}</Toplam_Iade_Tutar>\n<Taksit>1</Taksit>\n</DT_Bilgi>\n",
            if odeme == "1" {
                "Başarılı"
            } else if odeme == "12" {
                "İptal"
            } else {
                "İade"
            },
            escape(&order.dekont_id),
            escape(order_ref),
            escape(&order.dekont_id),
            date.format("%d.%m.%Y %H:%M:%S"),
            amount_to_wire(order.amount),
            amount_to_wire(returned),
        );
        result(
            M,
            &[
                ("Sonuc", "1".into()),
                ("Sonuc_Str", "Başarılı".into()),
                ("<DT_Bilgi>", dt),
            ],
        )
    }
}

impl Simulator for TurkPosSimulator {
    fn handle(&mut self, request: &HttpRequest, now: DateTime<FixedOffset>) -> HttpResponse {
        for o in self.orders.values_mut() {
            o.date.get_or_insert(now);
        }
        if !request.method.eq_ignore_ascii_case("POST") {
            return HttpResponse::new(
                405,
                "text/html",
                "<html><body><h2>Method Not Allowed</h2></body></html>",
            );
        }
        let text = repair_comments(&String::from_utf8_lossy(&request.body));
        let root = match xml::parse(&text) {
            Ok(r) => r,
            Err(e) => {
                return fault(
                    "soap:Client",
                    &format!(
                        "Server was unable to read request. ---> There is an error in XML document: {e}"
                    ),
                );
            }
        };
        let body = match xml::soap_body(&root) {
            Ok((b, _)) => b,
            Err(e) => return fault("soap:Client", &e),
        };
        let Some(call) = body.children.first() else {
            return fault("soap:Client", "Body is empty");
        };
        if let Some(action) = request.header("SOAPAction") {
            let action = action.trim_matches('"');
            if !action.ends_with(&format!("/{}", call.name)) {
                return fault(
                    "soap:Client",
                    &format!(
                        "Server did not recognize the value of HTTP Header SOAPAction: {action}."
                    ),
                );
            }
        }
        if ![
            "Pazaryeri_TP_Iptal_Iade",
            "TP_Islem_Iptal_Iade_Kismi2",
            "TP_Islem_Sorgulama4",
        ]
        .contains(&call.name.as_str())
        {
            return fault("soap:Client", &format!("Unknown method {}", call.name));
        }
        if !self.authenticate(call) {
            return sonuc(
                &call.name,
                -100,
                "Güvenlik hatası: G bilgileri veya GUID geçersiz.",
            );
        }
        match call.name.as_str() {
            "Pazaryeri_TP_Iptal_Iade" => self.iptal_iade(call, now),
            "TP_Islem_Iptal_Iade_Kismi2" => self.standard_iptal_iade(call, now),
            _ => self.sorgu(call, now),
        }
    }

    fn seed(&mut self, document: &Value) -> Result<(), String> {
        let seed: Seed =
            serde_json::from_value(document.clone()).map_err(|e| format!("TurkPos seed: {e}"))?;
        for c in seed.clients {
            self.clients.insert(
                c.client_code,
                Client {
                    username: c.client_username,
                    password: c.client_password,
                    guid: c.guid,
                },
            );
        }
        for o in seed.orders {
            if o.amount <= 0 || o.seller_payout_amount < 0 || o.seller_payout_amount > o.amount {
                return Err(format!("order {}: bad amounts", o.order_ref));
            }
            let date = match o.date {
                None => None,
                Some(d) => Some(
                    parse_date(&d)
                        .ok_or_else(|| format!("order {}: bad date {d:?}", o.order_ref))?,
                ),
            };
            self.next_dekont += 1;
            self.orders.insert(
                o.order_ref,
                SimOrder {
                    marketplace_order_guid: o.marketplace_order_guid,
                    amount: o.amount,
                    seller_payout: o.seller_payout_amount,
                    date,
                    dekont_id: self.next_dekont.to_string(),
                    returns: Vec::new(),
                },
            );
        }
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"orders": self.orders, "ledger": self.ledger})
    }

    fn demo_accounts(&self) -> Value {
        json!({
            "turk-demo": {
                "environment": "test",
                "client_code": "20001",
                "client_username": "demo",
                "client_password": DEMO_PASSWORD,
                "guid": DEMO_GUID,
                "timeout_ms": 10000
            }
        })
    }
}
