//! The IAM credential report parser: CSV bytes in, [`Inventory`] out.
//!
//! Columns are found by header name, not position. Every sentinel AWS (and moto) writes is
//! handled here, once: `N/A` (no such credential, or never used), `no_information` (never used,
//! or not since tracking began), `not_supported` (the root row; moto's rows). A value that is
//! none of these and not a date or boolean is an error that names the line and column: the parser
//! never guesses.

use jiff::Timestamp;

use crate::inventory::{
    AccessKey, CredentialKind, Inventory, KeyStatus, OtherCredential, Password, RootCredentials,
    Tags, User,
};
use crate::rules::ROOT_USER;

/// A credential report that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The CSV itself is malformed.
    #[error("the credential report is not valid CSV")]
    Csv(#[source] csv::Error),
    /// A column the scan needs is absent.
    #[error("the credential report has no `{0}` column")]
    MissingColumn(&'static str),
    /// A cell holds something that is neither a value nor a known sentinel.
    #[error("credential report line {line}, column `{column}`: unexpected value {value:?}")]
    BadValue {
        /// The line in the CSV (the header is line 1).
        line: u64,
        /// The column name.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

/// The columns the parser reads.
const COLUMNS: [&str; 13] = [
    "user",
    "arn",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_service",
];

/// A column read when present: a user's identity across runs includes its creation time.
const USER_CREATED: &str = "user_creation_time";

/// The signing certificates' columns, read when present (each slot: active, last rotated).
const CERTIFICATES: [(&str, &str); 2] = [
    ("cert_1_active", "cert_1_last_rotated"),
    ("cert_2_active", "cert_2_last_rotated"),
];

/// Parses a credential report. `generated_at` is the report's `GeneratedTime`.
pub fn parse(csv_bytes: &[u8], generated_at: Option<Timestamp>) -> Result<Inventory, ReportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_bytes);
    let headers = reader.headers().map_err(ReportError::Csv)?.clone();
    let mut index = [0usize; COLUMNS.len()];
    for (slot, name) in index.iter_mut().zip(COLUMNS) {
        *slot = headers
            .iter()
            .position(|header| header.trim() == name)
            .ok_or(ReportError::MissingColumn(name))?;
    }
    let column = |name: &str| headers.iter().position(|header| header.trim() == name);
    let user_created = column(USER_CREATED);
    let certificates: Vec<(usize, usize)> = CERTIFICATES
        .iter()
        .filter_map(|(active, rotated)| Some((column(active)?, column(rotated)?)))
        .collect();

    let mut inventory = Inventory {
        credential_report_generated_at: generated_at,
        ..Inventory::default()
    };
    for record in reader.records() {
        let record = record.map_err(ReportError::Csv)?;
        let line = record.position().map_or(0, |position| position.line());
        let row = Row {
            record: &record,
            index: &index,
            line,
        };
        let keys = [row.key(1)?, row.key(2)?].into_iter().flatten().collect();
        let name = row.get(0).to_owned();
        let arn = row.get(1).to_owned();
        if name == ROOT_USER {
            inventory.root = RootCredentials::Keys { arn, keys };
            continue;
        }
        let password = match row.boolean(2)? {
            Some(true) => Some(Password {
                set_at: row.date(4)?,
                last_used: row.date(3)?,
            }),
            Some(false) | None => None,
        };
        inventory.users.push(User {
            name,
            arn,
            created: match user_created {
                Some(column) => row.date_at(column, USER_CREATED)?,
                None => None,
            },
            password,
            access_keys: keys,
            others: row.certificates(&certificates)?,
            tags: Tags::NotRead,
        });
    }
    Ok(inventory)
}

/// One CSV record with the column index, for typed access to its cells.
struct Row<'a> {
    record: &'a csv::StringRecord,
    index: &'a [usize; COLUMNS.len()],
    line: u64,
}

impl Row<'_> {
    fn get(&self, column: usize) -> &str {
        self.record.get(self.index[column]).unwrap_or("").trim()
    }

    fn bad(&self, column: usize) -> ReportError {
        ReportError::BadValue {
            line: self.line,
            column: COLUMNS[column],
            value: self.get(column).to_owned(),
        }
    }

    /// A date, or `None` for a sentinel.
    fn date(&self, column: usize) -> Result<Option<Timestamp>, ReportError> {
        self.date_at(self.index[column], COLUMNS[column])
    }

    /// The date in the record's cell `at` (the column `name`), or `None` for a sentinel.
    fn date_at(&self, at: usize, name: &'static str) -> Result<Option<Timestamp>, ReportError> {
        let value = self.record.get(at).unwrap_or("").trim();
        if is_sentinel(value) {
            return Ok(None);
        }
        value
            .parse::<Timestamp>()
            .map(Some)
            .map_err(|_| ReportError::BadValue {
                line: self.line,
                column: name,
                value: value.to_owned(),
            })
    }

    /// `true`/`false` in any case, or `None` for a sentinel.
    fn boolean(&self, column: usize) -> Result<Option<bool>, ReportError> {
        let value = self.get(column);
        if value.eq_ignore_ascii_case("true") {
            Ok(Some(true))
        } else if value.eq_ignore_ascii_case("false") {
            Ok(Some(false))
        } else if is_sentinel(value) {
            Ok(None)
        } else {
            Err(self.bad(column))
        }
    }

    /// The signing certificates the report's `cert_N_*` columns (at `columns`) show: one exists
    /// when it is active or its `cert_N_last_rotated` is a date.
    fn certificates(
        &self,
        columns: &[(usize, usize)],
    ) -> Result<Vec<OtherCredential>, ReportError> {
        let mut certificates = Vec::new();
        for (slot, &(active_at, rotated_at)) in (1u8..).zip(columns) {
            let active = self.record.get(active_at).unwrap_or("").trim();
            let active = match active.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                value if is_sentinel(value) => false,
                _ => {
                    return Err(ReportError::BadValue {
                        line: self.line,
                        column: CERTIFICATES[usize::from(slot - 1)].0,
                        value: active.to_owned(),
                    });
                }
            };
            let created = self.date_at(rotated_at, CERTIFICATES[usize::from(slot - 1)].1)?;
            if !active && created.is_none() {
                continue;
            }
            certificates.push(OtherCredential {
                kind: CredentialKind::SigningCertificate,
                id: None,
                slot: Some(slot),
                status: status(active),
                created,
                service: None,
                expires: None,
            });
        }
        Ok(certificates)
    }

    /// The access key in slot 1 or 2, if one exists: a key exists when its
    /// `access_key_N_last_rotated` is a date or it is active.
    fn key(&self, slot: u8) -> Result<Option<AccessKey>, ReportError> {
        let base = if slot == 1 { 5 } else { 9 };
        let active = self.boolean(base)?.unwrap_or(false);
        let created = self.date(base + 1)?;
        if !active && created.is_none() {
            return Ok(None);
        }
        let service = self.get(base + 3);
        Ok(Some(AccessKey {
            id: None,
            slot: Some(slot),
            status: status(active),
            created,
            last_used: self.date(base + 2)?,
            last_used_service: (!is_sentinel(service) && !service.is_empty())
                .then(|| service.to_owned()),
            live: false,
        }))
    }
}

/// The status of a key or certificate the report says is active or not.
fn status(active: bool) -> KeyStatus {
    if active {
        KeyStatus::Active
    } else {
        KeyStatus::Inactive
    }
}

/// Whether a cell holds one of the report's "no value" markers.
fn is_sentinel(value: &str) -> bool {
    ["N/A", "no_information", "not_supported", ""]
        .iter()
        .any(|sentinel| value.eq_ignore_ascii_case(sentinel))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn ts(text: &str) -> Option<Timestamp> {
        Some(text.parse().expect("valid timestamp"))
    }

    fn parse_rows(rows: &[&str]) -> Result<Inventory, ReportError> {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        parse(text.as_bytes(), None)
    }

    #[test]
    fn real_aws_rows_with_every_sentinel() {
        let inventory = parse_rows(&[
            // The root row, as AWS writes it: one active key, used.
            "<root_account>,arn:aws:iam::123456789012:root,2015-08-14T10:14:20+00:00,not_supported,2024-01-02T03:04:05+00:00,not_supported,not_supported,true,true,2016-05-01T00:00:00+00:00,2024-02-01T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            // A user with a password never used and no keys.
            "alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,true,no_information,2020-01-02T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            // No password; one key used (non-regional service: region N/A), one inactive key never used.
            "bob,arn:aws:iam::123456789012:user/bob,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2021-03-04T05:06:07+00:00,2026-11-01T10:00:00+00:00,N/A,s3,false,2022-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
        ])
        .expect("parses");

        let RootCredentials::Keys { arn, keys } = &inventory.root else {
            panic!("root row not recognised: {:?}", inventory.root);
        };
        assert_eq!(arn, "arn:aws:iam::123456789012:root");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].status, KeyStatus::Active);
        assert_eq!(keys[0].last_used, ts("2024-02-01T00:00:00Z"));

        assert_eq!(inventory.users.len(), 2);
        let alice = &inventory.users[0];
        assert_eq!(
            alice.password,
            Some(Password {
                set_at: ts("2020-01-02T00:00:00Z"),
                last_used: None
            })
        );
        assert!(alice.access_keys.is_empty());

        let bob = &inventory.users[1];
        assert_eq!(bob.password, None);
        assert_eq!(
            bob.access_keys,
            vec![
                AccessKey {
                    id: None,
                    slot: Some(1),
                    status: KeyStatus::Active,
                    created: ts("2021-03-04T05:06:07Z"),
                    last_used: ts("2026-11-01T10:00:00Z"),
                    last_used_service: Some("s3".to_owned()),
                    live: false,
                },
                AccessKey {
                    id: None,
                    slot: Some(2),
                    status: KeyStatus::Inactive,
                    created: ts("2022-01-01T00:00:00Z"),
                    last_used: None,
                    last_used_service: None,
                    live: false,
                },
            ]
        );
    }

    #[test]
    fn moto_rows_without_root_and_with_not_supported() {
        // moto writes `not_supported` for a missing password and for every region/service.
        let inventory = parse_rows(&[
            "carol,arn:aws:iam::123456789012:user/carol,2026-01-01T00:00:00+00:00,false,not_supported,2026-01-01T00:00:00+00:00,not_supported,false,true,2026-02-01T00:00:00+00:00,N/A,not_supported,not_supported,false,N/A,N/A,not_supported,not_supported,false,N/A,false,N/A",
        ])
        .expect("parses");
        assert_eq!(inventory.root, RootCredentials::Unknown);
        let carol = &inventory.users[0];
        assert_eq!(carol.password, None);
        assert_eq!(carol.access_keys.len(), 1);
        assert_eq!(carol.access_keys[0].last_used, None);
        assert_eq!(carol.access_keys[0].last_used_service, None);
    }

    #[test]
    fn offsets_other_than_utc_are_honoured() {
        // Origin defect 8: dates are instants; an offset is not ignored.
        let inventory = parse_rows(&[
            "dan,arn:aws:iam::123456789012:user/dan,2020-01-01T00:00:00+00:00,true,2026-11-01T12:00:00+02:00,2020-01-01T00:00:00Z,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ])
        .expect("parses");
        let password = inventory.users[0].password.clone().expect("has a password");
        assert_eq!(password.last_used, ts("2026-11-01T10:00:00Z"));
    }

    #[test]
    fn columns_are_found_by_name_not_position() {
        let text = "password_enabled,arn,user,password_last_used,password_last_changed,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_service,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_service\n\
                    true,arn:aws:iam::1:user/eve,eve,N/A,2025-01-01T00:00:00+00:00,true,2025-06-01T00:00:00+00:00,N/A,N/A,false,N/A,N/A,N/A\n";
        let inventory = parse(text.as_bytes(), None).expect("parses");
        let eve = &inventory.users[0];
        assert_eq!(eve.name, "eve");
        assert!(eve.password.is_some());
        assert_eq!(eve.access_keys.len(), 1);
        assert_eq!(eve.access_keys[0].slot, Some(2));
    }

    #[test]
    fn a_missing_column_is_named() {
        let error = parse(b"user,arn\nx,y\n", None).expect_err("must fail");
        assert!(
            matches!(error, ReportError::MissingColumn("password_enabled")),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_value_is_an_error_with_its_line_and_column() {
        let error = parse_rows(&[
            "ok,arn:aws:iam::1:user/ok,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "bad,arn:aws:iam::1:user/bad,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,yesterday,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ])
        .expect_err("must fail");
        assert!(
            matches!(
                &error,
                ReportError::BadValue { line: 3, column: "access_key_1_last_rotated", value }
                    if value == "yesterday"
            ),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            "credential report line 3, column `access_key_1_last_rotated`: unexpected value \"yesterday\""
        );
    }
}
