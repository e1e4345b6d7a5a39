//! The inventory: what the `scan` stage read from one account's IAM, as plain data.
//!
//! Takes nothing; it is the type that `scan` returns and `rules` reads. Every value here has been
//! parsed once, at the adapter boundary: there is no `"N/A"` and no SDK type below this line.
//! A date that AWS does not know (never used, not tracked) is `None`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The IAM credentials of one account, as read by `scan`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// The IAM users, in the order the account returned them.
    pub users: Vec<User>,
    /// What is known about the root user's access keys.
    pub root: RootCredentials,
    /// When the credential report behind this inventory was generated (report mode only).
    pub credential_report_generated_at: Option<Timestamp>,
}

/// One IAM user and the credentials that exist for it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name, unique within the account.
    pub name: String,
    /// The user's ARN.
    pub arn: String,
    /// When the user was created. With the name, the user's identity from run to run: a user
    /// deleted and created again under the same name is another user.
    pub created: Option<Timestamp>,
    /// The console password, if a login profile exists now.
    pub password: Option<Password>,
    /// The user's access keys (IAM allows at most two).
    pub access_keys: Vec<AccessKey>,
    /// The user's other long-lived credentials (SSH public keys, service-specific credentials,
    /// signing certificates), as far as they were read: `scan` reads a kind only when its rule
    /// is on.
    pub others: Vec<OtherCredential>,
    /// The user's tags, as far as they were read: `scan` reads them only for users whose
    /// credentials are findings (or may be deleted), and only when an exemption is by tag.
    pub tags: Tags,
}

/// What is known of a user's tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tags {
    /// Not read (no exemption is by tag, or nothing of this user is a finding).
    #[default]
    NotRead,
    /// Read: every (key, value) pair.
    Read(Vec<(String, String)>),
    /// Could not be read (ListUserTags denied by an SCP, throttled past the retries): why.
    Unreadable(String),
}

/// A console password: a login profile that exists now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Password {
    /// When the current password was set: the login profile's CreateDate, or the credential
    /// report's `password_last_changed`. `None` only when AWS gives neither.
    pub set_at: Option<Timestamp>,
    /// The last console sign-in with a password, if AWS recorded one.
    pub last_used: Option<Timestamp>,
}

/// An IAM access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The access key ID. The credential report does not carry it: in report mode it is `None`
    /// until `scan` resolves it with ListAccessKeys.
    pub id: Option<String>,
    /// The key's slot in the credential report (1 or 2), when the key came from the report.
    pub slot: Option<u8>,
    /// Whether the key can be used.
    pub status: KeyStatus,
    /// When the key was created (the report's `access_key_N_last_rotated`).
    pub created: Option<Timestamp>,
    /// The key's last use, if AWS recorded one.
    pub last_used: Option<Timestamp>,
    /// The service the key was last used with, when AWS names one.
    pub last_used_service: Option<String>,
    /// Whether `last_used` was read live (GetAccessKeyLastUsed), not from the credential report.
    pub live: bool,
}

/// A long-lived credential AWS records no use for: an SSH public key (CodeCommit), a
/// service-specific credential (CodeCommit, Keyspaces, Bedrock and CloudWatch Logs API keys) or
/// an X.509 signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherCredential {
    /// Which kind: `SshKey`, `ServiceCredential`, `BedrockApiKey` or `SigningCertificate`.
    pub kind: CredentialKind,
    /// Its ID (`SSHPublicKeyId`, `ServiceSpecificCredentialId`, `CertificateId`). A signing
    /// certificate read from the credential report has none until `scan` looks it up.
    pub id: Option<String>,
    /// A signing certificate's slot in the credential report (1 or 2).
    pub slot: Option<u8>,
    /// Whether it can be used.
    pub status: KeyStatus,
    /// When it was created (uploaded, for SSH keys and certificates).
    pub created: Option<Timestamp>,
    /// A service-specific credential's service (`codecommit.amazonaws.com`, …).
    pub service: Option<String>,
    /// When it expires, when it was created with an expiration (Bedrock and CloudWatch Logs API
    /// keys).
    pub expires: Option<Timestamp>,
}

/// The IAM status of an access key (the report's `credential_status`, named as IAM names it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KeyStatus {
    /// The key can be used to sign requests.
    Active,
    /// The key has been deactivated; it can be reactivated.
    Inactive,
    /// An SSH public key past its expiry: it cannot be used.
    Expired,
}

impl KeyStatus {
    /// The name IAM uses for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
            KeyStatus::Expired => "Expired",
        }
    }
}

/// What is known about the root user's access keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RootCredentials {
    /// The scan could not tell (for example a credential report without a `<root_account>` row).
    #[default]
    Unknown,
    /// The credential report's `<root_account>` row: its keys, active or not, with their dates.
    Keys {
        /// The root user's ARN (`arn:<partition>:iam::<account>:root`).
        arn: String,
        /// The keys that exist (zero, one or two).
        keys: Vec<AccessKey>,
    },
    /// GetAccountSummary's `AccountAccessKeysPresent` is 1: a root key exists, no details known.
    KeysPresent {
        /// The root user's ARN.
        arn: String,
    },
    /// GetAccountSummary's `AccountAccessKeysPresent` is 0.
    NoKeys,
}

/// The kind of credential a verdict is about (the report's `credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An IAM user's access key.
    AccessKey,
    /// An IAM user's console password.
    Password,
    /// The root user's access key.
    RootAccessKey,
    /// An IAM user's SSH public key (CodeCommit).
    SshKey,
    /// An IAM user's service-specific credential (CodeCommit, Keyspaces, CloudWatch Logs API
    /// keys, …), Bedrock's excepted.
    ServiceCredential,
    /// An IAM user's Amazon Bedrock long-term API key (a service-specific credential).
    BedrockApiKey,
    /// An IAM user's X.509 signing certificate.
    SigningCertificate,
}

impl CredentialKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::AccessKey => "access_key",
            CredentialKind::Password => "password",
            CredentialKind::RootAccessKey => "root_access_key",
            CredentialKind::SshKey => "ssh_key",
            CredentialKind::ServiceCredential => "service_credential",
            CredentialKind::BedrockApiKey => "bedrock_api_key",
            CredentialKind::SigningCertificate => "signing_certificate",
        }
    }

    /// The kinds AWS records no use for, judged by age.
    pub const OTHERS: [CredentialKind; 4] = [
        CredentialKind::SshKey,
        CredentialKind::ServiceCredential,
        CredentialKind::BedrockApiKey,
        CredentialKind::SigningCertificate,
    ];
}
