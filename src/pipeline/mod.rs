//! The pipeline: one library entry point per command, used by the CLI and the Lambda alike.
//!
//! - [`scan`]: `org → assume → scan → rules → remediate → report → delivery` for a whole run,
//!   under one `now` and one [`Deadline`]; returns the [`Report`] and where it went.
//! - [`undo`]: reactivates what a run's journal says it deactivated.
//!
//! The stages live in their own files: `run` (listing and scanning the accounts), `remediation`
//! (the run-wide cap and `--apply`), `delivery` (report, digest, journal copy), `undo`, and
//! `clients` (the SDK clients and how an account is reached).

mod clients;
mod delivery;
mod remediation;
mod run;
mod undo;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use jiff::Timestamp;

pub use clients::Clients;
pub use delivery::{Delivery, DeliveryError, Sent};
pub use undo::{UndoError, undo};

use crate::aws::AwsError;
use crate::config::Settings;
use crate::deadline::Deadline;
use crate::remediate::journal::{Journal, JournalError};
use crate::report::{self, RemediationFacts, Report, RunFacts, StateSummary};
use crate::state::{self, AccountState};

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

/// One scan, as a front end asks for it.
pub struct ScanRequest<'a> {
    /// The run's single "now": every idle age is measured to it.
    pub now: Timestamp,
    /// When the run must be over.
    pub deadline: Deadline,
    /// Told as the run goes (a progress bar).
    pub events: &'a (dyn Fn(Event) + Sync),
    /// Apply the remediation plan, journaling here; `None` only plans.
    pub apply: Option<JournalPlace>,
    /// Also write the JSON report to this file.
    pub output: Option<PathBuf>,
    /// The run's ID from its trigger (the scheduled event): the digest is published at most
    /// once per ID.
    pub run_id: Option<String>,
}

/// A scan's report, and where everything went.
#[derive(Debug)]
pub struct Scanned {
    /// The report.
    pub report: Report,
    /// Where it went.
    pub delivery: Delivery,
}

/// Runs one scan: lists and scans the accounts (stopping when `stop` resolves, or at the
/// deadline), plans (and with `apply`, applies) the remediation, records the state, builds the
/// report and delivers it. A run cut short applies nothing: its plan is only shown.
pub async fn scan(
    settings: &Settings,
    clients: &Clients,
    request: ScanRequest<'_>,
    stop: impl Future<Output = ()>,
) -> Result<Scanned, ScanError> {
    let ScanRequest {
        now,
        deadline,
        events,
        apply,
        output,
        run_id,
    } = request;
    let store = state_store(settings, clients);
    if store.is_none() && settings.deletes_inactive_keys() {
        return Err(ScanError::NoStateStore);
    }
    let journal = apply
        .map(|place| open_journal(place, settings, clients, now))
        .transpose()?;
    let scanning = match run::scan_accounts(
        settings,
        clients,
        store.as_ref(),
        now,
        events,
        stop,
        &deadline,
    )
    .await
    {
        Ok(scanning) => scanning,
        Err(error) => {
            let sent = delivery::send_failure_digest(
                settings,
                clients,
                now,
                run_id.as_deref(),
                &error,
                &deadline,
            )
            .await;
            if let Err(publish) = sent {
                tracing::error!(%publish, "the failure digest could not be published");
            }
            return Err(error.into());
        }
    };
    let run::Scanning {
        caller,
        mut outcomes,
        states,
        cut_short,
    } = scanning;
    // A run cut short makes no change: the cap orders the whole organization's plan, and part
    // of it is missing. Tomorrow's run applies it.
    let applying = journal.as_ref().filter(|_| cut_short.is_none());
    if let Some(remediation) = &settings.remediation {
        remediation::remediate_all(
            settings,
            clients,
            &caller,
            now,
            remediation.max_actions,
            &mut outcomes,
            applying,
            &deadline,
        )
        .await;
    }
    let state = match &store {
        Some(store) if !states.is_empty() => {
            Some(write_states(store, &outcomes, states, now, &deadline).await)
        }
        _ => None,
    };
    let facts = RunFacts {
        generated_at: now,
        max_idle_days: settings.defaults.policy.max_idle_days,
        mode: settings.mode,
        caller_account_id: Some(caller.account_id.clone()),
        remediation: remediation_facts(settings, journal.as_ref(), cut_short.as_deref()),
        state,
    };
    let report = report::build(facts, outcomes);
    let delivery = delivery::deliver(
        settings,
        clients,
        &report,
        output.as_ref(),
        run_id.as_deref(),
        journal.as_ref(),
        &deadline,
    )
    .await;
    for error in &delivery.errors {
        tracing::error!(error = %crate::aws::describe(error), "a result could not be delivered");
    }
    Ok(Scanned { report, delivery })
}

/// Opens the journal before the first request: a journal that cannot be written stops the run
/// before anything changes.
fn open_journal(
    place: JournalPlace,
    settings: &Settings,
    clients: &Clients,
    now: Timestamp,
) -> Result<Journal, ScanError> {
    match place {
        JournalPlace::File(path) => Journal::open(&path).map_err(ScanError::Journal),
        JournalPlace::Bucket => {
            let bucket = delivery::bucket(settings).ok_or(ScanError::NoBucket)?;
            let prefix = bucket.run_key(now, "journal/");
            Ok(Journal::in_s3(clients.s3.clone(), bucket, prefix))
        }
    }
}

/// How the run's remediation went, beyond each change: applied or not (and why not), and its
/// journal.
fn remediation_facts(
    settings: &Settings,
    journal: Option<&Journal>,
    cut_short: Option<&str>,
) -> Option<RemediationFacts> {
    let remediation = settings.remediation.as_ref()?;
    Some(RemediationFacts {
        applied_mode: journal.is_some() && cut_short.is_none(),
        max_actions: remediation.max_actions,
        journal: journal.map(Journal::location),
        journal_error: journal.and_then(Journal::failure),
        withheld: journal.and(cut_short).map(|why| {
            format!("the run was cut short ({why}): no change was made, the plan is only shown")
        }),
    })
}

/// Where the state kept from run to run is: the report bucket, or the local state directory.
fn state_store(settings: &Settings, clients: &Clients) -> Option<state::Store> {
    match (delivery::bucket(settings), &settings.state_dir) {
        (Some(bucket), _) => Some(state::Store::S3 {
            s3: clients.s3.clone(),
            bucket,
        }),
        (None, Some(dir)) => Some(state::Store::Dir(dir.clone())),
        (None, None) => None,
    }
}

/// Writes the next state of every account that keeps one (and whose state could be read).
async fn write_states(
    store: &state::Store,
    outcomes: &[report::AccountOutcome],
    states: BTreeMap<String, Option<AccountState>>,
    now: Timestamp,
    deadline: &Deadline,
) -> StateSummary {
    let mut summary = StateSummary {
        location: store.location(),
        accounts: 0,
        errors: Vec::new(),
    };
    for outcome in outcomes {
        let Some(previous) = states.get(&outcome.account_id) else {
            continue;
        };
        let next = state::next(
            previous.as_ref(),
            &outcome.account_id,
            now,
            &run::seen(outcome),
        );
        match store.write(&next, deadline.delivery_timeout(4)).await {
            Ok(()) => summary.accounts += 1,
            Err(error) => {
                let error = crate::aws::describe(&error);
                tracing::error!(account = %outcome.account_id, %error, "the account's state could not be written");
                summary
                    .errors
                    .push(format!("{}: {error}", outcome.account_id));
            }
        }
    }
    summary
}
