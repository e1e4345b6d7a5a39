//! Why an account was not scanned: an AWS error with its code, or one of stalecreds' own
//! failures, as a closed set. The report shows each as `{ kind, operation, code, message }`; the
//! digest groups the accounts not scanned by kind (and, for AWS errors, by operation and code).

use serde::{Deserialize, Serialize};

use crate::aws::AwsError;

/// Why an account was not scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Failure {
    /// AWS refused or failed a call.
    #[error(transparent)]
    Aws(AwsError),
    /// The credentials act in another account than the one configured: nothing of that other
    /// account is reported under this one.
    #[error(
        "{operation}: the credentials act in account {acting} ({arn}), not in {expected}: nothing of account {acting} is reported under {expected}"
    )]
    WrongAccount {
        /// The call whose answer showed it (`AssumeRole`, `GetCallerIdentity`).
        operation: String,
        /// The account the credentials act in.
        acting: String,
        /// Who they act as.
        arn: String,
        /// The account configured.
        expected: String,
    },
    /// The run ended before the account was scanned: its deadline, Ctrl-C, or a batch that did
    /// not report.
    #[error("not reached: {0}")]
    NotReached(String),
    /// The account's credential report was not ready in time.
    #[error("the credential report was not ready within {seconds} s")]
    ReportTimeout {
        /// How long it was waited for.
        seconds: u64,
    },
}

/// The kind of a `Failure`, in a word: what the digest groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// An AWS error.
    Aws,
    /// The credentials act in another account.
    WrongAccount,
    /// The run ended first.
    NotReached,
    /// The credential report never completed.
    ReportTimeout,
}

impl Failure {
    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            Failure::Aws(_) => FailureKind::Aws,
            Failure::WrongAccount { .. } => FailureKind::WrongAccount,
            Failure::NotReached(_) => FailureKind::NotReached,
            Failure::ReportTimeout { .. } => FailureKind::ReportTimeout,
        }
    }

    /// Its report form: the operation, the code (AWS's, or the kind's name) and the message.
    pub fn as_error(&self) -> AwsError {
        let (operation, code) = match self {
            Failure::Aws(error) => return error.clone(),
            Failure::WrongAccount { operation, .. } => (operation.clone(), "WrongAccount"),
            Failure::NotReached(_) => ("Scan".to_owned(), "NotReached"),
            Failure::ReportTimeout { .. } => {
                ("GenerateCredentialReport".to_owned(), "ReportTimeout")
            }
        };
        AwsError {
            operation: operation.into(),
            code: code.to_owned(),
            message: match self {
                Failure::NotReached(why) => why.clone(),
                other => other.to_string(),
            },
        }
    }
}

impl From<AwsError> for Failure {
    fn from(error: AwsError) -> Failure {
        Failure::Aws(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_kind_and_its_report_form() {
        let denied = Failure::from(AwsError {
            operation: "AssumeRole".into(),
            code: "AccessDenied".to_owned(),
            message: "not authorized".to_owned(),
        });
        assert_eq!(denied.kind(), FailureKind::Aws);
        assert_eq!(denied.as_error().code, "AccessDenied");
        let elsewhere = Failure::WrongAccount {
            operation: "AssumeRole".to_owned(),
            acting: "222222222222".to_owned(),
            arn: "arn:aws:sts::222222222222:assumed-role/x/y".to_owned(),
            expected: "111111111111".to_owned(),
        };
        assert_eq!(elsewhere.kind(), FailureKind::WrongAccount);
        let shown = elsewhere.as_error();
        assert_eq!(
            (shown.operation.as_ref(), shown.code.as_str()),
            ("AssumeRole", "WrongAccount")
        );
        assert!(
            shown.message.contains("act in account 222222222222"),
            "{shown}"
        );
        let late = Failure::NotReached("the deadline was near".to_owned()).as_error();
        assert_eq!(
            (late.operation.as_ref(), late.code.as_str()),
            ("Scan", "NotReached")
        );
        assert_eq!(late.message, "the deadline was near");
        assert_eq!(
            Failure::ReportTimeout { seconds: 300 }.as_error().code,
            "ReportTimeout"
        );
    }
}
