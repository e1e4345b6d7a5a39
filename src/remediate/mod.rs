//! The remediate stage: a staged, opt-in plan of IAM changes, applied only when asked.
//!
//! Takes the verdicts of an account and its [`RemediationPolicy`] and returns the [`Action`]s
//! the policy calls for ([`plan`], pure); with `--apply`, [`apply()`] re-reads each credential's
//! live state just before changing it, changes it through the remediation role, and appends the
//! change to the [`journal`]; [`undo`] reactivates the keys a journal says were deactivated.
//!
//! What it never does: touch root credentials, delete a user, touch an exempt user, act on a
//! credential whose age is unknown, or make more than `max_actions` changes in a run.

pub mod apply;
pub mod journal;
mod others;

use std::cmp::Reverse;
use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::aws::AwsError;
use crate::inventory::KeyStatus;
use crate::rules::{CredentialKind, Outcome, Verdict, idle_days};

pub use apply::{Recorded, apply, undo};

/// The default cap on changes per run.
pub const DEFAULT_MAX_ACTIONS: usize = 25;

/// Which stages are on, and after how many idle days. Each stage is off unless set; each
/// threshold is at least the reporting threshold (checked by `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemediationPolicy {
    /// Deactivate Active access keys idle for this many days (reversible).
    pub deactivate_keys_after_days: Option<u32>,
    /// Delete access keys that have been Inactive for this many days: counted from when
    /// stalecreds deactivated them, or from the first run that saw them inactive.
    pub delete_inactive_keys_after_days: Option<u32>,
    /// Delete console passwords (login profiles) idle for this many days.
    pub delete_passwords_after_days: Option<u32>,
    /// Deactivate SSH public keys, service-specific credentials (Bedrock API keys included) and
    /// signing certificates that are findings and this many days old (reversible).
    pub deactivate_old_credentials_after_days: Option<u32>,
}

impl RemediationPolicy {
    /// Whether any stage is on.
    pub fn is_enabled(&self) -> bool {
        Stage::ALL.iter().any(|stage| stage.days(self).is_some())
    }
}

/// The remediation stages: one table of their configuration keys and their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `deactivate_keys_after_days`.
    DeactivateKeys,
    /// `delete_inactive_keys_after_days`.
    DeleteInactiveKeys,
    /// `delete_passwords_after_days`.
    DeletePasswords,
    /// `deactivate_old_credentials_after_days`.
    DeactivateOldCredentials,
}

impl Stage {
    /// Every stage, in the configuration's order.
    pub const ALL: [Stage; 4] = [
        Stage::DeactivateKeys,
        Stage::DeleteInactiveKeys,
        Stage::DeletePasswords,
        Stage::DeactivateOldCredentials,
    ];

    /// The key in the configuration file.
    pub fn key(self) -> &'static str {
        match self {
            Stage::DeactivateKeys => "deactivate_keys_after_days",
            Stage::DeleteInactiveKeys => "delete_inactive_keys_after_days",
            Stage::DeletePasswords => "delete_passwords_after_days",
            Stage::DeactivateOldCredentials => "deactivate_old_credentials_after_days",
        }
    }

    /// What it does, for people.
    pub fn words(self) -> &'static str {
        match self {
            Stage::DeactivateKeys => "deactivate keys",
            Stage::DeleteInactiveKeys => "delete inactive keys",
            Stage::DeletePasswords => "delete passwords",
            Stage::DeactivateOldCredentials => {
                "deactivate old SSH keys, service-specific credentials and signing certificates"
            }
        }
    }

    /// Its threshold in `policy`, when it is on.
    pub fn days(self, policy: &RemediationPolicy) -> Option<u32> {
        match self {
            Stage::DeactivateKeys => policy.deactivate_keys_after_days,
            Stage::DeleteInactiveKeys => policy.delete_inactive_keys_after_days,
            Stage::DeletePasswords => policy.delete_passwords_after_days,
            Stage::DeactivateOldCredentials => policy.deactivate_old_credentials_after_days,
        }
    }

    /// Whether its days count idleness, so must reach the reporting threshold (`max_idle_days`):
    /// the old-credentials stage counts age, and acts only on findings of their own limits.
    pub fn follows_idle_threshold(self) -> bool {
        self != Stage::DeactivateOldCredentials
    }

    /// Turns it on in `policy`, after `days`.
    pub fn set(self, policy: &mut RemediationPolicy, days: u32) {
        let slot = match self {
            Stage::DeactivateKeys => &mut policy.deactivate_keys_after_days,
            Stage::DeleteInactiveKeys => &mut policy.delete_inactive_keys_after_days,
            Stage::DeletePasswords => &mut policy.delete_passwords_after_days,
            Stage::DeactivateOldCredentials => &mut policy.deactivate_old_credentials_after_days,
        };
        *slot = Some(days);
    }
}

/// A change to one credential (the report's `remediation.action`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// UpdateAccessKey to Inactive: reversible (`stalecreds undo`).
    DeactivateKey,
    /// DeleteLoginProfile: cannot be undone.
    DeletePassword,
    /// DeleteAccessKey of an Inactive key: cannot be undone.
    DeleteInactiveKey,
    /// UpdateSSHPublicKey to Inactive: reversible.
    DeactivateSshKey,
    /// UpdateServiceSpecificCredential to Inactive (Bedrock API keys too): reversible.
    DeactivateServiceCredential,
    /// UpdateSigningCertificate to Inactive: reversible.
    DeactivateSigningCertificate,
}

impl ActionKind {
    /// The name used in reports and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::DeactivateKey => "deactivate_key",
            ActionKind::DeletePassword => "delete_password",
            ActionKind::DeleteInactiveKey => "delete_inactive_key",
            ActionKind::DeactivateSshKey => "deactivate_ssh_key",
            ActionKind::DeactivateServiceCredential => "deactivate_service_credential",
            ActionKind::DeactivateSigningCertificate => "deactivate_signing_certificate",
        }
    }

    /// Whether `stalecreds undo` can reverse it.
    pub fn is_reversible(self) -> bool {
        !matches!(
            self,
            ActionKind::DeletePassword | ActionKind::DeleteInactiveKey
        )
    }

    /// The deactivation of a credential of `kind` AWS records no use for.
    pub fn deactivating(kind: CredentialKind) -> Option<ActionKind> {
        match kind {
            CredentialKind::SshKey => Some(ActionKind::DeactivateSshKey),
            CredentialKind::ServiceCredential | CredentialKind::BedrockApiKey => {
                Some(ActionKind::DeactivateServiceCredential)
            }
            CredentialKind::SigningCertificate => Some(ActionKind::DeactivateSigningCertificate),
            CredentialKind::AccessKey
            | CredentialKind::Password
            | CredentialKind::RootAccessKey => None,
        }
    }

    /// What it does, for people.
    pub fn describe(self) -> &'static str {
        match self {
            ActionKind::DeactivateKey => "deactivate the key (reversible: stalecreds undo)",
            ActionKind::DeletePassword => "delete the console password (cannot be undone)",
            ActionKind::DeleteInactiveKey => "delete the inactive key (cannot be undone)",
            ActionKind::DeactivateSshKey => "deactivate the SSH key (reversible: stalecreds undo)",
            ActionKind::DeactivateServiceCredential => {
                "deactivate the service-specific credential (reversible: stalecreds undo)"
            }
            ActionKind::DeactivateSigningCertificate => {
                "deactivate the signing certificate (reversible: stalecreds undo)"
            }
        }
    }
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// The change.
    pub kind: ActionKind,
    /// The account.
    pub account_id: String,
    /// The user.
    pub user_name: String,
    /// The credential's ID: the access key's, for key actions; the SSH key's, the
    /// service-specific credential's or the certificate's for theirs.
    pub access_key_id: Option<String>,
    /// The credential's kind, for the credentials AWS records no use for (a Bedrock API key is
    /// changed as any service-specific credential, and journaled as what it is).
    #[serde(default)]
    pub credential: Option<CredentialKind>,
    /// Idle days when planned (for the credentials AWS records no use for: their age).
    pub idle_days: i64,
    /// The stage's threshold, checked again against live data before acting.
    pub threshold: u32,
    /// For deleting an inactive key: since when it is recorded inactive.
    pub inactive_since: Option<Timestamp>,
    /// For deleting a password: when it was last set, per the credential report (a login
    /// profile's CreateDate does not move when the password is reset).
    pub set_at: Option<Timestamp>,
}

impl Action {
    /// Whether this change is about `verdict`'s credential.
    pub fn is_for(&self, verdict: &Verdict) -> bool {
        self.user_name == verdict.user_name
            && match self.kind {
                ActionKind::DeactivateKey | ActionKind::DeleteInactiveKey => {
                    verdict.credential == CredentialKind::AccessKey
                        && self.access_key_id == verdict.access_key_id
                }
                ActionKind::DeletePassword => verdict.credential == CredentialKind::Password,
                ActionKind::DeactivateSshKey
                | ActionKind::DeactivateServiceCredential
                | ActionKind::DeactivateSigningCertificate => {
                    ActionKind::deactivating(verdict.credential) == Some(self.kind)
                        && self.access_key_id == verdict.access_key_id
                }
            }
    }
}

/// What became of a planned change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ActionState {
    /// Planned; not applied because `--apply` was not given.
    Planned,
    /// Planned, but beyond `max_actions`: not applied in this run.
    Deferred,
    /// Applied, and journaled.
    Applied,
    /// Not applied, for this reason (the live state no longer qualifies, …).
    Skipped(String),
    /// The change failed.
    Failed(AwsError),
    /// Not yet: an inactive key within its grace period, or whose record cannot be read.
    Waiting(Wait),
}

/// Why a deletion waits, and until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wait {
    /// The first day the deletion may be made; `None` when it cannot be told.
    pub eligible_on: Option<Timestamp>,
    /// Why it waits.
    pub reason: String,
}

/// When each inactive key of one account became inactive, as recorded from run to run (key ID
/// to instant): when stalecreds deactivated it, or when a run first saw it inactive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InactiveSince {
    /// The record, as read (empty on the first run).
    Known(BTreeMap<String, Timestamp>),
    /// The record could not be read: no inactive key is deleted.
    Unreadable(String),
}

impl ActionState {
    /// Its status, without the details: the report's `remediation.state`.
    pub fn status(&self) -> ActionStatus {
        match self {
            ActionState::Planned => ActionStatus::Planned,
            ActionState::Deferred => ActionStatus::Deferred,
            ActionState::Applied => ActionStatus::Applied,
            ActionState::Skipped(_) => ActionStatus::Skipped,
            ActionState::Failed(_) => ActionStatus::Failed,
            ActionState::Waiting(_) => ActionStatus::Waiting,
        }
    }
}

/// What became of a planned change, in a word (the report's `remediation.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Planned; not applied because `--apply` was not given.
    Planned,
    /// Beyond `max_actions`: not applied in this run.
    Deferred,
    /// Applied, and journaled.
    Applied,
    /// Not applied: the live state no longer qualifies, or it was not attempted.
    Skipped,
    /// AWS refused it, or its outcome is unknown.
    Failed,
    /// An inactive key within its grace period.
    Waiting,
}

/// A planned change and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionOutcome {
    /// The change.
    pub action: Action,
    /// What became of it.
    pub state: ActionState,
}

/// The changes `policy` calls for in one account, each `Planned`, or `Waiting` for an inactive
/// key still within its grace period (`inactive` says since when each key is inactive). Root
/// keys, exempt credentials (and every credential of a user `protected` names: exempt, or
/// perhaps exempt), credentials whose exemption is unknown, in-use credentials and credentials
/// of unknown age are never planned.
pub fn plan(
    account_id: &str,
    verdicts: &[Verdict],
    policy: &RemediationPolicy,
    protected: &dyn Fn(&str) -> bool,
    inactive: &InactiveSince,
    now: Timestamp,
) -> Vec<ActionOutcome> {
    let mut planned = Vec::new();
    for verdict in verdicts {
        let Some(idle_days) = verdict.idle_days else {
            continue;
        };
        if verdict.credential == CredentialKind::RootAccessKey
            || verdict.exemption_unknown.is_some()
            || protected(&verdict.user_name)
        {
            continue;
        }
        let stage = stage(policy, verdict);
        let Some((kind, threshold)) = stage else {
            continue;
        };
        let mut action = Action {
            kind,
            account_id: account_id.to_owned(),
            user_name: verdict.user_name.clone(),
            access_key_id: verdict.access_key_id.clone(),
            credential: CredentialKind::OTHERS
                .contains(&verdict.credential)
                .then_some(verdict.credential),
            idle_days,
            threshold,
            inactive_since: None,
            set_at: (kind == ActionKind::DeletePassword)
                .then_some(verdict.created)
                .flatten(),
        };
        let state = if kind == ActionKind::DeleteInactiveKey {
            match grace(verdict.access_key_id.as_deref(), inactive, threshold, now) {
                Ok(since) => {
                    action.inactive_since = Some(since);
                    ActionState::Planned
                }
                Err(wait) => ActionState::Waiting(wait),
            }
        } else if idle_days >= i64::from(threshold) {
            ActionState::Planned
        } else {
            continue;
        };
        planned.push(ActionOutcome { action, state });
    }
    planned
}

/// The stage `policy` applies to `verdict`'s credential, and its threshold; `None` when none.
fn stage(policy: &RemediationPolicy, verdict: &Verdict) -> Option<(ActionKind, u32)> {
    match (verdict.credential, verdict.key_status, &verdict.outcome) {
        (CredentialKind::AccessKey, Some(KeyStatus::Active), Outcome::Unused) => policy
            .deactivate_keys_after_days
            .map(|days| (ActionKind::DeactivateKey, days)),
        (CredentialKind::AccessKey, Some(KeyStatus::Inactive), Outcome::Inactive) => policy
            .delete_inactive_keys_after_days
            .map(|days| (ActionKind::DeleteInactiveKey, days)),
        (CredentialKind::Password, _, Outcome::Unused) => policy
            .delete_passwords_after_days
            .map(|days| (ActionKind::DeletePassword, days)),
        (kind, Some(KeyStatus::Active), Outcome::Unused) => policy
            .deactivate_old_credentials_after_days
            .zip(ActionKind::deactivating(kind))
            .map(|(days, action)| (action, days)),
        _ => None,
    }
}

/// Whether an inactive key's grace period is over: `Ok(since)` when it has been inactive for
/// `threshold` days or more (a key not in the record is inactive since `now`: this run is the
/// first to see it so).
fn grace(
    key_id: Option<&str>,
    inactive: &InactiveSince,
    threshold: u32,
    now: Timestamp,
) -> Result<Timestamp, Wait> {
    let since = match (inactive, key_id) {
        (InactiveSince::Unreadable(reason), _) => {
            return Err(Wait {
                eligible_on: None,
                reason: format!(
                    "when this key became inactive could not be read ({reason}): nothing is deleted"
                ),
            });
        }
        (InactiveSince::Known(_), None) => {
            return Err(Wait {
                eligible_on: None,
                reason: "the key's ID is not known".to_owned(),
            });
        }
        (InactiveSince::Known(record), Some(id)) => record.get(id).copied().unwrap_or(now),
    };
    if idle_days(since, now) >= i64::from(threshold) {
        return Ok(since);
    }
    let eligible_on = since + SignedDuration::from_hours(24 * i64::from(threshold));
    Err(Wait {
        eligible_on: Some(eligible_on),
        reason: format!(
            "inactive since {}: deletable from {} ({threshold} days inactive)",
            since.strftime("%Y-%m-%d"),
            eligible_on.strftime("%Y-%m-%d")
        ),
    })
}

/// Orders changes for the cap: reversible ones first, then the longest idle, then account,
/// user and key, so that the same inventory always gives the same first `max_actions`.
pub fn prioritize(actions: &mut [Action]) {
    actions.sort_by_key(|action| {
        (
            !action.kind.is_reversible(),
            Reverse(action.idle_days),
            action.account_id.clone(),
            action.user_name.clone(),
            action.kind,
            action.access_key_id.clone(),
        )
    });
}

#[cfg(test)]
mod tests;
