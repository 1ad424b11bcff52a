//! Traces: OpenTelemetry over OTLP/HTTP (protobuf), off by default.
//!
//! `[traces] enabled = true` (or `OTEL_TRACES_EXPORTER=otlp`) turns them on;
//! the standard `OTEL_*` variables configure the rest (endpoint, headers,
//! timeout, sampler, service name and resource attributes, batch sizes).
//! The spans are the `tracing` spans payops already opens (one per HTTP
//! request, one per operation) and a few made for traces alone (target
//! [`TARGET`]: the provider's HTTP call, the store's writes, a webhook
//! delivery, a reconciliation, an approval), never shown in logs. Their
//! attributes are field values payops chose (ids, names, codes, a URL's host
//! and path): no request body, header, query string or credential.
//!
//! The exporter sends through the host's own transport (reqwest with
//! rustls), on the daemon's runtime. A W3C `traceparent` on an incoming
//! request becomes the request span's parent; the operation's context is
//! stored with each webhook event and sent as the delivery's `traceparent`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use payops_core::{HttpRequest, HttpTransport};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TracesConfig;

/// The target of the spans made for traces alone (logs never show them).
pub const TARGET: &str = "payops::trace";

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether traces are exported (set once at start).
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether `[traces]` and the `OTEL_*` variables ask for traces:
/// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn them off
/// whatever the config says, `OTEL_TRACES_EXPORTER=otlp` on.
pub fn wanted(cfg: &TracesConfig) -> Result<bool, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match env("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
        Some("none") => Ok(false),
        Some("otlp") => Ok(true),
        Some(other) => Err(format!(
            "OTEL_TRACES_EXPORTER={other:?}: payops exports traces over OTLP only (`otlp`, or `none`)"
        )),
        None => Ok(cfg.enabled),
    }
}

/// The protocol asked for by `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or
/// `OTEL_EXPORTER_OTLP_PROTOCOL`: only `http/protobuf` is built in.
fn check_protocol() -> Result<(), String> {
    for k in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(v) = std::env::var(k)
            && !v.trim().is_empty()
        {
            if v.trim() != "http/protobuf" {
                return Err(format!(
                    "{k}={v:?}: payops sends OTLP over HTTP with protobuf (`http/protobuf`); grpc and http/json are not built in"
                ));
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Checks `[traces] endpoint`: an `http(s)://` URL without a user or
/// password (credentials go in `OTEL_EXPORTER_OTLP_HEADERS`, which is never
/// logged).
pub fn check_endpoint(url: &str) -> Result<(), String> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| format!("not a URL ({e}); e.g. http://collector:4318/v1/traces"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(
            "an http:// or https:// URL with a host, e.g. http://collector:4318/v1/traces".into(),
        );
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(
            "a URL with a user or password: put credentials in OTEL_EXPORTER_OTLP_HEADERS".into(),
        );
    }
    Ok(())
}

/// The tracing layer that exports spans, when traces are wanted: made once,
/// on the running Tokio runtime (the exporter's requests run on it).
pub(crate) fn layer<S>(
    cfg: &TracesConfig,
) -> Result<
    Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>>,
    String,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !wanted(cfg)? {
        return Ok(None);
    }
    check_protocol()?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "traces need the Tokio runtime (internal error)".to_owned())?;
    let transport =
        payops_transport::ReqwestTransport::new().map_err(|e| format!("traces: {e}"))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(OtlpClient {
            transport,
            runtime,
            timeout_ms: export_timeout_ms(),
            failing: AtomicBool::new(false),
        });
    for k in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        if let Ok(url) = std::env::var(k)
            && !url.trim().is_empty()
        {
            check_endpoint(&url).map_err(|e| format!("{k}: {e}"))?;
        }
    }
    if let Some(url) = &cfg.endpoint {
        check_endpoint(url).map_err(|e| format!("traces.endpoint: {e}"))?;
        exporter = exporter.with_endpoint(url.clone());
    }
    let exporter = exporter
        .build()
        .map_err(|e| format!("traces: cannot build the OTLP exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    // `OTEL_SERVICE_NAME`, then `service.name` in `OTEL_RESOURCE_ATTRIBUTES`
    // (both read by the SDK), then the config.
    let named_by_env = std::env::var_os("OTEL_SERVICE_NAME").is_some()
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim().starts_with("service.name="))
        });
    if !named_by_env {
        resource = resource.with_service_name(cfg.service_name.clone());
    }
    resource = resource.with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("payops");
    let _ = PROVIDER.set(provider);
    ON.store(true, Ordering::Relaxed);
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false),
    ))
}

/// Sends the spans still queued and stops the exporter (at exit). Blocks
/// until they are sent or the exporter's timeout passes.
pub async fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let p = p.clone();
        let done = tokio::task::spawn_blocking(move || p.shutdown()).await;
        if let Ok(Err(e)) = done {
            eprintln!("payops: traces: the last spans could not be sent: {e}");
        }
    }
}

/// Makes `span` a child of the W3C `traceparent` (and `tracestate`) in
/// `headers`, when traces are on and the header is valid.
pub fn follow(headers: &axum::http::HeaderMap, span: &tracing::Span) {
    if !on() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(cx);
}

/// The W3C `traceparent` of the current span, when traces are on.
pub fn traceparent() -> Option<String> {
    if !on() {
        return None;
    }
    let cx = tracing::Span::current().context();
    let mut out = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    out.remove("traceparent")
}

/// Makes `span` a child of a stored `traceparent` (a webhook event's).
pub fn follow_stored(traceparent: Option<&str>, span: &tracing::Span) {
    let (true, Some(tp)) = (on(), traceparent) else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
    let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
}

/// The export's timeout in milliseconds: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`,
/// else `OTEL_EXPORTER_OTLP_TIMEOUT`, else the standard's 10 s.
fn export_timeout_ms() -> u64 {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok()?.trim().parse().ok())
    .unwrap_or(10_000)
}

/// The OTLP exporter's HTTP client: the host's transport, run on the
/// daemon's runtime (the SDK's batch thread has none of its own).
#[derive(Debug)]
struct OtlpClient {
    transport: payops_transport::ReqwestTransport,
    runtime: tokio::runtime::Handle,
    timeout_ms: u64,
    /// The last export failed (said once in the logs).
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let mut req = HttpRequest::post(parts.uri.to_string(), "", body.to_vec());
        req.method = parts.method.to_string();
        req.headers = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        req.timeout_ms = Some(self.timeout_ms);
        let transport = self.transport.clone();
        // The SDK's own logs are not built in: the exporter's trouble is
        // said here, once when it starts and once when it ends (its
        // retries would otherwise write a line each).
        let answer = self
            .runtime
            .spawn(async move { transport.send(req).await })
            .await?;
        let trouble = match &answer {
            Ok(a) if a.is_success() => None,
            Ok(a) => Some(format!("the collector answered HTTP {}", a.status)),
            Err(e) => Some(e.to_string()),
        };
        match trouble {
            Some(why) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(error = %why, "traces: spans cannot be sent; they are dropped until the collector takes them");
            }
            None if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("traces: the collector takes spans again");
            }
            _ => {}
        }
        let answer = answer?;
        let mut out = opentelemetry_http::Response::builder().status(answer.status);
        for (k, v) in &answer.headers {
            out = out.header(k.as_str(), v.as_str());
        }
        Ok(out.body(opentelemetry_http::Bytes::from(answer.body))?)
    }
}

/// The provider transport with a client span per request (target
/// [`TARGET`]): method, host, port and path (never the query string or a
/// header), the status or the error's kind.
pub struct Traced<T>(pub T);

#[async_trait::async_trait]
impl<T: HttpTransport> HttpTransport for Traced<T> {
    async fn send(
        &self,
        request: HttpRequest,
    ) -> Result<payops_core::HttpResponse, payops_core::TransportError> {
        use tracing::Instrument;
        if !on() {
            return self.0.send(request).await;
        }
        let uri: Option<axum::http::Uri> = request.url.parse().ok();
        let span = tracing::info_span!(
            target: TARGET,
            "provider.http",
            otel.name = %format!("{} {}", request.method, uri.as_ref().map(|u| u.path()).unwrap_or("")),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = %request.method,
            server.address = uri.as_ref().and_then(|u| u.host()).unwrap_or(""),
            server.port = uri.as_ref().and_then(|u| u.port_u16()).map(i64::from),
            url.path = uri.as_ref().map(|u| u.path()).unwrap_or(""),
            http.response.status_code = tracing::field::Empty,
            "error.type" = tracing::field::Empty,
        );
        let answer = self.0.send(request).instrument(span.clone()).await;
        record_answer(&span, &answer);
        answer
    }
}

/// Records an HTTP client span's outcome (fields
/// `http.response.status_code`, `otel.status_code` and `error.type`,
/// declared empty): the status, and an error for a status of 400 or more
/// (OpenTelemetry's rule for client spans) or no answer.
pub(crate) fn record_answer(
    span: &tracing::Span,
    answer: &Result<payops_core::HttpResponse, payops_core::TransportError>,
) {
    match answer {
        Ok(r) => {
            span.record("http.response.status_code", i64::from(r.status));
            if r.status >= 400 {
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(e) => {
            span.record("error.type", format!("{:?}", e.kind).as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}
