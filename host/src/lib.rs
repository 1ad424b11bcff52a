//! # payops-host
//!
//! The library behind the `payops` binary: plugin discovery, layered config,
//! the operation engine (schema validation, the operation store, idempotency,
//! provider calls), reconciliation, the HTTP API and schema export.

// The OpenAPI document is one `json!` literal, deeper than the default.
#![recursion_limit = "256"]

pub(crate) mod app;
pub mod approving;
pub mod batching;
pub mod cli;
pub mod config;
pub mod engine;
pub mod ids;
pub mod ledger;
pub(crate) mod listener;
mod matching;
pub mod metrics;
pub mod people;
pub mod plugins;
pub mod reconcile;
pub mod report;
pub mod schemas;
pub mod server;
pub mod signing;
pub mod telemetry;
pub mod ui;
pub mod webhooks;
