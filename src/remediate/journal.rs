//! The journal: one JSON line per change applied, appended and flushed as each change is made,
//! so that a crash never loses the record of a change. `stalecreds undo` reads it back.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When the change was made.
    pub time: Timestamp,
    /// The run that made it (its `generated_at`).
    pub run: String,
    /// The account.
    pub account_id: String,
    /// The user.
    pub user_name: String,
    /// `access_key` or `password`.
    pub credential: String,
    /// The key, for key changes.
    pub access_key_id: Option<String>,
    /// `deactivate_key`, `delete_inactive_key`, `delete_password`, or `reactivate_key` (undo).
    pub action: String,
    /// The state before (`Active`, `Inactive`, `login_profile`).
    pub previous_state: String,
    /// The state after (`Inactive`, `Active`, `deleted`).
    pub new_state: String,
}

/// An open journal, appended to by concurrent account tasks.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    // A std mutex: each append is a short write and flush, never held across an await.
    file: Mutex<File>,
}

impl Journal {
    /// Opens (or creates) the journal for appending. Done before the first change, so that an
    /// unwritable journal stops the run before anything changes.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and makes it durable.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_string(entry)?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }
}

/// Reads every entry of a journal; a line that is not an entry is an error naming the line.
pub fn read(path: &Path) -> Result<Vec<Entry>, String> {
    let file = File::open(path)
        .map_err(|error| format!("cannot read the journal {}: {error}", path.display()))?;
    let mut entries = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|error| format!("{}:{}: {error}", path.display(), index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|error| {
            format!(
                "{}:{}: not a journal entry: {error}",
                path.display(),
                index + 1
            )
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let entry = Entry {
            time: "2026-11-28T10:00:00Z".parse().expect("valid"),
            run: "2026-11-28T09:59:00Z".to_owned(),
            account_id: "111111111111".to_owned(),
            user_name: "alice".to_owned(),
            credential: "access_key".to_owned(),
            access_key_id: Some("AKIAEXAMPLE".to_owned()),
            action: "deactivate_key".to_owned(),
            previous_state: "Active".to_owned(),
            new_state: "Inactive".to_owned(),
        };
        Journal::open(&path)
            .expect("opens")
            .append(&entry)
            .expect("appends");
        Journal::open(&path)
            .expect("reopens")
            .append(&entry)
            .expect("appends again");
        assert_eq!(read(&path).expect("reads"), [entry.clone(), entry]);
        std::fs::write(&path, "{\"not\": \"an entry\"}\n").expect("writes");
        let error = read(&path).expect_err("bad line");
        assert!(
            error.contains("journal.jsonl:1: not a journal entry"),
            "{error}"
        );
    }
}
