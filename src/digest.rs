//! The digest stage: one message per run, for people and for machines. Pure.
//!
//! Takes the [`Report`] and returns a [`Digest`]: an SNS subject (ASCII, under 100 characters),
//! a `MessageStructure=json` message whose `default` and `email` parts are the text a security
//! engineer reads in the morning and whose `sqs`, `lambda` and `https` parts are a compact JSON
//! summary (the report schema's field names), and message attributes with the counts, for
//! subscription filter policies.
//!
//! The whole message never exceeds SNS's 262,144 bytes: when every finding does not fit, the
//! most important ones are kept (most severe, then longest idle), and the text says how many are
//! left out and where the full report is. No secret ever enters a digest: it is made from the
//! report alone.

use std::cmp::Reverse;
use std::fmt::Write as _;

use serde::Serialize;

use crate::report::table::{day, plural, remediation_line, remediation_words};
use crate::report::{AccountEntry, AccountStatus, ErrorEntry, Finding, Report, Summary};

/// SNS's limit on a published message, in bytes of UTF-8, message attributes included.
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// Room kept free under the limit for the request's own framing.
const MARGIN_BYTES: usize = 2_048;
/// The subject's limit: fewer than 100 characters.
const MAX_SUBJECT_CHARS: usize = 99;

/// One run's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The subject: ASCII, no line breaks, fewer than 100 characters.
    pub subject: String,
    /// The `MessageStructure=json` message.
    pub message: String,
    /// The text part (also inside `message`).
    pub text: String,
    /// Message attributes: (name, SNS data type, value).
    pub attributes: Vec<(String, String, String)>,
    /// Findings in the message.
    pub findings_included: usize,
    /// Findings left out for size.
    pub findings_omitted: usize,
}

impl Digest {
    /// The size SNS counts: message, subject and attributes, in bytes.
    pub fn size(&self) -> usize {
        self.message.len()
            + self.subject.len()
            + self
                .attributes
                .iter()
                .map(|(name, kind, value)| name.len() + kind.len() + value.len())
                .sum::<usize>()
    }
}

/// Whether a run with this report sends its digest under `notify`: always; never; or, by
/// default, when there are findings or the run is incomplete (a coverage gap is news too).
pub fn should_send(report: &Report, notify: crate::config::Notify) -> bool {
    match notify {
        crate::config::Notify::Always => true,
        crate::config::Notify::Never => false,
        crate::config::Notify::OnFindings => report.summary.findings > 0 || !report.is_complete(),
    }
}

/// Renders the digest. `full_report` says where the whole report is (a file, an S3 URL), if
/// anywhere.
pub fn render(report: &Report, full_report: Option<&str>) -> Digest {
    render_within(report, full_report, MAX_MESSAGE_BYTES)
}

/// Renders the digest within `limit` bytes.
pub fn render_within(report: &Report, full_report: Option<&str>, limit: usize) -> Digest {
    let ranked = ranked(&report.findings);
    let all = compose(report, full_report, &ranked, ranked.len());
    if all.size() + MARGIN_BYTES <= limit {
        return all;
    }
    // The largest prefix of the ranked findings that fits; the message grows with the prefix.
    let (mut fits, mut too_many) = (0, ranked.len());
    while too_many - fits > 1 {
        let middle = fits + (too_many - fits) / 2;
        if compose(report, full_report, &ranked, middle).size() + MARGIN_BYTES <= limit {
            fits = middle;
        } else {
            too_many = middle;
        }
    }
    compose(report, full_report, &ranked, fits)
}

/// A digest for a run that scanned nothing (no caller identity, no account list).
pub fn render_failure(generated_at: jiff::Timestamp, error: &str) -> Digest {
    let subject = ascii_subject(&format!(
        "stalecreds: run failed, nothing was scanned ({error})"
    ));
    let text = format!(
        "stalecreds digest, {}\n\nThe run failed before any account was scanned:\n  {error}\n\n\
         No credential was checked today. Fix the cause and run again.\n",
        generated_at.strftime("%Y-%m-%d %H:%M UTC")
    );
    let summary = serde_json::json!({ "generated_at": generated_at, "run_error": error });
    let json = summary.to_string();
    let message = envelope(&text, &json);
    Digest {
        subject,
        message,
        text,
        attributes: vec![
            (
                "run_failed".to_owned(),
                "String".to_owned(),
                "true".to_owned(),
            ),
            (
                "incomplete".to_owned(),
                "String".to_owned(),
                "true".to_owned(),
            ),
        ],
        findings_included: 0,
        findings_omitted: 0,
    }
}

/// Findings, most important first: most severe, then longest idle (unknown age first, since
/// nothing shows it was used), then account, user and key for a stable order.
fn ranked(findings: &[Finding]) -> Vec<&Finding> {
    let mut ranked: Vec<&Finding> = findings.iter().collect();
    ranked.sort_by_key(|finding| {
        (
            Reverse(severity_rank(&finding.severity)),
            Reverse(finding.idle_days.unwrap_or(i64::MAX)),
            finding.account_id.clone(),
            finding.user_name.clone(),
            finding.credential.clone(),
            finding.access_key_id.clone(),
        )
    });
    ranked
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 3,
        "high" => 2,
        "medium" => 1,
        _ => 0,
    }
}

fn compose(report: &Report, full_report: Option<&str>, ranked: &[&Finding], keep: usize) -> Digest {
    let kept = &ranked[..keep.min(ranked.len())];
    let omitted = ranked.len() - kept.len();
    let subject = subject(&report.summary);
    let text = text(report, full_report, kept, omitted);
    let json = summary_json(report, full_report, kept, omitted);
    let message = envelope(&text, &json);
    Digest {
        subject,
        message,
        text,
        attributes: attributes(report),
        findings_included: kept.len(),
        findings_omitted: omitted,
    }
}

/// The `MessageStructure=json` message: the text for people (`default`, `email`), the JSON for
/// machines (`sqs`, `lambda`, `https`).
fn envelope(text: &str, json: &str) -> String {
    serde_json::json!({
        "default": text, "email": text, "sqs": json, "lambda": json, "https": json,
    })
    .to_string()
}

/// `stalecreds: 12 unused credentials in 4 of 37 accounts (1 account not scanned)`.
fn subject(summary: &Summary) -> String {
    let not_scanned = summary.accounts_failed;
    let mut subject = if summary.findings == 0 {
        format!(
            "stalecreds: no unused credentials in {} account{}",
            summary.accounts_scanned,
            plural(summary.accounts_scanned)
        )
    } else {
        format!(
            "stalecreds: {} unused credential{} in {} of {} account{}",
            summary.findings,
            plural(summary.findings),
            summary.accounts_with_findings,
            summary.accounts_scanned,
            plural(summary.accounts_scanned)
        )
    };
    if not_scanned > 0 {
        let _ = write!(
            subject,
            " ({not_scanned} account{} not scanned)",
            plural(not_scanned)
        );
    } else if summary.accounts_incomplete > 0 {
        let _ = write!(subject, " ({} incomplete)", summary.accounts_incomplete);
    }
    ascii_subject(&subject)
}

/// ASCII, no control characters, fewer than 100 characters.
fn ascii_subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    if clean.len() <= MAX_SUBJECT_CHARS {
        return clean;
    }
    let mut cut = clean[..MAX_SUBJECT_CHARS - 3].trim_end().to_owned();
    cut.push_str("...");
    cut
}

fn credential_words(credential: &str) -> &'static str {
    match credential {
        "access_key" => "access key",
        "password" => "console password",
        "root_access_key" => "root access key",
        _ => "credential",
    }
}

/// What should happen to the credential.
fn action(finding: &Finding) -> &'static str {
    match (finding.credential.as_str(), finding.last_used) {
        ("root_access_key", _) => "delete the root user's access key (sign in as root)",
        ("access_key", None) => "delete the key (never used)",
        ("access_key", Some(_)) => "deactivate the key, then delete it",
        ("password", _) => "remove console access (delete the login profile)",
        _ => "review",
    }
}

fn finding_line(out: &mut String, finding: &Finding) {
    let key = finding
        .access_key_id
        .as_deref()
        .map(|id| format!(" {id}"))
        .unwrap_or_default();
    let status = finding
        .credential_status
        .as_deref()
        .map(|status| format!(" ({status})"))
        .unwrap_or_default();
    let used = match (finding.last_used, finding.created) {
        (Some(used), _) => format!("last used {}", day(used)),
        (None, Some(created)) if finding.credential == "password" => {
            format!("never used, set {}", day(created))
        }
        (None, Some(created)) => format!("never used, created {}", day(created)),
        (None, None) => "no date known".to_owned(),
    };
    let idle = finding.idle_days.map_or_else(
        || "age unknown".to_owned(),
        |days| format!("{days} days idle"),
    );
    let next = match (&finding.remediation, &finding.exemption_unknown) {
        (_, Some(why)) => {
            format!("exemption unknown ({why}): never remediated; check this user by hand")
        }
        (Some(entry), None) => remediation_words(entry),
        (None, None) => format!("proposed: {}", action(finding)),
    };
    let _ = writeln!(
        out,
        "  - [{}] {}: {}{key}{status}, {used} ({idle})\n      {next}",
        finding.severity,
        finding.user_name,
        credential_words(&finding.credential),
    );
}

fn account_label(account_id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} ({account_id})"),
        None => account_id.to_owned(),
    }
}

fn text(report: &Report, full_report: Option<&str>, kept: &[&Finding], omitted: usize) -> String {
    let summary = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stalecreds digest, {}\n",
        report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    );
    if summary.findings == 0 {
        let _ = writeln!(
            out,
            "No unused credentials in {} account{} scanned.",
            summary.accounts_scanned,
            plural(summary.accounts_scanned)
        );
    } else {
        let mut kinds = Vec::new();
        for (count, word) in [
            (summary.unused_access_keys, "access key"),
            (summary.unused_passwords, "console password"),
            (summary.root_access_keys, "root access key"),
        ] {
            if count > 0 {
                kinds.push(format!("{count} {word}{}", plural(count)));
            }
        }
        let _ = writeln!(
            out,
            "{} unused credential{} in {} of {} account{} scanned: {}.",
            summary.findings,
            plural(summary.findings),
            summary.accounts_with_findings,
            summary.accounts_scanned,
            plural(summary.accounts_scanned),
            kinds.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Unused means idle for {} days or more (CIS AWS Foundations 1.12), measured to {}.",
        report.max_idle_days, report.generated_at
    );
    let failed = summary.accounts_failed;
    let (exempt, inactive) = (summary.exempt, summary.inactive_keys);
    let notes: Vec<String> = [
        (
            failed,
            format!("{failed} account{} not scanned", plural(failed)),
        ),
        (
            summary.accounts_incomplete,
            format!("{} scanned incompletely", summary.accounts_incomplete),
        ),
        (
            summary.accounts_skipped,
            format!("{} skipped", summary.accounts_skipped),
        ),
        (
            exempt,
            format!("{exempt} exempt credential{} not counted", plural(exempt)),
        ),
        (
            inactive,
            format!("{inactive} inactive key{} not counted", plural(inactive)),
        ),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(_, note)| note)
    .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "Also: {}.", notes.join("; "));
    }
    if let Some(remediation) = &report.remediation {
        let _ = writeln!(out, "{}.", remediation_line(remediation));
    }

    // Accounts in the order of their most important finding.
    let mut order: Vec<&str> = Vec::new();
    for finding in kept {
        if !order.contains(&finding.account_id.as_str()) {
            order.push(&finding.account_id);
        }
    }
    for account_id in order {
        let in_account: Vec<&&Finding> = kept
            .iter()
            .filter(|finding| finding.account_id == account_id)
            .collect();
        let name = in_account
            .first()
            .and_then(|finding| finding.account_name.as_deref());
        let total = report
            .accounts
            .iter()
            .find(|account| account.account_id == account_id)
            .map_or(in_account.len(), |account| account.findings);
        let _ = writeln!(
            out,
            "\n{}: {total} unused credential{}",
            account_label(account_id, name),
            plural(total)
        );
        for finding in in_account {
            finding_line(&mut out, finding);
        }
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "\n... and {omitted} more finding{} left out of this message to keep it under {} KiB (the least severe and least idle). {}",
            plural(omitted),
            MAX_MESSAGE_BYTES / 1024,
            match full_report {
                Some(location) => format!("Every finding is in the full report: {location}"),
                None =>
                    "Run `stalecreds scan --output report.json` for the full report.".to_owned(),
            }
        );
    }

    let troubled: Vec<&AccountEntry> = report
        .accounts
        .iter()
        .filter(|account| {
            account.status == AccountStatus::Failed || !account.user_errors.is_empty()
        })
        .collect();
    if !troubled.is_empty() {
        let _ = writeln!(
            out,
            "\nAccounts not scanned, or not completely ({}):",
            troubled.len()
        );
        for account in troubled {
            let label = account_label(&account.account_id, account.name.as_deref());
            match &account.error {
                Some(ErrorEntry {
                    operation,
                    code,
                    message,
                }) => {
                    let _ = writeln!(out, "  - {label}: {operation} {code}: {message}");
                }
                None => {
                    let first = account.user_errors.first().map(|user| {
                        format!(
                            "{}: {} {}",
                            user.user_name, user.error.operation, user.error.code
                        )
                    });
                    let _ = writeln!(
                        out,
                        "  - {label}: {} user{} could not be read (first: {})",
                        account.user_errors.len(),
                        plural(account.user_errors.len()),
                        first.unwrap_or_default()
                    );
                }
            }
        }
    }

    let _ = writeln!(
        out,
        "\nWhat to do\n\
         \x20 Access key: aws iam update-access-key --user-name USER --access-key-id KEY --status Inactive\n\
         \x20             (reversible), then aws iam delete-access-key --user-name USER --access-key-id KEY\n\
         \x20 Password:   aws iam delete-login-profile --user-name USER\n\
         \x20             (console: IAM > Users > USER > Security credentials > Manage console access)\n\
         \x20 Root key:   sign in as the root user > Security credentials > Access keys > Delete\n\
         \x20 A user who must keep a credential: add an exemption to the configuration file."
    );
    if let Some(location) = full_report {
        let _ = writeln!(out, "\nFull report: {location}");
    }
    out
}

/// The machines' part: the report's field names, the kept findings only.
#[derive(Serialize)]
struct SummaryJson<'a> {
    schema_version: u32,
    generated_at: jiff::Timestamp,
    max_idle_days: u32,
    mode: &'a str,
    summary: &'a Summary,
    accounts_not_scanned: Vec<NotScanned<'a>>,
    findings: Vec<CompactFinding<'a>>,
    findings_omitted: usize,
    report: Option<&'a str>,
}

#[derive(Serialize)]
struct NotScanned<'a> {
    account_id: &'a str,
    name: Option<&'a str>,
    status: AccountStatus,
    error: Option<&'a ErrorEntry>,
    user_errors: usize,
}

/// A finding, with the report's field names; absent values are left out, not `null`, to keep
/// room for more findings.
#[derive(Serialize)]
struct CompactFinding<'a> {
    rule: &'a str,
    severity: &'a str,
    account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_name: Option<&'a str>,
    user_name: &'a str,
    credential: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_days: Option<i64>,
}

fn summary_json(
    report: &Report,
    full_report: Option<&str>,
    kept: &[&Finding],
    omitted: usize,
) -> String {
    let summary = SummaryJson {
        schema_version: report.schema_version,
        generated_at: report.generated_at,
        max_idle_days: report.max_idle_days,
        mode: &report.mode,
        summary: &report.summary,
        accounts_not_scanned: report
            .accounts
            .iter()
            .filter(|account| {
                account.status == AccountStatus::Failed || !account.user_errors.is_empty()
            })
            .map(|account| NotScanned {
                account_id: &account.account_id,
                name: account.name.as_deref(),
                status: account.status,
                error: account.error.as_ref(),
                user_errors: account.user_errors.len(),
            })
            .collect(),
        findings: kept
            .iter()
            .map(|finding| CompactFinding {
                rule: &finding.rule,
                severity: &finding.severity,
                account_id: &finding.account_id,
                account_name: finding.account_name.as_deref(),
                user_name: &finding.user_name,
                credential: &finding.credential,
                access_key_id: finding.access_key_id.as_deref(),
                credential_status: finding.credential_status.as_deref(),
                last_used: finding.last_used,
                idle_days: finding.idle_days,
            })
            .collect(),
        findings_omitted: omitted,
        report: full_report,
    };
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string(&summary).unwrap_or_default()
}

fn attributes(report: &Report) -> Vec<(String, String, String)> {
    let summary = &report.summary;
    let number =
        |name: &str, value: usize| (name.to_owned(), "Number".to_owned(), value.to_string());
    let max_severity = report
        .findings
        .iter()
        .map(|finding| finding.severity.as_str())
        .max_by_key(|severity| severity_rank(severity))
        .unwrap_or("none");
    vec![
        number("findings", summary.findings),
        number("unused_access_keys", summary.unused_access_keys),
        number("unused_passwords", summary.unused_passwords),
        number("root_access_keys", summary.root_access_keys),
        number("accounts_scanned", summary.accounts_scanned),
        number("accounts_failed", summary.accounts_failed),
        number("accounts_with_findings", summary.accounts_with_findings),
        (
            "incomplete".to_owned(),
            "String".to_owned(),
            (!report.is_complete()).to_string(),
        ),
        (
            "max_severity".to_owned(),
            "String".to_owned(),
            max_severity.to_owned(),
        ),
    ]
}

#[cfg(test)]
mod tests;
