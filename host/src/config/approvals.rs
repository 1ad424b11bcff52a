//! `[approvals]`: the thresholds above which a request waits for a second
//! person, and how long it may wait.

use figment::Figment;

use payops_core::OperationKind;

use super::*;
use crate::people::Role;

/// `[approvals]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// How long a request may wait for a decision, and, approved, to be
    /// sent (a refusal at send time is tried again until then), in seconds.
    pub expire_after_secs: u64,
    /// After a refusal at send time (the order guard, the order's turn),
    /// the next try, in seconds.
    pub retry_secs: u64,
    /// `[[approvals.rules]]`.
    pub rules: Vec<ApprovalRule>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            expire_after_secs: 24 * 3600,
            retry_secs: 30,
            rules: Vec::new(),
        }
    }
}

/// One `[[approvals.rules]]`: whose requests of which kinds on which
/// accounts wait, above which amounts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// Accounts (names, or `"*"`).
    #[serde(default = "all")]
    pub accounts: Vec<String>,
    /// Operation kinds (`refund`, `cancel`, `return`,
    /// `sub_merchant_adjust`), or `"*"` for all that move money.
    #[serde(default = "money_kinds")]
    pub operations: Vec<String>,
    /// Only callers of these roles (empty: every caller; the CLI counts
    /// as an operator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    /// Only these tokens (names; empty: every caller).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
    /// A request whose amount is above this waits (minor units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<i64>,
    /// A request that brings its order's refunds, cancels and returns (not
    /// failed, waiting ones included) above this waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_order_above: Option<i64>,
    /// A request that brings the account's refunds, cancels and returns of
    /// the day (Turkish time; not failed, waiting ones included) above this
    /// waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day_above: Option<i64>,
}

fn all() -> Vec<String> {
    vec!["*".into()]
}

fn money_kinds() -> Vec<String> {
    vec!["refund".into(), "cancel".into(), "return".into()]
}

/// Who asks, as the rules see it.
#[derive(Debug, Clone, Default)]
pub struct Asker {
    /// The caller's highest role on the account (`None`: the CLI, an
    /// operator).
    pub role: Option<Role>,
    /// The token's name, when a token asks.
    pub token: Option<String>,
}

impl ApprovalRule {
    /// Does this rule apply to `asker` running `op` on `account`?
    pub fn applies(&self, account: &str, op: OperationKind, asker: &Asker) -> bool {
        let role = asker.role.unwrap_or(Role::Operator);
        self.accounts.iter().any(|a| a == "*" || a == account)
            && self
                .operations
                .iter()
                .any(|o| (o == "*" && op.moves_money()) || o == op.as_str())
            && (self.roles.is_empty() || self.roles.contains(&role))
            && (self.tokens.is_empty()
                || asker
                    .token
                    .as_ref()
                    .is_some_and(|t| self.tokens.contains(t)))
    }
}

/// Validates `[approvals]`. Returns every problem.
pub fn check_approvals(f: &Figment, cfg: &Config) -> Result<(), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut err = |k: String, message: String| {
        errors.push(ConfigError {
            origin: source_of(f, &k),
            key: k,
            message,
        })
    };
    let a = &cfg.approvals;
    if a.expire_after_secs == 0 {
        err(
            "approvals.expire_after_secs".into(),
            "must be at least 1".into(),
        );
    }
    if a.retry_secs == 0 {
        err("approvals.retry_secs".into(), "must be at least 1".into());
    }
    for (i, r) in a.rules.iter().enumerate() {
        let key = |k: &str| format!("approvals.rules[{i}].{k}");
        if r.above.is_none() && r.per_order_above.is_none() && r.per_day_above.is_none() {
            err(
                key("above"),
                "give above, per_order_above or per_day_above (minor units)".into(),
            );
        }
        for (k, v) in [
            ("above", r.above),
            ("per_order_above", r.per_order_above),
            ("per_day_above", r.per_day_above),
        ] {
            if v.is_some_and(|v| v < 0) {
                err(key(k), "must not be negative".into());
            }
        }
        for o in &r.operations {
            match (o.as_str(), o.parse::<OperationKind>()) {
                ("*", _) => {}
                (_, Ok(k)) if k.moves_money() => {}
                _ => err(
                    key("operations"),
                    format!("{o:?}: refund, cancel, return, sub_merchant_adjust or \"*\""),
                ),
            }
        }
        for t in &r.tokens {
            if !cfg.tokens.iter().any(|c| &c.name == t) {
                err(key("tokens"), format!("{t:?} is no token of [[tokens]]"));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
