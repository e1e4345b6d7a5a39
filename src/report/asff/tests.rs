//! The ASFF mapping: stable IDs, the importing account, controls by idle age, resources, and
//! resolved findings archived.

use super::*;
use crate::digest::tests::small_organization_compared;

fn target() -> Target {
    Target {
        account_id: "123456789012".to_owned(),
        region: "eu-west-1".to_owned(),
    }
}

fn by_user<'a>(findings: &'a [AsffFinding], user: &str) -> &'a AsffFinding {
    findings
        .iter()
        .find(|finding| finding.title.contains(&format!(": {user} ")))
        .unwrap_or_else(|| panic!("{user}"))
}

#[test]
fn every_finding_is_the_importing_accounts_and_names_the_member_account() {
    let report = small_organization_compared();
    let findings = findings(&report, &target());
    assert_eq!(
        findings.len(),
        report.findings.len() + report.resolved.len()
    );
    for finding in &findings {
        assert_eq!(finding.aws_account_id, "123456789012");
        assert_eq!(
            finding.product_arn,
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
        );
        let member = &finding.product_fields["stalecreds/AccountId"];
        assert_ne!(member, "123456789012");
        assert!(
            finding.resources.iter().any(|resource| resource.id.contains(member.as_str())
                || matches!(&resource.details, Some(Details::AwsIamAccessKey(key)) if &key.account_id == member)),
            "the member account is in a resource: {finding:?}"
        );
    }
    let alice = by_user(&findings, "alice");
    assert_eq!(
        alice.id,
        format!("stalecreds/{}", report.findings[0].finding_id)
    );
    assert_eq!(
        alice.id,
        id(&report.findings[0].finding_id),
        "stable: the finding's identity"
    );
}

#[test]
fn iam_8_only_from_90_days_and_cis_in_every_version() {
    let report = small_organization_compared();
    let findings = findings(&report, &target());
    let requirements = |user: &str| {
        by_user(&findings, user)
            .compliance
            .related_requirements
            .clone()
    };
    // dan: 60 days; alice: 100 days; bob: 90 days.
    assert_eq!(
        requirements("dan"),
        [
            "CIS AWS Foundations Benchmark v3.0.0 1.12",
            "CIS AWS Foundations Benchmark v5.0.0 1.11",
            "AWS Security Hub CSPM IAM.22"
        ]
    );
    assert_eq!(
        requirements("alice"),
        [
            "CIS AWS Foundations Benchmark v3.0.0 1.12",
            "CIS AWS Foundations Benchmark v5.0.0 1.11",
            "AWS Security Hub CSPM IAM.22",
            "AWS Security Hub CSPM IAM.8"
        ]
    );
    assert!(requirements("bob").contains(&"AWS Security Hub CSPM IAM.8".to_owned()));
    assert_eq!(
        requirements("<root_account>"),
        [
            "CIS AWS Foundations Benchmark v3.0.0 1.4",
            "CIS AWS Foundations Benchmark v5.0.0 1.3",
            "AWS Security Hub CSPM IAM.4"
        ]
    );
    let alice = by_user(&findings, "alice");
    assert_eq!(
        (alice.compliance.status, alice.record_state),
        ("FAILED", "ACTIVE")
    );
    assert_eq!(alice.finding_provider_fields.severity.label, "MEDIUM");
    assert_eq!(
        by_user(&findings, "<root_account>")
            .finding_provider_fields
            .severity
            .label,
        "CRITICAL"
    );
}

#[test]
fn a_key_is_an_access_key_resource_and_its_user_a_password_is_its_user() {
    let report = small_organization_compared();
    let findings = findings(&report, &target());
    let alice = by_user(&findings, "alice");
    let kinds: Vec<&str> = alice
        .resources
        .iter()
        .map(|resource| resource.kind)
        .collect();
    assert_eq!(kinds, ["AwsIamAccessKey", "AwsIamUser"]);
    assert_eq!(alice.resources[0].id, "AKIAALICE2");
    assert_eq!(
        alice.resources[1].id,
        "arn:aws:iam::111111111111:user/alice"
    );
    let bob = by_user(&findings, "bob");
    let kinds: Vec<&str> = bob.resources.iter().map(|resource| resource.kind).collect();
    assert_eq!(kinds, ["AwsIamUser"]);
    let root = by_user(&findings, "<root_account>");
    assert_eq!(root.resources[0].kind, "AwsAccount");
    assert_eq!(root.resources[0].id, "AWS::::Account:222222222222");
}

#[test]
fn a_resolved_finding_is_archived_and_passed_under_the_same_id() {
    let report = small_organization_compared();
    let findings = findings(&report, &target());
    let frank = by_user(&findings, "frank");
    assert_eq!(frank.id, id(&report.resolved[0].finding_id));
    assert_eq!(
        (frank.compliance.status, frank.record_state),
        ("PASSED", "ARCHIVED")
    );
    assert_eq!(
        frank.finding_provider_fields.severity.label,
        "INFORMATIONAL"
    );
    assert_eq!(frank.product_fields["stalecreds/Resolved"], "used again");
    assert_eq!(frank.resources[0].id, "AKIAFRANK");
    assert_eq!(
        frank.resources[1].id,
        "arn:aws:iam::111111111111:user/frank"
    );
    assert_eq!(frank.created_at, time(report.resolved[0].first_seen));
    assert_eq!(frank.updated_at, time(report.generated_at));
}

#[test]
fn times_are_iso_8601_with_milliseconds_and_partitions_follow_the_region() {
    let at: Timestamp = "2026-11-28T10:00:05Z".parse().expect("valid");
    assert_eq!(time(at), "2026-11-28T10:00:05.000Z");
    let china = Target {
        account_id: "123456789012".to_owned(),
        region: "cn-north-1".to_owned(),
    };
    assert_eq!(
        china.product_arn(),
        "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    );
    assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
}

#[test]
fn long_texts_are_cut_to_what_asff_takes() {
    let mut report = small_organization_compared();
    report.findings[0].user_name = "u".repeat(300);
    let findings = findings(&report, &target());
    assert!(
        findings
            .iter()
            .all(|finding| finding.title.chars().count() <= TITLE_MAX)
    );
    assert!(
        findings
            .iter()
            .all(|finding| finding.description.chars().count() <= DESCRIPTION_MAX)
    );
}
