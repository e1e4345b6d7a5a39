//! Delivery, the last phase: the report (a local file, S3), the one digest, the journal's copy.
//!
//! A failure in one step does not stop the next: the digest is still sent when the report could
//! not be stored. Near a deadline each call gets a timeout cut to fit what is left. When the run
//! has an ID from its trigger (the scheduled event), a create-only marker in the report bucket
//! makes sure that a second delivery of the same event cannot publish a second digest.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{Clients, RunError};
use crate::aws::AwsError;
use crate::config::{Notify, Settings};
use crate::deadline::Deadline;
use crate::remediate::journal::Journal;
use crate::report::Report;
use crate::securityhub::{self, Imported};
use crate::store::{self, Bucket};
use crate::{digest, notify};

/// Where a run's results went.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Where the full report is (`s3://…`, or the local file).
    pub report: Option<String>,
    /// Where the remediation journal is (its copy in S3, or its local file).
    pub journal: Option<String>,
    /// What became of the digest.
    pub digest: Sent,
    /// What became of the import into Security Hub, when asked for.
    pub security_hub: Option<Imported>,
    /// What could not be delivered: each makes the run incomplete.
    pub errors: Vec<DeliveryError>,
}

/// What became of a run's digest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Not to be sent (no topic, `notify` says no, or it failed: see the errors).
    #[default]
    No,
    /// Published, with this SNS message ID.
    Published(String),
    /// Already published by an earlier delivery of the same run (a retried event).
    AlreadyPublished,
}

/// A result that could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The report could not be written to the local file.
    #[error("cannot write the report to {path}")]
    LocalReport {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be stored in S3.
    #[error("the report could not be stored")]
    Report(#[source] AwsError),
    /// The report's HTML page could not be stored in S3.
    #[error("the report's HTML page could not be stored")]
    Page(#[source] AwsError),
    /// The journal's copy could not be stored in S3.
    #[error("the journal's copy could not be stored")]
    Journal(#[source] AwsError),
    /// The digest could not be published.
    #[error("the digest could not be published")]
    Digest(#[source] AwsError),
    /// Findings could not be imported into Security Hub.
    #[error("Security Hub: {0}")]
    SecurityHub(String),
}

/// The calls delivery makes at most: the report, its page, the digest (and its marker), the
/// import into Security Hub (counted as one), the journal.
const DELIVERY_CALLS: u32 = 5;

/// Delivers a run's results. `output` is the local report file (the CLI's `--output`); `run_id`
/// identifies the run's trigger, for the digest's once-only marker.
pub(super) async fn deliver(
    settings: &Settings,
    clients: &Clients,
    report: &Report,
    output: Option<&PathBuf>,
    run_id: Option<&str>,
    journal: Option<&Journal>,
    deadline: &Deadline,
) -> Delivery {
    let mut delivery = Delivery {
        journal: journal.map(Journal::location),
        ..Delivery::default()
    };
    if let Some(path) = output {
        match report.write_file(path) {
            Ok(()) => delivery.report = Some(path.display().to_string()),
            Err(source) => delivery.errors.push(DeliveryError::LocalReport {
                path: path.clone(),
                source,
            }),
        }
    }
    let bucket = bucket(settings);
    if let Some(bucket) = &bucket {
        let timeout = deadline.delivery_timeout(DELIVERY_CALLS);
        match store::put_report(&clients.s3, bucket, report, timeout).await {
            Ok(location) => delivery.report = Some(location),
            Err(error) => delivery.errors.push(DeliveryError::Report(error)),
        }
        let timeout = deadline.delivery_timeout(DELIVERY_CALLS - 1);
        let page = crate::report::html::render(report).into_bytes();
        let key = bucket.key(report, "report.html");
        if let Err(error) = store::put(
            &clients.s3,
            bucket,
            &key,
            page,
            "text/html; charset=utf-8",
            timeout,
        )
        .await
        {
            delivery.errors.push(DeliveryError::Page(error));
        }
    }
    match send_digest(settings, clients, report, &delivery, run_id, deadline).await {
        Ok(sent) => delivery.digest = sent,
        Err(error) => delivery.errors.push(DeliveryError::Digest(error)),
    }
    if settings.security_hub {
        match securityhub::target(report, &clients.base) {
            Ok(target) => {
                let findings = crate::report::asff::findings(report, &target);
                let client = securityhub::client(&clients.base, deadline.delivery_timeout(2));
                let imported = securityhub::import(&client, &findings).await;
                for refused in &imported.failed {
                    tracing::warn!(
                        id = %refused.id,
                        code = %refused.code,
                        message = %refused.message,
                        "Security Hub refused a finding"
                    );
                }
                if !imported.is_complete() {
                    delivery
                        .errors
                        .push(DeliveryError::SecurityHub(imported.describe()));
                }
                delivery.security_hub = Some(imported);
            }
            Err(why) => delivery.errors.push(DeliveryError::SecurityHub(why)),
        }
    }
    if let (Some(bucket), Some(journal)) = (&bucket, journal) {
        let key = bucket.key(report, "journal.jsonl");
        let timeout = deadline.delivery_timeout(1);
        match store::put(
            &clients.s3,
            bucket,
            &key,
            journal.lines(),
            "application/x-ndjson",
            timeout,
        )
        .await
        {
            Ok(location) => delivery.journal = Some(location),
            Err(error) => delivery.errors.push(DeliveryError::Journal(error)),
        }
    }
    delivery
}

/// The report bucket, when one is configured.
pub(super) fn bucket(settings: &Settings) -> Option<Bucket> {
    settings
        .report_bucket
        .as_ref()
        .map(|(name, prefix)| Bucket {
            name: name.clone(),
            prefix: prefix.clone(),
        })
}

/// Sends the run's digest when `settings` ask for it: one message, whatever the number of
/// findings, and at most once per run.
async fn send_digest(
    settings: &Settings,
    clients: &Clients,
    report: &Report,
    delivery: &Delivery,
    run_id: Option<&str>,
    deadline: &Deadline,
) -> Result<Sent, AwsError> {
    let Some(topic_arn) = &settings.topic_arn else {
        return Ok(Sent::No);
    };
    if !digest::should_send(report, settings.notify) {
        return Ok(Sent::No);
    }
    let grouping = if settings.group_digest_by_owner {
        digest::Grouping::Owner
    } else {
        digest::Grouping::Account
    };
    let digest = digest::render_grouped(report, delivery.report.as_deref(), grouping);
    let run = run_id.map_or_else(|| report.generated_at.to_string(), str::to_owned);
    once(
        settings,
        clients,
        &run,
        run_id.is_some(),
        deadline,
        |timeout| notify::publish(&clients.base, topic_arn, &digest, &run, timeout),
    )
    .await
}

/// Publishes through `publish`, at most once per `run` when `marked` (a run ID from the
/// trigger) and a bucket is configured: a create-only marker is put first; if it already exists
/// an earlier delivery of the same run published. If publishing fails the marker is taken back,
/// so that a retry may publish.
async fn once<F, Fut>(
    settings: &Settings,
    clients: &Clients,
    run: &str,
    marked: bool,
    deadline: &Deadline,
    publish: F,
) -> Result<Sent, AwsError>
where
    F: FnOnce(Option<std::time::Duration>) -> Fut,
    Fut: std::future::Future<Output = Result<String, AwsError>>,
{
    let marker = bucket(settings).filter(|_| marked).map(|bucket| {
        let key = bucket.state_key(&format!("runs/{}/digest.json", safe(run)));
        (bucket, key)
    });
    let mut claimed = false;
    if let Some((bucket, key)) = &marker {
        // The claim names this delivery: a create retried by the SDK after S3 took the first
        // attempt answers 412, and must still count as ours.
        let claim = format!(
            "{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        );
        let body = serde_json::json!({ "run": run, "claim": claim }).to_string();
        let timeout = deadline.delivery_timeout(2);
        match store::create(&clients.s3, bucket, key, body.into_bytes(), timeout).await {
            Ok(true) => claimed = true,
            Ok(false) => match store::get(&clients.s3, bucket, key).await {
                Ok(Some(found)) if String::from_utf8_lossy(&found).contains(&claim) => {
                    claimed = true;
                }
                _ => {
                    tracing::warn!(%run, "this run's digest was already published: not publishing it again");
                    return Ok(Sent::AlreadyPublished);
                }
            },
            // Better a digest that might be a duplicate than none.
            Err(error) => {
                tracing::warn!(%error, "the digest's once-only marker could not be put; publishing anyway")
            }
        }
    }
    match publish(deadline.delivery_timeout(2)).await {
        Ok(message_id) => Ok(Sent::Published(message_id)),
        Err(error) => {
            if let (true, Some((bucket, key))) = (claimed, &marker) {
                let _ = store::delete(&clients.s3, bucket, key, deadline.delivery_timeout(1)).await;
            }
            Err(error)
        }
    }
}

/// A run ID as an S3 key segment: letters, digits, `-`, `_` and `.` kept, anything else `_`.
fn safe(run: &str) -> String {
    run.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Sends the digest of a run that failed before scanning anything, when a digest is wanted.
pub(super) async fn send_failure_digest(
    settings: &Settings,
    clients: &Clients,
    now: Timestamp,
    run_id: Option<&str>,
    error: &RunError,
    deadline: &Deadline,
) -> Result<Sent, AwsError> {
    let Some(topic_arn) = &settings.topic_arn else {
        return Ok(Sent::No);
    };
    if settings.notify == Notify::Never {
        return Ok(Sent::No);
    }
    let digest = digest::render_failure(now, &crate::aws::describe(error));
    let run = run_id.map_or_else(|| now.to_string(), str::to_owned);
    once(
        settings,
        clients,
        &run,
        run_id.is_some(),
        deadline,
        |timeout| notify::publish(&clients.base, topic_arn, &digest, &run, timeout),
    )
    .await
}
