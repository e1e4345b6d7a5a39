//! The records that tie the steps of one run together: the [`Plan`] (what to scan, under which
//! `now` and settings, in which batches) and each batch's [`Partial`], kept in the run's
//! [`Place`] (a local directory, or a prefix in the report bucket).
//!
//! A run is plan → batches → merge. The plan lists the organization once and fixes the run's
//! ID and its single `now`, so that every batch measures idle days to the same instant (a key at
//! 44 days 23 hours cannot flip between batches). Each batch writes a partial; the merge checks
//! that every partial belongs to the run (run ID, settings fingerprint, batch, accounts) before
//! it builds the one report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::assume::Caller;
use crate::aws::AwsError;
use crate::config::Settings;
use crate::report::AccountOutcome;
use crate::state::AccountState;
use crate::store::{self, Bucket};

/// The version of the plan's and partials' format: the steps of one run use one version.
pub const SCHEMA: u32 = 1;

/// What one run scans, fixed once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The run's ID: the trigger's (a Step Functions execution, a scheduled event), or the
    /// run's `now`.
    pub run_id: String,
    /// The run's single `now`.
    pub now: Timestamp,
    /// The settings' fingerprint: every step must run with the same settings.
    pub fingerprint: String,
    /// Who listed the organization.
    pub caller: Caller,
    /// The accounts to scan, batch by batch.
    pub batches: Vec<Vec<PlannedAccount>>,
    /// Accounts listed but not scanned on purpose (excluded, not ACTIVE).
    pub skipped: Vec<AccountOutcome>,
}

/// One account to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAccount {
    /// The account ID.
    pub id: String,
    /// Its name, when listed by Organizations.
    pub name: Option<String>,
    /// Its Organizations state, when listed by Organizations.
    pub state: Option<String>,
}

/// What one batch found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The run's ID, from its plan.
    pub run_id: String,
    /// The settings' fingerprint the batch ran with.
    pub fingerprint: String,
    /// The batch's index in the plan.
    pub batch: usize,
    /// Each account's outcome, with its planned remediation.
    pub outcomes: Vec<AccountOutcome>,
    /// The state read for each account that keeps one (when each inactive key became inactive).
    pub states: BTreeMap<String, Option<AccountState>>,
    /// The accounts whose state could not be read, with why.
    #[serde(default)]
    pub state_errors: BTreeMap<String, String>,
    /// Why the batch was cut short (its deadline, Ctrl-C), if it was.
    pub cut_short: Option<String>,
}

/// The fingerprint of what decides a run's results: the selection, the defaults (role, policy,
/// exemptions; the external ID only as "set"), the overrides, the mode, the remediation policy
/// and the program's version. Pacing, timeouts and where results go may differ between steps.
pub fn fingerprint(settings: &Settings) -> String {
    let decisive = format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        env!("CARGO_PKG_VERSION"),
        settings.selection,
        settings.defaults,
        settings.overrides,
        settings.mode,
        settings.remediation,
    );
    // FNV-1a: a stable checksum, not a secret.
    let hash = decisive
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// Where a run's records live.
#[derive(Debug, Clone)]
pub enum Place {
    /// A local directory.
    Dir(PathBuf),
    /// A prefix (ending with `/`) in a bucket.
    S3 {
        /// The S3 client.
        s3: aws_sdk_s3::Client,
        /// The bucket.
        bucket: Bucket,
        /// The run's prefix.
        prefix: String,
    },
}

/// A run's record that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// A local file.
    #[error("{location}")]
    File {
        /// The file.
        location: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An S3 object.
    #[error("{location}")]
    Store {
        /// The object.
        location: String,
        /// Why.
        #[source]
        source: AwsError,
    },
    /// Not what it should be.
    #[error("{location}: not a stalecreds {what}")]
    Parse {
        /// The file or object.
        location: String,
        /// What was expected.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Absent.
    #[error("{location}: no such file or object")]
    Missing {
        /// The file or object.
        location: String,
    },
}

impl Place {
    /// The place of `location`: an `s3://bucket/prefix/` URL, or a directory.
    pub fn of(location: &str, s3: &aws_sdk_s3::Client) -> Place {
        match store::parse_url(location) {
            Some((name, key)) => {
                let mut prefix = key;
                if !prefix.is_empty() && !prefix.ends_with('/') {
                    prefix.push('/');
                }
                Place::S3 {
                    s3: s3.clone(),
                    bucket: Bucket {
                        name,
                        prefix: String::new(),
                    },
                    prefix,
                }
            }
            None => Place::Dir(PathBuf::from(location)),
        }
    }

    /// Where `name` is in this place.
    pub fn location(&self, name: &str) -> String {
        match self {
            Place::Dir(dir) => dir.join(name).display().to_string(),
            Place::S3 { bucket, prefix, .. } => bucket.url(&format!("{prefix}{name}")),
        }
    }

    /// Writes `value` as JSON at `name` (replacing it).
    pub async fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<String, PlaceError> {
        let location = self.location(name);
        // Plain data with string keys always serializes.
        let body = serde_json::to_vec_pretty(value).unwrap_or_default();
        match self {
            Place::Dir(dir) => {
                let path = dir.join(name);
                let written = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| {
                        let temporary = path.with_extension("tmp");
                        std::fs::write(&temporary, &body)?;
                        std::fs::rename(&temporary, &path)
                    });
                written.map_err(|source| PlaceError::File {
                    location: location.clone(),
                    source,
                })?;
            }
            Place::S3 { s3, bucket, prefix } => {
                let key = format!("{prefix}{name}");
                store::put(s3, bucket, &key, body, "application/json", None)
                    .await
                    .map_err(|source| PlaceError::Store {
                        location: location.clone(),
                        source,
                    })?;
            }
        }
        Ok(location)
    }

    /// Reads `name` as `what`; `Ok(None)` when it is not there.
    pub async fn read<T: DeserializeOwned>(
        &self,
        name: &str,
        what: &'static str,
    ) -> Result<Option<T>, PlaceError> {
        let location = self.location(name);
        let body = match self {
            Place::Dir(dir) => match std::fs::read(dir.join(name)) {
                Ok(body) => Some(body),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(PlaceError::File { location, source }),
            },
            Place::S3 { s3, bucket, prefix } => store::get(s3, bucket, &format!("{prefix}{name}"))
                .await
                .map_err(|source| PlaceError::Store {
                    location: location.clone(),
                    source,
                })?,
        };
        body.map(|body| {
            serde_json::from_slice(&body).map_err(|source| PlaceError::Parse {
                location,
                what,
                source,
            })
        })
        .transpose()
    }
}

/// The name of batch `index`'s partial in the run's place.
pub fn partial_name(index: usize) -> String {
    format!("partials/{index:05}.json")
}

/// Reads the plan at `location` (a `plan.json` file or S3 object); its place is its folder.
pub async fn read_plan(
    location: &str,
    s3: &aws_sdk_s3::Client,
) -> Result<(Plan, Place), PlaceError> {
    let (folder, name) = location.rsplit_once('/').unwrap_or((".", location));
    let place = Place::of(&format!("{folder}/"), s3);
    let plan = place
        .read(name, "plan")
        .await?
        .ok_or_else(|| PlaceError::Missing {
            location: location.to_owned(),
        })?;
    Ok((plan, place))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_what_decides_results_and_only_that() {
        let settings = Settings::with_defaults(crate::config::Selection::Accounts(Vec::new()));
        let same = fingerprint(&settings);
        let mut paced = settings.clone();
        paced.rate = 1;
        paced.topic_arn = Some("arn:aws:sns:us-east-1:123456789012:other".to_owned());
        assert_eq!(fingerprint(&paced), same, "pace and delivery may differ");
        let mut stricter = settings.clone();
        stricter.defaults.policy.max_idle_days = 30;
        assert_ne!(
            fingerprint(&stricter),
            same,
            "the threshold decides findings"
        );
        assert_eq!(same.len(), 16);
    }
}
