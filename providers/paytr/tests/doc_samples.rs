//! PayTR's pages read as payops reads them: the status answer's amounts
//! (`10,8` with a comma, `9.76` with a point) and its returns, and the
//! token's formula.

use payops_core::ledger::{ReturnKind, ReturnState, ReturnsListed};
use payops_core::{HttpResponse, PaymentStatus, QueryDetails, Status};
use payops_paytr::outcome::query_outcome;
use payops_paytr::wire::token;

const STATUS_OK: &str = r#"{"status":"success","net_tutar":"9.76","kesinti_tutari":"0.24","payment_amount":"10,8","payment_total":"10,8","payment_date":"2021-01-01","currency":"TL","taksit":"0","kart_marka":"WORD","masked_pan":"455359AAA6747","odeme_tipi":"KART","test_mode":"0","returns":[{"return_amount":"1","return_date":"2021-03-25 23:45:22","return_type":"","date_completed":"2021-03-25 23:46:02","return_auth_code":"","return_ref_num":"","reference_no":"111111111111111","return_source":""}]}"#;

#[test]
fn the_status_answer_gives_the_ledger_its_facts() {
    let o = query_outcome(
        Ok(HttpResponse::new(
            200,
            "application/json",
            STATUS_OK.to_owned(),
        )),
        "SIP1",
    );
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let d: QueryDetails = serde_json::from_value(o.details).unwrap();
    // "10,8" TL is 10.80; "TL" is TRY.
    assert_eq!(d.amount, Some(1080));
    assert_eq!(d.currency.code(), "TRY");
    assert_eq!(d.refunded_amount, Some(100));
    assert_eq!(d.payment_status, PaymentStatus::PartiallyRefunded);
    let facts = d.ledger.unwrap();
    assert_eq!(facts.listed, ReturnsListed::EachReturn);
    let r = &facts.returns[0];
    assert_eq!(r.transaction_id.as_deref(), Some("111111111111111"));
    assert_eq!(
        (r.kind, r.state, r.amount),
        (ReturnKind::Refund, ReturnState::Succeeded, Some(100))
    );
    assert_eq!(r.date.unwrap().to_rfc3339(), "2021-03-25T23:45:22+03:00");
}

/// The pages' formula, `base64(hmac_sha256(merchant_id + merchant_oid +
/// return_amount + merchant_salt, merchant_key))`, on RFC 4231's test
/// case 2 (key "Jefe", data "what do ya want for nothing?" split across
/// the parts): its digest in base64.
#[test]
fn the_token_is_the_hmac_of_the_parts_and_the_salt() {
    assert_eq!(
        token("Jefe", "nothing?", &["what do ", "ya want ", "for "]),
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    );
}
