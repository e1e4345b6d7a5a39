//! The report as one page for people (`--html FILE`, and `report.html` beside the JSON report in
//! the bucket): the summary, what is new and what was resolved, charts by idle age and by
//! account, a sortable and filterable table of findings, and the accounts not scanned.
//!
//! The page is self-contained and works offline: no request leaves it. Its one style and one
//! script are inline, allowed by a Content-Security-Policy that names their SHA-256 hashes and
//! nothing else; it has no `style=` or `on*` attributes. Every text from the report (account
//! names can hold any printable character, IAM names and paths `<` and quotes) goes through
//! [`escape`].

use std::fmt::Write as _;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

use super::words::{account_label, credential_words, plural};
use super::{AccountStatus, CisVersion, Finding, Report};
use crate::changes::Change;
use crate::remediate::ActionStatus;
use crate::rules::CredentialKind;

/// The page's one style sheet.
const STYLE: &str = include_str!("html/page.css");
/// The page's one script: sorting and filtering the findings table.
const SCRIPT: &str = include_str!("html/page.js");

/// Accounts shown in the per-account chart; the rest are counted.
const CHART_ACCOUNTS: usize = 20;

/// The idle-age buckets of the chart: a label and the least idle days it holds.
const BUCKETS: [(&str, i64); 4] = [
    ("under 90 days", i64::MIN),
    ("90 to 179 days", 90),
    ("180 to 364 days", 180),
    ("365 days or more", 365),
];

/// Writes the page.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render(report).as_bytes())
}

/// Writes the page to `path`, atomically (see [`Report::write_file`]).
pub fn write_file(report: &Report, path: &std::path::Path) -> io::Result<()> {
    super::write_atomically(path, |out| write(report, out))
}

/// The page.
pub fn render(report: &Report) -> String {
    let mut page = String::with_capacity(16 * 1024 + report.findings.len() * 80);
    let title = format!(
        "stalecreds: {} unused credential{} ({})",
        report.summary.findings,
        plural(report.summary.findings),
        report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    );
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        content_security_policy(),
        escape(&title)
    );
    summary(&mut page, report);
    new_and_resolved(&mut page, report);
    charts(&mut page, report);
    findings_table(&mut page, report);
    not_scanned(&mut page, report);
    let _ = write!(
        page,
        "<p class=\"muted\">Written by {} {}. The full report is the JSON document of the same run \
         (docs/report-schema.md).</p>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        escape(&report.tool.name),
        escape(&report.tool.version)
    );
    page
}

/// The policy: nothing may load, only the page's own style and script (by hash) apply.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src '{}'; script-src '{}'; img-src 'none'; base-uri 'none'; form-action 'none'",
        hash(STYLE),
        hash(SCRIPT)
    )
}

/// A CSP source for `text`: `sha256-` and its hash in base64.
fn hash(text: &str) -> String {
    format!(
        "sha256-{}",
        aws_smithy_types::base64::encode(Sha256::digest(text.as_bytes()))
    )
}

/// `text` made safe in HTML text and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn summary(page: &mut String, report: &Report) {
    let summary = &report.summary;
    let _ = write!(
        page,
        "<header>\n<h1>Unused IAM credentials</h1>\n<p class=\"muted\">Measured to {}: a credential \
         idle for {} days or more is unused ({}). IAM read from the {}.</p>\n\
         </header>\n<section class=\"cards\" aria-label=\"summary\">\n",
        escape(&report.generated_at.to_string()),
        report.max_idle_days,
        escape(&super::controls::unused_credentials(&report.cis_versions)),
        match report.mode {
            crate::scan::Mode::Report => "credential report",
            crate::scan::Mode::Api => "IAM API",
        }
    );
    let cards = cards(report);
    for (label, value) in cards {
        let _ = writeln!(
            page,
            "<div class=\"card\"><b>{}</b>{label}</div>",
            escape(&value)
        );
    }
    page.push_str("</section>\n");
    let also = also(summary);
    if !also.is_empty() {
        let _ = writeln!(page, "<p>Also: {}.</p>", escape(&also.join("; ")));
    }
    if !report.is_complete() {
        page.push_str(
            "<p class=\"new\">This run is incomplete: what it did not see is not here, and \
             nothing of those accounts is marked resolved.</p>\n",
        );
    }
}

/// The summary's cards: a figure and what it counts.
fn cards(report: &Report) -> Vec<(&'static str, String)> {
    let summary = &report.summary;
    let not_scanned = summary.accounts_failed;
    let mut cards = vec![
        ("unused credentials", summary.findings.to_string()),
        (
            "accounts scanned",
            format!("{} of {}", summary.accounts_scanned, summary.accounts),
        ),
        ("access keys", summary.unused_access_keys.to_string()),
        ("console passwords", summary.unused_passwords.to_string()),
    ];
    if summary.root_access_keys > 0 {
        cards.push(("root access keys", summary.root_access_keys.to_string()));
    }
    if let Some(changes) = &report.changes {
        cards.push(("new", changes.new.to_string()));
        cards.push(("resolved", changes.resolved.to_string()));
    }
    if not_scanned > 0 {
        cards.push(("accounts not scanned", not_scanned.to_string()));
    }
    cards
}

/// What the cards do not count.
fn also(summary: &super::Summary) -> Vec<String> {
    let mut also = Vec::new();
    if summary.accounts_incomplete > 0 {
        also.push(format!(
            "{} account{} scanned incompletely",
            summary.accounts_incomplete,
            plural(summary.accounts_incomplete)
        ));
    }
    if summary.accounts_skipped > 0 {
        also.push(format!("{} skipped", summary.accounts_skipped));
    }
    if summary.inactive_keys > 0 {
        also.push(format!(
            "{} inactive key{} not counted",
            summary.inactive_keys,
            plural(summary.inactive_keys)
        ));
    }
    if summary.exempt > 0 {
        also.push(format!("{} exempt", summary.exempt));
    }
    also
}

fn new_and_resolved(page: &mut String, report: &Report) {
    let Some(changes) = &report.changes else {
        return;
    };
    let since = match (changes.since, changes.accounts_compared) {
        (Some(since), compared) if compared > 0 => format!(
            "Since the last complete scan ({}): {} new, {} ongoing, {} resolved.",
            since.strftime("%Y-%m-%d"),
            changes.new,
            changes.ongoing,
            changes.resolved
        ),
        _ => "First run: no earlier complete scan to compare with, so every finding is new."
            .to_owned(),
    };
    let _ = writeln!(page, "<p class=\"changes\">{}</p>", escape(&since));
    new_list(page, report);
    resolved_list(page, report);
}

/// The findings new since the last run.
fn new_list(page: &mut String, report: &Report) {
    let new: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|finding| finding.change == Some(Change::New))
        .collect();
    let _ = writeln!(
        page,
        "<h2 id=\"new\">New: {} unused credential{}</h2>",
        new.len(),
        plural(new.len())
    );
    if new.is_empty() {
        page.push_str("<p class=\"muted\">Nothing new.</p>\n");
    } else {
        page.push_str("<ul>\n");
        for finding in new.iter().take(LIST_MAX) {
            let _ = writeln!(
                page,
                "<li><span class=\"sev-{0}\">{0}</span> {1}: {2}</li>",
                finding.severity.as_str(),
                escape(&account_label(
                    &finding.account_id,
                    finding.account_name.as_deref()
                )),
                escape(&credential_line(finding))
            );
        }
        page.push_str("</ul>\n");
        more(page, new.len(), "new only");
    }
}

/// The entries a list of new or resolved findings shows; the table has them all.
const LIST_MAX: usize = 200;

/// The line under a list cut at [`LIST_MAX`].
fn more(page: &mut String, count: usize, how: &str) {
    if count > LIST_MAX {
        let _ = writeln!(
            page,
            "<p class=\"muted\">And {} more: {how}.</p>",
            count - LIST_MAX
        );
    }
}

/// The findings resolved since the last run.
fn resolved_list(page: &mut String, report: &Report) {
    let _ = writeln!(
        page,
        "<h2 id=\"resolved\">Resolved: {} credential{}</h2>",
        report.resolved.len(),
        plural(report.resolved.len())
    );
    if report.resolved.is_empty() {
        page.push_str("<p class=\"muted\">Nothing resolved.</p>\n");
    } else {
        page.push_str("<ul>\n");
        for resolved in report.resolved.iter().take(LIST_MAX) {
            let what = credential_text(resolved.credential, resolved.credential_id.as_deref());
            let _ = writeln!(
                page,
                "<li>{}: {} {}, first seen {}: <span class=\"resolved\">{}</span></li>",
                escape(&account_label(
                    &resolved.account_id,
                    resolved.account_name.as_deref()
                )),
                escape(&resolved.user_name),
                escape(&what),
                resolved.first_seen.strftime("%Y-%m-%d"),
                escape(resolved.reason.words())
            );
        }
        page.push_str("</ul>\n");
        more(
            page,
            report.resolved.len(),
            "every one is in the JSON report's `resolved`",
        );
    }
}

/// "access key AKIA…", "console password".
fn credential_text(credential: CredentialKind, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{} {key}", credential_words(credential)),
        None => credential_words(credential).to_owned(),
    }
}

/// "alice access key AKIA… (312 days idle)".
fn credential_line(finding: &Finding) -> String {
    let mut line = format!(
        "{} {}",
        finding.user_name,
        credential_text(finding.credential, finding.credential_id.as_deref())
    );
    match finding.idle_days {
        Some(days) => {
            let _ = write!(line, " ({days} days idle)");
        }
        None => line.push_str(" (no recorded use)"),
    }
    line
}

fn charts(page: &mut String, report: &Report) {
    if report.findings.is_empty() {
        return;
    }
    let mut buckets: Vec<(String, usize)> = BUCKETS
        .iter()
        .enumerate()
        .map(|(index, (label, least))| {
            let most = BUCKETS.get(index + 1).map_or(i64::MAX, |next| next.1);
            let count = report
                .findings
                .iter()
                .filter(|finding| finding.idle_days.is_some_and(|d| d >= *least && d < most))
                .count();
            ((*label).to_owned(), count)
        })
        .collect();
    buckets.push((
        "no recorded use or date".to_owned(),
        report
            .findings
            .iter()
            .filter(|finding| finding.idle_days.is_none())
            .count(),
    ));
    let mut accounts: Vec<(String, usize)> = report
        .accounts
        .iter()
        .filter(|account| account.findings > 0)
        .map(|account| {
            (
                account_label(&account.account_id, account.name.as_deref()),
                account.findings,
            )
        })
        .collect();
    accounts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = accounts.len().saturating_sub(CHART_ACCOUNTS);
    accounts.truncate(CHART_ACCOUNTS);
    page.push_str("<section class=\"charts\">\n<div>\n<h2>Findings by days idle</h2>\n");
    bars(page, "Findings by days idle", &buckets);
    page.push_str("</div>\n<div>\n<h2>Findings by account</h2>\n");
    bars(page, "Findings by account", &accounts);
    if more > 0 {
        let _ = writeln!(
            page,
            "<p class=\"muted\">And {more} more account{} with findings (see the table).</p>",
            plural(more)
        );
    }
    page.push_str("</div>\n</section>\n");
}

/// A horizontal bar chart as inline SVG: each label on its line, its bar and count below.
fn bars(page: &mut String, title: &str, rows: &[(String, usize)]) {
    const WIDTH: usize = 400;
    const ROW: usize = 36;
    const BAR: usize = 340;
    let most = rows
        .iter()
        .map(|(_, count)| *count)
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = writeln!(
        page,
        "<svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{}\">",
        rows.len() * ROW + 4,
        escape(title)
    );
    for (index, (label, count)) in rows.iter().enumerate() {
        let top = index * ROW;
        let width = count * BAR / most;
        let _ = writeln!(
            page,
            "<text x=\"0\" y=\"{}\">{}</text>\
             <rect class=\"track\" x=\"0\" y=\"{}\" width=\"{BAR}\" height=\"14\"/>\
             <rect class=\"bar\" x=\"0\" y=\"{}\" width=\"{width}\" height=\"14\"/>\
             <text x=\"{}\" y=\"{}\">{count}</text>",
            top + 13,
            escape(label),
            top + 18,
            top + 18,
            BAR + 8,
            top + 30,
        );
    }
    page.push_str("</svg>\n");
}

/// Findings shown at once in the table: the page holds every finding as data, and its script
/// renders one page of rows at a time, however many there are.
const PAGE_ROWS: usize = 100;

fn findings_table(page: &mut String, report: &Report) {
    let _ = writeln!(
        page,
        "<h2 id=\"all\">All findings: {}</h2>",
        report.findings.len()
    );
    if report.findings.is_empty() {
        page.push_str("<p>No unused credentials.</p>\n");
        return;
    }
    let _ = write!(
        page,
        "<div class=\"controls\">\n<input id=\"filter\" type=\"search\" \
         placeholder=\"Filter: account, user, key, owner…\" aria-label=\"Filter findings\">\n\
         <select id=\"change\" aria-label=\"New or ongoing\"><option value=\"\">new and ongoing</option>\
         <option value=\"new\">new only</option><option value=\"ongoing\">ongoing only</option></select>\n\
         <span id=\"shown\" class=\"muted\"></span>\n</div>\n<div class=\"scroll\">\n\
         <table id=\"findings\" data-page-rows=\"{PAGE_ROWS}\">\n<thead><tr>",
    );
    let headers = [
        ("Severity", "number", ""),
        ("Account", "text", ""),
        ("User", "text", ""),
        ("Credential", "text", ""),
        ("Days idle", "number", "num"),
        ("Last used", "text", "wide"),
        ("Change", "text", ""),
        ("Owner", "text", ""),
        ("CIS", "text", "wide"),
        ("Remediation", "text", "wide"),
    ];
    for (name, kind, class) in headers {
        let _ = write!(
            page,
            "<th class=\"{class}\" data-type=\"{kind}\"><button type=\"button\">{name}</button></th>"
        );
    }
    page.push_str(
        "</tr></thead>\n<tbody></tbody>\n</table>\n</div>\n<nav class=\"pager\" aria-label=\"Pages of findings\">\
         <button type=\"button\" id=\"previous\">Previous</button> <span id=\"page\"></span> \
         <button type=\"button\" id=\"next\">Next</button></nav>\n\
         <script type=\"application/json\" id=\"findings-data\">",
    );
    page.push_str(&table_data(report));
    page.push_str("</script>\n");
}

/// The findings as the page's script reads them: tables of the values many findings share
/// (accounts, credential kinds, owners, remediations) and one array per finding, `[severity,
/// account, user, kind, ID, days idle (-1: unknown), last used, change, owner, remediation]`.
/// It is JSON inside a `<script type="application/json">`, which nothing executes, with `<`, `>`
/// and `&` written as escapes, so that no text can close the element; the script shows every
/// value as text, never as markup.
fn table_data(report: &Report) -> String {
    let mut tables = Shared::default();
    let rows: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|finding| tables.row(finding))
        .collect();
    let kinds: Vec<serde_json::Value> = tables
        .kinds
        .iter()
        .map(|kind| kind_data(*kind, &report.cis_versions))
        .collect();
    let data = serde_json::json!({
        "accounts": tables.accounts.values,
        "owners": tables.owners.values,
        "remediations": tables.remediations.values,
        "kinds": kinds,
        "rows": rows,
    });
    // `<`, `>` and `&` appear only inside JSON strings: as escapes, they mean the same.
    data.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Values many findings share, each kept once and named by its index.
#[derive(Default)]
struct Table {
    values: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Table {
    fn of(&mut self, value: String) -> usize {
        if let Some(at) = self.index.get(&value) {
            return *at;
        }
        self.values.push(value.clone());
        self.index.insert(value, self.values.len() - 1);
        self.values.len() - 1
    }
}

/// The tables of a page's data.
#[derive(Default)]
struct Shared {
    accounts: Table,
    owners: Table,
    remediations: Table,
    kinds: Vec<CredentialKind>,
}

impl Shared {
    /// One finding's row (see [`table_data`]).
    fn row(&mut self, finding: &Finding) -> serde_json::Value {
        let label = account_label(&finding.account_id, finding.account_name.as_deref());
        let account = self.accounts.of(label);
        let kind = match self.kinds.iter().position(|k| *k == finding.credential) {
            Some(at) => at,
            None => {
                self.kinds.push(finding.credential);
                self.kinds.len() - 1
            }
        };
        let owner = finding.owner.as_ref().map_or(-1, |owner| {
            self.owners.of(format!("{} ({})", owner.value, owner.tag)) as i64
        });
        let remediation = finding.remediation.as_ref().map_or(-1, |entry| {
            self.remediations.of(remediation_text(entry)) as i64
        });
        let id = finding
            .credential_id
            .as_deref()
            .or(finding.access_key_id.as_deref());
        serde_json::json!([
            severity_rank(finding.severity),
            account,
            finding.user_name,
            kind,
            id.unwrap_or(""),
            finding.idle_days.unwrap_or(-1),
            finding
                .last_used
                .map_or_else(String::new, |at| at.strftime("%Y-%m-%d").to_string()),
            finding.change.map_or("unknown", Change::as_str),
            owner,
            remediation,
        ])
    }
}

/// A credential kind as the page's script reads it: its words, whether AWS records its use,
/// and its CIS controls in `versions`.
fn kind_data(kind: CredentialKind, versions: &[CisVersion]) -> serde_json::Value {
    let cis: Vec<String> = crate::rules::cis::controls(crate::rules::Rule::of(kind), versions)
        .iter()
        .map(|control| format!("{} (v{})", control.control, control.version.as_str()))
        .collect();
    serde_json::json!([
        credential_words(kind),
        !CredentialKind::OTHERS.contains(&kind),
        cis.join(", "),
    ])
}

fn severity_rank(severity: crate::rules::Severity) -> u8 {
    match severity {
        crate::rules::Severity::Medium => 1,
        crate::rules::Severity::High => 2,
        crate::rules::Severity::Critical => 3,
    }
}

/// A remediation in a few words: `deactivate_key: planned`.
fn remediation_text(entry: &super::RemediationEntry) -> String {
    let state = match entry.state {
        ActionStatus::Planned => "planned",
        ActionStatus::Deferred => "deferred",
        ActionStatus::Applied => "applied",
        ActionStatus::Skipped => "skipped",
        ActionStatus::Failed => "failed",
        ActionStatus::Waiting => "waiting",
    };
    format!("{}: {state}", entry.action.as_str())
}

fn not_scanned(page: &mut String, report: &Report) {
    let rows: Vec<(String, &str, String)> = report
        .accounts
        .iter()
        .filter_map(|account| {
            let label = account_label(&account.account_id, account.name.as_deref());
            match account.status {
                AccountStatus::Failed => {
                    let why = account.error.as_ref().map_or_else(String::new, |error| {
                        format!("{} {}: {}", error.operation, error.code, error.message)
                    });
                    Some((label, "not scanned", why))
                }
                AccountStatus::Skipped => Some((
                    label,
                    "skipped",
                    account.skip_reason.clone().unwrap_or_default(),
                )),
                AccountStatus::Scanned if !account.user_errors.is_empty() => {
                    let first = &account.user_errors[0];
                    Some((
                        label,
                        "incomplete",
                        format!(
                            "{} user{} unreadable, e.g. {}: {} {}",
                            account.user_errors.len(),
                            plural(account.user_errors.len()),
                            first.user_name,
                            first.error.operation,
                            first.error.code
                        ),
                    ))
                }
                AccountStatus::Scanned => None,
            }
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "<h2 id=\"not-scanned\">Accounts not scanned completely: {}</h2>\n<div class=\"scroll\">\n\
         <table id=\"accounts\">\n<thead><tr><th>Account</th><th>Status</th><th>Why</th></tr></thead>\n<tbody>",
        rows.len()
    );
    for (label, status, why) in rows {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{status}</td><td>{}</td></tr>",
            escape(&label),
            escape(&why)
        );
    }
    page.push_str("</tbody>\n</table>\n</div>\n");
}

#[cfg(test)]
mod tests;
