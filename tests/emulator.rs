//! End-to-end tests: the `stalecreds` binary against a seeded moto organization.
//!
//! They check the wiring (accounts, roles, both scan modes, partial failures, exit status) on
//! the demo organization of `tests/emulator/moto_fixture.py`. moto must be installed
//! (`scripts/setup`); these tests fail loudly without it.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Moto, Run, demo, emulator, read_json, temp_dir};
use serde_json::{Value, json};

/// Each finding as `account/user credential key-index idle-days`, with the key as the index of
/// its creation in the fixture (so that the right key is checked, not just some key).
fn findings(moto: &Moto, report: &Value, list: &str) -> Vec<String> {
    let names: BTreeMap<&str, &str> = moto
        .accounts
        .iter()
        .map(|(name, id)| (id.as_str(), name.as_str()))
        .collect();
    let mut lines: Vec<String> = report[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|finding| {
            let account = names[finding["account_id"].as_str().expect("account")];
            let user = finding["user_name"].as_str().expect("user");
            let key = match finding["access_key_id"].as_str() {
                Some(id) => {
                    let index = moto.keys[&format!("{account}/{user}")]
                        .iter()
                        .position(|known| known == id)
                        .expect("a seeded key");
                    format!(" key{}", index + 1)
                }
                None => String::new(),
            };
            format!(
                "{account}/{user} {}{key} {}",
                finding["credential"].as_str().expect("credential"),
                finding["idle_days"]
            )
        })
        .collect();
    lines.sort();
    lines
}

fn account<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|account| account["account_id"] == id)
        .unwrap_or_else(|| panic!("account {id} not in the report"))
}

const DEMO_FINDINGS: [&str; 7] = [
    "dev/hank access_key key1 60",
    // Both of judy's keys were created in the same second: the unused one is still named.
    "dev/judy access_key key2 200",
    "management/old-admin password 200",
    // Two keys of different ages: only the never-used second key is a finding.
    "prod/alice access_key key2 100",
    "prod/bob password 90",
    "prod/breakglass-admin password 300",
    // 45 days and two hours idle: a finding; erin, at 44 days and 22 hours, is not.
    "prod/carol access_key key1 45",
];

#[test]
fn report_mode_finds_exactly_the_seeded_unused_credentials() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let output = dir.path().join("report.json");
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--output"])
            .arg(&output),
    );

    // The sandbox account has no audit role: the run is incomplete.
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report, read_json(&output), "--output holds the same report");
    assert_eq!(report["schema_version"], 4);
    assert_eq!(report["max_idle_days"], 45);
    assert_eq!(report["mode"], "report");
    assert_eq!(findings(&moto, &report, "findings"), DEMO_FINDINGS);
    assert_eq!(
        findings(&moto, &report, "information"),
        ["prod/dave access_key 500"]
    );

    let sandbox = account(&report, moto.account("sandbox"));
    assert_eq!(sandbox["status"], "failed");
    assert_eq!(sandbox["error"]["operation"], "AssumeRole");
    assert_eq!(sandbox["error"]["code"], "AccessDenied");
    let closed = account(&report, moto.account("closed"));
    assert_eq!(
        (&closed["status"], &closed["state"]),
        (&Value::from("skipped"), &Value::from("SUSPENDED"))
    );
    let prod = account(&report, moto.account("prod"));
    assert_eq!(prod["status"], "scanned");
    assert_eq!(prod["name"], "prod");
    assert!(prod["credential_report_generated_at"].is_string());

    let summary = &report["summary"];
    assert_eq!(
        (
            &summary["accounts"],
            &summary["accounts_scanned"],
            &summary["accounts_failed"],
            &summary["accounts_skipped"],
            &summary["findings"],
        ),
        (
            &Value::from(5),
            &Value::from(3),
            &Value::from(1),
            &Value::from(1),
            &Value::from(7)
        )
    );
}

#[test]
fn api_mode_gives_the_same_findings_as_report_mode() {
    let Some(moto) = demo() else { return };
    let report_mode = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--mode", "report"]),
    )
    .json();
    let api_mode = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--mode", "api"]),
    )
    .json();
    assert_eq!(findings(&moto, &api_mode, "findings"), DEMO_FINDINGS);
    // Field by field, not just the summary line: dates, status and key IDs agree.
    let comparable = |report: &Value| -> Vec<Value> {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|finding| {
                let mut finding = finding.clone();
                // GetAccessKeyLastUsed names the service; the moto report writes `not_supported`.
                finding["last_used_service"] = Value::Null;
                // Two runs, two first sightings (each run has its own `now`).
                finding["first_seen"] = Value::Null;
                finding
            })
            .collect()
    };
    assert_eq!(comparable(&report_mode), comparable(&api_mode));
}

#[test]
fn the_account_flag_scans_only_those_accounts_without_organizations() {
    let Some(moto) = demo() else { return };
    let prod = moto.account("prod");
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--account", prod]),
    );
    assert_eq!(run.code, 1, "findings and nothing else: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["accounts"].as_array().expect("accounts").len(), 1);
    assert_eq!(account(&report, prod)["status"], "scanned");
    let requests = moto.requests();
    assert!(
        requests
            .iter()
            .all(|(_, service, _, _)| service != "organizations"),
        "no Organizations call: {requests:?}"
    );
    let assumed: Vec<_> = requests
        .iter()
        .filter(|(_, _, action, _)| action == "AssumeRole")
        .collect();
    assert_eq!(assumed.len(), 1, "{requests:?}");
    assert_eq!(assumed[0].0, prod);

    // The caller's own account is scanned with the caller's own credentials: no AssumeRole.
    moto.reset_requests();
    let management = moto.account("management");
    let run =
        Run::of(
            moto.stalecreds()
                .args(["scan", "--format", "json", "--account", management]),
        );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        moto.requests()
            .iter()
            .all(|(_, _, action, _)| action != "AssumeRole")
    );
}

#[test]
fn exit_status_is_zero_when_clean_and_report_mode_stays_within_five_requests() {
    let Some(moto) = demo() else { return };
    let dev = moto.account("dev");
    let run =
        Run::of(
            moto.stalecreds()
                .args(["scan", "--account", dev, "--max-idle-days", "36500"]),
        );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("0 unused credentials in 0 of 1 account scanned"),
        "{}",
        run.stdout
    );
    // AssumeRole + GenerateCredentialReport (STARTED, then COMPLETE) + GetCredentialReport +
    // ListServiceSpecificCredentials (every user's, in one request).
    let to_dev: u64 = moto
        .requests()
        .iter()
        .filter(|(account, _, _, _)| account == dev)
        .map(|(_, _, _, count)| count)
        .sum();
    assert!(to_dev <= 5, "{to_dev} requests: {:?}", moto.requests());
}

#[test]
fn usage_errors_exit_2_before_any_aws_request() {
    let Some(moto) = emulator(&["--scenario", "empty"]) else {
        return;
    };
    let cases: [&[&str]; 6] = [
        &["scan", "--account", "12345"],
        &[
            "scan",
            "--account",
            "123456789012",
            "--account",
            "123456789012",
        ],
        &["scan", "--max-idle-days", "0"],
        &["scan", "--role-name", "not a role"],
        &[
            "scan",
            "--topic-arn",
            "arn:aws:sqs:us-east-1:123456789012:queue",
        ],
        &["scan", "--mode", "guess"],
    ];
    for args in cases {
        let run = Run::of(moto.stalecreds().args(args));
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(!run.stderr.trim().is_empty(), "{args:?} explains itself");
    }
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--account", "12345", "--account", "x"]),
    );
    let located = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("flag --account: "))
        .count();
    assert_eq!(located, 2, "every problem at once: {}", run.stderr);
    assert_eq!(moto.requests(), [], "no AWS request was made");
}

#[test]
fn the_external_id_reaches_assume_role() {
    let Some(moto) = emulator(&["--scenario", "demo", "--external-id", "ext-20261128"]) else {
        return;
    };
    let prod = moto.account("prod");
    let without = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--account", prod]),
    );
    assert_eq!(without.code, 3);
    assert_eq!(
        account(&without.json(), prod)["error"]["code"],
        "AccessDenied"
    );
    let with = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--account", prod])
            .env("STALECREDS_EXTERNAL_ID", "ext-20261128"),
    );
    assert_eq!(with.code, 1, "{}", with.stderr);
    assert!(
        !with.stdout.contains("ext-20261128"),
        "the external ID is never printed"
    );
}

#[test]
fn throttling_does_not_change_the_findings() {
    let Some(moto) = demo() else { return };
    moto.configure(0, 0.2);
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--mode", "api"]),
    );
    let report = run.json();
    assert_eq!(findings(&moto, &report, "findings"), DEMO_FINDINGS);
    assert_eq!(report["summary"]["accounts_incomplete"], 0);
    let throttled_attempts: u64 = report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| account["aws_requests"].as_u64().unwrap_or_default())
        .sum();
    moto.configure(0, 0.0);
    let calm = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--mode", "api"]),
    )
    .json();
    let calm_attempts: u64 = calm["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| account["aws_requests"].as_u64().unwrap_or_default())
        .sum();
    assert!(
        throttled_attempts > calm_attempts,
        "throttled requests were retried"
    );
}

#[test]
fn table_and_csv_are_written_for_people_and_spreadsheets() {
    let Some(moto) = demo() else { return };
    let prod = moto.account("prod");
    let table = Run::of(moto.stalecreds().args(["scan", "--account", prod]));
    assert!(
        table
            .stdout
            .starts_with("stalecreds: 4 unused credentials in 1 of 1 account scanned")
    );
    assert!(
        table
            .stdout
            .contains(&format!("Account {prod}: scanned: 6 users, 4 findings"))
    );
    assert!(table.stdout.contains(moto.key("prod/alice", 1)));
    let csv = Run::of(
        moto.stalecreds()
            .args(["scan", "--account", prod, "--format", "csv"]),
    );
    let mut lines = csv.stdout.lines();
    assert!(
        lines
            .next()
            .expect("a header")
            .starts_with("account_id,account_name,user_name")
    );
    assert_eq!(
        lines.count(),
        5,
        "4 findings and 1 inactive key: {}",
        csv.stdout
    );
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writable");
    path
}

#[test]
fn the_shipped_accounts_yaml_drives_a_scan_with_its_exemptions() {
    let Some(moto) = demo() else { return };
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/accounts.yaml");
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--config", shipped]),
    );
    assert_eq!(run.code, 3, "the sandbox has no audit role: {}", run.stderr);
    let report = run.json();
    // breakglass-* by name, hank by his stalecreds:exempt=true tag: reported, never counted.
    let expected: Vec<&str> = DEMO_FINDINGS
        .iter()
        .copied()
        .filter(|line| !line.starts_with("prod/breakglass-admin") && !line.starts_with("dev/hank"))
        .collect();
    assert_eq!(findings(&moto, &report, "findings"), expected);
    let exempt: Vec<(String, String)> = report["information"]
        .as_array()
        .expect("information")
        .iter()
        .filter(|item| item["outcome"] == "exempt")
        .map(|item| {
            (
                item["user_name"].as_str().unwrap_or_default().to_owned(),
                item["exempt_reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let mut exempt = exempt;
    exempt.sort();
    assert_eq!(
        exempt,
        [
            (
                "breakglass-admin".to_owned(),
                "user name matches `breakglass-*`".to_owned()
            ),
            (
                "hank".to_owned(),
                "tagged `stalecreds:exempt=true`".to_owned()
            ),
        ]
    );
    assert_eq!(report["summary"]["exempt"], 2);
}

/// An AWS config file with a `scanner` profile (the emulator's credentials), written in `dir`.
fn scanner_profile(dir: &tempfile::TempDir) -> std::path::PathBuf {
    write(
        dir,
        "aws-config",
        "[profile scanner]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = us-east-1\n",
    )
}

#[test]
fn a_c7n_org_accounts_file_drives_a_scan_with_roles_chains_and_profiles() {
    let Some(moto) = demo() else { return };
    let (prod, dev, management) = (
        moto.account("prod"),
        moto.account("dev"),
        moto.account("management"),
    );
    let dir = temp_dir();
    let accounts = write(
        &dir,
        "c7n-accounts.yml",
        &format!(
            "accounts:\n\
             - account_id: '{prod}'\n  name: production\n  regions: [us-east-1]\n  tags: [type:prod]\n  \
               role: arn:aws:iam::{prod}:role/stalecreds-audit\n  vars: {{charge_code: xyz}}\n\
             - account_id: '{dev}'\n  name: development\n  role:\n  \
               - arn:aws:iam::{dev}:role/OrganizationAccountAccessRole\n  \
               - arn:aws:iam::{dev}:role/stalecreds-audit\n\
             - account_id: '{management}'\n  name: management\n  profile: scanner\n"
        ),
    );
    let aws_config = scanner_profile(&dir);
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--config"])
            .arg(&accounts)
            .env("AWS_CONFIG_FILE", &aws_config),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let names: Vec<&str> = report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| account["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(
        names.contains(&"production")
            && names.contains(&"development")
            && names.contains(&"management")
    );
    assert_eq!(report["summary"]["findings"], 7, "{}", report["summary"]);
    let requests = moto.requests();
    assert!(
        requests
            .iter()
            .all(|(_, service, _, _)| service != "organizations")
    );
    let assumed: u64 = moto.calls("AssumeRole");
    assert_eq!(
        assumed, 3,
        "prod once, dev twice (a chain), management never (its profile): {requests:?}"
    );
}

#[test]
fn ou_include_and_account_exclude_select_exactly_the_expected_accounts() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let scanned = |config: &str| -> (Vec<String>, Vec<String>, u64) {
        moto.reset_requests();
        let path = write(&dir, "accounts.yaml", config);
        let run = Run::of(
            moto.stalecreds()
                .args(["scan", "--format", "json", "--config"])
                .arg(&path),
        );
        assert!(run.code == 1 || run.code == 0, "{}", run.stderr);
        let report = run.json();
        let with = |status: &str| -> Vec<String> {
            let names: BTreeMap<&str, &str> = moto
                .accounts
                .iter()
                .map(|(n, id)| (id.as_str(), n.as_str()))
                .collect();
            let mut found: Vec<String> = report["accounts"]
                .as_array()
                .expect("accounts")
                .iter()
                .filter(|account| account["status"] == status)
                .map(|account| names[account["account_id"].as_str().expect("id")].to_owned())
                .collect();
            found.sort();
            found
        };
        let organizations: u64 = moto
            .requests()
            .iter()
            .filter(|(_, service, _, _)| service == "organizations")
            .map(|(_, _, _, count)| count)
            .sum();
        (with("scanned"), with("skipped"), organizations)
    };

    // `workloads` holds dev, and `production` (nested) holds prod.
    let workloads = moto.ou("workloads");
    let (included, skipped, requests) =
        scanned(&format!("organization:\n  include_ous: [{workloads}]\n"));
    assert_eq!(
        (included, skipped),
        (vec!["dev".to_owned(), "prod".to_owned()], vec![])
    );
    assert_eq!(
        requests, 4,
        "two OUs, each ListAccountsForParent + ListOrganizationalUnitsForParent"
    );

    let dev = moto.account("dev");
    let (included, skipped, _) = scanned(&format!(
        "organization:\n  include_ous: [{workloads}, {}]\n  exclude_accounts: ['{dev}']\n",
        moto.ou("production")
    ));
    assert_eq!(
        (included, skipped),
        (vec!["prod".to_owned()], vec!["dev".to_owned()])
    );
}

#[test]
fn a_bad_configuration_file_exits_2_with_located_problems_and_no_request() {
    let Some(moto) = emulator(&["--scenario", "empty"]) else {
        return;
    };
    let dir = temp_dir();
    let path = write(
        &dir,
        "accounts.yaml",
        "defaults:\n  max_idle_days: 0\n  colour: blue\norganization:\n  enabled: yes\n",
    );
    let run = Run::of(moto.stalecreds().args(["scan", "--config"]).arg(&path));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let located: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("accounts.yaml:"))
        .collect();
    assert_eq!(located.len(), 3, "{}", run.stderr);
    assert!(located[0].contains("accounts.yaml:2:18:"), "{}", located[0]);
    assert_eq!(moto.requests(), [], "no AWS request was made");
}

#[test]
fn one_run_publishes_exactly_one_digest_with_every_finding() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let output = dir.path().join("report.json");
    let run = Run::of(
        moto.stalecreds()
            .args([
                "scan",
                "--format",
                "json",
                "--topic-arn",
                &moto.topic_arn,
                "--output",
            ])
            .arg(&output),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = run.json();
    let published = moto.published();
    assert_eq!(published.len(), 1, "one run, one message");
    let (subject, message) = &published[0];
    assert_eq!(
        subject,
        "stalecreds: 7 unused credentials in 3 of 3 accounts (1 account not scanned)"
    );
    let message: Value = serde_json::from_str(message).expect("MessageStructure json");
    let text = message["email"].as_str().expect("email text");
    assert_eq!(message["default"], text);
    assert!(text.contains(&format!("Full report: {}", output.display())));
    let machine: Value =
        serde_json::from_str(message["sqs"].as_str().expect("sqs part")).expect("JSON");
    assert_eq!(machine["summary"], report["summary"]);
    assert_eq!(machine["findings"].as_array().expect("findings").len(), 7);
    for finding in report["findings"].as_array().expect("findings") {
        let user = finding["user_name"].as_str().expect("user");
        assert!(
            text.contains(&format!("] {user}: ")),
            "{user} is in the text"
        );
        if let Some(key) = finding["access_key_id"].as_str() {
            assert!(text.contains(key), "{key} is in the text");
        }
        assert!(
            machine["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .any(|item| item["user_name"] == finding["user_name"]
                    && item["access_key_id"] == finding["access_key_id"]
                    && item["idle_days"] == finding["idle_days"]),
            "{user} is in the JSON part"
        );
    }
    assert!(
        text.contains(&format!("sandbox ({})", moto.account("sandbox"))),
        "the failed account is listed"
    );
}

#[test]
fn a_clean_run_publishes_nothing_by_default_and_always_when_asked() {
    let Some(moto) = demo() else { return };
    let dev = moto.account("dev");
    let clean = [
        "scan",
        "--account",
        dev,
        "--max-idle-days",
        "36500",
        "--topic-arn",
        &moto.topic_arn,
    ];
    let run = Run::of(moto.stalecreds().args(clean));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(moto.published().len(), 0, "nothing to say, nothing sent");
    let run = Run::of(moto.stalecreds().args(clean).args(["--notify", "always"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let published = moto.published();
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].0,
        "stalecreds: no unused credentials in 1 account"
    );
}

#[test]
fn a_digest_that_cannot_be_published_keeps_the_report_and_exits_3() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let output = dir.path().join("report.json");
    let prod = moto.account("prod");
    let missing_topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let run = Run::of(
        moto.stalecreds()
            .args([
                "scan",
                "--account",
                prod,
                "--topic-arn",
                missing_topic,
                "--output",
            ])
            .arg(&output),
    );
    assert_eq!(
        run.code, 3,
        "findings, but the run is incomplete: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the digest could not be published: Publish: NotFound"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read_json(&output)["summary"]["findings"],
        4,
        "the report is still written"
    );
    assert!(
        !run.stderr.contains("testing"),
        "no credential in the output"
    );
}

#[test]
fn the_cli_stores_the_report_in_s3_and_the_digest_points_there() {
    let Some(moto) = demo() else { return };
    let prod = moto.account("prod");
    let run = Run::of(moto.stalecreds().args([
        "scan",
        "--account",
        prod,
        "--topic-arn",
        &moto.topic_arn,
        "--report-bucket",
        &moto.report_bucket,
        "--report-prefix",
        "security",
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut objects = moto.s3_objects();
    // The account's state, kept for the next run (what changed since): under the prefix too.
    let state = objects
        .remove(&format!("security/stalecreds/state/{prod}.json"))
        .expect("the account's state");
    assert!(state.contains("\"baseline\""), "{state}");
    // The HTML page beside the report.
    let (page_key, page) = objects
        .iter()
        .find(|(key, _)| key.ends_with("/report.html"))
        .map(|(key, page)| (key.clone(), page.clone()))
        .expect("the report's page");
    objects.remove(&page_key);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<h2 id=\"all\">All findings: 4</h2>"));
    assert_eq!(objects.len(), 1, "{objects:?}");
    let (key, body) = objects.iter().next().expect("one object");
    assert_eq!(
        page_key,
        key.replace("/report.json", "/report.html"),
        "the page is beside the report"
    );
    assert!(
        key.starts_with("security/stalecreds/") && key.ends_with("/report.json"),
        "{key}"
    );
    let stored: Value = serde_json::from_str(body).expect("a JSON report");
    assert_eq!(stored["summary"]["findings"], 4);
    let location = format!("s3://{}/{key}", moto.report_bucket);
    assert!(
        run.stderr.contains(&format!("report stored at {location}")),
        "{}",
        run.stderr
    );
    let message: Value = serde_json::from_str(&moto.published()[0].1).expect("JSON message");
    assert!(
        message["email"]
            .as_str()
            .expect("text")
            .contains(&format!("Full report: {location}"))
    );
}

/// Issue 9: report-mode findings were as old as the credential report (up to four hours): a key
/// used since was still reported unused, and a user deleted since made the account incomplete.
/// Issue 16: IAM hands back the same report for four hours; one older than
/// `confirm_after_minutes` is confirmed live.
#[test]
fn findings_are_confirmed_live_so_a_stale_credential_report_cannot_make_them_false() {
    let Some(moto) = demo() else { return };
    // The first scan has each account generate the report that later scans are served.
    let first = Run::of(moto.stalecreds().args(["scan", "--format", "json"]));
    assert_eq!(findings(&moto, &first.json(), "findings"), DEMO_FINDINGS);
    // Then, behind the report's back: alice uses her second key, bob signs in, carol is deleted;
    // an hour later the next run is handed the same report.
    moto.touch("prod", "alice", Some(moto.key("prod/alice", 1)));
    moto.touch("prod", "bob", None);
    moto.delete_user("prod", "carol");
    moto.age_reports(3600);

    let second = Run::of(moto.stalecreds().args(["scan", "--format", "json"]));
    let report = second.json();
    let expected: Vec<&str> = DEMO_FINDINGS
        .iter()
        .copied()
        .filter(|line| {
            !["prod/alice", "prod/bob ", "prod/carol"]
                .iter()
                .any(|user| line.starts_with(user))
        })
        .collect();
    assert_eq!(findings(&moto, &report, "findings"), expected);
    let prod = account(&report, moto.account("prod"));
    assert_eq!(
        prod["user_errors"],
        json!([]),
        "a user deleted since the report is gone, not an error"
    );
    assert!(prod["findings_confirmed_at"].is_string(), "{prod}");
    assert!(prod["credential_report_generated_at"].is_string(), "{prod}");
    assert_eq!(prod["confirmation"], "live", "{prod}");
    assert_eq!(
        report["summary"]["accounts_incomplete"], 0,
        "{}",
        report["summary"]
    );
}

/// Issue 9: a `profile:` entry whose credentials act in another account was scanned, and that
/// account's credentials reported under the configured ID.
#[test]
fn a_profile_that_acts_in_another_account_fails_that_account_and_reports_nothing_of_it() {
    let Some(moto) = demo() else { return };
    let (prod, dev, management) = (
        moto.account("prod"),
        moto.account("dev"),
        moto.account("management"),
    );
    let dir = temp_dir();
    let accounts = write(
        &dir,
        "accounts.yml",
        &format!(
            "accounts:\n\
             - account_id: '{prod}'\n  name: production\n  profile: scanner\n\
             - account_id: '{dev}'\n  name: development\n"
        ),
    );
    // The profile's keys are the management account's: it does not act in prod.
    let aws_config = scanner_profile(&dir);
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--config"])
            .arg(&accounts)
            .env("AWS_CONFIG_FILE", &aws_config),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = run.json();
    let production = account(&report, prod);
    assert_eq!(production["status"], "failed");
    assert_eq!(production["error"]["code"], "WrongAccount");
    let message = production["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains(management) && message.contains(prod),
        "{message}"
    );
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|finding| finding["account_id"] != prod),
        "nothing is reported under prod's ID"
    );
    assert_eq!(account(&report, dev)["status"], "scanned");
}

/// Account ID → (status, error code): what a run says of each account.
fn statuses(report: &Value) -> BTreeMap<String, (String, String)> {
    report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| {
            let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
            (
                text(&account["account_id"]),
                (text(&account["status"]), text(&account["error"]["code"])),
            )
        })
        .collect()
}

/// Issue 9: under server errors (500, 503), dropped connections and answers slower than the
/// attempt timeout, on every service, a scan gives the findings and account statuses of a clean
/// run, and publishes exactly one digest.
#[test]
fn under_injected_faults_a_scan_gives_the_clean_runs_findings_and_one_digest() {
    let Some(moto) = demo() else { return };
    let scan = |moto: &Moto| {
        Run::of(moto.stalecreds().args([
            "scan",
            "--format",
            "json",
            "--attempt-timeout",
            "1",
            "--call-timeout",
            "60",
            "--topic-arn",
            &moto.topic_arn,
        ]))
    };
    let clean = scan(&moto).json();
    assert_eq!(moto.published().len(), 1);
    moto.configure_json(&json!({
        "faults": { "rate": 0.12, "slow_ms": 2500, "seed": 4 },
    }));
    let run = scan(&moto);
    let faulty = run.json();
    assert_eq!(
        findings(&moto, &faulty, "findings"),
        findings(&moto, &clean, "findings"),
        "{}",
        run.stderr
    );
    assert_eq!(
        findings(&moto, &faulty, "information"),
        findings(&moto, &clean, "information")
    );
    assert_eq!(statuses(&faulty), statuses(&clean));
    assert_eq!(moto.published().len(), 2, "one digest per run");
    let faults = moto.faults();
    for kind in ["500", "503", "drop", "slow"] {
        assert!(
            faults.iter().any(|(_, _, injected, _)| injected == kind),
            "{kind} was injected: {faults:?}"
        );
    }
}

/// Issue 16: moto stamped every credential report 2015, so every report looked years old and
/// every finding was confirmed live (23 requests a member on the 10-user benchmark). A report
/// generated for the run (AWS stamps it seconds ago) costs no confirmation request: each member
/// account costs AssumeRole, GenerateCredentialReport, GetCredentialReport and one
/// ListAccessKeys per user with an unused key (the report has no key IDs), and nothing else;
/// 10 or fewer on average, and the report says which was done.
#[test]
fn a_credential_report_made_by_the_run_is_not_confirmed_again() {
    let Some(moto) = emulator(&["--scenario", "bench", "--accounts", "6", "--users", "10"]) else {
        return;
    };
    let run = Run::of(moto.stalecreds().args(["scan", "--format", "json"]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let management = moto.account("management");
    let mut per_member: BTreeMap<String, u64> = BTreeMap::new();
    for (account, _, action, count) in moto.requests() {
        assert!(
            !["GetAccessKeyLastUsed", "GetUser", "GetLoginProfile"].contains(&action.as_str()),
            "nothing is confirmed: {action} in {account}"
        );
        if account != management {
            *per_member.entry(account).or_default() += count;
        }
    }
    assert_eq!(per_member.len(), 6);
    for (account, count) in &per_member {
        let with_key_findings: BTreeSet<&str> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["account_id"] == account.as_str() && f["credential"] == "access_key")
            .filter_map(|f| f["user_name"].as_str())
            .collect();
        assert_eq!(
            *count,
            4 + with_key_findings.len() as u64,
            "account {account}: {per_member:?}"
        );
    }
    let mean = per_member.values().sum::<u64>() as f64 / per_member.len() as f64;
    assert!(
        mean <= 10.0,
        "{mean} requests a member on average: {per_member:?}"
    );
    for entry in report["accounts"].as_array().expect("accounts") {
        assert_eq!(entry["confirmation"], "fresh_report", "{entry}");
        assert_eq!(entry["findings_confirmed_at"], Value::Null, "{entry}");
    }
}

/// A new credential report takes time in AWS: GetCredentialReport answers 404 ReportInProgress
/// until it is done. The scan polls it (one GenerateCredentialReport, several reads) and finds
/// what a report ready at once gives.
#[test]
fn a_report_still_being_generated_is_polled_until_it_is_there() {
    let Some(moto) = emulator(&["--scenario", "bench", "--accounts", "3", "--users", "5"]) else {
        return;
    };
    moto.configure_json(&json!({ "report_ready_after_ms": 700 }));
    let slow = Run::of(moto.stalecreds().args(["scan", "--format", "json"]));
    assert_eq!(slow.code, 1, "{}", slow.stderr);
    let management = moto.account("management").to_owned();
    let mut reads: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (account, _, action, count) in moto.requests() {
        let entry = reads.entry(account).or_default();
        match action.as_str() {
            "GenerateCredentialReport" => entry.0 += count,
            "GetCredentialReport" => entry.1 += count,
            _ => {}
        }
    }
    reads.remove(&management);
    assert_eq!(reads.len(), 3, "{reads:?}");
    for (account, (generated, read)) in &reads {
        assert_eq!(*generated, 1, "one generation in {account}: {reads:?}");
        assert!(*read >= 3, "polled until ready in {account}: {reads:?}");
    }

    moto.configure_json(&json!({}));
    moto.expire_reports();
    let at_once = Run::of(moto.stalecreds().args(["scan", "--format", "json"]));
    assert_eq!(at_once.code, 1, "{}", at_once.stderr);
    let ids = |run: &Run| -> BTreeSet<String> {
        run.json()["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|finding| finding["finding_id"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    assert!(!ids(&slow).is_empty());
    assert_eq!(ids(&slow), ids(&at_once));
}
