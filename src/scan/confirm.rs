//! Confirming report-mode findings against live state, before the report is built.
//!
//! IAM hands back the same credential report for four hours: a key used, a password used or
//! removed, a user deleted since it was generated would otherwise be reported as unused. When
//! the account's report is older than `confirm_after_minutes` ([`needs_confirmation`]), every
//! credential about to be reported as unused is read again, live: GetAccessKeyLastUsed for each
//! key (unless its last use was already read live), GetUser (`PasswordLastUsed`) and
//! GetLoginProfile for each password. That is O(findings) requests on top of the report's O(1).
//! A report this run generated is seconds old: the live reads come from the same records IAM
//! just wrote into it (a key's use is recorded at most every 15 minutes), so they would tell
//! nothing new and are not made. A user deleted since the report is dropped (see
//! `update_users`), a password removed since is gone; the caller judges the confirmed inventory
//! again.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_iam::Client;
use jiff::{SignedDuration, Timestamp};

use super::{UserError, api_mode, update_users};
use crate::aws::{AwsError, Pace, timestamp};
use crate::inventory::{Inventory, Password, User};
use crate::rules::{CredentialKind, Verdict};

/// How a report-mode account's findings were checked against live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// The credential report was younger than `confirm_after_minutes` (generated for this run):
    /// it is as current as a live read, and no finding was read again.
    FreshReport,
    /// The report was older (IAM reused an earlier one): every finding was read again live.
    Live,
}

/// Whether findings from a credential report generated at `generated` are confirmed live at
/// `now` (the wall clock): when the report is older than `fresh_for`, or its age is unknown.
pub fn needs_confirmation(
    generated: Option<Timestamp>,
    now: Timestamp,
    fresh_for: Duration,
) -> bool {
    let Some(generated) = generated else {
        return true;
    };
    let age = now.duration_since(generated);
    let fresh_for = SignedDuration::try_from(fresh_for).unwrap_or(SignedDuration::MAX);
    // A report "from the future" by more than a minute of clock skew is not trusted either.
    age > fresh_for || age < SignedDuration::from_secs(-60)
}

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
            verdict.is_finding()
                && matches!(
                    verdict.credential,
                    CredentialKind::AccessKey | CredentialKind::Password
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_report_older_than_the_setting_or_of_unknown_age_is_confirmed() {
        let now: Timestamp = "2026-12-06T10:00:00Z".parse().expect("valid");
        let fifteen = Duration::from_secs(15 * 60);
        let generated = |seconds_ago: i64| Some(now - SignedDuration::from_secs(seconds_ago));
        // Generated for this run, seconds ago: nothing to confirm.
        assert!(!needs_confirmation(generated(5), now, fifteen));
        // Exactly at the setting: still fresh; a second past it: confirmed.
        assert!(!needs_confirmation(generated(15 * 60), now, fifteen));
        assert!(needs_confirmation(generated(15 * 60 + 1), now, fifteen));
        // Reused within IAM's four hours.
        assert!(needs_confirmation(generated(3 * 3600), now, fifteen));
        // No GeneratedTime, or one from the future beyond clock skew.
        assert!(needs_confirmation(None, now, fifteen));
        assert!(!needs_confirmation(generated(-30), now, fifteen));
        assert!(needs_confirmation(generated(-120), now, fifteen));
        // A setting of 0 confirms every report older than its second.
        assert!(needs_confirmation(generated(1), now, Duration::ZERO));
    }
}
