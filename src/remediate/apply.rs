//! Applying a plan, and undoing it: the only code that writes to IAM.
//!
//! Before each change the credential's live state is read again (the credential report can be
//! hours old): a key used since, a key whose status changed, a password deleted or used since,
//! is skipped with the reason. One failed change never stops the others.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;
use jiff::Timestamp;

use super::journal::{Entry, Journal};
use super::{Action, ActionKind, ActionOutcome, ActionState};
use crate::aws::{AwsError, Pace, timestamp};
use crate::rules::idle_days;

/// Applies `actions` (all in one account) in order, journaling each change. `now` is the run's
/// "now": the stage thresholds are checked against it with the live dates.
pub async fn apply(
    iam: &Client,
    pace: &Pace,
    actions: Vec<Action>,
    now: Timestamp,
    journal: &Journal,
    run: &str,
) -> Vec<ActionOutcome> {
    let mut outcomes = Vec::with_capacity(actions.len());
    let mut journal_broken: Option<String> = None;
    for action in actions {
        let state = match &journal_broken {
            Some(reason) => ActionState::Skipped(reason.clone()),
            None => match apply_one(iam, pace, &action, now).await {
                Ok(Ok(previous)) => {
                    let entry = entry_for(&action, now, run, &previous);
                    match journal.append(&entry) {
                        Ok(()) => ActionState::Applied,
                        Err(error) => {
                            // The change is made but unrecorded: say so, and make no more.
                            let reason = format!(
                                "the journal {} is not writable: {error}",
                                journal.path().display()
                            );
                            journal_broken = Some(format!("not attempted: {reason}"));
                            ActionState::Failed(AwsError::invalid_answer("Journal", reason))
                        }
                    }
                }
                Ok(Err(reason)) => ActionState::Skipped(reason),
                Err(error) => ActionState::Failed(error),
            },
        };
        outcomes.push(ActionOutcome { action, state });
    }
    outcomes
}

/// Verifies and makes one change: `Ok(Ok(previous state))` when made, `Ok(Err(reason))` when
/// the live state no longer qualifies, `Err` when AWS refused.
async fn apply_one(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    now: Timestamp,
) -> Result<Result<String, String>, AwsError> {
    match action.kind {
        ActionKind::DeactivateKey | ActionKind::DeleteInactiveKey => {
            let Some(key_id) = action.access_key_id.as_deref() else {
                return Ok(Err("the access key ID is not known".to_owned()));
            };
            let wanted = if action.kind == ActionKind::DeactivateKey {
                StatusType::Active
            } else {
                StatusType::Inactive
            };
            let (status, created) = match live_key(iam, pace, &action.user_name, key_id).await? {
                Some(found) => found,
                None => return Ok(Err("the key no longer exists".to_owned())),
            };
            if status != wanted {
                return Ok(Err(format!("the key is now {}", status.as_str())));
            }
            pace.ready().await;
            let last_used = iam
                .get_access_key_last_used()
                .access_key_id(key_id)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk("GetAccessKeyLastUsed", &error))?
                .access_key_last_used()
                .and_then(|used| used.last_used_date())
                .and_then(timestamp);
            if let Some(reason) = too_recent(created, last_used, action.threshold, now) {
                return Ok(Err(reason));
            }
            pace.ready().await;
            if action.kind == ActionKind::DeactivateKey {
                iam.update_access_key()
                    .user_name(&action.user_name)
                    .access_key_id(key_id)
                    .status(StatusType::Inactive)
                    .send()
                    .await
                    .map_err(|error| AwsError::from_sdk("UpdateAccessKey", &error))?;
            } else {
                iam.delete_access_key()
                    .user_name(&action.user_name)
                    .access_key_id(key_id)
                    .send()
                    .await
                    .map_err(|error| AwsError::from_sdk("DeleteAccessKey", &error))?;
            }
            Ok(Ok(status.as_str().to_owned()))
        }
        ActionKind::DeletePassword => {
            pace.ready().await;
            let profile = match iam
                .get_login_profile()
                .user_name(&action.user_name)
                .send()
                .await
            {
                Ok(output) => output
                    .login_profile()
                    .map(|profile| timestamp(profile.create_date())),
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_no_such_entity_exception()) =>
                {
                    None
                }
                Err(error) => return Err(AwsError::from_sdk("GetLoginProfile", &error)),
            };
            let Some(set_at) = profile else {
                return Ok(Err("the user no longer has a console password".to_owned()));
            };
            pace.ready().await;
            let last_used = iam
                .get_user()
                .user_name(&action.user_name)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk("GetUser", &error))?
                .user()
                .and_then(|user| user.password_last_used())
                .and_then(timestamp);
            if let Some(reason) = too_recent(set_at, last_used, action.threshold, now) {
                return Ok(Err(reason));
            }
            pace.ready().await;
            iam.delete_login_profile()
                .user_name(&action.user_name)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk("DeleteLoginProfile", &error))?;
            Ok(Ok("login_profile".to_owned()))
        }
    }
}

/// The key's live status and creation date, or `None` if the user no longer has it. A user has
/// at most two keys, so one page always holds them all.
async fn live_key(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
    key_id: &str,
) -> Result<Option<(StatusType, Option<Timestamp>)>, AwsError> {
    pace.ready().await;
    let listed = match iam.list_access_keys().user_name(user_name).send().await {
        Ok(listed) => listed,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(AwsError::from_sdk("ListAccessKeys", &error)),
    };
    Ok(listed
        .access_key_metadata()
        .iter()
        .find(|key| key.access_key_id() == Some(key_id))
        .and_then(|key| {
            key.status()
                .map(|status| (status.clone(), key.create_date().and_then(timestamp)))
        }))
}

/// Why a credential no longer qualifies, judged on live dates: idle since the later of its
/// creation (or setting) and last use, fewer days than the stage's threshold.
fn too_recent(
    created: Option<Timestamp>,
    last_used: Option<Timestamp>,
    threshold: u32,
    now: Timestamp,
) -> Option<String> {
    let since = match (created, last_used) {
        (Some(created), Some(used)) => created.max(used),
        (one, other) => one.or(other)?,
    };
    let idle = idle_days(since, now);
    (idle < i64::from(threshold)).then(|| match last_used {
        Some(used) if Some(used) >= created => {
            format!("used since the report: last used {used}, {idle} days idle (stage needs {threshold})")
        }
        _ => format!("only {idle} days idle now (stage needs {threshold})"),
    })
}

fn entry_for(action: &Action, now: Timestamp, run: &str, previous: &str) -> Entry {
    let (credential, new_state) = match action.kind {
        ActionKind::DeactivateKey => ("access_key", "Inactive"),
        ActionKind::DeleteInactiveKey => ("access_key", "deleted"),
        ActionKind::DeletePassword => ("password", "deleted"),
    };
    Entry {
        time: Timestamp::now().max(now),
        run: run.to_owned(),
        account_id: action.account_id.clone(),
        user_name: action.user_name.clone(),
        credential: credential.to_owned(),
        access_key_id: action.access_key_id.clone(),
        action: action.kind.as_str().to_owned(),
        previous_state: previous.to_owned(),
        new_state: new_state.to_owned(),
    }
}

/// What became of one journal entry on undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoState {
    /// The key was reactivated (and the reactivation journaled).
    Reactivated,
    /// Nothing to do, for this reason (already active, no longer exists, …).
    Skipped(String),
    /// A deletion: it cannot be undone.
    Irreversible,
    /// AWS refused.
    Failed(AwsError),
}

/// Reactivates the keys that `entries` (all in one account) say were deactivated and are still
/// Inactive; deletions are reported as irreversible.
pub async fn undo(
    iam: &Client,
    pace: &Pace,
    entries: Vec<Entry>,
    journal: &Journal,
    run: &str,
) -> Vec<(Entry, UndoState)> {
    let mut outcomes = Vec::with_capacity(entries.len());
    for entry in entries {
        let state = match (entry.action.as_str(), entry.access_key_id.as_deref()) {
            ("deactivate_key", Some(key_id)) => {
                match reactivate(iam, pace, &entry.user_name, key_id).await {
                    Ok(None) => {
                        let record = Entry {
                            time: Timestamp::now(),
                            run: run.to_owned(),
                            action: "reactivate_key".to_owned(),
                            previous_state: "Inactive".to_owned(),
                            new_state: "Active".to_owned(),
                            ..entry.clone()
                        };
                        match journal.append(&record) {
                            Ok(()) => UndoState::Reactivated,
                            Err(error) => UndoState::Failed(AwsError::invalid_answer(
                                "Journal",
                                format!("reactivated, but the journal is not writable: {error}"),
                            )),
                        }
                    }
                    Ok(Some(reason)) => UndoState::Skipped(reason),
                    Err(error) => UndoState::Failed(error),
                }
            }
            ("deactivate_key", None) => {
                UndoState::Skipped("the entry has no access key ID".to_owned())
            }
            _ => UndoState::Irreversible,
        };
        outcomes.push((entry, state));
    }
    outcomes
}

/// Reactivates a key that is still Inactive; `Some(reason)` when there is nothing to do.
async fn reactivate(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
    key_id: &str,
) -> Result<Option<String>, AwsError> {
    match live_key(iam, pace, user_name, key_id).await? {
        None => return Ok(Some("the key no longer exists".to_owned())),
        Some((StatusType::Active, _)) => return Ok(Some("the key is already active".to_owned())),
        Some(_) => {}
    }
    pace.ready().await;
    iam.update_access_key()
        .user_name(user_name)
        .access_key_id(key_id)
        .status(StatusType::Active)
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("UpdateAccessKey", &error))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().expect("valid"))
    }

    #[test]
    fn live_dates_decide_whether_a_change_still_qualifies() {
        let now = at("2026-11-28T10:00:00Z").expect("valid");
        // Used yesterday, after the report: skipped.
        let reason = too_recent(
            at("2025-01-01T00:00:00Z"),
            at("2026-11-27T10:00:00Z"),
            90,
            now,
        )
        .expect("too recent");
        assert!(reason.starts_with("used since the report"), "{reason}");
        // Still idle long enough.
        assert_eq!(
            too_recent(
                at("2025-01-01T00:00:00Z"),
                at("2026-06-01T00:00:00Z"),
                90,
                now
            ),
            None
        );
        // Created (or a password reset) recently: not idle long enough, never used.
        let reason = too_recent(at("2026-11-01T00:00:00Z"), None, 90, now).expect("too recent");
        assert!(reason.starts_with("only 27 days idle"), "{reason}");
    }
}
