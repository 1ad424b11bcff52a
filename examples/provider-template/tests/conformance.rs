//! The payops conformance suite against the Acme Pay simulator, linked
//! statically and loaded as a cdylib through the host's loader.

use payops_conformance::suite::{Sample, Suite};
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::reconcile::Verdict;
use payops_core::serde_json::json;
use payops_core::{HttpResponse, Reason as R, Status as S};

fn suite(p: PluginProvider) -> Suite {
    // Random-looking: the suite looks for 6-character pieces of credentials.
    Suite::new(
        p,
        json!({"base_url": "http://sim.invalid", "api_key": "Qv8Lw3Zr6Kp1"}),
    )
    .seed(json!({"api_key": "Qv8Lw3Zr6Kp1", "payments": [
            {"order_ref": "P-1", "amount": 5000}, {"order_ref": "P-2", "amount": 3000}]}))
    .example(Refund, json!({"order_ref": "P-1", "amount": 1200}))
    .example(Cancel, json!({"order_ref": "P-2"}))
    .example(Query, json!({"order_ref": "P-1"}))
    .over_refund(
        json!({"order_ref": "P-1", "amount": 3801}),
        R::AmountExceedsRemaining,
    )
    .documented(
        Refund,
        "201 succeeded",
        answer(201, REFUND_OK),
        S::Succeeded,
        None,
    )
    .documented(
        Refund,
        "201 pending",
        answer(201, REFUND_PENDING),
        S::Pending,
        None,
    )
    .documented(
        Refund,
        "400",
        error(400, "invalid_request"),
        S::Failed,
        Some(R::InvalidRequest),
    )
    .documented(
        Refund,
        "401",
        error(401, "unauthorized"),
        S::Failed,
        Some(R::Authentication),
    )
    .documented(
        Refund,
        "404",
        error(404, "payment_not_found"),
        S::Failed,
        Some(R::NotFound),
    )
    .documented(
        Refund,
        "409",
        error(409, "idempotency_key_in_use"),
        S::Unknown,
        Some(R::Conflict),
    )
    .documented(
        Refund,
        "422 refundable",
        error(422, "amount_exceeds_refundable"),
        S::Failed,
        Some(R::AmountExceedsRemaining),
    )
    .documented(
        Refund,
        "422 cancellable",
        error(422, "payment_not_cancellable"),
        S::Failed,
        Some(R::AlreadyCancelled),
    )
    .documented(
        Refund,
        "429",
        error(429, "rate_limited"),
        S::Failed,
        Some(R::Limit),
    )
    .documented(
        Refund,
        "an undocumented code",
        error(422, "card_expired"),
        S::Unknown,
        Some(R::ProviderError),
    )
    .documented(
        Cancel,
        "404",
        error(404, "payment_not_found"),
        S::Failed,
        Some(R::NotFound),
    )
    .reconcile_case(
        Refund,
        "found by its key",
        answer(200, PAYMENT_WITH_REFUND),
        Verdict::Succeeded,
    )
    .reconcile_case(
        Refund,
        "another key only",
        answer(200, PAYMENT_OTHER_KEY),
        Verdict::Undetermined,
    )
    .reconcile_case(
        Refund,
        "failed by its key",
        answer(
            200,
            &PAYMENT_WITH_REFUND.replace(r#""status":"succeeded"}]"#, r#""status":"failed"}]"#),
        ),
        Verdict::Failed,
    )
    // README.md: "Body `{"amount": 1200, "currency": "TRY"}`".
    .request_sample(
        Refund,
        "refund body",
        json!({"base_url": "http://sim.invalid", "api_key": "Qv8Lw3Zr6Kp1"}),
        json!({"order_ref": "P-1", "amount": 1200}),
        Sample::Json(r#"{"amount": 1200, "currency": "TRY"}"#.into()),
    )
}

// The README's samples, literally.
const REFUND_OK: &str = r#"{"id": "re_1", "payment_id": "P-1", "amount": 1200, "currency": "TRY", "status": "succeeded", "idempotency_key": "op_test", "created_at": "2026-01-05T10:00:00+03:00"}"#;
const REFUND_PENDING: &str = r#"{"id": "re_1", "payment_id": "P-1", "amount": 1200, "currency": "TRY", "status": "pending", "idempotency_key": "op_test", "created_at": "2026-01-05T10:00:00+03:00"}"#;
const PAYMENT_WITH_REFUND: &str = r#"{"id":"P-1","amount":5000,"currency":"TRY","status":"partially_refunded","amount_refunded":1200,"created_at":"2026-01-05T10:00:00+03:00","refunds":[{"id":"re_1","amount":1200,"idempotency_key":"{operation_id}","created_at":"2026-01-05T11:00:00+03:00","status":"succeeded"}],"cancellation":null}"#;
const PAYMENT_OTHER_KEY: &str = r#"{"id":"P-1","amount":5000,"currency":"TRY","status":"partially_refunded","amount_refunded":1200,"created_at":"2026-01-05T10:00:00+03:00","refunds":[{"id":"re_1","amount":1200,"idempotency_key":"op_someone_else","created_at":"2026-01-05T11:00:00+03:00","status":"succeeded"}],"cancellation":null}"#;

fn answer(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, "application/json", body.to_owned())
}

fn error(status: u16, code: &str) -> HttpResponse {
    answer(
        status,
        &format!(r#"{{"error": {{"code": "{code}", "message": "m"}}}}"#),
    )
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_acmepay::payops_plugin::api()).unwrap();
    suite(p).run_all().await.assert_passed();
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_acmepay")).unwrap();
    suite(p).run_all().await.assert_passed();
}
