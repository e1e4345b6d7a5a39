//! Confirming report-mode findings against live state, before the report is built.
//!
//! The credential report can be up to four hours old: a key used, a password used or removed, a
//! user deleted since it was generated would otherwise be reported as unused. Every credential
//! about to be reported as unused is read again, live: GetAccessKeyLastUsed for each key (unless
//! its last use was already read live), GetUser (`PasswordLastUsed`) and GetLoginProfile for each
//! password. That is O(findings) requests on top of the report's O(1). A user deleted since the
//! report is dropped (see `update_users`), a password removed since is gone; the caller judges
//! the confirmed inventory again.

use std::collections::BTreeSet;

use aws_sdk_iam::Client;

use super::{UserError, api_mode, update_users};
use crate::aws::{AwsError, Pace, timestamp};
use crate::inventory::{Inventory, Password, User};
use crate::rules::{CredentialKind, Verdict};

/// Reads again, live, every credential that `verdicts` call unused, and updates `inventory`.
/// Returns the users whose credentials could not be confirmed (their findings stay as the
/// report had them).
pub async fn confirm(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
    verdicts: &[Verdict],
) -> Vec<UserError> {
    let findings: Vec<&Verdict> = verdicts
        .iter()
        .filter(|verdict| {
            verdict.is_finding() && verdict.credential != CredentialKind::RootAccessKey
        })
        .collect();
    let keys: BTreeSet<(&str, &str)> = findings
        .iter()
        .filter(|verdict| verdict.credential == CredentialKind::AccessKey)
        .filter_map(|verdict| {
            Some((
                verdict.user_name.as_str(),
                verdict.access_key_id.as_deref()?,
            ))
        })
        .collect();
    let passwords: BTreeSet<&str> = findings
        .iter()
        .filter(|verdict| verdict.credential == CredentialKind::Password)
        .map(|verdict| verdict.user_name.as_str())
        .collect();
    let users: BTreeSet<String> = findings
        .iter()
        .map(|verdict| verdict.user_name.clone())
        .collect();
    let (keys, passwords) = (&keys, &passwords);
    update_users(
        inventory,
        &users,
        |user| async move {
            let mut confirmed = user.clone();
            for key in &mut confirmed.access_keys {
                let Some(id) = key.id.as_deref() else {
                    continue;
                };
                if key.live || !keys.contains(&(user.name.as_str(), id)) {
                    continue;
                }
                let (last_used, service) = api_mode::last_use(iam, pace, id).await?;
                key.last_used = last_used.max(key.last_used);
                if last_used.is_some() && last_used == key.last_used {
                    key.last_used_service = service;
                }
                key.live = true;
            }
            if passwords.contains(user.name.as_str()) {
                confirmed.password = live_password(iam, pace, &user).await?;
            }
            Ok(confirmed)
        },
        |user, confirmed| *user = confirmed,
    )
    .await
}

/// The user's password as it is now: `None` if the login profile is gone. The later of the
/// report's and the live dates wins: a login profile's CreateDate does not move on a reset (the
/// report's `password_last_changed` does), but a profile deleted and made again is newer.
async fn live_password(
    iam: &Client,
    pace: &Pace,
    user: &User,
) -> Result<Option<Password>, AwsError> {
    let Some(created) = api_mode::login_profile(iam, pace, &user.name).await? else {
        return Ok(None);
    };
    pace.ready().await;
    let live = iam
        .get_user()
        .user_name(&user.name)
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("GetUser", &error))?;
    let last_used = live
        .user()
        .and_then(|user| user.password_last_used())
        .and_then(timestamp);
    let report = user.password.as_ref();
    Ok(Some(Password {
        set_at: created.max(report.and_then(|password| password.set_at)),
        last_used: last_used.max(report.and_then(|password| password.last_used)),
    }))
}
