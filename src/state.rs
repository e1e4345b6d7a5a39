//! State kept from run to run: one small JSON object per account, found by its key (never by
//! listing), in the report bucket (`<prefix>stalecreds/state/<account>.json`) or in a local
//! directory (`--state-dir`, for the CLI without a bucket).
//!
//! It records the account's last complete scan's findings (the baseline of what changed since,
//! [`crate::changes`]) and when each inactive key became inactive: when stalecreds deactivated
//! it, or the first run that saw it inactive. Deleting an inactive key waits for its grace period counted
//! from then, so a key idle for 200 days that was deactivated today is not deleted tomorrow, and
//! `undo` stays useful for the whole grace period. When the record cannot be read, nothing is
//! deleted ([`crate::remediate::InactiveSince::Unreadable`]).
//!
//! Why here and not in a tag on the IAM user: a tag would need `iam:TagUser` in every member
//! account (a write permission for the read-only audit role), could be edited or removed by
//! anyone who administers the user, and would be read with one more request per user. The
//! report bucket is already the run's durable store, written only by the scanner.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::aws::AwsError;
use crate::store::{self, Bucket};

/// The version of the state's format (version 1, without a baseline, still reads).
pub const SCHEMA: u32 = 2;

/// What one account's state records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The account.
    pub account_id: String,
    /// The run that wrote it (its `generated_at`).
    pub updated_at: Timestamp,
    /// The inactive keys, by key ID.
    #[serde(default)]
    pub inactive_keys: BTreeMap<String, InactiveKey>,
    /// The last complete scan's findings.
    #[serde(default)]
    pub baseline: Option<crate::changes::Baseline>,
}

/// An access key known to be inactive, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveKey {
    /// Its user.
    pub user_name: String,
    /// Since when it is inactive, as far as stalecreds knows.
    pub since: Timestamp,
    /// How that is known.
    pub by: Observed,
}

/// How stalecreds knows since when a key is inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// stalecreds deactivated it.
    Deactivated,
    /// A run first saw it inactive (someone else deactivated it, before then).
    FirstSeen,
}

/// What one run learned of an account's keys, for [`next`].
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Inactive keys seen in this run, as (user, key ID).
    pub inactive: Vec<(String, String)>,
    /// Keys this run deactivated, as (user, key ID).
    pub deactivated: Vec<(String, String)>,
    /// Keys this run deleted.
    pub deleted: BTreeSet<String>,
    /// Users that could not be read in this run: their records are kept as they were.
    pub unread_users: BTreeSet<String>,
}

/// The state the next run reads. Pure. A key keeps its first date while it stays inactive; a
/// key this run deactivated starts its grace period now; a key no longer seen inactive
/// (reactivated, deleted) is forgotten, so a later deactivation starts afresh. Records of users
/// this run could not read are kept.
pub fn next(
    previous: Option<&AccountState>,
    account_id: &str,
    now: Timestamp,
    seen: &Seen,
) -> AccountState {
    let before = previous.map(|state| &state.inactive_keys);
    let mut inactive_keys: BTreeMap<String, InactiveKey> = before
        .into_iter()
        .flatten()
        .filter(|(_, key)| seen.unread_users.contains(&key.user_name))
        .map(|(id, key)| (id.clone(), key.clone()))
        .collect();
    for (user_name, id) in &seen.inactive {
        let kept = before.and_then(|keys| keys.get(id)).cloned();
        inactive_keys.insert(
            id.clone(),
            kept.unwrap_or_else(|| InactiveKey {
                user_name: user_name.clone(),
                since: now,
                by: Observed::FirstSeen,
            }),
        );
    }
    for (user_name, id) in &seen.deactivated {
        inactive_keys.insert(
            id.clone(),
            InactiveKey {
                user_name: user_name.clone(),
                since: now,
                by: Observed::Deactivated,
            },
        );
    }
    inactive_keys.retain(|id, _| !seen.deleted.contains(id));
    AccountState {
        schema: SCHEMA,
        account_id: account_id.to_owned(),
        updated_at: now,
        inactive_keys,
        baseline: previous.and_then(|state| state.baseline.clone()),
    }
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The S3 request failed.
    #[error("{location}")]
    Store {
        /// The object.
        location: String,
        /// The S3 error.
        #[source]
        source: AwsError,
    },
    /// The local file could not be read or written.
    #[error("{location}")]
    File {
        /// The file.
        location: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The object is not an account state.
    #[error("{location}: not a stalecreds account state")]
    Parse {
        /// The object or file.
        location: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Where the state is kept.
#[derive(Debug, Clone)]
pub enum Store {
    /// In the report bucket.
    S3 {
        /// The S3 client.
        s3: aws_sdk_s3::Client,
        /// The bucket and prefix.
        bucket: Bucket,
    },
    /// In a local directory, one file per account.
    Dir(PathBuf),
}

impl Store {
    /// Where the state of all accounts is (a prefix or a directory).
    pub fn location(&self) -> String {
        match self {
            Store::S3 { bucket, .. } => bucket.url(&bucket.state_key("")),
            Store::Dir(dir) => dir.display().to_string(),
        }
    }

    fn place(&self, account_id: &str) -> String {
        match self {
            Store::S3 { bucket, .. } => {
                bucket.url(&bucket.state_key(&format!("{account_id}.json")))
            }
            Store::Dir(dir) => dir.join(format!("{account_id}.json")).display().to_string(),
        }
    }

    /// The account's state; `None` when there is none yet (the first run).
    pub async fn read(&self, account_id: &str) -> Result<Option<AccountState>, StateError> {
        let location = self.place(account_id);
        let body = match self {
            Store::S3 { s3, bucket } => {
                store::get(s3, bucket, &bucket.state_key(&format!("{account_id}.json")))
                    .await
                    .map_err(|source| StateError::Store {
                        location: location.clone(),
                        source,
                    })?
            }
            Store::Dir(_) => match std::fs::read(&location) {
                Ok(body) => Some(body),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(StateError::File { location, source });
                }
            },
        };
        body.map(|body| {
            serde_json::from_slice(&body).map_err(|source| StateError::Parse {
                location: location.clone(),
                source,
            })
        })
        .transpose()
    }

    /// Writes the account's state (replacing it whole). `timeout` bounds an S3 call.
    pub async fn write(
        &self,
        state: &AccountState,
        timeout: Option<Duration>,
    ) -> Result<(), StateError> {
        let location = self.place(&state.account_id);
        // Plain data with string keys always serializes.
        let body = serde_json::to_vec_pretty(state).unwrap_or_default();
        match self {
            Store::S3 { s3, bucket } => {
                let key = bucket.state_key(&format!("{}.json", state.account_id));
                store::put(s3, bucket, &key, body, "application/json", timeout)
                    .await
                    .map(drop)
                    .map_err(|source| StateError::Store { location, source })
            }
            Store::Dir(dir) => write_atomically(dir, Path::new(&location), &body)
                .map_err(|source| StateError::File { location, source }),
        }
    }
}

/// Writes `body` to `path` through a temporary file in `dir`, synced, then renamed: a crash
/// leaves the old state or the new one, never half of one.
fn write_atomically(dir: &Path, path: &Path, body: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, body)
        .and_then(|()| std::fs::File::open(&temporary)?.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("valid")
    }

    fn key(user: &str, since: &str, by: Observed) -> InactiveKey {
        InactiveKey {
            user_name: user.to_owned(),
            since: at(since),
            by,
        }
    }

    #[test]
    fn a_key_keeps_its_first_date_while_inactive_and_is_forgotten_once_it_is_not() {
        let first = next(
            None,
            "111111111111",
            at("2026-11-01T10:00:00Z"),
            &Seen {
                inactive: vec![("dave".to_owned(), "AKIADAVE".to_owned())],
                deactivated: vec![("alice".to_owned(), "AKIAALICE".to_owned())],
                ..Seen::default()
            },
        );
        assert_eq!(
            first.inactive_keys,
            BTreeMap::from([
                (
                    "AKIAALICE".to_owned(),
                    key("alice", "2026-11-01T10:00:00Z", Observed::Deactivated)
                ),
                (
                    "AKIADAVE".to_owned(),
                    key("dave", "2026-11-01T10:00:00Z", Observed::FirstSeen)
                ),
            ])
        );
        // The next day: both still inactive, their dates stay; a new one starts today.
        let second = next(
            Some(&first),
            "111111111111",
            at("2026-11-02T10:00:00Z"),
            &Seen {
                inactive: vec![
                    ("alice".to_owned(), "AKIAALICE".to_owned()),
                    ("dave".to_owned(), "AKIADAVE".to_owned()),
                    ("erin".to_owned(), "AKIAERIN".to_owned()),
                ],
                ..Seen::default()
            },
        );
        assert_eq!(
            second.inactive_keys["AKIAALICE"].since,
            at("2026-11-01T10:00:00Z")
        );
        assert_eq!(
            second.inactive_keys["AKIAERIN"].since,
            at("2026-11-02T10:00:00Z")
        );
        // Later: alice was reactivated (not seen inactive), dave deleted, erin's user unread.
        let third = next(
            Some(&second),
            "111111111111",
            at("2026-11-03T10:00:00Z"),
            &Seen {
                inactive: vec![("dave".to_owned(), "AKIADAVE".to_owned())],
                deleted: BTreeSet::from(["AKIADAVE".to_owned()]),
                unread_users: BTreeSet::from(["erin".to_owned()]),
                ..Seen::default()
            },
        );
        assert_eq!(
            third.inactive_keys.keys().collect::<Vec<_>>(),
            ["AKIAERIN"],
            "alice forgotten, dave deleted, erin kept"
        );
    }

    #[tokio::test]
    async fn a_local_state_is_read_back_and_missing_means_first_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::Dir(dir.path().join("state"));
        assert_eq!(store.read("111111111111").await.expect("reads"), None);
        let state = next(
            None,
            "111111111111",
            at("2026-11-01T10:00:00Z"),
            &Seen::default(),
        );
        store.write(&state, None).await.expect("writes");
        assert_eq!(
            store.read("111111111111").await.expect("reads"),
            Some(state)
        );
        std::fs::write(dir.path().join("state/222222222222.json"), "{").expect("writes");
        let error = store.read("222222222222").await.expect_err("not a state");
        assert!(matches!(error, StateError::Parse { .. }), "{error}");
    }
}
