//! The report as AWS Security Finding Format (ASFF) findings: `--format asff`, and what
//! `--security-hub` imports with BatchImportFindings (`crate::securityhub`).
//!
//! The account model (docs/outputs.md argues it): every finding is imported into **one**
//! account, the one stalecreds runs in, so `AwsAccountId` is that account and the product is its
//! default product (`product/<account>/default`); the member account whose credential it is
//! appears in the resource (the user's ARN, the key's `AccountId`) and in `ProductFields`.
//!
//! Each finding's `Id` is its identity from run to run (`changes::finding_id`), so a
//! daily import updates the same finding; a finding resolved since the last complete scan is
//! imported once more, `ARCHIVED` with compliance `PASSED`. Severity and types go in
//! `FindingProviderFields`, as a finding provider should.

use std::collections::BTreeMap;
use std::io::{self, Write};

use jiff::Timestamp;
use serde::Serialize;

use super::CisVersion;
use super::changes::ResolvedFinding;
use super::controls::{self, Control};
use super::{Finding, Report};
use crate::rules::{CredentialKind, Severity};

/// The ASFF version written.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The product name shown in Security Hub.
const PRODUCT_NAME: &str = "stalecreds";
/// ASFF's limits on a few strings (characters).
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;
const RECOMMENDATION_MAX: usize = 512;

/// The account (and region) the findings are imported into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The importing account: every finding's `AwsAccountId`.
    pub account_id: String,
    /// The region of Security Hub.
    pub region: String,
}

impl Target {
    /// The partition of the target's region.
    pub fn partition(&self) -> &'static str {
        partition(&self.region)
    }

    /// The account's default product ARN: the only one that accepts its own findings without a
    /// product subscription.
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition(),
            self.region,
            self.account_id,
            self.account_id
        )
    }
}

/// The partition of an AWS region.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// One ASFF finding: the fields stalecreds sets (names as in ASFF).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // The fields are ASFF's, documented there and in docs/outputs.md.
pub struct AsffFinding {
    pub schema_version: &'static str,
    pub id: String,
    pub product_arn: String,
    pub product_name: &'static str,
    pub generator_id: String,
    pub aws_account_id: String,
    pub region: String,
    pub created_at: String,
    pub updated_at: String,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub title: String,
    pub description: String,
    pub remediation: Remediation,
    pub finding_provider_fields: FindingProviderFields,
    pub compliance: Compliance,
    pub record_state: &'static str,
    pub resources: Vec<Resource>,
    pub product_fields: BTreeMap<String, String>,
}

/// `Remediation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Remediation {
    pub recommendation: Recommendation,
}

/// `Remediation.Recommendation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Recommendation {
    pub text: String,
    pub url: &'static str,
}

/// `FindingProviderFields`: where a provider puts severity and types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct FindingProviderFields {
    pub severity: ProviderSeverity,
    pub types: Vec<&'static str>,
}

/// `FindingProviderFields.Severity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct ProviderSeverity {
    pub label: &'static str,
    pub original: String,
}

/// `Compliance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Compliance {
    pub status: &'static str,
    pub related_requirements: Vec<String>,
}

/// One of `Resources`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Resource {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub id: String,
    pub partition: &'static str,
    pub region: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

/// `Resources[].Details`: one of the two kinds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[allow(missing_docs)]
pub enum Details {
    AwsIamAccessKey(AccessKeyDetails),
    AwsIamUser(UserDetails),
}

/// `Details.AwsIamAccessKey`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct AccessKeyDetails {
    pub access_key_id: String,
    pub account_id: String,
    pub principal_name: String,
    pub principal_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `Details.AwsIamUser`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct UserDetails {
    pub user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
}

/// The types of every finding: a standards check (CIS) and a best practice (Security Hub).
const TYPES: [&str; 2] = [
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    "Software and Configuration Checks/AWS Security Best Practices",
];

/// The findings to import for `report` into `target`: every open finding (ACTIVE, FAILED), then
/// every finding resolved since the last complete scan (ARCHIVED, PASSED).
pub fn findings(report: &Report, target: &Target) -> Vec<AsffFinding> {
    let open = report
        .findings
        .iter()
        .map(|finding| open(report, target, finding));
    let resolved = report
        .resolved
        .iter()
        .map(|resolved| archived(report, target, resolved));
    open.chain(resolved).collect()
}

/// Writes the findings as one JSON array (what `aws securityhub batch-import-findings
/// --findings file://…` takes, 100 at a time).
pub fn write(report: &Report, target: &Target, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &findings(report, target))?;
    writeln!(out)
}

/// The stable `Id` of a finding.
pub fn id(finding_id: &str) -> String {
    format!("stalecreds/{finding_id}")
}

fn time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

fn requirement(control: &Control) -> String {
    format!("{} {}", control.standard, control.id)
}

/// `text` cut to `max` characters (ASFF refuses longer strings).
fn cut(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text,
    }
}

fn open(report: &Report, target: &Target, finding: &Finding) -> AsffFinding {
    let first_seen = finding.first_seen.unwrap_or(report.generated_at);
    let title = format!(
        "{}: {} in account {}",
        controls::title(finding),
        finding.user_name,
        finding.account_id
    );
    let mut fields = product_fields(
        &finding.finding_id,
        &finding.account_id,
        finding.account_name.as_deref(),
    );
    if let Some(days) = finding.idle_days {
        fields.insert("stalecreds/IdleDays".to_owned(), days.to_string());
    }
    if let Some(change) = finding.change {
        fields.insert("stalecreds/Change".to_owned(), change.as_str().to_owned());
    }
    AsffFinding {
        schema_version: SCHEMA_VERSION,
        id: id(&finding.finding_id),
        product_arn: target.product_arn(),
        product_name: PRODUCT_NAME,
        generator_id: format!("stalecreds/{}", finding.rule.code()),
        aws_account_id: target.account_id.clone(),
        region: target.region.clone(),
        created_at: time(first_seen),
        updated_at: time(report.generated_at),
        first_observed_at: time(first_seen),
        last_observed_at: time(report.generated_at),
        title: cut(title, TITLE_MAX),
        description: cut(controls::description(finding), DESCRIPTION_MAX),
        remediation: Remediation {
            recommendation: Recommendation {
                text: cut(
                    controls::remediation(finding).to_owned(),
                    RECOMMENDATION_MAX,
                ),
                url: finding.rule.remediation_url(),
            },
        },
        finding_provider_fields: FindingProviderFields {
            severity: ProviderSeverity {
                label: label(finding.severity),
                original: finding.severity.as_str().to_owned(),
            },
            types: TYPES.to_vec(),
        },
        compliance: Compliance {
            status: "FAILED",
            related_requirements: controls::controls(finding)
                .iter()
                .map(requirement)
                .collect(),
        },
        record_state: "ACTIVE",
        resources: resources(target, &Subject::open(finding)),
        product_fields: fields,
    }
}

fn archived(report: &Report, target: &Target, resolved: &ResolvedFinding) -> AsffFinding {
    let what = controls::title_of(resolved.credential);
    let mut fields = product_fields(
        &resolved.finding_id,
        &resolved.account_id,
        resolved.account_name.as_deref(),
    );
    fields.insert(
        "stalecreds/Resolved".to_owned(),
        resolved.reason.words().to_owned(),
    );
    let generator = crate::rules::Rule::of(resolved.credential);
    let (user, account) = (&resolved.user_name, &resolved.account_id);
    let title = format!("{what}: {user} in account {account} (resolved)");
    let description = format!(
        "Resolved: IAM user {user}'s {} in account {account} is no longer unused: {}.",
        super::words::credential_words(resolved.credential),
        resolved.reason.words()
    );
    AsffFinding {
        schema_version: SCHEMA_VERSION,
        id: id(&resolved.finding_id),
        product_arn: target.product_arn(),
        product_name: PRODUCT_NAME,
        generator_id: format!("stalecreds/{}", generator.code()),
        aws_account_id: target.account_id.clone(),
        region: target.region.clone(),
        created_at: time(resolved.first_seen),
        updated_at: time(report.generated_at),
        first_observed_at: time(resolved.first_seen),
        last_observed_at: time(report.generated_at),
        title: cut(title, TITLE_MAX),
        description: cut(description, DESCRIPTION_MAX),
        remediation: Remediation {
            recommendation: Recommendation {
                text: "Nothing to do: the credential is no longer unused.".to_owned(),
                url: generator.remediation_url(),
            },
        },
        finding_provider_fields: FindingProviderFields {
            severity: ProviderSeverity {
                label: "INFORMATIONAL",
                original: "resolved".to_owned(),
            },
            types: TYPES.to_vec(),
        },
        compliance: Compliance {
            status: "PASSED",
            related_requirements: resolved_requirements(generator, &report.cis_versions),
        },
        record_state: "ARCHIVED",
        resources: resources(target, &Subject::resolved(resolved)),
        product_fields: fields,
    }
}

/// The requirements a resolved finding passes now: those of its rule (IAM.8 included, whatever
/// the idle age was: a resolved credential passes it too).
fn resolved_requirements(rule: crate::rules::Rule, versions: &[CisVersion]) -> Vec<String> {
    controls::of_rule(rule, None, versions)
        .iter()
        .map(requirement)
        .collect()
}

fn product_fields(
    finding_id: &str,
    account_id: &str,
    account_name: Option<&str>,
) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::from([
        ("stalecreds/FindingId".to_owned(), finding_id.to_owned()),
        ("stalecreds/AccountId".to_owned(), account_id.to_owned()),
    ]);
    if let Some(name) = account_name {
        fields.insert("stalecreds/AccountName".to_owned(), name.to_owned());
    }
    fields
}

/// Whose credential a finding is about, for its resources.
struct Subject<'a> {
    account_id: &'a str,
    user_name: &'a str,
    user_arn: Option<&'a str>,
    user_created: Option<Timestamp>,
    credential: CredentialKind,
    access_key_id: Option<&'a str>,
    key_status: Option<&'static str>,
    key_created: Option<Timestamp>,
    owner: Option<(&'a String, &'a String)>,
}

impl<'a> Subject<'a> {
    /// An open finding's subject.
    fn open(finding: &'a Finding) -> Subject<'a> {
        Subject {
            account_id: &finding.account_id,
            user_name: &finding.user_name,
            user_arn: Some(&finding.user_arn),
            user_created: finding.user_created,
            credential: finding.credential,
            access_key_id: finding.credential_id.as_deref(),
            key_status: finding.credential_status.map(|status| status.as_str()),
            key_created: finding.created,
            owner: finding
                .owner
                .as_ref()
                .map(|owner| (&owner.tag, &owner.value)),
        }
    }

    /// A resolved finding's subject: what the report still says of it.
    fn resolved(resolved: &'a ResolvedFinding) -> Subject<'a> {
        Subject {
            account_id: &resolved.account_id,
            user_name: &resolved.user_name,
            user_arn: resolved.user_arn.as_deref(),
            user_created: None,
            credential: resolved.credential,
            access_key_id: resolved.credential_id.as_deref(),
            key_status: None,
            key_created: None,
            owner: None,
        }
    }
}

/// The resources: the key (`AwsIamAccessKey`, its ID) and its user (`AwsIamUser`, its ARN); a
/// password's user; the root user's account (`AwsAccount`).
fn resources(target: &Target, subject: &Subject) -> Vec<Resource> {
    let partition = target.partition();
    let tags: BTreeMap<String, String> = subject
        .owner
        .map(|(tag, value)| BTreeMap::from([(tag.clone(), value.clone())]))
        .unwrap_or_default();
    let resource = |kind, id: String, details| Resource {
        kind,
        id,
        partition,
        region: target.region.clone(),
        tags: tags.clone(),
        details,
    };
    if subject.credential == CredentialKind::RootAccessKey {
        return vec![resource(
            "AwsAccount",
            format!("AWS::::Account:{}", subject.account_id),
            None,
        )];
    }
    let user_arn = subject.user_arn.map_or_else(
        || {
            format!(
                "arn:{partition}:iam::{}:user/{}",
                subject.account_id, subject.user_name
            )
        },
        str::to_owned,
    );
    let user = resource(
        "AwsIamUser",
        user_arn,
        Some(Details::AwsIamUser(UserDetails {
            user_name: subject.user_name.to_owned(),
            create_date: subject.user_created.map(time),
        })),
    );
    match subject.access_key_id {
        Some(key) if subject.credential == CredentialKind::AccessKey => vec![
            resource(
                "AwsIamAccessKey",
                key.to_owned(),
                Some(key_details(subject, key)),
            ),
            user,
        ],
        // The credentials AWS records no use for have no resource type of their own in ASFF.
        Some(id) if CredentialKind::OTHERS.contains(&subject.credential) => vec![
            resource(
                "Other",
                format!("{}/{}/{id}", subject.user_name, subject.credential.as_str()),
                None,
            ),
            user,
        ],
        _ => vec![user],
    }
}

/// An access key's details.
fn key_details(subject: &Subject, key: &str) -> Details {
    Details::AwsIamAccessKey(AccessKeyDetails {
        access_key_id: key.to_owned(),
        account_id: subject.account_id.to_owned(),
        principal_name: subject.user_name.to_owned(),
        principal_type: "IAMUser",
        status: subject.key_status,
        created_at: subject.key_created.map(time),
    })
}

#[cfg(test)]
mod tests;
