//! The in-memory transport serves a simulator, and injected faults happen
//! before or after the simulator acts as their names say.

use payops_conformance::SimTransport;
use payops_conformance::fault::{Fault, FaultTransport};
use payops_core::{HttpRequest, HttpResponse, HttpTransport, Simulator, TransportErrorKind};
use serde_json::{Value, json};

/// Counts the requests it saw and answers with the count.
struct Counter(u32);

impl Simulator for Counter {
    fn handle(
        &mut self,
        _request: &HttpRequest,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> HttpResponse {
        self.0 += 1;
        HttpResponse::new(
            200,
            "application/json",
            json!({"seen": self.0, "now": now.to_rfc3339()}).to_string(),
        )
    }
    fn seed(&mut self, _document: &Value) -> Result<(), String> {
        Ok(())
    }
    fn state(&self) -> Value {
        json!({"seen": self.0})
    }
    fn demo_accounts(&self) -> Value {
        json!({})
    }
}

fn request() -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: "http://sim.invalid/x".into(),
        headers: vec![],
        body: b"{}".to_vec(),
        timeout_ms: None,
        safe: false,
    }
}

#[tokio::test]
async fn faults_before_and_after_the_provider_acts() {
    let sim = SimTransport::new(Box::new(Counter(0)));
    sim.set_clock(|| {
        chrono::DateTime::parse_from_rfc3339("2020-09-24T17:08:10+03:00").expect("date")
    });
    let t = FaultTransport::new(sim.clone());
    let ok = t.send(request()).await.expect("answer");
    let body: Value = serde_json::from_slice(&ok.body).expect("json");
    assert_eq!(body, json!({"seen": 1, "now": "2020-09-24T17:08:10+03:00"}));

    t.push(Fault::TimeoutBeforeSend);
    let e = t.send(request()).await.expect_err("timeout");
    assert_eq!(e.kind, TransportErrorKind::Timeout);
    assert_eq!(sim.with_sim(|s| s.state()), json!({"seen": 1}), "not acted");

    t.push(Fault::TimeoutAfterSend);
    let e = t.send(request()).await.expect_err("timeout");
    assert_eq!(e.kind, TransportErrorKind::Timeout);
    assert_eq!(sim.with_sim(|s| s.state()), json!({"seen": 2}), "acted");

    t.push(Fault::TruncatedAfterSend);
    let cut = t.send(request()).await.expect("cut body");
    assert!(serde_json::from_slice::<Value>(&cut.body).is_err());
    assert_eq!(sim.with_sim(|s| s.state()), json!({"seen": 3}));

    t.push(Fault::Html503BeforeSend);
    assert_eq!(t.send(request()).await.expect("page").status, 503);
    assert_eq!(sim.with_sim(|s| s.state()), json!({"seen": 3}));
}
