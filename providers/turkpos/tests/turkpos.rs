//! TurkPos: the doc samples, every failure kind, escaping, the simulator, and
//! the provider end to end over loopback (static and cdylib).

use payops_core::chrono::DateTime;
use payops_core::driver::PluginProvider;
use payops_core::kit::xml::{self, Element};
use payops_core::loader;
use payops_core::protocol::Step;
use payops_core::{
    Call, HttpResponse, OperationKind, PaymentStatus, Simulator, Status, TransportError,
};
use payops_transport::SimServer;
use payops_turkpos::outcome::{payment_status, query_outcome, return_outcome};
use payops_turkpos::sim::{
    DOC_CLIENT_CODE, DOC_GUID, DOC_ORDER_GUID, DOC_PASSWORD, DOC_USERNAME, TurkPosSimulator,
    repair_comments,
};

fn turkpos() -> &'static payops_core::guest::Exported<payops_turkpos::TurkPos> {
    payops_turkpos::payops_plugin::provider()
}
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn doc_account() -> Value {
    json!({"environment": "test", "client_code": DOC_CLIENT_CODE, "client_username": DOC_USERNAME,
           "client_password": DOC_PASSWORD, "guid": DOC_GUID})
}

fn call(op: OperationKind, account: Value) -> Call {
    Call {
        operation: op,
        operation_id: "op_t".into(),
        account: account.as_object().unwrap().clone(),
        now: DateTime::parse_from_rfc3339("2026-11-24T12:00:00+03:00").unwrap(),
        idempotency_key: None,
        nonce: String::new(),
        earlier_returns: 0,
    }
}

fn request(op: OperationKind, doc: Value) -> payops_core::HttpRequest {
    match turkpos().start(&call(op, doc_account()), &doc).unwrap() {
        Step::Send { request, .. } => request,
        other => panic!("{other:?}"),
    }
}

fn leaves(e: &Element) -> Vec<(String, String)> {
    e.leaves()
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

fn ok(body: &str) -> Result<HttpResponse, TransportError> {
    Ok(HttpResponse::new(200, "text/xml", body.to_owned()))
}

#[test]
fn request_sample_is_reproduced() {
    let r = request(
        OperationKind::Refund,
        json!({"order_ref": "siparis54", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 3000, "seller_payout_amount": 1000}),
    );
    assert_eq!(
        r.url,
        "https://test-dmz.param.com.tr/turkpos.ws/service_turkpos_test.asmx"
    );
    assert_eq!(r.header("Content-Type"), Some("text/xml; charset=utf-8"));
    assert_eq!(
        r.header("SOAPAction"),
        Some("\"https://turkpos.com.tr/Pazaryeri_TP_Iptal_Iade\"")
    );
    let ours = xml::parse(std::str::from_utf8(&r.body).unwrap()).unwrap();
    let sample = xml::parse(&repair_comments(&fixture("iptal-iade.request.xml"))).unwrap();
    assert_eq!(ours, sample, "same elements and values as the doc sample");
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("<soap:Envelope") && text.contains("xmlns=\"https://turkpos.com.tr/\""));
    assert!(
        text.contains("<SiparisTutar>30.00</SiparisTutar>")
            && text.contains("<OdenecekTutar>10.00</OdenecekTutar>")
    );
}

#[test]
fn the_broken_comment_would_swallow_odenecek_tutar() {
    // Without repair, the sample's `-- >` is not a comment end; a strict parser
    // refuses the document, a lenient one would lose <OdenecekTutar>.
    let raw = fixture("iptal-iade.request.xml");
    let repaired = xml::parse(&repair_comments(&raw)).unwrap();
    assert_eq!(repaired.find("OdenecekTutar").unwrap().text, "10.00");
    assert_eq!(
        repaired.find("Durum").unwrap().text,
        "IADE",
        "`</Durum >` is accepted"
    );
}

#[test]
fn whole_order_and_cancel() {
    let r = request(
        OperationKind::Cancel,
        json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true, "seller_payout_amount": 0}),
    );
    let e = xml::parse(std::str::from_utf8(&r.body).unwrap()).unwrap();
    assert_eq!(e.find("Durum").unwrap().text, "IPTAL");
    assert_eq!(e.find("SiparisTutar").unwrap().text, "0.00");
    assert_eq!(e.find("OdenecekTutar").unwrap().text, "0.00");
}

#[test]
fn hostile_values_are_escaped_not_injected() {
    let hostile = "x</Siparis_ID><Durum>IPTAL</Durum><!--&\"'";
    let r = request(
        OperationKind::Refund,
        json!({"order_ref": hostile, "marketplace_order_guid": DOC_ORDER_GUID, "amount": 1, "seller_payout_amount": 0}),
    );
    let text = std::str::from_utf8(&r.body).unwrap();
    let e = xml::parse(text).unwrap();
    assert_eq!(e.find("Siparis_ID").unwrap().text, hostile);
    let durums: Vec<_> = leaves(&e)
        .into_iter()
        .filter(|(k, _)| k == "Durum")
        .collect();
    assert_eq!(durums, vec![("Durum".to_owned(), "IADE".to_owned())]);
    // A hostile credential is escaped too.
    let mut acct = doc_account();
    acct["client_username"] = json!("a<b&c");
    let step = turkpos()
        .start(
            &call(OperationKind::Query, acct),
            &json!({"order_ref": "o\"'<&>"}),
        )
        .unwrap();
    let Step::Send { request, .. } = step else {
        panic!()
    };
    let e = xml::parse(std::str::from_utf8(&request.body).unwrap()).unwrap();
    assert_eq!(e.find("CLIENT_USERNAME").unwrap().text, "a<b&c");
    assert_eq!(e.find("Siparis_ID").unwrap().text, "o\"'<&>");
}

#[test]
fn invalid_documents_and_unsupported_adjustment() {
    for (doc, path) in [
        (
            json!({"order_ref": "a", "marketplace_order_guid": "nope", "whole_order": true, "seller_payout_amount": 0}),
            "/marketplace_order_guid",
        ),
        (
            json!({"order_ref": "", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true, "seller_payout_amount": 0}),
            "/order_ref",
        ),
        (
            json!({"order_ref": "a", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 0, "seller_payout_amount": 0}),
            "/amount",
        ),
        (
            json!({"order_ref": "a", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 5, "seller_payout_amount": -1}),
            "/seller_payout_amount",
        ),
    ] {
        let e = turkpos()
            .start(&call(OperationKind::Refund, doc_account()), &doc)
            .unwrap_err();
        assert_eq!(e.details()[0].path, path, "{e}");
    }
    let e = turkpos()
        .start(
            &call(OperationKind::SubMerchantAdjust, doc_account()),
            &json!({}),
        )
        .unwrap_err();
    assert_eq!(e.code().as_str(), "unsupported_operation");
    assert!(!turkpos().info().supports(OperationKind::SubMerchantAdjust));
}

#[test]
fn response_sample_is_succeeded_with_durum_12() {
    let o = return_outcome(ok(&fixture("iptal-iade.response.xml")), "IADE", Some(3000));
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.provider_code.as_deref(), Some("1"));
    assert_eq!(o.provider_message.as_deref(), Some("Başarılı"));
    assert_eq!(o.details["durum"], json!("12"));
    assert_eq!(o.details["durum_str"], json!("Sipariş Durum Güncellendi"));
    assert_eq!(o.raw["Pazaryeri_TP_Iptal_IadeResult"]["Sonuc"], json!("1"));
}

fn wrap(prefix: &str, inner: &str) -> String {
    let p = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}:")
    };
    let decl = if prefix.is_empty() {
        "xmlns".to_owned()
    } else {
        format!("xmlns:{prefix}")
    };
    format!(
        "<?xml version=\"1.0\"?><{p}Envelope {decl}=\"http://schemas.xmlsoap.org/soap/envelope/\"><{p}Body>{inner}</{p}Body></{p}Envelope>"
    )
}

#[test]
fn result_values_and_every_failure_kind() {
    let res = |sonuc: &str| {
        format!(
            "<Pazaryeri_TP_Iptal_IadeResponse xmlns=\"https://turkpos.com.tr/\"><Pazaryeri_TP_Iptal_IadeResult><Durum>12</Durum><Sonuc>{sonuc}</Sonuc><Sonuc_Str>m</Sonuc_Str></Pazaryeri_TP_Iptal_IadeResult></Pazaryeri_TP_Iptal_IadeResponse>"
        )
    };
    for prefix in ["soap", "s", "SOAP-ENV", ""] {
        assert_eq!(
            return_outcome(ok(&wrap(prefix, &res("1"))), "IADE", None).status,
            Status::Succeeded,
            "{prefix}"
        );
    }
    assert_eq!(
        return_outcome(ok(&wrap("soap", &res("2"))), "IADE", None).status,
        Status::Succeeded
    );
    assert_eq!(
        return_outcome(ok(&wrap("soap", &res("0"))), "IADE", None).status,
        Status::Failed
    );
    assert_eq!(
        return_outcome(ok(&wrap("soap", &res("-4"))), "IADE", None).status,
        Status::Failed
    );
    assert_eq!(
        return_outcome(ok(&wrap("soap", &res("x"))), "IADE", None).status,
        Status::Unknown
    );
    let client = wrap(
        "soap",
        "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>bad</faultstring></soap:Fault>",
    );
    let o = return_outcome(Ok(HttpResponse::new(500, "text/xml", client)), "IADE", None);
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("soap:Client"))
    );
    let server = wrap(
        "soap",
        "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault>",
    );
    let o = return_outcome(Ok(HttpResponse::new(500, "text/xml", server)), "IADE", None);
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(
        return_outcome(ok(&wrap("soap", "<Other/>")), "IADE", None).status,
        Status::Unknown,
        "no result"
    );
    assert_eq!(return_outcome(ok(""), "IADE", None).status, Status::Unknown);
}

fn query_doc(odeme: &str, durum: &str) -> String {
    wrap(
        "soap",
        &format!(
            "<TP_Islem_Sorgulama4Response xmlns=\"https://turkpos.com.tr/\"><TP_Islem_Sorgulama4Result><Sonuc>1</Sonuc><Sonuc_Str>Başarılı</Sonuc_Str><DT_Bilgi><Odeme_Sonuc>{odeme}</Odeme_Sonuc><Durum>{durum}</Durum><Islem_Tip>Satış</Islem_Tip><Toplam_Tutar>10.01</Toplam_Tutar><Toplam_Iade_Tutar>5.00</Toplam_Iade_Tutar><Tarih>24.09.2020 17:08:10</Tarih><Dekont_ID>123456</Dekont_ID></DT_Bilgi></TP_Islem_Sorgulama4Result></TP_Islem_Sorgulama4Response>"
        ),
    )
}

#[test]
fn query_states_map_to_payment_status() {
    for (odeme, durum, expected) in [
        ("1", "SUCCESS", PaymentStatus::Succeeded),
        ("1", "PARTIAL_REFUND", PaymentStatus::PartiallyRefunded),
        ("0", "FAIL", PaymentStatus::Failed),
        ("0", "BANK_FAIL", PaymentStatus::Failed),
        ("12", "CANCEL", PaymentStatus::Cancelled),
        ("13", "REFUND", PaymentStatus::Refunded),
        ("12", "", PaymentStatus::Cancelled),
        ("13", "", PaymentStatus::Refunded),
        ("1", "", PaymentStatus::Succeeded),
        ("7", "NEW_STATE", PaymentStatus::Unknown),
    ] {
        let o = query_outcome(ok(&query_doc(odeme, durum)));
        assert_eq!(o.status, Status::Succeeded);
        assert_eq!(
            o.details["payment_status"],
            serde_json::to_value(expected).unwrap(),
            "{odeme} {durum}"
        );
        assert_eq!(o.details["amount"], json!(1001));
        assert_eq!(o.details["refunded_amount"], json!(500));
        // The ledger: only the returned total (Toplam_Iade_Tutar), a floor.
        assert_eq!(o.details["ledger"]["listed"], "total_only");
        assert_eq!(o.details["ledger"]["paid"], json!(1001));
        assert_eq!(o.details["ledger"]["returned_total"], json!(500));
        assert_eq!(o.details["ledger"]["returns"], json!([]));
        assert_eq!(
            o.details["payment_date"],
            json!("2020-09-24T17:08:10+03:00")
        );
        assert_eq!(o.provider_reference.as_deref(), Some("123456"));
        assert_eq!(o.details["extra"]["Islem_Tip"], json!("Satış"));
    }
    assert_eq!(
        payment_status(Some("success"), None),
        PaymentStatus::Succeeded
    );
    let not_found = wrap(
        "soap",
        "<TP_Islem_Sorgulama4Response><TP_Islem_Sorgulama4Result><Sonuc>-2</Sonuc><Sonuc_Str>yok</Sonuc_Str></TP_Islem_Sorgulama4Result></TP_Islem_Sorgulama4Response>",
    );
    assert_eq!(query_outcome(ok(&not_found)).status, Status::Failed);
    let no_dt = wrap(
        "soap",
        "<TP_Islem_Sorgulama4Response><TP_Islem_Sorgulama4Result><Sonuc>1</Sonuc></TP_Islem_Sorgulama4Result></TP_Islem_Sorgulama4Response>",
    );
    assert_eq!(query_outcome(ok(&no_dt)).status, Status::Unknown);
    let bad_amount = query_doc("1", "SUCCESS").replace("10.01", "10.015");
    assert_eq!(
        query_outcome(ok(&bad_amount)).status,
        Status::Unknown,
        "never rounded"
    );
}

const PASS: &str = "e2e-pass1";
const GUID: &str = "11111111-2222-3333-4444-555555555555";
const G1: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const G2: &str = "aaaaaaaa-0000-0000-0000-000000000002";

fn account(url: &str, password: &str) -> Value {
    json!({"environment": "test", "base_url": url, "client_code": "555", "client_username": "u",
           "client_password": password, "guid": GUID, "timeout_ms": 5000})
}

async fn scenario(p: PluginProvider) {
    assert_eq!(p.info().id, "turkpos");
    let mut sim = TurkPosSimulator::empty();
    sim.seed(&json!({
        "clients": [{"client_code": "555", "client_username": "u", "client_password": PASS, "guid": GUID}],
        "orders": [
            {"order_ref": "OLD", "marketplace_order_guid": G1, "amount": 5000, "seller_payout_amount": 4000, "date": "2020-01-02T10:00:00+03:00"},
            {"order_ref": "NEW", "marketplace_order_guid": G2, "amount": 3000, "seller_payout_amount": 2500}
        ]
    }))
    .unwrap();
    let srv = SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = payops_conformance::context(&p, account(&srv.url(), PASS), http());
    use OperationKind::*;
    let run = |op, doc: Value| {
        let (p, c) = (&p, &c);
        async move { p.execute(op, c, doc).await.unwrap() }
    };

    let o = run(Refund, json!({"order_ref": "OLD", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000})).await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.details["durum"], json!("12"));
    let o = run(Query, json!({"order_ref": "OLD"})).await;
    assert_eq!(
        o.details["payment_status"],
        json!("partially_refunded"),
        "{o:?}"
    );
    assert_eq!(o.details["refunded_amount"], json!(1000));
    // Partial beyond what remains; payout above the order amount (the doc's warning).
    let o = run(Refund, json!({"order_ref": "OLD", "marketplace_order_guid": G1, "amount": 4001, "seller_payout_amount": 0})).await;
    assert_eq!(o.status, Status::Failed);
    let o = run(Refund, json!({"order_ref": "OLD", "marketplace_order_guid": G1, "amount": 1, "seller_payout_amount": 5001})).await;
    assert_eq!(o.status, Status::Failed);
    assert_eq!(
        o.provider_message.as_deref(),
        Some("Ödenecek tutar ürün tutarından büyük olamaz")
    );
    // IPTAL only the same day.
    let o = run(
        Cancel,
        json!({"order_ref": "OLD", "marketplace_order_guid": G1, "whole_order": true, "seller_payout_amount": 0}),
    )
    .await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    // The rest of the order (SiparisTutar 0).
    let o = run(
        Refund,
        json!({"order_ref": "OLD", "marketplace_order_guid": G1, "whole_order": true, "seller_payout_amount": 0}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded);
    let o = run(Query, json!({"order_ref": "OLD"})).await;
    assert_eq!(o.details["payment_status"], json!("refunded"));
    // Same-day order: IADE refused, IPTAL accepted.
    let o = run(
        Refund,
        json!({"order_ref": "NEW", "marketplace_order_guid": G2, "whole_order": true, "seller_payout_amount": 0}),
    )
    .await;
    assert_eq!(o.status, Status::Failed);
    let o = run(
        Cancel,
        json!({"order_ref": "NEW", "marketplace_order_guid": G2, "whole_order": true, "seller_payout_amount": 0}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded);
    let o = run(Query, json!({"order_ref": "NEW"})).await;
    assert_eq!(o.details["payment_status"], json!("cancelled"));
    // Unknown order, wrong GUID of the order, bad credentials.
    let o = run(Query, json!({"order_ref": "NOPE"})).await;
    assert_eq!(o.status, Status::Failed);
    let o = run(Refund, json!({"order_ref": "OLD", "marketplace_order_guid": G2, "amount": 1, "seller_payout_amount": 0})).await;
    assert_eq!(o.status, Status::Failed);
    let bad = payops_conformance::context(&p, account(&srv.url(), "wrong-pass9"), http());
    let o = p
        .execute(Query, &bad, json!({"order_ref": "OLD"}))
        .await
        .unwrap();
    assert_eq!(o.status, Status::Failed);
    assert!(!serde_json::to_string(&o).unwrap().contains("wrong-pass9"));
    let e = p
        .execute(SubMerchantAdjust, &c, json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "unsupported_operation");

    let state = srv.with_sim(|s| s.state());
    let ledger: Vec<_> = state["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["durum"].as_str().unwrap().to_owned(),
                e["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ledger,
        vec![
            ("IADE".into(), 1000),
            ("IADE".into(), 4000),
            ("IPTAL".into(), 3000)
        ]
    );
    assert_eq!(state["orders"]["OLD"]["seller_payout"], json!(0));
}

#[tokio::test]
async fn end_to_end_static() {
    scenario(PluginProvider::from_static(payops_turkpos::payops_plugin::api()).unwrap()).await;
}

#[tokio::test]
async fn end_to_end_cdylib() {
    scenario(loader::load(&payops_conformance::built_cdylib("payops_turkpos")).unwrap()).await;
}

#[test]
fn simulator_accepts_the_doc_sample_and_faults_on_garbage() {
    let mut sim = TurkPosSimulator::demo();
    let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00+03:00").unwrap();
    let mut req = payops_core::HttpRequest::post(
        "http://x/turkpos.ws/service_turkpos_test.asmx",
        "text/xml; charset=utf-8",
        fixture("iptal-iade.request.xml"),
    );
    req.headers.push((
        "SOAPAction".into(),
        "\"https://turkpos.com.tr/Pazaryeri_TP_Iptal_Iade\"".into(),
    ));
    let r = sim.handle(&req, now);
    let o = return_outcome(Ok(r), "IADE", Some(3000));
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(
        sim.state()["orders"]["siparis54"]["seller_payout"],
        json!(1000)
    );
    req.body = b"<soap:Envelope><soap:Body><Pazaryeri_TP".to_vec();
    let r = sim.handle(&req, now);
    assert_eq!(r.status, 500);
    let o = return_outcome(Ok(r), "IADE", None);
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("soap:Client"))
    );
}

/// The host's HTTP transport (the simulator is served over loopback).
fn http() -> std::sync::Arc<dyn payops_core::HttpTransport> {
    std::sync::Arc::new(payops_transport::ReqwestTransport::new().expect("HTTP client"))
}

/// Answers that look like a success but prove nothing stay `unknown`.
#[test]
fn success_looking_answers_that_prove_nothing() {
    let result = |inner: &str| {
        format!(
            "<Pazaryeri_TP_Iptal_IadeResponse xmlns=\"https://turkpos.com.tr/\"><Pazaryeri_TP_Iptal_IadeResult>{inner}</Pazaryeri_TP_Iptal_IadeResult></Pazaryeri_TP_Iptal_IadeResponse>"
        )
    };
    let good = wrap(
        "soap",
        &result("<Durum>12</Durum><Sonuc>1</Sonuc><Sonuc_Str>Başarılı</Sonuc_Str>"),
    );
    // The documented success on HTTP 500 or 503.
    for status in [500, 503] {
        let r = Ok(HttpResponse::new(status, "text/xml", good.clone()));
        assert_eq!(
            return_outcome(r, "IADE", None).status,
            Status::Unknown,
            "{status}"
        );
    }
    // Two Sonuc that contradict each other.
    let two = wrap(
        "soap",
        &result("<Sonuc>1</Sonuc><Sonuc>-1</Sonuc><Sonuc_Str>?</Sonuc_Str>"),
    );
    assert_eq!(
        return_outcome(ok(&two), "IADE", None).status,
        Status::Unknown
    );
    // A Result without its Response wrapper.
    let bare = wrap(
        "soap",
        "<Pazaryeri_TP_Iptal_IadeResult><Sonuc>1</Sonuc></Pazaryeri_TP_Iptal_IadeResult>",
    );
    assert_eq!(
        return_outcome(ok(&bare), "IADE", None).status,
        Status::Unknown
    );
    // 100k levels of nesting: refused, never a stack overflow.
    let deep = format!(
        "{}{}{}",
        "<a>".repeat(100_000),
        result("<Sonuc>1</Sonuc>"),
        "</a>".repeat(100_000)
    );
    assert_eq!(
        return_outcome(ok(&wrap("soap", &deep)), "IADE", None).status,
        Status::Unknown
    );
    assert!(xml::parse(&deep).is_err());
    // A malformed tag or a control character: not XML, not an answer.
    for bad in [
        good.replace("<Sonuc>", "<Sonuc x>"),
        good.replace("<Sonuc>", "<Sonuc \u{0}>"),
        good.replace("Başarılı", "Ba\u{1}şarılı"),
    ] {
        assert_eq!(
            return_outcome(ok(&bad), "IADE", None).status,
            Status::Unknown,
            "{bad}"
        );
    }
    // The sample is still a success.
    assert_eq!(
        return_outcome(ok(&good), "IADE", None).status,
        Status::Succeeded
    );
}

#[test]
fn simulator_refuses_negative_and_huge_amounts_without_overflow() {
    let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00+03:00").unwrap();
    for (siparis, odenecek) in [
        ("30.00", "-10.00"),
        ("-30.00", "10.00"),
        ("92233720368547758.07", "0.00"),
    ] {
        let mut sim = TurkPosSimulator::demo();
        let body = fixture("iptal-iade.request.xml")
            .replace(
                "<SiparisTutar>30.00</SiparisTutar>",
                &format!("<SiparisTutar>{siparis}</SiparisTutar>"),
            )
            .replace(
                "<OdenecekTutar>10.00</OdenecekTutar>",
                &format!("<OdenecekTutar>{odenecek}</OdenecekTutar>"),
            );
        assert!(
            body.contains(odenecek) && body.contains(siparis),
            "the sample changed"
        );
        let mut req = payops_core::HttpRequest::post(
            "http://x/turkpos.ws/service_turkpos_test.asmx",
            "text/xml; charset=utf-8",
            body,
        );
        req.headers.push((
            "SOAPAction".into(),
            "\"https://turkpos.com.tr/Pazaryeri_TP_Iptal_Iade\"".into(),
        ));
        let o = return_outcome(Ok(sim.handle(&req, now)), "IADE", None);
        assert_eq!(o.status, Status::Failed, "{siparis} {odenecek}: {o:?}");
        assert!(
            sim.state()["ledger"]
                .as_array()
                .is_none_or(|l| l.is_empty()),
            "nothing recorded"
        );
    }
}

/// Returning the whole marketplace order must be said, never implied.
#[test]
fn whole_order_needs_the_explicit_flag() {
    let c = call(OperationKind::Refund, doc_account());
    // An old document that omits amount: refused, not a whole-order return.
    let e = turkpos()
        .start(&c, &json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "seller_payout_amount": 0}))
        .unwrap_err();
    assert_eq!(e.code().as_str(), "invalid_request");
    assert!(e.to_string().contains("whole_order"), "{e}");
    // Both at once: refused.
    let e = turkpos()
        .start(&c, &json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true, "amount": 100}))
        .unwrap_err();
    assert!(e.to_string().contains("/amount"), "{e}");
    // A payout with the whole order: refused (nothing is left to pay).
    let e = turkpos()
        .start(&c, &json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true, "seller_payout_amount": 500}))
        .unwrap_err();
    assert!(e.to_string().contains("/seller_payout_amount"), "{e}");
    // A partial return needs the payout.
    let e = turkpos()
        .start(
            &c,
            &json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 100}),
        )
        .unwrap_err();
    assert!(e.to_string().contains("/seller_payout_amount"), "{e}");
    // The flag: SiparisTutar 0 and OdenecekTutar 0, as the doc's rule says.
    let r = request(
        OperationKind::Refund,
        json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true}),
    );
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("<SiparisTutar>0.00</SiparisTutar>"), "{body}");
    assert!(
        body.contains("<OdenecekTutar>0.00</OdenecekTutar>"),
        "{body}"
    );
    // The exported schema says the same.
    let schema = &turkpos().info().operations[&OperationKind::Refund].request;
    let v = jsonschema::validator_for(schema).unwrap();
    assert!(!v.is_valid(&json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "seller_payout_amount": 0})));
    assert!(v.is_valid(
        &json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true})
    ));
    assert!(!v.is_valid(&json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true, "amount": 5})));
    assert!(v.is_valid(&json!({"order_ref": "s1", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 5, "seller_payout_amount": 0})));
}

/// Param documents no causes for a failed `Sonuc` ("otherwise,
/// unsuccessful"): `refused`. A Client fault is a request the server could
/// not read (`invalid_request`); anything unreadable is `provider_error`.
#[test]
fn every_result_has_a_reason_from_the_closed_set() {
    let res = |sonuc: &str| {
        wrap(
            "soap",
            &format!(
                "<Pazaryeri_TP_Iptal_IadeResponse xmlns=\"https://turkpos.com.tr/\"><Pazaryeri_TP_Iptal_IadeResult><Sonuc>{sonuc}</Sonuc><Sonuc_Str>m</Sonuc_Str></Pazaryeri_TP_Iptal_IadeResult></Pazaryeri_TP_Iptal_IadeResponse>"
            ),
        )
    };
    let reason = |r: Result<HttpResponse, TransportError>| {
        return_outcome(r, "IADE", None).reason.map(|r| r.as_str())
    };
    assert_eq!(reason(ok(&res("1"))), None);
    assert_eq!(reason(ok(&res("0"))), Some("refused"));
    assert_eq!(reason(ok(&res("-4"))), Some("refused"));
    assert_eq!(reason(ok(&res("x"))), Some("provider_error"));
    assert_eq!(
        reason(Ok(HttpResponse::new(500, "text/xml", res("1")))),
        Some("provider_error")
    );
    let fault = |code: &str| {
        wrap(
            "soap",
            &format!(
                "<soap:Fault><faultcode>{code}</faultcode><faultstring>x</faultstring></soap:Fault>"
            ),
        )
    };
    assert_eq!(
        reason(Ok(HttpResponse::new(500, "text/xml", fault("soap:Client")))),
        Some("invalid_request")
    );
    assert_eq!(
        reason(Ok(HttpResponse::new(500, "text/xml", fault("soap:Server")))),
        Some("provider_error")
    );
    assert_eq!(
        reason(Err(TransportError::new(
            payops_core::TransportErrorKind::Connect,
            "refused"
        ))),
        Some("unreachable")
    );
    assert_eq!(
        reason(Err(TransportError::new(
            payops_core::TransportErrorKind::Timeout,
            "30s"
        ))),
        Some("timeout")
    );
}

/// Param's standard (non-marketplace) returns: `TP_Islem_Iptal_Iade_Kismi2`.
#[test]
fn standard_request_sample_is_reproduced() {
    let r = request(
        OperationKind::Refund,
        json!({"order_type": "standard", "order_ref": "3000159380", "amount": 100}),
    );
    assert_eq!(
        r.header("SOAPAction"),
        Some("\"https://turkpos.com.tr/TP_Islem_Iptal_Iade_Kismi2\"")
    );
    let ours = xml::parse(std::str::from_utf8(&r.body).unwrap()).unwrap();
    let sample = xml::parse(&fixture("kismi2.request.xml")).unwrap();
    assert_eq!(ours, sample, "same elements and values as Param's sample");
}

#[test]
fn standard_answers_and_every_documented_sonuc_case() {
    use payops_turkpos::outcome::standard_return_outcome;
    let o = standard_return_outcome(ok(&fixture("kismi2.response.xml")), "IADE", 100);
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.provider_code.as_deref(), Some("1"));
    assert_eq!(o.provider_message.as_deref(), Some("Approved"));
    assert_eq!(o.provider_reference.as_deref(), Some("412309123456"));
    assert_eq!(o.details["bank_trans_id"], json!("24050211001"));
    assert_eq!(o.details["banka_sonuc_kod"], json!("0"));
    let res = |sonuc: &str| {
        fixture("kismi2.response.xml")
            .replace("<Sonuc>1</Sonuc>", &format!("<Sonuc>{sonuc}</Sonuc>"))
    };
    // "> 0 successful; otherwise unsuccessful" (the marketplace page's rule).
    for (sonuc, status, reason) in [
        ("1", Status::Succeeded, None),
        ("2", Status::Succeeded, None),
        ("0", Status::Failed, Some("refused")),
        ("-1", Status::Failed, Some("refused")),
        ("x", Status::Unknown, Some("provider_error")),
    ] {
        let o = standard_return_outcome(ok(&res(sonuc)), "IADE", 100);
        assert_eq!(o.status, status, "{sonuc}");
        assert_eq!(o.reason.map(|r| r.as_str()), reason, "{sonuc}");
    }
    // The marketplace method's answer is not this method's.
    let other = standard_return_outcome(ok(&fixture("iptal-iade.response.xml")), "IADE", 100);
    assert_eq!(other.status, Status::Unknown);
}

#[test]
fn standard_documents_are_checked() {
    let c = call(OperationKind::Refund, doc_account());
    for (doc, path) in [
        (
            json!({"order_type": "standard", "order_ref": "S1"}),
            "/amount",
        ),
        (
            json!({"order_type": "standard", "order_ref": "S1", "amount": 100, "seller_payout_amount": 0}),
            "/seller_payout_amount",
        ),
        (
            json!({"order_type": "standard", "order_ref": "S1", "amount": 100, "marketplace_order_guid": DOC_ORDER_GUID}),
            "/marketplace_order_guid",
        ),
        (
            json!({"order_type": "standard", "order_ref": "S1", "whole_order": true}),
            "/whole_order",
        ),
        // A marketplace document still needs its GUID.
        (
            json!({"order_ref": "S1", "amount": 100, "seller_payout_amount": 0}),
            "/marketplace_order_guid",
        ),
    ] {
        let e = turkpos().start(&c, &doc).unwrap_err();
        assert_eq!(e.details()[0].path, path, "{doc}: {e}");
    }
    // The account may make standard the default.
    let mut account = doc_account();
    account["default_order_type"] = json!("standard");
    let step = turkpos()
        .start(
            &call(OperationKind::Refund, account),
            &json!({"order_ref": "S1", "amount": 100}),
        )
        .unwrap();
    let Step::Send { request, .. } = step else {
        panic!("{step:?}")
    };
    assert!(String::from_utf8_lossy(&request.body).contains("TP_Islem_Iptal_Iade_Kismi2"));
}

/// Refund, partial refund and cancel of standard orders against the
/// simulator, linked statically and loaded as a cdylib.
async fn standard_scenario(p: PluginProvider) {
    let mut sim = TurkPosSimulator::empty();
    sim.seed(&json!({
        "clients": [{"client_code": "555", "client_username": "u", "client_password": PASS, "guid": GUID}],
        "orders": [
            {"order_ref": "STD-OLD", "amount": 10000, "date": "2020-01-02T10:00:00+03:00"},
            {"order_ref": "STD-NEW", "amount": 4200},
            {"order_ref": "MP-1", "marketplace_order_guid": DOC_ORDER_GUID, "amount": 5000, "seller_payout_amount": 0, "date": "2020-01-02T10:00:00+03:00"}
        ]
    }))
    .unwrap();
    let srv = SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut acct = account(&srv.url(), PASS);
    acct["default_order_type"] = json!("standard");
    let c = payops_conformance::context(&p, acct, http());
    let run = |op, doc: Value| {
        let (p, c) = (&p, &c);
        async move { p.execute(op, c, doc).await.unwrap() }
    };
    // A partial refund, then the rest, then nothing left.
    let o = run(
        OperationKind::Refund,
        json!({"order_ref": "STD-OLD", "amount": 2500}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.details["method"], json!("TP_Islem_Iptal_Iade_Kismi2"));
    let o = run(
        OperationKind::Refund,
        json!({"order_ref": "STD-OLD", "amount": 7500}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let o = run(
        OperationKind::Refund,
        json!({"order_ref": "STD-OLD", "amount": 1}),
    )
    .await;
    assert_eq!(
        (o.status, o.reason.map(|r| r.as_str())),
        (Status::Failed, Some("refused")),
        "{o:?}"
    );
    // Same day: a cancel of less than the whole amount is refused; the whole amount cancels.
    let o = run(
        OperationKind::Cancel,
        json!({"order_ref": "STD-NEW", "amount": 100}),
    )
    .await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    let o = run(
        OperationKind::Cancel,
        json!({"order_ref": "STD-NEW", "amount": 4200}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let q = run(OperationKind::Query, json!({"order_ref": "STD-NEW"})).await;
    assert_eq!(q.details["payment_status"], json!("cancelled"), "{q:?}");
    // A marketplace order through the standard method: refused by the provider.
    let o = run(
        OperationKind::Refund,
        json!({"order_ref": "MP-1", "amount": 100}),
    )
    .await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    let ledger = srv.with_sim(|s| s.state())["ledger"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(ledger, 3, "two refunds and one cancel");
}

#[tokio::test]
async fn standard_returns_statically_linked() {
    standard_scenario(PluginProvider::from_static(payops_turkpos::payops_plugin::api()).unwrap())
        .await;
}

#[tokio::test]
async fn standard_returns_loaded_as_cdylib() {
    standard_scenario(loader::load(&payops_conformance::built_cdylib("payops_turkpos")).unwrap())
        .await;
}

/// What TP_Islem_Sorgulama4 can prove: a whole return with no other return
/// on the order; nothing else.
#[test]
fn reconciliation_proves_only_whole_returns() {
    use payops_core::{ReconcileInput, Sibling, Verdict};
    let inquiry = |durum: &str, total: &str, returned: &str| {
        query_outcome(ok(&wrap(
            "soap",
            &format!(
                "<TP_Islem_Sorgulama4Response xmlns=\"https://turkpos.com.tr/\"><TP_Islem_Sorgulama4Result><Sonuc>1</Sonuc><Sonuc_Str>ok</Sonuc_Str><DT_Bilgi><Odeme_Sonuc>1</Odeme_Sonuc><Durum>{durum}</Durum><Siparis_ID>S1</Siparis_ID><Toplam_Tutar>{total}</Toplam_Tutar><Toplam_Iade_Tutar>{returned}</Toplam_Iade_Tutar></DT_Bilgi></TP_Islem_Sorgulama4Result></TP_Islem_Sorgulama4Response>"
            ),
        )))
    };
    let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00+03:00").unwrap();
    let input =
        |request: Value, query: payops_core::Outcome, siblings: Vec<Sibling>| ReconcileInput {
            operation_id: "op_1".into(),
            operation: OperationKind::Cancel,
            request,
            state: "unknown".into(),
            outcome: None,
            started_at: now,
            siblings,
            claimed: vec![],
            claim_scope: "turkpos:555".into(),
            query,
            query_received_at: now,
            callback: None,
        };
    let standard_whole = json!({"order_type": "standard", "order_ref": "S1", "amount": 4200});
    let r = payops_turkpos::reconcile::reconcile(&input(
        standard_whole.clone(),
        inquiry("CANCEL", "42.00", "42.00"),
        vec![],
    ));
    assert_eq!(r.verdict, Verdict::Succeeded, "{r:?}");
    assert_eq!(r.transaction_id.as_deref(), Some("whole-return:S1"));
    let marketplace_whole =
        json!({"order_ref": "S1", "marketplace_order_guid": DOC_ORDER_GUID, "whole_order": true});
    let r = payops_turkpos::reconcile::reconcile(&input(
        marketplace_whole,
        inquiry("REFUND", "42.00", "42.00"),
        vec![],
    ));
    assert_eq!(r.verdict, Verdict::Succeeded, "{r:?}");
    // Not fully returned, a partial return, or another return on the order: undetermined.
    for (request, q) in [
        (standard_whole.clone(), inquiry("SUCCESS", "42.00", "0.00")),
        (
            json!({"order_type": "standard", "order_ref": "S1", "amount": 100}),
            inquiry("PARTIAL_REFUND", "42.00", "1.00"),
        ),
    ] {
        let r = payops_turkpos::reconcile::reconcile(&input(request, q, vec![]));
        assert_eq!(r.verdict, Verdict::Undetermined, "{r:?}");
    }
    let other = Sibling {
        operation_id: "op_2".into(),
        operation: OperationKind::Refund,
        request: json!({"order_ref": "S1", "amount": 4200}),
        state: "unknown".into(),
        started_at: now,
        details: Value::Null,
    };
    let r = payops_turkpos::reconcile::reconcile(&input(
        standard_whole,
        inquiry("CANCEL", "42.00", "42.00"),
        vec![other],
    ));
    assert_eq!(r.verdict, Verdict::Undetermined, "{r:?}");
}

/// An inquiry answer whose `DT_Bilgi` names another order proves nothing
/// about the one asked: `unknown`, never its totals as this order's.
#[test]
fn an_inquiry_about_another_order_is_unknown() {
    use payops_turkpos::outcome::query_outcome_for;
    let answer = wrap(
        "soap",
        "<TP_Islem_Sorgulama4Response xmlns=\"https://turkpos.com.tr/\"><TP_Islem_Sorgulama4Result><Sonuc>1</Sonuc><Sonuc_Str>Başarılı</Sonuc_Str><DT_Bilgi><Siparis_ID>siparis55</Siparis_ID><Durum>SUCCESS</Durum><Toplam_Tutar>30.00</Toplam_Tutar><Toplam_Iade_Tutar>0.00</Toplam_Iade_Tutar></DT_Bilgi></TP_Islem_Sorgulama4Result></TP_Islem_Sorgulama4Response>",
    );
    let o = query_outcome_for(ok(&answer), "siparis54");
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(o.reason.map(|r| r.as_str()), Some("order_mismatch"));
    assert_eq!(
        query_outcome_for(ok(&answer), "siparis55").status,
        Status::Succeeded
    );
}
