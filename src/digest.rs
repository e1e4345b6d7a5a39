//! The digest stage: one message per run, for people and for machines. Pure.
//!
//! Takes the [`Report`] and returns a [`Digest`]: an SNS subject (ASCII, under 100 characters),
//! a `MessageStructure=json` message whose `default` and `email` parts are the text a security
//! engineer reads in the morning and whose `sqs`, `lambda` and `https` parts are a compact JSON
//! summary (the report schema's field names), and message attributes with the counts, for
//! subscription filter policies.
//!
//! It leads with what changed since the last run: the new findings, then the resolved ones, then
//! those still open. The whole message never exceeds SNS's 262,144 bytes: when everything does
//! not fit, the findings still open are cut first (the least severe and least idle), then the
//! resolved ones, then the new ones, then the accounts named per cause of failure, then the
//! causes; the text says how many are left out and where the full report is. No secret ever
//! enters a digest: it is made from the report alone.

use std::cmp::Reverse;
use std::fmt::Write as _;

use serde::Serialize;

mod changes;
mod groups;
pub mod owners;

pub use groups::{Group, groups};

use crate::changes::Change;
use crate::inventory::KeyStatus;
use crate::report::changes::{ChangesSummary, ResolvedFinding};
use crate::report::table::{remediation_line, remediation_words};
use crate::report::words::{account_label, credential_words, day, plural};
use crate::report::{AccountStatus, Finding, Report, Summary};
use crate::rules::{CredentialKind, Rule, Severity};
use crate::scan::Mode;

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

/// Renders the digest, with the findings grouped by account or by owner. `full_report` says
/// where the whole report is (a file, an S3 URL), if anywhere.
pub fn render_grouped(report: &Report, full_report: Option<&str>, layout: Layout<'_>) -> Digest {
    render_within(report, full_report, MAX_MESSAGE_BYTES, layout)
}

/// How a digest is laid out, beyond the report: how findings are grouped, the owner messages
/// the run sends, and where its page is.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// By account or by owner.
    pub grouping: Grouping,
    /// The run's owner messages, when it sends some.
    pub owners: Option<&'a owners::Planned>,
    /// Where the run's page is, for people (the S3 console's address of `report.html`).
    pub page: Option<&'a str>,
}

#[cfg(test)]
impl Layout<'_> {
    /// By account, no owner message, no page.
    pub fn plain() -> Layout<'static> {
        Layout {
            grouping: Grouping::Account,
            owners: None,
            page: None,
        }
    }
}

/// Renders the digest within `limit` bytes. The findings still open (the least important
/// first) are cut first, then the resolved findings, then the new findings, then the sample of
/// accounts shown for each cause of failure, then the causes themselves: every cut is counted in
/// the text, which points at the full report.
pub fn render_within(
    report: &Report,
    full_report: Option<&str>,
    limit: usize,
    layout: Layout<'_>,
) -> Digest {
    let ranked = ranked(&report.findings);
    let new = ranked
        .iter()
        .filter(|finding| finding.change == Some(Change::New))
        .count();
    let resolved: Vec<&ResolvedFinding> = report.resolved.iter().collect();
    let groups = groups::groups(report);
    let compose = |budget: Budget| {
        let lists = Lists {
            ranked: &ranked,
            resolved: &resolved,
            groups: &groups,
            layout,
        };
        compose(report, full_report, &lists, budget)
    };
    let fits = |budget: Budget| compose(budget).size() + MARGIN_BYTES <= limit;
    let mut budget = Budget {
        findings: ranked.len(),
        resolved: resolved.len(),
        sample: SAMPLE_ACCOUNTS,
        groups: groups.len(),
    };
    if fits(budget) {
        return compose(budget);
    }
    // The findings still open: ranked after the new ones.
    budget.findings = new
        + largest(ranked.len() - new, |ongoing| {
            fits(Budget {
                findings: new + ongoing,
                ..budget
            })
        });
    if !fits(budget) {
        budget.resolved = largest(resolved.len(), |kept| {
            fits(Budget {
                resolved: kept,
                ..budget
            })
        });
    }
    if !fits(budget) {
        budget.findings = largest(new, |findings| fits(Budget { findings, ..budget }));
    }
    if !fits(budget) {
        budget.sample = largest(SAMPLE_ACCOUNTS, |sample| fits(Budget { sample, ..budget }));
    }
    if !fits(budget) {
        budget.groups = largest(groups.len(), |kept| {
            fits(Budget {
                groups: kept,
                ..budget
            })
        });
    }
    compose(budget)
}

/// How much of the run a digest shows.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// The first this many ranked findings (the new ones rank first).
    findings: usize,
    /// The first this many resolved findings.
    resolved: usize,
    /// At most this many accounts named per cause of failure.
    sample: usize,
    /// The first this many causes of failure (largest first).
    groups: usize,
}

/// Accounts named per cause of failure, at most.
const SAMPLE_ACCOUNTS: usize = 10;

/// The largest `n` in `0..=high` for which `fits(n)` holds, `fits` being true up to some `n` and
/// false after; 0 when nothing fits.
fn largest(high: usize, fits: impl Fn(usize) -> bool) -> usize {
    if !fits(0) {
        return 0;
    }
    // `fits(low)` holds; `fits(high)` does not, or `high` is past the end.
    let (mut low, mut high) = (0, high + 1);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

/// The longest error quoted in a failure digest, in characters.
const FAILURE_CHARS: usize = 4_000;

/// Why a run ended without its report: when it failed, the error, and what fixes it.
#[derive(Debug, Clone, Copy)]
pub struct RunFailure<'a> {
    /// When it failed: `before any account was scanned`, `at its merge`, ….
    pub when: &'a str,
    /// The error and its causes.
    pub error: &'a str,
    /// What usually fixes it.
    pub what_to_do: &'a str,
}

/// A digest for a run that ended without a report (no caller identity, no account list, a merge
/// that refused its batches' results).
pub fn render_failure(generated_at: jiff::Timestamp, failure: &RunFailure<'_>) -> Digest {
    let error = match failure.error.char_indices().nth(FAILURE_CHARS) {
        Some((cut, _)) => format!("{}…", &failure.error[..cut]),
        None => failure.error.to_owned(),
    };
    let subject = ascii_subject(&format!(
        "stalecreds: run failed {} ({error})",
        failure.when
    ));
    let text = format!(
        "stalecreds digest, {}\n\nThe run failed {}:\n  {error}\n\nWhat to do: {}\n\n\
         No credential was reported by this run: today's findings are not known.\n",
        generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        failure.when,
        failure.what_to_do,
    );
    let summary = serde_json::json!({
        "generated_at": generated_at,
        "run_error": error,
        "failed": failure.when,
        "what_to_do": failure.what_to_do,
    });
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

/// Findings, most important first: new ones first, then most severe, then longest idle
/// (unknown age first, since nothing shows it was used), then account, user and key for a
/// stable order.
fn ranked(findings: &[Finding]) -> Vec<&Finding> {
    let mut ranked: Vec<&Finding> = findings.iter().collect();
    ranked.sort_by_key(|finding| {
        (
            finding.change != Some(Change::New),
            Reverse(finding.severity),
            Reverse(finding.idle_days.unwrap_or(i64::MAX)),
            finding.account_id.clone(),
            finding.user_name.clone(),
            finding.credential,
            finding.credential_id.clone(),
        )
    });
    ranked
}

/// Everything a digest may show, most important first.
struct Lists<'l, 'r> {
    ranked: &'l [&'r Finding],
    resolved: &'l [&'r ResolvedFinding],
    groups: &'l [Group<'r>],
    /// Grouping, owner messages and page.
    layout: Layout<'l>,
}

fn compose(
    report: &Report,
    full_report: Option<&str>,
    lists: &Lists<'_, '_>,
    budget: Budget,
) -> Digest {
    let Lists {
        ranked,
        resolved,
        groups,
        layout,
    } = *lists;
    let kept = &ranked[..budget.findings.min(ranked.len())];
    let omitted = ranked.len() - kept.len();
    let resolved_kept = &resolved[..budget.resolved.min(resolved.len())];
    let split = budget.groups.min(groups.len());
    let shown = Shown {
        owners: layout.owners,
        page: layout.page,
        grouping: layout.grouping,
        findings: kept,
        findings_omitted: omitted,
        resolved: resolved_kept,
        resolved_omitted: resolved.len() - resolved_kept.len(),
        groups: &groups[..split],
        groups_omitted: &groups[split..],
        sample: budget.sample,
    };
    let subject = subject(&report.summary, report.changes.as_ref());
    let text = text(report, full_report, &shown);
    let json = summary_json(report, full_report, &shown);
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

/// What one rendering of the digest shows of the run.
struct Shown<'r, 'g> {
    /// The run's owner messages, when it sends some.
    owners: Option<&'g owners::Planned>,
    /// Where the run's page is.
    page: Option<&'g str>,
    grouping: Grouping,
    findings: &'r [&'r Finding],
    findings_omitted: usize,
    resolved: &'r [&'r ResolvedFinding],
    resolved_omitted: usize,
    groups: &'g [Group<'r>],
    groups_omitted: &'g [Group<'r>],
    sample: usize,
}

/// The `MessageStructure=json` message: the text for people (`default`, `email`), the JSON for
/// machines (`sqs`, `lambda`, `https`).
fn envelope(text: &str, json: &str) -> String {
    serde_json::json!({
        "default": text, "email": text, "sqs": json, "lambda": json, "https": json,
    })
    .to_string()
}

/// `stalecreds: 3 new, 12 unused credentials in 4 of 37 accounts (1 account not scanned)`.
fn subject(summary: &Summary, changes: Option<&ChangesSummary>) -> String {
    let not_scanned = summary.accounts_failed;
    let new = match changes {
        // Only against an earlier scan: on a first run everything is new, and the text says so.
        Some(changes) if changes.new > 0 && changes.since.is_some() => {
            format!("{} new, ", changes.new)
        }
        _ => String::new(),
    };
    let mut subject = if summary.findings == 0 {
        format!(
            "stalecreds: no unused credentials in {} account{}",
            summary.accounts_scanned,
            plural(summary.accounts_scanned)
        )
    } else {
        format!(
            "stalecreds: {new}{} unused credential{} in {} of {} account{}",
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

/// A finding's dates in words, and its idle time (for the credentials AWS records no use for:
/// its age, and for a Bedrock API key its expiry).
fn dates(finding: &Finding) -> (String, String) {
    if CredentialKind::OTHERS.contains(&finding.credential) {
        let created = finding.created.map_or_else(
            || "created on a date AWS does not give".to_owned(),
            |created| format!("created {}, no use recorded by AWS", day(created)),
        );
        let age = finding.idle_days.map_or_else(
            || "age unknown".to_owned(),
            |days| format!("{days} days old"),
        );
        let expiry = match (finding.credential, finding.expires) {
            (CredentialKind::BedrockApiKey, None) => ", never expires".to_owned(),
            (CredentialKind::BedrockApiKey, Some(expires)) => format!(", expires {}", day(expires)),
            _ => String::new(),
        };
        return (created, format!("{age}{expiry}"));
    }
    let used = match (finding.last_used, finding.created) {
        (Some(used), _) => format!("last used {}", day(used)),
        (None, Some(created)) if finding.credential == CredentialKind::Password => {
            format!("never used, set {}", day(created))
        }
        (None, Some(created)) => format!("never used, created {}", day(created)),
        (None, None) => "no date known".to_owned(),
    };
    let idle = finding.idle_days.map_or_else(
        || "age unknown".to_owned(),
        |days| format!("{days} days idle"),
    );
    (used, idle)
}

/// What should happen to the credential.
fn action(finding: &Finding) -> &'static str {
    match (finding.credential, finding.last_used) {
        (CredentialKind::RootAccessKey, _) => "delete the root user's access key (sign in as root)",
        (CredentialKind::AccessKey, None) => "delete the key (never used)",
        (CredentialKind::AccessKey, Some(_)) => "deactivate the key, then delete it",
        (CredentialKind::Password, _) => "remove console access (delete the login profile)",
        (CredentialKind::SshKey, _) => "deactivate the SSH key, then delete it",
        (CredentialKind::ServiceCredential, _) => "deactivate the credential, then delete it",
        (CredentialKind::BedrockApiKey, _) => {
            "deactivate the key; use short-term Bedrock API keys instead"
        }
        (CredentialKind::SigningCertificate, _) => "deactivate the certificate, then delete it",
    }
}

fn finding_line(out: &mut String, finding: &Finding, grouping: Grouping) -> std::fmt::Result {
    let key = finding
        .credential_id
        .as_deref()
        .or(finding.access_key_id.as_deref())
        .map(|id| format!(" {id}"))
        .unwrap_or_default();
    let status = finding
        .credential_status
        .map(|status| format!(" ({})", status.as_str()))
        .unwrap_or_default();
    let (used, idle) = dates(finding);
    let next = match (&finding.remediation, &finding.exemption_unknown) {
        (_, Some(why)) => {
            format!("exemption unknown ({why}): never remediated; check this user by hand")
        }
        (Some(entry), None) => remediation_words(entry),
        (None, None) => format!("proposed: {}", action(finding)),
    };
    // Grouped by owner, each line names its account; grouped by account, its owner.
    let whose = match (grouping, &finding.owner) {
        (Grouping::Owner, _) => format!(
            "{}: ",
            account_label(&finding.account_id, finding.account_name.as_deref())
        ),
        (Grouping::Account, _) => String::new(),
    };
    let owner = match (grouping, &finding.owner) {
        (Grouping::Account, Some(owner)) => format!(" [owner {}]", owner.value),
        _ => String::new(),
    };
    writeln!(
        out,
        "  - [{}] {whose}{}: {}{key}{status}, {used} ({idle}){owner}\n      {next}",
        finding.severity.as_str(),
        finding.user_name,
        credential_words(finding.credential),
    )
}

/// The text for people: the summary, the findings by account, the accounts not scanned by
/// cause, what to do, and where the full report is.
fn text(report: &Report, full_report: Option<&str>, shown: &Shown<'_, '_>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = summary_section(&mut out, report)
        .and_then(|()| match shown.owners {
            Some(planned) => writeln!(out, "{}", owners::note(planned)),
            None => Ok(()),
        })
        .and_then(|()| changes::changes_line(&mut out, report))
        .and_then(|()| findings_section(&mut out, report, full_report, shown))
        .and_then(|()| not_scanned_section(&mut out, full_report, shown))
        .and_then(|()| what_to_do_section(&mut out, full_report, shown.page));
    out
}

/// The findings counted by kind: `2 access keys, 1 console password`.
fn kinds(summary: &crate::report::Summary) -> Vec<String> {
    [
        (summary.unused_access_keys, "access key"),
        (summary.unused_passwords, "console password"),
        (summary.root_access_keys, "root access key"),
        (summary.old_ssh_keys, "old SSH public key"),
        (
            summary.old_service_credentials,
            "old service-specific credential",
        ),
        (
            summary.long_lived_bedrock_api_keys,
            "long-lived Bedrock API key",
        ),
        (summary.old_signing_certificates, "old signing certificate"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, word)| format!("{count} {word}{}", plural(count)))
    .collect()
}

fn summary_section(out: &mut String, report: &Report) -> std::fmt::Result {
    let summary = &report.summary;
    writeln!(
        out,
        "stalecreds digest, {}\n",
        report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    )?;
    if summary.findings == 0 {
        writeln!(
            out,
            "No unused credentials in {} account{} scanned.",
            summary.accounts_scanned,
            plural(summary.accounts_scanned)
        )?;
    } else {
        let kinds = kinds(summary);
        writeln!(
            out,
            "{} unused credential{} in {} of {} account{} scanned: {}.",
            summary.findings,
            plural(summary.findings),
            summary.accounts_with_findings,
            summary.accounts_scanned,
            plural(summary.accounts_scanned),
            kinds.join(", ")
        )?;
    }
    writeln!(
        out,
        "Unused means idle for {} days or more ({}), measured to {}.",
        report.max_idle_days,
        crate::report::controls::unused_credentials(&report.cis_versions),
        report.generated_at
    )?;
    let notes = notes(summary);
    if !notes.is_empty() {
        writeln!(out, "Also: {}.", notes.join("; "))?;
    }
    if let Some(remediation) = &report.remediation {
        writeln!(out, "{}.", remediation_line(remediation))?;
    }
    if let Some(state) = &report.state {
        state_lines(out, state)?;
    }
    Ok(())
}

/// What the summary's first lines do not count: accounts not scanned, exempt credentials...
fn notes(summary: &crate::report::Summary) -> Vec<String> {
    let failed = summary.accounts_failed;
    let (exempt, inactive) = (summary.exempt, summary.inactive_keys);
    let unknown = summary.exemption_unknown;
    [
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
            unknown,
            format!(
                "{unknown} finding{} whose exemption is unknown (tags unreadable), never remediated",
                plural(unknown)
            ),
        ),
        (
            inactive,
            format!("{inactive} inactive key{} not counted", plural(inactive)),
        ),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(_, note)| note)
    .collect()
}

/// The longest reason quoted for a state that could not be read or written, in characters.
const STATE_REASON_CHARS: usize = 400;

/// What went wrong with the state kept from run to run, with the first reason (which names the
/// permission that fixes it): never silent, since every later run would be as blind.
fn state_lines(out: &mut String, state: &crate::report::StateSummary) -> std::fmt::Result {
    let first = |errors: &[String]| {
        let reason = errors.first().map(String::as_str).unwrap_or_default();
        match reason.char_indices().nth(STATE_REASON_CHARS) {
            Some((cut, _)) => format!("{}…", &reason[..cut]),
            None => reason.to_owned(),
        }
    };
    if !state.unreadable.is_empty() {
        let count = state.unreadable.len();
        writeln!(
            out,
            "THE STATE KEPT FROM RUN TO RUN COULD NOT BE READ for {count} account{}: what changed since the last run is not known there, no inactive key of theirs is deleted, and it stays so until this is fixed. First: {}",
            plural(count),
            first(&state.unreadable)
        )?;
    }
    if !state.errors.is_empty() {
        let count = state.errors.len();
        writeln!(
            out,
            "The state could not be written for {count} account{}: the next run compares with an older one. First: {}",
            plural(count),
            first(&state.errors)
        )?;
    }
    Ok(())
}

/// The kept findings, by account (or owner); groups in the order of their most important
/// finding. When there is an earlier scan to compare with: the new findings, then the resolved
/// ones, then those still open.
fn findings_section(
    out: &mut String,
    report: &Report,
    full_report: Option<&str>,
    shown: &Shown<'_, '_>,
) -> std::fmt::Result {
    let compared = report
        .changes
        .as_ref()
        .is_some_and(|changes| changes.since.is_some());
    let grouping = shown.grouping;
    // How many of the report's findings in `block` share a group.
    let total = |block: &dyn Fn(&Finding) -> bool, key: &str| {
        report
            .findings
            .iter()
            .filter(|finding| block(finding) && grouping.key(finding) == key)
            .count()
    };
    if compared {
        let is_new = |finding: &Finding| finding.change == Some(Change::New);
        let is_open = |finding: &Finding| !is_new(finding);
        let (new, open): (Vec<&Finding>, Vec<&Finding>) =
            shown.findings.iter().partition(|finding| is_new(finding));
        let new_total = report.findings.iter().filter(|f| is_new(f)).count();
        if new_total > 0 {
            writeln!(
                out,
                "\nNew since the last complete scan: {new_total} unused credential{}",
                plural(new_total)
            )?;
            grouped(out, &new, grouping, |key| total(&is_new, key))?;
        }
        changes::resolved_section(out, shown.resolved, shown.resolved_omitted)?;
        let open_total = report.findings.len() - new_total;
        if open_total > 0 {
            writeln!(
                out,
                "\nStill open: {open_total} unused credential{}",
                plural(open_total)
            )?;
            grouped(out, &open, grouping, |key| total(&is_open, key))?;
        }
    } else {
        grouped(out, shown.findings, grouping, |key| total(&|_| true, key))?;
    }
    let omitted = shown.findings_omitted;
    if omitted > 0 {
        writeln!(
            out,
            "\n... and {omitted} more finding{} left out of this message to keep it under {} KiB (the least severe and least idle). {}",
            plural(omitted),
            MAX_MESSAGE_BYTES / 1024,
            match full_report {
                Some(location) => format!("Every finding is in the full report: {location}"),
                None =>
                    "Run `stalecreds scan --output report.json` for the full report.".to_owned(),
            }
        )?;
    }
    Ok(())
}

/// How the digest groups its findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Grouping {
    /// By account (the default).
    #[default]
    Account,
    /// By owner (`owners.group_digest`), so that each part can be forwarded to the people who
    /// can act; findings without an owner come together.
    Owner,
}

/// The group of findings with no owner.
const NO_OWNER: &str = "no owner tag";

impl Grouping {
    /// The group a finding belongs to.
    fn key(self, finding: &Finding) -> String {
        match self {
            Grouping::Account => finding.account_id.clone(),
            Grouping::Owner => finding
                .owner
                .as_ref()
                .map_or_else(|| NO_OWNER.to_owned(), |owner| owner.value.clone()),
        }
    }

    /// The group's heading.
    fn label(self, finding: &Finding) -> String {
        match self {
            Grouping::Account => {
                account_label(&finding.account_id, finding.account_name.as_deref())
            }
            Grouping::Owner => match &finding.owner {
                Some(owner) => format!("Owner {} ({})", owner.value, owner.tag),
                None => format!("Owner unknown ({NO_OWNER})"),
            },
        }
    }
}

/// `findings` by group, in the order of each group's first finding; `total` counts a group's
/// findings of this kind in the whole report.
fn grouped(
    out: &mut String,
    findings: &[&Finding],
    grouping: Grouping,
    total: impl Fn(&str) -> usize,
) -> std::fmt::Result {
    let mut order: Vec<String> = Vec::new();
    let mut members: std::collections::HashMap<String, Vec<&Finding>> =
        std::collections::HashMap::new();
    for finding in findings {
        let key = grouping.key(finding);
        if !members.contains_key(&key) {
            order.push(key.clone());
        }
        members.entry(key).or_default().push(finding);
    }
    for key in order {
        let in_group = &members[&key];
        let total = total(&key).max(in_group.len());
        writeln!(
            out,
            "\n{}: {total} unused credential{}",
            grouping.label(in_group[0]),
            plural(total)
        )?;
        for finding in in_group {
            finding_line(out, finding, grouping)?;
        }
    }
    Ok(())
}

/// One cause of accounts not scanned: its error, what to do, an example, and up to `sample`
/// of its accounts by name.
fn cause_lines(out: &mut String, group: &Group<'_>, sample: usize) -> std::fmt::Result {
    let count = group.accounts.len();
    let what = match group.cause.status {
        AccountStatus::Scanned => "scanned incompletely (some users could not be read)",
        AccountStatus::Failed | AccountStatus::Skipped => "not scanned",
    };
    writeln!(
        out,
        "  - {} {}: {count} account{} {what}\n      {}\n      e.g. {}",
        group.cause.operation,
        group.cause.code,
        plural(count),
        group.hint(),
        example(group.example),
    )?;
    if sample > 0 {
        let named: Vec<String> = group
            .accounts
            .iter()
            .take(sample)
            .map(|account| account_label(&account.account_id, account.name.as_deref()))
            .collect();
        let more = count - named.len();
        let more = if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        };
        writeln!(out, "      {}{more}", named.join(", "))?;
    }
    Ok(())
}

/// The accounts not scanned, or not completely: one entry per cause, with its count, what
/// usually fixes it, an example message and a few of its accounts.
fn not_scanned_section(
    out: &mut String,
    full_report: Option<&str>,
    shown: &Shown<'_, '_>,
) -> std::fmt::Result {
    let all = shown.groups.iter().chain(shown.groups_omitted);
    let accounts: usize = all.clone().map(|group| group.accounts.len()).sum();
    if accounts == 0 {
        return Ok(());
    }
    let causes = all.count();
    writeln!(
        out,
        "\nAccounts not scanned, or not completely: {accounts} ({causes} cause{})",
        plural(causes)
    )?;
    for group in shown.groups {
        cause_lines(out, group, shown.sample)?;
    }
    if !shown.groups_omitted.is_empty() {
        let left_out: usize = shown
            .groups_omitted
            .iter()
            .map(|group| group.accounts.len())
            .sum();
        writeln!(
            out,
            "  ... and {} more cause{} ({left_out} account{}) left out of this message",
            shown.groups_omitted.len(),
            plural(shown.groups_omitted.len()),
            plural(left_out)
        )?;
    }
    let named: usize = shown
        .groups
        .iter()
        .map(|group| group.accounts.len().min(shown.sample))
        .sum();
    if named < accounts {
        writeln!(
            out,
            "  Every account and its error is in the full report: {}",
            full_report.unwrap_or("`stalecreds scan --output report.json`")
        )?;
    }
    Ok(())
}

/// An AWS error message as an example: one line of at most 200 characters, quoted.
fn example(message: &str) -> String {
    let line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("\"{}...\"", &line[..cut]),
        None => format!("\"{line}\""),
    }
}

fn what_to_do_section(
    out: &mut String,
    full_report: Option<&str>,
    page: Option<&str>,
) -> std::fmt::Result {
    writeln!(
        out,
        "\nWhat to do\n\
         \x20 Access key: aws iam update-access-key --user-name USER --access-key-id KEY --status Inactive\n\
         \x20             (reversible), then aws iam delete-access-key --user-name USER --access-key-id KEY\n\
         \x20 Password:   aws iam delete-login-profile --user-name USER\n\
         \x20             (console: IAM > Users > USER > Security credentials > Manage console access)\n\
         \x20 Root key:   sign in as the root user > Security credentials > Access keys > Delete\n\
         \x20 A user who must keep a credential: add an exemption to the configuration file."
    )?;
    if let Some(location) = full_report {
        writeln!(out, "\nFull report: {location}")?;
    }
    if let Some(page) = page {
        writeln!(
            out,
            "The page (findings to sort and filter, charts): {page}"
        )?;
    }
    Ok(())
}

/// The machines' part: the report's field names, the kept findings only.
#[derive(Serialize)]
struct SummaryJson<'a> {
    schema_version: u32,
    generated_at: jiff::Timestamp,
    max_idle_days: u32,
    mode: Mode,
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a ChangesSummary>,
    accounts_not_scanned: Vec<NotScanned<'a>>,
    causes_omitted: usize,
    findings: Vec<CompactFinding<'a>>,
    findings_omitted: usize,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    resolved: &'a [&'a ResolvedFinding],
    #[serde(skip_serializing_if = "is_zero")]
    resolved_omitted: usize,
    report: Option<&'a str>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// One cause of failure: its accounts counted, a sample of them named.
#[derive(Serialize)]
struct NotScanned<'a> {
    status: AccountStatus,
    operation: &'a str,
    code: &'a str,
    accounts: usize,
    hint: &'static str,
    sample: Vec<SampleAccount<'a>>,
}

#[derive(Serialize)]
struct SampleAccount<'a> {
    account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// A finding, with the report's field names; absent values are left out, not `null`, to keep
/// room for more findings.
#[derive(Serialize)]
struct CompactFinding<'a> {
    rule: Rule,
    severity: Severity,
    account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_name: Option<&'a str>,
    user_name: &'a str,
    credential: CredentialKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    /// Another kind's ID (an access key's is `access_key_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_status: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    exemption_unknown: bool,
}

impl<'a> CompactFinding<'a> {
    fn of(finding: &'a Finding) -> CompactFinding<'a> {
        CompactFinding {
            rule: finding.rule,
            severity: finding.severity,
            account_id: &finding.account_id,
            account_name: finding.account_name.as_deref(),
            user_name: &finding.user_name,
            credential: finding.credential,
            access_key_id: finding.access_key_id.as_deref(),
            credential_id: finding
                .credential_id
                .as_deref()
                .filter(|_| finding.access_key_id.is_none()),
            expires: finding.expires,
            credential_status: finding.credential_status,
            last_used: finding.last_used,
            idle_days: finding.idle_days,
            owner: finding.owner.as_ref().map(|owner| owner.value.as_str()),
            change: finding.change,
            first_seen: finding.first_seen,
            exemption_unknown: finding.exemption_unknown.is_some(),
        }
    }
}

fn summary_json(report: &Report, full_report: Option<&str>, shown: &Shown<'_, '_>) -> String {
    let summary = SummaryJson {
        schema_version: report.schema_version,
        generated_at: report.generated_at,
        max_idle_days: report.max_idle_days,
        mode: report.mode,
        summary: &report.summary,
        changes: report.changes.as_ref(),
        accounts_not_scanned: shown
            .groups
            .iter()
            .map(|group| NotScanned {
                status: group.cause.status,
                operation: group.cause.operation,
                code: group.cause.code,
                accounts: group.accounts.len(),
                hint: group.hint(),
                sample: group
                    .accounts
                    .iter()
                    .take(shown.sample)
                    .map(|account| SampleAccount {
                        account_id: &account.account_id,
                        name: account.name.as_deref(),
                    })
                    .collect(),
            })
            .collect(),
        causes_omitted: shown.groups_omitted.len(),
        findings: shown
            .findings
            .iter()
            .map(|finding| CompactFinding::of(finding))
            .collect(),
        findings_omitted: shown.findings_omitted,
        resolved: shown.resolved,
        resolved_omitted: shown.resolved_omitted,
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
        .map(|finding| finding.severity)
        .max()
        .map_or("none", Severity::as_str);
    // SNS takes at most ten message attributes.
    vec![
        number("findings", summary.findings),
        number(
            "new_findings",
            report.changes.as_ref().map_or(0, |changes| changes.new),
        ),
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
pub(crate) mod tests;
