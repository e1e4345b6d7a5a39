//! Deactivating, and reactivating on undo, the credentials AWS records no use for: SSH public
//! keys (UpdateSSHPublicKey), service-specific credentials (UpdateServiceSpecificCredential,
//! Bedrock API keys included) and signing certificates (UpdateSigningCertificate). Each change
//! sets a status, so each is reversible. The live state is read with the kind's list call for
//! the one user: a user holds a handful of these at most (five SSH keys, two certificates, two
//! credentials a service), so one page holds them all.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;
use jiff::Timestamp;

use crate::aws::{AwsError, Pace, timestamp};
use crate::inventory::{CredentialKind, KeyStatus};
use crate::rules::idle_days;

/// Which list and update calls a credential takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Calls {
    /// ListSSHPublicKeys, UpdateSSHPublicKey.
    SshKey,
    /// ListServiceSpecificCredentials, UpdateServiceSpecificCredential.
    ServiceCredential,
    /// ListSigningCertificates, UpdateSigningCertificate.
    SigningCertificate,
}

impl Calls {
    /// The calls for a credential of `kind`, when it is one of these.
    pub(super) fn of(kind: CredentialKind) -> Option<Calls> {
        match kind {
            CredentialKind::SshKey => Some(Calls::SshKey),
            CredentialKind::ServiceCredential | CredentialKind::BedrockApiKey => {
                Some(Calls::ServiceCredential)
            }
            CredentialKind::SigningCertificate => Some(Calls::SigningCertificate),
            CredentialKind::AccessKey
            | CredentialKind::Password
            | CredentialKind::RootAccessKey => None,
        }
    }

    /// The credential kind these calls are recorded under when nothing tells more.
    pub(super) fn kind(self) -> CredentialKind {
        match self {
            Calls::SshKey => CredentialKind::SshKey,
            Calls::ServiceCredential => CredentialKind::ServiceCredential,
            Calls::SigningCertificate => CredentialKind::SigningCertificate,
        }
    }

    fn list(self) -> &'static str {
        match self {
            Calls::SshKey => "ListSSHPublicKeys",
            Calls::ServiceCredential => "ListServiceSpecificCredentials",
            Calls::SigningCertificate => "ListSigningCertificates",
        }
    }

    fn update(self) -> &'static str {
        match self {
            Calls::SshKey => "UpdateSSHPublicKey",
            Calls::ServiceCredential => "UpdateServiceSpecificCredential",
            Calls::SigningCertificate => "UpdateSigningCertificate",
        }
    }
}

/// A credential's live status and creation date, or `None` when the user (or it) is gone.
pub(super) async fn live(
    iam: &Client,
    pace: &Pace,
    calls: Calls,
    user_name: &str,
    id: &str,
) -> Result<Option<(KeyStatus, Option<Timestamp>)>, AwsError> {
    pace.ready().await;
    let gone = |error: &AwsError| error.code == "NoSuchEntity";
    let listed: Vec<(String, StatusType, Option<Timestamp>)> = match calls {
        Calls::SshKey => match iam.list_ssh_public_keys().user_name(user_name).send().await {
            Ok(page) => page
                .ssh_public_keys()
                .iter()
                .map(|key| {
                    let id = key.ssh_public_key_id().to_owned();
                    (id, key.status().clone(), timestamp(key.upload_date()))
                })
                .collect(),
            Err(error) => return missing(AwsError::from_sdk(calls.list(), &error), gone),
        },
        Calls::ServiceCredential => {
            let asked = iam.list_service_specific_credentials().user_name(user_name);
            match asked.send().await {
                Ok(page) => page
                    .service_specific_credentials()
                    .iter()
                    .map(|credential| {
                        let id = credential.service_specific_credential_id().to_owned();
                        let created = timestamp(credential.create_date());
                        (id, credential.status().clone(), created)
                    })
                    .collect(),
                Err(error) => return missing(AwsError::from_sdk(calls.list(), &error), gone),
            }
        }
        Calls::SigningCertificate => {
            match iam
                .list_signing_certificates()
                .user_name(user_name)
                .send()
                .await
            {
                Ok(page) => page
                    .certificates()
                    .iter()
                    .map(|certificate| {
                        let id = certificate.certificate_id().to_owned();
                        let created = certificate.upload_date().and_then(timestamp);
                        (id, certificate.status().clone(), created)
                    })
                    .collect(),
                Err(error) => return missing(AwsError::from_sdk(calls.list(), &error), gone),
            }
        }
    };
    Ok(listed
        .into_iter()
        .find(|(listed, _, _)| listed == id)
        .map(|(_, status, created)| (key_status(&status), created)))
}

/// `Ok(None)` for an error that says the user is gone; the error otherwise.
fn missing<T>(error: AwsError, gone: impl Fn(&AwsError) -> bool) -> Result<Option<T>, AwsError> {
    if gone(&error) { Ok(None) } else { Err(error) }
}

fn key_status(status: &StatusType) -> KeyStatus {
    match status {
        StatusType::Active => KeyStatus::Active,
        StatusType::Expired => KeyStatus::Expired,
        _ => KeyStatus::Inactive,
    }
}

/// Sets a credential's status (`Active` to undo, `Inactive` to remediate).
pub(super) async fn set_status(
    iam: &Client,
    calls: Calls,
    user_name: &str,
    id: &str,
    status: StatusType,
) -> Result<(), AwsError> {
    match calls {
        Calls::SshKey => iam
            .update_ssh_public_key()
            .user_name(user_name)
            .ssh_public_key_id(id)
            .status(status)
            .send()
            .await
            .map(drop)
            .map_err(|error| AwsError::from_sdk(calls.update(), &error)),
        Calls::ServiceCredential => iam
            .update_service_specific_credential()
            .user_name(user_name)
            .service_specific_credential_id(id)
            .status(status)
            .send()
            .await
            .map(drop)
            .map_err(|error| AwsError::from_sdk(calls.update(), &error)),
        Calls::SigningCertificate => iam
            .update_signing_certificate()
            .user_name(user_name)
            .certificate_id(id)
            .status(status)
            .send()
            .await
            .map(drop)
            .map_err(|error| AwsError::from_sdk(calls.update(), &error)),
    }
}

/// Why a credential planned for deactivation no longer qualifies, judged live: gone, not
/// active, or younger than the stage's threshold (it was replaced by a new one of the same ID,
/// which cannot happen, or the plan was made on a wrong date).
pub(super) fn no_longer(
    live: Option<(KeyStatus, Option<Timestamp>)>,
    threshold: u32,
    now: Timestamp,
) -> Option<String> {
    let Some((status, created)) = live else {
        return Some("it no longer exists".to_owned());
    };
    if status != KeyStatus::Active {
        return Some(format!("it is now {}", status.as_str()));
    }
    let age = created.map(|created| idle_days(created, now))?;
    (age < i64::from(threshold)).then(|| format!("only {age} days old (stage needs {threshold})"))
}
