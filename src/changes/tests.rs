use super::*;
use crate::inventory::KeyStatus;
use crate::remediate::Action;
use crate::rules::Rule;

const ACCOUNT: &str = "111111111111";

fn at(day: u32) -> Timestamp {
    format!("2026-11-{day:02}T10:00:00Z")
        .parse()
        .expect("valid")
}

fn created(user: &str) -> Timestamp {
    match user {
        "bob-again" => "2026-11-20T00:00:00Z",
        _ => "2024-01-01T00:00:00Z",
    }
    .parse()
    .expect("valid")
}

/// A verdict on `user`'s key `id` (or password, when `id` is empty), last used `used`.
fn verdict(user: &str, id: &str, outcome: Outcome, used: Option<Timestamp>) -> Verdict {
    let (name, created) = match user {
        "bob-again" => ("bob", created("bob-again")),
        _ => (user, created(user)),
    };
    let key = !id.is_empty();
    Verdict {
        rule: if key {
            Rule::AccessKeyUnused
        } else {
            Rule::PasswordUnused
        },
        user_name: name.to_owned(),
        user_arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        user_created: Some(created),
        credential: if key {
            CredentialKind::AccessKey
        } else {
            CredentialKind::Password
        },
        access_key_id: key.then(|| id.to_owned()),
        key_slot: None,
        key_status: key.then_some(if outcome == Outcome::Inactive {
            KeyStatus::Inactive
        } else {
            KeyStatus::Active
        }),
        created: Some(created),
        last_used: used,
        last_used_service: None,
        idle_since: used.or(Some(created)),
        idle_days: Some(100),
        outcome,
        exempt_reason: None,
        exemption_unknown: None,
        owner: None,
        service: None,
        expires: None,
    }
}

fn unused(user: &str, id: &str) -> Verdict {
    verdict(user, id, Outcome::Unused, None)
}

fn applied(kind: ActionKind, user: &str, id: Option<&str>) -> ActionOutcome {
    ActionOutcome {
        action: Action {
            kind,
            account_id: ACCOUNT.to_owned(),
            user_name: user.to_owned(),
            access_key_id: id.map(str::to_owned),
            credential: None,
            idle_days: 100,
            threshold: 45,
            inactive_since: None,
            set_at: None,
        },
        state: ActionState::Applied,
    }
}

fn labels(changes: &AccountChanges) -> Vec<(String, Change, Timestamp)> {
    changes
        .labels
        .iter()
        .map(|(id, (change, first_seen))| (id.clone(), *change, *first_seen))
        .collect()
}

fn reasons(changes: &AccountChanges) -> Vec<(String, Reason)> {
    changes
        .resolved
        .iter()
        .map(|resolved| (resolved.id.clone(), resolved.reason))
        .collect()
}

fn id(user: &str, credential: &str) -> String {
    let (name, created) = match user {
        "bob-again" => ("bob", created("bob-again")),
        _ => (user, created(user)),
    };
    format!("{ACCOUNT}/{name}@{created}/{credential}")
}

#[test]
fn the_identity_holds_the_user_and_its_creation_the_credential_and_its_key() {
    assert_eq!(
        finding_id(ACCOUNT, &unused("alice", "AKIA1")),
        "111111111111/alice@2024-01-01T00:00:00Z/access_key/AKIA1"
    );
    assert_eq!(
        finding_id(ACCOUNT, &unused("alice", "")),
        "111111111111/alice@2024-01-01T00:00:00Z/password"
    );
    // The same name, created again: another identity.
    assert_ne!(
        finding_id(ACCOUNT, &unused("bob", "")),
        finding_id(ACCOUNT, &unused("bob-again", ""))
    );
    // A report-mode key whose ID is unknown: its slot.
    let slot = Verdict {
        access_key_id: None,
        key_slot: Some(2),
        user_created: None,
        ..unused("carol", "AKIA3")
    };
    assert_eq!(
        finding_id(ACCOUNT, &slot),
        "111111111111/carol/access_key/slot2"
    );
}

#[test]
fn the_first_run_finds_everything_new_and_makes_the_baseline() {
    let today = [unused("alice", "AKIA1"), unused("bob", "")];
    let first = compare(Prior::First, ACCOUNT, &today, &[], true, at(1));
    assert_eq!(
        labels(&first),
        [
            (id("alice", "access_key/AKIA1"), Change::New, at(1)),
            (id("bob", "password"), Change::New, at(1)),
        ]
    );
    assert!(first.resolved.is_empty());
    let next = first.next.expect("a baseline");
    assert_eq!(next.at, at(1));
    assert_eq!(next.open.len(), 2);
}

#[test]
fn a_finding_seen_before_is_ongoing_since_its_first_sighting_and_a_new_one_is_new() {
    let first = compare(
        Prior::First,
        ACCOUNT,
        &[unused("alice", "AKIA1")],
        &[],
        true,
        at(1),
    );
    let baseline = first.next.expect("a baseline");
    let today = [unused("alice", "AKIA1"), unused("dave", "AKIA4")];
    let second = compare(Prior::Known(&baseline), ACCOUNT, &today, &[], true, at(2));
    assert_eq!(
        labels(&second),
        [
            (id("alice", "access_key/AKIA1"), Change::Ongoing, at(1)),
            (id("dave", "access_key/AKIA4"), Change::New, at(2)),
        ]
    );
    let next = second.next.expect("a baseline");
    assert_eq!(next.at, at(2));
    assert_eq!(
        next.open[&id("alice", "access_key/AKIA1")].first_seen,
        at(1),
        "the first sighting is kept"
    );
}

#[test]
fn what_is_gone_is_resolved_with_why() {
    let first_day = [
        unused("used", "AKIAUSED"),
        unused("threshold", "AKIATHRESHOLD"),
        unused("someone", "AKIASOMEONE"),
        unused("ours", "AKIAOURS"),
        unused("exempted", "AKIAEXEMPT"),
        unused("gone", "AKIAGONE"),
        unused("pass", ""),
        unused("bob", ""),
    ];
    // The first run deactivated `ours`' key and deleted `pass`'s password.
    let actions = [
        applied(ActionKind::DeactivateKey, "ours", Some("AKIAOURS")),
        applied(ActionKind::DeletePassword, "pass", None),
    ];
    let first = compare(Prior::First, ACCOUNT, &first_day, &actions, true, at(1));
    let baseline = first.next.expect("a baseline");
    let today = [
        verdict("used", "AKIAUSED", Outcome::InUse, Some(at(2))),
        verdict("threshold", "AKIATHRESHOLD", Outcome::InUse, None),
        verdict("someone", "AKIASOMEONE", Outcome::Inactive, None),
        verdict("ours", "AKIAOURS", Outcome::Inactive, None),
        verdict("exempted", "AKIAEXEMPT", Outcome::Exempt, None),
        // `gone`'s key and `pass`'s password are gone; bob was deleted and created again.
        unused("bob-again", ""),
    ];
    let second = compare(Prior::Known(&baseline), ACCOUNT, &today, &[], true, at(2));
    assert_eq!(
        reasons(&second),
        [
            (id("bob", "password"), Reason::UserRecreated),
            (id("exempted", "access_key/AKIAEXEMPT"), Reason::Exempted),
            (id("gone", "access_key/AKIAGONE"), Reason::Deleted),
            (
                id("ours", "access_key/AKIAOURS"),
                Reason::DeactivatedByStalecreds
            ),
            (id("pass", "password"), Reason::DeletedByStalecreds),
            (id("someone", "access_key/AKIASOMEONE"), Reason::Deactivated),
            (
                id("threshold", "access_key/AKIATHRESHOLD"),
                Reason::BelowThreshold
            ),
            (id("used", "access_key/AKIAUSED"), Reason::UsedAgain),
        ]
    );
    assert_eq!(
        labels(&second),
        [(id("bob-again", "password"), Change::New, at(2))],
        "the user created again is a new finding"
    );
}

#[test]
fn an_incomplete_scan_resolves_nothing_and_keeps_its_baseline() {
    let first = compare(
        Prior::First,
        ACCOUNT,
        &[unused("alice", "AKIA1"), unused("bob", "")],
        &[],
        true,
        at(1),
    );
    let baseline = first.next.expect("a baseline");
    // Bob could not be read today: his password is missing from the verdicts, not resolved.
    let today = [unused("alice", "AKIA1"), unused("carol", "AKIA3")];
    let second = compare(Prior::Known(&baseline), ACCOUNT, &today, &[], false, at(2));
    assert!(second.resolved.is_empty(), "{:?}", second.resolved);
    let next = second.next.expect("a baseline");
    assert_eq!(next.at, at(1), "still the last complete scan");
    assert_eq!(
        next.open.keys().cloned().collect::<Vec<_>>(),
        [
            id("alice", "access_key/AKIA1"),
            id("bob", "password"),
            id("carol", "access_key/AKIA3"),
        ],
        "today's new finding joins the baseline"
    );
    // Complete again the day after: carol is ongoing since day 2, bob resolved.
    let third = compare(Prior::Known(&next), ACCOUNT, &today, &[], true, at(3));
    assert_eq!(
        labels(&third)[1],
        (id("carol", "access_key/AKIA3"), Change::Ongoing, at(2))
    );
    assert_eq!(reasons(&third), [(id("bob", "password"), Reason::Deleted)]);
}

#[test]
fn an_unreadable_baseline_labels_nothing_resolves_nothing_and_keeps_nothing() {
    let changes = compare(
        Prior::Unreadable("AccessDenied".to_owned()),
        ACCOUNT,
        &[unused("alice", "AKIA1")],
        &[],
        true,
        at(2),
    );
    assert!(changes.labels.is_empty());
    assert!(changes.resolved.is_empty());
    assert_eq!(changes.next, None);
}

#[test]
fn only_findings_are_labelled() {
    let today = [
        unused("alice", "AKIA1"),
        verdict("bob", "AKIA2", Outcome::InUse, Some(at(1))),
        verdict("carol", "AKIA3", Outcome::Inactive, None),
        verdict("dave", "AKIA4", Outcome::Exempt, None),
    ];
    let changes = compare(Prior::First, ACCOUNT, &today, &[], true, at(1));
    assert_eq!(changes.labels.len(), 1);
}

#[test]
fn a_report_mode_key_without_an_id_today_is_matched_by_its_creation_not_its_slot_alone() {
    // Day 1: erin's first key (slot 1, created on the 1st of the year) is a finding.
    let mut first_key = unused("erin", "AKIAERIN1");
    first_key.key_slot = Some(1);
    first_key.created = Some("2026-01-01T00:00:00Z".parse().expect("valid"));
    let first = compare(
        Prior::First,
        ACCOUNT,
        &[first_key.clone()],
        &[],
        true,
        at(1),
    );
    let baseline = first.next.expect("a baseline");
    // Day 2: that key was deleted; her other key moved to slot 1 and is in use (no ID: the
    // report has none, and an in-use key is not looked up).
    let other = Verdict {
        access_key_id: None,
        key_slot: Some(1),
        created: Some("2026-06-01T00:00:00Z".parse().expect("valid")),
        ..verdict("erin", "AKIAERIN2", Outcome::InUse, Some(at(2)))
    };
    let second = compare(Prior::Known(&baseline), ACCOUNT, &[other], &[], true, at(2));
    assert_eq!(
        reasons(&second),
        [(id("erin", "access_key/AKIAERIN1"), Reason::Deleted)],
        "not the other key's use"
    );
    // Had the same key been used instead, its creation matches: used again.
    let same = Verdict {
        access_key_id: None,
        ..verdict("erin", "AKIAERIN1", Outcome::InUse, Some(at(2)))
    };
    let same = Verdict {
        key_slot: Some(1),
        created: first_key.created,
        ..same
    };
    let third = compare(Prior::Known(&baseline), ACCOUNT, &[same], &[], true, at(2));
    assert_eq!(
        reasons(&third),
        [(id("erin", "access_key/AKIAERIN1"), Reason::UsedAgain)]
    );
}
