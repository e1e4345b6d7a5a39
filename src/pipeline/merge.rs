//! The last step of a run: the plan and its batches' partials become one report, one
//! remediation under the one cap, one state, one digest.
//!
//! Every partial is checked against the plan (schema, run ID, settings fingerprint, batch
//! index, accounts of that batch and no other, none twice). A batch without an accepted partial
//! leaves its accounts not reached: the run is incomplete, and, as for a run cut short by its
//! deadline, **no change is made**: the cap orders the whole organization's changes, and part of
//! the organization is missing. A merge that runs again (a retry) continues the run's journal:
//! changes already attempted count against the cap and are not attempted twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures::StreamExt;

use super::context::Run;
use super::plan::{Partial, Plan, SCHEMA};
use super::run::{not_reached, seen};
use super::{Delivery, Scanned, delivery, remediation};
use crate::changes::{self, Baseline, Prior};
use crate::config::Settings;
use crate::remediate::journal::{Entry, Journal};
use crate::report::changes::{BaselineSource, Compared};
use crate::report::{
    self, AccountOutcome, AccountResult, RemediationFacts, RunFacts, StateSummary,
};
use crate::state::{self, AccountState};

/// What a merge works from, beside its run.
pub(super) struct Merging<'a> {
    /// The run's plan.
    pub plan: &'a Plan,
    /// The partials found, in any order.
    pub partials: Vec<Partial>,
    /// The journal, with `--apply`.
    pub journal: Option<&'a Journal>,
    /// The journal's entries of this run written by an earlier merge (a retry).
    pub earlier: Vec<Entry>,
    /// Also write the report to this file.
    pub output: Option<&'a PathBuf>,
    /// Publish the digest at most once for this run ID.
    pub once_per: Option<&'a str>,
    /// The baselines of a previous report (`--since`), instead of the state's.
    pub since: Option<&'a BTreeMap<String, Baseline>>,
}

/// Merges: the one report, remediation, state and delivery.
pub(super) async fn merge(run: &Run<'_>, merging: Merging<'_>) -> Scanned {
    let Merging {
        plan,
        partials,
        journal,
        earlier,
        output,
        once_per,
        since,
    } = merging;
    let settings = run.ctx.settings;
    let Assembled {
        mut outcomes,
        states,
        state_errors,
        incomplete,
    } = assemble(run, plan, partials);
    // An incomplete run makes no change (see the module's documentation).
    let applying = journal.filter(|_| incomplete.is_none());
    if settings.remediation.is_some() {
        remediation::remediate_all(run, &mut outcomes, applying, &earlier).await;
    }
    let kept = Kept {
        states,
        state_errors,
    };
    let (source, compared, state) = remember(run, &outcomes, kept, since).await;
    let facts = RunFacts {
        generated_at: plan.now,
        max_idle_days: settings.defaults.policy.max_idle_days,
        mode: settings.mode,
        caller_account_id: Some(plan.caller.account_id.clone()),
        remediation: remediation_facts(settings, journal, incomplete.as_deref()),
        state,
        cis_versions: settings.cis_versions.clone(),
    };
    let mut report = report::build(facts, outcomes);
    report::changes::annotate(&mut report, source, &compared);
    let request = delivery::Request {
        output,
        once_per,
        journal,
    };
    let delivery: Delivery = delivery::deliver(run.ctx, &report, request).await;
    for error in &delivery.errors {
        tracing::error!(error = %crate::aws::describe(error), "a result could not be delivered");
    }
    Scanned { report, delivery }
}

/// The states the batches read, and the accounts whose state could not be read (with why).
struct Kept {
    states: BTreeMap<String, Option<AccountState>>,
    state_errors: BTreeMap<String, String>,
}

/// What changed since each account's baseline (the state's, or `--since`'s), and the state
/// written for the next run.
async fn remember(
    run: &Run<'_>,
    outcomes: &[AccountOutcome],
    kept: Kept,
    since: Option<&BTreeMap<String, Baseline>>,
) -> (
    BaselineSource,
    BTreeMap<String, Compared>,
    Option<StateSummary>,
) {
    let store = run.ctx.store.as_ref();
    let source = match (since, store) {
        (Some(_), _) => BaselineSource::Report,
        (None, Some(_)) => BaselineSource::State,
        (None, None) => BaselineSource::None,
    };
    let compared = compare_all(source, outcomes, &kept, since, run.now);
    let state = match store {
        Some(store) if !kept.states.is_empty() || !kept.state_errors.is_empty() => {
            let mut summary = write_states(run, store, outcomes, kept.states, &compared).await;
            summary.unreadable = kept
                .state_errors
                .iter()
                .map(|(account_id, why)| format!("{account_id}: {why}"))
                .collect();
            Some(summary)
        }
        _ => None,
    };
    (source, compared, state)
}

/// What the partials of a run add up to.
struct Assembled {
    /// Every account's outcome: skipped by the plan, scanned by an accepted partial, or not
    /// reached.
    outcomes: Vec<AccountOutcome>,
    /// The states the batches read.
    states: BTreeMap<String, Option<AccountState>>,
    /// The accounts whose state could not be read, with why.
    state_errors: BTreeMap<String, String>,
    /// Why the run is incomplete, if it is.
    incomplete: Option<String>,
}

/// Problems named in full in the run's `withheld` text; the rest are counted.
const PROBLEMS_NAMED: usize = 3;
/// The longest a named problem may be, in characters.
const PROBLEM_CHARS: usize = 300;

fn assemble(run: &Run<'_>, plan: &Plan, mut partials: Vec<Partial>) -> Assembled {
    let mut outcomes = plan.skipped.clone();
    let mut states = BTreeMap::new();
    let mut state_errors = BTreeMap::new();
    let mut problems = Vec::new();
    let mut seen_accounts = BTreeSet::new();
    partials.sort_by_key(|partial| partial.batch);
    for (index, batch) in plan.batches.iter().enumerate() {
        let found = partials.iter().filter(|partial| partial.batch == index);
        let accepted = found
            .map(|partial| (partial, check(plan, index, partial, &seen_accounts)))
            .reduce(|first, later| if first.1.is_ok() { first } else { later });
        match accepted {
            Some((partial, Ok(()))) => {
                if let Some(why) = &partial.cut_short {
                    problems.push(format!("batch {index} was cut short: {why}"));
                }
                seen_accounts.extend(partial.outcomes.iter().map(|o| o.account_id.clone()));
                outcomes.extend(partial.outcomes.iter().cloned());
                states.extend(partial.states.clone());
                state_errors.extend(partial.state_errors.clone());
            }
            rejected => {
                let why = match rejected {
                    Some((_, Err(why))) => format!("batch {index}'s results were rejected: {why}"),
                    _ => format!("batch {index} did not report"),
                };
                for account in batch {
                    let account_plan = run.account(&account.id);
                    outcomes.push(not_reached(account_plan, account.state.clone(), &why));
                }
                problems.push(why);
            }
        }
    }
    Assembled {
        outcomes,
        states,
        state_errors,
        incomplete: summarize(&problems),
    }
}

/// The problems of a run, bounded whatever their number: the first [`PROBLEMS_NAMED`], each cut
/// to [`PROBLEM_CHARS`], and how many more (they reach the digest, whose size is bounded).
fn summarize(problems: &[String]) -> Option<String> {
    let named: Vec<String> = problems
        .iter()
        .take(PROBLEMS_NAMED)
        .map(|problem| match problem.char_indices().nth(PROBLEM_CHARS) {
            Some((cut, _)) => format!("{}…", &problem[..cut]),
            None => problem.clone(),
        })
        .collect();
    let more = problems.len().saturating_sub(PROBLEMS_NAMED);
    match (named.is_empty(), more) {
        (true, _) => None,
        (false, 0) => Some(named.join("; ")),
        (false, more) => Some(format!(
            "{}; and {more} more (the report names each batch's accounts)",
            named.join("; ")
        )),
    }
}

/// Why a partial does not belong to batch `index` of `plan`, if it does not.
fn check(
    plan: &Plan,
    index: usize,
    partial: &Partial,
    seen: &BTreeSet<String>,
) -> Result<(), String> {
    if partial.schema != SCHEMA {
        return Err(format!(
            "format {} (this program reads {SCHEMA})",
            partial.schema
        ));
    }
    if partial.run_id != plan.run_id {
        return Err(format!(
            "they belong to run {}, not {}",
            partial.run_id, plan.run_id
        ));
    }
    if partial.fingerprint != plan.fingerprint {
        return Err("they were scanned with other settings".to_owned());
    }
    let batch: BTreeSet<&str> = plan.batches[index].iter().map(|a| a.id.as_str()).collect();
    let mut found = BTreeSet::new();
    for outcome in &partial.outcomes {
        let id = outcome.account_id.as_str();
        if !batch.contains(id) {
            return Err(format!("account {id} is not in this batch"));
        }
        if !found.insert(id) || seen.contains(id) {
            return Err(format!("account {id} is there twice"));
        }
    }
    if found.len() != batch.len() {
        return Err(format!(
            "{} of the batch's {} accounts are missing",
            batch.len() - found.len(),
            batch.len()
        ));
    }
    Ok(())
}

/// How the run's remediation went, beyond each change: applied or not (and why not), and its
/// journal.
fn remediation_facts(
    settings: &Settings,
    journal: Option<&Journal>,
    incomplete: Option<&str>,
) -> Option<RemediationFacts> {
    let remediation = settings.remediation.as_ref()?;
    Some(RemediationFacts {
        applied_mode: journal.is_some() && incomplete.is_none(),
        max_actions: remediation.max_actions,
        journal: journal.map(Journal::location),
        journal_error: journal.and_then(Journal::failure),
        withheld: journal.and(incomplete).map(|why| {
            format!("the run is incomplete ({why}): no change was made, the plan is only shown")
        }),
    })
}

/// Compares every scanned account with its baseline: the previous report's (`since`), or its
/// state's (read by its batch: an account of `states`), or none.
fn compare_all(
    source: BaselineSource,
    outcomes: &[AccountOutcome],
    kept: &Kept,
    since: Option<&BTreeMap<String, Baseline>>,
    now: jiff::Timestamp,
) -> BTreeMap<String, Compared> {
    let (states, state_errors) = (&kept.states, &kept.state_errors);
    let mut compared = BTreeMap::new();
    for outcome in outcomes {
        let AccountResult::Scanned {
            verdicts,
            errors,
            actions,
            ..
        } = &outcome.result
        else {
            continue;
        };
        let id = &outcome.account_id;
        let prior = match (source, since, states.get(id)) {
            (BaselineSource::Report, Some(since), _) => {
                since.get(id).map_or(Prior::First, Prior::Known)
            }
            (BaselineSource::State, _, Some(state)) => state
                .as_ref()
                .and_then(|state| state.baseline.as_ref())
                .map_or(Prior::First, Prior::Known),
            (BaselineSource::State, _, None) => Prior::Unreadable(
                state_errors
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "the account's state was not read".to_owned()),
            ),
            _ => Prior::First,
        };
        let baseline = match &prior {
            Prior::First => Ok(None),
            Prior::Known(baseline) => Ok(Some(baseline.at)),
            Prior::Unreadable(why) => Err(why.clone()),
        };
        let changes = changes::compare(prior, id, verdicts, actions, errors.is_empty(), now);
        compared.insert(id.clone(), Compared { baseline, changes });
    }
    compared
}

/// The next state of every account that keeps one (and whose state could be read): what it
/// had, what this run saw, and its new baseline.
fn next_states(
    run: &Run<'_>,
    outcomes: &[AccountOutcome],
    states: &BTreeMap<String, Option<AccountState>>,
    compared: &BTreeMap<String, Compared>,
) -> Vec<AccountState> {
    outcomes
        .iter()
        .filter_map(|outcome| {
            let previous = states.get(&outcome.account_id)?;
            let mut next = state::next(
                previous.as_ref(),
                &outcome.account_id,
                run.now,
                &seen(outcome),
            );
            if let Some(baseline) = compared
                .get(&outcome.account_id)
                .and_then(|compared| compared.changes.next.clone())
            {
                next.baseline = Some(baseline);
            }
            Some(next)
        })
        .collect()
}

/// Accounts' states written at once.
const STATE_WRITES_IN_FLIGHT: usize = 16;

/// Writes the next state of every account that keeps one (and whose state could be read),
/// [`STATE_WRITES_IN_FLIGHT`] at once. Under a deadline the writes together get one share of
/// what is left, as one more delivery call would: a state not written by then is an error of
/// the run (the next run compares with the older state), and the report and digest keep their
/// time.
async fn write_states(
    run: &Run<'_>,
    store: &state::Store,
    outcomes: &[AccountOutcome],
    states: BTreeMap<String, Option<AccountState>>,
    compared: &BTreeMap<String, Compared>,
) -> StateSummary {
    let deadline = &run.ctx.deadline;
    let mut summary = StateSummary {
        location: store.location(),
        accounts: 0,
        errors: Vec::new(),
        unreadable: Vec::new(),
    };
    let nexts = next_states(run, outcomes, &states, compared);
    let mut unwritten: BTreeSet<String> =
        nexts.iter().map(|next| next.account_id.clone()).collect();
    let budget = deadline.delivery_timeout(delivery::DELIVERY_CALLS + 1);
    let out_of_time = async {
        match budget {
            Some(budget) => tokio::time::sleep(budget).await,
            None => std::future::pending().await,
        }
    };
    let written: Vec<(String, Result<(), state::StateError>)> = futures::stream::iter(nexts)
        .map(|next| async move { (next.account_id.clone(), store.write(&next, budget).await) })
        .buffer_unordered(STATE_WRITES_IN_FLIGHT)
        .take_until(out_of_time)
        .collect()
        .await;
    for (account_id, result) in written {
        unwritten.remove(&account_id);
        match result {
            Ok(()) => summary.accounts += 1,
            Err(error) => {
                let error = crate::aws::describe(&error);
                tracing::error!(account = %account_id, %error, "the account's state could not be written");
                summary.errors.push(format!("{account_id}: {error}"));
            }
        }
    }
    for account_id in unwritten {
        tracing::error!(account = %account_id, "the account's state was not written: the run's time ran out");
        summary.errors.push(format!(
            "{account_id}: not written: the run's time ran out (the delivery reserve is kept for the report and the digest)"
        ));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn a_runs_problems_are_said_in_bounded_words_whatever_their_number() {
        assert_eq!(summarize(&[]), None);
        let one = summarize(&["batch 0 did not report".to_owned()]);
        assert_eq!(one.as_deref(), Some("batch 0 did not report"));
        // Ten thousand rejected batches, each with a long reason: a few named, the rest counted.
        let problems: Vec<String> = (0..10_000)
            .map(|index| {
                format!(
                    "batch {index}'s results were rejected: {}",
                    "x".repeat(5_000)
                )
            })
            .collect();
        let text = summarize(&problems).expect("said");
        assert!(text.len() < 4 * 1_024, "{} bytes", text.len());
        assert!(
            text.starts_with("batch 0's results were rejected: xxx"),
            "{text}"
        );
        assert!(
            text.ends_with("and 9997 more (the report names each batch's accounts)"),
            "{text}"
        );
    }
}
