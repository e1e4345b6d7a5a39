//! A run fanned out: `stalecreds plan`, then `stalecreds scan --plan … --batch I` for each
//! batch, as separate processes running at once, then `stalecreds merge`. It must give exactly
//! what a single run gives, send one digest, and survive a batch run twice, a batch missing and
//! a merge run twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::support::{Moto, Run, demo, emulator, emulator_script, skipped, temp_dir};

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/remediation/demo.yaml"
);

/// `account-name/user credential key-index idle-days`, for findings or information.
fn items(moto: &Moto, report: &Value, list: &str) -> Vec<String> {
    let names: BTreeMap<&str, &str> = moto
        .accounts
        .iter()
        .map(|(name, id)| (id.as_str(), name.as_str()))
        .collect();
    let mut lines: Vec<String> = report[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            format!(
                "{}/{} {} {} {} {}",
                names[item["account_id"].as_str().expect("account")],
                item["user_name"].as_str().expect("user"),
                item["credential"].as_str().expect("credential"),
                item["access_key_id"].as_str().unwrap_or("-"),
                item["idle_days"],
                item["remediation"]["state"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    lines.sort();
    lines
}

/// Account ID → (status, error code).
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

/// Plans a run into `dir` in batches of `size`; returns the plan's path and the batch count.
fn plan(moto: &Moto, dir: &Path, size: usize, extra: &[&str]) -> (String, usize) {
    let run = Run::of(
        moto.stalecreds()
            .args(["plan", "--out"])
            .arg(dir)
            .args(["--batch-size", &size.to_string()])
            .args(extra),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.stdout.trim().to_owned();
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).expect("the plan")).expect("JSON");
    (plan, written["batches"].as_array().expect("batches").len())
}

/// Runs the batches `which` of `plan` at once, each its own process.
fn batches(moto: &Moto, plan: &str, which: &[usize], extra: &[&str]) {
    let children: Vec<_> = which
        .iter()
        .map(|batch| {
            moto.stalecreds()
                .args(["scan", "--plan", plan, "--batch", &batch.to_string()])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a batch starts")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("a batch ends");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn merge(moto: &Moto, plan: &str, extra: &[&str]) -> Run {
    Run::of(
        moto.stalecreds()
            .args(["merge", "--plan", plan, "--format", "json"])
            .args(extra),
    )
}

/// Issue 10: plan → batches in parallel → merge gives exactly the single run's findings, account
/// statuses and information, and exactly one digest; a batch run twice (a retry) changes
/// nothing, and a merge run twice publishes nothing more.
#[test]
fn a_fanned_out_run_merges_into_the_single_runs_report_and_one_digest() {
    let Some(moto) = emulator(&["--scenario", "bench", "--accounts", "14", "--users", "6"]) else {
        return;
    };
    let topic = ["--topic-arn", moto.topic_arn.as_str(), "--notify", "always"];
    let single = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json"])
            .args(topic),
    );
    let single = single.json();
    assert_eq!(moto.published().len(), 1);

    let dir = temp_dir();
    let (plan, count) = plan(&moto, dir.path(), 4, &[]);
    assert_eq!(
        count, 4,
        "14 members and the management account, four at a time"
    );
    moto.reset_requests();
    batches(&moto, &plan, &(0..count).collect::<Vec<_>>(), &[]);
    batches(&moto, &plan, &[1], &[]);
    let organizations: u64 = moto
        .requests()
        .iter()
        .filter(|(_, service, _, _)| service == "organizations")
        .map(|(_, _, _, count)| count)
        .sum();
    assert_eq!(organizations, 0, "the batches never list the organization");
    let merged = merge(&moto, &plan, &topic);
    let report = merged.json();
    assert_eq!(
        items(&moto, &report, "findings"),
        items(&moto, &single, "findings")
    );
    assert_eq!(
        items(&moto, &report, "information"),
        items(&moto, &single, "information")
    );
    assert_eq!(statuses(&report), statuses(&single));
    assert_eq!(report["summary"], single["summary"]);
    assert_eq!(
        moto.published().len(),
        2,
        "one digest for the fanned-out run"
    );

    let again = merge(&moto, &plan, &topic);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("merged already"), "{}", again.stderr);
    assert_eq!(
        moto.published().len(),
        2,
        "a merge run twice publishes once"
    );
}

/// Issue 10: a batch that never reports leaves its accounts named as not reached, the run
/// incomplete, and, as for a run cut short, `--apply` changes nothing.
#[test]
fn a_missing_batch_makes_the_run_incomplete_with_its_accounts_named_and_no_change() {
    let Some(moto) = demo() else { return };
    let before = moto.iam_state();
    let config = [
        "--config",
        POLICY,
        "--report-bucket",
        moto.report_bucket.as_str(),
    ];
    let dir = temp_dir();
    let (plan, count) = plan(&moto, dir.path(), 1, &config);
    assert_eq!(
        count, 4,
        "management, prod, dev, sandbox (closed is skipped)"
    );
    batches(&moto, &plan, &[0, 1, 3], &config);
    let journal = dir.path().join("journal.jsonl");
    let mut extra = config.to_vec();
    extra.extend(["--apply", "--journal", journal.to_str().expect("utf-8")]);
    let merged = merge(&moto, &plan, &extra);
    assert_eq!(merged.code, 3, "{}", merged.stderr);
    let report = merged.json();
    let plan_doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).expect("plan")).expect("JSON");
    let missing = plan_doc["batches"][2][0]["id"]
        .as_str()
        .expect("batch 2's account");
    let entry = report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|account| account["account_id"] == missing)
        .expect("the missing batch's account is in the report");
    assert_eq!(entry["error"]["code"], "NotReached");
    assert!(
        entry["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("batch 2 did not report")),
        "{entry}"
    );
    assert_eq!(
        moto.iam_state(),
        before,
        "an incomplete run changes nothing"
    );
    assert!(
        report["remediation"]["withheld"]
            .as_str()
            .is_some_and(|why| why.contains("batch 2 did not report")),
        "{}",
        report["remediation"]
    );
}

/// Issue 10: remediation happens once, in the merge, under the one global cap: the same changes
/// as a single run with the same cap; a merge run again changes nothing more.
#[test]
fn a_fanned_out_apply_makes_the_single_runs_changes_once_under_the_global_cap() {
    let Some(single_moto) = demo() else { return };
    let single_dir = temp_dir();
    let single_report = single_apply(&single_moto, single_dir.path());

    let moto = Moto::demo();
    let dir = temp_dir();
    let config = capped(dir.path());
    let config_args = [
        "--config",
        config.to_str().expect("utf-8"),
        "--report-bucket",
        moto.report_bucket.as_str(),
    ];
    let (plan, count) = plan(&moto, dir.path(), 1, &config_args);
    batches(&moto, &plan, &(0..count).collect::<Vec<_>>(), &config_args);
    let journal = dir.path().join("journal.jsonl");
    let mut extra = config_args.to_vec();
    extra.extend(["--apply", "--journal", journal.to_str().expect("utf-8")]);
    let merged = merge(&moto, &plan, &extra);
    let report = merged.json();
    assert_eq!(
        report["remediation"]["applied"], 3,
        "{}",
        report["remediation"]
    );
    // The same three changes as the single run (the moto seeds are the same: same users, and
    // keys compared by position).
    assert_eq!(
        applied(&moto, &report),
        applied(&single_moto, &single_report)
    );
    let lines = std::fs::read_to_string(&journal).expect("journal");
    assert_eq!(lines.lines().count(), 6, "three intents, three outcomes");
    let state_after = moto.iam_state();
    let again = merge(&moto, &plan, &extra);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        moto.iam_state(),
        state_after,
        "a second merge changes nothing"
    );
}

/// The demo policy with a cap of three changes, written in `dir`.
fn capped(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("capped.yaml");
    let policy = std::fs::read_to_string(POLICY).expect("policy");
    std::fs::write(&config, policy.replace("max_actions: 25", "max_actions: 3")).expect("writable");
    config
}

/// A single run's report with `--apply` under the capped policy.
fn single_apply(moto: &Moto, dir: &Path) -> Value {
    let run = Run::of(
        moto.stalecreds()
            .args(["scan", "--format", "json", "--apply"])
            .args(["--report-bucket", &moto.report_bucket])
            .arg("--journal")
            .arg(dir.join("journal.jsonl"))
            .arg("--config")
            .arg(capped(dir)),
    );
    run.json()
}

/// The credentials a report says were changed.
fn applied(moto: &Moto, report: &Value) -> Vec<String> {
    items(moto, report, "findings")
        .into_iter()
        .chain(items(moto, report, "information"))
        .filter(|line| line.ends_with(" applied"))
        .map(|line| line.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

/// Issue 10: the state machine of deploy/scanner.yaml, run by moto's ASL interpreter
/// (tests/emulator/state_machine.py: a stand-in function answers by step and records each
/// event). A run plans, scans one child per batch at the configured concurrency and merges; a
/// duplicate of a run ends after its plan; a throttled batch is retried, a batch that fails for
/// good does not stop the merge, nor does a map that cannot read its items.
#[test]
fn the_state_machine_plans_scans_every_batch_and_always_merges() {
    if skipped() {
        return;
    }
    let output = emulator_script("state_machine.py")
        .args([
            "deploy/scanner.yaml",
            "normal",
            "duplicate",
            "faults",
            "items_missing",
            "plan_retried",
            "plan_fails",
            "merge_refuses",
        ])
        .output()
        .expect("the interpreter runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runs: BTreeMap<String, Value> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .map(|run| (run["scenario"].as_str().expect("named").to_owned(), run))
        .collect();
    the_normal_run_plans_scans_and_merges(&runs["normal"]);
    duplicates_faults_and_missing_items_still_merge(&runs);
    // Issue 16: a plan that a retry repairs reports no failure; the run goes on to its merge,
    // whose digest is the run's one message.
    let retried = &runs["plan_retried"];
    assert_eq!(retried["status"], "SUCCEEDED", "{retried}");
    assert_eq!(
        sorted(retried),
        ["batch 0", "batch 1", "batch 2", "merge", "plan", "plan"]
    );
    failures_for_good_are_reported_once(&runs);
}

/// Each step a run's stand-in function was asked for, in order (`batch N`, or the step).
fn steps(run: &Value) -> Vec<String> {
    run["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| match event["batch"].as_u64() {
            Some(batch) => format!("batch {batch}"),
            None => event["step"].as_str().expect("a step").to_owned(),
        })
        .collect()
}

/// The steps, sorted.
fn sorted(run: &Value) -> Vec<String> {
    let mut steps = steps(run);
    steps.sort();
    steps
}

/// A run plans (claiming the scheduled time), scans each batch at the configured concurrency
/// with small events that read the plan, and merges.
fn the_normal_run_plans_scans_and_merges(normal: &Value) {
    let plan = "s3://stalecreds-reports/stalecreds/runs/2026-11-28T10_00_00Z/plan.json";

    assert_eq!(normal["status"], "SUCCEEDED", "{normal}");
    let events = normal["events"].as_array().expect("events");
    assert_eq!(events[0]["step"], "plan");
    assert_eq!(
        events[0]["run_id"], "2026-11-28T10:00:00Z",
        "the scheduled time"
    );
    assert_eq!(
        events[0]["claimant"], normal["execution"],
        "the execution claims"
    );
    assert_eq!(steps(normal).first().map(String::as_str), Some("plan"));
    assert_eq!(steps(normal).last().map(String::as_str), Some("merge"));
    assert_eq!(
        sorted(normal),
        ["batch 0", "batch 1", "batch 2", "merge", "plan"]
    );
    for event in &events[1..] {
        assert_eq!(event["plan"], plan, "every step reads the plan: {event}");
        let keys = event.as_object().expect("an object").len();
        assert!(keys <= 3, "a small event: {event}");
    }
    assert_eq!(normal["map_runs"][0]["max_concurrency"], 2, "{normal}");
    assert_eq!(normal["map_runs"][0]["succeeded"], 3);
    assert_eq!(
        normal["output"]["summary"]["findings"], 6,
        "the merge's answer"
    );
    assert!(
        normal["map_results"][0]
            .as_str()
            .is_some_and(|key| key.starts_with("stalecreds/map-results/")),
        "{normal}"
    );
}

/// A duplicate stops at its plan; a throttled batch is retried, a failed one is not; a map
/// without items still merges.
fn duplicates_faults_and_missing_items_still_merge(runs: &BTreeMap<String, Value>) {
    let duplicate = &runs["duplicate"];
    assert_eq!(duplicate["status"], "SUCCEEDED");
    assert_eq!(steps(duplicate), ["plan"], "a duplicate stops at its plan");
    assert_eq!(
        duplicate["states"]
            .as_array()
            .and_then(|states| states.last()),
        Some(&Value::from("AnotherExecutionHasThisRun"))
    );

    let faults = &runs["faults"];
    assert_eq!(faults["status"], "SUCCEEDED", "{faults}");
    assert_eq!(
        sorted(faults),
        ["batch 0", "batch 1", "batch 1", "batch 2", "merge", "plan"],
        "throttled batch 1 retried, failed batch 2 not retried, then the merge"
    );
    assert_eq!(faults["map_runs"][0]["failed"], 1);

    let missing = &runs["items_missing"];
    assert_eq!(missing["status"], "SUCCEEDED", "{missing}");
    assert_eq!(
        steps(missing),
        ["plan", "merge"],
        "no items: no batch, still a merge"
    );
}

/// A plan or a merge that fails for good: the `failed` step reports it, with the step and the
/// function's error (which ends with what to do), and the execution fails.
fn failures_for_good_are_reported_once(runs: &BTreeMap<String, Value>) {
    for (scenario, step, said) in [
        (
            "plan_fails",
            "plan",
            "cannot list the organization's accounts",
        ),
        (
            "merge_refuses",
            "merge",
            "this step's settings are not the plan's",
        ),
    ] {
        let run = &runs[scenario];
        assert_eq!(run["status"], "FAILED", "{run}");
        let events = run["events"].as_array().expect("events");
        let failed: Vec<&Value> = events
            .iter()
            .filter(|event| event["step"] == "failed")
            .collect();
        assert_eq!(failed.len(), 1, "{run}");
        assert_eq!(failed[0]["failed_step"], step, "{run}");
        assert_eq!(failed[0]["run_id"], "2026-11-28T10:00:00Z", "{run}");
        assert!(
            failed[0]["error"]["Cause"]
                .as_str()
                .is_some_and(|cause| cause.contains(said) && cause.contains("What to do")),
            "{run}"
        );
    }
}

/// Issue 16: a merge that refused (the settings changed since the plan: a deploy during the
/// run) ended before delivery, and the run sent no message at all. A final refusal now sends
/// the run's one digest: that it failed, why, and what to do.
#[test]
fn a_merge_that_refuses_still_sends_a_digest_that_says_why() {
    let Some(moto) = demo() else { return };
    let dir = temp_dir();
    let topic = ["--topic-arn", moto.topic_arn.as_str()];
    let (plan, count) = plan(&moto, dir.path(), 2, &topic);
    let every: Vec<usize> = (0..count).collect();
    batches(&moto, &plan, &every, &topic);
    // The merge runs with another threshold than the plan's.
    let refused = merge(
        &moto,
        &plan,
        &[&topic[..], &["--max-idle-days", "90"]].concat(),
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("settings are not the plan's"),
        "{}",
        refused.stderr
    );
    let published = moto.published();
    assert_eq!(published.len(), 1, "the run's one message");
    assert!(
        published[0]
            .0
            .starts_with("stalecreds: run failed at its merge"),
        "{}",
        published[0].0
    );
    let message: Value = serde_json::from_str(&published[0].1).expect("JSON");
    let text = message["email"].as_str().expect("text");
    assert!(
        text.contains("settings are not the plan's")
            && text.contains("What to do: the configuration changed during the run"),
        "{text}"
    );
}
