//! The pipeline: `org → assume → scan → rules → report` for a whole run.
//!
//! Takes validated [`Settings`], the SDK clients the front end built, and the run's single
//! `now`; returns the [`Report`]. Accounts are scanned concurrently, at most
//! `settings.concurrency` at once, each with its own [`Pace`] and retry partition. One account's
//! failure is recorded in the report and never stops the others.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_config::SdkConfig;
use futures::StreamExt;
use jiff::Timestamp;

use crate::assume::{self, Caller, RoleChain};
use crate::aws::{AwsError, Pace};
use crate::config::{AccountPlan, Selection, Settings};
use crate::remediate::apply::UndoState;
use crate::remediate::journal::{Entry, Journal};
use crate::remediate::{self, Action, ActionOutcome, ActionState};
use crate::report::{self, AccountOutcome, AccountResult, Report, RunFacts};
use crate::rules::{self, CredentialKind, Outcome, Verdict};
use crate::scan::{self, Mode};
use crate::{digest, notify, org, store};

/// The SDK clients a run uses, built once by the front end from one SDK configuration. Accounts
/// reached through a named AWS profile get that profile's configuration, loaded once per run.
#[derive(Debug)]
pub struct Clients {
    /// The caller's configuration: region, endpoint, credentials, retries, timeouts.
    pub base: SdkConfig,
    /// STS, for GetCallerIdentity and AssumeRole.
    pub sts: aws_sdk_sts::Client,
    /// Organizations, for ListAccounts.
    pub organizations: aws_sdk_organizations::Client,
    profiles: tokio::sync::Mutex<BTreeMap<String, Start>>,
}

/// Where an account's chain of credentials starts: the caller's, or a named profile's, with
/// whom those credentials act as (GetCallerIdentity, asked once per profile).
#[derive(Debug, Clone)]
struct Start {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    /// The profile's identity (an ARN); `None` for the caller's own credentials.
    identity: Option<Result<String, AwsError>>,
}

impl Clients {
    /// Builds every client from `base`.
    pub fn new(base: SdkConfig) -> Clients {
        Clients {
            sts: aws_sdk_sts::Client::new(&base),
            organizations: aws_sdk_organizations::Client::new(&base),
            base,
            profiles: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The configuration and STS client that start an account's chain: the caller's, or the
    /// named profile's.
    async fn starting_point(&self, profile: Option<&str>) -> Start {
        let Some(profile) = profile else {
            return Start {
                base: self.base.clone(),
                sts: self.sts.clone(),
                identity: None,
            };
        };
        // A tokio mutex, held across the load on purpose: each profile is loaded once per run.
        let mut profiles = self.profiles.lock().await;
        if let Some(loaded) = profiles.get(profile) {
            return loaded.clone();
        }
        let base = crate::aws::load_sdk_config(Some(profile)).await;
        let sts = aws_sdk_sts::Client::new(&base);
        let identity = assume::caller(&sts).await.map(|caller| caller.arn);
        let loaded = Start {
            base,
            sts,
            identity: Some(identity),
        };
        profiles.insert(profile.to_owned(), loaded.clone());
        loaded
    }

    /// An IAM client that acts in `account_id`: from `profile`'s credentials (or the caller's),
    /// through `chain` when there is one. Either way the credentials are shown to act in that
    /// account first (the last AssumeRole's answer, or the starting identity), so that nothing
    /// of another account is ever reported under its ID.
    async fn iam_for(
        &self,
        caller: &Caller,
        account_id: &str,
        profile: Option<&str>,
        chain: Option<&RoleChain>,
        pace: &Arc<Pace>,
    ) -> Result<aws_sdk_iam::Client, AwsError> {
        let start = self.starting_point(profile).await;
        if chain.is_none() {
            let acting = match start.identity {
                Some(identity) => identity?,
                None => caller.arn.clone(),
            };
            assume::check_account("GetCallerIdentity", &acting, account_id)?;
        }
        assume::iam_client(&start.base, &start.sts, account_id, chain, pace).await
    }
}

/// A run that could not scan anything.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// GetCallerIdentity failed: no credentials, or they do not work.
    #[error("cannot tell who is calling AWS (check the credentials and region): {0}")]
    Caller(#[source] AwsError),
    /// ListAccounts failed: not the management account or a delegated administrator?
    #[error("cannot list the organization's accounts: {0}")]
    Organization(#[source] AwsError),
}

/// What the pipeline tells the front end as it goes, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The accounts to scan are known.
    Planned {
        /// How many accounts will be scanned.
        accounts: usize,
    },
    /// One account is done (scanned or failed).
    AccountDone {
        /// Its ID.
        account_id: String,
    },
}

/// Runs the whole scan. `stop` is a signal (Ctrl-C, a Lambda deadline): once it resolves, no
/// new account is started, the accounts in flight finish, and the ones never reached are
/// reported as failed with code `NotReached`.
pub async fn run(
    settings: &Settings,
    clients: &Clients,
    now: Timestamp,
    events: &(dyn Fn(Event) + Sync),
    stop: impl Future<Output = ()>,
    apply: Option<&Journal>,
) -> Result<Report, RunError> {
    let caller = assume::caller(&clients.sts)
        .await
        .map_err(RunError::Caller)?;
    let mut outcomes = Vec::new();
    let mut plans = Vec::new();
    match &settings.selection {
        Selection::Accounts(accounts) => {
            for account in accounts {
                plans.push((settings.plan(&account.id, None, &caller), None));
            }
        }
        Selection::Organization {
            include_ous,
            exclude_accounts,
        } => {
            let pace = Pace::new(settings.rate);
            let accounts = if include_ous.is_empty() {
                org::accounts(&clients.organizations, &pace).await
            } else {
                org::accounts_under(&clients.organizations, &pace, include_ous).await
            }
            .map_err(RunError::Organization)?;
            for account in accounts {
                let plan = settings.plan(&account.id, account.name.clone(), &caller);
                let skip = if exclude_accounts.contains(&account.id) {
                    Some("excluded by the configuration (organization.exclude_accounts)".to_owned())
                } else if !account.is_active() {
                    Some(format!("state {}", account.state))
                } else {
                    None
                };
                match skip {
                    None => plans.push((plan, Some(account.state))),
                    Some(reason) => outcomes.push(AccountOutcome {
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
    events(Event::Planned {
        accounts: plans.len(),
    });

    let stopped = AtomicBool::new(false);
    let scans = futures::stream::iter(plans)
        .map(|(plan, state)| {
            let stopped = &stopped;
            let caller = &caller;
            async move {
                let outcome = if stopped.load(Ordering::Relaxed) {
                    not_reached(plan, state)
                } else {
                    account(settings, clients, caller, now, plan, state).await
                };
                events(Event::AccountDone {
                    account_id: outcome.account_id.clone(),
                });
                outcome
            }
        })
        .buffer_unordered(settings.concurrency.get())
        .collect::<Vec<_>>();
    let stop = async {
        stop.await;
        stopped.store(true, Ordering::Relaxed);
    };
    tokio::pin!(scans);
    let scanned = tokio::select! {
        scanned = &mut scans => scanned,
        () = stop => scans.await,
    };
    outcomes.extend(scanned);
    // A stopped run (Ctrl-C, the Lambda deadline) makes no change: its plan is only shown.
    let apply = apply.filter(|_| !stopped.load(Ordering::Relaxed));
    if let Some(remediation) = &settings.remediation {
        remediate_all(
            settings,
            clients,
            &caller,
            now,
            remediation.max_actions,
            &mut outcomes,
            apply,
        )
        .await;
    }

    let facts = RunFacts {
        generated_at: now,
        max_idle_days: settings.defaults.policy.max_idle_days,
        mode: settings.mode.as_str().to_owned(),
        caller_account_id: Some(caller.account_id.clone()),
        remediation: settings
            .remediation
            .as_ref()
            .map(|remediation| (apply.is_some(), remediation.max_actions)),
    };
    Ok(report::build(facts, outcomes))
}

/// The remediation phase, after every account is scanned: the planned changes of the whole run
/// are ordered (`remediate::prioritize`), the first `max_actions` are applied when a journal is
/// given (through each account's remediation role, verified first), and the rest are deferred.
async fn remediate_all(
    settings: &Settings,
    clients: &Clients,
    caller: &Caller,
    now: Timestamp,
    max_actions: usize,
    outcomes: &mut [AccountOutcome],
    apply: Option<&Journal>,
) {
    let mut planned: Vec<Action> = outcomes
        .iter()
        .flat_map(|outcome| match &outcome.result {
            AccountResult::Scanned { actions, .. } => actions
                .iter()
                .map(|planned| planned.action.clone())
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    remediate::prioritize(&mut planned);
    let deferred: Vec<Action> = planned.split_off(max_actions.min(planned.len()));
    let mut states: Vec<(Action, ActionState)> = deferred
        .into_iter()
        .map(|action| (action, ActionState::Deferred))
        .collect();

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
            let run = now.to_string();
            let applied: Vec<Vec<ActionOutcome>> = futures::stream::iter(by_account)
                .map(|(account_id, actions)| {
                    let run = &run;
                    async move {
                        let plan = settings.plan(&account_id, None, caller);
                        let chain = plan.remediation.and_then(|(_, chain)| chain);
                        let pace = Arc::new(Pace::new(settings.rate));
                        match clients
                            .iam_for(
                                caller,
                                &account_id,
                                plan.profile.as_deref(),
                                chain.as_ref(),
                                &pace,
                            )
                            .await
                        {
                            Ok(iam) => {
                                remediate::apply(&iam, &pace, actions, now, journal, run).await
                            }
                            Err(error) => actions
                                .into_iter()
                                .map(|action| ActionOutcome {
                                    action,
                                    state: ActionState::Failed(error.clone()),
                                })
                                .collect(),
                        }
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

    let states: std::collections::HashMap<Action, ActionState> = states.into_iter().collect();
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

/// Undoes the deactivations of a journal (of one `run`, or all): for each key, the journal's last
/// entry decides (a key already reactivated is not reactivated twice). Each account is reached
/// through its remediation role, as the run that made the changes was.
pub async fn undo(
    settings: &Settings,
    clients: &Clients,
    entries: Vec<Entry>,
    run: Option<&str>,
    journal: &Journal,
) -> Result<Vec<(Entry, UndoState)>, RunError> {
    let caller = assume::caller(&clients.sts)
        .await
        .map_err(RunError::Caller)?;
    // The last entry per credential: a deactivation later undone is not undone again.
    let mut last: BTreeMap<(String, String, Option<String>, String), Entry> = BTreeMap::new();
    for entry in entries {
        if run.is_some_and(|run| entry.run != run) && entry.action != "reactivate_key" {
            continue;
        }
        let key = (
            entry.account_id.clone(),
            entry.user_name.clone(),
            entry.access_key_id.clone(),
            entry.credential.clone(),
        );
        last.insert(key, entry);
    }
    let mut by_account: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in last
        .into_values()
        .filter(|entry| entry.action != "reactivate_key")
    {
        by_account
            .entry(entry.account_id.clone())
            .or_default()
            .push(entry);
    }
    let undo_run = Timestamp::now().to_string();
    let results: Vec<Vec<(Entry, UndoState)>> = futures::stream::iter(by_account)
        .map(|(account_id, entries)| {
            let (caller, undo_run) = (&caller, &undo_run);
            async move {
                let plan = settings.plan(&account_id, None, caller);
                // The remediation role of the configuration; the audit role (or the caller's
                // own credentials) when the configuration no longer has one.
                let chain = match plan.remediation {
                    Some((_, chain)) => chain,
                    None => plan.chain,
                };
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
                    Ok(iam) => remediate::undo(&iam, &pace, entries, journal, undo_run).await,
                    Err(error) => entries
                        .into_iter()
                        .map(|entry| (entry, UndoState::Failed(error.clone())))
                        .collect(),
                }
            }
        })
        .buffer_unordered(settings.concurrency.get())
        .collect()
        .await;
    Ok(results.into_iter().flatten().collect())
}

/// Where a run's results went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Where the full report is (`s3://…`, or the local file).
    pub report: Option<String>,
    /// Where the remediation journal is in S3.
    pub journal: Option<String>,
    /// The digest's SNS message ID, when one was sent.
    pub message_id: Option<String>,
    /// What could not be delivered: each makes the run incomplete.
    pub errors: Vec<AwsError>,
}

/// Delivers a run's results: the report (and `journal`) to the report bucket when one is
/// configured, then the one digest, pointing at the report (in S3, or `local_report`). A
/// failure in one step does not stop the next: a digest is still sent if the upload failed.
pub async fn deliver(
    settings: &Settings,
    clients: &Clients,
    report: &Report,
    local_report: Option<&str>,
    journal: Option<&std::path::Path>,
) -> Delivery {
    let mut delivery = Delivery {
        report: local_report.map(str::to_owned),
        ..Delivery::default()
    };
    if let Some((name, prefix)) = &settings.report_bucket {
        let bucket = store::Bucket {
            name: name.clone(),
            prefix: prefix.clone(),
        };
        let s3 = store::client(&clients.base);
        match store::put_report(&s3, &bucket, report).await {
            Ok(location) => delivery.report = Some(location),
            Err(error) => delivery.errors.push(error),
        }
        if let Some(path) = journal
            && let Ok(body) = std::fs::read(path)
            && !body.is_empty()
        {
            let key = bucket.key(report, "journal.jsonl");
            match store::put(&s3, &bucket, &key, body, "application/x-ndjson").await {
                Ok(location) => delivery.journal = Some(location),
                Err(error) => delivery.errors.push(error),
            }
        }
    }
    match send_digest(settings, clients, report, delivery.report.as_deref()).await {
        Ok(message_id) => delivery.message_id = message_id,
        Err(error) => delivery.errors.push(error),
    }
    delivery
}

/// Sends the run's digest when `settings` ask for it: one message, whatever the number of
/// findings. Returns the SNS message ID, or `None` when nothing was to be sent.
pub async fn send_digest(
    settings: &Settings,
    clients: &Clients,
    report: &Report,
    full_report: Option<&str>,
) -> Result<Option<String>, AwsError> {
    let Some(topic_arn) = &settings.topic_arn else {
        return Ok(None);
    };
    if !digest::should_send(report, settings.notify) {
        return Ok(None);
    }
    let digest = digest::render(report, full_report);
    let run_id = report.generated_at.to_string();
    notify::publish(&clients.base, topic_arn, &digest, &run_id)
        .await
        .map(Some)
}

/// Sends the digest of a run that failed before scanning anything, when a digest is wanted.
pub async fn send_failure_digest(
    settings: &Settings,
    clients: &Clients,
    now: Timestamp,
    error: &RunError,
) -> Result<Option<String>, AwsError> {
    let Some(topic_arn) = &settings.topic_arn else {
        return Ok(None);
    };
    if settings.notify == crate::config::Notify::Never {
        return Ok(None);
    }
    let digest = digest::render_failure(now, &error.to_string());
    notify::publish(&clients.base, topic_arn, &digest, &now.to_string())
        .await
        .map(Some)
}

/// Scans one account: assume, scan, judge, and (report mode) resolve the key IDs of findings.
async fn account(
    settings: &Settings,
    clients: &Clients,
    caller: &Caller,
    now: Timestamp,
    plan: AccountPlan,
    state: Option<String>,
) -> AccountOutcome {
    let pace = Arc::new(Pace::new(settings.rate));
    let result = scan_account(settings, clients, caller, now, &plan, &pace).await;
    match &result {
        Ok(_) => tracing::info!(account = %plan.id, requests = pace.requests(), "account scanned"),
        Err(error) => tracing::warn!(account = %plan.id, %error, "account not scanned"),
    }
    AccountOutcome {
        account_id: plan.id,
        name: plan.name,
        state,
        max_idle_days: plan.policy.max_idle_days,
        result: result.unwrap_or_else(AccountResult::Failed),
        aws_requests: pace.requests(),
    }
}

async fn scan_account(
    settings: &Settings,
    clients: &Clients,
    caller: &Caller,
    now: Timestamp,
    plan: &AccountPlan,
    pace: &Arc<Pace>,
) -> Result<AccountResult, AwsError> {
    let iam = clients
        .iam_for(
            caller,
            &plan.id,
            plan.profile.as_deref(),
            plan.chain.as_ref(),
            pace,
        )
        .await?;
    let root_arn = format!("arn:{}:iam::{}:root", caller.partition, plan.id);
    let scan::Scanned {
        mut inventory,
        mut errors,
    } = scan::account(&iam, pace, settings.mode, &root_arn).await?;
    let mut verdicts = rules::evaluate(&inventory, &plan.policy, now);
    let stages = plan
        .remediation
        .as_ref()
        .map(|(stages, _)| *stages)
        .unwrap_or_default();
    let deletes_inactive = |verdict: &Verdict| {
        stages.delete_inactive_keys_after_days.is_some() && verdict.outcome == Outcome::Inactive
    };

    // The credential report has no key IDs: look them up for the keys that are findings, or
    // that remediation may delete. Then confirm every finding live: the report can be hours old.
    let mut findings_confirmed_at = None;
    if settings.mode == Mode::Report {
        let users = users_with(&verdicts, |verdict| {
            verdict.credential == CredentialKind::AccessKey
                && (verdict.outcome == Outcome::Unused || deletes_inactive(verdict))
        });
        if !users.is_empty() {
            errors.extend(scan::resolve_key_ids(&iam, pace, &mut inventory, &users).await);
            verdicts = rules::evaluate(&inventory, &plan.policy, now);
        }
        errors.extend(scan::confirm(&iam, pace, &mut inventory, &verdicts).await);
        findings_confirmed_at = Some(Timestamp::now());
        verdicts = rules::evaluate(&inventory, &plan.policy, now);
    }
    // Tags decide exemptions, but only matter for findings and remediation targets: read them
    // for those users.
    if plan.policy.needs_tags() {
        let users = users_with(&verdicts, |verdict| {
            verdict.outcome == Outcome::Unused || deletes_inactive(verdict)
        });
        if !users.is_empty() {
            errors.extend(scan::read_tags(&iam, pace, &mut inventory, &users).await);
            verdicts = rules::evaluate(&inventory, &plan.policy, now);
        }
    }
    let actions = match &plan.remediation {
        Some((stages, _)) => {
            // Exempt users, and users who may be exempt (tags unread), are never touched.
            let protected = |user_name: &str| {
                inventory
                    .users
                    .iter()
                    .find(|user| user.name == user_name)
                    .is_none_or(|user| plan.policy.exemption_for(user).protects())
            };
            remediate::plan(&plan.id, &verdicts, stages, &protected)
                .into_iter()
                .map(|action| ActionOutcome {
                    action,
                    state: ActionState::Planned,
                })
                .collect()
        }
        None => Vec::new(),
    };
    Ok(AccountResult::Scanned {
        users: inventory.users.len(),
        verdicts,
        errors,
        actions,
        credential_report_generated_at: inventory.credential_report_generated_at,
        findings_confirmed_at,
    })
}

/// The users with a verdict that `matches`.
fn users_with(verdicts: &[Verdict], matches: impl Fn(&Verdict) -> bool) -> BTreeSet<String> {
    verdicts
        .iter()
        .filter(|verdict| matches(verdict))
        .map(|verdict| verdict.user_name.clone())
        .collect()
}

fn not_reached(plan: AccountPlan, state: Option<String>) -> AccountOutcome {
    AccountOutcome {
        account_id: plan.id,
        name: plan.name,
        state,
        max_idle_days: plan.policy.max_idle_days,
        result: AccountResult::Failed(AwsError {
            operation: "Scan",
            code: "NotReached".to_owned(),
            message: "the run was stopped before this account was started".to_owned(),
        }),
        aws_requests: 0,
    }
}
