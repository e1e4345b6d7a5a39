//! Table-driven tests of the rules at their boundaries. Every test goes through [`check`], which
//! renders each verdict as one line, so the tests survive changes to the types.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::inventory::{AccessKey, Inventory, KeyStatus, Password, RootCredentials, Tags, User};

const DAY: i64 = 24 * 60 * 60;

fn now() -> Timestamp {
    "2026-11-28T10:00:00.250Z".parse().expect("valid timestamp")
}

/// The instant `seconds` before [`now`].
fn ago(seconds: i64) -> Option<Timestamp> {
    Some(now() - SignedDuration::from_secs(seconds))
}

fn key(
    id: &str,
    status: KeyStatus,
    created: Option<Timestamp>,
    used: Option<Timestamp>,
) -> AccessKey {
    AccessKey {
        id: Some(id.to_owned()),
        slot: None,
        status,
        created,
        last_used: used,
        last_used_service: None,
        live: false,
    }
}

fn user(name: &str, password: Option<Password>, keys: Vec<AccessKey>) -> User {
    User {
        name: name.to_owned(),
        arn: format!("arn:aws:iam::111111111111:user/{name}"),
        created: None,
        password,
        access_keys: keys,
        others: Vec::new(),
        tags: Tags::NotRead,
    }
}

fn password(set_at: Option<Timestamp>, used: Option<Timestamp>) -> Option<Password> {
    Some(Password {
        set_at,
        last_used: used,
    })
}

fn policy(days: u32) -> Policy {
    Policy {
        max_idle_days: days,
        exemptions: Vec::new(),
        owner_tags: Vec::new(),
        ..Policy::default()
    }
}

/// Evaluates and renders each verdict as `user kind[ id]: outcome idle`.
fn check_with(inventory: Inventory, policy: &Policy, at: Timestamp, expect: &[&str]) {
    let lines: Vec<String> = evaluate(&inventory, policy, at)
        .iter()
        .map(|verdict| {
            let id = verdict
                .access_key_id
                .as_deref()
                .map(|id| format!(" {id}"))
                .unwrap_or_default();
            let outcome = match &verdict.outcome {
                Outcome::Unused => "unused".to_owned(),
                Outcome::InUse => "in-use".to_owned(),
                Outcome::Inactive => "inactive".to_owned(),
                Outcome::Exempt => format!(
                    "exempt({})",
                    verdict.exempt_reason.as_deref().unwrap_or_default()
                ),
            };
            let outcome = match &verdict.exemption_unknown {
                Some(why) => format!("{outcome}, exemption unknown({why})"),
                None => outcome,
            };
            let idle = verdict
                .idle_days
                .map_or_else(|| "?".to_owned(), |days| format!("{days}d"));
            format!(
                "{} {}{id}: {outcome} {idle}",
                verdict.user_name,
                verdict.credential.as_str()
            )
        })
        .collect();
    assert_eq!(lines, expect);
}

fn check(users: Vec<User>, expect: &[&str]) {
    let inventory = Inventory {
        users,
        ..Inventory::default()
    };
    check_with(inventory, &policy(45), now(), expect);
}

#[test]
fn threshold_is_inclusive_at_45_days() {
    check(
        vec![
            user(
                "exactly45",
                None,
                vec![key("K1", KeyStatus::Active, ago(400 * DAY), ago(45 * DAY))],
            ),
            user(
                "almost45",
                None,
                vec![key(
                    "K2",
                    KeyStatus::Active,
                    ago(400 * DAY),
                    ago(45 * DAY - 1),
                )],
            ),
            user("pw45", password(ago(45 * DAY), None), vec![]),
            user("pw44", password(ago(45 * DAY - 1), None), vec![]),
        ],
        &[
            "exactly45 access_key K1: unused 45d",
            "almost45 access_key K2: in-use 44d",
            "pw45 password: unused 45d",
            "pw44 password: in-use 44d",
        ],
    );
}

#[test]
fn idle_days_are_whole_days_even_with_fractions_of_a_second() {
    let now = now();
    let since = now - SignedDuration::from_secs(45 * DAY) + SignedDuration::from_nanos(1);
    assert_eq!(idle_days(since, now), 44);
    assert_eq!(
        idle_days(now - SignedDuration::from_secs(45 * DAY), now),
        45
    );
    // A date in the future (clock skew) counts as zero days, not a negative age.
    assert_eq!(idle_days(now + SignedDuration::from_secs(3 * DAY), now), 0);
}

#[test]
fn a_key_used_yesterday_is_in_use_however_old_it_is() {
    // Origin defect 1: the recipe aged every key from its creation.
    check(
        vec![user(
            "alice",
            None,
            vec![key("K1", KeyStatus::Active, ago(365 * DAY), ago(DAY))],
        )],
        &["alice access_key K1: in-use 1d"],
    );
}

#[test]
fn a_key_never_used_is_aged_from_its_creation() {
    check(
        vec![
            user(
                "old",
                None,
                vec![key("K1", KeyStatus::Active, ago(100 * DAY), None)],
            ),
            user(
                "new",
                None,
                vec![key("K2", KeyStatus::Active, ago(10 * DAY), None)],
            ),
        ],
        &[
            "old access_key K1: unused 100d",
            "new access_key K2: in-use 10d",
        ],
    );
}

#[test]
fn each_of_two_keys_is_judged_on_its_own_dates() {
    // Origin defect 2: the recipe gave the second key the first key's creation date.
    check(
        vec![user(
            "bob",
            None,
            vec![
                key("K1", KeyStatus::Active, ago(400 * DAY), ago(2 * DAY)),
                key("K2", KeyStatus::Active, ago(50 * DAY), None),
            ],
        )],
        &[
            "bob access_key K1: in-use 2d",
            "bob access_key K2: unused 50d",
        ],
    );
}

#[test]
fn inactive_keys_are_information_not_findings() {
    // Origin defect 5: inactive keys were treated like active ones.
    let inventory = Inventory {
        users: vec![user(
            "carol",
            None,
            vec![key("K1", KeyStatus::Inactive, ago(300 * DAY), None)],
        )],
        ..Inventory::default()
    };
    let verdicts = evaluate(&inventory, &policy(45), now());
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].outcome, Outcome::Inactive);
    assert!(!verdicts[0].is_finding());
}

#[test]
fn passwords_are_checked_and_aged_from_when_they_were_set() {
    // Origin defect 6: passwords were promised and never checked.
    check(
        vec![
            user("never-signed-in", password(ago(60 * DAY), None), vec![]),
            user(
                "signed-in-lately",
                password(ago(600 * DAY), ago(3 * DAY)),
                vec![],
            ),
            user(
                "reset-recently",
                password(ago(5 * DAY), ago(200 * DAY)),
                vec![],
            ),
            user("idle", password(ago(600 * DAY), ago(90 * DAY)), vec![]),
        ],
        &[
            "never-signed-in password: unused 60d",
            "signed-in-lately password: in-use 3d",
            "reset-recently password: in-use 5d",
            "idle password: unused 90d",
        ],
    );
}

#[test]
fn no_login_profile_means_no_password_whatever_password_last_used_says() {
    // PasswordLastUsed survives a deleted password: it is not in the inventory at all, so a user
    // without a login profile has no password verdict.
    check(vec![user("deleted-password", None, vec![])], &[]);
}

#[test]
fn a_credential_of_unknown_age_is_reported_as_unused() {
    check(
        vec![
            user(
                "mystery",
                None,
                vec![key("K1", KeyStatus::Active, None, None)],
            ),
            user("mystery-pw", password(None, None), vec![]),
        ],
        &[
            "mystery access_key K1: unused ?",
            "mystery-pw password: unused ?",
        ],
    );
}

#[test]
fn the_threshold_comes_from_the_policy() {
    let inventory = Inventory {
        users: vec![user(
            "dave",
            None,
            vec![key("K1", KeyStatus::Active, ago(400 * DAY), ago(20 * DAY))],
        )],
        ..Inventory::default()
    };
    check_with(
        inventory.clone(),
        &policy(20),
        now(),
        &["dave access_key K1: unused 20d"],
    );
    check_with(
        inventory.clone(),
        &policy(21),
        now(),
        &["dave access_key K1: in-use 20d"],
    );
    check_with(
        inventory,
        &policy(1),
        now(),
        &["dave access_key K1: unused 20d"],
    );
}

#[test]
fn now_is_a_parameter_so_the_same_inventory_ages_with_it() {
    // Origin defect 3: `now` computed once at module load goes stale in a warm container.
    let inventory = Inventory {
        users: vec![user(
            "erin",
            None,
            vec![key("K1", KeyStatus::Active, ago(44 * DAY), None)],
        )],
        ..Inventory::default()
    };
    check_with(
        inventory.clone(),
        &policy(45),
        now(),
        &["erin access_key K1: in-use 44d"],
    );
    let tomorrow = now() + SignedDuration::from_secs(DAY);
    check_with(
        inventory,
        &policy(45),
        tomorrow,
        &["erin access_key K1: unused 45d"],
    );
}

#[test]
fn root_access_keys_are_always_findings() {
    let root_key = |status, used| AccessKey {
        id: None,
        slot: Some(1),
        status,
        created: ago(500 * DAY),
        last_used: used,
        last_used_service: None,
        live: false,
    };
    let arn = "arn:aws:iam::111111111111:root".to_owned();
    let with_root = |root| Inventory {
        root,
        ..Inventory::default()
    };
    check_with(
        with_root(RootCredentials::Keys {
            arn: arn.clone(),
            keys: vec![
                root_key(KeyStatus::Active, ago(DAY)),
                root_key(KeyStatus::Inactive, None),
            ],
        }),
        &policy(45),
        now(),
        &[
            "<root_account> root_access_key: unused 1d",
            "<root_account> root_access_key: unused 500d",
        ],
    );
    check_with(
        with_root(RootCredentials::KeysPresent { arn }),
        &policy(45),
        now(),
        &["<root_account> root_access_key: unused ?"],
    );
    check_with(with_root(RootCredentials::NoKeys), &policy(45), now(), &[]);
    check_with(with_root(RootCredentials::Unknown), &policy(45), now(), &[]);
}

#[test]
fn exempt_users_are_reported_but_not_findings() {
    let inventory = Inventory {
        users: vec![
            user(
                "breakglass-admin",
                password(ago(200 * DAY), None),
                vec![key("K1", KeyStatus::Active, ago(100 * DAY), ago(DAY))],
            ),
            user("breakglass", password(ago(200 * DAY), None), vec![]),
        ],
        ..Inventory::default()
    };
    let policy = Policy {
        max_idle_days: 45,
        exemptions: vec![Exemption::UserName("breakglass-*".to_owned())],
        ..policy(45)
    };
    check_with(
        inventory,
        &policy,
        now(),
        &[
            "breakglass-admin password: exempt(user name matches `breakglass-*`) 200d",
            "breakglass-admin access_key K1: in-use 1d",
            "breakglass password: unused 200d",
        ],
    );
}

fn tagged(name: &str, tags: Tags) -> User {
    User {
        tags,
        ..user(name, password(ago(200 * DAY), None), vec![])
    }
}

#[test]
fn names_and_tag_keys_match_whatever_their_case_and_tag_values_exactly() {
    let inventory = Inventory {
        users: vec![
            user("BreakGlass-Admin", password(ago(200 * DAY), None), vec![]),
            tagged(
                "ops",
                Tags::Read(vec![("StaleCreds:Exempt".to_owned(), "true".to_owned())]),
            ),
            tagged(
                "dev",
                Tags::Read(vec![("stalecreds:exempt".to_owned(), "True".to_owned())]),
            ),
        ],
        ..Inventory::default()
    };
    let policy = Policy {
        max_idle_days: 45,
        exemptions: vec![
            Exemption::UserName("breakglass-*".to_owned()),
            Exemption::Tag {
                key: "stalecreds:exempt".to_owned(),
                value: "true".to_owned(),
            },
        ],
        ..policy(45)
    };
    check_with(
        inventory,
        &policy,
        now(),
        &[
            "BreakGlass-Admin password: exempt(user name matches `breakglass-*`) 200d",
            "ops password: exempt(tagged `stalecreds:exempt=true`) 200d",
            "dev password: unused 200d",
        ],
    );
}

#[test]
fn tags_that_could_not_be_read_leave_the_exemption_unknown_and_the_finding_in_place() {
    let inventory = Inventory {
        users: vec![
            tagged(
                "hank",
                Tags::Unreadable("ListUserTags: AccessDenied: denied by an SCP".to_owned()),
            ),
            tagged("ivan", Tags::NotRead),
            // A name pattern decides alone: no tag is needed to know this user is exempt.
            tagged("breakglass-1", Tags::Unreadable("throttled".to_owned())),
        ],
        ..Inventory::default()
    };
    let policy = Policy {
        max_idle_days: 45,
        exemptions: vec![
            Exemption::UserName("breakglass-*".to_owned()),
            Exemption::Tag {
                key: "stalecreds:exempt".to_owned(),
                value: "true".to_owned(),
            },
        ],
        ..policy(45)
    };
    check_with(
        inventory,
        &policy,
        now(),
        &[
            "hank password: unused, exemption unknown(the user's tags could not be read (ListUserTags: AccessDenied: denied by an SCP)) 200d",
            "ivan password: unused, exemption unknown(the user's tags were not read) 200d",
            "breakglass-1 password: exempt(user name matches `breakglass-*`) 200d",
        ],
    );
    // Without a tag exemption, tags do not matter.
    let by_name = Policy {
        max_idle_days: 45,
        exemptions: vec![Exemption::UserName("breakglass-*".to_owned())],
        ..Policy::default()
    };
    let unread = tagged("ivan", Tags::Unreadable("denied".to_owned()));
    assert_eq!(by_name.exemption_for(&unread), ExemptionStatus::NotExempt);
    assert!(policy.exemption_for(&unread).protects());
}

#[test]
fn glob_patterns_match_whole_names() {
    let cases = [
        ("breakglass-*", "breakglass-admin", true),
        ("breakglass-*", "xbreakglass-admin", false),
        ("*-emergency", "ops-emergency", true),
        ("*-emergency", "ops-emergency-2", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "acb", false),
        ("ab*ab", "ab", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("*", "anything", true),
    ];
    for (pattern, text, expected) in cases {
        assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
    }
}

#[test]
fn rule_codes_are_unique_and_kebab_case() {
    let mut codes: Vec<&str> = Rule::ALL.iter().map(|rule| rule.code()).collect();
    assert!(
        codes
            .iter()
            .all(|code| code.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    );
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Rule::ALL.len());
}

/// Issue 11: the owner is the first configured tag key the user has, whatever its case; none
/// when the tags were not read.
#[test]
fn the_owner_is_the_first_owner_tag_the_user_has() {
    let policy = Policy {
        owner_tags: vec!["owner".to_owned(), "team".to_owned()],
        ..policy(45)
    };
    assert!(policy.needs_tags(), "owners are read from tags");
    let both = tagged(
        "alice",
        Tags::Read(vec![
            ("Team".to_owned(), "payments".to_owned()),
            ("Owner".to_owned(), "alice@example.com".to_owned()),
        ]),
    );
    assert_eq!(
        policy.owner_of(&both),
        Some(Owner {
            tag: "Owner".to_owned(),
            value: "alice@example.com".to_owned()
        }),
        "`owner` comes first in the configuration"
    );
    let team = tagged(
        "bob",
        Tags::Read(vec![
            ("owner".to_owned(), " ".to_owned()),
            ("TEAM".to_owned(), "data".to_owned()),
        ]),
    );
    assert_eq!(
        policy.owner_of(&team).map(|owner| owner.value),
        Some("data".to_owned()),
        "a blank value names nobody"
    );
    assert_eq!(policy.owner_of(&tagged("carol", Tags::NotRead)), None);
    assert_eq!(
        policy.owner_of(&tagged("dan", Tags::Unreadable("denied".to_owned()))),
        None
    );
    let verdicts = evaluate(
        &Inventory {
            users: vec![both],
            ..Inventory::default()
        },
        &policy,
        now(),
    );
    assert!(verdicts.iter().all(|verdict| {
        verdict
            .owner
            .as_ref()
            .is_some_and(|owner| owner.tag == "Owner")
    }));
}

/// A long-lived credential of `kind` with these dates.
fn other(
    kind: CredentialKind,
    id: &str,
    status: KeyStatus,
    created: Option<Timestamp>,
    expires: Option<Timestamp>,
) -> crate::inventory::OtherCredential {
    crate::inventory::OtherCredential {
        kind,
        id: Some(id.to_owned()),
        slot: None,
        status,
        created,
        service: None,
        expires,
    }
}

/// Every kind's limit on (90 days; Bedrock keys 30, lifetime 90).
fn aged() -> Policy {
    Policy {
        ages: CredentialAges {
            ssh_key_days: 90,
            service_credential_days: 90,
            bedrock_api_key_days: 30,
            bedrock_api_key_lifetime_days: 90,
            signing_certificate_days: 90,
        },
        ..policy(45)
    }
}

fn with_others(others: Vec<crate::inventory::OtherCredential>) -> Inventory {
    let mut holder = user("olga", None, vec![]);
    holder.others = others;
    Inventory {
        users: vec![holder],
        ..Inventory::default()
    }
}

#[test]
fn credentials_without_a_last_use_are_judged_by_age_at_their_limit() {
    use CredentialKind::{ServiceCredential, SigningCertificate, SshKey};
    let others = vec![
        other(SshKey, "SSH90", KeyStatus::Active, ago(90 * DAY), None),
        other(SshKey, "SSH89", KeyStatus::Active, ago(90 * DAY - 1), None),
        other(SshKey, "SSHEXP", KeyStatus::Expired, ago(900 * DAY), None),
        other(
            ServiceCredential,
            "SC",
            KeyStatus::Active,
            ago(91 * DAY),
            None,
        ),
        other(
            ServiceCredential,
            "SCOFF",
            KeyStatus::Inactive,
            ago(900 * DAY),
            None,
        ),
        other(SigningCertificate, "CERT", KeyStatus::Active, None, None),
    ];
    check_with(
        with_others(others),
        &aged(),
        now(),
        &[
            "olga ssh_key SSH90: unused 90d",
            "olga ssh_key SSH89: in-use 89d",
            "olga ssh_key SSHEXP: inactive 900d",
            "olga service_credential SC: unused 91d",
            "olga service_credential SCOFF: inactive 900d",
            "olga signing_certificate CERT: unused ?",
        ],
    );
}

#[test]
fn a_bedrock_key_is_a_finding_old_or_unbounded_and_information_once_expired() {
    let bedrock = |id: &str, created: i64, expires: Option<Option<Timestamp>>| {
        let expires = expires.unwrap_or_else(|| ago(created * DAY - 30 * DAY));
        other(
            CredentialKind::BedrockApiKey,
            id,
            KeyStatus::Active,
            ago(created * DAY),
            expires,
        )
    };
    let later = |days: i64| Some(now() + SignedDuration::from_hours(24 * days));
    let others = vec![
        // Ten days old, expiring in twenty: bounded and young.
        bedrock("YOUNG", 10, Some(later(20))),
        // Ten days old, never expiring.
        bedrock("FOREVER", 10, Some(None)),
        // Ten days old, expiring 355 days after its creation: beyond the 90-day lifetime.
        bedrock("LONG", 10, Some(later(345))),
        // Thirty days old, expiring in a week: old enough.
        bedrock("OLD", 30, Some(later(7))),
        // Past its expiration: it cannot be used.
        bedrock("GONE", 100, Some(ago(DAY))),
    ];
    check_with(
        with_others(others),
        &aged(),
        now(),
        &[
            "olga bedrock_api_key YOUNG: in-use 10d",
            "olga bedrock_api_key FOREVER: unused 10d",
            "olga bedrock_api_key LONG: unused 10d",
            "olga bedrock_api_key OLD: unused 30d",
            "olga bedrock_api_key GONE: inactive 100d",
        ],
    );
}

#[test]
fn a_kind_whose_limit_is_zero_is_not_judged() {
    let others = vec![other(
        CredentialKind::SshKey,
        "SSH",
        KeyStatus::Active,
        ago(900 * DAY),
        None,
    )];
    check_with(with_others(others), &policy(45), now(), &[]);
}
