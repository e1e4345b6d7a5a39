//! The accounts a run could not scan, or not completely, grouped by cause. Pure.
//!
//! A StackSet rollout that missed an OU leaves hundreds of accounts failed for one reason: the
//! digest says so once, with the count, what usually fixes it and a few account IDs, rather than
//! once per account. The groups take part in the digest's size search like the findings do.

use serde::Serialize;

use crate::failure::FailureKind;
use crate::report::{AccountEntry, AccountStatus, Report};

/// What went wrong with a group of accounts: the kind of failure (an AWS error, or one of
/// stalecreds' own), the AWS operation and error code, and whether the accounts were not
/// scanned at all or only partly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cause<'a> {
    /// `failed` (not scanned) or `scanned` (scanned, some users unread).
    pub status: AccountStatus,
    /// The kind of failure.
    pub kind: FailureKind,
    /// The operation that failed, such as `AssumeRole`.
    pub operation: &'a str,
    /// The error code, such as `AccessDenied`.
    pub code: &'a str,
}

/// The accounts of one cause, sorted by ID.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The cause.
    pub cause: Cause<'a>,
    /// The accounts, sorted by ID.
    pub accounts: Vec<&'a AccountEntry>,
    /// The first account's error message, as an example.
    pub example: &'a str,
}

impl Group<'_> {
    /// What usually fixes this cause, in one line.
    pub fn hint(&self) -> &'static str {
        hint(self.cause)
    }
}

/// The groups of `report`, largest first (then by cause, for a stable order).
pub fn groups(report: &Report) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for account in &report.accounts {
        let Some((cause, example)) = cause(account) else {
            continue;
        };
        match groups.iter_mut().find(|group| group.cause == cause) {
            Some(group) => group.accounts.push(account),
            None => groups.push(Group {
                cause,
                accounts: vec![account],
                example,
            }),
        }
    }
    // Largest first; at equal counts, accounts not scanned at all before incomplete ones.
    groups.sort_by(|a, b| {
        b.accounts
            .len()
            .cmp(&a.accounts.len())
            .then(
                (a.cause.status == AccountStatus::Scanned)
                    .cmp(&(b.cause.status == AccountStatus::Scanned)),
            )
            .then(a.cause.cmp(&b.cause))
    });
    groups
}

/// Why an account is in the digest's "not scanned" section, with an example message; `None`
/// for an account scanned completely, or skipped on purpose.
fn cause(account: &AccountEntry) -> Option<(Cause<'_>, &str)> {
    match (account.status, &account.error, account.user_errors.first()) {
        (AccountStatus::Failed, Some(error), _) => Some((
            Cause {
                status: AccountStatus::Failed,
                kind: error.kind,
                operation: &error.operation,
                code: &error.code,
            },
            &error.message,
        )),
        (AccountStatus::Scanned, _, Some(first)) => Some((
            Cause {
                status: AccountStatus::Scanned,
                kind: first.error.kind,
                operation: &first.error.operation,
                code: &first.error.code,
            },
            &first.error.message,
        )),
        _ => None,
    }
}

/// What usually fixes `cause`: by its kind, and for an AWS error by its operation and code.
fn hint(cause: Cause<'_>) -> &'static str {
    match cause.kind {
        FailureKind::WrongAccount => {
            return "The configured role chain or profile acts in another account: fix these entries of `accounts:`";
        }
        FailureKind::NotReached => {
            return "The run stopped (deadline or Ctrl-C) before these accounts were scanned: give the run more time, or fan out (docs/deploy.md)";
        }
        FailureKind::ReportTimeout => {
            return "The credential report was not ready in time: usually passes on the next run";
        }
        FailureKind::Aws => {}
    }
    match (cause.operation, cause.code) {
        ("AssumeRole", "AccessDenied") => {
            "Is the audit role deployed to these accounts (the audit-role StackSet), and does its trust policy name the scanner (and the ExternalId)?"
        }
        ("AssumeRole", "RegionDisabled") => {
            "STS is disabled in the scanner's region for these accounts: use an enabled region"
        }
        ("ListUserTags", _) => {
            "Tags could not be read, so tag exemptions are unknown: these users' findings are kept and never remediated; allow iam:ListUserTags"
        }
        (_, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => {
            "The audit role lacks this permission, or an SCP denies it (docs/permissions.md)"
        }
        (_, "Throttling" | "ThrottlingException" | "TooManyRequestsException") => {
            "Throttled past every retry: lower `rate` or `concurrency`"
        }
        (_, "TimeoutError" | "DispatchFailure" | "ResponseError") => {
            "No answer in time (network, endpoint or AWS trouble): usually passes on the next run"
        }
        (_, "ExpiredToken" | "ExpiredTokenException") => {
            "The scanner's own credentials expired during the run"
        }
        _ => "See each account's error in the full report",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_gets_a_hint_and_the_audit_role_one_names_the_stackset() {
        let cause = |kind, operation, code| Cause {
            status: AccountStatus::Failed,
            kind,
            operation,
            code,
        };
        let aws = |operation, code| cause(FailureKind::Aws, operation, code);
        assert!(hint(aws("AssumeRole", "AccessDenied")).contains("audit role deployed"));
        assert!(hint(aws("GetCredentialReport", "AccessDenied")).contains("SCP"));
        assert!(hint(cause(FailureKind::NotReached, "Scan", "NotReached")).contains("deadline"));
        assert!(
            hint(cause(
                FailureKind::WrongAccount,
                "AssumeRole",
                "WrongAccount"
            ))
            .contains("another account")
        );
        // An AWS error whose code happens to read like one of stalecreds' own is an AWS error.
        assert!(hint(aws("Scan", "NotReached")).contains("full report"));
        assert!(hint(aws("Whatever", "Strange")).contains("full report"));
    }
}
