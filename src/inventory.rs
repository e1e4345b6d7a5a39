//! The inventory: what the `scan` stage read from one account's IAM, as plain data.
//!
//! Takes nothing; it is the type that `scan` returns and `rules` reads. Every value here has been
//! parsed once, at the adapter boundary: there is no `"N/A"` and no SDK type below this line.
//! A date that AWS does not know (never used, not tracked) is `None`.

use jiff::Timestamp;

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

/// The IAM status of an access key (the report's `credential_status`, named as IAM names it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KeyStatus {
    /// The key can be used to sign requests.
    Active,
    /// The key has been deactivated; it can be reactivated.
    Inactive,
}

impl KeyStatus {
    /// The name IAM uses for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
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
