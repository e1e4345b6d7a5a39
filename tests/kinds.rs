//! The long-lived credentials AWS records no use for, on the emulator's `kinds` organization:
//! SSH public keys, service-specific credentials (CodeCommit, Keyspaces, Bedrock and CloudWatch
//! Logs API keys) and signing certificates. Each is found by age, exempted, shown in every
//! output, deactivated by its own stage, journaled and undone; the fixture's answers for the
//! service-specific credentials moto lacks are checked against the API model.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::outputs::{digest_text, validate_ocsf};
use crate::support::{Moto, Run, emulator, emulator_script, finding, temp_dir};

/// Exemptions by name and by tag, owners by `team`.
const CONFIG: &str = "defaults:\n  ssh_key_max_age_days: 90\nexemptions:\n  user_names: [breakglass-*]\n  tags: {stalecreds:exempt: 'true'}\nowners:\n  tag_keys: [team]\n";

/// The configuration above, plus `extra`, written in `dir`.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, format!("{CONFIG}{extra}")).expect("writable");
    path
}

/// `stalecreds scan --format FORMAT --config CONFIG` and `extra`.
fn scan(moto: &Moto, format: &str, config: &Path, extra: &[&str]) -> Run {
    Run::of(
        moto.stalecreds()
            .args(["scan", "--format", format, "--config"])
            .arg(config)
            .args(extra),
    )
}

/// bea's Bedrock API key's finding: the report's only one.
fn bedrock_finding(report: &Value) -> &Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|item| item["credential"] == "bedrock_api_key")
        .expect("bea's Bedrock key")
}

/// `user rule` of each item of a report's list.
fn rules(report: &Value, list: &str) -> Vec<String> {
    let mut lines: Vec<String> = report[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            format!(
                "{} {} {}",
                item["user_name"].as_str().unwrap_or("?"),
                item["rule"].as_str().unwrap_or("?"),
                item["outcome"].as_str().unwrap_or("?")
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn every_long_lived_credential_is_judged_by_age_exempted_and_counted() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let dir = temp_dir();
    let config = config(dir.path(), "");
    let run = scan(&moto, "json", &config, &["--topic-arn", &moto.topic_arn]);
    assert_eq!(run.code, 1, "findings: {}", run.stderr);
    let report = run.json();
    assert_eq!(
        rules(&report, "findings"),
        [
            "bea bedrock-api-key-long-lived unused",
            "bea service-credential-old unused",
            "cid signing-certificate-old unused",
            "cora service-credential-old unused",
            "sam ssh-key-old unused",
        ]
    );
    assert_eq!(
        rules(&report, "information"),
        [
            "breakglass-ops ssh-key-old exempt",
            "cora service-credential-old inactive",
            "ed ssh-key-old inactive",
            "tess signing-certificate-old exempt",
        ],
        "young ones are in use; inactive and expired ones are information"
    );
    each_kind_is_counted_and_described(&report);
    let (subject, text) = digest_text(&moto, 0);
    assert!(subject.contains("5 unused credentials"), "{subject}");
    assert!(
        text.contains("1 long-lived Bedrock API key") && text.contains("never expires"),
        "{text}"
    );
    assert!(
        text.contains("SSH public key") && text.contains("no use recorded by AWS"),
        "{text}"
    );
}

/// The summary counts each kind; a Bedrock key's service and expiry, a certificate's ID
/// (looked up: the credential report has none) and an owner are in the report.
fn each_kind_is_counted_and_described(report: &Value) {
    let summary = &report["summary"];
    let counts = [
        "old_ssh_keys",
        "old_service_credentials",
        "long_lived_bedrock_api_keys",
        "old_signing_certificates",
    ]
    .map(|field| summary[field].as_u64().unwrap_or(99));
    assert_eq!(counts, [1, 2, 1, 1], "{summary}");
    let bedrock = bedrock_finding(report);
    assert_eq!(bedrock["severity"], "high");
    assert_eq!(bedrock["service"], "bedrock.amazonaws.com");
    assert_eq!(
        bedrock["expires"],
        Value::Null,
        "it never expires: {bedrock}"
    );
    assert_eq!(bedrock["idle_days"], 10);
    let certificate = finding(report, "cid");
    assert!(
        certificate["credential_id"].is_string(),
        "the report's certificate was paired with its ID: {certificate}"
    );
    assert_eq!(certificate["access_key_id"], Value::Null);
    assert_eq!(
        certificate["cis"],
        serde_json::json!([]),
        "no CIS recommendation covers certificates"
    );
    assert_eq!(finding(report, "sam")["owner"]["value"], "platform");
}

#[test]
fn the_other_outputs_show_every_kind() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let dir = temp_dir();
    let config = config(dir.path(), "");
    let csv = scan(&moto, "csv", &config, &[]).stdout;
    assert!(
        csv.lines()
            .next()
            .is_some_and(|header| header.contains(",credential_id,service,expires,")),
        "{csv}"
    );
    for kind in [
        "ssh_key",
        "service_credential",
        "bedrock_api_key",
        "signing_certificate",
    ] {
        assert!(csv.contains(&format!(",{kind},")), "{kind} in the CSV");
    }
    let table = scan(&moto, "table", &config, &[]).stdout;
    assert!(
        table.contains("bedrock_api_key") && table.contains("not recorded"),
        "{table}"
    );
    ocsf_and_asff_show_every_kind(&moto, &config);
    let page = dir.path().join("page.html");
    scan(
        &moto,
        "json",
        &config,
        &["--html", page.to_str().expect("utf-8")],
    );
    let html = std::fs::read_to_string(&page).expect("the page");
    for words in [
        "SSH public key",
        "service-specific credential",
        "Bedrock API key",
        "signing certificate",
    ] {
        assert!(html.contains(words), "{words} on the page");
    }
}

/// OCSF (valid against its schema) and ASFF name each kind.
fn ocsf_and_asff_show_every_kind(moto: &Moto, config: &Path) {
    let ocsf = scan(moto, "ocsf", config, &[]).stdout;
    let (events, errors) = validate_ocsf(&ocsf);
    assert!(
        events >= 5 && errors.is_empty(),
        "{events} events: {errors:#?}"
    );
    for kind in [
        "AwsIamSshPublicKey",
        "AwsIamServiceSpecificCredential",
        "AwsBedrockApiKey",
        "AwsIamSigningCertificate",
    ] {
        assert!(ocsf.contains(kind), "{kind} in OCSF");
    }
    let asff: Value = serde_json::from_str(&scan(moto, "asff", config, &[]).stdout).expect("ASFF");
    let titles: BTreeSet<&str> = asff
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|finding| finding["Title"].as_str())
        .map(|title| title.split(':').next().unwrap_or(title))
        .collect();
    for title in [
        "Old IAM SSH public key",
        "Old IAM service-specific credential",
        "Long-lived Amazon Bedrock API key",
        "Old IAM signing certificate",
    ] {
        assert!(titles.contains(title), "{title} in {titles:?}");
    }
}

/// `user kind ID status` of the kinds the fixture keeps, for the `tools` account.
fn statuses(moto: &Moto) -> BTreeSet<String> {
    let state = moto.iam_state();
    let tools = &state[moto.account("tools")];
    let mut lines = BTreeSet::new();
    for (user, held) in tools.as_object().expect("users") {
        for kind in ["ssh", "certs", "services"] {
            for item in held[kind].as_array().into_iter().flatten() {
                let (id, status) = (
                    item[0].as_str().unwrap_or("?"),
                    item[1].as_str().unwrap_or("?"),
                );
                lines.insert(format!("{user} {kind} {id} {status}"));
            }
        }
    }
    lines
}

/// `stalecreds undo` reactivates the `count` credentials the journal says were deactivated.
fn undo_reactivates(moto: &Moto, journal: &Path, config: &Path, count: usize) {
    let undone = Run::of(
        moto.stalecreds()
            .arg("undo")
            .arg(journal)
            .arg("--config")
            .arg(config),
    );
    assert_eq!(undone.code, 0, "{}", undone.stderr);
    assert_eq!(
        undone.stdout.matches("-> reactivated").count(),
        count,
        "{}",
        undone.stdout
    );
}

/// `user action` of each finding whose remediation was applied.
fn applied(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|item| item["remediation"]["state"] == "applied")
        .map(|item| {
            format!(
                "{} {}",
                item["user_name"].as_str().unwrap_or("?"),
                item["remediation"]["action"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// A run whose old-credentials stage is `days`, applied and journaled in `dir`: the run, its
/// configuration and its journal.
fn apply_stage(moto: &Moto, dir: &Path, days: u32) -> (Run, PathBuf, PathBuf) {
    let config = config(
        dir,
        &format!(
            "remediation:\n  role_name: stalecreds-remediate\n  deactivate_old_credentials_after_days: {days}\n"
        ),
    );
    let journal = dir.join("journal.jsonl");
    let journal_arg = journal.to_str().expect("utf-8");
    let run = scan(
        moto,
        "json",
        &config,
        &["--apply", "--journal", journal_arg],
    );
    (run, config, journal)
}

#[test]
fn old_credentials_are_deactivated_by_their_stage_journaled_and_undone() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let dir = temp_dir();
    let before = statuses(&moto);
    let (run, config, journal) = apply_stage(&moto, dir.path(), 90);
    let report = run.json();
    let applied = applied(&report);
    assert_eq!(
        applied,
        [
            "bea deactivate_service_credential",
            "cid deactivate_signing_certificate",
            "cora deactivate_service_credential",
            "sam deactivate_ssh_key",
        ],
        "bea's Bedrock key is ten days old: below the stage's 90; {}",
        run.stderr
    );
    let after = statuses(&moto);
    let changed: Vec<&String> = after.difference(&before).collect();
    assert_eq!(
        changed.len(),
        4,
        "sam's SSH key, cid's certificate, bea's Logs key and cora's CodeCommit one inactive: {after:?}"
    );
    assert!(
        changed.iter().all(|line| line.ends_with(" Inactive")),
        "{changed:?}"
    );
    let entries = crate::support::read_lines(&journal);
    assert_eq!(
        entries.len(),
        8,
        "an intent and an outcome per change: {entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|entry| entry["credential"] == "signing_certificate"
                && entry["action"] == "deactivate_signing_certificate")
    );
    undo_reactivates(&moto, &journal, &config, 4);
    assert_eq!(statuses(&moto), before, "undo restores every status");
}

/// A Bedrock API key is a finding for its lifetime while still young: a stage below its age
/// deactivates it (UpdateServiceSpecificCredential), and undo reactivates it.
#[test]
fn a_bedrock_key_that_never_expires_is_deactivated_by_a_low_stage_and_undone() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let dir = temp_dir();
    let before = statuses(&moto);
    let (run, config, journal) = apply_stage(&moto, dir.path(), 7);
    let report = run.json();
    let bedrock = bedrock_finding(&report);
    assert_eq!(
        bedrock["remediation"]["state"], "applied",
        "{bedrock}\n{}",
        run.stderr
    );
    assert_eq!(
        bedrock["remediation"]["action"],
        "deactivate_service_credential"
    );
    let key_id = bedrock["credential_id"].as_str().expect("its ID");
    let after = statuses(&moto);
    assert!(
        after.contains(&format!("bea services {key_id} Inactive")),
        "{after:?}"
    );
    // sam's old SSH key, cora's CodeCommit credential, bea's two keys, cid's old certificate.
    assert_eq!(applied(&report).len(), 5, "{:?}", applied(&report));
    undo_reactivates(&moto, &journal, &config, 5);
    assert_eq!(statuses(&moto), before, "undo restores every status");
}

#[test]
fn api_mode_finds_the_same_credentials() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let dir = temp_dir();
    let config = config(dir.path(), "");
    let report = scan(&moto, "json", &config, &["--mode", "api"]).json();
    assert_eq!(
        rules(&report, "findings"),
        [
            "bea bedrock-api-key-long-lived unused",
            "bea service-credential-old unused",
            "cid signing-certificate-old unused",
            "cora service-credential-old unused",
            "sam ssh-key-old unused",
        ]
    );
}

/// What the kinds cost: one ListSSHPublicKeys per user, one ListServiceSpecificCredentials per
/// account, one ListSigningCertificates per user with a certificate finding (report mode); none
/// of them when their rules are off.
#[test]
fn each_kind_is_read_only_when_its_rule_is_on() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let dir = temp_dir();
    let config = config(dir.path(), "");
    scan(&moto, "json", &config, &[]);
    let on = [
        "ListSSHPublicKeys",
        "ListServiceSpecificCredentials",
        "ListSigningCertificates",
    ]
    .map(|action| moto.calls(action));
    assert_eq!(
        on,
        [7, 2, 2],
        "7 users; 2 accounts; cid's and tess's certificates"
    );
    moto.reset_requests();
    moto.expire_reports();
    let off = [
        "--ssh-key-max-age-days",
        "0",
        "--service-credential-max-age-days",
        "0",
        "--bedrock-api-key-max-age-days",
        "0",
        "--signing-certificate-max-age-days",
        "0",
    ];
    let report = scan(&moto, "json", &config, &off).json();
    assert_eq!(report["summary"]["findings"], 0);
    let none = [
        "ListSSHPublicKeys",
        "ListServiceSpecificCredentials",
        "ListSigningCertificates",
    ]
    .map(|action| moto.calls(action));
    assert_eq!(none, [0, 0, 0]);
}

#[test]
fn the_fixture_answers_service_credentials_as_the_iam_model_says() {
    let Some(moto) = emulator(&["--scenario", "kinds"]) else {
        return;
    };
    let output = emulator_script("service_credentials_check.py")
        .args([moto.endpoint.as_str(), moto.account("tools")])
        .output()
        .expect("the check runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(seen["pages"], 4, "one credential a page, as asked: {seen}");
    let all = seen["all"].as_array().expect("credentials");
    assert_eq!(all.len(), 4);
    for credential in all {
        for member in [
            "UserName",
            "Status",
            "CreateDate",
            "ServiceSpecificCredentialId",
            "ServiceName",
        ] {
            assert!(credential.get(member).is_some(), "{member} in {credential}");
        }
    }
    let bedrock = all
        .iter()
        .find(|c| c["ServiceName"] == "bedrock.amazonaws.com")
        .expect("Bedrock");
    assert!(
        bedrock.get("ServiceCredentialAlias").is_some() && bedrock.get("ExpirationDate").is_none(),
        "{bedrock}"
    );
    let logs = all
        .iter()
        .find(|c| c["ServiceName"] == "logs.amazonaws.com")
        .expect("Logs");
    assert!(logs.get("ExpirationDate").is_some(), "{logs}");
    assert_eq!(seen["cora"], 2);
    assert_eq!(seen["bedrock"], 1);
    assert_eq!(seen["all_users_and_a_user"], "ValidationError");
    assert_eq!(seen["unknown_user"], "NoSuchEntity");
    assert_eq!(seen["bad_status"], "ValidationError");
}
