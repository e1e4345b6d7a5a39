//! The SDK clients of a run, and how an account is reached: from the caller's credentials or a
//! named profile's, through a role chain or not, proven to act in that account.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;

use crate::assume::{self, Caller, RoleChain};
use crate::aws::{AwsError, Pace};
use crate::failure::Failure;

/// The SDK clients a run uses, built once by the front end from one SDK configuration. Accounts
/// reached through a named AWS profile get that profile's configuration, loaded once per run.
#[derive(Debug)]
pub struct Clients {
    /// The caller's configuration: region, endpoint, credentials, retries, timeouts.
    pub base: SdkConfig,
    /// STS, for GetCallerIdentity and AssumeRole.
    pub sts: aws_sdk_sts::Client,
    /// Organizations, for ListAccounts.
    pub organizations: aws_sdk_organizations::Client,
    /// S3, for reports, journals and state.
    pub s3: aws_sdk_s3::Client,
    profiles: tokio::sync::Mutex<BTreeMap<String, Start>>,
}

/// Where an account's chain of credentials starts: the caller's, or a named profile's, with
/// whom those credentials act as (GetCallerIdentity, asked once per profile).
#[derive(Debug, Clone)]
struct Start {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    /// The profile's identity (an ARN); `None` for the caller's own credentials.
    identity: Option<Result<String, AwsError>>,
}

impl Clients {
    /// Builds every client from `base`.
    pub fn new(base: SdkConfig) -> Clients {
        Clients {
            sts: aws_sdk_sts::Client::new(&base),
            organizations: aws_sdk_organizations::Client::new(&base),
            s3: crate::store::client(&base),
            base,
            profiles: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The configuration and STS client that start an account's chain: the caller's, or the
    /// named profile's (with the caller's retries and timeouts).
    async fn starting_point(&self, profile: Option<&str>) -> Start {
        let Some(profile) = profile else {
            return Start {
                base: self.base.clone(),
                sts: self.sts.clone(),
                identity: None,
            };
        };
        // A tokio mutex, held across the load on purpose: each profile is loaded once per run.
        let mut profiles = self.profiles.lock().await;
        if let Some(loaded) = profiles.get(profile) {
            return loaded.clone();
        }
        let base =
            crate::aws::load_sdk_config(Some(profile), self.base.timeout_config().cloned()).await;
        let sts = aws_sdk_sts::Client::new(&base);
        let identity = assume::caller(&sts).await.map(|caller| caller.arn);
        let loaded = Start {
            base,
            sts,
            identity: Some(identity),
        };
        profiles.insert(profile.to_owned(), loaded.clone());
        loaded
    }

    /// An IAM client that acts in `account_id`: from `profile`'s credentials (or the caller's),
    /// through `chain` when there is one. Either way the credentials are shown to act in that
    /// account first (the last AssumeRole's answer, or the starting identity), so that nothing
    /// of another account is ever reported under its ID.
    pub(super) async fn iam_for(
        &self,
        caller: &Caller,
        account_id: &str,
        profile: Option<&str>,
        chain: Option<&RoleChain>,
        pace: &Arc<Pace>,
    ) -> Result<aws_sdk_iam::Client, Failure> {
        let start = self.starting_point(profile).await;
        if chain.is_none() {
            let acting = match start.identity {
                Some(identity) => identity?,
                None => caller.arn.clone(),
            };
            assume::check_account("GetCallerIdentity", &acting, account_id)?;
        }
        assume::iam_client(&start.base, &start.sts, account_id, chain, pace).await
    }
}
