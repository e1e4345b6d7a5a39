//! Snapshots of the digest of a small organization, and its size with many findings.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::aws::AwsError;
use crate::config::Notify;
use crate::inventory::KeyStatus;
use crate::report::{AccountOutcome, AccountResult, RunFacts, build};
use crate::rules::{CredentialKind, Outcome, Rule, Verdict};
use crate::scan::UserError;

/// The digest grouped by account.
fn render(report: &Report, full_report: Option<&str>) -> Digest {
    render_grouped(report, full_report, Layout::plain())
}

fn now() -> Timestamp {
    "2026-11-28T10:00:00Z".parse().expect("valid")
}

fn days_ago(days: i64) -> Timestamp {
    now() - SignedDuration::from_hours(24 * days)
}

fn key(user: &str, id: &str, created: i64, used: Option<i64>, idle: i64) -> Verdict {
    Verdict {
        rule: Rule::AccessKeyUnused,
        user_name: user.to_owned(),
        user_arn: format!("arn:aws:iam::111111111111:user/{user}"),
        user_created: None,
        credential: CredentialKind::AccessKey,
        access_key_id: Some(id.to_owned()),
        key_slot: None,
        key_status: Some(KeyStatus::Active),
        created: Some(days_ago(created)),
        last_used: used.map(days_ago),
        last_used_service: None,
        idle_since: Some(days_ago(idle)),
        idle_days: Some(idle),
        outcome: Outcome::Unused,
        exempt_reason: None,
        exemption_unknown: None,
        owner: None,
        service: None,
        expires: None,
    }
}

fn password(user: &str, set: i64, idle: i64) -> Verdict {
    Verdict {
        rule: Rule::PasswordUnused,
        credential: CredentialKind::Password,
        access_key_id: None,
        key_status: None,
        ..key(user, "", set, None, idle)
    }
}

fn root_key() -> Verdict {
    Verdict {
        rule: Rule::RootAccessKey,
        user_name: "<root_account>".to_owned(),
        user_arn: "arn:aws:iam::222222222222:root".to_owned(),
        credential: CredentialKind::RootAccessKey,
        access_key_id: None,
        ..key("root", "", 500, Some(30), 30)
    }
}

fn scanned(id: &str, name: &str, verdicts: Vec<Verdict>, errors: Vec<UserError>) -> AccountOutcome {
    AccountOutcome {
        account_id: id.to_owned(),
        name: Some(name.to_owned()),
        state: Some("ACTIVE".to_owned()),
        max_idle_days: 45,
        result: AccountResult::Scanned {
            users: verdicts.len(),
            verdicts,
            errors,
            credential_report_generated_at: Some(now()),
            findings_confirmed_at: Some(now()),
            confirmation: Some(crate::scan::Confirmation::Live),
            actions: Vec::new(),
        },
        aws_requests: 4,
    }
}

fn facts() -> RunFacts {
    RunFacts {
        generated_at: now(),
        max_idle_days: 45,
        mode: crate::scan::Mode::Report,
        caller_account_id: Some("123456789012".to_owned()),
        remediation: None,
        state: None,
        cis_versions: vec![
            crate::rules::cis::CisVersion::V3_0_0,
            crate::rules::cis::CisVersion::V5_0_0,
        ],
    }
}

fn small_organization() -> Report {
    let mut in_use = key("carol", "AKIACAROL", 300, Some(1), 1);
    in_use.outcome = Outcome::InUse;
    let mut exempt = password("breakglass-admin", 300, 300);
    exempt.outcome = Outcome::Exempt;
    exempt.exempt_reason = Some("user name matches `breakglass-*`".to_owned());
    build(
        facts(),
        vec![
            scanned(
                "111111111111",
                "prod",
                vec![
                    key("alice", "AKIAALICE2", 100, None, 100),
                    password("bob", 90, 90),
                    in_use,
                    exempt,
                ],
                vec![],
            ),
            scanned(
                "222222222222",
                "payments",
                vec![root_key(), key("dan", "AKIADAN", 400, Some(60), 60)],
                vec![],
            ),
            scanned(
                "333333333333",
                "dev",
                vec![],
                vec![UserError {
                    user_name: "eve".to_owned(),
                    error: AwsError {
                        operation: "ListAccessKeys".into(),
                        code: "AccessDenied".to_owned(),
                        message: "explicit deny".to_owned(),
                    },
                }],
            ),
            AccountOutcome {
                account_id: "444444444444".to_owned(),
                name: Some("sandbox".to_owned()),
                state: Some("ACTIVE".to_owned()),
                max_idle_days: 45,
                result: AccountResult::Failed(crate::failure::Failure::Aws(AwsError {
                    operation: "AssumeRole".into(),
                    code: "AccessDenied".to_owned(),
                    message: "not authorized to perform: sts:AssumeRole".to_owned(),
                })),
                aws_requests: 1,
            },
            AccountOutcome {
                account_id: "555555555555".to_owned(),
                name: Some("closed".to_owned()),
                state: Some("SUSPENDED".to_owned()),
                max_idle_days: 45,
                result: AccountResult::Skipped("state SUSPENDED".to_owned()),
                aws_requests: 0,
            },
        ],
    )
}

#[test]
fn the_subject_counts_and_stays_ascii_and_short() {
    let digest = render(&small_organization(), Some("s3://reports/2026-11-28.json"));
    insta::assert_snapshot!(digest.subject, @"stalecreds: 4 unused credentials in 2 of 3 accounts (1 account not scanned)");
    let long = ascii_subject(&format!("stalecreds: {}é\nnext", "x".repeat(200)));
    assert!(long.len() < 100 && long.is_ascii() && !long.contains('\n'));
}

#[test]
fn the_text_reads_most_severe_and_longest_idle_first() {
    let digest = render(&small_organization(), Some("s3://reports/2026-11-28.json"));
    insta::assert_snapshot!(digest.text);
}

#[test]
fn the_machine_part_uses_the_report_field_names() {
    let digest = render(&small_organization(), None);
    let message: serde_json::Value = serde_json::from_str(&digest.message).expect("JSON");
    for protocol in ["default", "email"] {
        assert_eq!(message[protocol], digest.text.as_str());
    }
    for protocol in ["sqs", "lambda", "https"] {
        let part: serde_json::Value =
            serde_json::from_str(message[protocol].as_str().expect("a string"))
                .expect("JSON inside");
        assert_eq!(part["summary"]["findings"], 4);
        assert_eq!(part["findings"][0]["rule"], "root-access-key");
        assert_eq!(part["findings_omitted"], 0);
    }
    insta::assert_snapshot!("machine_part", message["sqs"].as_str().expect("a string"));
    insta::assert_debug_snapshot!("attributes", digest.attributes);
}

#[test]
fn a_clean_complete_run_sends_nothing_by_default() {
    let clean = build(
        facts(),
        vec![scanned("111111111111", "prod", vec![], vec![])],
    );
    assert!(!should_send(&clean, Notify::OnFindings));
    assert!(should_send(&clean, Notify::Always));
    let report = small_organization();
    assert!(should_send(&report, Notify::OnFindings));
    assert!(!should_send(&report, Notify::Never));
    let incomplete = build(
        facts(),
        vec![AccountOutcome {
            result: AccountResult::Failed(AwsError::invalid_answer("AssumeRole", "x").into()),
            ..scanned("111111111111", "prod", vec![], vec![])
        }],
    );
    assert!(
        should_send(&incomplete, Notify::OnFindings),
        "a coverage gap is news"
    );
    insta::assert_snapshot!(render(&clean, None).subject, @"stalecreds: no unused credentials in 1 account");
}

/// `accounts` scanned accounts of `keys` unused keys each, idle from 45 to 744 days.
fn many(accounts: u64, keys: u64) -> Vec<AccountOutcome> {
    (0..accounts)
        .map(|account| {
            let verdicts = (0..keys)
                .map(|n| {
                    let idle = 45 + ((account * keys + n) % 700) as i64;
                    key(
                        &format!("user-{n:02}"),
                        &format!("AKIA{account:06}{n:06}XX"),
                        idle + 10,
                        Some(idle),
                        idle,
                    )
                })
                .collect();
            scanned(
                &format!("{:012}", 100_000_000_000u64 + account),
                &format!("account-{account}"),
                verdicts,
                vec![],
            )
        })
        .collect()
}

#[test]
fn ten_thousand_findings_in_five_hundred_accounts_fit_with_a_left_out_line() {
    let outcomes = many(500, 20);
    let report = build(facts(), outcomes);
    assert_eq!(report.summary.findings, 10_000);
    let digest = render(&report, Some("s3://reports/full.json"));
    assert!(
        digest.size() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        digest.size()
    );
    assert!(digest.message.len() <= MAX_MESSAGE_BYTES);
    assert_eq!(digest.findings_included + digest.findings_omitted, 10_000);
    assert!(
        digest.findings_omitted > 0 && digest.findings_included > 100,
        "{digest:?}"
    );
    assert!(digest.text.starts_with("stalecreds digest, 2026-11-28 10:00 UTC\n\n10000 unused credentials in 500 of 500 accounts scanned"));
    let left_out = format!("... and {} more findings left out", digest.findings_omitted);
    assert!(
        digest.text.contains(&left_out),
        "{}",
        &digest.text[digest.text.len() - 600..]
    );
    assert!(
        digest
            .text
            .contains("Every finding is in the full report: s3://reports/full.json")
    );
    // The kept findings are the longest idle ones.
    let message: serde_json::Value = serde_json::from_str(&digest.message).expect("JSON");
    let part: serde_json::Value =
        serde_json::from_str(message["sqs"].as_str().expect("string")).expect("JSON");
    let idle: Vec<i64> = part["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| finding["idle_days"].as_i64().expect("idle"))
        .collect();
    assert!(idle.windows(2).all(|pair| pair[0] >= pair[1]));
    assert_eq!(idle[0], 744);
    assert_eq!(part["findings_omitted"], digest.findings_omitted);
    assert_eq!(part["summary"]["findings"], 10_000);
}

#[test]
fn a_failed_run_still_has_a_digest() {
    let digest = render_failure(
        now(),
        &super::RunFailure {
            when: "before any account was scanned",
            error: "cannot list the organization's accounts: ListAccounts: AccessDenied",
            what_to_do: "run from the management account",
        },
    );
    assert!(digest.subject.len() < 100 && digest.subject.starts_with("stalecreds: run failed"));
    assert!(
        digest
            .text
            .contains("The run failed before any account was scanned")
    );
    assert!(
        digest
            .text
            .contains("What to do: run from the management account")
    );
    assert!(
        digest
            .text
            .contains("No credential was reported by this run")
    );
    // However long the error, the message stays small.
    let long = "x".repeat(1_000_000);
    let digest = render_failure(
        now(),
        &super::RunFailure {
            when: "at its merge",
            error: &long,
            what_to_do: "",
        },
    );
    assert!(digest.size() < 64 * 1_024, "{}", digest.size());
}

fn failed(id: u64, operation: &'static str, code: &str, message: &str) -> AccountOutcome {
    AccountOutcome {
        account_id: format!("{id:012}"),
        // Organizations allows 50 characters of any printable ASCII.
        name: Some(format!("a-rather-long-account-name-for-workload-{id:010}")),
        state: Some("ACTIVE".to_owned()),
        max_idle_days: 45,
        result: AccountResult::Failed(crate::failure::Failure::Aws(AwsError {
            operation: operation.into(),
            code: code.to_owned(),
            message: message.to_owned(),
        })),
        aws_requests: 1,
    }
}

/// A StackSet rollout that missed an OU: thousands of accounts fail AssumeRole, some are not
/// reached before the deadline, some are throttled.
fn thousands_failed() -> Vec<AccountOutcome> {
    let denied = "User: arn:aws:sts::123456789012:assumed-role/stalecreds-scanner/stalecreds is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/stalecreds-audit";
    (0..5_000u64)
        .map(|n| match n % 10 {
            0 => failed(
                200_000_000_000 + n,
                "Scan",
                "NotReached",
                "the run was stopped before this account was started",
            ),
            1 => failed(
                200_000_000_000 + n,
                "GenerateCredentialReport",
                "Throttling",
                "Rate exceeded",
            ),
            _ => failed(200_000_000_000 + n, "AssumeRole", "AccessDenied", denied),
        })
        .collect()
}

/// Issue 9: every failed account used to be listed in full, outside the size search, so a few
/// hundred of them pushed the message past SNS's limit and Publish refused it.
#[test]
fn thousands_of_failed_accounts_fit_grouped_by_cause_with_a_hint_and_a_sample() {
    let report = build(facts(), thousands_failed());
    let digest = render(&report, Some("s3://reports/full.json"));
    assert!(
        digest.size() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        digest.size()
    );
    let text = &digest.text;
    assert!(
        text.contains("Accounts not scanned, or not completely: 5000 (3 causes)"),
        "{text}"
    );
    assert!(text.contains("  - AssumeRole AccessDenied: 4000 accounts not scanned\n      Is the audit role deployed"), "{text}");
    assert!(
        text.contains("  - Scan NotReached: 500 accounts not scanned"),
        "{text}"
    );
    assert!(
        text.contains("  - GenerateCredentialReport Throttling: 500 accounts not scanned"),
        "{text}"
    );
    assert!(text.contains(", and 3990 more\n"), "{text}");
    assert!(
        text.contains("Every account and its error is in the full report: s3://reports/full.json"),
        "{text}"
    );
    let message: serde_json::Value = serde_json::from_str(&digest.message).expect("JSON");
    let part: serde_json::Value =
        serde_json::from_str(message["sqs"].as_str().expect("string")).expect("JSON");
    assert_eq!(part["accounts_not_scanned"][0]["accounts"], 4000);
    assert_eq!(
        part["accounts_not_scanned"][0]["sample"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    assert_eq!(part["summary"]["accounts_failed"], 5000);
}

#[test]
fn thousands_of_failed_accounts_and_ten_thousand_findings_fit_together() {
    let mut outcomes = thousands_failed();
    outcomes.extend((0..500u64).map(|account| {
        let verdicts = (0..20)
            .map(|n| {
                let idle = 45 + ((account * 20 + n) % 700) as i64;
                key(
                    &format!("user-{n:02}"),
                    &format!("AKIA{account:06}{n:06}XX"),
                    idle + 10,
                    Some(idle),
                    idle,
                )
            })
            .collect();
        scanned(
            &format!("{:012}", 100_000_000_000u64 + account),
            "prod",
            verdicts,
            vec![],
        )
    }));
    let report = build(facts(), outcomes);
    assert_eq!(
        (report.summary.findings, report.summary.accounts_failed),
        (10_000, 5_000)
    );
    let digest = render(&report, Some("s3://reports/full.json"));
    assert!(
        digest.size() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        digest.size()
    );
    assert!(
        digest.findings_included > 100,
        "{}",
        digest.findings_included
    );
    assert_eq!(digest.findings_included + digest.findings_omitted, 10_000);
    assert!(
        digest
            .text
            .contains("AssumeRole AccessDenied: 4000 accounts not scanned")
    );
    assert!(digest.text.contains(&format!(
        "... and {} more findings left out",
        digest.findings_omitted
    )));
}

#[test]
fn when_even_the_causes_do_not_fit_they_are_cut_and_counted() {
    // Two thousand distinct error codes, each with a long message: no sample, no finding and
    // not every cause fits; the digest still goes out and says what it left out.
    let long = "x".repeat(1_000);
    let outcomes: Vec<AccountOutcome> = (0..2_000u64)
        .map(|n| {
            failed(
                300_000_000_000 + n,
                "GetCredentialReport",
                &format!("OddError{n:04}"),
                &long,
            )
        })
        .collect();
    let report = build(facts(), outcomes);
    let digest = render(&report, None);
    assert!(
        digest.size() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        digest.size()
    );
    assert!(
        digest
            .text
            .contains("Accounts not scanned, or not completely: 2000 (2000 causes)")
    );
    assert!(
        digest.text.contains("more causes ("),
        "{}",
        &digest.text[digest.text.len() - 800..]
    );
    assert!(
        digest
            .text
            .contains("`stalecreds scan --output report.json`")
    );
}

/// The small organization compared with an earlier complete scan: alice's key and the root key
/// are new, bob's password and dan's key are ongoing, and two findings of that scan are gone.
pub(crate) fn small_organization_compared() -> Report {
    use crate::changes::{Change, Reason};
    use crate::report::changes::{BaselineSource, ChangesSummary, ResolvedFinding};
    let mut report = small_organization();
    for finding in &mut report.findings {
        let new =
            finding.user_name == "alice" || finding.credential == CredentialKind::RootAccessKey;
        finding.change = Some(if new { Change::New } else { Change::Ongoing });
        finding.first_seen = Some(if new { now() } else { days_ago(20) });
    }
    let resolved = |user: &str, credential, key: Option<&str>, reason| ResolvedFinding {
        finding_id: format!("111111111111/{user}/x"),
        account_id: "111111111111".to_owned(),
        account_name: Some("prod".to_owned()),
        user_name: user.to_owned(),
        user_arn: Some(format!("arn:aws:iam::111111111111:user/{user}")),
        credential,
        access_key_id: key.map(str::to_owned),
        credential_id: key.map(str::to_owned),
        first_seen: days_ago(30),
        reason,
    };
    report.resolved = vec![
        resolved(
            "frank",
            CredentialKind::AccessKey,
            Some("AKIAFRANK"),
            Reason::UsedAgain,
        ),
        resolved(
            "gina",
            CredentialKind::Password,
            None,
            Reason::DeletedByStalecreds,
        ),
    ];
    report.changes = Some(ChangesSummary {
        baseline: BaselineSource::State,
        since: Some(days_ago(1)),
        new: 2,
        ongoing: 2,
        resolved: 2,
        accounts_compared: 2,
        accounts_first_seen: 0,
        accounts_unreadable: 0,
        accounts_not_resolving: 2,
    });
    report
}

/// Issue 11: the digest leads with what is new and what was resolved, then the rest; the
/// subject says how many are new.
#[test]
fn what_changed_leads_new_then_resolved_then_still_open() {
    let digest = render(
        &small_organization_compared(),
        Some("s3://reports/2026-11-28.json"),
    );
    insta::assert_snapshot!(digest.subject, @"stalecreds: 2 new, 4 unused credentials in 2 of 3 accounts (1 account not scanned)");
    let text = &digest.text;
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} in:\n{text}"))
    };
    assert!(
        text.contains("Since the last complete scan (2026-11-27): 2 new, 2 ongoing, 2 resolved.")
    );
    assert!(
        text.contains("Nothing is marked resolved in the 2 accounts not scanned completely today.")
    );
    assert!(
        at("New since the last complete scan: 2") < at("Resolved since the last complete scan: 2")
    );
    assert!(at("Resolved since the last complete scan") < at("Still open: 2"));
    assert!(at("[critical] <root_account>") < at("Resolved since"));
    assert!(at("alice: access key AKIAALICE2") < at("Resolved since"));
    assert!(at("Still open") < at("bob: console password"));
    assert!(text.contains(
        "  - prod (111111111111): frank access key AKIAFRANK, first seen 2026-10-29: used again"
    ));
    assert!(text.contains("gina console password, first seen 2026-10-29: deleted by stalecreds"));
    insta::assert_snapshot!(text);
    let message: serde_json::Value = serde_json::from_str(&digest.message).expect("JSON");
    let part: serde_json::Value =
        serde_json::from_str(message["sqs"].as_str().expect("string")).expect("JSON");
    assert_eq!(part["changes"]["new"], 2);
    assert_eq!(part["findings"][0]["change"], "new");
    assert_eq!(part["resolved"][0]["reason"], "used_again");
    assert!(
        digest
            .attributes
            .iter()
            .any(|(name, _, value)| name == "new_findings" && value == "2")
    );
    assert!(digest.attributes.len() <= 10, "SNS takes ten attributes");
}

#[test]
fn a_first_run_says_plainly_that_everything_is_new() {
    use crate::report::changes::{BaselineSource, ChangesSummary};
    let mut report = small_organization();
    for finding in &mut report.findings {
        finding.change = Some(crate::changes::Change::New);
        finding.first_seen = Some(now());
    }
    let first = ChangesSummary {
        baseline: BaselineSource::State,
        since: None,
        new: 4,
        ongoing: 0,
        resolved: 0,
        accounts_compared: 0,
        accounts_first_seen: 2,
        accounts_unreadable: 0,
        accounts_not_resolving: 2,
    };
    report.changes = Some(first.clone());
    let text = render(&report, None).text;
    assert!(
        text.contains(
            "First run: no earlier complete scan to compare with, so all 4 findings are new."
        ),
        "{text}"
    );
    assert!(
        !text.contains("New since"),
        "no sections without an earlier scan"
    );
    report.changes = Some(ChangesSummary {
        baseline: BaselineSource::None,
        ..first
    });
    let text = render(&report, None).text;
    assert!(text.contains("No earlier run to compare with (no state is kept: --report-bucket, --state-dir or --since), so all 4 findings are new."), "{text}");
}

/// Issue 11, inside the size search: what is still open is cut first, then the resolved, then
/// the new findings.
#[test]
fn when_everything_does_not_fit_what_is_still_open_goes_first_then_the_resolved() {
    use crate::changes::{Change, Reason};
    use crate::report::changes::{BaselineSource, ChangesSummary, ResolvedFinding};
    let outcomes = many(250, 40);
    let mut report = build(facts(), outcomes);
    // One finding in a hundred is new (100); the rest (9,900) ongoing; 4,000 resolved.
    for (index, finding) in report.findings.iter_mut().enumerate() {
        let new = index % 100 == 0;
        finding.change = Some(if new { Change::New } else { Change::Ongoing });
        finding.first_seen = Some(if new { now() } else { days_ago(10) });
    }
    report.resolved = (0..4_000)
        .map(|n| ResolvedFinding {
            finding_id: format!("{n}"),
            account_id: format!("{:012}", 100_000_000_000u64 + n % 250),
            account_name: None,
            user_name: format!("gone-{n:04}"),
            user_arn: None,
            credential: CredentialKind::AccessKey,
            access_key_id: Some(format!("AKIAGONE{n:012}")),
            credential_id: Some(format!("AKIAGONE{n:012}")),
            first_seen: days_ago(40),
            reason: Reason::Deleted,
        })
        .collect();
    report.changes = Some(ChangesSummary {
        baseline: BaselineSource::State,
        since: Some(days_ago(1)),
        new: 100,
        ongoing: 9_900,
        resolved: 4_000,
        accounts_compared: 250,
        accounts_first_seen: 0,
        accounts_unreadable: 0,
        accounts_not_resolving: 0,
    });
    let digest = render(&report, Some("s3://reports/full.json"));
    assert!(
        digest.size() <= MAX_MESSAGE_BYTES,
        "{} bytes",
        digest.size()
    );
    assert_eq!(
        digest.findings_included, 100,
        "every new finding, no ongoing one"
    );
    let text = &digest.text;
    let resolved_lines = text.lines().filter(|line| line.contains(": gone-")).count();
    assert!(
        resolved_lines > 50 && resolved_lines < 4_000,
        "{resolved_lines} resolved lines"
    );
    assert!(text.contains(&format!("... and {} more resolved", 4_000 - resolved_lines)));
    assert!(text.contains("Still open: 9900 unused credentials"));
    assert!(text.contains("... and 9900 more findings left out"));
}
