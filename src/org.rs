//! The Organizations stage: which accounts exist, and which of them to scan.
//!
//! Takes an Organizations client (the management account's, or a delegated administrator's) and
//! returns every account with its state. Only `ACTIVE` accounts are scanned; the rest are listed
//! as skipped with their state. `State` is read first: `Status` was retired in September 2026 and
//! is only a fallback for answers that lack `State`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::Account as SdkAccount;

use crate::aws::{self, AwsError, Pace};

/// Organizations' largest page size for ListAccounts.
const PAGE_SIZE: i32 = 20;

/// An account as the organization describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    /// The 12-digit account ID.
    pub id: String,
    /// The account's name.
    pub name: Option<String>,
    /// The account's state (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, …).
    pub state: String,
}

impl OrgAccount {
    /// Whether the account is to be scanned.
    pub fn is_active(&self) -> bool {
        self.state == "ACTIVE"
    }
}

/// Lists every account of the organization, following `NextToken` to the end: Organizations
/// may return an empty page that still has a `NextToken`.
pub async fn accounts(client: &Client, pace: &Pace) -> Result<Vec<OrgAccount>, AwsError> {
    let accounts = aws::all_pages("ListAccounts", pace, |token| async move {
        let page = client
            .list_accounts()
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("ListAccounts", &error))?;
        Ok((page.accounts.unwrap_or_default(), page.next_token))
    })
    .await?;
    accounts.iter().map(convert).collect()
}

/// Lists the accounts under `parents` (OU or root IDs), nested OUs included: per OU one
/// ListAccountsForParent and one ListOrganizationalUnitsForParent (more only past 20 results).
/// That is fewer requests than ListAccounts plus ListParents per account and level whenever the
/// selected OUs hold fewer OUs than accounts, which is the point of selecting them.
pub async fn accounts_under(
    client: &Client,
    pace: &Pace,
    parents: &[String],
) -> Result<Vec<OrgAccount>, AwsError> {
    let mut queue: VecDeque<String> = parents.iter().cloned().collect();
    let mut visited = BTreeSet::new();
    let mut accounts = BTreeMap::new();
    while let Some(parent) = queue.pop_front() {
        if !visited.insert(parent.clone()) {
            continue;
        }
        let parent = parent.as_str();
        let listed = aws::all_pages("ListAccountsForParent", pace, |token| async move {
            let page = client
                .list_accounts_for_parent()
                .parent_id(parent)
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk("ListAccountsForParent", &error))?;
            Ok((page.accounts.unwrap_or_default(), page.next_token))
        })
        .await?;
        for account in &listed {
            let account = convert(account)?;
            accounts.insert(account.id.clone(), account);
        }
        let children = aws::all_pages(
            "ListOrganizationalUnitsForParent",
            pace,
            |token| async move {
                let page = client
                    .list_organizational_units_for_parent()
                    .parent_id(parent)
                    .max_results(PAGE_SIZE)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|error| {
                        AwsError::from_sdk("ListOrganizationalUnitsForParent", &error)
                    })?;
                Ok((
                    page.organizational_units.unwrap_or_default(),
                    page.next_token,
                ))
            },
        )
        .await?;
        queue.extend(children.iter().filter_map(|ou| ou.id().map(str::to_owned)));
    }
    Ok(accounts.into_values().collect())
}

fn convert(account: &SdkAccount) -> Result<OrgAccount, AwsError> {
    let id = account
        .id()
        .ok_or_else(|| AwsError::invalid_answer("ListAccounts", "an account without an Id"))?;
    #[allow(deprecated)] // `Status` is read only when `State` is absent.
    let state = match (account.state(), account.status()) {
        (Some(state), _) => state.as_str().to_owned(),
        (None, Some(status)) => status.as_str().to_owned(),
        (None, None) => "UNKNOWN".to_owned(),
    };
    Ok(OrgAccount {
        id: id.to_owned(),
        name: account.name().map(str::to_owned),
        state,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_organizations::operation::list_accounts::{ListAccountsError, ListAccountsOutput};
    use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::num::NonZeroU32;

    use super::*;

    fn pace() -> Pace {
        Pace::new(NonZeroU32::new(1000).expect("non-zero"))
    }

    fn account(id: &str, state: Option<AccountState>) -> Account {
        #[allow(deprecated)]
        let builder = Account::builder()
            .id(id)
            .name(format!("name-{id}"))
            .status(AccountStatus::Active);
        builder.set_state(state).build()
    }

    #[tokio::test]
    async fn follows_next_token_across_empty_pages() {
        let first = mock!(Client::list_accounts)
            .match_requests(|request| request.next_token().is_none())
            .then_output(|| {
                ListAccountsOutput::builder()
                    .accounts(account("111111111111", Some(AccountState::Active)))
                    .next_token("t1")
                    .build()
            });
        let empty = mock!(Client::list_accounts)
            .match_requests(|request| request.next_token() == Some("t1"))
            .then_output(|| ListAccountsOutput::builder().next_token("t2").build());
        let last = mock!(Client::list_accounts)
            .match_requests(|request| request.next_token() == Some("t2"))
            .then_output(|| {
                ListAccountsOutput::builder()
                    .accounts(account("222222222222", Some(AccountState::Suspended)))
                    .accounts(account("333333333333", None))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_organizations,
            RuleMode::MatchAny,
            [&first, &empty, &last]
        );

        let accounts = accounts(&client, &pace()).await.expect("lists");
        let summary: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|account| {
                (
                    account.id.as_str(),
                    account.state.as_str(),
                    account.is_active(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("111111111111", "ACTIVE", true),
                ("222222222222", "SUSPENDED", false),
                // No `State`: the retired `Status` is the fallback.
                ("333333333333", "ACTIVE", true),
            ]
        );
        assert_eq!(
            (first.num_calls(), empty.num_calls(), last.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_a_loop() {
        let again = mock!(Client::list_accounts)
            .then_output(|| ListAccountsOutput::builder().next_token("same").build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&again]);
        let error = accounts(&client, &pace()).await.expect_err("must stop");
        assert_eq!(error.code, "InvalidAnswer");
        assert_eq!(again.num_calls(), 2);
    }

    #[tokio::test]
    async fn access_denied_keeps_the_aws_code_and_message() {
        let denied = mock!(Client::list_accounts).then_error(|| {
            ListAccountsError::AccessDeniedException(
                // As the SDK parses it from the wire: the code is in the error's metadata.
                aws_sdk_organizations::types::error::AccessDeniedException::builder()
                    .message("not the management account")
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("AccessDeniedException")
                            .message("not the management account")
                            .build(),
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&denied]);
        let error = accounts(&client, &pace()).await.expect_err("must fail");
        assert_eq!(error.operation, "ListAccounts");
        assert_eq!(error.code, "AccessDeniedException");
        assert_eq!(error.message, "not the management account");
    }
}
