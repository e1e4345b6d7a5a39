//! One run: `org → assume → scan → rules → remediate(plan)` for every selected account.
//!
//! Accounts are scanned concurrently, at most `settings.concurrency` at once, each with its own
//! [`Pace`] and retry partition; one account's failure is recorded and never stops the others.
//! The run obeys its [`Deadline`]: no account starts after the soft phase, and accounts still
//! running at the hard phase are abandoned and reported as not reached.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use jiff::Timestamp;

use super::context::{Context, Run, Via};
use super::plan::{self, Partial, Plan, PlannedAccount};
use super::{Clients, Event, RunError};
use crate::assume::{self, Caller};
use crate::aws::{Pace, describe};
use crate::config::{AccountPlan, Selection, Settings};
use crate::failure::Failure;
use crate::remediate::{
    self, ActionKind, ActionOutcome, ActionState, InactiveSince, RemediationPolicy,
};
use crate::report::{AccountOutcome, AccountResult};
use crate::rules::{self, CredentialKind, Outcome, Verdict};
use crate::scan::{self, Mode};
use crate::state::{self, AccountState};

/// Plans a run: who is calling, which accounts (the organization listed once), in batches of
/// `batch_size`, under `now` and `run_id`.
pub(super) async fn plan_run(
    ctx: &Context<'_>,
    run_id: String,
    batch_size: usize,
) -> Result<Plan, RunError> {
    let settings = ctx.settings;
    let caller = assume::caller(&ctx.clients.sts)
        .await
        .map_err(RunError::Caller)?;
    let (planned, skipped) = select(settings, ctx.clients, &caller).await?;
    let accounts: Vec<PlannedAccount> = planned
        .into_iter()
        .map(|(plan, state)| PlannedAccount {
            id: plan.id,
            name: plan.name,
            state,
        })
        .collect();
    Ok(Plan {
        schema: plan::SCHEMA,
        run_id,
        now: ctx.now,
        fingerprint: plan::fingerprint(settings),
        caller,
        batches: accounts
            .chunks(batch_size.max(1))
            .map(<[PlannedAccount]>::to_vec)
            .collect(),
        skipped,
    })
}

/// Scans batch `index` of `plan`: each account concurrently, under the plan's `now`, until
/// `stop` resolves or the deadline's soft phase (no new account), abandoning the accounts still
/// running at its hard phase (not reached).
pub(super) async fn scan_batch(
    run: &Run<'_>,
    plan: &Plan,
    index: usize,
    events: &(dyn Fn(Event) + Sync),
    stop: impl Future<Output = ()>,
) -> Partial {
    let settings = run.ctx.settings;
    let accounts: Vec<(AccountPlan, Option<String>)> = plan
        .batches
        .get(index)
        .into_iter()
        .flatten()
        .map(|account| (run.account(&account.id), account.state.clone()))
        .collect();
    events(Event::Planned {
        accounts: accounts.len(),
    });
    let states: Mutex<BTreeMap<String, StateRead>> = Mutex::new(BTreeMap::new());
    let stopped = AtomicBool::new(false);
    let started = Mutex::new(BTreeSet::new());
    let scans = futures::stream::iter(accounts.clone())
        .map(|(account_plan, state)| {
            let (stopped, started, states) = (&stopped, &started, &states);
            async move {
                let outcome = if stopped.load(Ordering::Relaxed) {
                    not_reached(account_plan, state, NOT_STARTED)
                } else {
                    lock(started).insert(account_plan.id.clone());
                    let (outcome, kept) = account(run, account_plan, state).await;
                    if let Some(kept) = kept {
                        lock(states).insert(outcome.account_id.clone(), kept);
                    }
                    outcome
                };
                events(Event::AccountDone {
                    account_id: outcome.account_id.clone(),
                });
                outcome
            }
        })
        .buffer_unordered(settings.concurrency());
    let (mut outcomes, mut cut_short, abandoned) =
        drain(scans, stop, &run.ctx.deadline, &stopped).await;
    if abandoned {
        let started = lock(&started).clone();
        outcomes.extend(abandoned_accounts(accounts, &outcomes, &started));
        cut_short.get_or_insert_with(|| "the deadline was near".to_owned());
    }
    let (read, state_errors) =
        split_states(states.into_inner().unwrap_or_else(PoisonError::into_inner));
    Partial {
        schema: plan::SCHEMA,
        run_id: plan.run_id.clone(),
        fingerprint: plan.fingerprint.clone(),
        batch: index,
        outcomes,
        states: read,
        state_errors,
        cut_short,
    }
}

/// Runs `scans` to their end; at `stop` or the deadline's soft phase, sets `stopped` (no new
/// account starts) and says why; at its hard phase, gives up on the accounts still running.
/// The outcomes, why the batch was cut short, and whether accounts were abandoned.
async fn drain(
    scans: impl futures::Stream<Item = AccountOutcome>,
    stop: impl Future<Output = ()>,
    deadline: &crate::deadline::Deadline,
    stopped: &AtomicBool,
) -> (Vec<AccountOutcome>, Option<String>, bool) {
    let soft = async {
        tokio::select! {
            () = stop => "interrupted (Ctrl-C)",
            () = deadline.soft() => "the deadline was near",
        }
    };
    tokio::pin!(soft);
    let hard = deadline.hard();
    tokio::pin!(hard);
    tokio::pin!(scans);
    let mut outcomes = Vec::new();
    let mut cut_short = None;
    loop {
        tokio::select! {
            next = scans.next() => match next {
                Some(outcome) => outcomes.push(outcome),
                None => return (outcomes, cut_short, false),
            },
            why = &mut soft, if cut_short.is_none() => {
                stopped.store(true, Ordering::Relaxed);
                cut_short = Some(why.to_owned());
            }
            () = &mut hard => return (outcomes, cut_short, true),
        }
    }
}

/// The accounts of a batch abandoned at the hard deadline (not `done`), as not reached: why
/// depends on whether each had `started`.
fn abandoned_accounts(
    accounts: Vec<(AccountPlan, Option<String>)>,
    done: &[AccountOutcome],
    started: &BTreeSet<String>,
) -> Vec<AccountOutcome> {
    let done: BTreeSet<&str> = done.iter().map(|o| o.account_id.as_str()).collect();
    accounts
        .into_iter()
        .filter(|(account_plan, _)| !done.contains(account_plan.id.as_str()))
        .map(|(account_plan, state)| {
            let why = if started.contains(&account_plan.id) {
                ABANDONED
            } else {
                NOT_STARTED
            };
            not_reached(account_plan, state, why)
        })
        .collect()
}

/// The states read, and the accounts whose state could not be read.
fn split_states(
    states: BTreeMap<String, StateRead>,
) -> (
    BTreeMap<String, Option<AccountState>>,
    BTreeMap<String, String>,
) {
    let (mut read, mut errors) = (BTreeMap::new(), BTreeMap::new());
    for (account_id, state) in states {
        match state {
            Ok(state) => {
                read.insert(account_id, state);
            }
            Err(why) => {
                errors.insert(account_id, why);
            }
        }
    }
    (read, errors)
}

/// An account's state as its batch read it: the state (`None` on a first run), or why it could
/// not be read.
type StateRead = Result<Option<AccountState>, String>;

const NOT_STARTED: &str =
    "the run was stopped (deadline or Ctrl-C) before this account was started";
const ABANDONED: &str = "abandoned at the run's deadline while it was being scanned";

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The accounts to scan (each with its Organizations state, when listed) and those skipped.
async fn select(
    settings: &Settings,
    clients: &Clients,
    caller: &Caller,
) -> Result<(Vec<(AccountPlan, Option<String>)>, Vec<AccountOutcome>), RunError> {
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    match &settings.selection {
        Selection::Accounts(accounts) => {
            for account in accounts {
                plans.push((settings.plan(&account.id, None, caller), None));
            }
        }
        Selection::Organization {
            include_ous,
            exclude_accounts,
        } => {
            let pace = Pace::new(settings.rate());
            let accounts = if include_ous.is_empty() {
                crate::org::accounts(&clients.organizations, &pace).await
            } else {
                crate::org::accounts_under(&clients.organizations, &pace, include_ous).await
            }
            .map_err(RunError::Organization)?;
            for account in accounts {
                let plan = settings.plan(&account.id, account.name.clone(), caller);
                let skip = if exclude_accounts.contains(&account.id) {
                    Some("excluded by the configuration (organization.exclude_accounts)".to_owned())
                } else if !account.is_active() {
                    Some(format!("state {}", account.state))
                } else {
                    None
                };
                match skip {
                    None => plans.push((plan, Some(account.state))),
                    Some(reason) => skipped.push(AccountOutcome {
                        account_id: plan.id,
                        name: plan.name,
                        state: Some(account.state),
                        max_idle_days: plan.policy.max_idle_days,
                        result: AccountResult::Skipped(reason),
                        aws_requests: 0,
                    }),
                }
            }
        }
    }
    Ok((plans, skipped))
}

/// Scans one account: assume, scan, judge, confirm, plan. Returns the outcome, and the state
/// read for it (`Some(previous)`) when the account keeps one and it could be read.
async fn account(
    run: &Run<'_>,
    plan: AccountPlan,
    state: Option<String>,
) -> (AccountOutcome, Option<StateRead>) {
    let pace = Arc::new(Pace::new(run.ctx.settings.rate()));
    let result = scan_account(run, &plan, &pace).await;
    match &result {
        Ok(_) => tracing::info!(account = %plan.id, requests = pace.requests(), "account scanned"),
        Err(error) => tracing::warn!(account = %plan.id, %error, "account not scanned"),
    }
    let (result, kept) = match result {
        Ok((result, kept)) => (result, kept),
        Err(error) => (AccountResult::Failed(error), None),
    };
    let outcome = AccountOutcome {
        account_id: plan.id,
        name: plan.name,
        state,
        max_idle_days: plan.policy.max_idle_days,
        result,
        aws_requests: pace.requests(),
    };
    (outcome, kept)
}

async fn scan_account(
    run: &Run<'_>,
    plan: &AccountPlan,
    pace: &Arc<Pace>,
) -> Result<(AccountResult, Option<StateRead>), Failure> {
    let settings = run.ctx.settings;
    let iam = run.iam(plan, Via::Audit, pace).await?;
    let root_arn = format!("arn:{}:iam::{}:root", run.caller.partition, plan.id);
    let scanned = scan::account(&iam, pace, settings.mode, &root_arn).await?;
    let mut scan = Judged {
        iam: &iam,
        pace,
        plan,
        now: run.now,
        verdicts: rules::evaluate(&scanned.inventory, &plan.policy, run.now),
        inventory: scanned.inventory,
        errors: scanned.errors,
    };
    scan.read_others(settings.mode).await;
    let (mut findings_confirmed_at, mut confirmation, mut undated) = (None, None, BTreeMap::new());
    match settings.mode {
        Mode::Report => {
            scan.resolve_key_ids().await;
            scan.resolve_certificate_ids().await;
            if scan.needs_confirmation(settings.confirm_after) {
                scan.confirm().await;
                findings_confirmed_at = Some(Timestamp::now());
                confirmation = Some(scan::Confirmation::Live);
            } else {
                confirmation = Some(scan::Confirmation::FreshReport);
            }
        }
        Mode::Api => undated = scan.date_passwords().await,
    }
    scan.read_tags().await;
    // The account's state: its last complete scan (what changed since) and when each inactive
    // key became inactive (the grace period before its deletion).
    let (inactive, kept) = match run.ctx.store.as_ref() {
        Some(store) => {
            let (inactive, kept) = inactive_since(store, &plan.id).await;
            match scan.stages().delete_inactive_keys_after_days {
                Some(_) => (inactive, Some(kept)),
                None => (InactiveSince::Known(BTreeMap::new()), Some(kept)),
            }
        }
        None => (InactiveSince::Known(BTreeMap::new()), None),
    };
    let actions = scan.actions(&inactive, &undated);
    let result = AccountResult::Scanned {
        users: scan.inventory.users.len(),
        credential_report_generated_at: scan.inventory.credential_report_generated_at,
        verdicts: scan.verdicts,
        errors: scan.errors,
        actions,
        findings_confirmed_at,
        confirmation,
    };
    Ok((result, kept))
}

/// One account's scan as it is refined: what IAM said, the errors on single users, and the
/// verdicts, judged again after each read that adds to what IAM said.
struct Judged<'s> {
    iam: &'s aws_sdk_iam::Client,
    pace: &'s Pace,
    plan: &'s AccountPlan,
    now: Timestamp,
    inventory: crate::inventory::Inventory,
    errors: Vec<scan::UserError>,
    verdicts: Vec<Verdict>,
}

impl Judged<'_> {
    fn judge(&mut self) {
        self.verdicts = rules::evaluate(&self.inventory, &self.plan.policy, self.now);
    }

    /// The account's remediation stages (none on when it has none).
    fn stages(&self) -> RemediationPolicy {
        self.plan
            .remediation
            .as_ref()
            .map(|(stages, _)| *stages)
            .unwrap_or_default()
    }

    /// Whether remediation may delete this inactive key.
    fn deletes_inactive(&self, verdict: &Verdict) -> bool {
        self.stages().delete_inactive_keys_after_days.is_some()
            && verdict.outcome == Outcome::Inactive
    }

    /// The credential report has no key IDs: look them up for the keys that are findings, or
    /// that remediation may delete.
    async fn resolve_key_ids(&mut self) {
        let users = users_with(&self.verdicts, |verdict| {
            verdict.credential == CredentialKind::AccessKey
                && (verdict.outcome == Outcome::Unused || self.deletes_inactive(verdict))
        });
        if !users.is_empty() {
            let (iam, pace) = (self.iam, self.pace);
            let errors = scan::resolve_key_ids(iam, pace, &mut self.inventory, &users).await;
            self.errors.extend(errors);
            self.judge();
        }
    }

    /// Reads the credentials AWS records no use for, the kinds the account's policy judges.
    async fn read_others(&mut self, mode: Mode) {
        let (iam, pace, ages) = (self.iam, self.pace, self.plan.policy.ages);
        let errors = scan::read_others(iam, pace, &mut self.inventory, &ages, mode).await;
        self.errors.extend(errors);
        self.judge();
    }

    /// The credential report has no certificate IDs: look them up for the certificates that
    /// are findings (ListSigningCertificates, which also gives their live status).
    async fn resolve_certificate_ids(&mut self) {
        let users = users_with(&self.verdicts, |verdict| {
            verdict.credential == CredentialKind::SigningCertificate
                && verdict.outcome == Outcome::Unused
                && verdict.access_key_id.is_none()
        });
        if !users.is_empty() {
            let (iam, pace) = (self.iam, self.pace);
            let errors =
                scan::resolve_certificate_ids(iam, pace, &mut self.inventory, &users).await;
            self.errors.extend(errors);
            self.judge();
        }
    }

    /// Whether IAM handed back a report older than `confirm_after` (scan::needs_confirmation).
    fn needs_confirmation(&self, confirm_after: std::time::Duration) -> bool {
        let generated = self.inventory.credential_report_generated_at;
        scan::needs_confirmation(generated, Timestamp::now(), confirm_after)
    }

    /// Confirms every finding live.
    async fn confirm(&mut self) {
        let (iam, pace) = (self.iam, self.pace);
        let errors = scan::confirm(iam, pace, &mut self.inventory, &self.verdicts).await;
        self.errors.extend(errors);
        self.judge();
    }

    /// Api mode dates passwords by their login profile's CreateDate, which a reset does not
    /// move: the credential report's password_last_changed dates the findings. Without it,
    /// they are reported and never deleted: the users whose passwords stay undated, and why.
    async fn date_passwords(&mut self) -> BTreeMap<String, String> {
        let users = users_with(&self.verdicts, |verdict| {
            verdict.credential == CredentialKind::Password && verdict.is_finding()
        });
        if users.is_empty() {
            return BTreeMap::new();
        }
        match scan::date_passwords(self.iam, self.pace, &mut self.inventory, &users).await {
            Ok(()) => {
                self.judge();
                BTreeMap::new()
            }
            Err(error) => {
                let why = format!(
                    "its last reset cannot be dated (the credential report could not be read: {error}), and a login profile's CreateDate does not move on a reset: not deleted"
                );
                users.into_iter().map(|user| (user, why.clone())).collect()
            }
        }
    }

    /// Tags decide exemptions, but only matter for findings and remediation targets: read them
    /// for those users.
    async fn read_tags(&mut self) {
        if !self.plan.policy.needs_tags() {
            return;
        }
        let users = users_with(&self.verdicts, |verdict| {
            verdict.outcome == Outcome::Unused || self.deletes_inactive(verdict)
        });
        if !users.is_empty() {
            let (iam, pace) = (self.iam, self.pace);
            let errors = scan::read_tags(iam, pace, &mut self.inventory, &users).await;
            self.errors.extend(errors);
            self.judge();
        }
    }

    /// The remediation planned for the account; exempt users, and users who may be exempt
    /// (tags unread), are never touched, nor are `undated` passwords deleted.
    fn actions(
        &self,
        inactive: &InactiveSince,
        undated: &BTreeMap<String, String>,
    ) -> Vec<ActionOutcome> {
        let Some((stages, _)) = &self.plan.remediation else {
            return Vec::new();
        };
        let protected = |user_name: &str| {
            self.inventory
                .users
                .iter()
                .find(|user| user.name == user_name)
                .is_none_or(|user| self.plan.policy.exemption_for(user).protects())
        };
        let (id, now) = (&self.plan.id, self.now);
        let mut actions = remediate::plan(id, &self.verdicts, stages, &protected, inactive, now);
        for planned in &mut actions {
            if let (ActionKind::DeletePassword, Some(why)) =
                (planned.action.kind, undated.get(&planned.action.user_name))
            {
                planned.state = ActionState::Skipped(why.clone());
            }
        }
        actions
    }
}

/// When each inactive key of the account became inactive, and the state it was read from (or
/// why it could not be read: then nothing is deleted, and nothing is written back).
async fn inactive_since(store: &state::Store, account_id: &str) -> (InactiveSince, StateRead) {
    match store.read(account_id).await {
        Ok(previous) => {
            let known = previous
                .iter()
                .flat_map(|state| &state.inactive_keys)
                .map(|(id, key)| (id.clone(), key.since))
                .collect();
            (InactiveSince::Known(known), Ok(previous))
        }
        Err(error) => {
            let why = describe(&error);
            (InactiveSince::Unreadable(why.clone()), Err(why))
        }
    }
}

/// The users with a verdict that `matches`.
fn users_with(verdicts: &[Verdict], matches: impl Fn(&Verdict) -> bool) -> BTreeSet<String> {
    verdicts
        .iter()
        .filter(|verdict| matches(verdict))
        .map(|verdict| verdict.user_name.clone())
        .collect()
}

/// An account no batch scanned, for this reason.
pub(super) fn not_reached(plan: AccountPlan, state: Option<String>, why: &str) -> AccountOutcome {
    AccountOutcome {
        account_id: plan.id,
        name: plan.name,
        state,
        max_idle_days: plan.policy.max_idle_days,
        result: AccountResult::Failed(Failure::NotReached(why.to_owned())),
        aws_requests: 0,
    }
}

/// What this run learned of an account's keys, for its next state.
pub(super) fn seen(outcome: &AccountOutcome) -> state::Seen {
    let mut seen = state::Seen::default();
    let AccountResult::Scanned {
        verdicts,
        errors,
        actions,
        ..
    } = &outcome.result
    else {
        return seen;
    };
    for verdict in verdicts {
        if let (CredentialKind::AccessKey, Outcome::Inactive, Some(id)) =
            (verdict.credential, &verdict.outcome, &verdict.access_key_id)
        {
            seen.inactive.push((verdict.user_name.clone(), id.clone()));
        }
    }
    for ActionOutcome { action, state } in actions {
        let (ActionState::Applied, Some(id)) = (state, &action.access_key_id) else {
            continue;
        };
        match action.kind {
            remediate::ActionKind::DeactivateKey => {
                seen.deactivated
                    .push((action.user_name.clone(), id.clone()));
            }
            remediate::ActionKind::DeleteInactiveKey => {
                seen.deleted.insert(id.clone());
            }
            // The state records access keys only: the other kinds have no grace period.
            remediate::ActionKind::DeletePassword
            | remediate::ActionKind::DeactivateSshKey
            | remediate::ActionKind::DeactivateServiceCredential
            | remediate::ActionKind::DeactivateSigningCertificate => {}
        }
    }
    seen.unread_users = errors.iter().map(|error| error.user_name.clone()).collect();
    seen
}
