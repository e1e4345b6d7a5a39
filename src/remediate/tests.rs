//! The plan is a pure function of the verdicts and the policy: tested at its edges.

use jiff::{SignedDuration, Timestamp};

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
        user_created: None,
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
        exempt_reason: None,
        exemption_unknown: None,
        owner: None,
        service: None,
        expires: None,
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
        deactivate_old_credentials_after_days: Some(90),
    }
}

fn now() -> Timestamp {
    "2026-11-28T10:00:00Z".parse().expect("valid")
}

/// The record of inactive keys a previous run left: each inactive verdict's key, inactive since
/// it went idle (so that the grace period equals its idle days).
fn recorded(verdicts: &[Verdict]) -> InactiveSince {
    InactiveSince::Known(
        verdicts
            .iter()
            .filter(|verdict| verdict.key_status == Some(KeyStatus::Inactive))
            .filter_map(|verdict| {
                let since = now() - SignedDuration::from_hours(24 * verdict.idle_days?);
                Some((verdict.access_key_id.clone()?, since))
            })
            .collect(),
    )
}

/// The planned changes, as `user action idle`; waiting deletions as `user waits: reason`.
fn planned(verdicts: &[Verdict], policy: &RemediationPolicy, exempt: &[&str]) -> Vec<String> {
    planned_with(verdicts, policy, exempt, &recorded(verdicts))
}

fn planned_with(
    verdicts: &[Verdict],
    policy: &RemediationPolicy,
    exempt: &[&str],
    inactive: &InactiveSince,
) -> Vec<String> {
    plan(
        "111111111111",
        verdicts,
        policy,
        &|user| exempt.contains(&user),
        inactive,
        now(),
    )
    .iter()
    .map(|planned| match &planned.state {
        ActionState::Waiting(wait) => {
            format!("{} waits: {}", planned.action.user_name, wait.reason)
        }
        _ => format!(
            "{} {} {}",
            planned.action.user_name,
            planned.action.kind.as_str(),
            planned.action.idle_days
        ),
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
            "young-inactive waits: inactive since 2026-06-02: deletable from 2026-11-29 (180 days inactive)",
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
            Outcome::Exempt,
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
    let verdicts = [
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
    ];
    let mut actions: Vec<Action> = plan(
        "111111111111",
        &verdicts,
        &policy(),
        &|_| false,
        &recorded(&verdicts),
        now(),
    )
    .into_iter()
    .map(|planned| planned.action)
    .collect();
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

/// Issue 9: the grace period used to be measured from the key's last use, so a key idle for
/// 200 days that stalecreds deactivated today was deleted tomorrow.
#[test]
fn an_inactive_key_is_deleted_only_after_its_grace_period_counted_from_when_it_became_inactive() {
    let idle_200 = verdict(
        "dave",
        CredentialKind::AccessKey,
        Some(KeyStatus::Inactive),
        Outcome::Inactive,
        Some(200),
    );
    let verdicts = [idle_200];
    let since = |days: i64| now() - SignedDuration::from_hours(24 * days);
    let record = |days: i64| InactiveSince::Known([("AKIADAVE".to_owned(), since(days))].into());
    // Deactivated yesterday (by stalecreds, or seen so): 179 of 180 days to wait.
    assert_eq!(
        planned_with(&verdicts, &policy(), &[], &record(1)),
        ["dave waits: inactive since 2026-11-27: deletable from 2027-05-26 (180 days inactive)"]
    );
    // First seen inactive by this run: its grace period starts today.
    assert_eq!(
        planned_with(
            &verdicts,
            &policy(),
            &[],
            &InactiveSince::Known(BTreeMap::new())
        ),
        ["dave waits: inactive since 2026-11-28: deletable from 2027-05-27 (180 days inactive)"]
    );
    // 180 days inactive: deleted. 179: not yet.
    assert_eq!(
        planned_with(&verdicts, &policy(), &[], &record(180)),
        ["dave delete_inactive_key 200"]
    );
    assert_eq!(
        planned_with(&verdicts, &policy(), &[], &record(179)).len(),
        1
    );
    assert!(planned_with(&verdicts, &policy(), &[], &record(179))[0].contains("waits"));
    // The record cannot be read: nothing is deleted.
    let unreadable = InactiveSince::Unreadable("GetObject: AccessDenied".to_owned());
    assert_eq!(
        planned_with(&verdicts, &policy(), &[], &unreadable),
        [
            "dave waits: when this key became inactive could not be read (GetObject: AccessDenied): nothing is deleted"
        ]
    );
}

/// The credentials AWS records no use for: an active finding old enough for the stage is
/// deactivated (reversibly), with its kind; inactive ones, young ones and exempt users are not.
#[test]
fn old_ssh_keys_service_credentials_and_certificates_are_deactivated_by_their_own_stage() {
    let other = |user: &str, credential: CredentialKind, status: KeyStatus, outcome, idle| {
        let mut verdict = verdict(user, credential, Some(status), outcome, Some(idle));
        verdict.rule = crate::rules::Rule::of(credential);
        verdict.access_key_id = Some(format!("ID{}", user.to_uppercase()));
        verdict
    };
    use CredentialKind::{BedrockApiKey, ServiceCredential, SigningCertificate, SshKey};
    use KeyStatus::{Active, Inactive};
    let verdicts: Vec<Verdict> = [
        ("sam", SshKey, Active, Outcome::Unused, 400),
        ("bea", BedrockApiKey, Active, Outcome::Unused, 95),
        ("cid", SigningCertificate, Active, Outcome::Unused, 89),
        ("ida", ServiceCredential, Inactive, Outcome::Inactive, 900),
        ("exe", SshKey, Active, Outcome::Unused, 900),
    ]
    .into_iter()
    .map(|(user, credential, status, outcome, idle)| other(user, credential, status, outcome, idle))
    .collect();
    assert_eq!(
        planned(&verdicts, &policy(), &["exe"]),
        [
            "sam deactivate_ssh_key 400",
            "bea deactivate_service_credential 95",
        ]
    );
    let none = &|_: &str| false;
    let actions = plan("1", &verdicts, &policy(), none, &recorded(&verdicts), now());
    let bedrock = &actions[1].action;
    assert_eq!(bedrock.credential, Some(CredentialKind::BedrockApiKey));
    assert!(
        actions
            .iter()
            .all(|planned| planned.action.kind.is_reversible())
    );
    let off = RemediationPolicy {
        deactivate_old_credentials_after_days: None,
        ..policy()
    };
    assert!(planned(&verdicts, &off, &[]).is_empty());
}
