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
