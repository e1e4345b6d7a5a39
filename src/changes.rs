//! What changed since the last run: each finding is `new` or `ongoing` (since its `first_seen`),
//! and the findings of the last complete scan that are gone are `resolved`, with why when it
//! can be told (used again, deactivated, deleted, exempted; by stalecreds or not).
//!
//! A finding's identity ([`finding_id`]) is its account, its user (name *and* creation time: a
//! user deleted and created again under the same name is another user), its kind of credential
//! and its key. The baseline of an account ([`Baseline`]) is its last *complete* scan, kept in
//! the account's state ([`crate::state`]): an account that failed, was not reached or was read
//! incompletely today resolves nothing, and its baseline stays (today's new findings join it).
//!
//! Everything here is pure: no I/O, no clock.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::remediate::{ActionKind, ActionOutcome, ActionState};
use crate::rules::{CredentialKind, Outcome, Verdict};

/// An account's last complete scan: its open findings, by `finding_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// When that scan ran (its `generated_at`).
    pub at: Timestamp,
    /// Its findings.
    pub open: BTreeMap<String, Open>,
}

/// One open finding of a baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// The user.
    pub user_name: String,
    /// The user's ARN (kept since report schema 3's `resolved[].user_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_arn: Option<String>,
    /// When the user was created, when known.
    pub user_created: Option<Timestamp>,
    /// The kind of credential.
    pub credential: CredentialKind,
    /// The key's ID, when known.
    pub access_key_id: Option<String>,
    /// The key's slot in the credential report, when it came from there.
    pub key_slot: Option<u8>,
    /// When the credential was created (a password: last set).
    #[serde(default)]
    pub credential_created: Option<Timestamp>,
    /// The first run that found it.
    pub first_seen: Timestamp,
    /// Its last use then.
    pub last_used: Option<Timestamp>,
    /// A change stalecreds applied to it.
    pub remediated: Option<ActionKind>,
}

/// A finding compared with its account's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Not in the baseline (or there is none).
    New,
    /// In the baseline.
    Ongoing,
}

impl Change {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Ongoing => "ongoing",
        }
    }
}

/// Why a finding of the baseline is no longer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The credential was used since.
    UsedAgain,
    /// Not used since, but no longer idle long enough (the threshold changed).
    BelowThreshold,
    /// The key is inactive now; someone else deactivated it.
    Deactivated,
    /// The key is inactive now: stalecreds deactivated it.
    DeactivatedByStalecreds,
    /// The user is exempt now.
    Exempted,
    /// The credential (or its user) is gone.
    Deleted,
    /// The password is gone: stalecreds deleted it.
    DeletedByStalecreds,
    /// The user was deleted, and another user has its name now.
    UserRecreated,
}

impl Reason {
    /// Words for people.
    pub fn words(self) -> &'static str {
        match self {
            Reason::UsedAgain => "used again",
            Reason::BelowThreshold => "no longer idle past the threshold",
            Reason::Deactivated => "deactivated",
            Reason::DeactivatedByStalecreds => "deactivated by stalecreds",
            Reason::Exempted => "exempt now",
            Reason::Deleted => "deleted",
            Reason::DeletedByStalecreds => "deleted by stalecreds",
            Reason::UserRecreated => "its user was deleted (another user has the name now)",
        }
    }
}

/// A finding of the baseline that is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Its identity.
    pub id: String,
    /// What it was.
    pub open: Open,
    /// Why it is gone.
    pub reason: Reason,
}

/// What is known of an account's baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior<'a> {
    /// None recorded: the first run (or the first with a state store).
    First,
    /// This baseline.
    Known(&'a Baseline),
    /// It could not be read: why. Nothing is labelled or resolved.
    Unreadable(String),
}

/// One account compared with its baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChanges {
    /// Each finding's change and first sighting, by [`finding_id`]; empty when the baseline
    /// could not be read.
    pub labels: BTreeMap<String, (Change, Timestamp)>,
    /// The baseline's findings that are gone (none unless the scan was complete).
    pub resolved: Vec<Resolved>,
    /// The baseline to keep for the next run; `None` to keep nothing (unreadable).
    pub next: Option<Baseline>,
}

/// A finding's identity from run to run:
/// `<account>/<user>[@<user created>]/<credential>[/<key ID or slot>]`.
pub fn finding_id(account_id: &str, verdict: &Verdict) -> String {
    let user = match verdict.user_created {
        Some(created) => format!("{}@{created}", verdict.user_name),
        None => verdict.user_name.clone(),
    };
    let key = match (&verdict.access_key_id, verdict.key_slot) {
        (Some(id), _) => format!("/{id}"),
        (None, Some(slot)) => format!("/slot{slot}"),
        (None, None) => String::new(),
    };
    format!("{account_id}/{user}/{}{key}", verdict.credential.as_str())
}

impl Open {
    /// The open finding `verdict`, first seen at `first_seen`, with this run's change to it.
    fn of(verdict: &Verdict, first_seen: Timestamp, remediated: Option<ActionKind>) -> Open {
        Open {
            user_name: verdict.user_name.clone(),
            user_arn: Some(verdict.user_arn.clone()),
            user_created: verdict.user_created,
            credential: verdict.credential,
            access_key_id: verdict.access_key_id.clone(),
            key_slot: verdict.key_slot,
            credential_created: verdict.created,
            first_seen,
            last_used: verdict.last_used,
            remediated,
        }
    }
}

/// Compares one scanned account with its baseline. `complete`: every user was read. `actions`
/// are this run's changes (an applied one is remembered for the next run's reason).
pub fn compare(
    prior: Prior<'_>,
    account_id: &str,
    verdicts: &[Verdict],
    actions: &[ActionOutcome],
    complete: bool,
    now: Timestamp,
) -> AccountChanges {
    let baseline = match prior {
        Prior::Unreadable(_) => {
            return AccountChanges {
                labels: BTreeMap::new(),
                resolved: Vec::new(),
                next: None,
            };
        }
        Prior::First => None,
        Prior::Known(baseline) => Some(baseline),
    };
    let mut labels = BTreeMap::new();
    let mut open = BTreeMap::new();
    for verdict in verdicts.iter().filter(|verdict| verdict.is_finding()) {
        let id = finding_id(account_id, verdict);
        let before = baseline.and_then(|baseline| baseline.open.get(&id));
        let (change, first_seen) = match before {
            Some(before) => (Change::Ongoing, before.first_seen),
            None => (Change::New, now),
        };
        labels.insert(id.clone(), (change, first_seen));
        open.insert(
            id,
            Open::of(verdict, first_seen, applied_to(actions, verdict)),
        );
    }
    let mut resolved = Vec::new();
    let next = match (baseline, complete) {
        // A complete scan: what is gone is resolved, and today is the new baseline.
        (_, true) => {
            for (id, before) in baseline.into_iter().flat_map(|baseline| &baseline.open) {
                if !open.contains_key(id) {
                    resolved.push(Resolved {
                        id: id.clone(),
                        open: before.clone(),
                        reason: reason(before, verdicts),
                    });
                }
            }
            Baseline { at: now, open }
        }
        // An incomplete one resolves nothing: the baseline stays, today's findings join it.
        (Some(baseline), false) => {
            let mut kept = baseline.clone();
            kept.open.extend(open);
            kept
        }
        // No baseline yet, and an incomplete scan: today's findings are the first sightings.
        (None, false) => Baseline { at: now, open },
    };
    AccountChanges {
        labels,
        resolved,
        next: Some(next),
    }
}

/// The change this run applied to the verdict's credential, if any.
fn applied_to(actions: &[ActionOutcome], verdict: &Verdict) -> Option<ActionKind> {
    actions
        .iter()
        .filter(|planned| planned.state == ActionState::Applied)
        .find(|planned| planned.action.is_for(verdict))
        .map(|planned| planned.action.kind)
}

/// Why a finding of the baseline is gone, from today's verdicts of the account.
fn reason(before: &Open, verdicts: &[Verdict]) -> Reason {
    let same_user = |verdict: &&Verdict| {
        verdict.user_name == before.user_name && verdict.user_created == before.user_created
    };
    let same_credential = |verdict: &&Verdict| {
        verdict.credential == before.credential
            && match (&verdict.access_key_id, &before.access_key_id) {
                (Some(now), Some(then)) => now == then,
                // The credential report has no key IDs: then the key's creation tells, and its
                // slot when known (slots move when the other key is deleted).
                _ if verdict.credential == CredentialKind::Password => true,
                _ => {
                    verdict.created == before.credential_created
                        && (before.key_slot.is_none() || verdict.key_slot == before.key_slot)
                }
            }
    };
    let Some(now) = verdicts
        .iter()
        .filter(same_user)
        .find(|verdict| same_credential(verdict))
    else {
        let renamed = verdicts.iter().any(|verdict| {
            verdict.user_name == before.user_name && verdict.user_created != before.user_created
        });
        return match before.remediated {
            Some(ActionKind::DeletePassword | ActionKind::DeleteInactiveKey) => {
                Reason::DeletedByStalecreds
            }
            _ if renamed => Reason::UserRecreated,
            _ => Reason::Deleted,
        };
    };
    match now.outcome {
        Outcome::Inactive if before.remediated == Some(ActionKind::DeactivateKey) => {
            Reason::DeactivatedByStalecreds
        }
        Outcome::Inactive => Reason::Deactivated,
        Outcome::Exempt => Reason::Exempted,
        Outcome::InUse | Outcome::Unused => {
            let used_since = match (now.last_used, before.last_used) {
                (Some(now), Some(then)) => now > then,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if used_since {
                Reason::UsedAgain
            } else {
                Reason::BelowThreshold
            }
        }
    }
}

#[cfg(test)]
mod tests;
