//! SDK plumbing shared by the adapters (`org`, `assume`, `scan`, `notify`): the retry and
//! timeout settings, the per-account [`Pace`] limiter, request counting, and [`AwsError`], the
//! one shape in which an AWS failure reaches a report.
//!
//! Nothing here decides anything about credentials; it only makes AWS calls safe to repeat and
//! their failures readable.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Debug;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Attempts per AWS call, the first included. At a 20 % throttling rate the chance that all ten
/// are throttled is 0.2^10 ≈ 1e-7, so throttling never fails a call in practice.
pub const MAX_ATTEMPTS: u32 = 10;

/// The retry settings every client uses: standard mode (exponential backoff with jitter on
/// throttling and transient errors), `MAX_ATTEMPTS` attempts, backoff capped at 20 s.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}

/// The timeouts every client uses: no call, retries included, outlives `call`, and no single
/// attempt outlives `attempt` (the settings `call_timeout_seconds` and
/// `attempt_timeout_seconds`: 300 s and 30 s by default).
pub fn timeout_config(attempt: Duration, call: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5).min(attempt))
        .read_timeout(attempt)
        .operation_attempt_timeout(attempt)
        .operation_timeout(call)
        .build()
}

/// The longest one attempt of an AWS call may take, unless configured.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest an AWS call may take, retries included, unless configured.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// `base` with these timeouts (one attempt, one call with its retries).
pub fn with_timeouts(
    base: &aws_config::SdkConfig,
    attempt: Duration,
    call: Duration,
) -> aws_config::SdkConfig {
    base.to_builder()
        .timeout_config(timeout_config(attempt, call))
        .build()
}

/// The caller's SDK configuration, from the SDK's own chain (environment, profiles, SSO,
/// container and instance roles, `AWS_ENDPOINT_URL`), or from the named profile, with our
/// retries and `timeouts` (the defaults' when `None`). The region falls back to `us-east-1` when
/// none is configured: IAM and Organizations are global.
pub async fn load_sdk_config(
    profile: Option<&str>,
    timeouts: Option<TimeoutConfig>,
) -> aws_config::SdkConfig {
    let region =
        aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader
        .region(region)
        .retry_config(retry_config())
        .timeout_config(
            timeouts
                .unwrap_or_else(|| timeout_config(DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CALL_TIMEOUT)),
        )
        .load()
        .await
}

/// An AWS call that failed, with the AWS error code and message kept apart so that a reader
/// (and the exit status) can tell AccessDenied from throttling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    /// The API operation, such as `AssumeRole`.
    pub operation: Cow<'static, str>,
    /// The AWS error code (`AccessDenied`, `Throttling`, …) or, for failures without a response,
    /// the kind of failure (`TimeoutError`, `DispatchFailure`, …).
    pub code: String,
    /// The error message.
    pub message: String,
}

impl AwsError {
    /// Describes an SDK error; the typed error is only read, never kept, so no request detail
    /// (and no credential) travels further than this.
    pub fn from_sdk<E>(operation: &'static str, error: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    {
        let (code, message) = match error {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                (
                    inner.code().unwrap_or("Unknown").to_owned(),
                    inner
                        .message()
                        .map_or_else(|| inner.to_string(), str::to_owned),
                )
            }
            SdkError::TimeoutError(_) => (
                "TimeoutError".to_owned(),
                DisplayErrorContext(error).to_string(),
            ),
            SdkError::DispatchFailure(_) => (
                "DispatchFailure".to_owned(),
                DisplayErrorContext(error).to_string(),
            ),
            SdkError::ResponseError(_) => (
                "ResponseError".to_owned(),
                DisplayErrorContext(error).to_string(),
            ),
            _ => (
                "ConstructionFailure".to_owned(),
                DisplayErrorContext(error).to_string(),
            ),
        };
        AwsError {
            operation: operation.into(),
            code,
            message,
        }
    }

    /// Whether AWS may have acted on the request although this error says nothing of it: no
    /// answer came (a timeout, a dropped connection, a response that could not be read), or a
    /// server error did, which can follow a change IAM made.
    pub fn answer_lost(&self) -> bool {
        matches!(
            self.code.as_str(),
            "TimeoutError"
                | "DispatchFailure"
                | "ResponseError"
                | "ServiceFailure"
                | "InternalFailure"
                | "InternalError"
                | "ServiceUnavailable"
        )
    }

    /// An error this program found in an AWS answer (not one AWS returned).
    pub fn invalid_answer(operation: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            operation: operation.into(),
            code: "InvalidAnswer".to_owned(),
            message: message.into(),
        }
    }
}

/// An error and its causes, one after the other: `what: why: because`.
pub fn describe(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Converts an SDK timestamp; `None` for one outside jiff's range (years -9999..=9999), which
/// no AWS answer holds.
pub fn timestamp(date: &aws_smithy_types::DateTime) -> Option<jiff::Timestamp> {
    let nanos = i32::try_from(date.subsec_nanos()).ok()?;
    jiff::Timestamp::new(date.secs(), nanos).ok()
}

/// Every item of a paginated call: `page(token)` makes one request and returns its items and
/// the next page's token (`None` at the end). Each page first awaits `pace`. A page may be empty
/// and still have a token (Organizations does this): it is followed. A token given twice is an
/// error, not a loop.
pub async fn all_pages<T, F, Fut>(
    operation: &'static str,
    pace: &Pace,
    mut page: F,
) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        pace.ready().await;
        let (found, next) = page(token.clone()).await?;
        items.extend(found);
        match next {
            Some(next) if token.as_deref() == Some(next.as_str()) => {
                return Err(AwsError::invalid_answer(
                    operation,
                    "the same page token twice",
                ));
            }
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}

/// IAM's pagination as a token: the `Marker` while `IsTruncated`, `None` after the last page.
pub fn iam_marker(
    operation: &'static str,
    truncated: bool,
    marker: Option<&str>,
) -> Result<Option<String>, AwsError> {
    match (truncated, marker) {
        (false, _) => Ok(None),
        (true, Some(marker)) => Ok(Some(marker.to_owned())),
        (true, None) => Err(AwsError::invalid_answer(
            operation,
            "IsTruncated without a Marker",
        )),
    }
}

/// The request pace for one account: every AWS call into the account waits here first, and each
/// call is counted. One `Pace` per account, never shared, so one account's pace never slows
/// another's.
#[derive(Debug)]
pub struct Pace {
    limiter: DefaultDirectRateLimiter,
    requests: Arc<AtomicU64>,
}

impl Pace {
    /// A pace of `per_second` requests per second, with bursts of the same size.
    pub fn new(per_second: NonZeroU32) -> Self {
        Pace {
            limiter: RateLimiter::direct(Quota::per_second(per_second)),
            requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits until the next request may go.
    pub async fn ready(&self) {
        self.limiter.until_ready().await;
    }

    /// Counts one request made outside an SDK client of this account (AssumeRole).
    pub fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests made so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// An interceptor that counts every attempt a client makes, retries included.
    pub fn counter(&self) -> RequestCounter {
        RequestCounter(Arc::clone(&self.requests))
    }
}

/// Counts the HTTP attempts of one client; see [`Pace::counter`].
#[derive(Debug, Clone)]
pub struct RequestCounter(Arc<AtomicU64>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "stalecreds::RequestCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
