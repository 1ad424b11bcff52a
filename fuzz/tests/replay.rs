//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through every
//! target's checks, and the EsnekPOS and TurkPos answer corpora through the
//! plugins loaded as cdylibs (the boundary the daemon really uses): the
//! statuses must be those of the statically linked code the fuzzer checked.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use payops_core::loader;
use payops_core::{HttpRequest, HttpResponse, HttpTransport, OperationKind, TransportError};
use serde_json::json;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_replays_its_corpus() {
    for (name, check) in payops_fuzz::TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "{name}: empty corpus");
        for (path, data) in inputs {
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{name}: {} fails its check", path.display());
        }
    }
}

/// Answers every request with one scripted response.
struct Canned(Mutex<Option<HttpResponse>>);

#[payops_core::async_trait::async_trait]
impl HttpTransport for Canned {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| HttpResponse::new(500, "text/plain", "none")))
    }
}

const STATUSES: [u16; 8] = [200, 201, 204, 302, 400, 401, 500, 503];

#[tokio::test]
async fn answers_through_the_cdylibs_decode_as_checked() {
    for (lib, target, account, op, doc) in [
        (
            "payops_esnekpos",
            "esnekpos_answer",
            json!({"environment": "test", "merchant": "M", "merchant_key": "K-replay-key-1", "base_url": "http://127.0.0.1:9"}),
            OperationKind::Refund,
            json!({"order_ref": "ORDER-1", "amount": 500}),
        ),
        (
            "payops_turkpos",
            "turkpos_answer",
            json!({"environment": "test", "client_code": "10738", "client_username": "Test", "client_password": "pw-replay", "guid": "0c13d406-873b-403b-9c09-a5766840d98c", "base_url": "http://127.0.0.1:9"}),
            OperationKind::Refund,
            json!({"order_ref": "ORDER-1", "marketplace_order_guid": "a4683f02-3259-4c94-8bf8-47d33a5626d8", "amount": 100, "seller_payout_amount": 0}),
        ),
    ] {
        let plugin = loader::load(&payops_conformance::built_cdylib(lib)).unwrap();
        let canned = Arc::new(Canned(Mutex::new(None)));
        let ctx = payops_conformance::context(&plugin, account, canned.clone());
        for (path, data) in corpus(target) {
            let (status, body) = match data.as_slice() {
                [a, _, rest @ ..] => (STATUSES[usize::from(*a) % STATUSES.len()], rest.to_vec()),
                _ => (200, data.clone()),
            };
            let response = HttpResponse::new(status, "application/json", body.clone());
            *canned.0.lock().unwrap() = Some(response.clone());
            let via_abi = plugin.execute(op, &ctx, doc.clone()).await;
            let direct = if target == "esnekpos_answer" {
                payops_esnekpos::outcome::money_outcome(
                    payops_esnekpos::wire::Endpoint::OrderReturn,
                    Ok(response),
                    true,
                    Some(500),
                    Some("ORDER-1"),
                )
            } else {
                payops_turkpos::outcome::return_outcome(Ok(response), "IADE", Some(100))
            };
            match via_abi {
                Ok(o) => assert_eq!(o.status, direct.status, "{}", path.display()),
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
    }
}

/// A short, unguided run of every target inside the test suite: the
/// corpus mutated at random (bit flips, cuts, splices, byte runs), a fixed
/// seed so a failure reproduces. The long coverage-guided runs are
/// `cargo fuzz` (docs/fuzzing.md).
#[test]
fn a_short_random_run_of_every_target() {
    let mut state: u64 = 0x243F_6A88_85A3_08D3;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, check) in payops_fuzz::TARGETS {
        let seeds: Vec<Vec<u8>> = corpus(name).into_iter().map(|(_, b)| b).collect();
        for _ in 0..3000 {
            let mut d = seeds[(next() as usize) % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let len = d.len().max(1);
                match next() % 5 {
                    0 if !d.is_empty() => {
                        let i = (next() as usize) % d.len();
                        d[i] ^= 1 << (next() % 8);
                    }
                    1 => d.truncate((next() as usize) % len),
                    2 => {
                        let other = &seeds[(next() as usize) % seeds.len()];
                        let at = (next() as usize) % len;
                        let from = (next() as usize) % other.len().max(1);
                        d.splice(
                            at.min(d.len())..at.min(d.len()),
                            other[from.min(other.len())..].iter().copied(),
                        );
                    }
                    3 => {
                        let at = (next() as usize) % len;
                        let b =
                            [b'[', b'{', b'<', b'9', b'"', b',', b'-', b'.'][(next() % 8) as usize];
                        let run = vec![b; (next() % 64) as usize];
                        d.splice(at.min(d.len())..at.min(d.len()), run);
                    }
                    _ => {}
                }
            }
            let r = std::panic::catch_unwind(|| check(&d));
            assert!(
                r.is_ok(),
                "{name}: input {:?} fails its check",
                String::from_utf8_lossy(&d)
            );
        }
    }
}
