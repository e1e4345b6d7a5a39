//! The notify stage: publishes the run's one [`Digest`] to its SNS topic. The only module that
//! publishes.
//!
//! The SNS client uses the topic ARN's region (a topic lives in one region; the scan's own region
//! may differ), the SDK's retries, and a retry partition of its own. A FIFO topic gets a message
//! group and a deduplication ID, so one run still makes one message. A KMS-encrypted topic works
//! when the caller may use its key (`kms:GenerateDataKey*`, `kms:Decrypt`; docs/permissions.md).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sns::config::Region;
use aws_sdk_sns::config::retry::RetryPartition;
use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::aws::AwsError;
use crate::digest::Digest;

/// Publishes `digest` to `topic_arn`; returns the SNS message ID. `run_id` (the run's trigger,
/// or its `generated_at`) deduplicates on FIFO topics. `timeout`, when given, bounds the call,
/// retries included (delivery near the deadline).
pub async fn publish(
    base: &SdkConfig,
    topic_arn: &str,
    digest: &Digest,
    run_id: &str,
    timeout: Option<Duration>,
) -> Result<String, AwsError> {
    let region = topic_arn
        .split(':')
        .nth(3)
        .filter(|region| !region.is_empty())
        .ok_or_else(|| {
            AwsError::invalid_answer("Publish", format!("no region in topic ARN {topic_arn}"))
        })?;
    let mut config = aws_sdk_sns::config::Builder::from(base)
        .region(Region::new(region.to_owned()))
        .retry_partition(RetryPartition::new("stalecreds-sns"));
    if let Some(timeout) = timeout {
        config = config.timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .build(),
        );
    }
    let sns = aws_sdk_sns::Client::from_conf(config.build());
    publish_with(&sns, topic_arn, digest, run_id).await
}

/// Publishes with a given client (the tests' mock).
pub async fn publish_with(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    digest: &Digest,
    run_id: &str,
) -> Result<String, AwsError> {
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&digest.subject)
        .message(&digest.message)
        .message_structure("json");
    for (name, data_type, value) in &digest.attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|error| AwsError::invalid_answer("Publish", error.to_string()))?;
        request = request.message_attributes(name, attribute);
    }
    if topic_arn.ends_with(".fifo") {
        let dedup: String = run_id.chars().filter(char::is_ascii_alphanumeric).collect();
        request = request
            .message_group_id("stalecreds")
            .message_deduplication_id(format!("stalecreds-{dedup}"));
    }
    let output = request
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("Publish", &error))?;
    Ok(output.message_id().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::aws::retry_config;

    fn digest() -> Digest {
        Digest {
            subject: "stalecreds: 1 unused credential in 1 of 1 account".to_owned(),
            message: r#"{"default":"text"}"#.to_owned(),
            text: "text".to_owned(),
            attributes: vec![("findings".to_owned(), "Number".to_owned(), "1".to_owned())],
            findings_included: 1,
            findings_omitted: 0,
        }
    }

    #[tokio::test]
    async fn publishes_one_json_message_with_its_attributes() {
        let publish = mock!(aws_sdk_sns::Client::publish)
            .match_requests(|request| {
                request.message_structure() == Some("json")
                    && request.subject()
                        == Some("stalecreds: 1 unused credential in 1 of 1 account")
                    && request
                        .message_attributes()
                        .and_then(|attributes| attributes.get("findings"))
                        .and_then(|value| value.string_value())
                        == Some("1")
                    && request.message_group_id().is_none()
            })
            .then_output(|| PublishOutput::builder().message_id("m-1").build());
        let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]);
        let id = publish_with(
            &sns,
            "arn:aws:sns:eu-west-1:123456789012:digest",
            &digest(),
            "2026",
        )
        .await
        .expect("published");
        assert_eq!(id, "m-1");
        assert_eq!(publish.num_calls(), 1);
    }

    #[tokio::test]
    async fn fifo_topics_get_a_group_and_a_deduplication_id() {
        let publish = mock!(aws_sdk_sns::Client::publish)
            .match_requests(|request| {
                request.message_group_id() == Some("stalecreds")
                    && request.message_deduplication_id() == Some("stalecreds-20261128T100000Z")
            })
            .then_output(|| PublishOutput::builder().message_id("m-2").build());
        let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]);
        publish_with(
            &sns,
            "arn:aws:sns:eu-west-1:123456789012:digest.fifo",
            &digest(),
            "2026-11-28T10:00:00Z",
        )
        .await
        .expect("published");
        assert_eq!(publish.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_failure_after_retries_is_reported_with_its_code() {
        let failing = mock!(aws_sdk_sns::Client::publish).then_error(|| {
            PublishError::generic(
                ErrorMetadata::builder()
                    .code("AuthorizationError")
                    .message("not authorized to perform: SNS:Publish")
                    .build(),
            )
        });
        let sns = mock_client!(
            aws_sdk_sns,
            RuleMode::MatchAny,
            [&failing],
            |config: aws_sdk_sns::config::Builder| config
                .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
        );
        let error = publish_with(
            &sns,
            "arn:aws:sns:eu-west-1:123456789012:digest",
            &digest(),
            "x",
        )
        .await
        .expect_err("denied");
        assert_eq!(
            (error.operation.as_ref(), error.code.as_str()),
            ("Publish", "AuthorizationError")
        );
    }
}
