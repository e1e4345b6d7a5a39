//! Issue 11: where security teams look. What changed since the last run (new, ongoing,
//! resolved) in the report and the digest.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Moto, Run, demo, finding, temp_dir};

/// `account-name/user credential` of each item of a report list, sorted.
fn named(moto: &Moto, items: &Value) -> Vec<String> {
    let names: BTreeMap<&str, &str> = moto
        .accounts
        .iter()
        .map(|(name, id)| (id.as_str(), name.as_str()))
        .collect();
    let mut lines: Vec<String> = items
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            let account = names[item["account_id"].as_str().expect("account")];
            let mut line = format!(
                "{account}/{} {}",
                item["user_name"].as_str().expect("user"),
                item["credential"].as_str().expect("credential")
            );
            for field in ["change", "reason"] {
                if let Some(value) = item[field].as_str() {
                    line.push(' ');
                    line.push_str(value);
                }
            }
            line
        })
        .collect();
    lines.sort();
    lines
}

/// Where a test leaves what a person may want to look at (a digest, a page, a screenshot).
pub fn artifacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    dir
}

/// The email text of the `index`th digest published.
pub fn digest_text(moto: &Moto, index: usize) -> (String, String) {
    let published = moto.published();
    let (subject, message) = &published[index];
    let message: Value = serde_json::from_str(message).expect("MessageStructure json");
    (
        subject.clone(),
        message["email"].as_str().expect("email text").to_owned(),
    )
}

#[test]
fn a_second_run_says_what_is_new_ongoing_and_resolved_and_a_failed_account_resolves_nothing() {
    let Some(moto) = demo() else { return };
    let state = temp_dir();
    let scan = |page: Option<&Path>| {
        let mut command = moto.stalecreds();
        command.args(["scan", "--format", "json", "--topic-arn", &moto.topic_arn]);
        command.arg("--state-dir").arg(state.path());
        if let Some(page) = page {
            command.arg("--html").arg(page);
        }
        Run::of(&mut command)
    };
    let first = scan(None);
    assert_eq!(first.code, 3, "sandbox has no audit role: {}", first.stderr);
    let first = first.json();
    assert_eq!(first["changes"]["baseline"], "state");
    assert_eq!(first["changes"]["since"], Value::Null, "a first run");
    assert_eq!(first["changes"]["new"], 7, "everything is new");
    let (subject, text) = digest_text(&moto, 0);
    assert!(!subject.contains("new"), "{subject}");
    assert!(
        text.contains(
            "First run: no earlier complete scan to compare with, so all 7 findings are new."
        ),
        "{text}"
    );
    between_the_runs(&moto);
    let page = artifacts().join("second-run.html");
    let second = scan(Some(&page));
    assert_eq!(second.code, 3, "{}", second.stderr);
    let second = second.json();
    the_second_run_says_what_changed(&moto, &first, &second);
    the_second_digest_says_what_changed(&moto);
    the_second_page_says_what_changed(&moto, &page);
    check_in_a_browser(&page, 3, 1);
}

/// Between the runs: carol uses her key, an administrator deactivates alice's unused key,
/// deletes bob's password and activates dave's old inactive key; dev cannot be reached; the
/// next day, IAM generates new credential reports.
fn between_the_runs(moto: &Moto) {
    moto.touch("prod", "carol", Some(moto.key("prod/carol", 0)));
    moto.change(
        "prod",
        "alice",
        Some(moto.key("prod/alice", 1)),
        "deactivate",
    );
    moto.change("prod", "bob", None, "delete");
    moto.change("prod", "dave", Some(moto.key("prod/dave", 0)), "activate");
    moto.configure_json(&json!({ "deny": [[moto.account("dev"), "AssumeRole"]] }));
    moto.expire_reports();
}

/// The second report: what is new, ongoing and resolved, and nothing of dev resolved.
fn the_second_run_says_what_changed(moto: &Moto, first: &Value, second: &Value) {
    assert_eq!(
        named(moto, &second["findings"]),
        [
            "management/old-admin password ongoing",
            "prod/breakglass-admin password ongoing",
            "prod/dave access_key new",
        ]
    );
    assert_eq!(
        named(moto, &second["resolved"]),
        [
            "prod/alice access_key deactivated",
            "prod/bob password deleted",
            "prod/carol access_key used_again",
        ],
        "nothing of dev (not scanned today) is resolved"
    );
    let changes = &second["changes"];
    assert_eq!(
        (
            &changes["new"],
            &changes["ongoing"],
            &changes["resolved"],
            &changes["accounts_not_resolving"]
        ),
        (&json!(1), &json!(2), &json!(3), &json!(2)),
        "{changes}"
    );
    assert_eq!(changes["since"], first["generated_at"]);
    let ongoing = finding(second, "old-admin");
    assert_eq!(
        ongoing["first_seen"], first["generated_at"],
        "first seen on the first run"
    );
}

/// The second digest: its subject, the order of its sections, and nothing of dev.
fn the_second_digest_says_what_changed(moto: &Moto) {
    let (subject, text) = digest_text(moto, 1);
    assert_eq!(
        subject,
        "stalecreds: 1 new, 3 unused credentials in 2 of 2 accounts (2 accounts not scanned)"
    );
    assert!(text.contains("1 new, 2 ongoing, 3 resolved."), "{text}");
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} in:\n{text}"))
    };
    assert!(at("New since the last complete scan: 1") < at("dave: access key"));
    assert!(at("dave: access key") < at("Resolved since the last complete scan: 3"));
    assert!(at("Resolved since") < at("Still open: 2"));
    assert!(text.contains("carol access key"), "{text}");
    assert!(text.contains(": used again"));
    assert!(
        text.contains("Nothing is marked resolved in the 2 accounts not scanned completely today.")
    );
    assert!(
        !text.contains("hank"),
        "dev's findings are neither shown nor resolved"
    );
    std::fs::write(
        artifacts().join("second-run-digest.txt"),
        format!("Subject: {subject}\n\n{text}"),
    )
    .expect("writable");
}

/// The same sets on the second run's page.
fn the_second_page_says_what_changed(moto: &Moto, page: &Path) {
    // The same sets on the page, and the page works in a browser.
    let html = std::fs::read_to_string(page).expect("the page was written");
    let section = |id: &str| {
        let start = html.find(&format!("<h2 id=\"{id}\">")).expect(id);
        html[start..]
            .split("</ul>")
            .next()
            .expect("a list")
            .to_owned()
    };
    let new = section("new");
    assert!(
        new.starts_with("<h2 id=\"new\">New: 1 unused credential</h2>"),
        "{new}"
    );
    assert!(
        new.contains("prod (") && new.contains("dave access key"),
        "{new}"
    );
    let resolved = section("resolved");
    assert!(resolved.contains("Resolved: 3 credentials"), "{resolved}");
    for (user, why) in [
        ("alice", "deactivated"),
        ("bob", "deleted"),
        ("carol", "used again"),
    ] {
        assert!(
            resolved.contains(&format!("{user} ")) && resolved.contains(why),
            "{user}: {why} in {resolved}"
        );
    }
    assert!(
        !html.contains("hank"),
        "dev's findings are neither shown nor resolved"
    );
    assert!(
        html.contains(&format!(
            "<td>dev ({})</td><td>not scanned</td><td>AssumeRole",
            moto.account("dev")
        )),
        "dev is listed as not scanned, with why"
    );
}

/// Loads the page in headless chromium (tests/browser/check_page.py) and checks what it saw:
/// no console error, no policy violation, `rows` findings that sort and filter, `new` of them
/// new, no sideways scrolling on a phone; and that a page whose script was changed is refused.
fn check_in_a_browser(page: &Path, rows: u64, new: usize) {
    let output = crate::support::python_script("tests/browser/check_page.py")
        .arg(page)
        .arg(artifacts())
        .output()
        .expect("the browser check runs");
    assert!(
        output.status.success(),
        "the browser could not be driven (scripts/setup installs chromium, chromium-driver and \
         selenium): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the check's JSON");
    no_error_and_no_violation(&seen);
    sorts_and_filters(&seen, rows, new);
    assert!(
        seen["phone"]["page"].as_u64() <= seen["phone"]["width"].as_u64(),
        "the page scrolls sideways on a phone: {}",
        seen["phone"]
    );
    for screenshot in seen["screenshots"].as_array().expect("screenshots") {
        let path = screenshot.as_str().expect("a path");
        let bytes = std::fs::read(path).expect("the screenshot was saved");
        assert!(bytes.starts_with(b"\x89PNG"), "{path} is a PNG");
    }
    // The policy is enforced, and the check sees it: a changed script is refused and said so.
    let tampered = &seen["tampered"];
    assert!(
        messages(&tampered["violations"])
            .iter()
            .any(|v| v.contains("script-src")),
        "{tampered}"
    );
    assert!(
        messages(&tampered["console"])
            .iter()
            .any(|m| m.contains("Content Security Policy")),
        "{tampered}"
    );
}

/// The messages of a list of console entries or policy violations.
fn messages(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| entry.get("message").unwrap_or(entry).to_string())
        .collect()
}

/// No console error and no policy violation, at load or after use; the page's title.
fn no_error_and_no_violation(seen: &Value) {
    for (moment, kind) in [
        ("load", "console"),
        ("load", "violations"),
        ("after_use", "console"),
        ("after_use", "violations"),
    ] {
        assert_eq!(
            messages(&seen[moment][kind]),
            Vec::<String>::new(),
            "{moment}: {kind}: {seen}"
        );
    }
    assert!(
        seen["load"]["title"]
            .as_str()
            .expect("title")
            .starts_with("stalecreds: ")
    );
}

/// The table's `rows` findings sort by days idle and by user, filter by a word, and show only
/// the `new` ones when asked.
fn sorts_and_filters(seen: &Value, rows: u64, new: usize) {
    assert_eq!(seen["rows"], rows, "{seen}");
    let numbers = |key: &str| -> Vec<f64> {
        seen[key]
            .as_array()
            .expect("a column")
            .iter()
            .map(|cell| {
                cell.as_str()
                    .expect("text")
                    .parse()
                    .unwrap_or(f64::INFINITY)
            })
            .collect()
    };
    let ascending = numbers("days_idle_first_click");
    assert!(ascending.is_sorted(), "{ascending:?}");
    let descending = numbers("days_idle_second_click");
    assert!(descending.iter().rev().is_sorted(), "{descending:?}");
    assert_ne!(ascending, descending, "two clicks reverse the order");
    let users: Vec<&str> = seen["user_first_click"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| user.as_str().expect("text"))
        .collect();
    assert!(
        users.iter().map(|user| user.to_lowercase()).is_sorted(),
        "{users:?}"
    );
    assert_eq!(seen["aria_sort"], "ascending");
    let word = seen["filter_word"].as_str().expect("word");
    let filtered = seen["filtered_users"].as_array().expect("users");
    assert!(
        !filtered.is_empty() && filtered.len() < rows as usize,
        "{seen}"
    );
    assert!(filtered.iter().all(|user| user == word), "{seen}");
    assert_eq!(
        seen["shown_text"],
        format!("{} of {rows} shown", filtered.len()),
        "{seen}"
    );
    assert_eq!(
        seen["new_only_changes"].as_array().expect("changes").len(),
        new,
        "{seen}"
    );
    assert!(
        seen["new_only_changes"]
            .as_array()
            .expect("changes")
            .iter()
            .all(|change| change == "new")
    );
    assert_eq!(seen["rows_after_reset"], rows);
}

#[test]
fn since_takes_a_previous_report_and_refuses_one_without_finding_identities() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let previous = dir.path().join("previous.json");
    let first = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--output"])
            .arg(&previous),
    );
    assert_eq!(first.code, 3, "{}", first.stderr);
    assert_eq!(first.json()["changes"]["baseline"], "none");
    moto.touch("prod", "carol", Some(moto.key("prod/carol", 0)));
    moto.expire_reports();
    let second = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--since"])
            .arg(&previous),
    );
    let report = second.json();
    assert_eq!(report["changes"]["baseline"], "report");
    assert_eq!(
        named(&moto, &report["resolved"]),
        ["prod/carol access_key used_again"]
    );
    assert_eq!(report["changes"]["new"], 0);
    assert_eq!(report["changes"]["ongoing"], 6);

    // A report of schema 2: a usage error, before any AWS request.
    let mut old: Value =
        serde_json::from_str(&std::fs::read_to_string(&previous).expect("the previous report"))
            .expect("JSON");
    old["schema_version"] = json!(2);
    std::fs::write(&previous, old.to_string()).expect("writable");
    moto.reset_requests();
    let refused = Run::of(moto.stalecreds().args(["scan", "--since"]).arg(&previous));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("a report of schema 2; --since needs schema 3 or later"),
        "{}",
        refused.stderr
    );
    assert!(moto.requests().is_empty(), "no AWS request");
}

/// Issue 11: owners come from the configured tag keys, are shown in every output, and the
/// digest can be grouped by owner; tags are read only for the users of findings.
#[test]
fn owners_come_from_tags_show_everywhere_and_can_group_the_digest() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let config = dir.path().join("accounts.yaml");
    std::fs::write(
        &config,
        "owners:\n  tag_keys: [owner, team]\n  group_digest: true\n",
    )
    .expect("writable");
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--config"])
            .arg(&config)
            .args(["--topic-arn", &moto.topic_arn]),
    );
    let report = run.json();
    let owners: BTreeMap<String, Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| {
            (
                finding["user_name"].as_str().expect("user").to_owned(),
                finding["owner"].clone(),
            )
        })
        .collect();
    assert_eq!(owners["alice"], json!({"tag": "team", "value": "payments"}));
    assert_eq!(
        owners["carol"],
        json!({"tag": "Owner", "value": "carol@example.com"}),
        "`owner` before `team`, whatever its case"
    );
    assert_eq!(owners["judy"], json!({"tag": "team", "value": "platform"}));
    assert_eq!(owners["bob"], Value::Null, "bob has no tags");
    // ListUserTags only for the users of findings (7 findings, 7 users; erin and dave are not).
    let tag_reads: u64 = moto.calls("ListUserTags");
    assert_eq!(tag_reads, 7);
    let (_, text) = digest_text(&moto, 0);
    assert!(
        text.contains("\nOwner payments (team): 1 unused credential"),
        "{text}"
    );
    assert!(text.contains("\nOwner carol@example.com (Owner): 1 unused credential"));
    assert!(text.contains("\nOwner unknown (no owner tag): 4 unused credentials"));
    assert!(text.contains("] prod (") && text.contains("): alice: access key"));
    csv_and_table_show_owners(&moto, &config);
}

/// CSV and table show owners too.
fn csv_and_table_show_owners(moto: &Moto, config: &Path) {
    let csv = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "csv", "--config"])
            .arg(config),
    );
    let header = csv.stdout.lines().next().expect("a header");
    assert!(header.ends_with(",owner,owner_tag"), "{header}");
    assert!(csv.stdout.contains(",payments,team"));
    let table = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "table", "--config"])
            .arg(config),
    );
    assert!(
        table.stdout.contains("alice (owner payments)"),
        "{}",
        table.stdout
    );
}

/// Validates OCSF JSON Lines against the Compliance Finding schema generated from OCSF 1.8.0:
/// (events, errors).
pub fn validate_ocsf(lines: &str) -> (u64, Vec<String>) {
    use std::io::Write as _;
    let mut child = crate::support::python_script("tests/ocsf/validate.py")
        .arg("tests/ocsf/compliance_finding-1.8.0.schema.json")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the validator starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("written");
    let output = child.wait_with_output().expect("the validator ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let errors = result["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| error.as_str().expect("text").to_owned())
        .collect();
    (result["events"].as_u64().expect("a count"), errors)
}

/// Issue 11: `--format ocsf` writes OCSF 1.8.0 Compliance Finding events, each valid against
/// the class's JSON Schema generated from the OCSF schema files; new findings are `Create`,
/// ongoing ones `Update`, resolved ones `Close`.
#[test]
fn ocsf_events_validate_against_the_compliance_finding_schema() {
    let Some(moto) = demo() else { return };
    let state = temp_dir();
    let dir = temp_dir();
    let config = dir.path().join("accounts.yaml");
    std::fs::write(&config, "owners:\n  tag_keys: [owner, team]\n").expect("writable");
    let scan = || {
        Run::of(
            moto.stalecreds()
                .args(["scan", "--format", "ocsf", "--config"])
                .arg(&config)
                .args(["--state-dir", state.path().to_str().expect("utf-8")]),
        )
    };
    let first = scan();
    moto.touch("prod", "carol", Some(moto.key("prod/carol", 0)));
    moto.expire_reports();
    let second = scan();
    assert_eq!(second.code, 3, "{}", second.stderr);
    let events: Vec<Value> = second
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    new_ongoing_and_resolved_are_create_update_and_close(&events);
    let alice = events
        .iter()
        .find(|event| event["resources"][0]["name"] == "alice")
        .expect("alice's key");
    assert_eq!(alice["class_uid"], 2003);
    assert_eq!(alice["compliance"]["status"], "Fail");
    assert_eq!(alice["compliance"]["control"], "1.12");
    assert_eq!(alice["resources"][0]["type"], "AwsIamAccessKey");
    assert_eq!(alice["resources"][0]["owner"]["name"], "payments");
    assert_eq!(alice["cloud"]["account"]["uid"], moto.account("prod"));
    for run in [&first.stdout, &second.stdout] {
        let (count, errors) = validate_ocsf(run);
        assert!(count >= 7, "{count} events");
        assert!(errors.is_empty(), "{errors:#?}");
    }
    the_schema_check_can_fail(&events[0]);
}

/// The second run's events: six ongoing findings (`Update`) and carol's resolved key (`Close`).
fn new_ongoing_and_resolved_are_create_update_and_close(events: &[Value]) {
    let activities: Vec<(&str, &str)> = events
        .iter()
        .map(|event| {
            (
                event["activity_name"].as_str().expect("activity"),
                event["resources"][0]["name"].as_str().expect("a user"),
            )
        })
        .collect();
    assert_eq!(
        activities.len(),
        7,
        "6 findings and 1 resolved: {activities:?}"
    );
    assert!(activities.contains(&("Close", "carol")), "{activities:?}");
    assert_eq!(
        activities
            .iter()
            .filter(|(activity, _)| *activity == "Update")
            .count(),
        6
    );
}

/// The check can fail: an event without its compliance object, or with a stray field.
fn the_schema_check_can_fail(event: &Value) {
    let mut broken = event.clone();
    broken
        .as_object_mut()
        .expect("an object")
        .remove("compliance");
    broken["finding_info"]["severity_text"] = json!("high");
    let (_, errors) = validate_ocsf(&broken.to_string());
    assert!(
        errors
            .iter()
            .any(|error| error.contains("'compliance' is a required property")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|error| error.contains("'severity_text' was unexpected")),
        "{errors:?}"
    );
}

/// `Id` -> (record state, compliance status) of what Security Hub holds; every `Id` once.
fn held(moto: &Moto) -> BTreeMap<String, (String, String)> {
    let findings = moto.security_hub_findings(moto.account("management"));
    let held: BTreeMap<String, (String, String)> = findings
        .iter()
        .map(|finding| {
            (
                finding["Id"].as_str().expect("Id").to_owned(),
                (
                    finding["RecordState"]
                        .as_str()
                        .expect("RecordState")
                        .to_owned(),
                    finding["Compliance"]["Status"]
                        .as_str()
                        .unwrap_or("none")
                        .to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(held.len(), findings.len(), "one finding per Id");
    held
}

/// The `Id`s of a report's open findings, as ASFF names them.
fn open_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| format!("stalecreds/{}", finding["finding_id"].as_str().expect("id")))
        .collect()
}

#[test]
fn security_hub_holds_one_finding_per_open_credential_after_three_daily_runs() {
    let Some(moto) = demo() else { return };
    the_fixture_refuses_what_security_hub_refuses(&moto);
    let state = temp_dir();
    let reports = temp_dir();
    let day = |n: usize| {
        let report = reports.path().join(format!("day{n}.json"));
        let run = Run::of(
            moto.stalecreds()
                .args(["scan", "--format", "asff", "--security-hub", "--state-dir"])
                .arg(state.path())
                .arg("--output")
                .arg(&report),
        );
        assert_eq!(run.code, 3, "sandbox has no audit role: {}", run.stderr);
        assert!(
            run.stderr.contains("Security Hub: "),
            "the import is said: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("refused"), "{}", run.stderr);
        let asff: Value = serde_json::from_str(&run.stdout).expect("an ASFF array");
        let count = asff.as_array().expect("an array").len();
        assert!(
            run.stderr.contains(&format!(
                "Security Hub: {count} findings imported in 1 call"
            )),
            "all of them, in one call: {}",
            run.stderr
        );
        (crate::support::read_json(&report), asff)
    };

    let (first, asff) = day(1);
    what_was_printed_was_imported(&moto, &first, &asff);
    // Day 2: carol uses her key; alice's key is deactivated.
    moto.touch("prod", "carol", Some(moto.key("prod/carol", 0)));
    moto.change(
        "prod",
        "alice",
        Some(moto.key("prod/alice", 1)),
        "deactivate",
    );
    moto.expire_reports();
    let (second, _) = day(2);
    assert_eq!(second["changes"]["resolved"], 2, "{}", second["changes"]);
    // Day 3: bob's password is deleted, and dev cannot be reached.
    moto.change("prod", "bob", None, "delete");
    moto.configure_json(&json!({ "deny": [[moto.account("dev"), "AssumeRole"]] }));
    moto.expire_reports();
    let (third, asff) = day(3);
    assert_eq!(third["changes"]["resolved"], 1, "{}", third["changes"]);

    one_active_finding_per_open_credential(&moto, &second, &third, &asff);
}

/// The emulator's Security Hub refuses another account's finding and a malformed one, as AWS
/// does (tests/emulator/securityhub_refusals.py).
fn the_fixture_refuses_what_security_hub_refuses(moto: &Moto) {
    let refusals = crate::support::emulator_script("securityhub_refusals.py")
        .arg(&moto.endpoint)
        .output()
        .expect("runs");
    let refusals: Value = serde_json::from_slice(&refusals.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&refusals.stderr)));
    assert_eq!(
        refusals["foreign"]["FailedFindings"][0]["ErrorCode"], "AccessDeniedException",
        "the fixture refuses another account's finding, as AWS does: {refusals}"
    );
    assert_eq!(refusals["malformed"], "InvalidInputException", "{refusals}");
    assert_eq!(refusals["valid"]["SuccessCount"], 1, "{refusals}");
}

/// What `--format asff` printed on the first day is what was imported, field for field, and
/// Security Hub holds the open findings.
fn what_was_printed_was_imported(moto: &Moto, first: &Value, asff: &Value) {
    let imported = moto.security_hub_findings(moto.account("management"));
    // What --format asff prints is what was imported, field for field.
    for finding in asff.as_array().expect("findings") {
        let stored = imported
            .iter()
            .find(|stored| stored["Id"] == finding["Id"])
            .unwrap_or_else(|| panic!("{} was imported", finding["Id"]));
        for (field, value) in finding.as_object().expect("an object") {
            assert_eq!(&stored[field], value, "{field} of {}", finding["Id"]);
        }
    }
    let after_first = held(moto);
    let mut open = open_ids(first);
    open.push("check/valid".to_owned());
    open.sort();
    assert_eq!(after_first.keys().cloned().collect::<Vec<_>>(), open);
}

/// After the third day: one active finding per open credential (dev's, not scanned today,
/// included), the resolved ones archived, nothing else; today's archived one is bob's.
fn one_active_finding_per_open_credential(
    moto: &Moto,
    second: &Value,
    third: &Value,
    asff: &Value,
) {
    let held = held(moto);
    let active: Vec<&String> = held
        .iter()
        .filter(|(_, (record, _))| record == "ACTIVE")
        .map(|(id, _)| id)
        .collect();
    let archived: BTreeMap<&String, &String> = held
        .iter()
        .filter(|(_, (record, _))| record == "ARCHIVED")
        .map(|(id, (_, compliance))| (id, compliance))
        .collect();
    // Open today, or open in dev (not scanned today, so nothing of it is resolved).
    let dev = moto.account("dev");
    let mut expected: Vec<String> = open_ids(third);
    expected.extend(
        open_ids(second)
            .into_iter()
            .filter(|id| id.starts_with(&format!("stalecreds/{dev}/"))),
    );
    expected.push("check/valid".to_owned());
    expected.sort();
    expected.dedup();
    assert!(
        expected.iter().any(|id| id.contains(dev)),
        "dev had findings: {expected:?}"
    );
    assert_eq!(
        active,
        expected.iter().collect::<Vec<_>>(),
        "one active finding per open credential"
    );
    let mut resolved: Vec<String> = [second, third]
        .iter()
        .flat_map(|report| report["resolved"].as_array().expect("resolved").clone())
        .map(|gone| format!("stalecreds/{}", gone["finding_id"].as_str().expect("id")))
        .collect();
    resolved.sort();
    assert_eq!(resolved.len(), 3);
    let archived_ids: Vec<String> = archived.keys().map(|id| id.to_string()).collect();
    assert_eq!(archived_ids, resolved, "the resolved ones, archived");
    assert!(archived.values().all(|compliance| *compliance == "PASSED"));
    assert_eq!(
        held.len(),
        active.len() + archived.len(),
        "nothing else is held"
    );
    // Day 3's import archived bob's password: its ASFF says so.
    let archived_today = asff.as_array().expect("findings").iter();
    let bob = archived_today
        .filter(|finding| finding["RecordState"] == "ARCHIVED")
        .find(|finding| finding["Title"].as_str().is_some_and(|t| t.contains("bob")))
        .expect("bob's password archived today");
    assert_eq!(bob["Compliance"]["Status"], "PASSED");
}

/// Issue 16: a resolved finding was archived only on the day it resolved: when that day's import
/// failed it stayed ACTIVE for ever, and the findings of an account that left the organization
/// were never archived. Each run now archives every ACTIVE stalecreds finding the hub holds that
/// the run shows is no longer open.
#[test]
fn security_hub_converges_after_a_failed_import_and_an_account_that_left() {
    let Some(moto) = demo() else { return };
    let state = temp_dir();
    let day = |moto: &Moto| {
        let run = Run::of(
            moto.stalecreds()
                .args(["scan", "--format", "json", "--security-hub", "--state-dir"])
                .arg(state.path()),
        );
        (run.json(), run.stderr)
    };
    let active = |moto: &Moto| -> Vec<String> {
        held(moto)
            .into_iter()
            .filter(|(_, (record, _))| record == "ACTIVE")
            .map(|(id, _)| id)
            .collect()
    };
    let (first, _) = day(&moto);
    let mut open = open_ids(&first);
    open.sort();
    assert_eq!(active(&moto), open, "day 1: every finding is in the hub");

    // Day 2: carol uses her key, and the day's import is refused as a whole.
    moto.touch("prod", "carol", Some(moto.key("prod/carol", 0)));
    moto.expire_reports();
    moto.configure_json(&json!({
        "deny": [[moto.account("management"), "BatchImportFindings"]],
    }));
    let (second, stderr) = day(&moto);
    assert_eq!(second["changes"]["resolved"], 1, "{}", second["changes"]);
    assert!(stderr.contains("Security Hub"), "{stderr}");
    let carol = open
        .iter()
        .find(|id| id.contains("/carol@"))
        .expect("carol's finding")
        .clone();
    assert!(
        active(&moto).contains(&carol),
        "still ACTIVE after the failed import"
    );

    // Day 3: the import works again, and dev has left the organization.
    moto.configure_json(&json!({}));
    moto.leave_organization("dev");
    moto.expire_reports();
    let (third, stderr) = day(&moto);
    assert_eq!(third["changes"]["resolved"], 0, "{}", third["changes"]);
    assert!(stderr.contains("3 archived: no longer open"), "{stderr}");
    let mut expected = open_ids(&third);
    expected.sort();
    assert_eq!(
        active(&moto),
        expected,
        "exactly today's open findings are ACTIVE"
    );
    let held = held(&moto);
    assert_eq!(held[&carol], ("ARCHIVED".to_owned(), "PASSED".to_owned()));
    let dev = moto.account("dev");
    let gone: Vec<&String> = held
        .keys()
        .filter(|id| id.starts_with(&format!("stalecreds/{dev}/")))
        .collect();
    assert_eq!(gone.len(), 2, "hank's and judy's keys: {gone:?}");
    assert!(gone.iter().all(|id| held[*id].0 == "ARCHIVED"));
}

/// Issue 18: with owners configured, a run also tells each owner directly: one message per
/// owner, carrying the owner as a message attribute, so that a team's subscription with a filter
/// policy receives only its own credentials, and the security team's (`owner` absent) only the
/// digest, which says how many owner messages went out.
#[test]
fn each_team_receives_only_its_own_credentials_through_its_filter_policy() {
    let Some(moto) = demo() else { return };
    let subscriptions = |command: &str, teams: &[&str]| {
        let output = crate::support::emulator_script("owner_subscriptions.py")
            .args([moto.endpoint.as_str(), moto.topic_arn.as_str(), command])
            .args(teams)
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON")
    };
    subscriptions("setup", &["payments", "platform"]);
    let dir = temp_dir();
    let config = dir.path().join("accounts.yaml");
    let text = "owners:\n  tag_keys: [owner, team]\nnotification:\n  owner_messages: true\n";
    std::fs::write(&config, text).expect("writable");
    let run = Run::of(
        moto.stalecreds()
            .args([
                "scan",
                "--format",
                "json",
                "--topic-arn",
                &moto.topic_arn,
                "--config",
            ])
            .arg(&config),
    );
    assert!(
        run.stderr.contains("3 owner messages published"),
        "{}",
        run.stderr
    );
    let seen = subscriptions("read", &[]);
    let owners = |queue: &str| -> Vec<String> {
        seen[queue]
            .as_array()
            .expect("a queue")
            .iter()
            .map(|message| message["owner"].as_str().unwrap_or("none").to_owned())
            .collect()
    };
    assert_eq!(owners("team-payments"), ["payments"], "{seen}");
    assert_eq!(owners("team-platform"), ["platform"], "{seen}");
    assert_eq!(owners("security"), ["none"], "the digest alone: {seen}");
    let subject = seen["team-payments"][0]["subject"]
        .as_str()
        .expect("a subject");
    assert_eq!(subject, "stalecreds: 1 unused credential of payments");
    let (_, text) = digest_text(&moto, 0);
    assert!(text.contains("Owner messages: 3 "), "{text}");
    let published = moto.published();
    assert_eq!(published.len(), 4, "the digest and three owner messages");
}

/// Issue 18: the page holds every finding as data and renders one page of rows at a time, so at
/// 100,000 findings it stays a file a browser opens without strain, renders at once, and
/// filters and sorts quickly. The figures (headless Chromium: time to the script's end, to
/// filter, to sort; the page's size) are printed and left in target/test-artifacts; the test
/// asserts what the page does, not how fast (docs/outputs.md has the figures).
#[test]
fn the_page_works_at_a_hundred_thousand_findings() {
    let dir = temp_dir();
    let json = dir.path().join("report.json");
    let made = crate::support::python_script("tests/browser/many_findings.py")
        .arg("100000")
        .arg(&json)
        .status()
        .expect("the generator runs");
    assert!(made.success());
    let text = std::fs::read_to_string(&json).expect("the report");
    let report: stalecreds::report::Report = serde_json::from_str(&text).expect("a report");
    let page = dir.path().join("page.html");
    stalecreds::report::html::write_file(&report, &page).expect("the page is written");
    let output = crate::support::python_script("tests/browser/check_page.py")
        .arg("--measure")
        .arg(&page)
        .arg("user-012345")
        .output()
        .expect("the browser check runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the check's JSON");
    std::fs::write(artifacts().join("page-100k.json"), &output.stdout).expect("writable");
    let bytes = seen["bytes"].as_u64().expect("a size");
    assert!(bytes < 12 * 1024 * 1024, "{bytes} bytes");
    assert_eq!(messages(&seen["console"]), Vec::<String>::new(), "{seen}");
    assert_eq!(
        messages(&seen["violations"]),
        Vec::<String>::new(),
        "{seen}"
    );
    assert_eq!(seen["rows_rendered"], 100, "one page of rows: {seen}");
    assert_eq!(
        seen["filtered_users"],
        serde_json::json!(["user-012345"]),
        "{seen}"
    );
    assert_eq!(seen["shown_text"], "1 of 100000 shown");
}
