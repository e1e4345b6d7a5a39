//! Owner messages: besides the security team's one digest, one message per owner of findings,
//! so that the people who can say whether a credential is still needed are told directly.
//!
//! Each message carries the owner as an SNS message attribute (`owner`), so that each team
//! subscribes to the topic with a filter policy (`{"owner": ["payments"]}`) and receives only its
//! own credentials; the digest has no `owner` attribute, so a subscription for the security team
//! takes it alone with `{"owner": [{"exists": false}]}`. Findings without an owner go to the
//! digest only. At most `max` owners get a message (those with the most findings first); the
//! others are named in the digest. Each message stays within SNS's size limit, cutting its
//! longest-idle-last findings and saying how many.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{
    CompactFinding, Digest, Grouping, MARGIN_BYTES, MAX_MESSAGE_BYTES, ascii_subject, envelope,
    finding_line, largest, ranked,
};
use crate::report::words::plural;
use crate::report::{Finding, Report};

/// The owner messages of a run, and the owners left without one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Planned {
    /// One message per owner, the owners with the most findings first.
    pub messages: Vec<OwnerMessage>,
    /// The owners beyond the cap, with their number of findings.
    pub left_out: Vec<(String, usize)>,
}

/// One owner's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerMessage {
    /// The owner (its tag's value).
    pub owner: String,
    /// Its findings.
    pub findings: usize,
    /// The message.
    pub digest: Digest,
}

/// The owner messages of `report`: at most `max`, each within SNS's limit. `full_report` is
/// where the whole report is, if anywhere.
pub fn plan(report: &Report, max: usize, full_report: Option<&str>) -> Planned {
    let mut by_owner: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in ranked(&report.findings) {
        if let Some(owner) = &finding.owner {
            by_owner
                .entry(owner.value.as_str())
                .or_default()
                .push(finding);
        }
    }
    let mut owners: Vec<(&str, Vec<&Finding>)> = by_owner.into_iter().collect();
    owners.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let left_out = owners
        .iter()
        .skip(max)
        .map(|(owner, findings)| ((*owner).to_owned(), findings.len()))
        .collect();
    let messages = owners
        .into_iter()
        .take(max)
        .map(|(owner, findings)| OwnerMessage {
            owner: owner.to_owned(),
            findings: findings.len(),
            digest: message(report, owner, &findings, full_report),
        })
        .collect();
    Planned { messages, left_out }
}

/// One owner's message, with as many of its findings (most important first) as fit.
fn message(
    report: &Report,
    owner: &str,
    findings: &[&Finding],
    full_report: Option<&str>,
) -> Digest {
    let compose = |kept: usize| compose(report, owner, findings, kept, full_report);
    let fits = |kept: usize| compose(kept).size() + MARGIN_BYTES <= MAX_MESSAGE_BYTES;
    let kept = if fits(findings.len()) {
        findings.len()
    } else {
        largest(findings.len(), fits)
    };
    compose(kept)
}

/// The machine part of an owner message.
#[derive(Serialize)]
struct OwnerJson<'a> {
    owner: &'a str,
    generated_at: jiff::Timestamp,
    max_idle_days: u32,
    findings: Vec<CompactFinding<'a>>,
    findings_omitted: usize,
    report: Option<&'a str>,
}

fn compose(
    report: &Report,
    owner: &str,
    findings: &[&Finding],
    kept: usize,
    full_report: Option<&str>,
) -> Digest {
    let count = findings.len();
    let subject = ascii_subject(&format!(
        "stalecreds: {count} unused credential{} of {owner}",
        plural(count)
    ));
    let mut text = format!(
        "stalecreds, {}\n\nYou are named as the owner (IAM user tag) of {count} credential{} \
         that nobody has used for {} days or more, or that are older than their limit. If one \
         is still needed, tell your security team; if not, remove it.\n\n",
        report.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        plural(count),
        report.max_idle_days,
    );
    for finding in &findings[..kept] {
        let _ = finding_line(&mut text, finding, Grouping::Owner);
    }
    if kept < count {
        let _ = writeln!(
            text,
            "  ... and {} more left out of this message",
            count - kept
        );
    }
    if let Some(location) = full_report {
        let _ = writeln!(text, "\nThe run's full report: {location}");
    }
    let json = OwnerJson {
        owner,
        generated_at: report.generated_at,
        max_idle_days: report.max_idle_days,
        findings: findings[..kept]
            .iter()
            .map(|f| CompactFinding::of(f))
            .collect(),
        findings_omitted: count - kept,
        report: full_report,
    };
    // Serializing plain data with string keys cannot fail.
    let json = serde_json::to_string(&json).unwrap_or_default();
    Digest {
        subject,
        message: envelope(&text, &json),
        text,
        attributes: attributes(owner, findings),
        findings_included: kept,
        findings_omitted: count - kept,
    }
}

/// An owner message's attributes: the owner (for filter policies), its findings, the new ones
/// and the most severe.
fn attributes(owner: &str, findings: &[&Finding]) -> Vec<(String, String, String)> {
    let new = findings
        .iter()
        .filter(|finding| finding.change == Some(crate::changes::Change::New))
        .count();
    let max_severity = findings.iter().map(|finding| finding.severity).max();
    vec![
        ("owner".to_owned(), "String".to_owned(), owner.to_owned()),
        (
            "findings".to_owned(),
            "Number".to_owned(),
            findings.len().to_string(),
        ),
        (
            "new_findings".to_owned(),
            "Number".to_owned(),
            new.to_string(),
        ),
        (
            "max_severity".to_owned(),
            "String".to_owned(),
            max_severity
                .map_or("none", |severity| severity.as_str())
                .to_owned(),
        ),
    ]
}

/// The digest's line about the owner messages: how many went out, to whom, and who was left out.
pub fn note(planned: &Planned) -> String {
    let sent = planned.messages.len();
    let names: Vec<&str> = planned
        .messages
        .iter()
        .take(20)
        .map(|message| message.owner.as_str())
        .collect();
    let more = if sent > names.len() {
        format!(", and {} more", sent - names.len())
    } else {
        String::new()
    };
    let mut line = format!(
        "Owner messages: {sent} (one per owner with findings, each to its owner's subscription): {}{more}.",
        names.join(", ")
    );
    if !planned.left_out.is_empty() {
        let left: Vec<String> = planned
            .left_out
            .iter()
            .take(20)
            .map(|(owner, count)| format!("{owner} ({count})"))
            .collect();
        let _ = write!(
            line,
            " Left out (at most {sent} a run): {} owner{}: {}{}.",
            planned.left_out.len(),
            plural(planned.left_out.len()),
            left.join(", "),
            if planned.left_out.len() > left.len() {
                ", …"
            } else {
                ""
            }
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::tests::small_organization_compared;

    #[test]
    fn one_message_per_owner_with_its_attribute_and_the_rest_named() {
        let mut report = small_organization_compared();
        let owners = ["payments", "payments", "platform", "data"];
        for (finding, owner) in report.findings.iter_mut().zip(owners) {
            finding.owner = Some(crate::rules::Owner {
                tag: "team".to_owned(),
                value: owner.to_owned(),
            });
        }
        let planned = plan(&report, 2, Some("s3://reports/report.json"));
        let sent: Vec<(&str, usize)> = planned
            .messages
            .iter()
            .map(|message| (message.owner.as_str(), message.findings))
            .collect();
        assert_eq!(sent[0], ("payments", 2), "the most findings first");
        assert_eq!(sent.len(), 2);
        assert_eq!(planned.left_out.len(), 1, "{planned:?}");
        let payments = &planned.messages[0].digest;
        assert!(payments.attributes.contains(&(
            "owner".to_owned(),
            "String".to_owned(),
            "payments".to_owned()
        )));
        assert!(
            payments
                .subject
                .starts_with("stalecreds: 2 unused credentials of payments")
        );
        assert!(payments.size() <= MAX_MESSAGE_BYTES);
        let note = note(&planned);
        assert!(note.starts_with("Owner messages: 2 "), "{note}");
        assert!(
            note.contains("Left out (at most 2 a run): 1 owner:"),
            "{note}"
        );
    }

    /// A run of 1,000 accounts, ten findings each, owned by 250 teams: the cap (100 by default)
    /// bounds the messages, the digest names the other 150 owners and still fits.
    #[test]
    fn a_thousand_account_run_sends_at_most_the_cap() {
        let mut report = small_organization_compared();
        let template = report.findings[0].clone();
        report.findings = (0..10_000)
            .map(|n| Finding {
                account_id: format!("{:012}", 100_000_000_000u64 + n / 10),
                user_name: format!("user-{n:05}"),
                owner: Some(crate::rules::Owner {
                    tag: "team".to_owned(),
                    value: format!("team-{:03}", n % 250),
                }),
                ..template.clone()
            })
            .collect();
        let planned = plan(&report, 100, None);
        assert_eq!(planned.messages.len(), 100);
        assert_eq!(planned.left_out.len(), 150);
        assert!(
            planned
                .messages
                .iter()
                .all(|m| m.digest.size() <= MAX_MESSAGE_BYTES)
        );
        let layout = crate::digest::Layout {
            owners: Some(&planned),
            ..crate::digest::Layout::plain()
        };
        let digest = crate::digest::render_grouped(&report, None, layout);
        assert!(digest.size() <= MAX_MESSAGE_BYTES);
        assert!(
            digest.text.contains("Owner messages: 100 "),
            "{}",
            &digest.text[..600]
        );
        assert!(
            digest
                .text
                .contains("Left out (at most 100 a run): 150 owners")
        );
    }

    #[test]
    fn a_message_for_an_owner_of_thousands_stays_within_the_limit() {
        let mut report = small_organization_compared();
        let template = report.findings[0].clone();
        report.findings = (0..6_000)
            .map(|n| Finding {
                user_name: format!("user-{n:05}-with-a-long-name-for-room"),
                owner: Some(crate::rules::Owner {
                    tag: "team".to_owned(),
                    value: "everyone".to_owned(),
                }),
                ..template.clone()
            })
            .collect();
        let planned = plan(&report, 10, None);
        let message = &planned.messages[0].digest;
        assert!(
            message.size() <= MAX_MESSAGE_BYTES,
            "{} bytes",
            message.size()
        );
        assert!(message.findings_omitted > 0 && message.findings_included > 100);
        assert!(message.text.contains("more left out of this message"));
    }
}
