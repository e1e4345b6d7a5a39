//! The Security Hub stage (`--security-hub`, `reports.security_hub`): imports the run's ASFF
//! findings ([`crate::report::asff`]) into the account stalecreds runs in, with
//! BatchImportFindings. The only module that writes to Security Hub.
//!
//! It converges: before importing, it reads what the hub holds of stalecreds' findings
//! ([`active`]), and archives every ACTIVE one that the run shows is no longer open ([`stale`]):
//! its account was scanned completely today and the finding is not among today's, or its
//! account is no longer in the organization. A resolved finding whose archiving failed one day
//! (an import refused, a run cut short) is archived the next.
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
use crate::report::asff::{self, AsffFinding, Details, Resource, Target};

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
    /// Findings the hub held ACTIVE that the run archived as no longer open (among those sent).
    pub stale: usize,
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
        if self.stale > 0 {
            text.push_str(&format!(
                " ({} of them archived: no longer open)",
                self.stale
            ));
        }
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

/// Imports findings already in the SDK's form, 100 a call, paced.
pub async fn import_all(
    client: &aws_sdk_securityhub::Client,
    findings: Vec<sdk::AwsSecurityFinding>,
) -> Imported {
    let pace = paced();
    let mut imported = Imported::default();
    let mut batches = findings.chunks(BATCH);
    for batch in batches.by_ref() {
        pace.ready().await;
        imported.calls += 1;
        let request = batch
            .iter()
            .fold(client.batch_import_findings(), |request, finding| {
                request.findings(finding.clone())
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
    imported.not_sent += batches.map(<[sdk::AwsSecurityFinding]>::len).sum::<usize>();
    imported
}

/// The pace of Security Hub calls.
fn paced() -> Pace {
    Pace::new(NonZeroU32::new(CALLS_PER_SECOND).unwrap_or(NonZeroU32::MIN))
}

/// The generator IDs of stalecreds' findings begin with this.
const GENERATOR_PREFIX: &str = "stalecreds/";

/// The stack of the thread that reads the hub's findings (see [`active`]): address space, not
/// memory, until it is used.
const READER_STACK: usize = 256 << 20;

/// What the hub holds ACTIVE of stalecreds' findings in `target`'s default product
/// (GetFindings, filtered by product, record state and generator, 100 a page; the filters are
/// checked again here), without their resources' details.
///
/// The SDK's deserializer of a finding's resource details (a union of some two hundred resource
/// types) needs megabytes of stack in a build without optimizations, more than the main thread
/// or a runtime's worker has: the reading runs on a thread of its own, with a client of its own.
pub async fn active(
    base: &SdkConfig,
    timeout: Option<Duration>,
    target: &Target,
) -> Result<Vec<sdk::AwsSecurityFinding>, AwsError> {
    let (base, target) = (base.clone(), target.clone());
    let failed = |why: String| AwsError {
        operation: "GetFindings".into(),
        code: "ReaderFailed".to_owned(),
        message: why,
    };
    let reader = std::thread::Builder::new()
        .name("stalecreds-securityhub".to_owned())
        .stack_size(READER_STACK)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| failed(error.to_string()))?;
            runtime.block_on(read_active(&client(&base, timeout), &target))
        })
        .map_err(|error| failed(error.to_string()))?;
    tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(|error| failed(error.to_string()))?
        .map_err(|_| failed("the reading thread panicked".to_owned()))?
}

/// [`active`], on the calling thread.
async fn read_active(
    client: &aws_sdk_securityhub::Client,
    target: &Target,
) -> Result<Vec<sdk::AwsSecurityFinding>, AwsError> {
    let product = target.product_arn();
    let filter = |value: &str, comparison| {
        sdk::StringFilter::builder()
            .value(value)
            .comparison(comparison)
            .build()
    };
    let filters = sdk::AwsSecurityFindingFilters::builder()
        .product_arn(filter(&product, sdk::StringFilterComparison::Equals))
        .record_state(filter("ACTIVE", sdk::StringFilterComparison::Equals))
        .generator_id(filter(
            GENERATOR_PREFIX,
            sdk::StringFilterComparison::Prefix,
        ))
        .build();
    let pace = paced();
    let found = crate::aws::all_pages("GetFindings", &pace, |token| {
        let filters = filters.clone();
        async move {
            let page = client
                .get_findings()
                .filters(filters)
                .max_results(i32::try_from(BATCH).unwrap_or(100))
                .set_next_token(token)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk("GetFindings", &error))?;
            let next = page
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            let mut findings = page.findings.unwrap_or_default();
            for resource in findings
                .iter_mut()
                .flat_map(|finding| finding.resources.iter_mut().flatten())
            {
                resource.details = None;
            }
            Ok((findings, next))
        }
    })
    .await?;
    Ok(found
        .into_iter()
        .filter(|finding| {
            finding.product_arn() == Some(product.as_str())
                && finding.record_state() == Some(&sdk::RecordState::Active)
                && finding
                    .generator_id()
                    .is_some_and(|generator| generator.starts_with(GENERATOR_PREFIX))
        })
        .collect())
}

/// The ACTIVE findings of `held` that `report` shows are no longer open, archived: a finding of
/// an account scanned completely in this run that is not among the run's open findings, or
/// (when the run covered the whole organization) of an account no longer in it. The run's own
/// open and resolved findings are left to its import.
pub fn stale(
    report: &Report,
    held: &[sdk::AwsSecurityFinding],
    whole_organization: bool,
) -> Vec<sdk::AwsSecurityFinding> {
    use crate::report::AccountStatus;
    use std::collections::BTreeSet;
    let imported: BTreeSet<String> = report
        .findings
        .iter()
        .map(|finding| asff::id(&finding.finding_id))
        .chain(
            report
                .resolved
                .iter()
                .map(|gone| asff::id(&gone.finding_id)),
        )
        .collect();
    let complete: BTreeSet<&str> = report
        .accounts
        .iter()
        .filter(|account| {
            account.status == AccountStatus::Scanned && account.user_errors.is_empty()
        })
        .map(|account| account.account_id.as_str())
        .collect();
    let listed: BTreeSet<&str> = report
        .accounts
        .iter()
        .map(|account| account.account_id.as_str())
        .collect();
    held.iter()
        .filter_map(|finding| {
            let id = finding.id()?;
            if imported.contains(id) {
                return None;
            }
            let account = id.strip_prefix(GENERATOR_PREFIX)?.split('/').next()?;
            let why = if complete.contains(account) {
                format!(
                    "no longer open: account {account} was scanned completely on {}, and it is not among that scan's findings",
                    report.generated_at.strftime("%Y-%m-%d")
                )
            } else if whole_organization && !listed.contains(account) {
                format!("account {account} is no longer in the organization")
            } else {
                return None;
            };
            Some(archived_copy(finding, &why, report.generated_at))
        })
        .collect()
}

/// The hub's `finding`, imported again ARCHIVED and PASSED, saying `why`: the fields stalecreds
/// set when it imported it, nothing Security Hub or a person added since.
fn archived_copy(
    finding: &sdk::AwsSecurityFinding,
    why: &str,
    now: jiff::Timestamp,
) -> sdk::AwsSecurityFinding {
    let title = finding.title().unwrap_or_default();
    let title = if title.ends_with("(resolved)") {
        title.to_owned()
    } else {
        format!("{title} (resolved)")
    };
    let compliance = finding.compliance().map(|compliance| {
        sdk::Compliance::builder()
            .status(sdk::ComplianceStatus::Passed)
            .set_related_requirements(compliance.related_requirements.clone())
            .build()
    });
    let provider = finding.finding_provider_fields().map(|provider| {
        sdk::FindingProviderFields::builder()
            .severity(
                sdk::FindingProviderSeverity::builder()
                    .label(sdk::SeverityLabel::Informational)
                    .original("resolved")
                    .build(),
            )
            .set_types(provider.types.clone())
            .build()
    });
    let mut fields = finding.product_fields.clone().unwrap_or_default();
    fields.insert("stalecreds/Resolved".to_owned(), cut(why, 512));
    let description = cut(&format!("Resolved: {why}."), 1024);
    sdk::AwsSecurityFinding::builder()
        .set_schema_version(finding.schema_version.clone())
        .set_id(finding.id.clone())
        .set_product_arn(finding.product_arn.clone())
        .set_product_name(finding.product_name.clone())
        .set_generator_id(finding.generator_id.clone())
        .set_aws_account_id(finding.aws_account_id.clone())
        .set_region(finding.region.clone())
        .set_created_at(finding.created_at.clone())
        .updated_at(now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .set_first_observed_at(finding.first_observed_at.clone())
        .set_last_observed_at(finding.last_observed_at.clone())
        .title(cut(&title, 256))
        .description(description)
        .set_remediation(finding.remediation.clone())
        .set_finding_provider_fields(provider)
        .set_compliance(compliance)
        .record_state(sdk::RecordState::Archived)
        .set_resources(finding.resources.clone())
        .set_product_fields(Some(fields))
        .build()
}

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
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
