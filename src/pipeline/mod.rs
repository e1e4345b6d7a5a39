//! The pipeline: one library entry point per command, used by the CLI and the Lambda alike.
//!
//! A run is three steps: **plan** (list the accounts once, fix the run's ID and its one `now`,
//! cut the accounts into batches), **scan a batch** (the per-account pipeline `assume → scan →
//! rules → remediate(plan)` for each account of one batch), and **merge** (every batch's
//! results checked against the plan, then remediation under the one cap, the state, the report
//! and the one digest). The entry points:
//!
//! - [`scan`]: a whole run in one process: the same three steps, with one batch, in memory,
//!   under one [`Deadline`]; returns the [`Report`] and where it went.
//! - [`plan()`], [`scan_batch`], [`merge()`]: the same steps one at a time, the run's records in
//!   a [`Place`] (a directory or an S3 prefix), for a fan-out (Step Functions, a CI matrix).
//! - [`undo`]: reactivates what a run's journal says it deactivated.
//!
//! The stages live in their own files: `run` (listing, batching and scanning the accounts),
//! `plan` (the run's records), `merge`, `remediation` (the run-wide cap and `--apply`),
//! `delivery` (report, digest, journal copy), `undo`, and `clients` (the SDK clients and how an
//! account is reached). [`lambda`] is the Lambda front end's library half: one invocation, from
//! its event to its response.

mod clients;
mod context;
mod delivery;
pub mod lambda;
mod merge;
pub mod plan;
mod remediation;
mod run;
mod undo;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use jiff::Timestamp;

pub use clients::Clients;
pub use context::Context;
use context::Run;
pub use delivery::{Delivery, Sent};
pub use plan::{Place, PlaceError, Plan};
pub use undo::{UndoError, undo};

use crate::aws::AwsError;
use crate::changes::Baseline;
use crate::config::Settings;
use crate::remediate::journal::{Journal, JournalError};
use crate::report::Report;

/// A run that could not scan anything.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// GetCallerIdentity failed: no credentials, or they do not work.
    #[error("cannot tell who is calling AWS (check the credentials and region)")]
    Caller(#[source] AwsError),
    /// ListAccounts failed: not the management account or a delegated administrator?
    #[error("cannot list the organization's accounts")]
    Organization(#[source] AwsError),
    /// The accounts were not known before the run's deadline.
    #[error("the organization's accounts could not be listed before the run's deadline")]
    OutOfTime,
}

impl RunError {
    /// What usually fixes it, for the failure digest and the function's error.
    pub fn what_to_do(&self) -> String {
        match self {
            RunError::Caller(_) => "check the credentials and region stalecreds runs with: GetCallerIdentity itself failed".to_owned(),
            RunError::Organization(error)
                if matches!(
                    error.code.as_str(),
                    "AccessDenied" | "AccessDeniedException" | "AWSOrganizationsNotInUseException"
                ) =>
            {
                "run from the organization's management account or a delegated administrator, with organizations:ListAccounts allowed (docs/permissions.md), or name the accounts (--account, accounts.yaml)".to_owned()
            }
            RunError::Organization(_) => "Organizations did not answer (throttled, unavailable, or too slow): run again; the next scheduled run tries again by itself".to_owned(),
            RunError::OutOfTime => "listing the organization took the whole time budget: give the function more time, or fan the run out (FanOut, docs/scale.md)".to_owned(),
        }
    }
}

/// What a step does when it fails before it has a report: whether this attempt is the run's
/// last word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// No retry follows (the CLI, the single function): the failure digest is sent now.
    Report,
    /// A retry may follow (a Step Functions task): the error is returned, and the state
    /// machine's `failed` step sends the failure digest once the failure is final. A failure
    /// digest sent by an attempt that a retry then repairs would take the run's one message.
    Return,
}

/// Why a scan did not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// `--apply` was asked for, and the journal cannot be opened: nothing is done.
    #[error("cannot open the journal: no change can be recorded, so none is made")]
    Journal(#[source] JournalError),
    /// Deleting inactive keys needs a place to record, from run to run, when each became
    /// inactive.
    #[error(
        "deleting inactive keys (`delete_inactive_keys_after_days`) counts their grace period from when each became inactive, recorded from run to run: set `reports.bucket` (STALECREDS_REPORT_BUCKET, --report-bucket), or `reports.state_dir` (STALECREDS_STATE_DIR, --state-dir) for a local run"
    )]
    NoStateStore,
    /// `apply` in a place whose disk does not last (Lambda) needs the report bucket.
    #[error(
        "apply needs the report bucket to keep the journal of changes (STALECREDS_REPORT_BUCKET)"
    )]
    NoBucket,
    /// Nothing could be scanned; the failure digest (if one is wanted) says so.
    #[error(transparent)]
    Run(#[from] RunError),
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

/// Where `--apply` journals its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalPlace {
    /// A local file, appended to and fsynced entry by entry (the CLI).
    File(PathBuf),
    /// The report bucket, one object per entry (Lambda: its disk does not outlive a crash).
    Bucket,
}

/// One whole scan, as a front end asks for it (beside its [`Context`]).
pub struct ScanRequest<'a> {
    /// Told as the run goes (a progress bar).
    pub events: &'a (dyn Fn(Event) + Sync),
    /// Apply the remediation plan, journaling here; `None` only plans.
    pub apply: Option<JournalPlace>,
    /// Also write the JSON report to this file.
    pub output: Option<PathBuf>,
    /// Compare with this previous report's findings (`--since`) rather than the state's.
    pub since: Option<BTreeMap<String, Baseline>>,
}

/// A scan's report, and where everything went.
#[derive(Debug)]
pub struct Scanned {
    /// The report.
    pub report: Report,
    /// Where it went.
    pub delivery: Delivery,
}

/// Runs one whole scan in this process: plans (the organization listed once, all accounts in
/// one batch), scans the batch (stopping when `stop` resolves, or at the deadline), and merges:
/// remediation (with `apply`), state, report, delivery. A run cut short applies nothing: its
/// plan is only shown.
pub async fn scan(
    ctx: &Context<'_>,
    request: ScanRequest<'_>,
    stop: impl Future<Output = ()>,
) -> Result<Scanned, ScanError> {
    ctx.check()?;
    let journal = open_journal(ctx, request.apply, ctx.now)?;
    let plan = plan_run(ctx, usize::MAX).await?;
    let run = Run::new(ctx, &plan);
    let partial = run::scan_batch(&run, &plan, 0, request.events, stop).await;
    let merging = merge::Merging {
        plan: &plan,
        partials: vec![partial],
        journal: journal.as_ref(),
        earlier: Vec::new(),
        output: request.output.as_ref(),
        once_per: ctx.run_id.as_deref(),
        since: request.since.as_ref(),
    };
    Ok(merge::merge(&run, merging).await)
}

/// Plans the run (the caller, the accounts, in batches of `batch_size`) before the hard
/// deadline; when that fails, the failure digest goes out if the failure is final here.
async fn plan_run(ctx: &Context<'_>, batch_size: usize) -> Result<Plan, ScanError> {
    let id = ctx.run_id.clone().unwrap_or_else(|| ctx.now.to_string());
    let planned = tokio::select! {
        planned = run::plan_run(ctx, id, batch_size) => planned,
        () = ctx.deadline.hard() => Err(RunError::OutOfTime),
    };
    match planned {
        Ok(plan) => Ok(plan),
        Err(error) => {
            if ctx.on_failure == OnFailure::Report {
                let failure = crate::digest::RunFailure {
                    when: "before any account was scanned",
                    error: &crate::aws::describe(&error),
                    what_to_do: &error.what_to_do(),
                };
                report_failure(ctx, ctx.run_id.as_deref(), &failure).await;
            }
            Err(error.into())
        }
    }
}

/// Sends the failure digest of a run (named `run_id`) that ended without its report, what to
/// do included.
async fn report_failure(
    ctx: &Context<'_>,
    run_id: Option<&str>,
    failure: &crate::digest::RunFailure<'_>,
) {
    let sent = delivery::send_failure_digest(ctx, run_id, failure).await;
    if let Err(publish) = sent {
        tracing::error!(%publish, "the failure digest could not be published");
    }
}

/// Sends the failure digest of a fanned-out run whose step `failed_step` failed for good (the
/// state machine's `failed` step): `error` is its error, which ends with what to do.
pub async fn report_step_failure(ctx: &Context<'_>, failed_step: &str, error: &str) {
    let when = format!("at its {failed_step} step (after every retry)");
    let failure = crate::digest::RunFailure {
        when: &when,
        error,
        what_to_do: "see the error above; the next scheduled run starts afresh, and nothing was changed in IAM by this one",
    };
    report_failure(ctx, ctx.run_id.as_deref(), &failure).await;
}

/// Where a plan went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The plan (`…/plan.json`).
    pub plan: String,
    /// The batch indexes as a JSON array, for a Step Functions ItemReader (`…/items.json`).
    pub items: String,
    /// The run's ID.
    pub run_id: String,
    /// How many batches.
    pub batches: usize,
    /// How many accounts to scan.
    pub accounts: usize,
}

/// Why a step of a fanned-out run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A record of the run could not be read or written.
    #[error(transparent)]
    Place(#[from] PlaceError),
    /// The plan's batch does not exist.
    #[error("the plan has {batches} batches; there is no batch {index}")]
    NoSuchBatch {
        /// The batch asked for.
        index: usize,
        /// How many there are.
        batches: usize,
    },
    /// The step runs with other settings than the plan.
    #[error(
        "this step's settings are not the plan's (fingerprint {found}, the plan's {planned}): run every step with the same configuration"
    )]
    OtherSettings {
        /// The plan's fingerprint.
        planned: String,
        /// This step's.
        found: String,
    },
    /// The plan's format is not this program's.
    #[error("the plan's format is {found}; this program reads {}", plan::SCHEMA)]
    OtherFormat {
        /// The plan's.
        found: u32,
    },
    /// The scan could not start (a journal, a state store, the listing).
    #[error(transparent)]
    Scan(#[from] ScanError),
}

impl StepError {
    /// What usually fixes it, for the failure digest and the function's error.
    pub fn what_to_do(&self) -> String {
        match self {
            StepError::Place(_) => "allow the function s3:GetObject and s3:PutObject on the report bucket's stalecreds/ keys and s3:ListBucket for the prefix stalecreds/ (docs/permissions.md), then run the step again".to_owned(),
            StepError::NoSuchBatch { .. } => "run only the batches the plan lists".to_owned(),
            StepError::OtherSettings { .. } => "the configuration changed during the run (a deploy between its steps); every step of a run must use the plan's configuration. The next scheduled run plans with the new one; this run changed nothing in IAM".to_owned(),
            StepError::OtherFormat { .. } => "the run was planned by another version of stalecreds; the next scheduled run plans with this one".to_owned(),
            StepError::Scan(error) => error.what_to_do(),
        }
    }
}

impl ScanError {
    /// What usually fixes it.
    pub fn what_to_do(&self) -> String {
        match self {
            ScanError::Run(error) => error.what_to_do(),
            ScanError::Journal(_) => "the journal of changes could not be opened or read: allow s3:PutObject, s3:GetObject and s3:ListBucket on the report bucket's stalecreds/ prefix (a local journal: a writable file); no change was made".to_owned(),
            ScanError::NoStateStore | ScanError::NoBucket => "configure the report bucket (STALECREDS_REPORT_BUCKET), or a state directory for a local run".to_owned(),
        }
    }
}

/// `plan`: lists the accounts once and writes the run's plan (and its batch list, batches of
/// `settings.batch_size`) at `place`. When the accounts cannot be listed and the failure is
/// final here, the failure digest goes out.
pub async fn plan(ctx: &Context<'_>, place: &Place) -> Result<Planned, StepError> {
    ctx.check()?;
    let plan = plan_run(ctx, ctx.settings.batch_size).await?;
    let items: Vec<serde_json::Value> = (0..plan.batches.len())
        .map(|batch| serde_json::json!({ "batch": batch }))
        .collect();
    let items = place.write("items.json", &items).await?;
    Ok(Planned {
        plan: place.write("plan.json", &plan).await?,
        items,
        run_id: plan.run_id.clone(),
        batches: plan.batches.len(),
        accounts: plan.batches.iter().map(Vec::len).sum(),
    })
}

/// What one batch wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchWritten {
    /// Where its partial is.
    pub partial: String,
    /// How many accounts it scanned (or found not reached).
    pub accounts: usize,
    /// Why it was cut short, if it was.
    pub cut_short: Option<String>,
}

/// `scan --plan PLAN --batch I`: scans one batch of the plan at `plan_location` and writes its
/// partial beside the plan. Running a batch again replaces its partial.
pub async fn scan_batch(
    ctx: &Context<'_>,
    plan_location: &str,
    index: usize,
    stop: impl Future<Output = ()>,
) -> Result<BatchWritten, StepError> {
    let (plan, place) = plan::read_plan(plan_location, &ctx.clients.s3).await?;
    check_plan(&plan, ctx.settings)?;
    if index >= plan.batches.len() {
        return Err(StepError::NoSuchBatch {
            index,
            batches: plan.batches.len(),
        });
    }
    let run = Run::new(ctx, &plan);
    let partial = run::scan_batch(&run, &plan, index, &|_| {}, stop).await;
    Ok(BatchWritten {
        partial: place.write(&plan::partial_name(index), &partial).await?,
        accounts: partial.outcomes.len(),
        cut_short: partial.cut_short,
    })
}

/// What a merge did.
#[derive(Debug)]
pub enum Merged {
    /// The run's report, and where it went.
    Done(Box<Scanned>),
    /// An earlier merge of this run finished: nothing was done again.
    Already {
        /// Where its report is.
        report: Option<String>,
    },
}

/// How a merge is asked for, beside its plan.
#[derive(Debug, Clone)]
pub struct MergeRequest<'a> {
    /// Apply the remediation plan, journaling here; `None` only plans.
    pub apply: Option<JournalPlace>,
    /// Also write the JSON report to this file.
    pub output: Option<PathBuf>,
    /// Compare with this previous report's findings (`--since`) rather than the state's.
    pub since: Option<&'a BTreeMap<String, Baseline>>,
}

/// `merge --plan PLAN`: reads the plan and every batch's partial beside it (by name: no listing),
/// and makes the run's one report, remediation (with `apply`), state and digest. At most once
/// per run: a merge that finished leaves a marker, and a merge run again finds it and does
/// nothing; a merge cut off in the middle is continued, its journal counting against the cap.
/// A merge that refuses (the plan unreadable, the settings changed since the plan, the journal
/// unreadable) sends the failure digest when its refusal is final: the run's one message says
/// that it failed, why, and what to do.
pub async fn merge(
    ctx: &Context<'_>,
    plan_location: &str,
    request: MergeRequest<'_>,
) -> Result<Merged, StepError> {
    let (run_id, merged) = match plan::read_plan(plan_location, &ctx.clients.s3).await {
        Ok((plan, place)) => {
            let merged = merge_plan(ctx, &plan, &place, request).await;
            (Some(plan.run_id), merged)
        }
        Err(error) => (None, Err(error.into())),
    };
    if let (Err(error), OnFailure::Report) = (&merged, ctx.on_failure) {
        let failure = crate::digest::RunFailure {
            when: "at its merge",
            error: &crate::aws::describe(error),
            what_to_do: &error.what_to_do(),
        };
        report_failure(ctx, run_id.as_deref(), &failure).await;
    }
    merged
}

async fn merge_plan(
    ctx: &Context<'_>,
    plan: &Plan,
    place: &Place,
    request: MergeRequest<'_>,
) -> Result<Merged, StepError> {
    check_plan(plan, ctx.settings)?;
    if let Some(marker) = place
        .read::<serde_json::Value>("merged.json", "merge marker")
        .await?
    {
        return Ok(Merged::Already {
            report: marker["report"].as_str().map(str::to_owned),
        });
    }
    ctx.check()?;
    let journal = open_journal(ctx, request.apply, plan.now)?;
    let earlier = match &journal {
        Some(journal) => journal
            .entries_of_run(&ctx.clients.s3, &plan.now.to_string())
            .await
            .map_err(ScanError::Journal)?,
        None => Vec::new(),
    };
    let merging = merge::Merging {
        plan,
        partials: read_partials(plan, place).await,
        journal: journal.as_ref(),
        earlier,
        output: request.output.as_ref(),
        once_per: Some(&plan.run_id),
        since: request.since,
    };
    let scanned = merge::merge(&Run::new(ctx, plan), merging).await;
    let marker = serde_json::json!({
        "run_id": plan.run_id,
        "report": scanned.delivery.report,
        "complete": scanned.report.is_complete() && scanned.delivery.errors.is_empty(),
    });
    if let Err(error) = place.write("merged.json", &marker).await {
        tracing::error!(error = %crate::aws::describe(&error), "the merge's marker could not be written: a retry would merge again (without publishing twice)");
    }
    Ok(Merged::Done(Box::new(scanned)))
}

/// Every batch's partial found beside the plan, by name; a partial that cannot be read is a
/// batch that did not report (its accounts are named not reached).
async fn read_partials(plan: &Plan, place: &Place) -> Vec<plan::Partial> {
    let mut partials = Vec::new();
    for index in 0..plan.batches.len() {
        match place
            .read::<plan::Partial>(&plan::partial_name(index), "partial")
            .await
        {
            Ok(Some(partial)) => partials.push(partial),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(error = %crate::aws::describe(&error), "a batch's results cannot be read")
            }
        }
    }
    partials
}

/// Whether a step may work from `plan` with `settings`.
fn check_plan(plan: &Plan, settings: &Settings) -> Result<(), StepError> {
    if plan.schema != plan::SCHEMA {
        return Err(StepError::OtherFormat { found: plan.schema });
    }
    let found = plan::fingerprint(settings);
    if found != plan.fingerprint {
        return Err(StepError::OtherSettings {
            planned: plan.fingerprint.clone(),
            found,
        });
    }
    Ok(())
}

/// Opens the journal of `apply` (for the run whose `now` is `now`) before the first request: a
/// journal that cannot be written stops the run before anything changes.
fn open_journal(
    ctx: &Context<'_>,
    apply: Option<JournalPlace>,
    now: Timestamp,
) -> Result<Option<Journal>, ScanError> {
    let Some(place) = apply else {
        return Ok(None);
    };
    match place {
        JournalPlace::File(path) => Journal::open(&path).map(Some).map_err(ScanError::Journal),
        JournalPlace::Bucket => {
            let bucket = delivery::bucket(ctx.settings).ok_or(ScanError::NoBucket)?;
            let prefix = bucket.run_key(now, "journal/");
            Ok(Some(Journal::in_s3(ctx.clients.s3.clone(), bucket, prefix)))
        }
    }
}

impl Context<'_> {
    /// Whether this run can be made: deleting inactive keys needs a state store.
    fn check(&self) -> Result<(), ScanError> {
        if self.store.is_none() && self.settings.deletes_inactive_keys() {
            return Err(ScanError::NoStateStore);
        }
        Ok(())
    }
}
