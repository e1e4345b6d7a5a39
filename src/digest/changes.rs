//! The digest's account of what changed since the last run: one line of counts (or, on a first
//! run, that everything is new and why), and the resolved findings.

use std::fmt::Write as _;

use crate::report::Report;
use crate::report::changes::{BaselineSource, ResolvedFinding};
use crate::report::words::{day, plural};

use super::{account_label, credential_words};

/// The line under the summary: what changed since the last run, or why it cannot be said.
pub(super) fn changes_line(out: &mut String, report: &Report) -> std::fmt::Result {
    let Some(changes) = &report.changes else {
        return Ok(());
    };
    let findings = report.summary.findings;
    match (changes.baseline, changes.since) {
        (BaselineSource::None, _) => writeln!(
            out,
            "No earlier run to compare with (no state is kept: --report-bucket, --state-dir or --since), so {} new.",
            all_new(findings)
        )?,
        (_, None) => writeln!(
            out,
            "First run: no earlier complete scan to compare with, so {} new.",
            all_new(findings)
        )?,
        (_, Some(since)) => {
            let since = day(since);
            writeln!(
                out,
                "Since the last complete scan ({since}): {} new, {} ongoing, {} resolved.",
                changes.new, changes.ongoing, changes.resolved
            )?;
            if changes.accounts_first_seen > 0 {
                writeln!(
                    out,
                    "{} account{} scanned for the first time: {} findings are all new.",
                    changes.accounts_first_seen,
                    plural(changes.accounts_first_seen),
                    if changes.accounts_first_seen == 1 {
                        "its"
                    } else {
                        "their"
                    }
                )?;
            }
        }
    }
    if changes.accounts_unreadable > 0 {
        writeln!(
            out,
            "{} account{} whose earlier scan could not be read: {} findings are not marked new or ongoing.",
            changes.accounts_unreadable,
            plural(changes.accounts_unreadable),
            if changes.accounts_unreadable == 1 {
                "its"
            } else {
                "their"
            }
        )?;
    }
    if changes.accounts_not_resolving > 0 {
        writeln!(
            out,
            "Nothing is marked resolved in the {} account{} not scanned completely today.",
            changes.accounts_not_resolving,
            plural(changes.accounts_not_resolving)
        )?;
    }
    Ok(())
}

fn all_new(findings: usize) -> String {
    match findings {
        0 => "nothing is new".to_owned(),
        1 => "the finding is".to_owned(),
        _ => format!("all {findings} findings are"),
    }
}

/// The resolved findings shown, and a count of those left out.
pub(super) fn resolved_section(
    out: &mut String,
    shown: &[&ResolvedFinding],
    omitted: usize,
) -> std::fmt::Result {
    let total = shown.len() + omitted;
    if total == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "\nResolved since the last complete scan: {total} credential{}",
        plural(total)
    )?;
    for resolved in shown {
        let key = resolved
            .access_key_id
            .as_deref()
            .map(|id| format!(" {id}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  - {}: {} {}{key}, first seen {}: {}",
            account_label(&resolved.account_id, resolved.account_name.as_deref()),
            resolved.user_name,
            credential_words(resolved.credential),
            day(resolved.first_seen),
            resolved.reason.words()
        )?;
    }
    if omitted > 0 {
        writeln!(
            out,
            "  ... and {omitted} more resolved, left out of this message (the full report lists them)."
        )?;
    }
    Ok(())
}
