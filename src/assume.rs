//! The role-assumption stage: an IAM client for each account to scan.
//!
//! Takes the caller's base SDK configuration and an account ID, and returns an IAM client that
//! acts in that account: with the caller's own credentials for the caller's own account, and
//! through the audit role (`arn:<partition>:iam::<id>:role/<name>`) for any other. The partition
//! comes from the caller's identity, so `aws-cn` and `aws-us-gov` work unchanged.
//!
//! AssumeRole is called here, explicitly, so that a missing role or AccessDenied marks the account
//! failed with the AWS error code. The credentials then live in the client's own identity cache,
//! which calls AssumeRole again shortly before they expire: a scan that outlasts the one-hour
//! session (the longest that role chaining allows) goes on with fresh credentials.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_iam::config::IdentityCache;
use aws_sdk_iam::config::retry::RetryPartition;

use crate::aws::{AwsError, Pace};
use crate::failure::Failure;

/// The session length asked for: one hour, the most that role chaining allows (a Lambda
/// function or an SSO session assuming the audit role is role chaining).
pub const SESSION_LENGTH: Duration = Duration::from_secs(3600);

/// Who is running the scan, from GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Caller {
    /// The caller's own account ID.
    pub account_id: String,
    /// The caller's ARN.
    pub arn: String,
    /// The caller's partition (`aws`, `aws-cn`, `aws-us-gov`, …).
    pub partition: String,
}

/// How to reach an account that is not the caller's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChain {
    /// The role ARNs to assume in turn; the last one acts in the account.
    pub role_arns: Vec<String>,
    /// The ExternalId given when assuming the last role.
    pub external_id: Option<Secret>,
    /// The role session name: it identifies stalecreds in the account's CloudTrail.
    pub session_name: String,
}

/// A value that is never printed, such as an ExternalId (a shared secret of sorts): its
/// `Debug` shows `** redacted **`, and only [`Secret::expose`] gives it to the AWS request.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("** redacted **")
    }
}

/// The ARN of role `role_name` (which may carry a path, `path/Name`) in `account_id`.
pub fn role_arn(partition: &str, account_id: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:role/{role_name}")
}

/// Asks STS who the caller is.
pub async fn caller(sts: &aws_sdk_sts::Client) -> Result<Caller, AwsError> {
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("GetCallerIdentity", &error))?;
    let (Some(account_id), Some(arn)) = (identity.account(), identity.arn()) else {
        return Err(AwsError::invalid_answer(
            "GetCallerIdentity",
            "no Account or Arn",
        ));
    };
    let partition = arn
        .split(':')
        .nth(1)
        .filter(|partition| arn.starts_with("arn:") && !partition.is_empty())
        .ok_or_else(|| {
            AwsError::invalid_answer("GetCallerIdentity", format!("not an ARN: {arn}"))
        })?;
    Ok(Caller {
        account_id: account_id.to_owned(),
        arn: arn.to_owned(),
        partition: partition.to_owned(),
    })
}

/// An IAM client that acts in `account_id`: the caller's own credentials when `chain` is `None`,
/// otherwise the chain's last role. Every request is paced and counted by `pace`, and retried in
/// a retry partition of this account's own.
pub async fn iam_client(
    base: &SdkConfig,
    sts: &aws_sdk_sts::Client,
    account_id: &str,
    chain: Option<&RoleChain>,
    pace: &Arc<Pace>,
) -> Result<aws_sdk_iam::Client, Failure> {
    let mut config = aws_sdk_iam::config::Builder::from(base)
        .retry_partition(RetryPartition::new(format!("stalecreds-iam-{account_id}")))
        .interceptor(pace.counter());
    if let Some(chain) = chain {
        let credentials = assume_chain(base, sts, account_id, chain, pace).await?;
        let provider = RoleCredentials {
            base: base.clone(),
            sts: sts.clone(),
            account_id: account_id.to_owned(),
            chain: chain.clone(),
            pace: Arc::clone(pace),
            first: Mutex::new(Some(credentials)),
        };
        // An identity cache of this client's own: it dies with the client, so finished accounts
        // never crowd out the credentials of accounts still being scanned.
        config = config
            .credentials_provider(provider)
            .identity_cache(IdentityCache::lazy().build());
    }
    Ok(aws_sdk_iam::Client::from_conf(config.build()))
}

/// Assumes each role of the chain in turn and returns the last role's credentials, once the
/// answer shows that they act in `account_id`: a chain that lands in another account would have
/// that account scanned and reported under the wrong ID.
async fn assume_chain(
    base: &SdkConfig,
    sts: &aws_sdk_sts::Client,
    account_id: &str,
    chain: &RoleChain,
    pace: &Pace,
) -> Result<Credentials, Failure> {
    let mut credentials: Option<Credentials> = None;
    let last = chain.role_arns.len().saturating_sub(1);
    for (index, role_arn) in chain.role_arns.iter().enumerate() {
        let client = match &credentials {
            None => sts.clone(),
            Some(previous) => aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(base)
                    .credentials_provider(previous.clone())
                    .build(),
            ),
        };
        let external_id = if index == last {
            chain.external_id.as_ref().map(|id| id.expose().to_owned())
        } else {
            None
        };
        pace.ready().await;
        pace.count();
        let output = client
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&chain.session_name)
            .set_external_id(external_id)
            .duration_seconds(SESSION_LENGTH.as_secs() as i32)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("AssumeRole", &error))?;
        let Some(issued) = output.credentials() else {
            return Err(
                AwsError::invalid_answer("AssumeRole", "no Credentials in the answer").into(),
            );
        };
        if index == last {
            let acting = output
                .assumed_role_user()
                .map(|user| user.arn())
                .ok_or_else(|| {
                    AwsError::invalid_answer("AssumeRole", "no AssumedRoleUser in the answer")
                })?;
            check_account("AssumeRole", acting, account_id)?;
        }
        let expiry = SystemTime::try_from(*issued.expiration())
            .map_err(|_| AwsError::invalid_answer("AssumeRole", "an Expiration out of range"))?;
        credentials = Some(Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_owned()),
            Some(expiry),
            "stalecreds-audit-role",
        ));
    }
    credentials.ok_or_else(|| AwsError::invalid_answer("AssumeRole", "an empty role chain").into())
}

/// Checks that `arn` (an assumed role, a user: whoever the credentials act as) is in
/// `account_id`; otherwise [`Failure::WrongAccount`], naming both accounts.
pub fn check_account(operation: &'static str, arn: &str, account_id: &str) -> Result<(), Failure> {
    let acting = arn.split(':').nth(4).unwrap_or_default();
    if acting == account_id {
        return Ok(());
    }
    Err(Failure::WrongAccount {
        operation: operation.to_owned(),
        acting: acting.to_owned(),
        arn: arn.to_owned(),
        expected: account_id.to_owned(),
    })
}

/// The credentials provider behind an account's IAM client: it hands out the credentials that
/// [`iam_client`] obtained first, then assumes the chain again whenever the identity cache asks
/// for fresh ones.
#[derive(Debug)]
struct RoleCredentials {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    account_id: String,
    chain: RoleChain,
    pace: Arc<Pace>,
    first: Mutex<Option<Credentials>>,
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        // The lock is held only to take the value, never across an await.
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match first {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => future::ProvideCredentials::new(async move {
                assume_chain(
                    &self.base,
                    &self.sts,
                    &self.account_id,
                    &self.chain,
                    &self.pace,
                )
                .await
                .map_err(CredentialsError::provider_error)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;

    use super::*;

    #[tokio::test]
    async fn the_partition_comes_from_the_callers_arn() {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
            GetCallerIdentityOutput::builder()
                .account("210987654321")
                .arn("arn:aws-cn:sts::210987654321:assumed-role/scanner/session")
                .build()
        });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&identity]);
        let caller = caller(&sts).await.expect("identifies");
        assert_eq!(caller.partition, "aws-cn");
        assert_eq!(caller.account_id, "210987654321");
        assert_eq!(
            role_arn(&caller.partition, "123456789012", "audit/StaleCredsAudit"),
            "arn:aws-cn:iam::123456789012:role/audit/StaleCredsAudit"
        );
    }

    /// Assumes role `name` of account 123456789012, alone in its chain, without an external ID.
    async fn assume_one(sts: &aws_sdk_sts::Client, name: &str) -> Result<Credentials, Failure> {
        let chain = RoleChain {
            role_arns: vec![format!("arn:aws:iam::123456789012:role/{name}")],
            external_id: None,
            session_name: "stalecreds".to_owned(),
        };
        let pace = Pace::new(NonZeroU32::new(100).expect("non-zero"));
        assume_chain(
            &SdkConfig::builder().build(),
            sts,
            "123456789012",
            &chain,
            &pace,
        )
        .await
    }

    /// AssumeRole's answer: credentials for a role in `account`, expiring at `expires`.
    fn issued(account: &str, key: &str, expires: i64) -> AssumeRoleOutput {
        AssumeRoleOutput::builder()
            .credentials(
                aws_sdk_sts::types::Credentials::builder()
                    .access_key_id(key)
                    .secret_access_key("secret")
                    .session_token("token")
                    .expiration(DateTime::from_secs(expires))
                    .build()
                    .expect("complete"),
            )
            .assumed_role_user(
                aws_sdk_sts::types::AssumedRoleUser::builder()
                    .assumed_role_id("AROAEXAMPLE:stalecreds")
                    .arn(format!(
                        "arn:aws:sts::{account}:assumed-role/Audit/stalecreds"
                    ))
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    /// Issue 9: credentials that act in another account than the one configured were used as
    /// they came, and that account was reported under the configured ID.
    #[tokio::test]
    async fn a_role_that_lands_in_another_account_fails_with_both_ids() {
        let assume = mock!(aws_sdk_sts::Client::assume_role)
            .then_output(|| issued("999999999999", "ASIAELSEWHERE", 4_000_000_000));
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume]);
        let failure = assume_one(&sts, "Audit")
            .await
            .expect_err("the wrong account");
        assert_eq!(failure.kind(), crate::failure::FailureKind::WrongAccount);
        let error = failure.as_error();
        assert_eq!(
            (error.operation.as_ref(), error.code.as_str()),
            ("AssumeRole", "WrongAccount")
        );
        assert!(
            error.message.contains("999999999999") && error.message.contains("123456789012"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn assume_role_sends_the_session_name_external_id_and_one_hour() {
        let assume = mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(|request| {
                request.role_arn() == Some("arn:aws:iam::123456789012:role/Audit")
                    && request.role_session_name() == Some("stalecreds-1")
                    && request.external_id() == Some("ext-123")
                    && request.duration_seconds() == Some(3600)
            })
            .then_output(|| issued("123456789012", "ASIAEXAMPLE", 4_000_000_000));
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume]);
        let chain = RoleChain {
            role_arns: vec!["arn:aws:iam::123456789012:role/Audit".to_owned()],
            external_id: Some(Secret::new("ext-123")),
            session_name: "stalecreds-1".to_owned(),
        };
        let pace = Pace::new(NonZeroU32::new(100).expect("non-zero"));
        let base = SdkConfig::builder().build();
        let credentials = assume_chain(&base, &sts, "123456789012", &chain, &pace)
            .await
            .expect("assumes");
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(assume.num_calls(), 1);
        assert_eq!(pace.requests(), 1);
        // The external ID never appears in debug output.
        assert!(!format!("{chain:?}").contains("ext-123"));
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_refreshed_with_a_new_assume_role() {
        // The mock clients' clock stands at 2009-02-13T23:31:30Z (1234567890).
        let now: i64 = 1_234_567_890;
        let assume = mock!(aws_sdk_sts::Client::assume_role)
            .then_output(move || issued("123456789012", "ASIAREFRESHED", now + 3600));
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume]);
        let pace = Arc::new(Pace::new(NonZeroU32::new(100).expect("non-zero")));
        // The first session, from the explicit AssumeRole, has five seconds left.
        let expiring = Credentials::new(
            "ASIAFIRST",
            "secret",
            Some("token".to_owned()),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(now as u64 + 5)),
            "test",
        );
        let provider =
            aws_credential_types::provider::SharedCredentialsProvider::new(RoleCredentials {
                base: SdkConfig::builder().build(),
                sts,
                account_id: "123456789012".to_owned(),
                chain: RoleChain {
                    role_arns: vec!["arn:aws:iam::123456789012:role/Audit".to_owned()],
                    external_id: None,
                    session_name: "stalecreds".to_owned(),
                },
                pace: Arc::clone(&pace),
                first: Mutex::new(Some(expiring)),
            });
        let list_users = mock!(aws_sdk_iam::Client::list_users).then_output(|| {
            aws_sdk_iam::operation::list_users::ListUsersOutput::builder()
                .set_users(Some(Vec::new()))
                .build()
                .expect("complete")
        });
        let iam = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&list_users],
            |config: aws_sdk_iam::config::Builder| config
                .credentials_provider(provider.clone())
                .identity_cache(IdentityCache::lazy().build())
        );
        for _ in 0..3 {
            iam.list_users().send().await.expect("lists");
        }
        // Used once, then within the refresh buffer: one new AssumeRole, then cached.
        assert_eq!(assume.num_calls(), 1);
        assert_eq!(pace.requests(), 1);
        assert_eq!(list_users.num_calls(), 3);
    }

    #[tokio::test]
    async fn access_denied_keeps_the_code_and_message() {
        let denied = mock!(aws_sdk_sts::Client::assume_role).then_error(|| {
            AssumeRoleError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("User is not authorized to perform: sts:AssumeRole")
                    .build(),
            )
        });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&denied]);
        let error = assume_one(&sts, "Missing")
            .await
            .expect_err("denied")
            .as_error();
        assert_eq!(
            (
                error.operation.as_ref(),
                error.code.as_str(),
                error.message.as_str()
            ),
            (
                "AssumeRole",
                "AccessDenied",
                "User is not authorized to perform: sts:AssumeRole"
            )
        );
    }
}
