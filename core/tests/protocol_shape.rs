//! The plugin protocol's messages, held against a committed copy of their
//! JSON Schemas (`core/protocol/protocol.json`).
//!
//! A plugin and a host that agree on [`ABI_VERSION`] must agree on every
//! message's shape. So a change of shape with the same version fails here:
//! bump `ABI_VERSION`, then regenerate the copy with
//! `PAYOPS_BLESS_PROTOCOL=1 cargo test -p payops-core --test protocol_shape`.

use payops_core::protocol::{ABI_VERSION, SimCall, StepInput, StepReply};
use payops_core::provider::ProviderInfo;
use serde_json::{Value, json};

/// Drops documentation (`title`, `description` strings): a doc comment is
/// not a change of shape.
fn shape(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            map.retain(|k, v| !(matches!(k.as_str(), "title" | "description") && v.is_string()));
            for v in map.values_mut() {
                *v = shape(v.take());
            }
        }
        Value::Array(items) => {
            for v in items {
                *v = shape(v.take());
            }
        }
        _ => {}
    }
    v
}

fn current() -> Value {
    let schema = |s: schemars::Schema| shape(serde_json::to_value(s).unwrap());
    json!({
        "protocol_version": ABI_VERSION,
        "messages": {
            "info_reply": schema(schemars::schema_for!(ProviderInfo)),
            "step_input": schema(schemars::schema_for!(StepInput)),
            "step_reply": schema(schemars::schema_for!(StepReply)),
            "sim_call": schema(schemars::schema_for!(SimCall)),
        }
    })
}

#[test]
fn protocol_messages_keep_their_shape_under_one_version() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol/protocol.json");
    let now = current();
    let read =
        || -> Option<Value> { serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok() };
    if std::env::var_os("PAYOPS_BLESS_PROTOCOL").is_some() {
        // Blessing a new shape under the committed version is refused.
        if let Some(old) = read() {
            assert!(
                old["protocol_version"] != now["protocol_version"] || old == now,
                "refusing to bless a new shape under protocol version {ABI_VERSION}: bump ABI_VERSION first"
            );
        }
        let text = serde_json::to_string_pretty(&now).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let committed = read().unwrap_or_else(|| panic!("{} is missing or not JSON", path.display()));
    let committed_version = committed["protocol_version"].as_u64().unwrap();
    if committed_version == u64::from(ABI_VERSION) {
        for (name, schema) in now["messages"].as_object().unwrap() {
            assert!(
                committed["messages"][name] == *schema,
                "protocol message `{name}` changed shape but ABI_VERSION is still \
                 {ABI_VERSION}: bump ABI_VERSION in core/src/abi.rs, then run \
                 PAYOPS_BLESS_PROTOCOL=1 cargo test -p payops-core --test protocol_shape"
            );
        }
        assert_eq!(committed, now, "a protocol message was added or removed");
    } else {
        panic!(
            "ABI_VERSION is {ABI_VERSION} but {} holds version {committed_version}: \
             run PAYOPS_BLESS_PROTOCOL=1 cargo test -p payops-core --test protocol_shape",
            path.display()
        );
    }
}
