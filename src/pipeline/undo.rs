//! `stalecreds undo`: reactivates what a run deactivated, from its journal (a local file, or
//! S3), through each account's remediation role, as the run that made the changes did. A change
//! whose outcome the journal does not know is decided from the live state; a key that something
//! shows was deactivated again by someone else since (a use after the change, a later run's
//! record in the state) is left alone, and said so.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use jiff::Timestamp;

use super::context::{Run, Via};
use super::{Context, RunError};
use crate::assume;
use crate::aws::Pace;
use crate::remediate::Recorded;
use crate::remediate::apply::UndoState;
use crate::remediate::journal::{self, Change, Entry, Journal, JournalError, Phase};
use crate::rules::CredentialKind;
use crate::state;

/// Why an undo could not start.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The caller could not be identified.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Reads the journal at `location` (a path, or an `s3://` object or prefix) and undoes the
/// deactivations it records (of one `run`, or all): for each key, the journal's last entry
/// decides, so a key already reactivated is not reactivated twice, and an intent without an
/// outcome is decided by the key's live state. Reactivations are journaled in `out`.
pub async fn undo(
    ctx: &Context<'_>,
    location: &str,
    run: Option<&str>,
    out: &Journal,
) -> Result<Vec<(Entry, UndoState)>, UndoError> {
    let entries = if location.starts_with("s3://") {
        journal::read_s3(&ctx.clients.s3, location).await?
    } else {
        journal::read(std::path::Path::new(location))?
    };
    let caller = assume::caller(&ctx.clients.sts)
        .await
        .map_err(RunError::Caller)?;
    let mut by_account: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in last_entries(entries, run) {
        by_account
            .entry(entry.account_id.clone())
            .or_default()
            .push(entry);
    }
    let accounts = by_account.keys().map(|id| (id.clone(), None));
    let planned = Run::of(ctx, &caller, ctx.now, accounts);
    let undo_run = Timestamp::now().to_string();
    let results: Vec<Vec<(Entry, UndoState)>> = futures::stream::iter(by_account)
        .map(|(account_id, entries)| {
            let (planned, undo_run) = (&planned, &undo_run);
            async move { undo_account(planned, &account_id, entries, out, undo_run).await }
        })
        .buffer_unordered(ctx.settings.concurrency())
        .collect()
        .await;
    Ok(results.into_iter().flatten().collect())
}

/// Undoes one account's entries, through the role that makes its changes (the remediation role
/// of the configuration; the audit role, or the caller's own credentials, when it has none),
/// with what later runs recorded of its keys as evidence.
async fn undo_account(
    run: &Run<'_>,
    account_id: &str,
    entries: Vec<Entry>,
    out: &Journal,
    undo_run: &str,
) -> Vec<(Entry, UndoState)> {
    let recorded = recorded(run, account_id).await;
    let account = run.account(account_id);
    let pace = Arc::new(Pace::new(run.ctx.settings.rate()));
    match run.iam(&account, Via::Changes, &pace).await {
        Ok(iam) => crate::remediate::undo(&iam, &pace, entries, out, undo_run, &recorded).await,
        Err(error) => entries
            .into_iter()
            .map(|entry| (entry, UndoState::Failed(error.as_error())))
            .collect(),
    }
}

/// What runs recorded of the account's inactive keys (its state kept from run to run): evidence
/// that someone else deactivated a key since. Nothing when there is no state, or it cannot be
/// read.
async fn recorded(run: &Run<'_>, account_id: &str) -> BTreeMap<String, Recorded> {
    let state = match &run.ctx.store {
        Some(store) => store.read(account_id).await.unwrap_or_else(|error| {
            tracing::warn!(account = %account_id, error = %crate::aws::describe(&error), "the account's state could not be read: undo judges from the live state alone");
            None
        }),
        None => None,
    };
    state
        .iter()
        .flat_map(|state| &state.inactive_keys)
        .map(|(id, key)| {
            let by_stalecreds = key.by == state::Observed::Deactivated;
            (
                id.clone(),
                Recorded {
                    since: key.since,
                    by_stalecreds,
                },
            )
        })
        .collect()
}

/// The last entry of each credential that still calls for undoing, in journal order: changes
/// of `run` (or of any run), and the reactivations of any run. A reactivation that failed, or
/// whose outcome is unknown, does not count: the change before it is undone again (the live
/// state decides). A credential whose last entry is a reactivation has nothing left to undo.
fn last_entries(entries: Vec<Entry>, run: Option<&str>) -> Vec<Entry> {
    let mut last: BTreeMap<(String, String, Option<String>, CredentialKind), Entry> =
        BTreeMap::new();
    for entry in entries {
        let reactivation = entry.action == Change::ReactivateKey;
        if run.is_some_and(|run| entry.run != run) && !reactivation {
            continue;
        }
        if reactivation && entry.phase != Phase::Done {
            continue;
        }
        let key = (
            entry.account_id.clone(),
            entry.user_name.clone(),
            entry.access_key_id.clone(),
            entry.credential,
        );
        last.insert(key, entry);
    }
    last.into_values()
        .filter(|entry| entry.action != Change::ReactivateKey)
        .collect()
}
