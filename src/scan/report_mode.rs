//! Report mode: GenerateCredentialReport, then GetCredentialReport until the report is there,
//! parsed.
//!
//! Two requests when the report is ready at the first read: AWS hands back a report less than
//! four hours old, and a small account's new report is done in moments. A report still being
//! generated answers `ReportInProgress`, which is polled with exponential backoff (the read
//! itself is the poll: no second GenerateCredentialReport); `LimitExceeded` (no capacity to
//! start a report) is waited out, `ReportNotPresent` and `ReportExpired` start a new generation,
//! all within [`POLL_LIMIT`].

use std::time::Duration;

use aws_sdk_iam::Client;
use tokio::time::Instant;

use super::Scanned;
use super::credential_report;
use crate::aws::{AwsError, Pace, describe, timestamp};
use crate::failure::Failure;

/// The first wait between polls; each wait doubles up to [`POLL_MAX_DELAY`].
const POLL_FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between two polls.
const POLL_MAX_DELAY: Duration = Duration::from_secs(5);
/// How long one account's report may take before the account is marked failed.
const POLL_LIMIT: Duration = Duration::from_secs(300);

/// Reads the account's credential report into an inventory.
pub(super) async fn scan(iam: &Client, pace: &Pace) -> Result<Scanned, Failure> {
    let (content, generated_at) = fetch(iam, pace, POLL_LIMIT).await?;
    let inventory = credential_report::parse(&content, generated_at).map_err(|error| {
        Failure::from(AwsError::invalid_answer(
            "GetCredentialReport",
            describe(&error),
        ))
    })?;
    Ok(Scanned {
        inventory,
        errors: Vec::new(),
    })
}

/// Api mode's passwords of `users` dated by the credential report: a login profile's CreateDate
/// (all api mode reads live) does not move when the password is reset; the report's
/// `password_last_changed` does. Each password's `set_at` becomes the later of the two. A user
/// the report does not know yet (created after it) keeps its CreateDate, which is then recent.
pub(super) async fn date_passwords(
    iam: &Client,
    pace: &Pace,
    inventory: &mut crate::inventory::Inventory,
    users: &std::collections::BTreeSet<String>,
) -> Result<(), Failure> {
    let (content, generated_at) = fetch(iam, pace, POLL_LIMIT).await?;
    let report = credential_report::parse(&content, generated_at).map_err(|error| {
        Failure::from(AwsError::invalid_answer(
            "GetCredentialReport",
            describe(&error),
        ))
    })?;
    for user in inventory
        .users
        .iter_mut()
        .filter(|user| users.contains(&user.name))
    {
        let changed = report
            .users
            .iter()
            .find(|reported| reported.name == user.name)
            .and_then(|reported| reported.password.as_ref())
            .and_then(|password| password.set_at);
        if let Some(password) = user.password.as_mut() {
            password.set_at = password.set_at.max(changed);
        }
    }
    Ok(())
}

/// The report's CSV bytes (the SDK has already decoded the base64) and its `GeneratedTime`.
async fn fetch(
    iam: &Client,
    pace: &Pace,
    limit: Duration,
) -> Result<(Vec<u8>, Option<jiff::Timestamp>), Failure> {
    let started = Instant::now();
    let mut delay = POLL_FIRST_DELAY;
    let mut generated = false;
    loop {
        if !generated {
            pace.ready().await;
            match iam.generate_credential_report().send().await {
                // STARTED, INPROGRESS or COMPLETE: GetCredentialReport says when it is there.
                Ok(_) => generated = true,
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|error| error.is_limit_exceeded_exception()) => {}
                Err(error) => {
                    return Err(AwsError::from_sdk("GenerateCredentialReport", &error).into());
                }
            }
        }
        if generated {
            pace.ready().await;
            match iam.get_credential_report().send().await {
                Ok(output) => {
                    let content = output
                        .content()
                        .map(|blob| blob.as_ref().to_vec())
                        .unwrap_or_default();
                    return Ok((content, output.generated_time().and_then(timestamp)));
                }
                Err(error) => match error.as_service_error() {
                    Some(inner) if inner.is_credential_report_not_ready_exception() => {}
                    Some(inner)
                        if inner.is_credential_report_not_present_exception()
                            || inner.is_credential_report_expired_exception() =>
                    {
                        generated = false;
                    }
                    _ => return Err(AwsError::from_sdk("GetCredentialReport", &error).into()),
                },
            }
        }
        if started.elapsed() + delay > limit {
            return Err(Failure::ReportTimeout {
                seconds: limit.as_secs(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(POLL_MAX_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use aws_sdk_iam::operation::generate_credential_report::{
        GenerateCredentialReportError, GenerateCredentialReportOutput,
    };
    use aws_sdk_iam::operation::get_credential_report::{
        GetCredentialReportError, GetCredentialReportOutput,
    };
    use aws_sdk_iam::primitives::{Blob, DateTime};
    use aws_sdk_iam::types::ReportStateType;
    use aws_sdk_iam::types::error::{CredentialReportNotReadyException, LimitExceededException};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::aws::retry_config;

    const CSV: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
        alice,arn:aws:iam::111111111111:user/alice,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";

    fn pace() -> Pace {
        Pace::new(NonZeroU32::new(1000).expect("non-zero"))
    }

    fn state(state: ReportStateType) -> GenerateCredentialReportOutput {
        GenerateCredentialReportOutput::builder()
            .state(state)
            .build()
    }

    fn report() -> GetCredentialReportOutput {
        GetCredentialReportOutput::builder()
            .content(Blob::new(CSV))
            .generated_time(DateTime::from_secs(1_764_320_000))
            .build()
    }

    /// A client with the production retry policy, minus the long waits.
    fn fast_retries(config: aws_sdk_iam::config::Builder) -> aws_sdk_iam::config::Builder {
        config.retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
    }

    fn not_ready() -> GetCredentialReportError {
        GetCredentialReportError::CredentialReportNotReadyException(
            CredentialReportNotReadyException::builder().build(),
        )
    }

    #[tokio::test]
    async fn generates_once_then_polls_the_read_until_the_report_is_there() {
        let generate = mock!(Client::generate_credential_report)
            .then_output(|| state(ReportStateType::Started));
        let get = mock!(Client::get_credential_report)
            .sequence()
            .error(not_ready)
            .times(2)
            .output(report)
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate, &get]);

        let scanned = scan(&iam, &pace()).await.expect("scans");
        assert_eq!(scanned.inventory.users[0].name, "alice");
        assert_eq!(
            scanned.inventory.credential_report_generated_at,
            Some(jiff::Timestamp::from_second(1_764_320_000).expect("in range"))
        );
        assert_eq!((generate.num_calls(), get.num_calls()), (1, 3));
    }

    #[tokio::test]
    async fn a_report_ready_at_once_costs_two_requests() {
        let generate = mock!(Client::generate_credential_report)
            .then_output(|| state(ReportStateType::Complete));
        let get = mock!(Client::get_credential_report).then_output(report);
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate, &get]);
        scan(&iam, &pace()).await.expect("scans");
        assert_eq!((generate.num_calls(), get.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn limit_exceeded_and_report_in_progress_are_waited_out() {
        let generate = mock!(Client::generate_credential_report)
            .sequence()
            .error(|| {
                GenerateCredentialReportError::LimitExceededException(
                    LimitExceededException::builder()
                        .message("no capacity")
                        .build(),
                )
            })
            .output(|| state(ReportStateType::Complete))
            .build();
        let get = mock!(Client::get_credential_report)
            .sequence()
            .error(not_ready)
            .output(report)
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate, &get]);
        let scanned = scan(&iam, &pace()).await.expect("scans");
        assert_eq!(scanned.inventory.users.len(), 1);
        assert_eq!((generate.num_calls(), get.num_calls()), (2, 2));
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk() {
        let throttled = || {
            GenerateCredentialReportError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        };
        let generate = mock!(Client::generate_credential_report)
            .sequence()
            .error(throttled)
            .times(3)
            .output(|| state(ReportStateType::Complete))
            .build();
        let get = mock!(Client::get_credential_report).then_output(report);
        let iam = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&generate, &get],
            fast_retries
        );
        let pace = pace();
        scan(&iam, &pace).await.expect("throttling is retried");
        assert_eq!(generate.num_calls(), 4);
    }

    #[tokio::test]
    async fn access_denied_fails_the_account_with_its_code() {
        let denied = mock!(Client::generate_credential_report).then_error(|| {
            GenerateCredentialReportError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform: iam:GenerateCredentialReport")
                    .build(),
            )
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&denied], fast_retries);
        let error = scan(&iam, &pace()).await.expect_err("denied").as_error();
        assert_eq!(
            (error.operation.as_ref(), error.code.as_str()),
            ("GenerateCredentialReport", "AccessDenied")
        );
        // AccessDenied is not retried.
        assert_eq!(denied.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_report_that_never_completes_times_out() {
        let generate = mock!(Client::generate_credential_report)
            .then_output(|| state(ReportStateType::Inprogress));
        let get = mock!(Client::get_credential_report).then_error(not_ready);
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate, &get]);
        let error = fetch(&iam, &pace(), Duration::from_millis(250))
            .await
            .expect_err("times out");
        assert_eq!(error, Failure::ReportTimeout { seconds: 0 });
        assert_eq!(generate.num_calls(), 1);
        assert!(get.num_calls() >= 2);
    }
}
