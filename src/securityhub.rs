//! The Security Hub stage (`--security-hub`, `reports.security_hub`): imports the run's ASFF
//! findings ([`crate::report::asff`]) into the account stalecreds runs in, with
//! BatchImportFindings. The only module that writes to Security Hub.
//!
//! At most 100 findings a call (the API's limit), at most [`CALLS_PER_SECOND`] calls a second
//! (the API allows 10, with bursts of 30, per account and region; the rest is left to others),
//! each call retried by the SDK on throttling and server errors (its own retry partition).
//! Security Hub answers per finding: the ones it refused are reported with their code and
//! message. A call that fails as a whole stops the import: the findings not sent are counted.

use std::num::NonZeroU32;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_securityhub::config::retry::RetryPartition;
use aws_sdk_securityhub::config::timeout::TimeoutConfig;
use aws_sdk_securityhub::types as sdk;

use crate::aws::{AwsError, Pace};
use crate::report::Report;
use crate::report::asff::{AsffFinding, Details, Resource, Target};

/// Findings per BatchImportFindings call: the API's maximum.
pub const BATCH: usize = 100;
/// Calls a second, at most.
pub const CALLS_PER_SECOND: u32 = 5;

/// What became of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Findings Security Hub took.
    pub succeeded: usize,
    /// Findings it refused, each with why.
    pub failed: Vec<Refused>,
    /// Findings not sent, because a call failed as a whole (see `error`).
    pub not_sent: usize,
    /// BatchImportFindings calls made (retries not counted).
    pub calls: usize,
    /// The failure that stopped the import, if one did.
    pub error: Option<AwsError>,
}

impl Imported {
    /// Whether every finding was imported.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.not_sent == 0 && self.error.is_none()
    }

    /// What went wrong, in one line: counts, the stopping error, and the first refusals.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} finding{} imported, {} refused, {} not sent",
            self.succeeded,
            if self.succeeded == 1 { "" } else { "s" },
            self.failed.len(),
            self.not_sent
        );
        if let Some(error) = &self.error {
            text.push_str(&format!(
                "; stopped by {}: {} {}",
                error.operation, error.code, error.message
            ));
        }
        for refused in self.failed.iter().take(REFUSALS_SHOWN) {
            text.push_str(&format!(
                "; refused {}: {} {}",
                refused.id, refused.code, refused.message
            ));
        }
        if self.failed.len() > REFUSALS_SHOWN {
            text.push_str(&format!(
                "; and {} more refused",
                self.failed.len() - REFUSALS_SHOWN
            ));
        }
        text
    }
}

/// Refusals named in [`Imported::describe`]; the rest are counted.
const REFUSALS_SHOWN: usize = 5;

/// Where the findings of `report` go: the caller's account (the report's), in the region of
/// `base`. Neither known: an error that says which.
pub fn target(report: &Report, base: &SdkConfig) -> Result<Target, String> {
    let account_id = report.caller_account_id.clone().ok_or_else(|| {
        "the caller's account is not known (GetCallerIdentity failed), so no finding can name it"
            .to_owned()
    })?;
    let region = base.region().map(ToString::to_string).ok_or_else(|| {
        "no AWS region is configured (AWS_REGION or the profile's region): Security Hub is regional"
            .to_owned()
    })?;
    Ok(Target { account_id, region })
}

/// A finding Security Hub refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The finding's `Id`.
    pub id: String,
    /// Security Hub's error code.
    pub code: String,
    /// Its message.
    pub message: String,
}

/// A Security Hub client for the caller's account and region, with its own retry partition;
/// `timeout`, when given, bounds each call (delivery near the deadline).
pub fn client(base: &SdkConfig, timeout: Option<Duration>) -> aws_sdk_securityhub::Client {
    let mut config = aws_sdk_securityhub::config::Builder::from(base)
        .retry_partition(RetryPartition::new("stalecreds-securityhub"));
    if let Some(timeout) = timeout {
        config = config.timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .build(),
        );
    }
    aws_sdk_securityhub::Client::from_conf(config.build())
}

/// Imports `findings`, 100 a call, paced.
pub async fn import(client: &aws_sdk_securityhub::Client, findings: &[AsffFinding]) -> Imported {
    let pace = Pace::new(NonZeroU32::new(CALLS_PER_SECOND).unwrap_or(NonZeroU32::MIN));
    let mut imported = Imported::default();
    let mut batches = findings.chunks(BATCH);
    for batch in batches.by_ref() {
        pace.ready().await;
        imported.calls += 1;
        let request = batch
            .iter()
            .fold(client.batch_import_findings(), |request, finding| {
                request.findings(to_sdk(finding))
            });
        match request.send().await {
            Ok(output) => {
                let refused: Vec<Refused> = output
                    .failed_findings()
                    .iter()
                    .map(|failed| Refused {
                        id: failed.id().unwrap_or_default().to_owned(),
                        code: failed.error_code().unwrap_or_default().to_owned(),
                        message: failed.error_message().unwrap_or_default().to_owned(),
                    })
                    .collect();
                imported.succeeded += batch.len().saturating_sub(refused.len());
                imported.failed.extend(refused);
            }
            Err(error) => {
                imported.not_sent += batch.len();
                imported.error = Some(AwsError::from_sdk("BatchImportFindings", &error));
                break;
            }
        }
    }
    imported.not_sent += batches.map(<[AsffFinding]>::len).sum::<usize>();
    imported
}

/// The SDK's form of one finding.
pub fn to_sdk(finding: &AsffFinding) -> sdk::AwsSecurityFinding {
    let provider = &finding.finding_provider_fields;
    let provider = provider.types.iter().fold(
        sdk::FindingProviderFields::builder().severity(
            sdk::FindingProviderSeverity::builder()
                .label(sdk::SeverityLabel::from(provider.severity.label))
                .original(&provider.severity.original)
                .build(),
        ),
        |fields, kind| fields.types(*kind),
    );
    let compliance = finding.compliance.related_requirements.iter().fold(
        sdk::Compliance::builder().status(sdk::ComplianceStatus::from(finding.compliance.status)),
        |compliance, requirement| compliance.related_requirements(requirement),
    );
    let built = sdk::AwsSecurityFinding::builder()
        .schema_version(finding.schema_version)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .product_name(finding.product_name)
        .generator_id(&finding.generator_id)
        .aws_account_id(&finding.aws_account_id)
        .region(&finding.region)
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .first_observed_at(&finding.first_observed_at)
        .last_observed_at(&finding.last_observed_at)
        .title(&finding.title)
        .description(&finding.description)
        .remediation(
            sdk::Remediation::builder()
                .recommendation(
                    sdk::Recommendation::builder()
                        .text(&finding.remediation.recommendation.text)
                        .url(finding.remediation.recommendation.url)
                        .build(),
                )
                .build(),
        )
        .finding_provider_fields(provider.build())
        .compliance(compliance.build())
        .record_state(sdk::RecordState::from(finding.record_state));
    let built = finding.resources.iter().fold(built, |built, resource| {
        built.resources(resource_to_sdk(resource))
    });
    finding
        .product_fields
        .iter()
        .fold(built, |built, (key, value)| {
            built.product_fields(key, value)
        })
        .build()
}

fn resource_to_sdk(resource: &Resource) -> sdk::Resource {
    let details = resource.details.as_ref().map(|details| match details {
        Details::AwsIamAccessKey(key) => {
            let mut built = sdk::AwsIamAccessKeyDetails::builder()
                .access_key_id(&key.access_key_id)
                .account_id(&key.account_id)
                .principal_name(&key.principal_name)
                .principal_type(key.principal_type);
            if let Some(status) = key.status {
                built = built.status(sdk::AwsIamAccessKeyStatus::from(status));
            }
            if let Some(created) = &key.created_at {
                built = built.created_at(created);
            }
            sdk::ResourceDetails::builder()
                .aws_iam_access_key(built.build())
                .build()
        }
        Details::AwsIamUser(user) => {
            let mut built = sdk::AwsIamUserDetails::builder().user_name(&user.user_name);
            if let Some(created) = &user.create_date {
                built = built.create_date(created);
            }
            sdk::ResourceDetails::builder()
                .aws_iam_user(built.build())
                .build()
        }
    });
    let built = sdk::Resource::builder()
        .r#type(resource.kind)
        .id(&resource.id)
        .partition(sdk::Partition::from(resource.partition))
        .region(&resource.region)
        .set_details(details);
    resource
        .tags
        .iter()
        .fold(built, |built, (key, value)| built.tags(key, value))
        .build()
}

#[cfg(test)]
mod tests;
