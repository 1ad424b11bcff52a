//! Every sample of EsnekPOS's documentation as a fixture: request samples are
//! reproduced by the encoder, response samples parse, every code maps.

use payops_core::chrono::DateTime;
use payops_core::ledger::{ReturnKind, ReturnState, ReturnsListed};
use payops_core::protocol::Step;
use payops_core::{
    Call, HttpResponse, OperationKind, PaymentStatus, QueryDetails, Status, TransactionStatus,
    TransportError,
};
use payops_esnekpos::codes::CODES;
use payops_esnekpos::outcome::{money_outcome, query_outcome};
use payops_esnekpos::sim::{DOC_MERCHANT, DOC_MERCHANT_KEY, lenient_json};
use payops_esnekpos::wire::Endpoint;

fn esnek() -> &'static payops_core::guest::Exported<payops_esnekpos::EsnekPos> {
    payops_esnekpos::payops_plugin::provider()
}
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn call(op: OperationKind) -> Call {
    let account =
        json!({"environment": "test", "merchant": DOC_MERCHANT, "merchant_key": DOC_MERCHANT_KEY});
    Call {
        operation: op,
        operation_id: "op_doc".into(),
        account: account.as_object().unwrap().clone(),
        now: DateTime::parse_from_rfc3339("2026-11-24T12:00:00+03:00").unwrap(),
        idempotency_key: None,
        nonce: String::new(),
        earlier_returns: 0,
    }
}

fn sent(op: OperationKind, doc: Value) -> (String, Value) {
    match esnek().start(&call(op), &doc).unwrap() {
        Step::Send { request, .. } => {
            assert_eq!(request.method, "POST");
            assert_eq!(request.header("content-type"), Some("application/json"));
            (
                request.url.clone(),
                serde_json::from_slice(&request.body).unwrap(),
            )
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

fn ok(body: &[u8]) -> Result<HttpResponse, TransportError> {
    Ok(HttpResponse::new(200, "application/json", body.to_vec()))
}

#[test]
fn physical_cancel_request_sample_is_reproduced() {
    let (url, body) = sent(
        OperationKind::Cancel,
        json!({"order_ref": "ORDER_REF_NUMBER", "channel": "android_pos",
               "back_url": "https://posservicetest.esnekpos.com/api/home/PhysicalPaymentLog"}),
    );
    assert_eq!(
        url,
        "https://posservicetest.esnekpos.com/api/services/OrderReturnPhysical"
    );
    assert_eq!(
        body,
        lenient_json(&fixture("order-return-physical.request.json")).unwrap()
    );
}

/// The sample sends `AMOUNT` `-5`. Under either reading of the page, one
/// direction gives exactly the sample: `reduce` where a negative AMOUNT
/// reduces, `increase` where a positive one does (the page's title).
#[test]
fn add_sub_merchant_amount_request_sample_is_reproduced_under_both_readings() {
    for (convention, direction) in [
        ("reduce_is_negative", "reduce"),
        ("reduce_is_positive", "increase"),
    ] {
        let mut c = call(OperationKind::SubMerchantAdjust);
        c.account
            .insert("sub_merchant_sign".into(), json!(convention));
        let step = esnek()
            .start(
                &c,
                &json!({"order_ref": "412", "sub_merchant_id": "EXTERNAL_ID1", "direction": direction, "amount": 500}),
            )
            .unwrap();
        let Step::Send { request, .. } = step else {
            panic!("{step:?}")
        };
        assert_eq!(
            request.url,
            "https://posservicetest.esnekpos.com/api/services/AddSubMerchantAmount"
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            lenient_json(&fixture("add-sub-merchant-amount.request.json")).unwrap(),
            "{convention}"
        );
    }
}

#[test]
fn sub_merchant_adjustment_never_guesses_the_sign() {
    // An old signed document: refused, it no longer says what happens.
    let mut c = call(OperationKind::SubMerchantAdjust);
    c.account
        .insert("sub_merchant_sign".into(), json!("reduce_is_negative"));
    let e = esnek()
        .start(
            &c,
            &json!({"order_ref": "412", "sub_merchant_id": "S", "amount": -500}),
        )
        .unwrap_err();
    assert_eq!(e.details()[0].path, "/direction", "{e}");
    // An account that does not say which sign reduces: refused, naming the key.
    let e = esnek()
        .start(
            &call(OperationKind::SubMerchantAdjust),
            &json!({"order_ref": "412", "sub_merchant_id": "S", "direction": "reduce", "amount": 500}),
        )
        .unwrap_err();
    assert_eq!(e.details()[0].path, "/account/sub_merchant_sign", "{e}");
    // Both readings, with the sample, are in the exported account schema.
    let schema = esnek().info().account_schema.to_string();
    for words in [
        "reduce_is_positive",
        "reduce_is_negative",
        "eklenmiştir",
        "-5",
    ] {
        assert!(
            schema.contains(words),
            "{words} missing from the account schema"
        );
    }
    let request = esnek().info().operations[&OperationKind::SubMerchantAdjust]
        .request
        .to_string();
    assert!(
        request.contains("\"reduce\"") && request.contains("\"increase\""),
        "{request}"
    );
}

#[test]
fn process_query_request_sample_is_reproduced_despite_its_trailing_comma() {
    let raw = fixture("process-query.request.json");
    assert!(
        serde_json::from_slice::<Value>(&raw).is_err(),
        "the doc sample is not strict JSON"
    );
    let (url, body) = sent(
        OperationKind::Query,
        json!({"order_ref": "0.54251300 1595848596|93"}),
    );
    assert_eq!(
        url,
        "https://posservicetest.esnekpos.com/api/services/ProcessQuery"
    );
    assert_eq!(body, lenient_json(&raw).unwrap());
}

#[test]
fn refund_request_has_documented_keys_and_exact_amounts() {
    let (url, body) = sent(
        OperationKind::Refund,
        json!({"order_ref": "A-1", "amount": 2999, "sync_with_pos": false,
               "sub_merchants": [{"sub_merchant_id": "S1", "amount": 1000}]}),
    );
    assert_eq!(
        url,
        "https://posservicetest.esnekpos.com/api/services/OrderReturn"
    );
    let text = body.to_string();
    assert!(text.contains("\"AMOUNT\":29.99"), "{text}");
    assert_eq!(
        body,
        json!({"MERCHANT": DOC_MERCHANT, "MERCHANT_KEY": DOC_MERCHANT_KEY, "ORDER_REF_NUMBER": "A-1",
               "AMOUNT": 29.99, "SYNC_WITH_POS": false,
               "SubMerchantDetails": [{"EXTERNAL_ID": "S1", "AMOUNT": 10}]})
    );
    let (_, body) = sent(
        OperationKind::Refund,
        json!({"order_ref": "A-1", "amount": 500}),
    );
    assert_eq!(body["AMOUNT"], json!(5));
    assert_eq!(body["SYNC_WITH_POS"], json!(true));
    assert!(body.get("SubMerchantDetails").is_none());
}

#[test]
fn invalid_documents_are_refused_before_sending() {
    for (op, doc, path) in [
        (
            OperationKind::Refund,
            json!({"order_ref": "x".repeat(65), "amount": 1}),
            "/order_ref",
        ),
        (
            OperationKind::Refund,
            json!({"order_ref": "A", "amount": 0}),
            "/amount",
        ),
        (
            OperationKind::Refund,
            json!({"order_ref": "A", "amount": 100, "sub_merchants": [{"sub_merchant_id": "S", "amount": 101}]}),
            "/sub_merchants",
        ),
        (
            OperationKind::Cancel,
            json!({"order_ref": "A", "channel": "android_pos"}),
            "/back_url",
        ),
        (
            OperationKind::Cancel,
            json!({"order_ref": "A", "channel": "android_pos", "back_url": "https://x", "amount": 5}),
            "/amount",
        ),
        (
            OperationKind::SubMerchantAdjust,
            json!({"order_ref": "A", "sub_merchant_id": "S", "direction": "reduce", "amount": 0}),
            "/amount",
        ),
    ] {
        let e = esnek().start(&call(op), &doc).unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_request");
        assert_eq!(e.details()[0].path, path, "{e}");
    }
    let e = esnek()
        .start(
            &call(OperationKind::Refund),
            &json!({"order_ref": "A", "amount": 1, "currency": "USD"}),
        )
        .unwrap_err();
    assert_eq!(e.code().as_str(), "invalid_request");
    let e = esnek()
        .start(
            &call(OperationKind::Refund),
            &json!({"order_ref": "A", "amount": 1, "amout": 2}),
        )
        .unwrap_err();
    assert!(e.to_string().contains("amout"), "{e}");
}

#[test]
fn process_query_response_sample_parses_completely() {
    let o = query_outcome(
        ok(&fixture("process-query.response.json")),
        Some("9.54251311 1595848596|999"),
    );
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.provider_code.as_deref(), Some("0"));
    assert_eq!(o.provider_reference, None, "REFNO is null in the sample");
    let d: QueryDetails = serde_json::from_value(o.details.clone()).unwrap();
    assert_eq!(d.payment_status, PaymentStatus::Succeeded);
    assert_eq!(d.amount, Some(125000));
    assert_eq!(d.installment, Some(1));
    assert_eq!(
        d.payment_date.unwrap().to_rfc3339(),
        "2020-04-19T18:34:35+03:00"
    );
    assert_eq!(d.refunded_amount, Some(0));
    let t = &d.transactions[0];
    assert_eq!(t.transaction_id.as_deref(), Some("343666"));
    assert_eq!(t.status_id, Some(3));
    assert_eq!(t.status, TransactionStatus::PaymentSucceeded);
    assert_eq!(t.status_name.as_deref(), Some("Payment - Successful"));
    assert_eq!(t.amount, Some(125000));
    assert_eq!(t.date.unwrap().to_rfc3339(), "2020-04-19T18:35:09+03:00");
    let mt = t.merchant_transfer.as_ref().unwrap();
    assert_eq!(mt.extract_id.as_deref(), Some("5715"));
    assert_eq!(mt.amount, Some(14888));
    assert_eq!(mt.date.unwrap().to_rfc3339(), "2020-05-04T11:58:11+03:00");
    let s = &t.sub_merchants[0];
    assert_eq!(s.sub_merchant_id.as_deref(), Some("999999"));
    assert_eq!(s.amount, Some(107300));
    let st = s.transfer.as_ref().unwrap();
    assert_eq!(
        (st.extract_id.as_deref(), st.amount),
        (Some("5779"), Some(107300))
    );
    assert_eq!(st.date.unwrap().to_rfc3339(), "2020-05-04T11:57:28+03:00");
    // Keys the table does not list, or names differently, are kept.
    // The sample names the reference ORDER_REF_NO, the table ORDER_REF_NUMBER.
    assert_eq!(d.order_ref.as_deref(), Some("9.54251311 1595848596|999"));
    assert!(!d.extra.contains_key("ORDER_REF_NO"));
    assert_eq!(d.extra["COMMISSION"], json!("1,490"));
    assert_eq!(d.extra["query_date"], json!("2020-09-24T17:08:10+03:00"));
    assert_eq!(o.raw["COMMISSION"], json!("1,490"));
    // For the order ledger: what was paid, every return listed (none in
    // the sample: its one row is the payment, STATUS_ID 3).
    let l = d.ledger.expect("the ledger's facts");
    assert_eq!(l.listed, ReturnsListed::EachReturn);
    assert_eq!(
        (l.paid, l.currency),
        (Some(125000), payops_core::Currency::TRY)
    );
    assert!(l.returns.is_empty());
}

/// Each row of the `STATUS_ID` table (ProcessQuery page: 5 "Cancel -
/// Successful", 6 "Cancel - Unsuccessful", 7 "Return - Successful", 8
/// "Return - Unsuccessful"; 1 waiting after the payment row) as the ledger
/// reads it; 3 (the payment) is not a return.
#[test]
fn status_id_table_rows_are_the_ledgers_returns() {
    let rows = json!([
        {"TRANSACTION_ID": 343666, "STATUS_ID": 3, "STATUS_NAME": "Payment - Successful", "AMOUNT": "1.250,00", "DATE": "19.04.2020 18:35:09"},
        {"TRANSACTION_ID": 343670, "STATUS_ID": 5, "STATUS_NAME": "Cancel - Successful", "AMOUNT": "10,00", "DATE": "19.04.2020 18:40:00"},
        {"TRANSACTION_ID": 343671, "STATUS_ID": 6, "STATUS_NAME": "Cancel - Unsuccessful", "AMOUNT": "11,00", "DATE": "19.04.2020 18:41:00"},
        {"TRANSACTION_ID": 343674, "STATUS_ID": 7, "STATUS_NAME": "Return - Successful", "AMOUNT": "12,00", "DATE": "24.09.2020 17:08:00"},
        {"TRANSACTION_ID": 343675, "STATUS_ID": 8, "STATUS_NAME": "Return - Unsuccessful", "AMOUNT": "13,00", "DATE": "24.09.2020 17:09:00"},
        {"TRANSACTION_ID": 343676, "STATUS_ID": 1, "STATUS_NAME": "Pending", "AMOUNT": "14,00", "DATE": "24.09.2020 17:10:00"}
    ]);
    let body = json!({"STATUS": "SUCCESS", "RETURN_CODE": "0", "RETURN_MESSAGE": "SUCCESS",
        "DATE": "24.09.2020 17:20:00", "AMOUNT": "1.250,00", "ORDER_REF_NUMBER": "W-1",
        "TRANSACTIONS": rows});
    let o = query_outcome(ok(body.to_string().as_bytes()), Some("W-1"));
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let d: QueryDetails = serde_json::from_value(o.details).unwrap();
    let l = d.ledger.unwrap();
    let got: Vec<(String, ReturnKind, ReturnState, Option<i64>)> = l
        .returns
        .iter()
        .map(|r| (r.transaction_id.clone().unwrap(), r.kind, r.state, r.amount))
        .collect();
    use ReturnKind::*;
    use ReturnState::*;
    assert_eq!(
        got,
        vec![
            ("343670".into(), Cancel, Succeeded, Some(1000)),
            ("343671".into(), Cancel, Failed, Some(1100)),
            ("343674".into(), Refund, Succeeded, Some(1200)),
            ("343675".into(), Refund, Failed, Some(1300)),
            ("343676".into(), Refund, Pending, Some(1400)),
        ]
    );
    assert_eq!(l.paid, Some(125000));
    assert_eq!(
        l.returns[2].date.unwrap().to_rfc3339(),
        "2020-09-24T17:08:00+03:00"
    );
}

#[test]
fn physical_cancel_response_sample_parses() {
    let o = money_outcome(
        Endpoint::OrderReturnPhysical,
        ok(&fixture("order-return-physical.response.json")),
        true,
        None,
        Some("ORDER_REF_NUMBER"),
    );
    // The doc: BACK_URL is "the address to which the system returns the
    // result": this answer acknowledges the request, the result comes later.
    assert_eq!(o.status, Status::Pending);
    assert_eq!(o.provider_reference.as_deref(), Some("REFNO"));
    assert_eq!(o.provider_code.as_deref(), Some("0"));
}

#[test]
fn add_sub_merchant_amount_response_sample_parses() {
    let o = money_outcome(
        Endpoint::AddSubMerchantAmount,
        ok(&fixture("add-sub-merchant-amount.response.json")),
        true,
        Some(-500),
        Some("412"),
    );
    assert_eq!(o.status, Status::Succeeded, "RETURN_CODE \"00\" is success");
    assert_eq!(o.provider_code.as_deref(), Some("00"));
    assert_eq!(o.provider_reference, None);
    assert_eq!(
        o.provider_message.as_deref(),
        Some("5,00 ₺ alt mağaza alacağına eklenmiştir.")
    );
    assert_eq!(o.raw["ORDER_REF_NUMBER"], json!(412));
}

/// The reason every documented code gets, per endpoint, written out from
/// the docs' tables (docs/providers/esnekpos.md repeats it): what the code
/// names (FIELD_ERROR: the request; AUTHENTICATION_ERROR: credentials;
/// LIMIT_ERROR: a limit; BRAND/PAYMENT/BLOCKED: a decline; ORDER_CANCEL: a
/// cancelled payment, but "errors of the payment cancel service" on
/// OrderReturnPhysical; ERROR and INSERT_ERROR: the provider's own error;
/// UNKNOWN_ERROR: unknown). Success has no reason.
fn expected_reason(endpoint: &str, code: &str) -> Option<&'static str> {
    Some(match (endpoint, code) {
        (_, "0") => return None,
        ("ProcessQuery", "300") => return None,
        (_, "101") => "invalid_request",
        (_, "102") => "authentication",
        (_, "103") => "limit",
        (_, "104") => "refused",
        (_, "106") | (_, "201") | (_, "34") => "declined",
        ("OrderReturn", "300") => "already_cancelled",
        ("OrderReturnPhysical", "300") => "refused",
        ("AddSubMerchantAmount", "300") => "unknown",
        ("ProcessQuery", "100") => "not_found",
        (_, "100") | (_, "105") => "provider_error",
        (_, "999") => "unknown",
        other => panic!("no expectation for {other:?}"),
    })
}

#[test]
fn every_documented_code_on_every_endpoint() {
    // From the docs: EsnekPOS's code table, OrderReturnPhysical's own table
    // (0, 100, 102, 105, 300, 999) and the ProcessQuery text. A code proves
    // that nothing happened only when it is a refusal of the request itself;
    // ERROR, INSERT_ERROR and UNKNOWN_ERROR can follow an action.
    let refusals_order_return = ["101", "102", "103", "104", "106", "201", "34", "300"];
    let refusals_physical = ["102", "300"];
    let refusals_adjust = ["101", "102", "103", "34"];
    for (code, name) in CODES {
        let body = json!({"RETURN_CODE": code, "RETURN_MESSAGE": "m", "STATUS": name, "ORDER_REF_NUMBER": "A", "REFNO": null});
        let bytes = body.to_string().into_bytes();
        for (ep, refusals) in [
            (Endpoint::OrderReturn, &refusals_order_return[..]),
            (Endpoint::OrderReturnPhysical, &refusals_physical[..]),
            (Endpoint::AddSubMerchantAmount, &refusals_adjust[..]),
        ] {
            let o = money_outcome(ep, ok(&bytes), true, Some(1), Some("A"));
            let expected = match *code {
                "0" if ep == Endpoint::OrderReturnPhysical => Status::Pending,
                "0" => Status::Succeeded,
                c if refusals.contains(&c) => Status::Failed,
                _ => Status::Unknown,
            };
            assert_eq!(o.status, expected, "{ep:?} {code} {name}");
            assert_eq!(o.provider_code.as_deref(), Some(*code));
            let reason = o.reason.map(|r| r.as_str());
            assert_eq!(
                reason,
                expected_reason(&format!("{ep:?}"), code),
                "{ep:?} {code} {name}"
            );
            // The same answer with HTTP 500: never final.
            let e500 = Ok(HttpResponse::new(500, "application/json", bytes.clone()));
            let o500 = money_outcome(ep, e500, true, Some(1), Some("A"));
            assert_eq!(o500.status, Status::Unknown, "{ep:?} {code} with HTTP 500");
            assert_eq!(o500.reason.map(|r| r.as_str()), Some("provider_error"));
        }
        let q = query_outcome(ok(&bytes), Some("A"));
        let expected = match *code {
            "0" | "300" => Status::Succeeded,
            _ => Status::Failed,
        };
        assert_eq!(q.status, expected, "ProcessQuery {code}");
        let reason = q.reason.map(|r| r.as_str());
        assert_eq!(
            reason,
            expected_reason("ProcessQuery", code),
            "ProcessQuery {code}"
        );
        if *code == "300" {
            let d: QueryDetails = serde_json::from_value(q.details).unwrap();
            assert_eq!(d.payment_status, PaymentStatus::Cancelled);
        }
    }
    // Code 0 with STATUS ORDER_CANCEL, or without STATUS: undocumented, unknown.
    for b in [
        json!({"RETURN_CODE": "0", "STATUS": "ORDER_CANCEL", "REFNO": "R"}),
        json!({"RETURN_CODE": "0", "REFNO": "R"}),
    ] {
        let b = b.to_string().into_bytes();
        assert_eq!(
            money_outcome(Endpoint::OrderReturn, ok(&b), true, Some(1), Some("A")).status,
            Status::Unknown
        );
    }
    // SYNC_WITH_POS=false: pending.
    let b = json!({"RETURN_CODE": 0, "STATUS": "SUCCESS"})
        .to_string()
        .into_bytes();
    assert_eq!(
        money_outcome(Endpoint::OrderReturn, ok(&b), false, Some(1), Some("A")).status,
        Status::Pending
    );
    // ProcessQuery with a code and a STATUS that disagree is not an inquiry result.
    let b = json!({"RETURN_CODE": "300", "STATUS": "FAIL"})
        .to_string()
        .into_bytes();
    assert_eq!(query_outcome(ok(&b), Some("A")).status, Status::Unknown);
}

#[test]
fn an_answer_about_another_order_is_unknown() {
    let b = json!({"RETURN_CODE": "0", "STATUS": "SUCCESS", "ORDER_REF_NUMBER": "OTHER-1", "REFNO": "R", "TRANSACTION_ID": 9})
        .to_string()
        .into_bytes();
    let o = money_outcome(
        Endpoint::OrderReturn,
        ok(&b),
        true,
        Some(100),
        Some("MINE-1"),
    );
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(o.details["order_ref_mismatch"]["sent"], json!("MINE-1"));
    assert_eq!(
        o.details["order_ref_mismatch"]["answered"],
        json!("OTHER-1")
    );
    assert_eq!(o.provider_code.as_deref(), Some("0"), "kept as received");
    // The sample's numeric ORDER_REF_NUMBER 412 is the same order as "412".
    let b = json!({"RETURN_CODE": "00", "STATUS": "SUCCESS", "ORDER_REF_NUMBER": 412})
        .to_string()
        .into_bytes();
    assert_eq!(
        money_outcome(
            Endpoint::AddSubMerchantAmount,
            ok(&b),
            true,
            Some(1),
            Some("412")
        )
        .status,
        Status::Succeeded
    );
    // A query answer about another order is not this order's state.
    let b = json!({"RETURN_CODE": "0", "STATUS": "SUCCESS", "ORDER_REF_NO": "OTHER", "AMOUNT": "5,00", "TRANSACTIONS": []})
        .to_string()
        .into_bytes();
    assert_eq!(query_outcome(ok(&b), Some("MINE")).status, Status::Unknown);
}

#[test]
fn an_amount_that_a_float_would_round_is_never_read() {
    let b =
        br#"{"RETURN_CODE":"0","STATUS":"SUCCESS","AMOUNT":29.999999999999999,"TRANSACTIONS":[]}"#;
    let q = query_outcome(ok(b), None);
    assert_eq!(q.status, Status::Unknown, "{q:?}");
    let b = br#"{"RETURN_CODE":"0","STATUS":"SUCCESS","AMOUNT":29.99,"TRANSACTIONS":[]}"#;
    let q = query_outcome(ok(b), None);
    let d: QueryDetails = serde_json::from_value(q.details).unwrap();
    assert_eq!(d.amount, Some(2999));
}

/// What the conformance suite's fault matrix does not reach: answers that
/// are JSON but not a documented EsnekPOS answer (the suite covers HTML,
/// truncation, 5xx and the transport rule).
#[test]
fn undocumented_json_answers_are_unknown() {
    let no_code = ok(b"{\"STATUS\": \"SUCCESS\"}");
    assert_eq!(
        money_outcome(Endpoint::OrderReturn, no_code, true, Some(1), None).status,
        Status::Unknown
    );
    let array = ok(b"[]");
    assert_eq!(
        money_outcome(Endpoint::OrderReturn, array, true, Some(1), None).status,
        Status::Unknown
    );
    let bad_amount = ok(br#"{"RETURN_CODE":"0","STATUS":"SUCCESS","AMOUNT":"12,345"}"#);
    assert_eq!(
        query_outcome(bad_amount, None).status,
        Status::Unknown,
        "never round an amount"
    );
}

/// A whole cancel asks ProcessQuery first; these answers must never lead to
/// an OrderReturn for more than was paid, or for nothing.
#[test]
fn a_whole_cancel_never_sends_more_than_was_paid() {
    let start = esnek()
        .start(&call(OperationKind::Cancel), &json!({"order_ref": "W-1"}))
        .unwrap();
    let Step::Send { state, .. } = start else {
        panic!("an inquiry first: {start:?}")
    };
    let answer = |rows: Value| {
        let body = json!({"STATUS": "SUCCESS", "RETURN_CODE": "0", "RETURN_MESSAGE": "SUCCESS",
            "DATE": "24.09.2020 17:08:10", "AMOUNT": "100,00", "ORDER_REF_NUMBER": "W-1",
            "TRANSACTIONS": rows});
        ok(body.to_string().as_bytes())
    };
    let payment = json!({"TRANSACTION_ID": 1, "STATUS_ID": 3, "AMOUNT": "100,00", "DATE": "24.09.2020 10:00:00"});
    // A negative refund row would make "remaining" 100,02.
    let odd = json!([payment, {"TRANSACTION_ID": 2, "STATUS_ID": 7, "AMOUNT": "-0,02", "DATE": "24.09.2020 11:00:00"}]);
    // Two huge refund rows would wrap the sum negative.
    let huge = json!([payment,
        {"TRANSACTION_ID": 2, "STATUS_ID": 7, "AMOUNT": "92233720368547758,00", "DATE": "24.09.2020 11:00:00"},
        {"TRANSACTION_ID": 3, "STATUS_ID": 7, "AMOUNT": "92233720368547758,00", "DATE": "24.09.2020 11:00:00"}]);
    for rows in [odd, huge] {
        let step = esnek()
            .resume(
                &call(OperationKind::Cancel),
                state.clone(),
                answer(rows.clone()),
            )
            .unwrap();
        match step {
            Step::Done(o) => assert_eq!(o.status, Status::Failed, "{rows}: {o:?}"),
            Step::Send { request, .. } => {
                panic!("{rows}: sent {:?}", String::from_utf8_lossy(&request.body))
            }
            other => panic!("{other:?}"),
        }
    }
    // The normal case sends exactly what remains.
    let fine = json!([payment, {"TRANSACTION_ID": 2, "STATUS_ID": 7, "AMOUNT": "30,00", "DATE": "24.09.2020 11:00:00"}]);
    let Step::Send { request, .. } = esnek()
        .resume(&call(OperationKind::Cancel), state, answer(fine))
        .unwrap()
    else {
        panic!("the remaining 70,00 is sent")
    };
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["AMOUNT"], json!(70));
}

#[test]
fn request_documents_are_objects_only() {
    // serde's positional form of RefundDoc would otherwise decode.
    for doc in [
        json!(["A-1", 800]),
        json!(["A-1", 800, "TRY", true, null]),
        json!("A-1"),
        json!(8),
    ] {
        let e = esnek()
            .start(&call(OperationKind::Refund), &doc)
            .unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_request", "{doc}");
    }
}
