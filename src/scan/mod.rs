//! The IAM scan stage: one account's credentials, read into an [`Inventory`].
//!
//! Takes an IAM client that acts in the account (from `assume`) and the account's [`Pace`], and
//! returns the inventory plus the failures that did not stop the scan ([`Scanned`]). Two modes
//! give the same answers:
//!
//! - [`Mode::Report`]: the IAM credential report, O(1) requests per account
//!   (`report_mode`), then ListAccessKeys only for users whose keys are findings, to learn the
//!   key IDs the report does not carry ([`resolve_key_ids`]).
//! - [`Mode::Api`]: ListUsers, ListAccessKeys, GetAccessKeyLastUsed, GetLoginProfile and
//!   GetAccountSummary, all paginated (`api_mode`).
//!
//! A failure that leaves nothing to report (the report cannot be had, ListUsers fails) is an
//! error; a failure on one user is recorded in [`Scanned::errors`] and the scan goes on.

mod api_mode;
mod confirm;
pub mod credential_report;
mod keys;
mod others;
mod report_mode;

use std::collections::BTreeSet;

use aws_sdk_iam::Client;
use futures::StreamExt;

use crate::aws::{AwsError, Pace};
use crate::failure::Failure;
use std::future::Future;

use crate::inventory::{Inventory, Tags, User};

pub use confirm::{Confirmation, confirm, needs_confirmation};
pub use keys::{KeyResolution, match_report_keys};
pub use others::{read as read_others, resolve_certificate_ids};

/// How many users of one account are read at once (api mode, key resolution). The account's
/// [`Pace`] still bounds the request rate; this only bounds requests in flight.
const USERS_IN_FLIGHT: usize = 8;

/// How the scan reads IAM (the report's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The IAM credential report (the default: fewest requests).
    #[default]
    Report,
    /// Per-user API calls (live data, more requests).
    Api,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Report => "report",
            Mode::Api => "api",
        }
    }
}

/// What one account's scan produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scanned {
    /// The credentials read.
    pub inventory: Inventory,
    /// Failures on single users: the scan went on without them.
    pub errors: Vec<UserError>,
}

/// A failure on one user, which left that user's credentials unread or incomplete.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserError {
    /// The user's name.
    pub user_name: String,
    /// What failed.
    pub error: AwsError,
}

/// Reads one account's credentials. `root_arn` names the root user for api mode, where AWS
/// gives only a count of root keys.
pub async fn account(
    iam: &Client,
    pace: &Pace,
    mode: Mode,
    root_arn: &str,
) -> Result<Scanned, Failure> {
    match mode {
        Mode::Report => report_mode::scan(iam, pace).await,
        Mode::Api => Ok(api_mode::scan(iam, pace, root_arn).await?),
    }
}

/// Dates api mode's passwords of `users` by the credential report's `password_last_changed`
/// (a reset moves it; a login profile's CreateDate stays). Two or three requests per account,
/// made only when a password is a finding.
pub async fn date_passwords(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
    users: &BTreeSet<String>,
) -> Result<(), Failure> {
    report_mode::date_passwords(iam, pace, inventory, users).await
}

/// Reads the tags of `users` (ListUserTags, paginated), for exemptions by tag. A user whose tags
/// cannot be read gets [`Tags::Unreadable`], so that exemption stays unknown (never "not
/// exempt"), and the failure is recorded.
pub async fn read_tags(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
    users: &BTreeSet<String>,
) -> Vec<UserError> {
    let errors = update_users(
        inventory,
        users,
        |user| async move { api_mode::list_user_tags(iam, pace, &user.name).await },
        |user, tags| user.tags = Tags::Read(tags),
    )
    .await;
    for error in &errors {
        if let Some(user) = inventory
            .users
            .iter_mut()
            .find(|user| user.name == error.user_name)
        {
            user.tags = Tags::Unreadable(error.error.to_string());
        }
    }
    errors
}

/// Fills in the access key IDs of `users` (report mode), with one ListAccessKeys each. Where the
/// report and the live keys do not pair up one to one by creation time, that user's keys are
/// read live instead (GetAccessKeyLastUsed per key): the scan never guesses which key is which.
pub async fn resolve_key_ids(
    iam: &Client,
    pace: &Pace,
    inventory: &mut Inventory,
    users: &BTreeSet<String>,
) -> Vec<UserError> {
    update_users(
        inventory,
        users,
        |user| async move {
            let live = api_mode::list_access_keys(iam, pace, &user.name).await?;
            match match_report_keys(&user.access_keys, &live) {
                KeyResolution::Matched(keys) => Ok(keys),
                KeyResolution::Ambiguous => api_mode::with_last_use(iam, pace, live).await,
            }
        },
        |user, keys| user.access_keys = keys,
    )
    .await
}

/// Reads something for each user named in `users` (at most [`USERS_IN_FLIGHT`] at once, each
/// read given a copy of the user) and applies what was read; a user whose read fails is left as
/// it was, and the failure recorded. A user IAM no longer knows (`NoSuchEntity`: deleted since
/// the credential report) is dropped from the inventory: it has no credentials left to judge.
async fn update_users<T, Read, Fut>(
    inventory: &mut Inventory,
    users: &BTreeSet<String>,
    read: Read,
    apply: impl Fn(&mut User, T),
) -> Vec<UserError>
where
    Read: Fn(User) -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let selected: Vec<(usize, User)> = inventory
        .users
        .iter()
        .enumerate()
        .filter(|(_, user)| users.contains(&user.name))
        .map(|(index, user)| (index, user.clone()))
        .collect();
    let read_all: Vec<(usize, Result<T, AwsError>)> = futures::stream::iter(selected)
        .map(|(index, user)| {
            let found = read(user);
            async move { (index, found.await) }
        })
        .buffer_unordered(USERS_IN_FLIGHT)
        .collect()
        .await;
    let mut errors = Vec::new();
    let mut gone = BTreeSet::new();
    for (index, result) in read_all {
        let user = &mut inventory.users[index];
        match result {
            Ok(value) => apply(user, value),
            Err(error) if error.code == "NoSuchEntity" => {
                gone.insert(index);
            }
            Err(error) => errors.push(UserError {
                user_name: user.name.clone(),
                error,
            }),
        }
    }
    if !gone.is_empty() {
        let mut index = 0;
        inventory.users.retain(|_| {
            index += 1;
            !gone.contains(&(index - 1))
        });
    }
    errors.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    errors
}
