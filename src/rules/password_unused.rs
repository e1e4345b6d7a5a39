//! `password-unused`: a console password idle for the threshold or longer.
//!
//! Only a login profile that exists now is a password: `PasswordLastUsed` alone proves nothing,
//! because it survives a deleted password. A password is idle since the later of its last use
//! and when it was set, so a password never used is aged from when it was set (CIS 1.12's
//! `password_last_changed` step).

use jiff::Timestamp;

use super::{CredentialKind, Outcome, Policy, Rule, Verdict, idle_days, idle_since, is_unused};
use crate::inventory::User;

/// Adds a verdict for `user`'s password, if the user has one.
pub(super) fn evaluate(user: &User, policy: &Policy, now: Timestamp, out: &mut Vec<Verdict>) {
    let Some(password) = &user.password else {
        return;
    };
    let since = idle_since(password.set_at, password.last_used);
    let outcome = if is_unused(since, policy, now) {
        Outcome::Unused
    } else {
        Outcome::InUse
    };
    out.push(Verdict {
        rule: Rule::PasswordUnused,
        user_name: user.name.clone(),
        user_arn: user.arn.clone(),
        user_created: user.created,
        credential: CredentialKind::Password,
        access_key_id: None,
        key_slot: None,
        key_status: None,
        created: password.set_at,
        last_used: password.last_used,
        last_used_service: None,
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
