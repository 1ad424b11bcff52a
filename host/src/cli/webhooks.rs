//! `payops webhooks list | show | redeliver`: the webhook outbox.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{EXIT_CONFIG, EXIT_USAGE, Global, Output, fail, setup};
use crate::webhooks::{attempt_view, view};

/// `payops webhooks` actions.
#[derive(Subcommand, Debug)]
pub enum WebhooksAction {
    /// Deliveries, newest first.
    List {
        /// Only this state: pending, delivered, failed.
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// One event: its body and, per webhook, the delivery and every attempt (JSON).
    Show {
        /// The event id (`evt_…`).
        event_id: String,
    },
    /// Make an event due again now (for every webhook, or one), whatever
    /// its state: the receiver deduplicates on the event id.
    Redeliver {
        /// The event id.
        event_id: String,
        /// Only this webhook.
        #[arg(long)]
        webhook: Option<String>,
    },
}

/// Runs `payops webhooks ACTION`.
pub async fn run(g: &Global, action: &WebhooksAction) -> Result<ExitCode, ExitCode> {
    let s = setup(g, None, "warn")?;
    let store = payops_store::Store::open_existing(&s.cfg.store.url)
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    match action {
        WebhooksAction::List {
            state,
            limit,
            output,
        } => {
            let state = state
                .as_deref()
                .and_then(payops_store::DeliveryState::parse);
            let rows = store
                .deliveries(state, *limit)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            match output {
                Output::Json => {
                    let v: Vec<_> = rows.iter().map(|d| view(d, false)).collect();
                    println!("{}", json!({ "deliveries": v }));
                }
                Output::Text => {
                    for d in &rows {
                        let v = view(d, false);
                        println!(
                            "{}  {:<20} {:<10} {:<20} attempts {:<3} {}  {}",
                            d.event_id,
                            d.webhook,
                            d.state.as_str(),
                            d.event_type,
                            d.attempts,
                            d.operation_id,
                            d.last_error
                                .as_deref()
                                .unwrap_or(v["delivered_at"].as_str().unwrap_or_default())
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        WebhooksAction::Show { event_id } => {
            let rows = store
                .delivery(event_id)
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            let Some((first, _)) = rows.first() else {
                return Err(fail(EXIT_USAGE, format!("no event {event_id:?}")));
            };
            let deliveries: Vec<_> = rows
                .iter()
                .map(|(d, attempts)| {
                    let mut v = view(d, false);
                    v["attempts_log"] = attempts.iter().map(attempt_view).collect();
                    v
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "event_id": event_id,
                    "payload": first.payload,
                    "deliveries": deliveries,
                }))
                .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        WebhooksAction::Redeliver { event_id, webhook } => {
            let n = store
                .redeliver(event_id, webhook.as_deref())
                .await
                .map_err(|e| fail(EXIT_CONFIG, e))?;
            if n == 0 {
                return Err(fail(EXIT_USAGE, format!("no event {event_id:?}")));
            }
            println!("{event_id}: due again for {n} webhook(s); a running daemon sends it");
            Ok(ExitCode::SUCCESS)
        }
    }
}
