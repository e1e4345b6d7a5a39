//! The plan is a pure function of the verdicts and the policy: tested at its edges.

use super::*;
use crate::rules::Rule;

fn verdict(
    user: &str,
    credential: CredentialKind,
    status: Option<KeyStatus>,
    outcome: Outcome,
    idle: Option<i64>,
) -> Verdict {
    Verdict {
        rule: Rule::AccessKeyUnused,
        user_name: user.to_owned(),
        user_arn: format!("arn:aws:iam::111111111111:user/{user}"),
        credential,
        access_key_id: (credential == CredentialKind::AccessKey)
            .then(|| format!("AKIA{}", user.to_uppercase())),
        key_slot: None,
        key_status: status,
        created: None,
        last_used: None,
        last_used_service: None,
        idle_since: None,
        idle_days: idle,
        outcome,
        exemption_unknown: None,
    }
}

fn active(user: &str, idle: i64) -> Verdict {
    verdict(
        user,
        CredentialKind::AccessKey,
        Some(KeyStatus::Active),
        Outcome::Unused,
        Some(idle),
    )
}

fn policy() -> RemediationPolicy {
    RemediationPolicy {
        deactivate_keys_after_days: Some(90),
        delete_inactive_keys_after_days: Some(180),
        delete_passwords_after_days: Some(120),
    }
}

fn planned(verdicts: &[Verdict], policy: &RemediationPolicy, exempt: &[&str]) -> Vec<String> {
    plan("111111111111", verdicts, policy, &|user| {
        exempt.contains(&user)
    })
    .iter()
    .map(|action| {
        format!(
            "{} {} {}",
            action.user_name,
            action.kind.as_str(),
            action.idle_days
        )
    })
    .collect()
}

#[test]
fn each_stage_acts_at_its_own_threshold_and_not_before() {
    let verdicts = [
        active("at-90", 90),
        active("at-89", 89),
        verdict(
            "old-inactive",
            CredentialKind::AccessKey,
            Some(KeyStatus::Inactive),
            Outcome::Inactive,
            Some(180),
        ),
        verdict(
            "young-inactive",
            CredentialKind::AccessKey,
            Some(KeyStatus::Inactive),
            Outcome::Inactive,
            Some(179),
        ),
        verdict(
            "pw-120",
            CredentialKind::Password,
            None,
            Outcome::Unused,
            Some(120),
        ),
        verdict(
            "pw-119",
            CredentialKind::Password,
            None,
            Outcome::Unused,
            Some(119),
        ),
    ];
    assert_eq!(
        planned(&verdicts, &policy(), &[]),
        [
            "at-90 deactivate_key 90",
            "old-inactive delete_inactive_key 180",
            "pw-120 delete_password 120"
        ]
    );
}

#[test]
fn stages_are_off_unless_set() {
    let verdicts = [
        active("key", 400),
        verdict(
            "pw",
            CredentialKind::Password,
            None,
            Outcome::Unused,
            Some(400),
        ),
    ];
    assert_eq!(
        planned(&verdicts, &RemediationPolicy::default(), &[]),
        Vec::<String>::new()
    );
    let only_keys = RemediationPolicy {
        deactivate_keys_after_days: Some(45),
        ..RemediationPolicy::default()
    };
    assert_eq!(
        planned(&verdicts, &only_keys, &[]),
        ["key deactivate_key 400"]
    );
}

#[test]
fn root_exempt_in_use_and_unknown_age_are_never_touched() {
    let mut root = verdict(
        "<root_account>",
        CredentialKind::RootAccessKey,
        Some(KeyStatus::Active),
        Outcome::Unused,
        Some(900),
    );
    root.rule = Rule::RootAccessKey;
    let verdicts = [
        root,
        verdict(
            "breakglass",
            CredentialKind::Password,
            None,
            Outcome::Exempt("pattern".to_owned()),
            Some(900),
        ),
        // An exempt user's inactive key: its verdict is not "exempt", the user is.
        verdict(
            "breakglass",
            CredentialKind::AccessKey,
            Some(KeyStatus::Inactive),
            Outcome::Inactive,
            Some(900),
        ),
        verdict(
            "busy",
            CredentialKind::AccessKey,
            Some(KeyStatus::Active),
            Outcome::InUse,
            Some(900),
        ),
        verdict(
            "mystery",
            CredentialKind::AccessKey,
            Some(KeyStatus::Active),
            Outcome::Unused,
            None,
        ),
    ];
    assert_eq!(
        planned(&verdicts, &policy(), &["breakglass"]),
        Vec::<String>::new()
    );
}

#[test]
fn reversible_changes_and_the_longest_idle_come_first_under_the_cap() {
    let mut actions = plan(
        "111111111111",
        &[
            verdict(
                "pw",
                CredentialKind::Password,
                None,
                Outcome::Unused,
                Some(900),
            ),
            active("young", 100),
            active("old", 300),
            verdict(
                "gone",
                CredentialKind::AccessKey,
                Some(KeyStatus::Inactive),
                Outcome::Inactive,
                Some(500),
            ),
        ],
        &policy(),
        &|_| false,
    );
    prioritize(&mut actions);
    let order: Vec<&str> = actions
        .iter()
        .map(|action| action.user_name.as_str())
        .collect();
    assert_eq!(order, ["old", "young", "pw", "gone"]);
    assert!(ActionKind::DeactivateKey.is_reversible());
    assert!(
        !ActionKind::DeletePassword.is_reversible()
            && !ActionKind::DeleteInactiveKey.is_reversible()
    );
}

#[test]
fn a_finding_whose_exemption_is_unknown_is_never_planned() {
    let mut unknown = active("hank", 200);
    unknown.exemption_unknown = Some("the user's tags could not be read".to_owned());
    let verdicts = [unknown, active("alice", 200)];
    assert_eq!(
        planned(&verdicts, &policy(), &[]),
        ["alice deactivate_key 200"]
    );
}
