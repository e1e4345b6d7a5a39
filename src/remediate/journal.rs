//! The journal: every IAM change, recorded durably *before* it is made (its intent) and after
//! (its outcome), so that no crash, timeout or retry ever hides a change from `stalecreds undo`.
//!
//! Two places keep it:
//!
//! - a local JSON-lines file (the CLI), each entry appended and fsynced before the next step;
//! - S3 (Lambda, whose disk does not outlive a crash): each entry its own object under the run's
//!   prefix, `…/journal/00001-intent.json`, put before the next step; at most two per change.
//!
//! `undo` reads either (a file, an `s3://` object of JSON lines, or an `s3://…/journal/`
//! prefix), and the journals written before intents existed (every entry an outcome).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ActionKind;
use crate::aws::AwsError;
use crate::rules::CredentialKind;
use crate::store::{self, Bucket};

/// One journal entry: a change about to be made, made, or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When the entry was written.
    pub time: Timestamp,
    /// The run that made it (its `generated_at`).
    pub run: String,
    /// The account.
    pub account_id: String,
    /// The user.
    pub user_name: String,
    /// `access_key` or `password`.
    pub credential: CredentialKind,
    /// The credential's ID: the access key's, for key changes; the SSH key's, the
    /// service-specific credential's or the certificate's for theirs.
    pub access_key_id: Option<String>,
    /// `deactivate_key`, `delete_inactive_key`, `delete_password`, or `reactivate_key` (undo).
    pub action: Change,
    /// The state before (`Active`, `Inactive`, `login_profile`).
    pub previous_state: Held,
    /// The state after (`Inactive`, `Active`, `deleted`).
    pub new_state: Held,
    /// Where the change stands. Journals written before this field existed hold only changes
    /// that were made.
    #[serde(default)]
    pub phase: Phase,
    /// Why a change failed, or how it was found done (`phase` `failed` or `done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A change the journal records: a remediation, or its undoing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// An access key set Inactive.
    DeactivateKey,
    /// An Inactive access key deleted.
    DeleteInactiveKey,
    /// A console password (login profile) deleted.
    DeletePassword,
    /// A deactivated key set Active again (`undo`).
    ReactivateKey,
    /// An SSH public key set Inactive.
    DeactivateSshKey,
    /// A service-specific credential set Inactive.
    DeactivateServiceCredential,
    /// A signing certificate set Inactive.
    DeactivateSigningCertificate,
    /// A deactivated SSH public key, service-specific credential or signing certificate set
    /// Active again (`undo`).
    Reactivate,
}

impl Change {
    /// The name used in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::DeactivateKey => "deactivate_key",
            Change::DeleteInactiveKey => "delete_inactive_key",
            Change::DeletePassword => "delete_password",
            Change::ReactivateKey => "reactivate_key",
            Change::DeactivateSshKey => "deactivate_ssh_key",
            Change::DeactivateServiceCredential => "deactivate_service_credential",
            Change::DeactivateSigningCertificate => "deactivate_signing_certificate",
            Change::Reactivate => "reactivate",
        }
    }
}

impl From<ActionKind> for Change {
    fn from(kind: ActionKind) -> Change {
        match kind {
            ActionKind::DeactivateKey => Change::DeactivateKey,
            ActionKind::DeleteInactiveKey => Change::DeleteInactiveKey,
            ActionKind::DeletePassword => Change::DeletePassword,
            ActionKind::DeactivateSshKey => Change::DeactivateSshKey,
            ActionKind::DeactivateServiceCredential => Change::DeactivateServiceCredential,
            ActionKind::DeactivateSigningCertificate => Change::DeactivateSigningCertificate,
        }
    }
}

/// What a credential was before a change, or became after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Held {
    /// An Active access key.
    Active,
    /// An Inactive access key.
    Inactive,
    /// A console password.
    #[serde(rename = "login_profile")]
    LoginProfile,
    /// Nothing any more.
    #[serde(rename = "deleted")]
    Deleted,
}

/// Where a change stands in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// About to be made: written (durably) before the IAM call. Alone, it means the outcome is
    /// unknown (a crash, a timeout), and `undo` reads the live state to decide.
    Intent,
    /// Made.
    #[default]
    Done,
    /// Refused by AWS: nothing changed.
    Failed,
    /// The call's answer was lost (a timeout, a dropped connection, a server error after the
    /// request went out) and the live state could not tell whether IAM made the change: `undo`
    /// (and the next run) decide from the live state.
    Unknown,
}

impl Phase {
    /// Whether the change may have been made without the journal knowing: an intent alone, or
    /// an unknown outcome.
    pub fn is_undecided(self) -> bool {
        matches!(self, Phase::Intent | Phase::Unknown)
    }
}

/// Why the journal could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The local file could not be opened or written.
    #[error("cannot write the journal {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An entry could not be put in S3.
    #[error("cannot store the journal entry {location}")]
    Store {
        /// Where the entry was to go.
        location: String,
        /// The S3 error.
        #[source]
        source: AwsError,
    },
    /// A journal could not be read.
    #[error("cannot read the journal {location}")]
    Read {
        /// The file or `s3://` location.
        location: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A line is not a journal entry.
    #[error("{location}:{line}: not a journal entry")]
    Parse {
        /// The file or object.
        location: String,
        /// The line, from 1.
        line: usize,
        /// Why it is not an entry.
        #[source]
        source: serde_json::Error,
    },
    /// An earlier entry could not be written: no further change is made.
    #[error("the journal failed earlier ({0}): no further change is made")]
    Broken(String),
}

/// An open journal, appended to by concurrent account tasks.
#[derive(Debug)]
pub struct Journal {
    sink: Sink,
    /// Every entry written (or attempted), in order: the copy kept if S3 fails, and the
    /// consolidated `journal.jsonl` put at the end of the run.
    entries: Mutex<Vec<Entry>>,
    /// The first failure: once an entry could not be made durable, no further change is made.
    failure: Mutex<Option<String>>,
}

#[derive(Debug)]
enum Sink {
    File {
        path: PathBuf,
        // A std mutex: each append is a short write and fsync, never held across an await.
        file: Mutex<File>,
    },
    S3 {
        s3: aws_sdk_s3::Client,
        bucket: Bucket,
        /// The run's journal prefix, ending with `journal/`.
        prefix: String,
        next: AtomicU64,
    },
}

impl Journal {
    /// Opens (or creates) a local journal for appending. Done before the first change, so that
    /// an unwritable journal stops the run before anything changes.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Write {
                path: path.to_owned(),
                source,
            })?;
        Ok(Journal::with(Sink::File {
            path: path.to_owned(),
            file: Mutex::new(file),
        }))
    }

    /// A journal in S3, one object per entry under `prefix` (which ends with `/`).
    pub fn in_s3(s3: aws_sdk_s3::Client, bucket: Bucket, prefix: String) -> Journal {
        Journal::with(Sink::S3 {
            s3,
            bucket,
            prefix,
            next: AtomicU64::new(1),
        })
    }

    fn with(sink: Sink) -> Journal {
        Journal {
            sink,
            entries: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        }
    }

    /// Where the journal is: a path, or `s3://bucket/prefix/`.
    pub fn location(&self) -> String {
        match &self.sink {
            Sink::File { path, .. } => path.display().to_string(),
            Sink::S3 { bucket, prefix, .. } => bucket.url(prefix),
        }
    }

    /// The local file, for a journal kept in one.
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::File { path, .. } => Some(path),
            Sink::S3 { .. } => None,
        }
    }

    /// The first failure to make an entry durable, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every entry of this run, as JSON lines.
    pub fn lines(&self) -> Vec<u8> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        for entry in entries.iter() {
            // Plain data with string keys always serializes.
            text.push_str(&serde_json::to_string(entry).unwrap_or_default());
            text.push('\n');
        }
        text.into_bytes()
    }

    /// Makes `entry` durable: appended and fsynced, or put in S3 within `timeout` (retries
    /// included; the run's deadline decides it). After a failure every later append fails too
    /// (`JournalError::Broken`): no change is made that could not be journaled.
    pub async fn append(
        &self,
        entry: &Entry,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), JournalError> {
        if let Some(failure) = self.failure() {
            return Err(JournalError::Broken(failure));
        }
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry.clone());
        let written = self.write(entry, timeout).await;
        if let Err(error) = &written {
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            failure.get_or_insert_with(|| crate::aws::describe(error));
            tracing::error!(
                journal = %self.location(),
                error = %crate::aws::describe(error),
                entry = %serde_json::to_string(entry).unwrap_or_default(),
                "a journal entry could not be made durable; it is kept in this log and no further change is made"
            );
        }
        written
    }

    async fn write(
        &self,
        entry: &Entry,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        match &self.sink {
            Sink::File { path, file } => {
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                file.write_all(line.as_bytes())
                    .and_then(|()| file.sync_data())
                    .map_err(|source| JournalError::Write {
                        path: path.clone(),
                        source,
                    })
            }
            Sink::S3 {
                s3,
                bucket,
                prefix,
                next,
            } => {
                let sequence = next.fetch_add(1, Ordering::Relaxed);
                let phase = match entry.phase {
                    Phase::Intent => "intent",
                    Phase::Done => "done",
                    Phase::Failed => "failed",
                    Phase::Unknown => "unknown",
                };
                // The instant first: keys sort in the order written, and a second attempt of the
                // same run (a retried merge) never overwrites the first one's entries.
                let at = Timestamp::now().as_nanosecond();
                let key = format!("{prefix}{at:020}-{sequence:05}-{phase}.json");
                store::put(
                    s3,
                    bucket,
                    &key,
                    line.into_bytes(),
                    "application/json",
                    timeout,
                )
                .await
                .map(drop)
                .map_err(|source| JournalError::Store {
                    location: bucket.url(&key),
                    source,
                })
            }
        }
    }
}

impl Journal {
    /// The entries this journal already holds for `run` (written by an earlier attempt of the
    /// same run), in order.
    pub async fn entries_of_run(
        &self,
        s3: &aws_sdk_s3::Client,
        run: &str,
    ) -> Result<Vec<Entry>, JournalError> {
        let entries = match &self.sink {
            Sink::File { path, .. } => read(path)?,
            Sink::S3 { bucket, prefix, .. } => read_s3(s3, &bucket.url(prefix)).await?,
        };
        Ok(entries
            .into_iter()
            .filter(|entry| entry.run == run)
            .collect())
    }
}

/// The entries of a journal's text (JSON lines); `location` names it in errors.
pub fn parse(location: &str, text: &str) -> Result<Vec<Entry>, JournalError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(line).map_err(|source| JournalError::Parse {
            location: location.to_owned(),
            line: index + 1,
            source,
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Reads every entry of a local journal.
pub fn read(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let location = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
        location: location.clone(),
        source: Box::new(source),
    })?;
    parse(&location, &text)
}

/// Reads every entry of a journal in S3: one object of JSON lines (`s3://bucket/…/journal.jsonl`),
/// or every object under a prefix (`s3://bucket/…/journal/`), in key order.
pub async fn read_s3(s3: &aws_sdk_s3::Client, url: &str) -> Result<Vec<Entry>, JournalError> {
    let failed = |source: AwsError| JournalError::Read {
        location: url.to_owned(),
        source: Box::new(source),
    };
    let Some((name, key)) = store::parse_url(url) else {
        return Err(JournalError::Read {
            location: url.to_owned(),
            source: "not an s3://bucket/key URL".into(),
        });
    };
    let bucket = Bucket {
        name,
        prefix: String::new(),
    };
    let keys = if key.is_empty() || key.ends_with('/') {
        store::list(s3, &bucket, &key).await.map_err(failed)?
    } else {
        vec![key]
    };
    let mut entries = Vec::new();
    for key in keys {
        let location = bucket.url(&key);
        let body = store::get(s3, &bucket, &key)
            .await
            .map_err(failed)?
            .ok_or_else(|| JournalError::Read {
                location: location.clone(),
                source: "no such object".into(),
            })?;
        entries.extend(parse(&location, &String::from_utf8_lossy(&body))?);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(phase: Phase) -> Entry {
        Entry {
            time: "2026-11-28T10:00:00Z".parse().expect("valid"),
            run: "2026-11-28T09:59:00Z".to_owned(),
            account_id: "111111111111".to_owned(),
            user_name: "alice".to_owned(),
            credential: CredentialKind::AccessKey,
            access_key_id: Some("AKIAEXAMPLE".to_owned()),
            action: Change::DeactivateKey,
            previous_state: Held::Active,
            new_state: Held::Inactive,
            phase,
            note: None,
        }
    }

    #[tokio::test]
    async fn entries_are_appended_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::open(&path).expect("opens");
        journal
            .append(&entry(Phase::Intent), None)
            .await
            .expect("appends");
        journal
            .append(&entry(Phase::Done), None)
            .await
            .expect("appends");
        Journal::open(&path)
            .expect("reopens")
            .append(&entry(Phase::Done), None)
            .await
            .expect("appends again");
        assert_eq!(
            read(&path).expect("reads"),
            [entry(Phase::Intent), entry(Phase::Done), entry(Phase::Done)]
        );
        assert_eq!(journal.lines().iter().filter(|b| **b == b'\n').count(), 2);
        std::fs::write(&path, "{\"not\": \"an entry\"}\n").expect("writes");
        let error = read(&path).expect_err("bad line");
        assert!(
            error
                .to_string()
                .ends_with("journal.jsonl:1: not a journal entry"),
            "{error}"
        );
    }

    #[test]
    fn journals_written_before_intents_existed_still_read_as_changes_made() {
        let old = r#"{"time":"2026-11-28T10:00:00Z","run":"2026-11-28T09:59:00Z","account_id":"111111111111","user_name":"alice","credential":"access_key","access_key_id":"AKIAEXAMPLE","action":"deactivate_key","previous_state":"Active","new_state":"Inactive"}"#;
        let entries = parse("old.jsonl", old).expect("an old journal");
        assert_eq!(entries, [entry(Phase::Done)]);
    }

    #[tokio::test]
    async fn after_one_entry_cannot_be_written_no_further_entry_is_accepted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::open(&path).expect("opens");
        *journal.failure.lock().expect("lock") = Some("disk full".to_owned());
        let error = journal
            .append(&entry(Phase::Intent), None)
            .await
            .expect_err("broken");
        assert!(matches!(error, JournalError::Broken(_)), "{error}");
        assert_eq!(read(&path).expect("reads"), []);
    }
}
