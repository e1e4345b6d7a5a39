//! The long-lived credentials AWS records no use for: SSH public keys, service-specific
//! credentials (Bedrock and CloudWatch Logs API keys among them) and signing certificates.
//!
//! Each kind is read only when its rule is on, with the fewest requests:
//!
//! - service-specific credentials: one ListServiceSpecificCredentials with `AllUsers`, paged, for
//!   the whole account;
//! - signing certificates: report mode has them in the credential report (slots, no IDs; the IDs
//!   of the findings are looked up afterwards, [`resolve_certificate_ids`]); api mode reads
//!   ListSigningCertificates per user;
//! - SSH public keys: no API lists them for all users, so one ListSSHPublicKeys per user.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;

use super::{Mode, UserError, update_users};
use crate::aws::{self, AwsError, Pace, timestamp};
use crate::inventory::{CredentialKind, Inventory, KeyStatus, OtherCredential};
use crate::rules::CredentialAges;

/// Items asked for per page (IAM's most).
const PAGE_SIZE: i32 = 1000;

/// The name an account-wide read's failure is recorded under: it concerns every user.
pub const EVERY_USER: &str = "(every user)";

/// A service-specific credential's service when it is a Bedrock long-term API key.
const BEDROCK: &str = "bedrock.amazonaws.com";

/// Reads the kinds `ages` judges into `inventory`; the failures, each recorded against its user
/// (or [`EVERY_USER`]), leave the account incomplete.
pub async fn read(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
    ages: &CredentialAges,
    mode: Mode,
) -> Vec<UserError> {
    let mut errors = Vec::new();
    if !ages.reads(&[CredentialKind::SigningCertificate]) {
        for user in &mut inventory.users {
            user.others
                .retain(|other| other.kind != CredentialKind::SigningCertificate);
        }
    } else if mode == Mode::Api {
        errors.extend(certificates_of_every_user(iam, pace, inventory).await);
    }
    if ages.reads(&[
        CredentialKind::ServiceCredential,
        CredentialKind::BedrockApiKey,
    ]) {
        match service_credentials(iam, pace).await {
            Ok(found) => attach(inventory, found),
            Err(error) => errors.push(UserError {
                user_name: EVERY_USER.to_owned(),
                error,
            }),
        }
    }
    if ages.reads(&[CredentialKind::SshKey]) {
        let everyone: BTreeSet<String> = inventory.users.iter().map(|u| u.name.clone()).collect();
        errors.extend(
            update_users(
                inventory,
                &everyone,
                |user| async move { ssh_keys(iam, pace, &user.name).await },
                |user, keys| user.others.extend(keys),
            )
            .await,
        );
    }
    errors.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    errors
}

/// Fills in the certificate IDs of `users` (report mode), with one ListSigningCertificates
/// each: the report's slots paired with the live certificates by upload time, to the second,
/// when that is one to one; otherwise the live certificates replace the report's.
pub async fn resolve_certificate_ids(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
    users: &BTreeSet<String>,
) -> Vec<UserError> {
    update_users(
        inventory,
        users,
        |user| async move {
            let live = certificates(iam, pace, &user.name).await?;
            let reported: Vec<&OtherCredential> = user
                .others
                .iter()
                .filter(|other| other.kind == CredentialKind::SigningCertificate)
                .collect();
            Ok(pair_by_upload(&reported, live))
        },
        |user, certificates| {
            user.others
                .retain(|other| other.kind != CredentialKind::SigningCertificate);
            user.others.extend(certificates);
        },
    )
    .await
}

/// The report's certificates with the IDs of the live ones uploaded in the same second, when
/// the two pair one to one; else the live certificates as they are.
fn pair_by_upload(
    reported: &[&OtherCredential],
    live: Vec<OtherCredential>,
) -> Vec<OtherCredential> {
    let second = |other: &OtherCredential| other.created.map(|at| at.as_second());
    let mut paired = Vec::new();
    for report in reported {
        let mut same = live
            .iter()
            .filter(|other| second(other).is_some() && second(other) == second(report));
        match (same.next(), same.next()) {
            (Some(found), None) => paired.push(OtherCredential {
                id: found.id.clone(),
                status: found.status,
                ..(*report).clone()
            }),
            _ => return live,
        }
    }
    if paired.len() == live.len() {
        paired
    } else {
        live
    }
}

/// Every user's signing certificates (api mode).
async fn certificates_of_every_user(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
) -> Vec<UserError> {
    let everyone: BTreeSet<String> = inventory.users.iter().map(|u| u.name.clone()).collect();
    update_users(
        inventory,
        &everyone,
        |user| async move { certificates(iam, pace, &user.name).await },
        |user, certificates| user.others.extend(certificates),
    )
    .await
}

/// A user's signing certificates (ListSigningCertificates, paged).
async fn certificates(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
) -> Result<Vec<OtherCredential>, AwsError> {
    const OPERATION: &str = "ListSigningCertificates";
    let listed = aws::all_pages(OPERATION, pace, |marker| async move {
        let page = iam
            .list_signing_certificates()
            .user_name(user_name)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(OPERATION, &error))?;
        let next = aws::iam_marker(OPERATION, page.is_truncated(), page.marker())?;
        Ok((page.certificates, next))
    })
    .await?;
    listed
        .iter()
        .map(|certificate| {
            Ok(OtherCredential {
                kind: CredentialKind::SigningCertificate,
                id: Some(certificate.certificate_id().to_owned()),
                slot: None,
                status: status(OPERATION, certificate.status())?,
                created: certificate.upload_date().and_then(timestamp),
                service: None,
                expires: None,
            })
        })
        .collect()
}

/// A user's SSH public keys (ListSSHPublicKeys, paged).
async fn ssh_keys(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
) -> Result<Vec<OtherCredential>, AwsError> {
    const OPERATION: &str = "ListSSHPublicKeys";
    let listed = aws::all_pages(OPERATION, pace, |marker| async move {
        let page = iam
            .list_ssh_public_keys()
            .user_name(user_name)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(OPERATION, &error))?;
        let next = aws::iam_marker(OPERATION, page.is_truncated(), page.marker())?;
        Ok((page.ssh_public_keys.unwrap_or_default(), next))
    })
    .await?;
    listed
        .iter()
        .map(|key| {
            Ok(OtherCredential {
                kind: CredentialKind::SshKey,
                id: Some(key.ssh_public_key_id().to_owned()),
                slot: None,
                status: status(OPERATION, key.status())?,
                created: timestamp(key.upload_date()),
                service: None,
                expires: None,
            })
        })
        .collect()
}

/// Every user's service-specific credentials, by user name: one ListServiceSpecificCredentials
/// with `AllUsers`, paged.
async fn service_credentials(
    iam: &Client,
    pace: &Pace,
) -> Result<Vec<(String, OtherCredential)>, AwsError> {
    const OPERATION: &str = "ListServiceSpecificCredentials";
    let listed = aws::all_pages(OPERATION, pace, |marker| async move {
        let page = iam
            .list_service_specific_credentials()
            .all_users(true)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(OPERATION, &error))?;
        let next = aws::iam_marker(OPERATION, page.is_truncated(), page.marker())?;
        Ok((page.service_specific_credentials.unwrap_or_default(), next))
    })
    .await?;
    listed
        .iter()
        .map(|credential| {
            let service = credential.service_name();
            Ok((
                credential.user_name().to_owned(),
                OtherCredential {
                    kind: if service == BEDROCK {
                        CredentialKind::BedrockApiKey
                    } else {
                        CredentialKind::ServiceCredential
                    },
                    id: Some(credential.service_specific_credential_id().to_owned()),
                    slot: None,
                    status: status(OPERATION, credential.status())?,
                    created: timestamp(credential.create_date()),
                    service: Some(service.to_owned()),
                    expires: credential.expiration_date().and_then(timestamp),
                },
            ))
        })
        .collect()
}

/// Gives each user its credentials; a credential of a user not in the inventory (created since
/// the credential report) is left out, as its user's keys would be.
fn attach(inventory: &mut Inventory, found: Vec<(String, OtherCredential)>) {
    let mut by_user: BTreeMap<String, Vec<OtherCredential>> = BTreeMap::new();
    for (user_name, credential) in found {
        by_user.entry(user_name).or_default().push(credential);
    }
    for user in &mut inventory.users {
        if let Some(credentials) = by_user.remove(&user.name) {
            user.others.extend(credentials);
        }
    }
}

/// IAM's status of a credential.
fn status(operation: &'static str, status: &StatusType) -> Result<KeyStatus, AwsError> {
    match status.as_str() {
        "Active" => Ok(KeyStatus::Active),
        "Inactive" => Ok(KeyStatus::Inactive),
        "Expired" => Ok(KeyStatus::Expired),
        other => Err(AwsError::invalid_answer(
            operation,
            format!("an unknown status `{other}`"),
        )),
    }
}
