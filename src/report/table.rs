//! The `table` format: the report for people, grouped by account.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::words::{day, plural};
use super::{AccountEntry, AccountStatus, Finding, Report};
use crate::inventory::KeyStatus;
use crate::remediate::{ActionKind, ActionStatus};
use crate::rules::Outcome;

/// Writes the report as text: a summary line, then each account with its findings.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    header(report, out)?;
    // Each account's rows, found once (not by a scan of every finding per account).
    let mut rows: BTreeMap<&str, Vec<[String; 7]>> = BTreeMap::new();
    for finding in report.findings.iter().chain(&report.information) {
        rows.entry(finding.account_id.as_str())
            .or_default()
            .push(row(finding));
    }
    // The REMEDIATION column only when a remediation policy is configured.
    let columns = if report.remediation.is_some() {
        HEADER.len()
    } else {
        HEADER.len() - 1
    };
    for account in &report.accounts {
        writeln!(out)?;
        account_lines(account, out)?;
        let rows = rows.remove(account.account_id.as_str()).unwrap_or_default();
        write_rows(out, &rows, columns)?;
    }
    if !report.resolved.is_empty() {
        writeln!(out, "\nResolved since the last complete scan:")?;
        for resolved in &report.resolved {
            let key = resolved.credential_id.as_deref().map(|id| format!(" {id}"));
            writeln!(
                out,
                "  {} {} {}{}: {}",
                resolved.account_id,
                resolved.user_name,
                resolved.credential.as_str(),
                key.unwrap_or_default(),
                resolved.reason.words()
            )?;
        }
    }
    Ok(())
}

/// The summary line, and what the run did not see, changed, and what changed since.
fn header(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let summary = &report.summary;
    writeln!(
        out,
        "stalecreds: {} unused credential{} in {} of {} account{} scanned (threshold {} days, as of {})",
        summary.findings,
        plural(summary.findings),
        summary.accounts_with_findings,
        summary.accounts_scanned,
        plural(summary.accounts_scanned),
        report.max_idle_days,
        report.generated_at,
    )?;
    if summary.accounts_failed > 0 || summary.accounts_incomplete > 0 {
        writeln!(
            out,
            "INCOMPLETE: {} account{} not scanned, {} scanned with unread users",
            summary.accounts_failed,
            plural(summary.accounts_failed),
            summary.accounts_incomplete
        )?;
    }
    if let Some(remediation) = &report.remediation {
        writeln!(out, "{}", remediation_line(remediation))?;
    }
    if let Some(changes) = &report.changes
        && let Some(since) = changes.since
    {
        writeln!(
            out,
            "Since the last complete scan ({}): {} new, {} ongoing, {} resolved",
            day(since),
            changes.new,
            changes.ongoing,
            changes.resolved
        )?;
    }
    Ok(())
}

/// An account's line, and the users it could not read.
fn account_lines(account: &AccountEntry, out: &mut dyn Write) -> io::Result<()> {
    let name = account
        .name
        .as_deref()
        .map(|name| format!(" ({name})"))
        .unwrap_or_default();
    let status = match (account.status, &account.error) {
        (AccountStatus::Scanned, _) => format!(
            "scanned: {} user{}, {} finding{}",
            account.users,
            plural(account.users),
            account.findings,
            plural(account.findings)
        ),
        (AccountStatus::Failed, Some(error)) => {
            format!(
                "FAILED: {} {}: {}",
                error.operation, error.code, error.message
            )
        }
        (AccountStatus::Failed, None) => "FAILED".to_owned(),
        (AccountStatus::Skipped, _) => {
            format!(
                "skipped: state {}",
                account.state.as_deref().unwrap_or("unknown")
            )
        }
    };
    writeln!(out, "Account {}{name}: {status}", account.account_id)?;
    for user_error in &account.user_errors {
        writeln!(
            out,
            "  could not read {}: {} {}: {}",
            user_error.user_name,
            user_error.error.operation,
            user_error.error.code,
            user_error.error.message
        )?;
    }
    Ok(())
}

const HEADER: [&str; 7] = [
    "USER",
    "CREDENTIAL",
    "ID",
    "LAST USED",
    "DAYS IDLE/OLD",
    "VERDICT",
    "REMEDIATION",
];

/// The remediation of a run in one line: a plan, or what was applied.
pub(crate) fn remediation_line(remediation: &super::RemediationSummary) -> String {
    let irreversible = if remediation.irreversible > 0 {
        format!(
            ", {} of them cannot be undone (deletions)",
            remediation.irreversible
        )
    } else {
        String::new()
    };
    let waiting = if remediation.waiting > 0 {
        format!(
            "; {} inactive key{} waiting for {} grace period",
            remediation.waiting,
            plural(remediation.waiting),
            if remediation.waiting == 1 {
                "its"
            } else {
                "their"
            }
        )
    } else {
        String::new()
    };
    let withheld = remediation
        .withheld
        .as_deref()
        .map(|why| format!(" ({why})"))
        .unwrap_or_default();
    let journal = remediation
        .journal_error
        .as_deref()
        .map(|why| {
            format!(". THE JOURNAL COULD NOT BE WRITTEN, so no change was made after that: {why}")
        })
        .unwrap_or_default();
    let line = if remediation.applied_mode {
        format!(
            "Remediation applied: {} changed, {} skipped (live state no longer qualified), {} failed, {} deferred beyond max_actions ({}){irreversible}",
            remediation.applied,
            remediation.skipped,
            remediation.failed,
            remediation.deferred,
            remediation.max_actions
        )
    } else {
        format!(
            "Remediation plan, NOT applied (run with --apply to apply it): {} change{} now, {} deferred beyond max_actions ({}){irreversible}",
            remediation.planned,
            plural(remediation.planned),
            remediation.deferred,
            remediation.max_actions
        )
    };
    format!("{line}{waiting}{withheld}{journal}")
}

/// One credential's remediation, in a few words.
pub(crate) fn remediation_words(entry: &super::RemediationEntry) -> String {
    let action = match entry.action {
        ActionKind::DeactivateKey => "deactivate key",
        ActionKind::DeleteInactiveKey => "delete inactive key",
        ActionKind::DeletePassword => "delete password",
        ActionKind::DeactivateSshKey => "deactivate SSH key",
        ActionKind::DeactivateServiceCredential => "deactivate service-specific credential",
        ActionKind::DeactivateSigningCertificate => "deactivate signing certificate",
    };
    let undo = if entry.reversible {
        "reversible"
    } else {
        "cannot be undone"
    };
    match entry.state {
        ActionStatus::Planned => format!("planned: {action} ({undo})"),
        ActionStatus::Deferred => format!("deferred: {action} (beyond max_actions)"),
        ActionStatus::Applied => format!("applied: {action}"),
        ActionStatus::Skipped => format!(
            "skipped: {}",
            entry.reason.as_deref().unwrap_or("no longer qualifies")
        ),
        ActionStatus::Waiting => match entry.eligible_on {
            Some(day_eligible) => format!("waiting: {action} from {}", day(day_eligible)),
            None => format!(
                "waiting: {action}: {}",
                entry.reason.as_deref().unwrap_or("not yet")
            ),
        },
        ActionStatus::Failed => format!(
            "failed: {action}: {}",
            entry
                .error
                .as_ref()
                .map_or_else(String::new, |error| format!(
                    "{} {}",
                    error.code, error.message
                ))
        ),
    }
}

fn row(finding: &Finding) -> [String; 7] {
    let verdict = match finding.outcome {
        Outcome::Exempt => format!(
            "exempt: {}",
            finding.exempt_reason.as_deref().unwrap_or_default()
        ),
        Outcome::Unused if finding.exemption_unknown.is_some() => {
            "unused, exemption unknown (tags unread): not remediated".to_owned()
        }
        Outcome::Inactive => format!(
            "{} (information)",
            finding
                .credential_status
                .map_or("Inactive", KeyStatus::as_str)
        ),
        Outcome::Unused if finding.change == Some(crate::changes::Change::New) => {
            "unused (new)".to_owned()
        }
        Outcome::Unused | Outcome::InUse => finding.outcome.as_str().to_owned(),
    };
    let user = match &finding.owner {
        Some(owner) => format!("{} (owner {})", finding.user_name, owner.value),
        None => finding.user_name.clone(),
    };
    [
        user,
        finding.credential.as_str().to_owned(),
        finding
            .credential_id
            .clone()
            .or_else(|| finding.access_key_id.clone())
            .unwrap_or_else(|| "-".to_owned()),
        match finding.last_used {
            Some(used) => day(used),
            // AWS records no use of these: their days are their age.
            None if crate::rules::CredentialKind::OTHERS.contains(&finding.credential) => {
                "not recorded".to_owned()
            }
            None => "never".to_owned(),
        },
        finding
            .idle_days
            .map_or_else(|| "?".to_owned(), |days| days.to_string()),
        verdict,
        finding
            .remediation
            .as_ref()
            .map_or_else(String::new, remediation_words),
    ]
}

fn write_rows(out: &mut dyn Write, rows: &[[String; 7]], columns: usize) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut widths = HEADER.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = HEADER.map(str::to_owned);
    for cells in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .take(columns)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "  {}", line.join("  ").trim_end())?;
    }
    Ok(())
}
