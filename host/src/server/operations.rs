//! Finding operations: `GET /v1/operations` (a page at a time), its CSV
//! export `GET /v1/operations.csv` and `GET /v1/totals`, all three under
//! the same filters and the caller's scope.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use payops_core::Error;
use payops_store::{ListFilter, StoredOperation};
use serde_json::{Value, json};

use super::auth::Caller;
use super::state::{ApiError, AppState, page_limit, query_cursor, query_error, query_time};
use crate::report;

/// How many operations an export or totals read at most: past it the
/// caller is asked to narrow the filter (never a silently cut file).
pub const MAX_ROWS: usize = 100_000;
/// How many operations one page of an amount-filtered list reads at most
/// before it answers with what it found and a cursor to go on.
const MAX_SCAN: usize = 10_000;

/// The largest amount a filter takes (the request schemas' bound: what a
/// JSON number holds exactly).
const MAX_AMOUNT: i64 = payops_core::details::MAX_SAFE_INTEGER;

/// The filters of the three routes (each refuses what it does not take).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperationsQuery {
    account: Option<String>,
    /// Only this order's.
    order_ref: Option<String>,
    /// Only those whose answer names this provider reference.
    provider_reference: Option<String>,
    /// An operation id, an order reference or a provider reference.
    q: Option<String>,
    /// One state, or several separated by commas.
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Amounts at least this (minor units).
    min_amount: Option<i64>,
    /// Amounts at most this (minor units).
    max_amount: Option<i64>,
    /// The list's page.
    cursor: Option<String>,
    limit: Option<i64>,
    /// The zone of the export's times and of the totals' days.
    utc_offset: Option<String>,
}

impl OperationsQuery {
    /// The store's filter (no page yet), checked.
    fn filter(&self, caller: &Caller) -> Result<ListFilter, Error> {
        let mut states = Vec::new();
        for s in self
            .status
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
        {
            if s.is_empty() {
                continue;
            }
            states.push(payops_store::State::parse(s).ok_or_else(|| {
                Error::invalid_field(
                    "status",
                    format!("{s:?} is not in_flight, succeeded, pending, failed or unknown"),
                )
            })?);
        }
        for (name, v) in [
            ("min_amount", self.min_amount),
            ("max_amount", self.max_amount),
        ] {
            if v.is_some_and(|v| !(0..=MAX_AMOUNT).contains(&v)) {
                return Err(Error::invalid_field(
                    name,
                    format!("an amount in minor units is 0 to {MAX_AMOUNT}"),
                ));
            }
        }
        // (A minimum above the maximum is an empty range, as `since` after
        // `until` is: nothing matches.)
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Ok(ListFilter {
            account: self.account.clone(),
            states,
            since: query_time("since", self.since.as_deref())?,
            until: query_time("until", self.until.as_deref())?,
            accounts: caller.account_scope(),
            operations: caller.operation_scope(),
            order_ref: text(&self.order_ref),
            provider_reference: text(&self.provider_reference),
            search: text(&self.q),
            ..Default::default()
        })
    }

    /// The zone asked for (`+03:00`, Turkish time, when none).
    fn zone(&self) -> Result<chrono::FixedOffset, Error> {
        match self.utc_offset.as_deref() {
            None | Some("") => Ok(payops_core::turkey_offset()),
            Some(z) => report::parse_offset(z).ok_or_else(|| {
                Error::invalid_field("utc_offset", format!("{z:?} is not +HH:MM, -HH:MM or Z"))
            }),
        }
    }

    /// Refuses the parameters a route does not take.
    fn refuse(&self, route: &str, names: &[&str]) -> Result<(), Error> {
        for name in names {
            let given = match *name {
                "cursor" => self.cursor.is_some(),
                "limit" => self.limit.is_some(),
                "utc_offset" => self.utc_offset.is_some(),
                _ => false,
            };
            if given {
                return Err(Error::invalid_field(
                    "?",
                    format!("query string: {route} does not take `{name}`"),
                ));
            }
        }
        Ok(())
    }
}

/// An `account=` filter naming no account this token may use (none of
/// that name configured and nothing recorded under it, or one outside its
/// scope: the same answer, so a token cannot learn the names of accounts
/// it may not use): 404, not an empty page that reads as "nothing
/// happened". An account removed from the config still lists its past
/// records. `found_any`: whether the filtered page has rows.
pub(crate) fn known_account(
    state: &AppState,
    token: &Caller,
    account: Option<&str>,
    found_any: bool,
) -> Result<(), Error> {
    match account {
        Some(a) if !token.may_read(a) || (!state.engine.accounts.contains_key(a) && !found_any) => {
            Err(Error::NotFound(format!(
                "no account {a:?} that {token} may read"
            )))
        }
        _ => Ok(()),
    }
}

/// Operations, newest first, a page at a time: only those of the accounts
/// the token may use and the operation kinds it may run (the rule of
/// `GET /v1/operations/{id}`). `next_cursor` is given while more may follow
/// (with an amount filter a page may hold fewer than `limit`: it read
/// 10,000 operations and says where to go on).
pub(crate) async fn list(
    State(state): State<AppState>,
    token: Caller,
    query: Result<Query<OperationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    q.refuse("GET /v1/operations", &["utc_offset"])?;
    let limit = page_limit(q.limit, 50, 500)?;
    let mut filter = q.filter(&token)?;
    filter.after = query_cursor(q.cursor.as_deref(), "CREATED_AT~ID")?;
    let (list, next) = report::find(
        &state.engine.store,
        filter,
        (q.min_amount, q.max_amount),
        limit as usize,
        MAX_SCAN,
    )
    .await?;
    // (A later page may be empty: only the first page decides.)
    let found_any = !list.is_empty() || q.cursor.as_deref().is_some_and(|c| !c.is_empty());
    known_account(&state, &token, q.account.as_deref(), found_any)?;
    let list: Vec<Value> = list.iter().map(StoredOperation::to_json).collect();
    Ok(
        axum::Json(json!({"operations": list, "next_cursor": next.map(|c| c.encode())}))
            .into_response(),
    )
}

/// The export's and the totals' reading: their query checked (no page),
/// every operation of its filters (at most [`MAX_ROWS`], else a 422 asking
/// for a narrower filter), and the zone asked for.
async fn all(
    state: &AppState,
    token: &Caller,
    query: Result<Query<OperationsQuery>, QueryRejection>,
    route: &str,
) -> Result<(Vec<StoredOperation>, chrono::FixedOffset), ApiError> {
    let Query(q) = query.map_err(query_error)?;
    q.refuse(route, &["cursor", "limit"])?;
    let zone = q.zone()?;
    let filter = q.filter(token)?;
    let (list, more) = report::find(
        &state.engine.store,
        filter,
        (q.min_amount, q.max_amount),
        MAX_ROWS,
        usize::MAX,
    )
    .await?;
    known_account(state, token, q.account.as_deref(), !list.is_empty())?;
    if more.is_some() {
        return Err(Error::invalid_field(
            "?",
            format!(
                "more than {MAX_ROWS} operations match: narrow the filter (since, until, account)"
            ),
        )
        .into());
    }
    Ok((list, zone))
}

/// `GET /v1/operations.csv`: the filtered operations as CSV (see
/// [`report::csv`]), times at `utc_offset`.
pub(crate) async fn export(
    State(state): State<AppState>,
    token: Caller,
    query: Result<Query<OperationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (list, zone) = all(&state, &token, query, "GET /v1/operations.csv").await?;
    let name = format!(
        "payops-operations-{}.csv",
        chrono::Utc::now()
            .with_timezone(&zone)
            .format("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        report::csv(&list, zone),
    )
        .into_response())
}

/// `GET /v1/totals`: the filtered operations counted and summed by
/// account, day (at `utc_offset`), operation, status and currency.
pub(crate) async fn totals(
    State(state): State<AppState>,
    token: Caller,
    query: Result<Query<OperationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (list, zone) = all(&state, &token, query, "GET /v1/totals").await?;
    Ok(axum::Json(json!({
        "utc_offset": zone.to_string(),
        "operations": list.len(),
        "totals": report::totals(&list, zone),
    }))
    .into_response())
}
