//! `root-access-key`: the root user has an access key.
//!
//! Root keys are reported on their own and are always a finding, active or not, used or not
//! (CIS: no root access key should exist). Idle days are still given when the credential report
//! has the dates, so a reader sees how long the key has sat there.

use jiff::Timestamp;

use super::{CredentialKind, Outcome, Rule, Verdict, idle_days, idle_since};
use crate::inventory::RootCredentials;

/// The user name AWS gives the root user in the credential report.
pub const ROOT_USER: &str = "<root_account>";

/// Adds one verdict per root access key.
pub(super) fn evaluate(root: &RootCredentials, now: Timestamp, out: &mut Vec<Verdict>) {
    let root_finding = |arn: String| Verdict {
        rule: Rule::RootAccessKey,
        user_name: ROOT_USER.to_owned(),
        user_arn: arn,
        user_created: None,
        credential: CredentialKind::RootAccessKey,
        access_key_id: None,
        key_slot: None,
        key_status: None,
        created: None,
        last_used: None,
        last_used_service: None,
        idle_since: None,
        idle_days: None,
        outcome: Outcome::Unused,
        exempt_reason: None,
        exemption_unknown: None,
        owner: None,
        service: None,
        expires: None,
    };
    match root {
        RootCredentials::Unknown | RootCredentials::NoKeys => {}
        RootCredentials::KeysPresent { arn } => out.push(root_finding(arn.clone())),
        RootCredentials::Keys { arn, keys } => {
            for key in keys {
                let since = idle_since(key.created, key.last_used);
                out.push(Verdict {
                    key_slot: key.slot,
                    key_status: Some(key.status),
                    created: key.created,
                    last_used: key.last_used,
                    last_used_service: key.last_used_service.clone(),
                    idle_since: since,
                    idle_days: since.map(|since| idle_days(since, now)),
                    ..root_finding(arn.clone())
                });
            }
        }
    }
}
