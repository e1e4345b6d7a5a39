//! The report's view of what changed since the last run (`crate::changes`): each finding's
//! `change` and `first_seen`, the `resolved` list and the `changes` counts; and the baselines a
//! previous report gives (`--since`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{AccountStatus, Report};
use crate::changes::{AccountChanges, Baseline, Change, Open, Reason};
use crate::remediate::ActionStatus;
use crate::rules::CredentialKind;

/// Where the run's baselines came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// The state store (the report bucket, or `--state-dir`).
    State,
    /// A previous report (`--since`).
    Report,
    /// None: no state store and no previous report, so every finding is new.
    None,
}

/// What changed since the last run, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesSummary {
    /// Where the baselines came from.
    pub baseline: BaselineSource,
    /// The oldest baseline compared with (each account's last complete scan).
    pub since: Option<Timestamp>,
    /// Findings not in their account's baseline.
    pub new: usize,
    /// Findings in it.
    pub ongoing: usize,
    /// Findings of a baseline that are gone.
    pub resolved: usize,
    /// Accounts compared with an earlier complete scan.
    pub accounts_compared: usize,
    /// Accounts with no earlier scan (the first run): all their findings are new.
    pub accounts_first_seen: usize,
    /// Accounts whose baseline could not be read: their findings are not labelled, nothing of
    /// theirs is resolved.
    pub accounts_unreadable: usize,
    /// Accounts not scanned, or scanned incompletely, today: nothing of theirs is resolved.
    pub accounts_not_resolving: usize,
}

/// A finding of the last complete scan that is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedFinding {
    /// Its identity (`crate::changes::finding_id`).
    pub finding_id: String,
    /// The account.
    pub account_id: String,
    /// The account's name, when known.
    pub account_name: Option<String>,
    /// The user.
    pub user_name: String,
    /// The user's ARN, when known (a baseline older than this field has none).
    #[serde(default)]
    pub user_arn: Option<String>,
    /// The kind of credential.
    pub credential: CredentialKind,
    /// The access key's ID, when known; null for other credentials.
    pub access_key_id: Option<String>,
    /// The credential's ID when known, whatever its kind.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// The first run that found it.
    pub first_seen: Timestamp,
    /// Why it is gone.
    pub reason: Reason,
}

/// What is known of one account's baseline, and the comparison with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// Whether a baseline was known (`Some(at)`), absent (`None`), or unreadable (`Err`).
    pub baseline: Result<Option<Timestamp>, String>,
    /// The comparison.
    pub changes: AccountChanges,
}

/// Labels the report's findings, lists the resolved ones and counts.
pub fn annotate(
    report: &mut Report,
    source: BaselineSource,
    compared: &BTreeMap<String, Compared>,
) {
    let mut summary = ChangesSummary {
        baseline: source,
        since: None,
        new: 0,
        ongoing: 0,
        resolved: 0,
        accounts_compared: 0,
        accounts_first_seen: 0,
        accounts_unreadable: 0,
        accounts_not_resolving: 0,
    };
    label(&mut report.findings, compared, &mut summary);
    let mut resolved = Vec::new();
    for account in &report.accounts {
        let complete = account.status == AccountStatus::Scanned && account.user_errors.is_empty();
        if account.status != AccountStatus::Skipped && !complete {
            summary.accounts_not_resolving += 1;
        }
        let Some(compared) = compared.get(&account.account_id) else {
            continue;
        };
        match &compared.baseline {
            Ok(Some(at)) => {
                summary.accounts_compared += 1;
                summary.since = Some(summary.since.map_or(*at, |since| since.min(*at)));
            }
            Ok(None) => summary.accounts_first_seen += 1,
            Err(_) => summary.accounts_unreadable += 1,
        }
        for gone in &compared.changes.resolved {
            resolved.push(ResolvedFinding {
                finding_id: gone.id.clone(),
                account_id: account.account_id.clone(),
                account_name: account.name.clone(),
                user_name: gone.open.user_name.clone(),
                user_arn: gone.open.user_arn.clone(),
                credential: gone.open.credential,
                access_key_id: matches!(
                    gone.open.credential,
                    CredentialKind::AccessKey | CredentialKind::RootAccessKey
                )
                .then(|| gone.open.access_key_id.clone())
                .flatten(),
                credential_id: gone.open.access_key_id.clone(),
                first_seen: gone.open.first_seen,
                reason: gone.reason,
            });
        }
    }
    resolved.sort_by(|a, b| a.finding_id.cmp(&b.finding_id));
    summary.resolved = resolved.len();
    report.resolved = resolved;
    report.changes = Some(summary);
}

/// Labels each finding new or ongoing, with when it was first seen, and counts them.
fn label(
    findings: &mut [super::Finding],
    compared: &BTreeMap<String, Compared>,
    summary: &mut ChangesSummary,
) {
    for finding in findings.iter_mut() {
        let label = compared
            .get(&finding.account_id)
            .and_then(|compared| compared.changes.labels.get(&finding.finding_id));
        if let Some((change, first_seen)) = label {
            finding.change = Some(*change);
            finding.first_seen = Some(*first_seen);
            match change {
                Change::New => summary.new += 1,
                Change::Ongoing => summary.ongoing += 1,
            }
        }
    }
}

/// Why a previous report cannot be a baseline.
#[derive(Debug, thiserror::Error)]
pub enum PreviousReportError {
    /// The file cannot be read.
    #[error("{path}: cannot read the previous report")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a report of a schema that has finding identities.
    #[error(
        "{path}: not a stalecreds JSON report of schema 3 or later (`stalecreds scan --format json` or `--output` writes one)"
    )]
    NotAReport {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A report of an older schema: its findings have no identity across runs.
    #[error(
        "{path}: a report of schema {found}; --since needs schema 3 or later (findings with their identity across runs)"
    )]
    OldSchema {
        /// The file.
        path: String,
        /// Its schema.
        found: u64,
    },
}

/// The baselines of the previous report in `path` (`--since`).
pub fn baselines_in_file(
    path: &std::path::Path,
) -> Result<BTreeMap<String, Baseline>, PreviousReportError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PreviousReportError::Read {
        path: shown.clone(),
        source,
    })?;
    let not_a_report = |source| PreviousReportError::NotAReport {
        path: shown.clone(),
        source,
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(not_a_report)?;
    let found = value["schema_version"].as_u64().unwrap_or(0);
    if found < 3 {
        return Err(PreviousReportError::OldSchema { path: shown, found });
    }
    let previous: Report = serde_json::from_value(value).map_err(not_a_report)?;
    Ok(baselines_from(&previous))
}

/// The baselines a previous report gives (`--since`): each account it scanned completely, with
/// its findings (first seen when that report says, or then).
pub fn baselines_from(previous: &Report) -> BTreeMap<String, Baseline> {
    let mut baselines: BTreeMap<String, Baseline> = previous
        .accounts
        .iter()
        .filter(|account| {
            account.status == AccountStatus::Scanned && account.user_errors.is_empty()
        })
        .map(|account| {
            (
                account.account_id.clone(),
                Baseline {
                    at: previous.generated_at,
                    open: BTreeMap::new(),
                },
            )
        })
        .collect();
    for finding in &previous.findings {
        let Some(baseline) = baselines.get_mut(&finding.account_id) else {
            continue;
        };
        let remediated = finding
            .remediation
            .as_ref()
            .filter(|entry| entry.state == ActionStatus::Applied)
            .map(|entry| entry.action);
        baseline.open.insert(
            finding.finding_id.clone(),
            Open {
                user_name: finding.user_name.clone(),
                user_arn: Some(finding.user_arn.clone()),
                user_created: finding.user_created,
                credential: finding.credential,
                access_key_id: finding.access_key_id.clone(),
                key_slot: None,
                credential_created: finding.created,
                first_seen: finding.first_seen.unwrap_or(previous.generated_at),
                last_used: finding.last_used,
                remediated,
            },
        );
    }
    baselines
}
