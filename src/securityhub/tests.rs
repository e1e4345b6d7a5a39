//! The import: 100 findings a call, refusals reported per finding, a failed call stops it, and
//! throttling is retried.

use std::time::Duration;

use aws_sdk_securityhub::operation::batch_import_findings::{
    BatchImportFindingsError, BatchImportFindingsOutput,
};
use aws_sdk_securityhub::types::ImportFindingsError;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;

use super::*;
use crate::aws::retry_config;
use crate::digest::tests::small_organization_compared;
use crate::report::asff::{self, Target};

/// Imports `findings`, 100 a call, paced.
async fn import(client: &aws_sdk_securityhub::Client, findings: &[AsffFinding]) -> Imported {
    import_all(client, findings.iter().map(to_sdk).collect()).await
}

/// `count` findings: the small organization's, again and again under new IDs.
fn many(count: usize) -> Vec<AsffFinding> {
    let target = Target {
        account_id: "123456789012".to_owned(),
        region: "us-east-1".to_owned(),
    };
    let base = asff::findings(&small_organization_compared(), &target);
    (0..count)
        .map(|n| {
            let mut finding = base[n % base.len()].clone();
            finding.id = format!("stalecreds/test/{n}");
            finding
        })
        .collect()
}

fn ok_output(count: usize) -> BatchImportFindingsOutput {
    BatchImportFindingsOutput::builder()
        .success_count(i32::try_from(count).unwrap_or(i32::MAX))
        .failed_count(0)
        .build()
}

fn quick(config: aws_sdk_securityhub::config::Builder) -> aws_sdk_securityhub::config::Builder {
    config.retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
}

#[tokio::test]
async fn two_hundred_fifty_findings_go_in_three_calls_of_at_most_one_hundred() {
    let full = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(|request| request.findings().len() == 100)
        .then_output(|| ok_output(100));
    let rest = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(|request| request.findings().len() == 50)
        .then_output(|| ok_output(50));
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&full, &rest]);
    let imported = import(&client, &many(250)).await;
    assert_eq!((full.num_calls(), rest.num_calls()), (2, 1));
    assert_eq!(imported.succeeded, 250);
    assert_eq!(imported.calls, 3);
    assert!(imported.is_complete(), "{imported:?}");
}

#[tokio::test]
async fn refused_findings_are_reported_one_by_one() {
    let partly = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(|| {
        BatchImportFindingsOutput::builder()
            .success_count(2)
            .failed_count(1)
            .failed_findings(
                ImportFindingsError::builder()
                    .id("stalecreds/test/1")
                    .error_code("InvalidInput")
                    .error_message("Finding does not adhere to ASFF")
                    .build(),
            )
            .build()
    });
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&partly]);
    let imported = import(&client, &many(3)).await;
    assert_eq!(imported.succeeded, 2);
    assert_eq!(
        imported.failed,
        [Refused {
            id: "stalecreds/test/1".to_owned(),
            code: "InvalidInput".to_owned(),
            message: "Finding does not adhere to ASFF".to_owned(),
        }]
    );
    assert!(!imported.is_complete());
    assert!(
        imported
            .describe()
            .contains("refused stalecreds/test/1: InvalidInput Finding does not adhere to ASFF"),
        "{}",
        imported.describe()
    );
}

#[tokio::test]
async fn a_call_refused_as_a_whole_stops_the_import_and_counts_what_was_not_sent() {
    let denied = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_error(|| {
        BatchImportFindingsError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: securityhub:BatchImportFindings")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&denied], quick);
    let imported = import(&client, &many(230)).await;
    assert_eq!(imported.calls, 1, "no second call after a refusal");
    assert_eq!((imported.succeeded, imported.not_sent), (0, 230));
    let error = imported.error.as_ref().expect("the error");
    assert_eq!(error.code, "AccessDeniedException");
    assert!(
        imported
            .describe()
            .contains("stopped by BatchImportFindings: AccessDeniedException")
    );
}

#[tokio::test]
async fn throttling_is_retried() {
    let throttled = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .sequence()
        .error(|| {
            BatchImportFindingsError::generic(
                ErrorMetadata::builder()
                    .code("TooManyRequestsException")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .times(2)
        .output(|| ok_output(3))
        .build();
    let client = mock_client!(
        aws_sdk_securityhub,
        RuleMode::Sequential,
        [&throttled],
        quick
    );
    let imported = import(&client, &many(3)).await;
    assert_eq!(throttled.num_calls(), 3);
    assert_eq!(imported.succeeded, 3);
    assert!(imported.is_complete(), "{imported:?}");
}

/// What the hub holds: one ACTIVE finding per `Id`, as stalecreds imported it.
fn held(ids: &[&str]) -> Vec<sdk::AwsSecurityFinding> {
    let target = Target {
        account_id: "123456789012".to_owned(),
        region: "us-east-1".to_owned(),
    };
    let template = to_sdk(&asff::findings(&small_organization_compared(), &target)[0]);
    ids.iter()
        .map(|id| {
            let mut finding = template.clone();
            finding.id = Some((*id).to_owned());
            finding
        })
        .collect()
}

#[test]
fn the_hub_findings_no_longer_open_are_archived_and_no_others() {
    let report = small_organization_compared();
    let open = asff::id(&report.findings[0].finding_id);
    let resolved = asff::id(&report.resolved[0].finding_id);
    let hub = held(&[
        // Today's own open and resolved findings: left to the run's import.
        &open,
        &resolved,
        // Of prod (111…, scanned completely) and not open today: an archiving that failed.
        "stalecreds/111111111111/zoe@2020-01-01T00:00:00Z/password",
        // Of dev (333…, a user unread) and of sandbox (444…, failed): nothing is known today.
        "stalecreds/333333333333/eve@2020-01-01T00:00:00Z/password",
        "stalecreds/444444444444/zed@2020-01-01T00:00:00Z/password",
        // Of an account not in today's report: gone from the organization, when it was listed.
        "stalecreds/999999999999/old@2020-01-01T00:00:00Z/password",
    ]);
    let ids = |archived: &[sdk::AwsSecurityFinding]| -> Vec<String> {
        archived
            .iter()
            .map(|finding| finding.id().unwrap_or_default().to_owned())
            .collect()
    };
    let archived = stale(&report, &hub, true);
    assert_eq!(
        ids(&archived),
        [
            "stalecreds/111111111111/zoe@2020-01-01T00:00:00Z/password",
            "stalecreds/999999999999/old@2020-01-01T00:00:00Z/password",
        ]
    );
    for finding in &archived {
        assert_eq!(finding.record_state(), Some(&sdk::RecordState::Archived));
        assert_eq!(
            finding.compliance().and_then(|c| c.status()),
            Some(&sdk::ComplianceStatus::Passed)
        );
        assert!(
            finding
                .title()
                .is_some_and(|title| title.ends_with("(resolved)"))
        );
        assert!(
            finding
                .product_fields()
                .is_some_and(|fields| fields.contains_key("stalecreds/Resolved"))
        );
    }
    // A run over part of the organization (`--account`, OUs) says nothing of the others.
    assert_eq!(
        ids(&stale(&report, &hub, false)),
        ["stalecreds/111111111111/zoe@2020-01-01T00:00:00Z/password"]
    );
}
