//! The daemon's listeners are bounded, through the real binary, on the API
//! listener and on the callback listener: a connection that sends nothing,
//! half its headers, or headers and part of a body is closed within the
//! configured time; past `server.max_connections` a new connection is
//! closed at once; and while 500 such connections are held open (and
//! reopened as they are closed) for 10 s, `/healthz` and a refund keep
//! answering within their usual times. (Before: every such connection
//! stayed open past 75 s, and nothing capped how many.)

mod common;

use std::time::{Duration, Instant};

use common::*;
use payops_core::Simulator;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "listeners-token-0123456789";
const KEY: &str = "listeners-esnek-key-7Wq2";

struct Setup {
    daemon: Daemon,
    callback_addr: String,
    _sim: payops_transport::SimServer,
}

async fn start(max_connections: usize) -> Setup {
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": "M1", "merchant_key": KEY}],
                    "payments": [{"order_ref": "P1", "amount": 10_000_000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let callback_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = temp_dir(&unique("listeners"));
    let cfg = TestConfig::new(&dir)
        .with(move |c| {
            c.server.header_read_timeout_secs = 2;
            c.server.body_read_timeout_secs = 2;
            c.server.max_connections = max_connections;
            c.server.public_url = Some(format!("http://127.0.0.1:{callback_port}"));
            c.server.callback_listen = Some(format!("127.0.0.1:{callback_port}"));
            c.server.callback_secret = Some("cbsec_Lq8Wz2Xk5Rv9Tn3M".into());
        })
        .store(&sqlite_url(&dir))
        .token("ops", TOKEN, &["*"], &["*"])
        .account(
            "esnek",
            json!({"provider": "esnekpos", "environment": "test", "base_url": sim.url(),
                   "timeout_ms": 5000, "merchant": "M1", "merchant_key": KEY}),
        )
        .write(&dir.join("payops.toml"));
    let d = dir.clone();
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "listeners",
            &[
                "--config",
                cfg.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ],
            &d,
        )
    })
    .await
    .unwrap();
    Setup {
        daemon,
        callback_addr: format!("127.0.0.1:{callback_port}"),
        _sim: sim,
    }
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// How long until the server closes `s` (reads EOF or an error), at most
/// `within`; `None` if it is still open then.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(t.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(t.elapsed()),
            // A 408 or 400 before closing: keep reading to the close.
            Ok(Ok(_)) => {}
        }
    }
}

/// A connection that sends `what` and then nothing more.
async fn stalled(addr: &str, what: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    if !what.is_empty() {
        s.write_all(what).await.unwrap();
    }
    s
}

const HALF_HEADERS: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
const HALF_BODY: &[u8] = b"POST /v1/accounts/esnek/operations/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"order_ref\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_connections_are_closed_in_time_on_both_listeners() {
    let s = start(1024).await;
    for addr in [addr_of(&s.daemon.url), s.callback_addr.clone()] {
        for (what, bytes) in [
            ("nothing", &b""[..]),
            ("half the headers", HALF_HEADERS),
            ("headers and part of a body", HALF_BODY),
        ] {
            let mut c = stalled(&addr, bytes).await;
            let took = closed_within(&mut c, Duration::from_secs(10)).await;
            assert!(
                took.is_some_and(|t| t <= Duration::from_millis(3500)),
                "{addr}: a connection that sent {what} was closed after {took:?} (2 s configured)"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_max_connections_a_new_connection_is_closed_at_once() {
    let s = start(40).await;
    let addr = addr_of(&s.daemon.url);
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(stalled(&addr, b"").await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = stalled(&addr, b"").await;
    let took = closed_within(&mut extra, Duration::from_secs(1)).await;
    assert!(took.is_some(), "the 41st connection was not closed");
    // Once the held ones time out, new clients are served again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = http("GET", &format!("{}/healthz", s.daemon.url), None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_stalled_connections_leave_the_daemon_answering() {
    let s = start(1024).await;
    let api = addr_of(&s.daemon.url);
    let refund = |order: &'static str| {
        let url = format!("{}/v1/accounts/esnek/operations/refund", s.daemon.url);
        async move {
            let t = Instant::now();
            let (status, v) = http(
                "POST",
                &url,
                Some(TOKEN),
                Some(&json!({"order_ref": order, "amount": 100}).to_string()),
            )
            .await;
            assert_eq!(
                (status, v["status"].as_str()),
                (200, Some("succeeded")),
                "{v}"
            );
            t.elapsed()
        }
    };
    let healthz = || {
        let url = format!("{}/healthz", s.daemon.url);
        async move {
            let t = Instant::now();
            let (status, _) = http("GET", &url, None, None).await;
            assert_eq!(status, 200);
            t.elapsed()
        }
    };
    let usual = (healthz().await, refund("P1").await);
    // The attack: 500 stalled connections over both listeners, reopened as
    // the daemon closes them, for 10 s (`PAYOPS_TEST_STALL_SECS` for a
    // longer run: 30 s was measured for the hardening issue).
    let secs = std::env::var("PAYOPS_TEST_STALL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut attackers = Vec::new();
    for i in 0..500usize {
        let addr = if i % 2 == 0 {
            api.clone()
        } else {
            s.callback_addr.clone()
        };
        attackers.push(tokio::spawn(async move {
            let what: &[u8] = match i % 3 {
                0 => b"",
                1 => HALF_HEADERS,
                _ => HALF_BODY,
            };
            let mut reopened = 0u32;
            while Instant::now() < stop {
                let Ok(mut c) = TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = c.write_all(what).await;
                let left = stop.saturating_duration_since(Instant::now());
                if closed_within(&mut c, left).await.is_some() {
                    reopened += 1;
                }
            }
            reopened
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut worst = (Duration::ZERO, Duration::ZERO);
    while Instant::now() + Duration::from_secs(1) < stop {
        worst.0 = worst.0.max(healthz().await);
        worst.1 = worst.1.max(refund("P1").await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut closed = 0u32;
    for a in attackers {
        closed += a.await.unwrap();
    }
    eprintln!(
        "usual: healthz {:?}, refund {:?}; under 500 stalled connections: worst healthz {:?}, worst refund {:?}; {closed} stalled connections closed by the daemon",
        usual.0, usual.1, worst.0, worst.1
    );
    assert!(
        worst.0 < Duration::from_secs(1),
        "healthz took {:?}",
        worst.0
    );
    assert!(
        worst.1 < Duration::from_secs(2),
        "a refund took {:?}",
        worst.1
    );
    assert!(
        closed >= 500,
        "the daemon closed {closed} stalled connections in 10 s"
    );
}
