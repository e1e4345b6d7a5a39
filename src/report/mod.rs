//! The report stage: the run's results as a versioned, machine-readable document, and its
//! renderings for people (`table`) and spreadsheets (`csv`).
//!
//! Takes the per-account outcomes of the pipeline and returns a [`Report`]. These are the only
//! serializable types of the crate: the schema is a contract, documented in
//! `docs/report-schema.md` and versioned by [`SCHEMA_VERSION`]. No secret, session token or
//! external ID ever reaches a report.

pub mod asff;
pub mod changes;
pub mod controls;
pub mod csv;
pub mod html;
pub mod ocsf;
pub mod table;
pub mod words;

use std::io::Write;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::aws::AwsError;
use crate::failure::Failure;
// The types the report's fields name, so that its readers can name them too.
pub use crate::changes::{Change, Reason};
pub use crate::failure::FailureKind;
pub use crate::inventory::KeyStatus;
pub use crate::remediate::{ActionKind, ActionStatus};
pub use crate::rules::cis::{CisControl, CisVersion};
pub use crate::rules::{CredentialKind, Outcome, Owner, Rule, Severity};
pub use crate::scan::{Confirmation, Mode};

use crate::remediate::{ActionOutcome, ActionState};
use crate::rules::Verdict;
use crate::scan::UserError;

/// The version of the report schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 4;

/// The whole run, as written by `--output` and `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// The run's single `now`: every idle age is measured to this instant.
    pub generated_at: Timestamp,
    /// The default threshold, in days (an account may override it).
    pub max_idle_days: u32,
    /// How IAM was read: `report` or `api`.
    pub mode: Mode,
    /// The CIS AWS Foundations versions each finding's `cis` maps to.
    #[serde(default)]
    pub cis_versions: Vec<CisVersion>,
    /// The account the scan ran from.
    pub caller_account_id: Option<String>,
    /// Every account considered, sorted by ID.
    pub accounts: Vec<AccountEntry>,
    /// Unused credentials, not exempt: what to act on.
    pub findings: Vec<Finding>,
    /// Inactive keys and exempt credentials: reported, never counted as findings.
    pub information: Vec<Finding>,
    /// Counts.
    pub summary: Summary,
    /// The remediation plan or its application, when a remediation policy is configured.
    pub remediation: Option<RemediationSummary>,
    /// The state kept from run to run, when this run kept some.
    pub state: Option<StateSummary>,
    /// What changed since the last run, counted.
    pub changes: Option<changes::ChangesSummary>,
    /// Findings of each account's last complete scan that are gone.
    pub resolved: Vec<changes::ResolvedFinding>,
}

/// The state this run kept for the next (when each inactive key became inactive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSummary {
    /// Where it is (an `s3://` prefix, or a directory).
    pub location: String,
    /// Accounts whose state was written.
    pub accounts: usize,
    /// Accounts whose state could not be written, with why: their inactive keys' grace periods
    /// may start again; the run is incomplete.
    pub errors: Vec<String>,
    /// Accounts whose state could not be read, with why and the permission that fixes it:
    /// nothing of theirs is compared or deleted, and nothing is written back over it.
    #[serde(default)]
    pub unreadable: Vec<String>,
}

/// The program that wrote a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `stalecreds`.
    pub name: String,
    /// The program's version.
    pub version: String,
}

/// What happened to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Scanned (see `user_errors` for users that could not be read).
    Scanned,
    /// Could not be scanned; `error` says why.
    Failed,
    /// Deliberately not scanned (not ACTIVE); `state` says why.
    Skipped,
}

/// One account in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntry {
    /// The 12-digit account ID.
    pub account_id: String,
    /// The account's name, when known.
    pub name: Option<String>,
    /// Scanned, failed or skipped.
    pub status: AccountStatus,
    /// The Organizations state, when the account came from Organizations.
    pub state: Option<String>,
    /// Why a skipped account was skipped.
    pub skip_reason: Option<String>,
    /// Why the account failed.
    pub error: Option<ErrorEntry>,
    /// Users that could not be read in a scanned account.
    pub user_errors: Vec<UserErrorEntry>,
    /// When the credential report used was generated (report mode).
    pub credential_report_generated_at: Option<Timestamp>,
    /// When the report's findings were confirmed against live state (report mode).
    pub findings_confirmed_at: Option<Timestamp>,
    /// Report mode: `fresh_report` (the credential report was generated for this run, nothing
    /// to confirm) or `live` (an older report: every finding read again live).
    pub confirmation: Option<crate::scan::Confirmation>,
    /// The threshold applied to this account, in days.
    pub max_idle_days: u32,
    /// Users read.
    pub users: usize,
    /// Credentials judged.
    pub credentials: usize,
    /// Findings in this account.
    pub findings: usize,
    /// AWS requests made for this account, retries included.
    pub aws_requests: u64,
}

/// A failure, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// What kind of failure: `aws` (an AWS error), or one of stalecreds' own (`wrong_account`,
    /// `not_reached`, `report_timeout`).
    #[serde(default = "aws_kind")]
    pub kind: FailureKind,
    /// The API operation that failed.
    pub operation: String,
    /// The AWS error code (for stalecreds' own failures, the kind's name).
    pub code: String,
    /// The error message.
    pub message: String,
}

fn aws_kind() -> FailureKind {
    FailureKind::Aws
}

/// A user that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserErrorEntry {
    /// The user's name.
    pub user_name: String,
    /// What failed.
    pub error: ErrorEntry,
}

/// One credential in `findings` or `information`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The finding's identity from run to run: account, user and its creation time, credential
    /// and key (`crate::changes::finding_id`).
    pub finding_id: String,
    /// The rule code (`access-key-unused`, `password-unused`, `root-access-key`).
    pub rule: Rule,
    /// `medium`, `high` or `critical`.
    pub severity: Severity,
    /// The account's ID.
    pub account_id: String,
    /// The account's name, when known.
    pub account_name: Option<String>,
    /// The IAM user name (`<root_account>` for root).
    pub user_name: String,
    /// The user's ARN.
    pub user_arn: String,
    /// When the user was created (none for root).
    pub user_created: Option<Timestamp>,
    /// `access_key`, `password` or `root_access_key`.
    pub credential: CredentialKind,
    /// The access key ID; null for other credentials.
    pub access_key_id: Option<String>,
    /// The credential's ID when known, whatever its kind (access key, SSH key, service-specific
    /// credential, certificate).
    #[serde(default)]
    pub credential_id: Option<String>,
    /// A service-specific credential's service.
    #[serde(default)]
    pub service: Option<String>,
    /// When the credential expires, when it was created with an expiration.
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// The key's IAM status (`Active`, `Inactive`); null for passwords.
    pub credential_status: Option<KeyStatus>,
    /// When the credential was created (a password: when it was last set).
    pub created: Option<Timestamp>,
    /// The last use; null if never used (or not recorded).
    pub last_used: Option<Timestamp>,
    /// The service of the last use, when AWS names one.
    pub last_used_service: Option<String>,
    /// The later of `created` and `last_used`.
    pub idle_since: Option<Timestamp>,
    /// Whole days from `idle_since` to `generated_at`; null when unknown.
    pub idle_days: Option<i64>,
    /// `unused`, `inactive` or `exempt`.
    pub outcome: Outcome,
    /// For a finding: `new` (not in its account's last complete scan) or `ongoing`; null when
    /// unknown (the account's baseline could not be read) and for information.
    pub change: Option<crate::changes::Change>,
    /// For a finding: the first run that found it.
    pub first_seen: Option<Timestamp>,
    /// Why the credential is exempt.
    pub exempt_reason: Option<String>,
    /// Why the credential might be exempt without it being known (the user's tags could not be
    /// read, and an exemption is by tag): it stays a finding, and is never remediated.
    pub exemption_unknown: Option<String>,
    /// The user's owner, from its tags (`owners.tag_keys`), when configured and known.
    pub owner: Option<crate::rules::Owner>,
    /// The CIS AWS Foundations control it fails, in each of the report's `cis_versions`.
    #[serde(default)]
    pub cis: Vec<CisControl>,
    /// The remediation planned for this credential, and what became of it.
    pub remediation: Option<RemediationEntry>,
}

/// A planned change to a credential, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationEntry {
    /// `deactivate_key`, `delete_inactive_key` or `delete_password`.
    pub action: ActionKind,
    /// `planned` (no `--apply`), `deferred` (beyond `max_actions`), `applied`, `skipped`,
    /// `failed` or `waiting`.
    pub state: ActionStatus,
    /// Whether `stalecreds undo` can reverse it (only deactivations).
    pub reversible: bool,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Why it failed.
    pub error: Option<ErrorEntry>,
    /// A deletion waiting for its grace period: the first day it may be made.
    pub eligible_on: Option<Timestamp>,
}

/// The run's remediation, counted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RemediationSummary {
    /// Whether `--apply` was given (otherwise this is a plan).
    pub applied_mode: bool,
    /// The cap on changes per run.
    pub max_actions: usize,
    /// Changes planned, not applied (no `--apply`).
    pub planned: usize,
    /// Changes beyond the cap: planned, not applied in this run.
    pub deferred: usize,
    /// Changes made.
    pub applied: usize,
    /// Changes not made because the live state no longer qualified.
    pub skipped: usize,
    /// Changes AWS refused.
    pub failed: usize,
    /// Planned or deferred changes that cannot be undone (deletions).
    pub irreversible: usize,
    /// Deletions of inactive keys waiting for their grace period (not counted in the cap).
    pub waiting: usize,
    /// Where the journal of changes is (with `--apply`).
    pub journal: Option<String>,
    /// Why the journal could not be written, when it could not: no change was made after that.
    pub journal_error: Option<String>,
    /// Why `--apply` made no change at all (a run cut short by its deadline or Ctrl-C).
    pub withheld: Option<String>,
}

/// Counts over the whole run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Accounts considered.
    pub accounts: usize,
    /// Accounts scanned.
    pub accounts_scanned: usize,
    /// Accounts that failed.
    pub accounts_failed: usize,
    /// Accounts skipped.
    pub accounts_skipped: usize,
    /// Scanned accounts in which some users could not be read.
    pub accounts_incomplete: usize,
    /// Users read.
    pub users: usize,
    /// Credentials judged.
    pub credentials: usize,
    /// Findings (unused, not exempt).
    pub findings: usize,
    /// Findings on access keys.
    pub unused_access_keys: usize,
    /// Findings on passwords.
    pub unused_passwords: usize,
    /// Root access keys.
    pub root_access_keys: usize,
    /// Findings on SSH public keys.
    #[serde(default)]
    pub old_ssh_keys: usize,
    /// Findings on service-specific credentials (Bedrock API keys excepted).
    #[serde(default)]
    pub old_service_credentials: usize,
    /// Findings on Bedrock long-term API keys.
    #[serde(default)]
    pub long_lived_bedrock_api_keys: usize,
    /// Findings on signing certificates.
    #[serde(default)]
    pub old_signing_certificates: usize,
    /// Inactive keys (information).
    pub inactive_keys: usize,
    /// Unused but exempt credentials.
    pub exempt: usize,
    /// Findings whose exemption is unknown (tags unreadable): never remediated.
    pub exemption_unknown: usize,
    /// Accounts with at least one finding.
    pub accounts_with_findings: usize,
}

impl Report {
    /// Whether every account that was to be scanned was scanned completely, no change failed,
    /// the journal and the state were written, and `--apply` was not withheld.
    pub fn is_complete(&self) -> bool {
        self.summary.accounts_failed == 0
            && self.summary.accounts_incomplete == 0
            && self.remediation.as_ref().is_none_or(|remediation| {
                remediation.failed == 0
                    && remediation.journal_error.is_none()
                    && remediation.withheld.is_none()
            })
            && self
                .state
                .as_ref()
                .is_none_or(|state| state.errors.is_empty() && state.unreadable.is_empty())
    }

    /// Writes the report to `path` as JSON, atomically: a crash never leaves half a report, and
    /// an existing file is replaced only by a complete one.
    pub fn write_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        write_atomically(path, |out| self.write_json(out))
    }

    /// Writes the report as pretty JSON with a final newline.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }
}

/// Writes a file through `write`, atomically: into a temporary file beside `path`, synced, then
/// renamed over it; the temporary file is removed when anything fails.
pub(crate) fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(file_name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
        write(&mut file)?;
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The outcome of one account, as the pipeline hands it to [`build`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AccountOutcome {
    /// The account's ID.
    pub account_id: String,
    /// The account's name, when known.
    pub name: Option<String>,
    /// The Organizations state, when known.
    pub state: Option<String>,
    /// The threshold applied.
    pub max_idle_days: u32,
    /// What happened.
    pub result: AccountResult,
    /// AWS requests made for the account.
    pub aws_requests: u64,
}

/// What happened to one account.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum AccountResult {
    /// Scanned: a verdict for every credential, and the users that could not be read.
    Scanned {
        /// Users read.
        users: usize,
        /// The verdicts.
        verdicts: Vec<Verdict>,
        /// Users that could not be read.
        errors: Vec<UserError>,
        /// When the credential report was generated (report mode).
        credential_report_generated_at: Option<Timestamp>,
        /// When the findings were confirmed against live state (report mode).
        findings_confirmed_at: Option<Timestamp>,
        /// How the findings were checked against live state (report mode).
        #[serde(default)]
        confirmation: Option<crate::scan::Confirmation>,
        /// The remediation planned for the account, and what became of it.
        actions: Vec<ActionOutcome>,
    },
    /// Not scanned, for this reason.
    Failed(Failure),
    /// Not scanned on purpose, for this reason.
    Skipped(String),
}

/// What the report says about the run as a whole.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The run's `now`.
    pub generated_at: Timestamp,
    /// The default threshold.
    pub max_idle_days: u32,
    /// `report` or `api`.
    pub mode: Mode,
    /// The caller's account, when known.
    pub caller_account_id: Option<String>,
    /// With a remediation policy: how it was applied.
    pub remediation: Option<RemediationFacts>,
    /// The state kept for the next run, if any.
    pub state: Option<StateSummary>,
    /// The CIS versions findings are mapped to.
    pub cis_versions: Vec<CisVersion>,
}

/// How a run's remediation went, beyond each change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemediationFacts {
    /// Whether changes were applied (`--apply`, and the run was not cut short).
    pub applied_mode: bool,
    /// The cap.
    pub max_actions: usize,
    /// Where the journal is.
    pub journal: Option<String>,
    /// Why the journal could not be written.
    pub journal_error: Option<String>,
    /// Why `--apply` made no change.
    pub withheld: Option<String>,
}

/// Assembles the report; accounts are sorted by ID, and findings by account, user, kind and key.
pub fn build(facts: RunFacts, mut outcomes: Vec<AccountOutcome>) -> Report {
    outcomes.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let mut built = Built {
        remediation: facts.remediation.map(|facts| RemediationSummary {
            applied_mode: facts.applied_mode,
            max_actions: facts.max_actions,
            journal: facts.journal,
            journal_error: facts.journal_error,
            withheld: facts.withheld,
            ..RemediationSummary::default()
        }),
        ..Built::default()
    };
    let accounts = outcomes
        .into_iter()
        .map(|outcome| built.account(outcome))
        .collect();
    for item in built.findings.iter_mut().chain(&mut built.information) {
        item.cis = crate::rules::cis::controls(item.rule, &facts.cis_versions);
    }
    built.findings.sort_by(finding_order);
    built.information.sort_by(finding_order);
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "stalecreds".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        generated_at: facts.generated_at,
        max_idle_days: facts.max_idle_days,
        mode: facts.mode,
        cis_versions: facts.cis_versions,
        caller_account_id: facts.caller_account_id,
        accounts,
        findings: built.findings,
        information: built.information,
        summary: built.summary,
        remediation: built.remediation,
        state: facts.state,
        changes: None,
        resolved: Vec::new(),
    }
}

/// What [`build`] gathers account by account.
#[derive(Default)]
struct Built {
    summary: Summary,
    findings: Vec<Finding>,
    information: Vec<Finding>,
    remediation: Option<RemediationSummary>,
}

impl Built {
    /// One account's entry; its findings and counts join the run's.
    fn account(&mut self, outcome: AccountOutcome) -> AccountEntry {
        let mut entry = AccountEntry {
            account_id: outcome.account_id.clone(),
            name: outcome.name.clone(),
            status: AccountStatus::Skipped,
            state: outcome.state.clone(),
            skip_reason: None,
            error: None,
            user_errors: Vec::new(),
            credential_report_generated_at: None,
            findings_confirmed_at: None,
            confirmation: None,
            max_idle_days: outcome.max_idle_days,
            users: 0,
            credentials: 0,
            findings: 0,
            aws_requests: outcome.aws_requests,
        };
        self.summary.accounts += 1;
        match outcome.result {
            AccountResult::Skipped(reason) => {
                self.summary.accounts_skipped += 1;
                entry.skip_reason = Some(reason);
            }
            AccountResult::Failed(failure) => {
                self.summary.accounts_failed += 1;
                entry.status = AccountStatus::Failed;
                entry.error = Some(ErrorEntry {
                    kind: failure.kind(),
                    ..error_entry(&failure.as_error())
                });
            }
            scanned @ AccountResult::Scanned { .. } => self.scanned(&mut entry, scanned),
        }
        entry
    }

    /// A scanned account's figures, findings and remediation, into its entry and the run's.
    fn scanned(&mut self, entry: &mut AccountEntry, result: AccountResult) {
        let AccountResult::Scanned {
            users,
            verdicts,
            errors,
            credential_report_generated_at,
            findings_confirmed_at,
            confirmation,
            actions,
        } = result
        else {
            return;
        };
        if let Some(counts) = self.remediation.as_mut() {
            count_actions(counts, &actions);
        }
        self.summary.accounts_scanned += 1;
        self.summary.users += users;
        self.summary.credentials += verdicts.len();
        if !errors.is_empty() {
            self.summary.accounts_incomplete += 1;
        }
        entry.status = AccountStatus::Scanned;
        entry.credential_report_generated_at = credential_report_generated_at;
        entry.findings_confirmed_at = findings_confirmed_at;
        entry.confirmation = confirmation;
        entry.users = users;
        entry.credentials = verdicts.len();
        entry.user_errors = errors
            .iter()
            .map(|error| UserErrorEntry {
                user_name: error.user_name.clone(),
                error: error_entry(&error.error),
            })
            .collect();
        for verdict in &verdicts {
            let mut item = finding(&entry.account_id, entry.name.as_deref(), verdict);
            item.remediation = actions
                .iter()
                .find(|planned| is_for(planned, verdict))
                .map(remediation_entry);
            entry.findings += usize::from(self.verdict(verdict, item));
        }
        self.summary.findings += entry.findings;
        if entry.findings > 0 {
            self.summary.accounts_with_findings += 1;
        }
    }

    /// Files one credential under findings or information, and counts it; whether it is a
    /// finding.
    fn verdict(&mut self, verdict: &Verdict, item: Finding) -> bool {
        let summary = &mut self.summary;
        match verdict.outcome {
            Outcome::InUse => return false,
            Outcome::Inactive => summary.inactive_keys += 1,
            Outcome::Exempt => summary.exempt += 1,
            Outcome::Unused => {
                if verdict.exemption_unknown.is_some() {
                    summary.exemption_unknown += 1;
                }
                *match verdict.credential {
                    CredentialKind::AccessKey => &mut summary.unused_access_keys,
                    CredentialKind::Password => &mut summary.unused_passwords,
                    CredentialKind::RootAccessKey => &mut summary.root_access_keys,
                    CredentialKind::SshKey => &mut summary.old_ssh_keys,
                    CredentialKind::ServiceCredential => &mut summary.old_service_credentials,
                    CredentialKind::BedrockApiKey => &mut summary.long_lived_bedrock_api_keys,
                    CredentialKind::SigningCertificate => &mut summary.old_signing_certificates,
                } += 1;
                self.findings.push(item);
                return true;
            }
        }
        self.information.push(item);
        false
    }
}

/// Whether a planned change is about this verdict's credential.
fn is_for(planned: &ActionOutcome, verdict: &Verdict) -> bool {
    planned.action.is_for(verdict)
}

fn remediation_entry(planned: &ActionOutcome) -> RemediationEntry {
    let (reason, error, eligible_on) = match &planned.state {
        ActionState::Skipped(reason) => (Some(reason.clone()), None, None),
        ActionState::Failed(error) => (None, Some(error_entry(error)), None),
        ActionState::Deferred => (
            Some("beyond max_actions: not applied in this run".to_owned()),
            None,
            None,
        ),
        ActionState::Waiting(wait) => (Some(wait.reason.clone()), None, wait.eligible_on),
        ActionState::Planned | ActionState::Applied => (None, None, None),
    };
    RemediationEntry {
        action: planned.action.kind,
        state: planned.state.status(),
        reversible: planned.action.kind.is_reversible(),
        reason,
        error,
        eligible_on,
    }
}

fn count_actions(counts: &mut RemediationSummary, actions: &[ActionOutcome]) {
    for planned in actions {
        match planned.state {
            ActionState::Planned => counts.planned += 1,
            ActionState::Deferred => counts.deferred += 1,
            ActionState::Applied => counts.applied += 1,
            ActionState::Skipped(_) => counts.skipped += 1,
            ActionState::Failed(_) => counts.failed += 1,
            ActionState::Waiting(_) => counts.waiting += 1,
        }
        if matches!(planned.state, ActionState::Planned | ActionState::Deferred)
            && !planned.action.kind.is_reversible()
        {
            counts.irreversible += 1;
        }
    }
}

fn finding_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (
        &a.account_id,
        &a.user_name,
        &a.credential,
        &a.access_key_id,
        &a.created,
    )
        .cmp(&(
            &b.account_id,
            &b.user_name,
            &b.credential,
            &b.access_key_id,
            &b.created,
        ))
}

fn error_entry(error: &AwsError) -> ErrorEntry {
    ErrorEntry {
        kind: FailureKind::Aws,
        operation: error.operation.to_string(),
        code: error.code.clone(),
        message: error.message.clone(),
    }
}

fn finding(account_id: &str, account_name: Option<&str>, verdict: &Verdict) -> Finding {
    Finding {
        finding_id: crate::changes::finding_id(account_id, verdict),
        rule: verdict.rule,
        severity: verdict.rule.severity(),
        account_id: account_id.to_owned(),
        account_name: account_name.map(str::to_owned),
        user_name: verdict.user_name.clone(),
        user_arn: verdict.user_arn.clone(),
        user_created: verdict.user_created,
        credential: verdict.credential,
        access_key_id: matches!(
            verdict.credential,
            CredentialKind::AccessKey | CredentialKind::RootAccessKey
        )
        .then(|| verdict.access_key_id.clone())
        .flatten(),
        credential_id: verdict.access_key_id.clone(),
        service: verdict.service.clone(),
        expires: verdict.expires,
        credential_status: verdict.key_status,
        created: verdict.created,
        last_used: verdict.last_used,
        last_used_service: verdict.last_used_service.clone(),
        idle_since: verdict.idle_since,
        idle_days: verdict.idle_days,
        outcome: verdict.outcome,
        change: None,
        first_seen: None,
        exempt_reason: verdict.exempt_reason.clone(),
        exemption_unknown: verdict.exemption_unknown.clone(),
        owner: verdict.owner.clone(),
        cis: Vec::new(),
        remediation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_schema_example_is_a_report() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.md"),
        )
        .expect("docs");
        let example = doc
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a JSON example");
        let report: Report = serde_json::from_str(example).expect("the example parses as a Report");
        assert_eq!(report.schema_version, SCHEMA_VERSION);
        // Every field is in the example: serializing it back gives the same JSON value.
        let again = serde_json::to_value(&report).expect("serializes");
        let original: serde_json::Value = serde_json::from_str(example).expect("JSON");
        assert_eq!(again, original);
    }
}
