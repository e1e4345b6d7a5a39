//! `access-key-unused`: an Active access key idle for the threshold or longer.
//!
//! A key is idle since the later of its last use and its creation, so a key created a year ago
//! and used yesterday is in use, and a key never used is aged from its creation. Inactive keys
//! cannot sign requests: they get an `Inactive` verdict, which is information, not a finding.

use jiff::Timestamp;

use super::{CredentialKind, Outcome, Policy, Rule, Verdict, idle_days, idle_since, is_unused};
use crate::inventory::{KeyStatus, User};

/// Adds one verdict per access key of `user`.
pub(super) fn evaluate(user: &User, policy: &Policy, now: Timestamp, out: &mut Vec<Verdict>) {
    for key in &user.access_keys {
        let since = idle_since(key.created, key.last_used);
        let outcome = match key.status {
            KeyStatus::Inactive | KeyStatus::Expired => Outcome::Inactive,
            KeyStatus::Active if is_unused(since, policy, now) => Outcome::Unused,
            KeyStatus::Active => Outcome::InUse,
        };
        out.push(Verdict {
            rule: Rule::AccessKeyUnused,
            user_name: user.name.clone(),
            user_arn: user.arn.clone(),
            user_created: user.created,
            credential: CredentialKind::AccessKey,
            access_key_id: key.id.clone(),
            key_slot: key.slot,
            key_status: Some(key.status),
            created: key.created,
            last_used: key.last_used,
            last_used_service: key.last_used_service.clone(),
            idle_since: since,
            idle_days: since.map(|since| idle_days(since, now)),
            outcome,
            exempt_reason: None,
            exemption_unknown: None,
            owner: None,
            service: None,
            expires: None,
        });
    }
}
