//! What each finding means in the words of the standards security teams track: the CIS AWS
//! Foundations Benchmark and AWS Security Hub's controls. Shared by the OCSF and ASFF outputs
//! (docs/outputs.md has the mapping and its reasons).

use super::Finding;
use crate::rules::cis::{CisVersion, Recommendation};
use crate::rules::{CredentialKind, Rule};

/// How Security Hub names its own controls' standard.
pub const SECURITY_HUB_STANDARD: &str = "AWS Security Hub CSPM";
/// IAM.8 is about 90 days: only findings idle this long map to it.
const IAM_8_DAYS: i64 = 90;

/// A control a finding fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// The standard.
    pub standard: &'static str,
    /// The control's ID in it.
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
}

/// The controls a finding fails: its CIS control in each of its versions first, then Security
/// Hub's.
pub fn controls(finding: &Finding) -> Vec<Control> {
    let versions: Vec<CisVersion> = finding.cis.iter().map(|cis| cis.version).collect();
    of_rule(finding.rule, finding.idle_days, &versions)
}

/// The controls a finding of `rule`, idle `idle_days` (unknown: `None`), fails in the CIS
/// `versions` and in Security Hub: CIS first.
pub fn of_rule(rule: Rule, idle_days: Option<i64>, versions: &[CisVersion]) -> Vec<Control> {
    let mut controls: Vec<Control> = Recommendation::of(rule)
        .into_iter()
        .flat_map(|recommendation| {
            versions.iter().map(move |&version| Control {
                standard: version.standard(),
                id: recommendation.id(version),
                title: recommendation.title(),
            })
        })
        .collect();
    match rule {
        // Neither the benchmark nor Security Hub has a control for the credentials AWS records
        // no use for.
        Rule::SshKeyOld
        | Rule::ServiceCredentialOld
        | Rule::BedrockApiKeyLongLived
        | Rule::SigningCertificateOld => {}
        Rule::RootAccessKey => controls.push(Control {
            standard: SECURITY_HUB_STANDARD,
            id: "IAM.4",
            title: "IAM root user access key should not exist",
        }),
        Rule::AccessKeyUnused | Rule::PasswordUnused => {
            controls.push(Control {
                standard: SECURITY_HUB_STANDARD,
                id: "IAM.22",
                title: "IAM user credentials unused for 45 days should be removed",
            });
            // Unknown age counts as unused (nothing shows a use), so as past 90 days too.
            if idle_days.is_none_or(|days| days >= IAM_8_DAYS) {
                controls.push(Control {
                    standard: SECURITY_HUB_STANDARD,
                    id: "IAM.8",
                    title: "Unused IAM user credentials should be removed",
                });
            }
        }
    }
    controls
}

/// The unused-credentials recommendation's number in each of `versions`, for people:
/// `CIS AWS Foundations 1.12 in v3.0.0, 1.11 in v5.0.0`; `CIS AWS Foundations` alone without one.
pub fn unused_credentials(versions: &[CisVersion]) -> String {
    let numbers: Vec<String> = versions
        .iter()
        .map(|&version| {
            let id = Recommendation::UnusedCredentials.id(version);
            format!("{id} in v{}", version.as_str())
        })
        .collect();
    match numbers.is_empty() {
        true => "CIS AWS Foundations".to_owned(),
        false => format!("CIS AWS Foundations {}", numbers.join(", ")),
    }
}

/// The finding's title.
pub fn title(finding: &Finding) -> &'static str {
    title_of(finding.credential)
}

/// The title of a finding on a `credential`.
pub fn title_of(credential: CredentialKind) -> &'static str {
    match credential {
        CredentialKind::AccessKey => "Unused IAM access key",
        CredentialKind::Password => "Unused IAM console password",
        CredentialKind::RootAccessKey => "Root user access key",
        CredentialKind::SshKey => "Old IAM SSH public key",
        CredentialKind::ServiceCredential => "Old IAM service-specific credential",
        CredentialKind::BedrockApiKey => "Long-lived Amazon Bedrock API key",
        CredentialKind::SigningCertificate => "Old IAM signing certificate",
    }
}

/// The finding in one sentence.
pub fn description(finding: &Finding) -> String {
    let words = super::words::credential_words(finding.credential);
    let what = match (finding.credential, &finding.credential_id) {
        (CredentialKind::RootAccessKey, _) => {
            return format!(
                "The root user of account {} has an access key.",
                finding.account_id
            );
        }
        (CredentialKind::Password, _) => words.to_owned(),
        (_, Some(id)) => format!("{words} {id}"),
        (_, None) => format!("{words} (ID unknown)"),
    };
    let (user, account) = (&finding.user_name, &finding.account_id);
    if CredentialKind::OTHERS.contains(&finding.credential) {
        let age = match finding.idle_days {
            Some(days) => format!("is {days} days old"),
            None => "has no creation date".to_owned(),
        };
        let expiry = match (finding.credential, finding.expires) {
            (CredentialKind::BedrockApiKey, None) => ", and never expires",
            (CredentialKind::BedrockApiKey, Some(_)) => ", and expires beyond its maximum lifetime",
            _ => "",
        };
        return format!(
            "IAM user {user}'s {what} in account {account} {age}{expiry} (AWS records no use of it)."
        );
    }
    let idle = match finding.idle_days {
        Some(days) => format!("has not been used for {days} days"),
        None => "has no recorded use or creation date".to_owned(),
    };
    format!("IAM user {user}'s {what} in account {account} {idle}.")
}

/// What to do about it.
pub fn remediation(finding: &Finding) -> &'static str {
    match (finding.credential, finding.last_used) {
        (CredentialKind::RootAccessKey, _) => {
            "Sign in as the root user and delete the access key (Security credentials > Access keys)."
        }
        (CredentialKind::AccessKey, None) => {
            "Delete the key: it was never used (aws iam delete-access-key)."
        }
        (CredentialKind::AccessKey, Some(_)) => {
            "Deactivate the key (aws iam update-access-key --status Inactive), then delete it."
        }
        (CredentialKind::Password, _) => {
            "Remove console access: delete the login profile (aws iam delete-login-profile)."
        }
        (CredentialKind::SshKey, _) => {
            "Ask its owner whether it is still needed; if not, deactivate it (aws iam update-ssh-public-key --status Inactive), then delete it."
        }
        (CredentialKind::ServiceCredential, _) => {
            "Ask its owner whether it is still needed; if not, deactivate it (aws iam update-service-specific-credential --status Inactive), then delete it; else reset it."
        }
        (CredentialKind::BedrockApiKey, _) => {
            "Deactivate it (aws iam update-service-specific-credential --status Inactive) and use short-term Bedrock API keys, or long-term ones that expire."
        }
        (CredentialKind::SigningCertificate, _) => {
            "Ask its owner whether it is still needed; if not, deactivate it (aws iam update-signing-certificate --status Inactive), then delete it."
        }
    }
}
