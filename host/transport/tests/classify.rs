//! The contract's failed/unknown rule at the transport: connect errors are
//! `Connect` (nothing sent); a timeout or a cut after sending is not.

use std::time::Duration;

use payops_core::{HttpRequest, HttpTransport, TransportErrorKind};
use payops_transport::ReqwestTransport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn req(url: String, timeout_ms: u64) -> HttpRequest {
    let mut r = HttpRequest::post(url, "application/json", "{}");
    r.timeout_ms = Some(timeout_ms);
    r
}

#[tokio::test]
async fn refused_is_connect() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = ReqwestTransport::new()
        .unwrap()
        .send(req(format!("http://127.0.0.1:{port}/"), 2000))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::Connect, "{e}");
    assert!(!e.maybe_sent());
}

#[tokio::test]
async fn silent_server_is_timeout() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let e = ReqwestTransport::new()
        .unwrap()
        .send(req(format!("http://{addr}/"), 300))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::Timeout, "{e}");
    assert!(e.maybe_sent());
}

#[tokio::test]
async fn cut_after_reading_is_io() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        // Half a response, then the connection is gone.
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"RETURN")
            .await;
    });
    let e = ReqwestTransport::new()
        .unwrap()
        .send(req(format!("http://{addr}/"), 2000))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::Io, "{e}");
    assert!(e.maybe_sent());
}

#[tokio::test]
async fn bad_url_is_invalid_request() {
    let e = ReqwestTransport::new()
        .unwrap()
        .send(req("not a url".into(), 100))
        .await
        .unwrap_err();
    assert!(!e.maybe_sent(), "{e:?}");
}

#[tokio::test]
async fn only_connect_errors_are_retried() {
    use payops_conformance::fault::{Fault, FaultTransport};
    use payops_transport::RetryConnect;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await;
        }
    });
    let url = format!("http://{addr}/");
    // Refused twice, then through: one request reaches the server.
    let faulty = FaultTransport::new(ReqwestTransport::new().unwrap());
    faulty.push(Fault::Refused);
    faulty.push(Fault::Refused);
    let retry = RetryConnect::new(faulty, 3, Duration::from_millis(5));
    let r = retry.send(req(url.clone(), 2000)).await.unwrap();
    assert_eq!(r.body, b"ok");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A timeout after sending is returned as is, never retried.
    let faulty = FaultTransport::new(ReqwestTransport::new().unwrap());
    faulty.push(Fault::TimeoutAfterSend);
    let retry = RetryConnect::new(faulty, 3, Duration::from_millis(5));
    let e = retry.send(req(url, 2000)).await.unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::Timeout);
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "sent once, not retried"
    );
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_limit_and_maybe_sent() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "[".repeat(64 * 1024));
        // 64 MiB at most, bounded; the client stops reading long before.
        for _ in 0..1024 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let e = ReqwestTransport::new()
        .unwrap()
        .with_max_body(256 * 1024)
        .send(req(format!("http://{addr}/"), 10_000))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TransportErrorKind::Io, "{e}");
    assert!(e.maybe_sent());
    assert!(e.to_string().contains("262144"), "{e}");
}
