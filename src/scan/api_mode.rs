//! Api mode: live per-user calls, every list paginated to its end.
//!
//! ListUsers (with each user's `PasswordLastUsed`), then per user ListAccessKeys,
//! GetAccessKeyLastUsed per key and GetLoginProfile (a password exists only if the login profile
//! does), plus GetAccountSummary for the root user's keys. A failure on one user is recorded and
//! the other users are still read.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::SummaryKeyType;
use futures::StreamExt;
use jiff::Timestamp;

use super::{Scanned, USERS_IN_FLIGHT, UserError};
use crate::aws::{self, AwsError, Pace, timestamp};
use crate::inventory::{AccessKey, Inventory, KeyStatus, Password, RootCredentials, Tags, User};
use crate::rules::ROOT_USER;

/// The largest page IAM's list calls allow.
const PAGE_SIZE: i32 = 1000;

/// A user as ListUsers describes it.
#[derive(Debug, Clone)]
struct ListedUser {
    name: String,
    arn: String,
    created: Option<Timestamp>,
    password_last_used: Option<Timestamp>,
}

/// Reads one account's credentials with live calls.
pub(super) async fn scan(iam: &Client, pace: &Pace, root_arn: &str) -> Result<Scanned, AwsError> {
    let listed = list_users(iam, pace).await?;
    let mut errors = Vec::new();
    let root = root_credentials(iam, pace, root_arn)
        .await
        .unwrap_or_else(|error| {
            errors.push(UserError {
                user_name: ROOT_USER.to_owned(),
                error,
            });
            RootCredentials::Unknown
        });

    let results: Vec<(ListedUser, Result<Option<User>, AwsError>)> = futures::stream::iter(listed)
        .map(|listed| async move {
            let user = user_credentials(iam, pace, &listed).await;
            (listed, user)
        })
        .buffered(USERS_IN_FLIGHT)
        .collect()
        .await;

    let mut users = Vec::with_capacity(results.len());
    for (listed, result) in results {
        match result {
            Ok(Some(user)) => users.push(user),
            // Deleted between ListUsers and now: nothing left to judge.
            Ok(None) => {}
            Err(error) => errors.push(UserError {
                user_name: listed.name,
                error,
            }),
        }
    }
    Ok(Scanned {
        inventory: Inventory {
            users,
            root,
            credential_report_generated_at: None,
        },
        errors,
    })
}

/// Every user of the account, following `Marker` while `IsTruncated`.
async fn list_users(iam: &Client, pace: &Pace) -> Result<Vec<ListedUser>, AwsError> {
    aws::all_pages("ListUsers", pace, |marker| async move {
        let page = iam
            .list_users()
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("ListUsers", &error))?;
        let users = page
            .users()
            .iter()
            .map(|user| ListedUser {
                name: user.user_name().to_owned(),
                arn: user.arn().to_owned(),
                // Whole seconds, as the credential report writes it: the user's identity must not
                // depend on the scan mode.
                created: timestamp(user.create_date())
                    .and_then(|created| Timestamp::from_second(created.as_second()).ok()),
                password_last_used: user.password_last_used().and_then(timestamp),
            })
            .collect();
        Ok((
            users,
            aws::iam_marker("ListUsers", page.is_truncated(), page.marker())?,
        ))
    })
    .await
}

/// One user's password and keys; `None` if the user no longer exists.
async fn user_credentials(
    iam: &Client,
    pace: &Pace,
    listed: &ListedUser,
) -> Result<Option<User>, AwsError> {
    let keys = match list_access_keys(iam, pace, &listed.name).await {
        Ok(keys) => keys,
        Err(error) if error.code == "NoSuchEntity" => return Ok(None),
        Err(error) => return Err(error),
    };
    let access_keys = with_last_use(iam, pace, keys).await?;
    let password = login_profile(iam, pace, &listed.name)
        .await?
        .map(|set_at| Password {
            set_at,
            last_used: listed.password_last_used,
        });
    Ok(Some(User {
        name: listed.name.clone(),
        arn: listed.arn.clone(),
        created: listed.created,
        password,
        access_keys,
        others: Vec::new(),
        tags: Tags::NotRead,
    }))
}

/// A user's access keys with their IDs, status and creation time (no last use yet).
pub(super) async fn list_access_keys(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
) -> Result<Vec<AccessKey>, AwsError> {
    let listed = aws::all_pages("ListAccessKeys", pace, |marker| async move {
        let page = iam
            .list_access_keys()
            .user_name(user_name)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("ListAccessKeys", &error))?;
        let next = aws::iam_marker("ListAccessKeys", page.is_truncated(), page.marker())?;
        Ok((page.access_key_metadata, next))
    })
    .await?;
    listed.iter().map(access_key).collect()
}

/// A key as ListAccessKeys describes it.
fn access_key(key: &aws_sdk_iam::types::AccessKeyMetadata) -> Result<AccessKey, AwsError> {
    let (Some(id), Some(status)) = (key.access_key_id(), key.status()) else {
        return Err(AwsError::invalid_answer(
            "ListAccessKeys",
            "a key without an ID or status",
        ));
    };
    let status = match status.as_str() {
        "Active" => KeyStatus::Active,
        "Inactive" => KeyStatus::Inactive,
        other => {
            return Err(AwsError::invalid_answer(
                "ListAccessKeys",
                format!("unknown key status {other:?}"),
            ));
        }
    };
    Ok(AccessKey {
        id: Some(id.to_owned()),
        slot: None,
        status,
        created: key.create_date().and_then(timestamp),
        last_used: None,
        last_used_service: None,
        live: false,
    })
}

/// Adds each key's last use (GetAccessKeyLastUsed, one request per key).
pub(super) async fn with_last_use(
    iam: &Client,
    pace: &Pace,
    keys: Vec<AccessKey>,
) -> Result<Vec<AccessKey>, AwsError> {
    let mut with_use = Vec::with_capacity(keys.len());
    for mut key in keys {
        let Some(id) = key.id.as_deref() else {
            return Err(AwsError::invalid_answer(
                "GetAccessKeyLastUsed",
                "a key without an ID",
            ));
        };
        (key.last_used, key.last_used_service) = last_use(iam, pace, id).await?;
        key.live = true;
        with_use.push(key);
    }
    Ok(with_use)
}

/// A key's last use and its service, live (GetAccessKeyLastUsed); `None` when never used.
pub(super) async fn last_use(
    iam: &Client,
    pace: &Pace,
    key_id: &str,
) -> Result<(Option<Timestamp>, Option<String>), AwsError> {
    pace.ready().await;
    let output = iam
        .get_access_key_last_used()
        .access_key_id(key_id)
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("GetAccessKeyLastUsed", &error))?;
    Ok(output
        .access_key_last_used()
        .map_or((None, None), |last_used| {
            let service = last_used.service_name();
            (
                last_used.last_used_date().and_then(timestamp),
                (!service.is_empty() && service != "N/A").then(|| service.to_owned()),
            )
        }))
}

/// When the user's console password was set (the login profile's CreateDate), or `None` when
/// the user has no password now (GetLoginProfile answers NoSuchEntity). The inner `None` is a
/// profile without a date, which AWS does not send.
pub(super) async fn login_profile(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
) -> Result<Option<Option<Timestamp>>, AwsError> {
    pace.ready().await;
    match iam.get_login_profile().user_name(user_name).send().await {
        Ok(output) => Ok(output
            .login_profile()
            .map(|profile| timestamp(profile.create_date()))),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_no_such_entity_exception()) =>
        {
            Ok(None)
        }
        Err(error) => Err(AwsError::from_sdk("GetLoginProfile", &error)),
    }
}

/// A user's tags, as (key, value) pairs.
pub(super) async fn list_user_tags(
    iam: &Client,
    pace: &Pace,
    user_name: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    aws::all_pages("ListUserTags", pace, |marker| async move {
        let page = iam
            .list_user_tags()
            .user_name(user_name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("ListUserTags", &error))?;
        let tags = page
            .tags()
            .iter()
            .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
            .collect();
        Ok((
            tags,
            aws::iam_marker("ListUserTags", page.is_truncated(), page.marker())?,
        ))
    })
    .await
}

/// The root user's keys, as far as GetAccountSummary tells.
async fn root_credentials(
    iam: &Client,
    pace: &Pace,
    root_arn: &str,
) -> Result<RootCredentials, AwsError> {
    pace.ready().await;
    let summary = iam
        .get_account_summary()
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("GetAccountSummary", &error))?;
    let present = summary
        .summary_map()
        .and_then(|map| map.get(&SummaryKeyType::AccountAccessKeysPresent))
        .copied();
    Ok(match present {
        Some(0) => RootCredentials::NoKeys,
        Some(_) => RootCredentials::KeysPresent {
            arn: root_arn.to_owned(),
        },
        None => RootCredentials::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput;
    use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput;
    use aws_sdk_iam::operation::get_login_profile::{GetLoginProfileError, GetLoginProfileOutput};
    use aws_sdk_iam::operation::list_access_keys::{ListAccessKeysError, ListAccessKeysOutput};
    use aws_sdk_iam::operation::list_users::ListUsersOutput;
    use aws_sdk_iam::primitives::DateTime;
    use aws_sdk_iam::types::error::NoSuchEntityException;
    use aws_sdk_iam::types::{
        AccessKeyLastUsed, AccessKeyMetadata, LoginProfile, StatusType, User as SdkUser,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::aws::retry_config;

    const ROOT_ARN: &str = "arn:aws:iam::111111111111:root";

    fn pace() -> Pace {
        Pace::new(NonZeroU32::new(1000).expect("non-zero"))
    }

    fn sdk_user(name: &str) -> SdkUser {
        SdkUser::builder()
            .user_name(name)
            .user_id(format!("ID{name}"))
            .arn(format!("arn:aws:iam::111111111111:user/{name}"))
            .path("/")
            .create_date(DateTime::from_secs(1_600_000_000))
            .password_last_used(DateTime::from_secs(1_700_000_000))
            .build()
            .expect("complete user")
    }

    fn summary(keys: i32) -> GetAccountSummaryOutput {
        GetAccountSummaryOutput::builder()
            .summary_map(SummaryKeyType::AccountAccessKeysPresent, keys)
            .build()
    }

    fn one_key(user: &str) -> ListAccessKeysOutput {
        ListAccessKeysOutput::builder()
            .access_key_metadata(
                AccessKeyMetadata::builder()
                    .user_name(user)
                    .access_key_id(format!("AKIA{}", user.to_uppercase()))
                    .status(StatusType::Active)
                    .create_date(DateTime::from_secs(1_650_000_000))
                    .build(),
            )
            .build()
            .expect("complete")
    }

    fn never_used() -> GetAccessKeyLastUsedOutput {
        GetAccessKeyLastUsedOutput::builder()
            .access_key_last_used(
                AccessKeyLastUsed::builder()
                    .service_name("N/A")
                    .region("N/A")
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    fn no_login_profile() -> GetLoginProfileError {
        GetLoginProfileError::NoSuchEntityException(
            NoSuchEntityException::builder().message("none").build(),
        )
    }

    /// The page of ListUsers asked for with `marker`: `users`, and the next page's marker.
    fn users_page(
        marker: Option<&'static str>,
        users: &'static [&'static str],
        next: Option<&'static str>,
    ) -> aws_smithy_mocks::Rule {
        mock!(Client::list_users)
            .match_requests(move |request| request.marker() == marker)
            .then_output(move || {
                ListUsersOutput::builder()
                    .set_users(Some(users.iter().map(|name| sdk_user(name)).collect()))
                    .is_truncated(next.is_some())
                    .set_marker(next.map(str::to_owned))
                    .build()
                    .expect("complete")
            })
    }

    /// `user`'s login profile, created at `created` (seconds since 1970).
    fn login_profile(user: &'static str, created: i64) -> aws_smithy_mocks::Rule {
        mock!(Client::get_login_profile)
            .match_requests(move |request| request.user_name() == Some(user))
            .then_output(move || {
                let profile = LoginProfile::builder()
                    .user_name(user)
                    .create_date(DateTime::from_secs(created))
                    .build();
                GetLoginProfileOutput::builder()
                    .login_profile(profile.expect("complete"))
                    .build()
            })
    }

    #[tokio::test]
    async fn pages_through_users_and_reads_each_users_credentials() {
        let page1 = users_page(None, &["alice"], Some("m1"));
        // A truncated page may be empty: the scan still follows the marker.
        let page2 = users_page(Some("m1"), &[], Some("m2"));
        let page3 = users_page(Some("m2"), &["bob"], None);
        let keys = mock!(Client::list_access_keys)
            .then_compute_output(|request| one_key(request.user_name().unwrap_or_default()));
        let last_used = mock!(Client::get_access_key_last_used).then_output(never_used);
        // Alice has a login profile; Bob's PasswordLastUsed is set, but he has none.
        let profiles = login_profile("alice", 1_620_000_000);
        let none = mock!(Client::get_login_profile).then_error(no_login_profile);
        let account_summary = mock!(Client::get_account_summary).then_output(|| summary(1));
        let rules = [
            &page1,
            &page2,
            &page3,
            &keys,
            &last_used,
            &profiles,
            &none,
            &account_summary,
        ];
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules);

        let scanned = scan(&iam, &pace(), ROOT_ARN).await.expect("scans");
        assert!(scanned.errors.is_empty(), "{:?}", scanned.errors);
        let inventory = scanned.inventory;
        let names = inventory.users.iter().map(|user| user.name.as_str());
        assert!(names.eq(["alice", "bob"]));
        let alice = &inventory.users[0];
        assert_eq!(
            alice.password,
            Some(Password {
                set_at: Timestamp::from_second(1_620_000_000).ok(),
                last_used: Timestamp::from_second(1_700_000_000).ok(),
            })
        );
        assert_eq!(alice.access_keys[0].id.as_deref(), Some("AKIAALICE"));
        assert_eq!(alice.access_keys[0].last_used, None);
        assert_eq!(alice.access_keys[0].last_used_service, None);
        // Bob's PasswordLastUsed is set, but he has no login profile: no password.
        assert_eq!(inventory.users[1].password, None);
        assert_eq!(
            inventory.root,
            RootCredentials::KeysPresent {
                arn: ROOT_ARN.to_owned()
            }
        );
        assert_eq!(
            (page1.num_calls(), page2.num_calls(), page3.num_calls()),
            (1, 1, 1)
        );
        assert_eq!(last_used.num_calls(), 2);
    }

    #[tokio::test]
    async fn access_denied_on_one_user_is_recorded_and_the_others_are_scanned() {
        // Origin defect 7: one user's error aborted the rest of the page, silently.
        let users = mock!(Client::list_users).then_output(|| {
            ListUsersOutput::builder()
                .users(sdk_user("alice"))
                .users(sdk_user("denied"))
                .users(sdk_user("carol"))
                .build()
                .expect("complete")
        });
        let denied_keys = mock!(Client::list_access_keys)
            .match_requests(|request| request.user_name() == Some("denied"))
            .then_error(|| {
                ListAccessKeysError::generic(
                    ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message("explicit deny")
                        .build(),
                )
            });
        let keys = mock!(Client::list_access_keys)
            .then_compute_output(|request| one_key(request.user_name().unwrap_or_default()));
        let last_used = mock!(Client::get_access_key_last_used).then_output(never_used);
        let profile = mock!(Client::get_login_profile).then_error(no_login_profile);
        let account_summary = mock!(Client::get_account_summary).then_output(|| summary(0));
        let iam = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [
                &users,
                &denied_keys,
                &keys,
                &last_used,
                &profile,
                &account_summary
            ]
        );

        let scanned = scan(&iam, &pace(), ROOT_ARN).await.expect("scans");
        let names: Vec<&str> = scanned
            .inventory
            .users
            .iter()
            .map(|user| user.name.as_str())
            .collect();
        assert_eq!(names, ["alice", "carol"]);
        assert_eq!(scanned.errors.len(), 1);
        assert_eq!(scanned.errors[0].user_name, "denied");
        assert_eq!(scanned.errors[0].error.code, "AccessDenied");
        assert_eq!(scanned.inventory.root, RootCredentials::NoKeys);
    }

    #[tokio::test]
    async fn throttled_calls_are_retried_and_the_scan_completes() {
        let throttling = || {
            aws_sdk_iam::operation::list_users::ListUsersError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        };
        let users = mock!(Client::list_users)
            .sequence()
            .error(throttling)
            .times(2)
            .output(|| {
                ListUsersOutput::builder()
                    .users(sdk_user("alice"))
                    .build()
                    .expect("complete")
            })
            .build();
        let keys = mock!(Client::list_access_keys).then_output(|| one_key("alice"));
        let last_used = mock!(Client::get_access_key_last_used).then_output(never_used);
        let profile = mock!(Client::get_login_profile).then_error(no_login_profile);
        let account_summary = mock!(Client::get_account_summary).then_output(|| summary(0));
        let iam = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&users, &keys, &last_used, &profile, &account_summary],
            |config: aws_sdk_iam::config::Builder| config
                .retry_config(retry_config().with_initial_backoff(Duration::from_millis(1)))
        );
        let scanned = scan(&iam, &pace(), ROOT_ARN).await.expect("scans");
        assert_eq!(scanned.inventory.users.len(), 1);
        assert_eq!(users.num_calls(), 3);
    }

    #[tokio::test]
    async fn markers_that_would_loop_are_errors() {
        assert_eq!(aws::iam_marker("ListUsers", false, Some("x")), Ok(None));
        assert_eq!(
            aws::iam_marker("ListUsers", true, Some("x")),
            Ok(Some("x".to_owned()))
        );
        assert!(aws::iam_marker("ListUsers", true, None).is_err());
        let repeated = aws::all_pages("ListUsers", &pace(), |_| async {
            Ok((vec![1], Some("x".to_owned())))
        })
        .await;
        assert_eq!(repeated.expect_err("a loop").code, "InvalidAnswer");
    }
}
