//! The remediation phase, after every account is scanned: the planned changes of the whole run
//! are ordered ([`remediate::prioritize`]), the first `max_actions` are applied when a journal
//! is given (through each account's remediation role, verified first, journaled, never after
//! the deadline), and the rest are deferred.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;

use super::context::{Run, Via};
use crate::aws::{AwsError, Pace};
use crate::remediate::journal::{Change, Entry, Journal, Phase};
use crate::remediate::{self, Action, ActionOutcome, ActionState};
use crate::report::{AccountOutcome, AccountResult};

/// Orders, caps and (with a journal) applies the planned changes of `outcomes`, and records
/// what became of each in place.
pub(super) async fn remediate_all(
    run: &Run<'_>,
    outcomes: &mut [AccountOutcome],
    apply: Option<&Journal>,
    earlier: &[Entry],
) {
    let max_actions = run
        .ctx
        .settings
        .remediation
        .as_ref()
        .map_or(0, |remediation| remediation.max_actions);
    // Changes an earlier attempt of this merge already made (or tried): their outcome stands,
    // and they count against the cap.
    let (mut states, mut planned) = match apply {
        Some(_) => recall(planned(outcomes), earlier),
        None => (Vec::new(), planned(outcomes)),
    };
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
        Some(journal) => states.extend(apply_all(run, planned, journal).await),
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

/// The changes planned in every account of `outcomes`.
fn planned(outcomes: &[AccountOutcome]) -> Vec<Action> {
    outcomes
        .iter()
        .flat_map(|outcome| match &outcome.result {
            AccountResult::Scanned { actions, .. } => actions
                .iter()
                .filter(|planned| planned.state == ActionState::Planned)
                .map(|planned| planned.action.clone())
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The planned changes that an earlier attempt of this run already made or tried, with what
/// became of each (they count against the cap), and the rest, still to make.
fn recall(planned: Vec<Action>, earlier: &[Entry]) -> (Vec<(Action, ActionState)>, Vec<Action>) {
    let attempted = attempted(earlier);
    let key = |action: &Action| {
        (
            action.account_id.clone(),
            action.user_name.clone(),
            action.access_key_id.clone(),
        )
    };
    let (done, rest): (Vec<Action>, Vec<Action>) = planned
        .into_iter()
        .partition(|action| attempted.contains_key(&key(action)));
    let states = done
        .into_iter()
        .map(|action| {
            let state = match attempted.get(&key(&action)) {
                Some(Phase::Done) => ActionState::Applied,
                Some(Phase::Failed) => ActionState::Failed(earlier_error("the change failed in an earlier attempt of this run (see the journal)")),
                _ => ActionState::Failed(earlier_error("an earlier attempt of this run was cut off during the change: its outcome is unknown (see the journal; `undo` checks the live state)")),
            };
            (action, state)
        })
        .collect();
    (states, rest)
}

/// Applies `planned` (already capped), account by account, each through the role that makes
/// its changes, verified first and journaled, never after the deadline.
async fn apply_all(
    run: &Run<'_>,
    planned: Vec<Action>,
    journal: &Journal,
) -> Vec<(Action, ActionState)> {
    let mut by_account: BTreeMap<String, Vec<Action>> = BTreeMap::new();
    for action in planned {
        by_account
            .entry(action.account_id.clone())
            .or_default()
            .push(action);
    }
    let applied: Vec<Vec<ActionOutcome>> = futures::stream::iter(by_account)
        .map(|(account_id, actions)| async move {
            let account = run.account(&account_id);
            let pace = Arc::new(Pace::new(run.ctx.settings.rate()));
            match run.iam(&account, Via::Changes, &pace).await {
                Ok(iam) => {
                    let deadline = &run.ctx.deadline;
                    remediate::apply(&iam, &pace, actions, run.now, journal, deadline).await
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
        .buffer_unordered(run.ctx.settings.concurrency())
        .collect()
        .await;
    applied
        .into_iter()
        .flatten()
        .map(|outcome| (outcome.action, outcome.state))
        .collect()
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
