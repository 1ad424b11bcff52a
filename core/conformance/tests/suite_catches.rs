//! The suite fails a provider that breaks the rules: here one that calls
//! every transport error `failed`, believes an answer about another order
//! (and one made with wrong credentials),
//! puts its key in `raw`, takes any object
//! as a request, answers without
//! the `details` its response schema requires, and declares a capability it
//! has no example for.

use payops_conformance::suite::Suite;
use payops_core::chrono::{DateTime, FixedOffset};
use payops_core::driver::PluginProvider;
use payops_core::serde_json::{Map, Value, json};
use payops_core::{
    About, Answer, Call, Error, HttpRequest, HttpResponse, Next, OperationKind, Outcome, Provider,
    Query, Refund, Secret, Simulator, Status,
};

struct OkSim;

impl Simulator for OkSim {
    fn handle(&mut self, _: &HttpRequest, _: DateTime<FixedOffset>) -> HttpResponse {
        HttpResponse::json(200, &json!({"ok": true, "order": "ORDER-A"}))
    }
    fn seed(&mut self, _: &Value) -> Result<(), String> {
        Ok(())
    }
    fn state(&self) -> Value {
        Value::Null
    }
    fn demo_accounts(&self) -> Value {
        json!({})
    }
}

/// Takes any object as a request, answers without the `details` its
/// response schema requires, calls every transport error `failed` and
/// echoes a piece of its key (7 characters: the host removes whole
/// credentials, the suite looks for pieces).
#[derive(Default)]
struct Careless;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CarelessAccount {
    key: Secret,
}

impl Provider for Careless {
    type Account = CarelessAccount;
    fn about(&self) -> About {
        About::new("careless", "Careless", "0.0.0")
    }
    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(OkSim)
    }
}

fn careless_start() -> Result<Next<()>, Error> {
    Ok(Next::Send {
        request: HttpRequest::post("http://p.invalid/refund", "application/json", "{}"),
        phase: (),
    })
}

fn careless_resume(account: &CarelessAccount, answer: Answer) -> Result<Next<()>, Error> {
    let mut o = Outcome::new(if answer.is_ok() {
        Status::Succeeded
    } else {
        Status::Failed
    });
    let piece: String = account.key.expose().chars().take(7).collect();
    o.raw = json!({"echo": format!("prefix-{piece}")});
    Ok(Next::Done(o))
}

macro_rules! careless_operation {
    ($trait:ident) => {
        impl $trait for Careless {
            type Document = Map<String, Value>;
            type Phase = ();
            fn details_schema(&self) -> Value {
                json!({"type": "object", "required": ["amount"]})
            }
            fn start(&self, _: &Call, _: &CarelessAccount, _: Self::Document) -> Result<Next<()>, Error> {
                careless_start()
            }
            fn resume(&self, _: &Call, a: &CarelessAccount, _: (), answer: Answer) -> Result<Next<()>, Error> {
                careless_resume(a, answer)
            }
        }
    };
}
careless_operation!(Refund);
careless_operation!(Query);

mod careless {
    payops_core::link_provider!(crate::Careless);
}

fn careless() -> PluginProvider {
    PluginProvider::from_static(careless::payops_plugin::api()).unwrap()
}

#[tokio::test]
async fn a_careless_provider_fails_the_suite_with_every_reason() {
    let report = Suite::new(careless(), json!({"key": "Hq4Zt8Ww2Pm6"}))
        .example(
            OperationKind::Refund,
            json!({"order_ref": "ORDER-A", "amount": 1}),
        )
        .run()
        .await;
    let failed: Vec<&str> = report.failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        failed,
        vec![
            "refund: the request schema refuses a fractional amount",
            "refund: the request schema refuses an amount as text",
            "refund: the request schema refuses a zero amount",
            "refund: the request schema refuses a negative amount",
            "refund: the request schema refuses a missing order_ref",
            "refund: the request schema refuses an empty order_ref",
            "refund: the request schema refuses an unknown field",
            "refund: no credential in the outcome",
            "refund: the outcome matches the response schema",
            "refund: wrong credentials are refused",
            "refund: Latency(20ms) on the acting request",
            "refund: Refused on the acting request",
            "refund: TimeoutBeforeSend on the acting request",
            "refund: TimeoutAfterSend on the acting request",
            "refund: DropAfterSend on the acting request",
            "refund: HtmlAfterSend on the acting request",
            "refund: Html503BeforeSend on the acting request",
            "refund: TruncatedAfterSend on the acting request",
            "refund: Json500AfterSend on the acting request",
            "refund: SlowBodyAfterSend on the acting request",
            "refund: RewriteAfterSend(\"ORDER-A\", \"ORDER-AX\") on the acting request",
            "query: example",
        ]
    );
    assert_eq!(
        report.passed,
        vec![
            "info: schemas",
            "refund: the request schema accepts the example",
            "refund: the request schema refuses an array",
            "refund: happy path succeeds"
        ]
    );
    let panic = std::panic::catch_unwind(|| report.assert_passed()).unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(
        text.starts_with("22 of 26 conformance checks failed"),
        "{text}"
    );
}

/// Behind the plugin protocol: sound answers, but a reconcile step that
/// calls everything `failed` without evidence.
#[derive(Default)]
struct HastyReconciler;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HastyDoc {
    #[schemars(length(min = 1))]
    #[allow(dead_code)]
    order_ref: String,
    #[schemars(range(min = 1))]
    #[allow(dead_code)]
    amount: Option<i64>,
}

impl Provider for HastyReconciler {
    type Account = Map<String, Value>;
    fn about(&self) -> About {
        About::new("hasty", "Careless", "0.0.0")
    }
    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(OkSim)
    }
    fn reconcile(
        &self,
        _: &Call,
        _: &Self::Account,
        _: &payops_core::reconcile::ReconcileInput,
    ) -> Result<payops_core::reconcile::Resolution, Error> {
        Ok(payops_core::reconcile::Resolution {
            verdict: payops_core::reconcile::Verdict::Failed,
            transaction_id: None,
            evidence: "nothing seen, so it failed".into(),
            candidates: Vec::new(),
        })
    }
}

fn hasty_resume(answer: Answer) -> Result<Next<()>, Error> {
    Ok(Next::Done(match answer {
        Ok(r)
            if r.is_success()
                && payops_core::serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|v| v["order"] == "ORDER-A") =>
        {
            Outcome::new(Status::Succeeded)
        }
        Ok(r) => Outcome::unparseable(r.status, "not a success", &r.body),
        Err(e) => Outcome::from_transport_error(&e),
    }))
}

macro_rules! hasty_operation {
    ($trait:ident) => {
        impl $trait for HastyReconciler {
            type Document = HastyDoc;
            type Phase = ();
            fn details_schema(&self) -> Value {
                json!({"type": "object"})
            }
            fn start(&self, _: &Call, _: &Self::Account, _: HastyDoc) -> Result<Next<()>, Error> {
                Ok(Next::Send {
                    request: HttpRequest::post("http://p.invalid/op", "application/json", "{}"),
                    phase: (),
                })
            }
            fn resume(&self, _: &Call, _: &Self::Account, _: (), answer: Answer) -> Result<Next<()>, Error> {
                hasty_resume(answer)
            }
        }
    };
}
hasty_operation!(Refund);
hasty_operation!(Query);

mod hasty {
    payops_core::export_provider!(crate::HastyReconciler);
}

#[tokio::test]
async fn a_reconcile_step_that_fails_by_absence_is_caught() {
    let p = payops_core::driver::PluginProvider::from_static(hasty::payops_plugin::api()).unwrap();
    let report = Suite::new(p, json!({}))
        .example(
            OperationKind::Refund,
            json!({"order_ref": "ORDER-A", "amount": 1}),
        )
        .example(OperationKind::Query, json!({"order_ref": "ORDER-A"}))
        .run_all()
        .await;
    let failed: Vec<&str> = report.failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(failed, vec!["refund: reconcile after TimeoutAfterSend"]);
    assert!(
        report.failed[0]
            .1
            .contains("the provider acted, yet reconcile said failed")
    );
    // The request that never arrived may be called failed by this step (it
    // is wrong only to call it succeeded).
    assert!(
        report
            .passed
            .iter()
            .any(|n| n == "refund: reconcile after TimeoutBeforeSend")
    );
}

/// The suite's checks that take the provider's docs: a documented refusal
/// the provider calls `succeeded`, a refund over what remains that goes
/// through, and a scripted query answer the reconcile step misreads.
#[tokio::test]
async fn documented_answers_over_refunds_and_scripted_reconciles_are_checked() {
    use payops_core::reconcile::Verdict;
    use payops_core::{Reason, Status};
    let p = payops_core::driver::PluginProvider::from_static(hasty::payops_plugin::api()).unwrap();
    let refusal = HttpResponse::new(404, "application/json", r#"{"error":"no such order"}"#);
    let found = HttpResponse::new(
        200,
        "application/json",
        r#"{"order":"ORDER-A","refund":"{operation_id}"}"#,
    );
    let report = Suite::new(p, json!({}))
        .example(
            OperationKind::Refund,
            json!({"order_ref": "ORDER-A", "amount": 1}),
        )
        .example(OperationKind::Query, json!({"order_ref": "ORDER-A"}))
        .documented(
            OperationKind::Refund,
            "404",
            refusal,
            Status::Failed,
            Some(Reason::NotFound),
        )
        .documented(
            OperationKind::Refund,
            "a success",
            HttpResponse::new(200, "application/json", r#"{"order":"ORDER-A"}"#),
            Status::Succeeded,
            None,
        )
        .over_refund(
            json!({"order_ref": "ORDER-A", "amount": 99}),
            Reason::AmountExceedsRemaining,
        )
        .reconcile_case(
            OperationKind::Refund,
            "its own refund listed",
            found,
            Verdict::Succeeded,
        )
        .run_all()
        .await;
    let failed: Vec<&str> = report.failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        failed,
        vec![
            "refund: documented answer 404",
            "refund: a partial refund, then more than remains",
            "refund: reconcile after TimeoutAfterSend",
            "refund: reconcile its own refund listed",
        ]
    );
    assert!(
        report
            .passed
            .iter()
            .any(|n| n == "refund: documented answer a success")
    );
    let why: Vec<&str> = report.failed.iter().map(|(_, w)| w.as_str()).collect();
    assert!(why[0].contains("status unknown"), "{}", why[0]);
    assert!(
        why[1].contains("more than remains ended succeeded"),
        "{}",
        why[1]
    );
    assert!(why[3].contains("verdict Failed"), "{}", why[3]);
}
