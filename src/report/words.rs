//! The words every rendering of a run uses (the table, the page, ASFF, the digest): one place,
//! below them all.

use jiff::Timestamp;

use crate::rules::CredentialKind;

/// A credential kind in words: `access key`, `console password`, `root access key`.
pub(crate) fn credential_words(credential: CredentialKind) -> &'static str {
    match credential {
        CredentialKind::AccessKey => "access key",
        CredentialKind::Password => "console password",
        CredentialKind::RootAccessKey => "root access key",
        CredentialKind::SshKey => "SSH public key",
        CredentialKind::ServiceCredential => "service-specific credential",
        CredentialKind::BedrockApiKey => "Bedrock API key",
        CredentialKind::SigningCertificate => "signing certificate",
    }
}

/// An account as people name it: `prod (111111111111)`, or its ID alone.
pub(crate) fn account_label(account_id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} ({account_id})"),
        None => account_id.to_owned(),
    }
}

/// A day: `2026-11-28`.
pub(crate) fn day(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

/// The plural ending of `count` things.
pub(crate) fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
