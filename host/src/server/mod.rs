//! The HTTP API of `payops serve` (contract.md): routes, bearer tokens with
//! per-token accounts and operations, contract error bodies, body size limit,
//! a request id on every log line, `/metrics`, and graceful shutdown that
//! refuses new work with 503 and finishes in-flight operations.

pub mod approvals;
pub mod auth;
pub mod batches;
pub mod callbacks;
pub mod operations;
pub mod people;

pub mod state;

pub use auth::Caller;
use operations::known_account;
pub use state::{
    Access, ApiError, AppState, READY_PROBE_EVERY, READY_PROBE_TIMEOUT, ReadyProbe, RouteInfo,
};
use state::{page_limit, query_cursor, query_error, query_time};

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use payops_core::{Error, OperationKind};
use serde_json::{Value, json};

async fn run_operation(
    State(state): State<AppState>,
    token: Caller,
    Path((account, operation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !token.may_read(&account) {
        return Err(token.forbidden(format!("use account {account:?}")));
    }
    let acct = state.engine.account(&account)?;
    let op: OperationKind = operation.parse().map_err(|_| {
        Error::NotFound(format!(
            "no operation {operation:?} (refund, cancel, query, sub_merchant_adjust)"
        ))
    })?;
    if !token.may_run(&account, op) {
        return Err(token.forbidden(format!("run {op} on account {account:?}")));
    }
    let provider = state
        .engine
        .providers
        .get(&acct.provider)
        .ok_or_else(|| Error::Internal("provider missing".into()))?;
    if !provider.info().supports(op) {
        return Err(Error::UnsupportedOperation(format!(
            "{} does not support {op}",
            acct.provider
        ))
        .into());
    }
    let body = body.map_err(|e| {
        let status = e.status();
        ApiError(
            Error::invalid_field("", format!("cannot read the request body: {e}")),
            Some(status),
        )
    })?;
    require_json(&headers)?;
    // Exactly: a number that would be rounded (29.999999999999999) is
    // refused, never read as another amount.
    let document: Value = payops_core::kit::json::from_slice_exact(&body)
        .map_err(|e| Error::invalid_field("", format!("the body: {e}")))?;
    let mut keys = headers.get_all("idempotency-key").iter();
    let first_key = keys.next();
    if keys.next().is_some() {
        return Err(Error::invalid_field(
            "Idempotency-Key",
            "given more than once: send exactly one",
        )
        .into());
    }
    let idempotency_key = first_key
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| Error::invalid_field("Idempotency-Key", "must be visible ASCII"))
        })
        .transpose()?;
    if idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 255)
    {
        return Err(Error::invalid_field("Idempotency-Key", "must be 1 to 255 characters").into());
    }
    let override_open = headers
        .get("x-payops-override-open")
        .map(|v| {
            v.to_str().map(|s| s.trim().to_owned()).map_err(|_| {
                Error::invalid_field("X-Payops-Override-Open", "must be an operation id")
            })
        })
        .transpose()?;
    if override_open.is_some() && !token.may_override(&account) {
        return Err(token
            .forbidden("go past the order guard (a token's override_open, or the approver role)"));
    }
    // The operation runs on a task of its own: if this connection goes
    // away, the provider call and the write of its answer still finish.
    let asker = token.asker(&account);
    let handle = state.engine.spawn_execute(
        account,
        op,
        document,
        crate::engine::Options {
            idempotency_key,
            actor: Some(token.actor.clone()),
            override_open,
            limits: token.limits,
            asker: Some(asker),
            approved: None,
        },
    );
    let ran = handle
        .await
        .map_err(|e| Error::Internal(format!("the operation task failed: {e}")))??;
    let (mut response, replayed) = match ran {
        crate::engine::Ran::Done(done) => {
            (axum::Json(done.envelope).into_response(), done.replayed)
        }
        crate::engine::Ran::Awaiting { approval, replayed } => {
            (approvals::waiting_response(&approval), replayed)
        }
    };
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A request body must be declared JSON (`application/json`, or another
/// `+json` type); a missing Content-Type is accepted (curl without -H).
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError(
        Error::invalid_field(
            "Content-Type",
            format!("{essence:?} is not JSON: send application/json"),
        ),
        Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ))
}

async fn list_accounts(State(state): State<AppState>, token: Caller) -> Result<Response, ApiError> {
    let list: Vec<Value> = state
        .engine
        .accounts
        .values()
        .filter(|a| token.may_read(&a.name))
        .map(|a| {
            let ops: Vec<&str> = state.engine.providers[&a.provider]
                .info()
                .capabilities
                .iter()
                .filter(|o| token.may_run(&a.name, **o))
                .map(|o| o.as_str())
                .collect();
            let mut v = json!({
                "name": a.name,
                "provider": a.provider,
                "operations": ops,
                "may_resolve": token.may_resolve(&a.name),
                "may_approve": token.may_approve(&a.name),
            });
            // The URL a provider posting to one URL per merchant is given
            // (in its panel), for those who settle the account's operations.
            let posts = !state.engine.providers[&a.provider]
                .info()
                .account_callbacks
                .is_empty();
            if let Some(cb) = &state.engine.settings.callbacks
                && posts
                && token.may_resolve(&a.name)
            {
                v["callback_url"] = json!(cb.account_url(&a.provider, &a.name));
            }
            v
        })
        .collect();
    Ok(axum::Json(json!({"accounts": list})).into_response())
}

/// `?state=&limit=` of `GET /v1/webhook-deliveries`.
#[derive(serde::Deserialize)]
struct DeliveryQuery {
    state: Option<String>,
    limit: Option<i64>,
}

/// Webhook deliveries, newest first: those of the accounts the token may
/// use, whose operation kinds it may run.
async fn list_deliveries(
    State(state): State<AppState>,
    token: Caller,
    query: Result<axum::extract::Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = query.map_err(query_error)?;
    let wanted = match q.state.as_deref() {
        None => None,
        Some(s) => Some(payops_store::DeliveryState::parse(s).ok_or_else(|| {
            Error::invalid_field(
                "state",
                format!("{s:?} is not pending, delivered or failed"),
            )
        })?),
    };
    let limit = page_limit(q.limit, 100, 1000)?;
    let rows = state.engine.store.deliveries(wanted, limit).await?;
    let list: Vec<Value> = rows
        .iter()
        .filter(|d| token.may_read(&d.account))
        .filter(|d| {
            d.payload["data"]["operation"]
                .as_str()
                .and_then(|o| o.parse::<OperationKind>().ok())
                .is_some_and(|k| token.allows_operation(k))
        })
        .map(|d| crate::webhooks::view(d, false))
        .collect();
    Ok(axum::Json(json!({"deliveries": list})).into_response())
}

/// `?fresh=` of `GET /v1/accounts/{account}/orders/{order_ref}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderQuery {
    /// Query the provider first (the token must be allowed `query`).
    #[serde(default)]
    fresh: bool,
}

/// An order's ledger: for a token that may use the account and run at
/// least one operation that reads or returns an order's money; it lists
/// only the operations of kinds the token may run.
async fn get_order(
    State(state): State<AppState>,
    token: Caller,
    Path((account, order_ref)): Path<(String, String)>,
    query: Result<axum::extract::Query<OrderQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = query.map_err(query_error)?;
    let kinds = [
        OperationKind::Refund,
        OperationKind::Cancel,
        OperationKind::Return,
        OperationKind::Query,
    ];
    if !token.may_read(&account) || !kinds.iter().any(|k| token.allows_operation(*k)) {
        return Err(token.forbidden(format!("read the orders of account {account:?}")));
    }
    if q.fresh && !token.may_run(&account, OperationKind::Query) {
        return Err(token.forbidden("run query, which fresh=true runs"));
    }
    let mut ledger = state
        .engine
        .order_ledger(&account, &order_ref, q.fresh, Some(token.actor.clone()))
        .await?;
    ledger.operations.retain(|o| {
        o.operation
            .parse::<OperationKind>()
            .is_ok_and(|k| token.allows_operation(k))
    });
    Ok(axum::Json(json!({ "order": ledger })).into_response())
}

/// `?account=&reason=&since=&until=&cursor=&limit=` of `GET /v1/refusals`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RefusalsQuery {
    account: Option<String>,
    /// One reason, or several separated by commas.
    reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Refusals (requests refused before anything was sent), newest first, a
/// page at a time: only those of the accounts the token may use and the
/// operation kinds it may run. `next_cursor` is given while more may follow.
async fn list_refusals(
    State(state): State<AppState>,
    token: Caller,
    query: Result<axum::extract::Query<RefusalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = query.map_err(query_error)?;
    let mut reasons = Vec::new();
    for r in q.reason.as_deref().unwrap_or("").split(',').map(str::trim) {
        if r.is_empty() {
            continue;
        }
        if !payops_core::outcome::Reason::ALL
            .iter()
            .any(|known| known.as_str() == r)
        {
            return Err(Error::invalid_field("reason", format!("{r:?} is not a reason")).into());
        }
        reasons.push(r.to_owned());
    }
    let limit = page_limit(q.limit, 50, 500)?;
    let after = query_cursor(q.cursor.as_deref(), "AT~ID")?;
    let filter = payops_store::RefusalFilter {
        account: q.account.clone(),
        reasons,
        since: query_time("since", q.since.as_deref())?,
        until: query_time("until", q.until.as_deref())?,
        limit: Some(limit),
        accounts: token.account_scope(),
        operations: token.operation_scope(),
        after,
    };
    let list = state.engine.store.list_refusals(&filter).await?;
    let found_any = !list.is_empty() || q.cursor.as_deref().is_some_and(|c| !c.is_empty());
    known_account(&state, &token, q.account.as_deref(), found_any)?;
    let next = (list.len() as i64 == limit)
        .then(|| list.last().map(payops_store::StoredRefusal::cursor))
        .flatten()
        .map(|c| c.encode());
    Ok(axum::Json(json!({"refusals": list, "next_cursor": next})).into_response())
}

/// One refusal, for a token that may read its account's operations of
/// that kind.
async fn get_refusal(
    State(state): State<AppState>,
    token: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = state
        .engine
        .store
        .refusal(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no refusal {id:?}")))?;
    let kind_allowed = r
        .operation
        .parse::<OperationKind>()
        .is_ok_and(|k| token.allows_operation(k));
    if !token.may_read(&r.account) || !kind_allowed {
        return Err(token.forbidden(format!(
            "read {} refusals of account {:?}",
            r.operation, r.account
        )));
    }
    Ok(axum::Json(json!({"refusal": r})).into_response())
}

/// The bearer's token and the stored operation `id`, if the token may read
/// it: a token reads only the operations it could have run, its accounts
/// and its operation kinds (a query-only token sees no refund).
async fn readable_operation(
    state: &AppState,
    token: &Caller,
    id: &str,
) -> Result<payops_store::StoredOperation, ApiError> {
    let op = stored_operation(state, id).await?;
    let kind_allowed = op
        .operation
        .parse::<OperationKind>()
        .is_ok_and(|k| token.allows_operation(k));
    if !token.may_read(&op.account) || !kind_allowed {
        return Err(token.forbidden(format!(
            "read {} operations of account {:?}",
            op.operation, op.account
        )));
    }
    Ok(op)
}

/// Reconciles one `unknown` or `pending` operation now with the provider's
/// query (never re-sends): for a token that may read it and run `query`.
async fn reconcile_operation(
    State(state): State<AppState>,
    token: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let op = readable_operation(&state, &token, &id).await?;
    if !token.may_run(&op.account, OperationKind::Query) {
        return Err(token.forbidden(format!(
            "reconcile: reconciliation runs the provider's query on account {:?}",
            op.account
        )));
    }
    let r = crate::reconcile::one_by_id(&state.engine, &id, None).await?;
    let op = stored_operation(&state, &id).await?;
    Ok(axum::Json(json!({
        "operation_id": r.id,
        "from": r.from,
        "to": r.to,
        "how": r.how,
        "operation": op.to_json(),
    }))
    .into_response())
}

/// The stored operation `id`, or 404 / 503.
async fn stored_operation(
    state: &AppState,
    id: &str,
) -> Result<payops_store::StoredOperation, Error> {
    state
        .engine
        .store
        .get(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no operation {id:?}")))
}

async fn get_operation(
    State(state): State<AppState>,
    token: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let op = readable_operation(&state, &token, &id).await?;
    let events = state.engine.store.events(&id).await?;
    // People are named by their actor (stable); the name shown for them is
    // the people list's, given beside it as `actor_name`.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for actor in events
        .iter()
        .filter_map(|e| e.actor.as_deref())
        .chain(op.actor.as_deref())
    {
        if (actor.starts_with("user:") || actor.starts_with("oidc:"))
            && !names.contains_key(actor)
            && let Some(p) = state.engine.store.person(actor).await?
        {
            names.insert(actor.to_owned(), p.display_name);
        }
    }
    let named = |mut v: Value| {
        let name = v
            .get("actor")
            .and_then(Value::as_str)
            .and_then(|a| names.get(a))
            .cloned();
        if let (Some(name), Some(o)) = (name, v.as_object_mut()) {
            o.insert("actor_name".into(), Value::String(name));
        }
        v
    };
    let events: Vec<Value> = events.into_iter().map(|e| named(json!(e))).collect();
    Ok(axum::Json(json!({"operation": named(op.to_json()), "events": events})).into_response())
}

async fn resolve_operation(
    State(state): State<AppState>,
    token: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let op = stored_operation(&state, &id).await?;
    if !token.may_resolve(&op.account) {
        return Err(token.forbidden(format!(
            "resolve operations of account {:?} (a token's resolve = true, or the approver role)",
            op.account
        )));
    }
    let body =
        body.map_err(|e| Error::invalid_field("", format!("cannot read the request body: {e}")))?;
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_field("", format!("the body is not JSON: {e}")))?;
    let status = match doc.get("status").and_then(Value::as_str) {
        Some("succeeded") => payops_core::Status::Succeeded,
        Some("failed") => payops_core::Status::Failed,
        _ => {
            return Err(Error::invalid_field("/status", "succeeded or failed").into());
        }
    };
    let evidence = doc
        .get("evidence")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_field("/evidence", "required: what proves it"))?;
    match crate::approving::resolve(
        &state.engine,
        &id,
        status,
        evidence,
        &token.actor,
        &token.asker(&op.account),
    )
    .await?
    {
        crate::approving::Resolved::Now(env) => Ok(axum::Json(env).into_response()),
        crate::approving::Resolved::Waiting(a) => Ok(approvals::waiting_response(&a)),
    }
}

async fn schema_file(
    State(state): State<AppState>,
    path: Option<Path<String>>,
) -> Result<Response, ApiError> {
    let rel = path.map(|Path(p)| p).unwrap_or_else(|| "index.json".into());
    let text = state
        .schemas
        .get(rel.trim_start_matches('/'))
        .ok_or_else(|| Error::NotFound(format!("no schema {rel:?}")))?;
    // The index and the OpenAPI document are JSON, not schemas.
    let content_type = if rel.ends_with("index.json") || rel.ends_with("openapi.json") {
        "application/json"
    } else {
        "application/schema+json"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], text.clone()).into_response())
}

async fn openapi_document(State(state): State<AppState>) -> Response {
    match state.schemas.get("openapi.json") {
        Some(text) => ([(header::CONTENT_TYPE, "application/json")], text.clone()).into_response(),
        None => ApiError::from(Error::NotFound("no OpenAPI document".into())).into_response(),
    }
}

/// Ready when not shutting down and the store takes a write: a heartbeat
/// written at most every [`READY_PROBE_EVERY`] (callers in between share
/// its result), failing after [`READY_PROBE_TIMEOUT`]. A store that cannot
/// record an operation (a full disk, a lock, a read-only database) makes
/// every money operation a 503: the daemon is not ready.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        return ApiError::from(Error::Unavailable("shutting down".into())).into_response();
    }
    let mut last = state.ready.lock().await;
    let fresh = last
        .as_ref()
        .is_some_and(|(at, _)| at.elapsed() < READY_PROBE_EVERY);
    if !fresh {
        let engine = &state.engine;
        let probe = tokio::time::timeout(
            READY_PROBE_TIMEOUT,
            engine.store.heartbeat(&engine.instance),
        )
        .await;
        let result = match probe {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the store does not take writes");
                Err(format!("the store does not take writes: {}", e.public()))
            }
            Err(_) => Err(format!(
                "the store did not take a write within {} s",
                READY_PROBE_TIMEOUT.as_secs()
            )),
        };
        *last = Some((std::time::Instant::now(), result));
    }
    match last.as_ref().map(|(_, r)| r.clone()) {
        Some(Err(why)) => ApiError::from(Error::Unavailable(why)).into_response(),
        _ => (StatusCode::OK, "ready\n").into_response(),
    }
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(want) = &state.metrics_token_sha256 {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| crate::signing::sha256_hex(t.trim()));
        if !given.is_some_and(|g| g.eq_ignore_ascii_case(want)) {
            return ApiError::from(Error::Unauthorized(
                "/metrics needs the metrics token (server.metrics_token_sha256)".into(),
            ))
            .into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.engine.metrics.render(),
    )
        .into_response()
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError(
        Error::NotFound(format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        )),
        Some(StatusCode::METHOD_NOT_ALLOWED),
    )
}

async fn not_found() -> ApiError {
    Error::NotFound("no such route".into()).into()
}

/// Request ids for requests that come without one: `req_` + a UUID v7.
#[derive(Clone, Copy, Default)]
struct MakeReqId;

impl tower_http::request_id::MakeRequestId for MakeReqId {
    fn make_request_id<B>(
        &mut self,
        _request: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&crate::ids::new_operation_id().replacen("op_", "req_", 1))
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// The span of one request: its id (the caller's `X-Request-Id`, or ours),
/// method and route; every log line inside carries them.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if crate::telemetry::on() {
        // A server span named by its route, the caller's trace continued.
        span.record(
            "otel.name",
            format!("{} {route}", request.method()).as_str(),
        );
        span.record("otel.kind", "server");
        crate::telemetry::follow(request.headers(), &span);
    }
    span
}

/// Refuses new work while draining; counts responses.
async fn request_context(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let exempt = matches!(request.uri().path(), "/healthz" | "/metrics" | "/readyz");
    let response = if state.draining.load(Ordering::Relaxed) && !exempt {
        tracing::info!("refused: shutting down");
        ApiError::from(Error::Unavailable(
            "the daemon is shutting down; retry on another instance".into(),
        ))
        .into_response()
    } else {
        next.run(request).await
    };
    state.engine.metrics.http(response.status().as_u16());
    if crate::telemetry::on() {
        tracing::Span::current().record(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        );
    }
    response
}

/// The routes, grouped by access, with their table: the only way routes
/// are added, so the table lists every one.
struct Routes {
    bearer: Router<AppState>,
    documents: Router<AppState>,
    public: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Routes {
    fn bearer(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        self.bearer = self.bearer.route(path, handler);
        self.table.push(RouteInfo {
            method,
            path,
            access: Access::SignedIn,
        });
        self
    }

    fn public(
        mut self,
        method: &'static str,
        path: &'static str,
        why: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        self.public = self.public.route(path, handler);
        self.table.push(RouteInfo {
            method,
            path,
            access: Access::Public(why),
        });
        self
    }

    /// The schemas and the OpenAPI document: no token, and readable from
    /// the origins in `server.cors_origins` (a form on another site loads
    /// them).
    fn document(mut self, path: &'static str, handler: MethodRouter<AppState>) -> Routes {
        self.documents = self.documents.route(path, handler);
        self.table.push(RouteInfo {
            method: "GET",
            path,
            access: Access::Public("a public document (schemas, OpenAPI)"),
        });
        self
    }
}

fn routes() -> Routes {
    let mut r = Routes {
        bearer: Router::new(),
        documents: Router::new(),
        public: Router::new(),
        table: Vec::new(),
    }
    .bearer(
        "POST",
        "/v1/accounts/{account}/operations/{operation}",
        post(run_operation),
    )
    .bearer("GET", "/v1/accounts", get(list_accounts))
    .bearer("GET", "/v1/operations", get(operations::list))
    .bearer("GET", "/v1/operations.csv", get(operations::export))
    .bearer("GET", "/v1/totals", get(operations::totals))
    .bearer("GET", "/v1/batches", get(batches::list))
    .bearer(
        "POST",
        "/v1/batches",
        post(batches::upload).layer(DefaultBodyLimit::max(batches::MAX_BYTES)),
    )
    .bearer("GET", "/v1/batches/{id}", get(batches::show))
    .bearer("POST", "/v1/batches/{id}/start", post(batches::start))
    .bearer("POST", "/v1/batches/{id}/stop", post(batches::stop))
    .bearer("GET", "/v1/operations/{id}", get(get_operation))
    .bearer(
        "POST",
        "/v1/operations/{id}/reconcile",
        post(reconcile_operation),
    )
    .bearer(
        "GET",
        "/v1/accounts/{account}/orders/{order_ref}",
        get(get_order),
    )
    .bearer("GET", "/v1/refusals", get(list_refusals))
    .bearer("GET", "/v1/refusals/{id}", get(get_refusal))
    .bearer("GET", "/v1/webhook-deliveries", get(list_deliveries))
    .bearer(
        "POST",
        "/v1/operations/{id}/resolve",
        post(resolve_operation),
    )
    .bearer("GET", "/v1/approvals", get(approvals::list))
    .bearer("GET", "/v1/approvals/{id}", get(approvals::show))
    .bearer(
        "POST",
        "/v1/approvals/{id}/{decision}",
        post(approvals::decide),
    )
    .bearer("GET", "/v1/me", get(people::me))
    .bearer("POST", "/v1/auth/logout", post(people::logout))
    .bearer("GET", "/v1/people", get(people::list_people))
    .bearer(
        "POST",
        "/v1/people/{actor}/{action}",
        post(people::set_disabled),
    )
    .public(
        "GET",
        "/v1/auth/methods",
        "how to sign in, asked before signing in",
        get(people::methods),
    )
    .public(
        "POST",
        "/v1/auth/login",
        "a local user signing in (rate-limited)",
        post(people::login),
    )
    .public(
        "GET",
        "/v1/auth/oidc/start",
        "an OpenID Connect sign-in starting",
        get(people::oidc_start),
    )
    .public(
        "GET",
        "/v1/auth/oidc/callback",
        "the identity provider sending the browser back (state and PKCE checked)",
        get(people::oidc_callback),
    )
    .document("/v1/schemas", get(schema_file))
    .document("/v1/schemas/{*path}", get(schema_file))
    .document("/v1/openapi.json", get(openapi_document))
    .public("GET", "/healthz", "liveness", get(|| async { "ok\n" }))
    .public("GET", "/readyz", "readiness", get(readyz))
    .public(
        "GET",
        "/metrics",
        "its own token (server.metrics_token_sha256)",
        get(metrics),
    );
    for (path, handler) in crate::ui::routes() {
        r = r.public("GET", path, "the console's static files", handler);
    }
    r
}

/// The bearer routes behind the [`Caller`] check, whether or not their
/// handlers take the extractor.
fn guarded(bearer: Router<AppState>, state: &AppState) -> Router<AppState> {
    bearer.route_layer(middleware::from_extractor_with_state::<Caller, AppState>(
        state.clone(),
    ))
}

/// Every route of the API listener, with who may call it (the callback
/// listener's two are [`callbacks::ROUTE`] and
/// [`callbacks::ACCOUNT_ROUTE`]).
pub fn route_table() -> Vec<RouteInfo> {
    routes().table
}

/// The router.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let Routes {
        bearer,
        documents,
        public,
        ..
    } = routes();
    let bearer = guarded(bearer, &state);
    let documents = if state.cors_origins.is_empty() {
        documents
    } else {
        let origins: Vec<axum::http::HeaderValue> = state
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        documents.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([axum::http::Method::GET]),
        )
    };
    Router::new()
        .merge(bearer)
        .merge(documents)
        .merge(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // Innermost first: draining and response counts, then the request id
        // copied to the response, the request's span and log line (method,
        // route, status, latency), and outermost the request id itself.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            MakeReqId,
        ))
        .with_state(state)
}

/// Waits for SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::config::TokenConfig;
    use crate::engine::Engine;

    /// A bearer route whose handler forgets the `Caller` extractor is
    /// still closed: the route layer refuses it without a known token.
    #[tokio::test]
    async fn a_bearer_route_without_the_extractor_is_still_closed() {
        let dir = std::env::temp_dir().join(format!("payops-guard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = payops_store::Store::open(&format!("sqlite://{}", dir.join("g.db").display()))
            .await
            .unwrap();
        let transport: Arc<dyn payops_core::HttpTransport> =
            Arc::new(payops_transport::ReqwestTransport::new().unwrap());
        let engine = Engine::new(
            BTreeMap::new(),
            BTreeMap::new(),
            transport.clone(),
            store,
            Default::default(),
        )
        .unwrap();
        let token = TokenConfig {
            name: "t".into(),
            token_sha256: crate::signing::sha256_hex("known-token-1"),
            accounts: vec!["*".into()],
            operations: vec!["*".into()],
            role: None,
            resolve: false,
            override_open: false,
            max_amount_per_operation: None,
            max_amount_per_day: None,
        };
        let state = AppState {
            engine: Arc::new(engine),
            tokens: Arc::new(vec![token]),
            batches: Arc::default(),
            people: Arc::new(state::PeopleState::new(&Default::default(), None)),
            draining: Arc::new(AtomicBool::new(false)),
            schemas: Arc::new(BTreeMap::new()),
            metrics_token_sha256: None,
            cors_origins: Arc::new(Vec::new()),
            ready: Default::default(),
        };
        let forgetful = Router::new().route("/v1/probe", get(|| async { "open" }));
        let app = guarded(forgetful, &state).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/probe", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        for (auth, want) in [
            (None, 401),
            (Some("Bearer unknown-token"), 401),
            (Some("Bearer known-token-1"), 200),
        ] {
            let mut r = payops_core::HttpRequest::get(&url);
            if let Some(a) = auth {
                r = r.with_header("Authorization", a);
            }
            let got = transport.send(r).await.unwrap();
            assert_eq!(got.status, want, "{auth:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
