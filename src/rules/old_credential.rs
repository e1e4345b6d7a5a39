//! `ssh-key-old`, `service-credential-old`, `bedrock-api-key-long-lived` and
//! `signing-certificate-old`: the long-lived credentials AWS records no use for.
//!
//! Without a last-use date the only honest rule is age: an active credential as old as its
//! kind's limit or older is a finding (the threshold is inclusive, as for idle days). A Bedrock
//! long-term API key is also a finding when it never expires, or expires more than its maximum
//! lifetime after its creation, whatever its age. Inactive (or expired) credentials cannot be
//! used: information, not findings. A credential of unknown age is a finding: nothing shows it
//! is young.

use jiff::Timestamp;

use super::{CredentialKind, Outcome, Policy, Verdict, idle_days};
use crate::inventory::{KeyStatus, OtherCredential, User};

/// Adds one verdict per credential of `user` whose kind is judged.
pub(super) fn evaluate(user: &User, policy: &Policy, now: Timestamp, out: &mut Vec<Verdict>) {
    for credential in &user.others {
        let Some(max_age) = policy.ages.max_age(credential.kind) else {
            continue;
        };
        let age = credential.created.map(|created| idle_days(created, now));
        let expired = credential.expires.is_some_and(|expires| expires <= now);
        let outcome = match credential.status {
            KeyStatus::Inactive | KeyStatus::Expired => Outcome::Inactive,
            KeyStatus::Active if expired => Outcome::Inactive,
            KeyStatus::Active
                if age.is_none_or(|age| age >= i64::from(max_age))
                    || unbounded(credential, policy) =>
            {
                Outcome::Unused
            }
            KeyStatus::Active => Outcome::InUse,
        };
        out.push(Verdict {
            rule: super::Rule::of(credential.kind),
            user_name: user.name.clone(),
            user_arn: user.arn.clone(),
            user_created: user.created,
            credential: credential.kind,
            access_key_id: credential.id.clone(),
            key_slot: credential.slot,
            key_status: Some(credential.status),
            created: credential.created,
            last_used: None,
            last_used_service: None,
            idle_since: credential.created,
            idle_days: age,
            outcome,
            exempt_reason: None,
            exemption_unknown: None,
            owner: None,
            service: credential.service.clone(),
            expires: credential.expires,
        });
    }
}

/// Whether a Bedrock API key may live longer than its maximum lifetime: no expiration, or one
/// beyond it.
fn unbounded(credential: &OtherCredential, policy: &Policy) -> bool {
    if credential.kind != CredentialKind::BedrockApiKey {
        return false;
    }
    let lifetime = i64::from(policy.ages.bedrock_api_key_lifetime_days);
    match (credential.created, credential.expires) {
        (_, None) => true,
        (Some(created), Some(expires)) => lifetime > 0 && idle_days(created, expires) > lifetime,
        (None, Some(_)) => false,
    }
}
