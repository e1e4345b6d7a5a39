//! The rules: which credentials are unused. Pure functions of an [`Inventory`], a [`Policy`] and
//! the run's `now`.
//!
//! Takes one account's inventory and returns a [`Verdict`] for every credential in it, unused or
//! not, so that reports can show coverage. This module does no I/O, never reads the clock and
//! never logs: the clock is the `now` parameter, read once by the caller when the run starts.
//!
//! The semantics follow CIS AWS Foundations 1.12 ("credentials unused for 45 days or greater"):
//! a credential is idle since the later of its last use and its creation (for a password, when
//! the current password was set), idle days are whole 24-hour periods, and the threshold is
//! inclusive. `docs/rules.md` has one section per [`Rule`].

mod access_key_unused;
pub mod cis;
mod old_credential;
mod password_unused;
mod root_access_key;

pub use root_access_key::ROOT_USER;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use crate::inventory::CredentialKind;
use crate::inventory::{Inventory, KeyStatus, Tags, User};

/// The closed set of rules. Each has a stable kebab-case code, documented in `docs/rules.md`
/// (the report's `rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// An active access key unused for the threshold or longer.
    AccessKeyUnused,
    /// A console password unused for the threshold or longer.
    PasswordUnused,
    /// The root user has an access key.
    RootAccessKey,
    /// An active SSH public key older than its kind's maximum age.
    SshKeyOld,
    /// An active service-specific credential older than its kind's maximum age.
    ServiceCredentialOld,
    /// An active Bedrock long-term API key older than its maximum age, without an expiration,
    /// or expiring beyond its maximum lifetime.
    BedrockApiKeyLongLived,
    /// An active X.509 signing certificate older than its kind's maximum age.
    SigningCertificateOld,
}

/// How urgent a finding is; ordered from least to most severe (the report's `severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Should be fixed in the normal course of work.
    Medium,
    /// Should be fixed soon.
    High,
    /// Should be fixed now.
    Critical,
}

impl Severity {
    /// The lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl Rule {
    /// Every rule, in documentation order.
    pub const ALL: [Rule; 7] = [
        Rule::AccessKeyUnused,
        Rule::PasswordUnused,
        Rule::RootAccessKey,
        Rule::SshKeyOld,
        Rule::ServiceCredentialOld,
        Rule::BedrockApiKeyLongLived,
        Rule::SigningCertificateOld,
    ];

    /// The rule that judges a credential of this kind.
    pub fn of(credential: CredentialKind) -> Rule {
        match credential {
            CredentialKind::AccessKey => Rule::AccessKeyUnused,
            CredentialKind::Password => Rule::PasswordUnused,
            CredentialKind::RootAccessKey => Rule::RootAccessKey,
            CredentialKind::SshKey => Rule::SshKeyOld,
            CredentialKind::ServiceCredential => Rule::ServiceCredentialOld,
            CredentialKind::BedrockApiKey => Rule::BedrockApiKeyLongLived,
            CredentialKind::SigningCertificate => Rule::SigningCertificateOld,
        }
    }

    /// The stable code used in reports and in `docs/rules.md`.
    pub fn code(self) -> &'static str {
        match self {
            Rule::AccessKeyUnused => "access-key-unused",
            Rule::PasswordUnused => "password-unused",
            Rule::RootAccessKey => "root-access-key",
            Rule::SshKeyOld => "ssh-key-old",
            Rule::ServiceCredentialOld => "service-credential-old",
            Rule::BedrockApiKeyLongLived => "bedrock-api-key-long-lived",
            Rule::SigningCertificateOld => "signing-certificate-old",
        }
    }

    /// The rule's severity.
    pub fn severity(self) -> Severity {
        match self {
            Rule::AccessKeyUnused
            | Rule::PasswordUnused
            | Rule::SshKeyOld
            | Rule::ServiceCredentialOld
            | Rule::SigningCertificateOld => Severity::Medium,
            // A long-term Bedrock key spends money on every call, and AWS recommends short-term
            // keys: one that never expires is the riskiest credential here after root's.
            Rule::BedrockApiKeyLongLived => Severity::High,
            Rule::RootAccessKey => Severity::Critical,
        }
    }

    /// Where a person reads how to fix it.
    pub fn remediation_url(self) -> &'static str {
        match self {
            Rule::AccessKeyUnused => {
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html#Using_ManagingAccessKeys"
            }
            Rule::PasswordUnused => {
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_admin-change-user.html"
            }
            Rule::RootAccessKey => {
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user_manage_delete-key.html"
            }
            Rule::SshKeyOld => {
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_ssh-keys.html"
            }
            Rule::ServiceCredentialOld => {
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_service-specific-creds.html"
            }
            Rule::BedrockApiKeyLongLived => {
                "https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys.html"
            }
            Rule::SigningCertificateOld => {
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_server-certs.html"
            }
        }
    }
}

/// The policy the rules apply to one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// A credential idle for this many days or more is unused (CIS: 45).
    pub max_idle_days: u32,
    /// Users whose credentials are reported but never counted as findings.
    pub exemptions: Vec<Exemption>,
    /// The tag keys that name a user's owner, in order of preference (`owners.tag_keys`).
    pub owner_tags: Vec<String>,
    /// The age limits of the credentials AWS records no use for.
    pub ages: CredentialAges,
}

/// The age limits of the credentials AWS records no use for, in days; 0 turns a kind off (it is
/// neither read nor judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CredentialAges {
    /// An active SSH public key this old or older is a finding.
    pub ssh_key_days: u32,
    /// An active service-specific credential (Bedrock's excepted) this old or older.
    pub service_credential_days: u32,
    /// An active Bedrock long-term API key this old or older.
    pub bedrock_api_key_days: u32,
    /// An active Bedrock long-term API key without an expiration, or expiring more than this
    /// many days after its creation.
    pub bedrock_api_key_lifetime_days: u32,
    /// An active signing certificate this old or older.
    pub signing_certificate_days: u32,
}

impl CredentialAges {
    /// The age limit of `kind`, when it is judged by age and its rule is on.
    pub fn max_age(&self, kind: CredentialKind) -> Option<u32> {
        let days = match kind {
            CredentialKind::SshKey => self.ssh_key_days,
            CredentialKind::ServiceCredential => self.service_credential_days,
            CredentialKind::BedrockApiKey => self.bedrock_api_key_days,
            CredentialKind::SigningCertificate => self.signing_certificate_days,
            CredentialKind::AccessKey
            | CredentialKind::Password
            | CredentialKind::RootAccessKey => 0,
        };
        (days > 0).then_some(days)
    }

    /// Whether any of `kinds` is judged, so must be read.
    pub fn reads(&self, kinds: &[CredentialKind]) -> bool {
        kinds.iter().any(|kind| self.max_age(*kind).is_some())
    }
}

/// Who owns a user, from one of its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The tag key, as the user has it.
    pub tag: String,
    /// Its value.
    pub value: String,
}

/// One way to exempt break-glass users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    /// A user-name pattern: `*` matches any run of characters; everything else is literal, and
    /// letters match whatever their case (IAM user names are unique without regard to case).
    UserName(String),
    /// An IAM user tag: the key whatever its case (as IAM compares tag keys), the value exactly
    /// (for example `stalecreds:exempt` = `true`).
    Tag {
        /// The tag key.
        key: String,
        /// The tag value.
        value: String,
    },
}

/// Whether a user is exempt, as far as can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExemptionStatus {
    /// No exemption applies.
    NotExempt,
    /// An exemption applies; the reason says which.
    Exempt(String),
    /// A tag exemption is configured and the user's tags are not known: the user may be exempt.
    /// Fail closed: the credentials stay findings, and are never remediated.
    Unknown(String),
}

impl ExemptionStatus {
    /// Whether remediation must leave the user alone: exempt, or perhaps exempt.
    pub fn protects(&self) -> bool {
        !matches!(self, ExemptionStatus::NotExempt)
    }
}

impl Policy {
    /// Whether `user` is exempt. A name pattern that matches decides alone; otherwise, when an
    /// exemption is by tag, the user's tags decide, and tags not read (or unreadable) make the
    /// answer [`ExemptionStatus::Unknown`].
    pub fn exemption_for(&self, user: &User) -> ExemptionStatus {
        let by_name = self
            .exemptions
            .iter()
            .find_map(|exemption| match exemption {
                Exemption::UserName(pattern) => {
                    glob_match(&pattern.to_lowercase(), &user.name.to_lowercase())
                        .then(|| format!("user name matches `{pattern}`"))
                }
                Exemption::Tag { .. } => None,
            });
        if let Some(reason) = by_name {
            return ExemptionStatus::Exempt(reason);
        }
        let mut by_tag = self
            .exemptions
            .iter()
            .filter_map(|exemption| match exemption {
                Exemption::Tag { key, value } => Some((key, value)),
                Exemption::UserName(_) => None,
            });
        let Some(first) = by_tag.next() else {
            return ExemptionStatus::NotExempt;
        };
        let tags = match &user.tags {
            Tags::Read(tags) => tags,
            Tags::NotRead => {
                return ExemptionStatus::Unknown("the user's tags were not read".to_owned());
            }
            Tags::Unreadable(reason) => {
                return ExemptionStatus::Unknown(format!(
                    "the user's tags could not be read ({reason})"
                ));
            }
        };
        std::iter::once(first)
            .chain(by_tag)
            .find(|(key, value)| {
                tags.iter()
                    .any(|(k, v)| k.to_lowercase() == key.to_lowercase() && v == *value)
            })
            .map_or(ExemptionStatus::NotExempt, |(key, value)| {
                ExemptionStatus::Exempt(format!("tagged `{key}={value}`"))
            })
    }

    /// Whether the users' tags are needed: an exemption by tag, or owners by tag.
    pub fn needs_tags(&self) -> bool {
        !self.owner_tags.is_empty()
            || self
                .exemptions
                .iter()
                .any(|exemption| matches!(exemption, Exemption::Tag { .. }))
    }

    /// The user's owner: the first of `owner_tags` the user has (keys whatever their case, as
    /// IAM compares them) with a value; none when the tags were not read.
    pub fn owner_of(&self, user: &User) -> Option<Owner> {
        let Tags::Read(tags) = &user.tags else {
            return None;
        };
        self.owner_tags.iter().find_map(|wanted| {
            tags.iter()
                .find(|(key, value)| key.eq_ignore_ascii_case(wanted) && !value.trim().is_empty())
                .map(|(key, value)| Owner {
                    tag: key.clone(),
                    value: value.clone(),
                })
        })
    }
}

/// What the rules concluded about one credential (the report's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Idle for the threshold or longer (or, for root keys, present): a finding.
    Unused,
    /// Used recently enough.
    InUse,
    /// An inactive access key: information, not a finding.
    Inactive,
    /// Would be a finding, but the user is exempt (`Verdict::exempt_reason` says why).
    Exempt,
}

impl Outcome {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unused => "unused",
            Outcome::InUse => "in_use",
            Outcome::Inactive => "inactive",
            Outcome::Exempt => "exempt",
        }
    }
}

/// The verdict on one credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// The rule that judged it.
    pub rule: Rule,
    /// The IAM user name (`<root_account>` for root).
    pub user_name: String,
    /// The user's ARN.
    pub user_arn: String,
    /// When the user was created (its identity with the name; none for root).
    pub user_created: Option<Timestamp>,
    /// The kind of credential.
    pub credential: CredentialKind,
    /// The credential's ID, when known: the access key ID, the SSH key's, the service-specific
    /// credential's or the certificate's (never for passwords).
    pub access_key_id: Option<String>,
    /// The key's slot in the credential report, when it came from there.
    pub key_slot: Option<u8>,
    /// The key's IAM status (none for passwords).
    pub key_status: Option<KeyStatus>,
    /// When the credential was created (for a password: when it was last set).
    pub created: Option<Timestamp>,
    /// The last use AWS recorded, if any.
    pub last_used: Option<Timestamp>,
    /// The service of the last use, when AWS names one.
    pub last_used_service: Option<String>,
    /// The later of `created` and `last_used`.
    pub idle_since: Option<Timestamp>,
    /// Whole days from `idle_since` to `now`; `None` when neither date is known.
    pub idle_days: Option<i64>,
    /// The conclusion.
    pub outcome: Outcome,
    /// Why an exempt credential is exempt.
    pub exempt_reason: Option<String>,
    /// Why an unused credential might be exempt without it being known (the user's tags could
    /// not be read): it stays a finding, and is never remediated.
    pub exemption_unknown: Option<String>,
    /// The user's owner, from its tags (`owners.tag_keys`), when known.
    pub owner: Option<Owner>,
    /// A service-specific credential's service.
    #[serde(default)]
    pub service: Option<String>,
    /// When the credential expires, when it was created with an expiration.
    #[serde(default)]
    pub expires: Option<Timestamp>,
}

impl Verdict {
    /// Whether this verdict counts as a finding.
    pub fn is_finding(&self) -> bool {
        self.outcome == Outcome::Unused
    }
}

/// Judges every credential of one account's inventory.
///
/// Verdicts come out in inventory order: root first, then each user's password and keys.
pub fn evaluate(inventory: &Inventory, policy: &Policy, now: Timestamp) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    root_access_key::evaluate(&inventory.root, now, &mut verdicts);
    for user in &inventory.users {
        let first = verdicts.len();
        password_unused::evaluate(user, policy, now, &mut verdicts);
        access_key_unused::evaluate(user, policy, now, &mut verdicts);
        old_credential::evaluate(user, policy, now, &mut verdicts);
        let owner = policy.owner_of(user);
        for verdict in &mut verdicts[first..] {
            verdict.owner.clone_from(&owner);
        }
        let unused = verdicts[first..]
            .iter_mut()
            .filter(|verdict| verdict.outcome == Outcome::Unused);
        match policy.exemption_for(user) {
            ExemptionStatus::NotExempt => {}
            ExemptionStatus::Exempt(reason) => unused.for_each(|verdict| {
                verdict.outcome = Outcome::Exempt;
                verdict.exempt_reason = Some(reason.clone());
            }),
            ExemptionStatus::Unknown(reason) => {
                unused.for_each(|verdict| verdict.exemption_unknown = Some(reason.clone()));
            }
        }
    }
    verdicts
}

/// The later of two optional instants.
fn idle_since(created: Option<Timestamp>, last_used: Option<Timestamp>) -> Option<Timestamp> {
    match (created, last_used) {
        (Some(created), Some(used)) => Some(created.max(used)),
        (one, other) => one.or(other),
    }
}

/// Whole 24-hour periods from `since` to `now`, never negative (a date in the future, from clock
/// skew, counts as zero days).
pub fn idle_days(since: Timestamp, now: Timestamp) -> i64 {
    const DAY: i64 = 24 * 60 * 60;
    // `as_secs` truncates toward zero, which is the floor for the non-negative case that counts.
    (now.duration_since(since).as_secs() / DAY).max(0)
}

/// Whether a credential idle since `since` is unused under `policy`; unknown age counts as
/// unused, because nothing shows it was used.
fn is_unused(since: Option<Timestamp>, policy: &Policy, now: Timestamp) -> bool {
    since.is_none_or(|since| idle_days(since, now) >= i64::from(policy.max_idle_days))
}

/// Matches `text` against `pattern`, where `*` matches any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests;
