//! The `csv` format: one row per finding (and per information line), for spreadsheets.

use std::io::{self, Write};

use super::Report;

const HEADER: [&str; 24] = [
    "account_id",
    "account_name",
    "user_name",
    "user_arn",
    "credential",
    "access_key_id",
    "credential_id",
    "service",
    "expires",
    "credential_status",
    "created",
    "last_used",
    "last_used_service",
    "idle_since",
    "idle_days",
    "rule",
    "severity",
    "outcome",
    "exempt_reason",
    "change",
    "first_seen",
    "finding_id",
    "owner",
    "owner_tag",
];

/// Writes findings, then information lines, as CSV with a header row. Names that a spreadsheet
/// would run as a formula (starting with `=`, `+`, `-` or `@`) are prefixed with `'`.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record(HEADER)?;
    let text = |value: Option<String>| value.unwrap_or_default();
    for finding in report.findings.iter().chain(&report.information) {
        writer.write_record([
            finding.account_id.clone(),
            inert(&text(finding.account_name.clone())),
            inert(&finding.user_name),
            inert(&finding.user_arn),
            finding.credential.as_str().to_owned(),
            text(finding.access_key_id.clone()),
            text(finding.credential_id.clone()),
            text(finding.service.clone()),
            text(finding.expires.map(|at| at.to_string())),
            text(
                finding
                    .credential_status
                    .map(|status| status.as_str().to_owned()),
            ),
            text(finding.created.map(|at| at.to_string())),
            text(finding.last_used.map(|at| at.to_string())),
            text(finding.last_used_service.clone()),
            text(finding.idle_since.map(|at| at.to_string())),
            text(finding.idle_days.map(|days| days.to_string())),
            finding.rule.code().to_owned(),
            finding.severity.as_str().to_owned(),
            finding.outcome.as_str().to_owned(),
            text(finding.exempt_reason.clone()),
            text(finding.change.map(|change| change.as_str().to_owned())),
            text(finding.first_seen.map(|at| at.to_string())),
            inert(&finding.finding_id),
            inert(&text(
                finding.owner.as_ref().map(|owner| owner.value.clone()),
            )),
            inert(&text(finding.owner.as_ref().map(|owner| owner.tag.clone()))),
        ])?;
    }
    writer.flush()
}

/// A cell that spreadsheets show as text, never evaluate.
fn inert(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}
