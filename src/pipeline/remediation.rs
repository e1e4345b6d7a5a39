//! The remediation phase, after every account is scanned: the planned changes of the whole run
//! are ordered ([`remediate::prioritize`]), the first `max_actions` are applied when a journal
//! is given (through each account's remediation role, verified first, journaled, never after
//! the deadline), and the rest are deferred.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use jiff::Timestamp;

use super::Clients;
use crate::assume::Caller;
use crate::aws::AwsError;
use crate::aws::Pace;
use crate::config::Settings;
use crate::deadline::Deadline;
use crate::remediate::journal::{Change, Entry, Journal, Phase};
use crate::remediate::{self, Action, ActionOutcome, ActionState};
use crate::report::{AccountOutcome, AccountResult};

/// Orders, caps and (with a journal) applies the planned changes of `outcomes`, and records
/// what became of each in place.
#[allow(clippy::too_many_arguments)] // The run's context, passed explicitly: no global state.
pub(super) async fn remediate_all(
    settings: &Settings,
    clients: &Clients,
    caller: &Caller,
    now: Timestamp,
    max_actions: usize,
    outcomes: &mut [AccountOutcome],
    apply: Option<&Journal>,
    earlier: &[Entry],
    deadline: &Deadline,
) {
    let planned: Vec<Action> = outcomes
        .iter()
        .flat_map(|outcome| match &outcome.result {
            AccountResult::Scanned { actions, .. } => actions
                .iter()
                .filter(|planned| planned.state == ActionState::Planned)
                .map(|planned| planned.action.clone())
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    // Changes an earlier attempt of this merge already made (or tried): their outcome stands,
    // and they count against the cap.
    let attempted = attempted(earlier);
    let (done, mut planned): (Vec<Action>, Vec<Action>) = planned.into_iter().partition(|action| {
        apply.is_some()
            && attempted.contains_key(&(
                action.account_id.clone(),
                action.user_name.clone(),
                action.access_key_id.clone(),
            ))
    });
    let mut states: Vec<(Action, ActionState)> = done
        .into_iter()
        .map(|action| {
            let key = (
                action.account_id.clone(),
                action.user_name.clone(),
                action.access_key_id.clone(),
            );
            let state = match attempted.get(&key) {
                Some(Phase::Done) => ActionState::Applied,
                Some(Phase::Failed) => ActionState::Failed(earlier_error("the change failed in an earlier attempt of this run (see the journal)")),
                _ => ActionState::Failed(earlier_error("an earlier attempt of this run was cut off during the change: its outcome is unknown (see the journal; `undo` checks the live state)")),
            };
            (action, state)
        })
        .collect();
    remediate::prioritize(&mut planned);
    let cap_left = max_actions.saturating_sub(states.len());
    let deferred: Vec<Action> = planned.split_off(cap_left.min(planned.len()));
    states.extend(
        deferred
            .into_iter()
            .map(|action| (action, ActionState::Deferred)),
    );

    match apply {
        None => states.extend(
            planned
                .into_iter()
                .map(|action| (action, ActionState::Planned)),
        ),
        Some(journal) => {
            let mut by_account: BTreeMap<String, Vec<Action>> = BTreeMap::new();
            for action in planned {
                by_account
                    .entry(action.account_id.clone())
                    .or_default()
                    .push(action);
            }
            let applied: Vec<Vec<ActionOutcome>> = futures::stream::iter(by_account)
                .map(|(account_id, actions)| async move {
                    let plan = settings.plan(&account_id, None, caller);
                    let chain = plan.remediation.and_then(|(_, chain)| chain);
                    let pace = Arc::new(Pace::new(settings.rate));
                    let iam = clients
                        .iam_for(
                            caller,
                            &account_id,
                            plan.profile.as_deref(),
                            chain.as_ref(),
                            &pace,
                        )
                        .await;
                    match iam {
                        Ok(iam) => {
                            remediate::apply(&iam, &pace, actions, now, journal, deadline).await
                        }
                        Err(error) => actions
                            .into_iter()
                            .map(|action| ActionOutcome {
                                action,
                                state: ActionState::Failed(error.as_error()),
                            })
                            .collect(),
                    }
                })
                .buffer_unordered(settings.concurrency.get())
                .collect()
                .await;
            states.extend(
                applied
                    .into_iter()
                    .flatten()
                    .map(|outcome| (outcome.action, outcome.state)),
            );
        }
    }

    let states: HashMap<Action, ActionState> = states.into_iter().collect();
    for outcome in outcomes.iter_mut() {
        if let AccountResult::Scanned { actions, .. } = &mut outcome.result {
            for planned in actions.iter_mut() {
                if let Some(state) = states.get(&planned.action) {
                    planned.state = state.clone();
                }
            }
        }
    }
}

/// The changes an earlier merge of the run attempted, by credential (account, user, key), with
/// the last phase each reached; reactivations are not changes of the run.
fn attempted(earlier: &[Entry]) -> BTreeMap<(String, String, Option<String>), Phase> {
    earlier
        .iter()
        .filter(|entry| entry.action != Change::ReactivateKey)
        .map(|entry| {
            (
                (
                    entry.account_id.clone(),
                    entry.user_name.clone(),
                    entry.access_key_id.clone(),
                ),
                entry.phase,
            )
        })
        .collect()
}

/// The error that stands for a change an earlier attempt of the run made, or tried.
fn earlier_error(message: &str) -> AwsError {
    AwsError {
        operation: "Remediate".into(),
        code: "EarlierAttempt".to_owned(),
        message: message.to_owned(),
    }
}
