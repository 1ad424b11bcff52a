//! [`Secret`]: a credential that cannot be printed, logged or serialized.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// What a secret looks like wherever it would otherwise be shown.
pub const REDACTED: &str = "[REDACTED]";

/// A credential (merchant key, password, GUID).
///
/// `Debug`, `Display` and `Serialize` all print [`REDACTED`]; the only way to
/// read the value is [`Secret::expose`], which a provider calls at the one
/// place it writes the credential onto the wire. The memory is zeroed when the
/// secret is dropped. `Deserialize` reads the plain value, so secrets can come
/// from config.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The credential itself. Call it only where the value goes onto the wire.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// True when the credential is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // `writeOnly` marks the field as a credential: the host redacts every
        // property so marked and a form generator renders a password input.
        schemars::json_schema!({
            "type": "string",
            "format": "password",
            "writeOnly": true,
            "minLength": 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const VALUE: &str = "4oK26hK8MOXrIV1bzTRVPA==";

    #[test]
    fn never_revealed_by_formatting_or_serde() {
        let s = Secret::new(VALUE);
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{s:#?}"), "Secret([REDACTED])");
        assert_eq!(s.to_string(), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
        #[derive(Debug, Serialize)]
        struct Account {
            merchant: String,
            key: Secret,
        }
        let a = Account {
            merchant: "TEST1234".into(),
            key: s.clone(),
        };
        assert!(!format!("{a:?}").contains(VALUE));
        assert!(!serde_json::to_string(&a).unwrap().contains(VALUE));
        assert_eq!(s.expose(), VALUE);
    }

    #[test]
    fn deserializes_plain_value() {
        let s: Secret = serde_json::from_str(&format!("\"{VALUE}\"")).unwrap();
        assert_eq!(s.expose(), VALUE);
        assert!(!s.is_empty());
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn never_revealed_by_tracing() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let s = Secret::new(VALUE);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(key = ?s, shown = %s, "using credential");
            let span = tracing::info_span!("op", key = ?s);
            let _g = span.enter();
            tracing::warn!("inside {:?}", s);
        });
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("using credential"), "{out}");
        assert!(out.contains(REDACTED));
        assert!(!out.contains(VALUE), "{out}");
    }
}
