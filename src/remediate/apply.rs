//! Applying a plan, and undoing it: the only code that writes to IAM.
//!
//! Before each change the credential's live state is read again (the credential report can be
//! hours old): a key used since, a key whose status changed, a password deleted, used or reset
//! since, is skipped with the reason. Then the change's intent is made durable in the journal,
//! the change is made, and its outcome journaled. One failed change never stops the others; a
//! journal that cannot be written stops every change after it, and so does the run's deadline.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;
use jiff::Timestamp;

use super::journal::{Change, Entry, Held, Journal, Phase};
use super::{Action, ActionKind, ActionOutcome, ActionState, others};
use crate::aws::{AwsError, Pace, describe, timestamp};
use crate::deadline::Deadline;
use crate::inventory::KeyStatus;
use crate::rules::{CredentialKind, idle_days};
use std::collections::BTreeMap;

/// Applies `actions` (all in one account) in order, journaling each change. `now` is the run's
/// "now": the stage thresholds are checked against it with the live dates. No change starts
/// after the deadline's hard phase.
pub async fn apply(
    iam: &Client,
    pace: &Pace,
    actions: Vec<Action>,
    now: Timestamp,
    journal: &Journal,
    deadline: &Deadline,
) -> Vec<ActionOutcome> {
    let run = now.to_string();
    let mut outcomes = Vec::with_capacity(actions.len());
    for action in actions {
        let state = apply_one(iam, pace, &action, now, journal, &run, deadline).await;
        outcomes.push(ActionOutcome { action, state });
    }
    outcomes
}

/// What the live state says of a planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// It still qualifies: make it. The state before the change.
    Proceed(Held),
    /// It no longer qualifies, for this reason.
    Skip(String),
}

async fn apply_one(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    now: Timestamp,
    journal: &Journal,
    run: &str,
    deadline: &Deadline,
) -> ActionState {
    if let Some(failure) = journal.failure() {
        return ActionState::Skipped(format!(
            "not attempted: the journal failed earlier ({failure})"
        ));
    }
    let previous = match deadline.bounded(verify(iam, pace, action, now)).await {
        None => return not_attempted(),
        Some(Ok(Check::Proceed(previous))) => previous,
        Some(Ok(Check::Skip(reason))) => return ActionState::Skipped(reason),
        Some(Err(error)) => return ActionState::Failed(error),
    };
    // The intent is durable before the call, and made before the hard phase (its write is
    // bounded by it).
    let intent = entry(action, run, previous, Phase::Intent, None);
    match deadline
        .bounded(journal.append(&intent, deadline.until_hard()))
        .await
    {
        None => return not_attempted(),
        Some(Err(error)) => {
            return ActionState::Skipped(format!(
                "not attempted: its journal entry could not be made durable ({})",
                describe(&error)
            ));
        }
        Some(Ok(())) => {}
    }
    let (state, phase, note) = send_and_decide(iam, pace, action, deadline).await;
    // The intent is durable: if the outcome cannot be written, `undo` reads the live state. The
    // failure is the journal's own, and it stops every later change.
    let outcome = entry(action, run, previous, phase, note);
    let _ = journal
        .append(
            &outcome,
            deadline.delivery_timeout(crate::deadline::JOURNAL_SHARE),
        )
        .await;
    state
}

/// Sends the change and says how it went: its state, the journal's phase, and a note.
async fn send_and_decide(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    deadline: &Deadline,
) -> (ActionState, Phase, Option<String>) {
    match deadline.bounded(change(iam, pace, action, deadline)).await {
        Some(Ok(Sent::Made(note))) => (ActionState::Applied, Phase::Done, note),
        Some(Ok(Sent::NotSent)) => (
            not_attempted(),
            Phase::Failed,
            Some("not sent: the run's hard deadline came first".to_owned()),
        ),
        Some(Err(error)) if error.answer_lost() => decide(iam, pace, action, error, deadline).await,
        Some(Err(error)) => {
            let note = error.to_string();
            (ActionState::Failed(error), Phase::Failed, Some(note))
        }
        None => (
            ActionState::Failed(unknown(
                "the run's deadline came while the change was in flight",
            )),
            Phase::Unknown,
            Some(
                "cut off in flight by the run's deadline: `undo` decides from the live state"
                    .to_owned(),
            ),
        ),
    }
}

/// A change not attempted because the run's deadline was near.
fn not_attempted() -> ActionState {
    ActionState::Skipped(
        "not attempted: the run's deadline was near (no change starts after it)".to_owned(),
    )
}

/// The outcome of a change whose answer was lost: the live state decides whether IAM made it
/// (a timeout after IAM acted, a dropped connection, a server error). When the live state
/// cannot be read either, the outcome is journaled unknown, for `undo` and the next run.
async fn decide(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    error: AwsError,
    deadline: &Deadline,
) -> (ActionState, Phase, Option<String>) {
    match deadline.bounded(made(iam, pace, action)).await {
        Some(Ok(true)) => (
            ActionState::Applied,
            Phase::Done,
            Some(format!(
                "its answer was lost ({error}); the live state shows it made"
            )),
        ),
        Some(Ok(false)) => {
            let note = format!("its answer was lost ({error}); the live state shows it not made");
            (ActionState::Failed(error), Phase::Failed, Some(note))
        }
        Some(Err(read)) => (
            ActionState::Failed(unknown(&format!(
                "its answer was lost ({error}), and the live state could not be read ({read})"
            ))),
            Phase::Unknown,
            Some(format!("{error}; the live state could not be read: {read}")),
        ),
        None => (
            ActionState::Failed(unknown(&format!(
                "its answer was lost ({error}), and the run's deadline came before the live state was read"
            ))),
            Phase::Unknown,
            Some(error.to_string()),
        ),
    }
}

/// Whether the live state shows `action` made.
async fn made(iam: &Client, pace: &Pace, action: &Action) -> Result<bool, AwsError> {
    let user = action.user_name.as_str();
    let key_id = action.access_key_id.as_deref().unwrap_or_default();
    Ok(match action.kind {
        ActionKind::DeactivateKey => matches!(
            live_key(iam, pace, user, key_id).await?,
            Some((StatusType::Inactive, _))
        ),
        ActionKind::DeleteInactiveKey => live_key(iam, pace, user, key_id).await?.is_none(),
        ActionKind::DeletePassword => !has_login_profile(iam, pace, user).await?,
        ActionKind::DeactivateSshKey
        | ActionKind::DeactivateServiceCredential
        | ActionKind::DeactivateSigningCertificate => {
            let live = others::live(iam, pace, calls(action.kind), user, key_id).await?;
            matches!(live, Some((KeyStatus::Inactive, _)))
        }
    })
}

/// The error that stands for a change whose outcome nobody knows yet.
fn unknown(message: &str) -> AwsError {
    AwsError {
        operation: "Remediate".into(),
        code: "OutcomeUnknown".to_owned(),
        message: format!("{message}: the journal says so, and `undo` checks the live state"),
    }
}

/// Reads the credential's live state: whether the change still qualifies.
async fn verify(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    now: Timestamp,
) -> Result<Check, AwsError> {
    match action.kind {
        ActionKind::DeactivateKey | ActionKind::DeleteInactiveKey => {
            verify_key(iam, pace, action, now).await
        }
        ActionKind::DeletePassword => verify_password(iam, pace, action, now).await,
        ActionKind::DeactivateSshKey
        | ActionKind::DeactivateServiceCredential
        | ActionKind::DeactivateSigningCertificate => {
            let Some(id) = action.access_key_id.as_deref() else {
                return Ok(Check::Skip("the credential's ID is not known".to_owned()));
            };
            let calls = calls(action.kind);
            let live = others::live(iam, pace, calls, &action.user_name, id).await?;
            Ok(match others::no_longer(live, action.threshold, now) {
                Some(reason) => Check::Skip(reason),
                None => Check::Proceed(Held::Active),
            })
        }
    }
}

/// The calls that read and change the credential of a deactivation of `kind`.
fn calls(kind: ActionKind) -> others::Calls {
    match kind {
        ActionKind::DeactivateSshKey => others::Calls::SshKey,
        ActionKind::DeactivateServiceCredential => others::Calls::ServiceCredential,
        _ => others::Calls::SigningCertificate,
    }
}

/// Reads an access key's live state: whether its change still qualifies.
async fn verify_key(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    now: Timestamp,
) -> Result<Check, AwsError> {
    let Some(key_id) = action.access_key_id.as_deref() else {
        return Ok(Check::Skip("the access key ID is not known".to_owned()));
    };
    let wanted = if action.kind == ActionKind::DeactivateKey {
        StatusType::Active
    } else {
        StatusType::Inactive
    };
    let Some((status, created)) = live_key(iam, pace, &action.user_name, key_id).await? else {
        return Ok(Check::Skip("the key no longer exists".to_owned()));
    };
    if status != wanted {
        return Ok(Check::Skip(format!("the key is now {}", status.as_str())));
    }
    let last_used = last_use(iam, pace, key_id).await?;
    if action.kind == ActionKind::DeactivateKey
        && let Some(reason) = too_recent(created, last_used, action.threshold, now)
    {
        return Ok(Check::Skip(reason));
    }
    if let (Some(since), Some(used)) = (action.inactive_since, last_used)
        && used > since
    {
        return Ok(Check::Skip(format!(
            "used ({used}) after it was recorded inactive ({since}): its grace period starts again"
        )));
    }
    Ok(Check::Proceed(if status == StatusType::Active {
        Held::Active
    } else {
        Held::Inactive
    }))
}

/// Reads a console password's live state: whether its deletion still qualifies.
async fn verify_password(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    now: Timestamp,
) -> Result<Check, AwsError> {
    pace.ready().await;
    let profile = match iam
        .get_login_profile()
        .user_name(&action.user_name)
        .send()
        .await
    {
        Ok(output) => output.login_profile().cloned(),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(error) => return Err(AwsError::from_sdk("GetLoginProfile", &error)),
    };
    let Some(profile) = profile else {
        return Ok(Check::Skip(
            "the user no longer has a console password".to_owned(),
        ));
    };
    if profile.password_reset_required() {
        return Ok(Check::Skip(
            "a password reset is waiting for its first sign-in".to_owned(),
        ));
    }
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
    let set_at = timestamp(profile.create_date()).max(action.set_at);
    if let Some(reason) = too_recent(set_at, last_used, action.threshold, now) {
        return Ok(Check::Skip(reason));
    }
    Ok(Check::Proceed(Held::LoginProfile))
}

/// Whether a change was sent.
enum Sent {
    /// Made; with a note when it was found already made.
    Made(Option<String>),
    /// Not sent: the hard phase began while it waited for its turn.
    NotSent,
}

/// Makes the change; `Sent::Made(Some(note))` when it was found already made. A delete answered
/// `NoSuchEntity` is checked live: if the credential is gone, an earlier attempt of the same
/// call (retried by the SDK after a timeout) made the change. The hard deadline is looked at
/// last, after the pace's wait, just before the request goes out.
async fn change(
    iam: &Client,
    pace: &Pace,
    action: &Action,
    deadline: &Deadline,
) -> Result<Sent, AwsError> {
    pace.ready().await;
    if deadline.past_hard() {
        return Ok(Sent::NotSent);
    }
    send(iam, pace, action).await.map(Sent::Made)
}

/// Sends the change (see [`change`]).
async fn send(iam: &Client, pace: &Pace, action: &Action) -> Result<Option<String>, AwsError> {
    let user = action.user_name.as_str();
    let key_id = action.access_key_id.as_deref().unwrap_or_default();
    let already = "found already done: an earlier attempt of this call made it".to_owned();
    match action.kind {
        ActionKind::DeactivateKey => iam
            .update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(StatusType::Inactive)
            .send()
            .await
            .map(|_| None)
            .map_err(|error| AwsError::from_sdk("UpdateAccessKey", &error)),
        ActionKind::DeleteInactiveKey => {
            match iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(key_id)
                .send()
                .await
            {
                Ok(_) => Ok(None),
                Err(error) => {
                    let error = AwsError::from_sdk("DeleteAccessKey", &error);
                    if error.code == "NoSuchEntity"
                        && live_key(iam, pace, user, key_id).await?.is_none()
                    {
                        return Ok(Some(already));
                    }
                    Err(error)
                }
            }
        }
        ActionKind::DeactivateSshKey
        | ActionKind::DeactivateServiceCredential
        | ActionKind::DeactivateSigningCertificate => {
            others::set_status(iam, calls(action.kind), user, key_id, StatusType::Inactive)
                .await
                .map(|()| None)
        }
        ActionKind::DeletePassword => {
            match iam.delete_login_profile().user_name(user).send().await {
                Ok(_) => Ok(None),
                Err(error) => {
                    let error = AwsError::from_sdk("DeleteLoginProfile", &error);
                    if error.code == "NoSuchEntity" && !has_login_profile(iam, pace, user).await? {
                        return Ok(Some(already));
                    }
                    Err(error)
                }
            }
        }
    }
}

/// Whether the user has a console password now.
async fn has_login_profile(iam: &Client, pace: &Pace, user_name: &str) -> Result<bool, AwsError> {
    pace.ready().await;
    match iam.get_login_profile().user_name(user_name).send().await {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(false)
        }
        Err(error) => Err(AwsError::from_sdk("GetLoginProfile", &error)),
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

/// The journal entry of `action` at `phase`.
fn entry(action: &Action, run: &str, previous: Held, phase: Phase, note: Option<String>) -> Entry {
    let (credential, new_state) = match action.kind {
        ActionKind::DeactivateKey => (CredentialKind::AccessKey, Held::Inactive),
        ActionKind::DeleteInactiveKey => (CredentialKind::AccessKey, Held::Deleted),
        ActionKind::DeletePassword => (CredentialKind::Password, Held::Deleted),
        ActionKind::DeactivateSshKey
        | ActionKind::DeactivateServiceCredential
        | ActionKind::DeactivateSigningCertificate => (
            action.credential.unwrap_or(calls(action.kind).kind()),
            Held::Inactive,
        ),
    };
    Entry {
        time: Timestamp::now(),
        run: run.to_owned(),
        account_id: action.account_id.clone(),
        user_name: action.user_name.clone(),
        credential,
        access_key_id: action.access_key_id.clone(),
        action: action.kind.into(),
        previous_state: previous,
        new_state,
        phase,
        note,
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

/// Reactivates the keys that `entries` (all in one account, the last entry of each credential)
/// say were deactivated, or may have been (an intent without an outcome, an outcome unknown: the
/// live state decides), and are still Inactive, unless something shows that someone else
/// deactivated them since (see [`left_alone`]); deletions are reported as irreversible.
/// `recorded` is what runs recorded of the account's inactive keys, by key ID (its state kept
/// from run to run, when it could be read).
pub async fn undo(
    iam: &Client,
    pace: &Pace,
    entries: Vec<Entry>,
    journal: &Journal,
    run: &str,
    recorded: &BTreeMap<String, Recorded>,
) -> Vec<(Entry, UndoState)> {
    let mut outcomes = Vec::with_capacity(entries.len());
    for entry in entries {
        let state = match (entry.action, entry.phase, entry.access_key_id.as_deref()) {
            (_, Phase::Failed, _) => {
                UndoState::Skipped("the change failed: nothing changed".to_owned())
            }
            (Change::DeactivateKey, _, Some(key_id)) => {
                reactivate_journaled(iam, pace, &entry, key_id, journal, run, recorded).await
            }
            (Change::DeactivateKey, _, None) => {
                UndoState::Skipped("the entry has no access key ID".to_owned())
            }
            (
                Change::DeactivateSshKey
                | Change::DeactivateServiceCredential
                | Change::DeactivateSigningCertificate,
                _,
                Some(id),
            ) => reactivate_other(iam, pace, &entry, id, journal, run).await,
            (
                Change::DeactivateSshKey
                | Change::DeactivateServiceCredential
                | Change::DeactivateSigningCertificate,
                _,
                None,
            ) => UndoState::Skipped("the entry has no credential ID".to_owned()),
            (Change::ReactivateKey | Change::Reactivate, _, _) => {
                UndoState::Skipped("already reactivated".to_owned())
            }
            (Change::DeleteInactiveKey | Change::DeletePassword, _, _) => UndoState::Irreversible,
        };
        outcomes.push((entry, state));
    }
    outcomes
}

/// What a run recorded of an inactive key: since when it is inactive, and whether stalecreds
/// deactivated it (the state kept from run to run, as `undo` reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Since when the key is recorded inactive.
    pub since: Timestamp,
    /// Whether a run of stalecreds deactivated it (otherwise a run first saw it inactive).
    pub by_stalecreds: bool,
}

/// Why an Inactive key that the journal says stalecreds deactivated (at `entry.time`) is left
/// alone: it was used after that (so someone reactivated it, and it was deactivated again
/// since), or a later run recorded it inactive from a later time (it was seen active again).
fn left_alone(
    entry: &Entry,
    last_used: Option<Timestamp>,
    recorded: &BTreeMap<String, Recorded>,
) -> Option<String> {
    if let Some(used) = last_used.filter(|used| *used > entry.time) {
        return Some(format!(
            "used ({used}) after stalecreds deactivated it ({}): someone reactivated it, and it was deactivated again since; left alone",
            entry.time
        ));
    }
    let recorded = recorded
        .get(entry.access_key_id.as_deref()?)
        .filter(|key| key.since > entry.time)?;
    Some(format!(
        "a later run saw it active again; it is inactive since {} ({}): someone else deactivated it; left alone",
        recorded.since,
        if recorded.by_stalecreds {
            "by another run of stalecreds, whose journal undoes it"
        } else {
            "not by stalecreds"
        }
    ))
}

/// Reactivates one key, with its intent and outcome journaled.
async fn reactivate_journaled(
    iam: &Client,
    pace: &Pace,
    entry: &Entry,
    key_id: &str,
    journal: &Journal,
    run: &str,
    recorded: &BTreeMap<String, Recorded>,
) -> UndoState {
    if let Some(state) = still_to_undo(iam, pace, entry, key_id, recorded).await {
        return state;
    }
    let send = async {
        iam.update_access_key()
            .user_name(&entry.user_name)
            .access_key_id(key_id)
            .status(StatusType::Active)
            .send()
            .await
            .map(drop)
            .map_err(|error| AwsError::from_sdk("UpdateAccessKey", &error))
    };
    reactivation(pace, entry, journal, run, Change::ReactivateKey, send).await
}

/// Reactivates one SSH key, service-specific credential or signing certificate the journal says
/// stalecreds deactivated (or may have), when it is still Inactive; journaled like a key's.
async fn reactivate_other(
    iam: &Client,
    pace: &Pace,
    entry: &Entry,
    id: &str,
    journal: &Journal,
    run: &str,
) -> UndoState {
    let Some(calls) = others::Calls::of(entry.credential) else {
        return UndoState::Skipped(format!(
            "a {} cannot be reactivated",
            entry.credential.as_str()
        ));
    };
    match others::live(iam, pace, calls, &entry.user_name, id).await {
        Err(error) => return UndoState::Failed(error),
        Ok(None) => return UndoState::Skipped("it no longer exists".to_owned()),
        Ok(Some((KeyStatus::Active, _))) if entry.phase.is_undecided() => {
            return UndoState::Skipped(
                "the journal has no outcome and it is active: the deactivation was not made"
                    .to_owned(),
            );
        }
        Ok(Some((KeyStatus::Active, _))) => {
            return UndoState::Skipped("it is already active".to_owned());
        }
        Ok(Some((KeyStatus::Expired, _))) => {
            return UndoState::Skipped("it has expired since".to_owned());
        }
        Ok(Some((KeyStatus::Inactive, _))) => {}
    }
    let send = others::set_status(iam, calls, &entry.user_name, id, StatusType::Active);
    reactivation(pace, entry, journal, run, Change::Reactivate, send).await
}

/// A reactivation: its intent made durable, then `send` (in the account's pace), then its
/// outcome journaled (an answer lost is `unknown`, for the next undo to decide live).
async fn reactivation(
    pace: &Pace,
    entry: &Entry,
    journal: &Journal,
    run: &str,
    change: Change,
    send: impl std::future::Future<Output = Result<(), AwsError>>,
) -> UndoState {
    let record = |phase, note| Entry {
        time: Timestamp::now(),
        run: run.to_owned(),
        action: change,
        previous_state: Held::Inactive,
        new_state: Held::Active,
        phase,
        note,
        ..entry.clone()
    };
    if let Err(error) = journal.append(&record(Phase::Intent, None), None).await {
        return UndoState::Skipped(format!(
            "not attempted: its journal entry could not be made durable ({})",
            describe(&error)
        ));
    }
    pace.ready().await;
    let (state, phase, note) = match send.await {
        Ok(()) => (UndoState::Reactivated, Phase::Done, None),
        Err(error) if error.answer_lost() => {
            let note = error.to_string();
            (UndoState::Failed(error), Phase::Unknown, Some(note))
        }
        Err(error) => {
            let note = error.to_string();
            (UndoState::Failed(error), Phase::Failed, Some(note))
        }
    };
    let _ = journal.append(&record(phase, note), None).await;
    state
}

/// Why a journaled deactivation is not undone, read live; `None` when it is to be undone.
async fn still_to_undo(
    iam: &Client,
    pace: &Pace,
    entry: &Entry,
    key_id: &str,
    recorded: &BTreeMap<String, Recorded>,
) -> Option<UndoState> {
    match live_key(iam, pace, &entry.user_name, key_id).await {
        Err(error) => return Some(UndoState::Failed(error)),
        Ok(None) => return Some(UndoState::Skipped("the key no longer exists".to_owned())),
        Ok(Some((StatusType::Active, _))) if entry.phase.is_undecided() => {
            return Some(UndoState::Skipped(
                "the journal has no outcome and the key is active: the deactivation was not made"
                    .to_owned(),
            ));
        }
        Ok(Some((StatusType::Active, _))) => {
            return Some(UndoState::Skipped("the key is already active".to_owned()));
        }
        Ok(Some(_)) => {}
    }
    match last_use(iam, pace, key_id).await {
        Ok(last_used) => left_alone(entry, last_used, recorded).map(UndoState::Skipped),
        Err(error) => Some(UndoState::Failed(error)),
    }
}

/// The key's last use, read live.
async fn last_use(iam: &Client, pace: &Pace, key_id: &str) -> Result<Option<Timestamp>, AwsError> {
    pace.ready().await;
    Ok(iam
        .get_access_key_last_used()
        .access_key_id(key_id)
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("GetAccessKeyLastUsed", &error))?
        .access_key_last_used()
        .and_then(|used| used.last_used_date())
        .and_then(timestamp))
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

    fn deactivated_at(time: &str) -> Entry {
        Entry {
            time: time.parse().expect("valid"),
            run: "2026-11-28T10:00:00Z".to_owned(),
            account_id: "111111111111".to_owned(),
            user_name: "alice".to_owned(),
            credential: CredentialKind::AccessKey,
            access_key_id: Some("AKIAALICE".to_owned()),
            action: Change::DeactivateKey,
            previous_state: Held::Active,
            new_state: Held::Inactive,
            phase: Phase::Done,
            note: None,
        }
    }

    fn recorded(since: &str, by_stalecreds: bool) -> BTreeMap<String, Recorded> {
        BTreeMap::from([(
            "AKIAALICE".to_owned(),
            Recorded {
                since: since.parse().expect("valid"),
                by_stalecreds,
            },
        )])
    }

    #[test]
    fn a_key_is_left_alone_when_something_shows_someone_else_deactivated_it_since() {
        let entry = deactivated_at("2026-11-28T10:00:05Z");
        let none = BTreeMap::new();
        // Nothing since: undone.
        assert_eq!(left_alone(&entry, at("2026-10-01T00:00:00Z"), &none), None);
        assert_eq!(left_alone(&entry, None, &none), None);
        // Used after stalecreds deactivated it: someone reactivated it in between.
        let used = left_alone(&entry, at("2026-11-29T08:00:00Z"), &none).expect("left alone");
        assert!(used.contains("someone reactivated it"), "{used}");
        // Our own run's record (from the run's `now`, just before the change): undone.
        let ours = recorded("2026-11-28T10:00:00Z", true);
        assert_eq!(left_alone(&entry, None, &ours), None);
        // A later run recorded it inactive from a later time: it was seen active in between.
        let later = recorded("2026-11-30T10:00:00Z", false);
        let seen = left_alone(&entry, None, &later).expect("left alone");
        assert!(seen.contains("not by stalecreds"), "{seen}");
        let again = recorded("2026-11-30T10:00:00Z", true);
        let ours_again = left_alone(&entry, None, &again).expect("left alone");
        assert!(
            ours_again.contains("another run of stalecreds"),
            "{ours_again}"
        );
    }
}
