//! Delivery, the last phase: the one digest first, then the report (a local file, S3), its page,
//! the Security Hub import and the journal's copy.
//!
//! The digest goes first because it is the run's one message: nothing else may take its time.
//! It names where the report goes (its key is known before it is stored); a report that then
//! cannot be stored is a delivery error of the run. A failure in one step does not stop the
//! next. Near a deadline each call gets a timeout cut to fit what is left. When the run has an
//! ID from its trigger (the scheduled event), a create-only marker in the report bucket makes
//! sure that a second delivery of the same event cannot publish a second digest.

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::aws::AwsError;
use crate::config::{Notify, Selection, Settings};
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
    /// What became of each owner message, by owner (when the run sends them).
    pub owner_messages: Vec<(String, Sent)>,
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
    /// An owner's message could not be published.
    #[error("the message to owner {owner} could not be published")]
    OwnerMessage {
        /// The owner.
        owner: String,
        /// Why.
        #[source]
        error: AwsError,
    },
    /// Findings could not be imported into Security Hub.
    #[error("Security Hub: {0}")]
    SecurityHub(String),
}

/// The calls delivery makes at most: the report, its page, the digest (and its marker), the
/// import into Security Hub (counted as one), the journal.
pub(super) const DELIVERY_CALLS: u32 = 5;

/// What a merge hands to delivery beside the report.
pub(super) struct Request<'a> {
    /// The local report file (the CLI's `--output`).
    pub output: Option<&'a PathBuf>,
    /// The run's ID for the digest's once-only marker, when its trigger gave one.
    pub once_per: Option<&'a str>,
    /// The journal of the run's changes.
    pub journal: Option<&'a Journal>,
}

/// Delivers a run's results: the digest first, then the report (the local file, S3) and its
/// page, the import into Security Hub, the journal's copy.
pub(super) async fn deliver(ctx: &Context<'_>, report: &Report, request: Request<'_>) -> Delivery {
    let mut delivery = Delivery {
        journal: request.journal.map(Journal::location),
        ..Delivery::default()
    };
    if let Some(path) = request.output {
        match report.write_file(path) {
            Ok(()) => delivery.report = Some(path.display().to_string()),
            Err(source) => delivery.errors.push(DeliveryError::LocalReport {
                path: path.clone(),
                source,
            }),
        }
    }
    let bucket = bucket(ctx.settings);
    let stored_at = bucket
        .as_ref()
        .map(|bucket| bucket.url(&bucket.run_key(report.generated_at, "report.json")));
    let shown = stored_at.or_else(|| delivery.report.clone());
    let once_per = request.once_per;
    let bucket_ref = bucket.as_ref();
    tell_people(
        ctx,
        report,
        shown.as_deref(),
        bucket_ref,
        once_per,
        &mut delivery,
    )
    .await;
    if let Some(bucket) = &bucket {
        store_report(ctx, bucket, report, &mut delivery).await;
    }
    if ctx.settings.security_hub {
        import(ctx, report, &mut delivery).await;
    }
    if let (Some(bucket), Some(journal)) = (&bucket, request.journal) {
        let key = bucket.run_key(report.generated_at, "journal.jsonl");
        let timeout = ctx.deadline.delivery_timeout(1);
        let body = journal.lines();
        let s3 = &ctx.clients.s3;
        match store::put(s3, bucket, &key, body, "application/x-ndjson", timeout).await {
            Ok(location) => delivery.journal = Some(location),
            Err(error) => delivery.errors.push(DeliveryError::Journal(error)),
        }
    }
    delivery
}

/// The digest, then each owner's message when the run sends them. The digest names where the
/// full report is (`shown`) and, with a bucket, the S3 console's page of `report.html`.
async fn tell_people(
    ctx: &Context<'_>,
    report: &Report,
    shown: Option<&str>,
    bucket: Option<&Bucket>,
    once_per: Option<&str>,
    delivery: &mut Delivery,
) {
    let owners = owner_messages(ctx.settings, report, shown);
    let region = ctx
        .clients
        .base
        .region()
        .map_or("us-east-1", |region| region.as_ref());
    let page = bucket.map(|bucket| {
        bucket.console_url(&bucket.run_key(report.generated_at, "report.html"), region)
    });
    let layout = digest::Layout {
        grouping: if ctx.settings.group_digest_by_owner {
            digest::Grouping::Owner
        } else {
            digest::Grouping::Account
        },
        owners: owners.as_ref(),
        page: page.as_deref(),
    };
    match send_digest(ctx, report, shown, once_per, layout).await {
        Ok(sent) => delivery.digest = sent,
        Err(error) => delivery.errors.push(DeliveryError::Digest(error)),
    }
    if let Some(planned) = &owners {
        send_owner_messages(ctx, planned, once_per, report, delivery).await;
    }
}

/// Stores the report and its page in the report bucket.
async fn store_report(
    ctx: &Context<'_>,
    bucket: &Bucket,
    report: &Report,
    delivery: &mut Delivery,
) {
    let (s3, deadline) = (&ctx.clients.s3, &ctx.deadline);
    let timeout = deadline.delivery_timeout(DELIVERY_CALLS - 1);
    let key = bucket.run_key(report.generated_at, "report.json");
    let stored = match report_json(report) {
        Ok(body) => store::put(s3, bucket, &key, body, "application/json", timeout).await,
        Err(error) => Err(AwsError::invalid_answer("PutObject", error.to_string())),
    };
    match stored {
        Ok(location) => delivery.report = Some(location),
        Err(error) => delivery.errors.push(DeliveryError::Report(error)),
    }
    let timeout = deadline.delivery_timeout(DELIVERY_CALLS - 2);
    let page = crate::report::html::render(report).into_bytes();
    let key = bucket.run_key(report.generated_at, "report.html");
    let kind = "text/html; charset=utf-8";
    if let Err(error) = store::put(s3, bucket, &key, page, kind, timeout).await {
        delivery.errors.push(DeliveryError::Page(error));
    }
}

/// Imports the run's findings into Security Hub, with the ones the hub still holds ACTIVE that
/// this run shows are no longer open archived, so that a failed import heals the next day.
async fn import(ctx: &Context<'_>, report: &Report, delivery: &mut Delivery) {
    let (base, deadline) = (&ctx.clients.base, &ctx.deadline);
    let target = match securityhub::target(report, base) {
        Ok(target) => target,
        Err(why) => return delivery.errors.push(DeliveryError::SecurityHub(why)),
    };
    let client = securityhub::client(base, deadline.delivery_timeout(2));
    let mut findings: Vec<_> = crate::report::asff::findings(report, &target)
        .iter()
        .map(securityhub::to_sdk)
        .collect();
    let whole_organization = matches!(
        &ctx.settings.selection,
        Selection::Organization { include_ous, .. } if include_ous.is_empty()
    );
    let mut stale = 0;
    match securityhub::active(base, deadline.delivery_timeout(3), &target).await {
        Ok(held) => {
            let archived = securityhub::stale(report, &held, whole_organization);
            stale = archived.len();
            findings.extend(archived);
        }
        Err(error) => delivery.errors.push(DeliveryError::SecurityHub(format!(
            "what the hub holds could not be read ({error}): no stale finding was archived"
        ))),
    }
    let mut imported = securityhub::import_all(&client, findings).await;
    imported.stale = stale;
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

/// The report as JSON bytes.
fn report_json(report: &Report) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    report.write_json(&mut body)?;
    Ok(body)
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

/// The run's owner messages, when the settings ask for them (and a digest may be sent at all).
fn owner_messages(
    settings: &crate::config::Settings,
    report: &Report,
    full_report: Option<&str>,
) -> Option<digest::owners::Planned> {
    let wanted = settings.owner_messages
        && settings.topic_arn.is_some()
        && settings.notify != crate::config::Notify::Never;
    wanted.then(|| digest::owners::plan(report, settings.max_owner_messages, full_report))
}

/// Publishes each owner's message, at most once per run and owner (`once_per`, the trigger's
/// ID: each has a marker of its own, as the digest has).
async fn send_owner_messages(
    ctx: &Context<'_>,
    planned: &digest::owners::Planned,
    once_per: Option<&str>,
    report: &Report,
    delivery: &mut Delivery,
) {
    let Some(topic_arn) = &ctx.settings.topic_arn else {
        return;
    };
    let run = once_per.map_or_else(|| report.generated_at.to_string(), str::to_owned);
    let base = &ctx.clients.base;
    for (index, message) in planned.messages.iter().enumerate() {
        let marker = format!("owner-{index:05}-{}", store::segment(&message.owner));
        let dedup = format!("{run}-{marker}");
        let sent = once(ctx, &run, &marker, once_per.is_some(), |timeout| {
            notify::publish(base, topic_arn, &message.digest, &dedup, timeout)
        })
        .await;
        match sent {
            Ok(sent) => delivery.owner_messages.push((message.owner.clone(), sent)),
            Err(error) => delivery.errors.push(DeliveryError::OwnerMessage {
                owner: message.owner.clone(),
                error,
            }),
        }
    }
}

/// Sends the run's digest when the settings ask for it: one message, whatever the number of
/// findings, and at most once per run (`once_per`, the trigger's ID).
async fn send_digest(
    ctx: &Context<'_>,
    report: &Report,
    full_report: Option<&str>,
    once_per: Option<&str>,
    layout: digest::Layout<'_>,
) -> Result<Sent, AwsError> {
    let settings = ctx.settings;
    let Some(topic_arn) = &settings.topic_arn else {
        return Ok(Sent::No);
    };
    if !digest::should_send(report, settings.notify) {
        return Ok(Sent::No);
    }
    let digest = digest::render_grouped(report, full_report, layout);
    let run = once_per.map_or_else(|| report.generated_at.to_string(), str::to_owned);
    let base = &ctx.clients.base;
    once(ctx, &run, "digest", once_per.is_some(), |timeout| {
        notify::publish(base, topic_arn, &digest, &run, timeout)
    })
    .await
}

/// How long past its claimant's own limit for Publish a claim on a run's digest holds: after
/// that, a later attempt takes the run over (the claimant crashed between its claim and its
/// Publish, or was cut off during it).
const CLAIM_MARGIN: Duration = Duration::from_secs(30);
/// How often a claim another delivery holds is read again while waiting for it.
const CLAIM_POLL: Duration = Duration::from_secs(1);
/// How many times the marker is claimed again after it was released under us.
const CLAIM_ATTEMPTS: usize = 3;

/// A run's digest marker (`state/runs/<run>/digest.json`): who claimed the run's one message,
/// until when the claim holds, and the message once published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    run: String,
    /// Which delivery claimed it.
    claim: String,
    /// Until when the claimant may still publish; a later attempt may take over after it.
    #[serde(default)]
    until: Option<Timestamp>,
    /// The SNS message ID, once published.
    #[serde(default)]
    published: Option<String>,
}

/// What a delivery does about a run's digest marker.
enum Turn {
    /// Publish: the claim is ours (or cannot be had: a duplicate is better than none).
    Publish {
        /// The marker's key, when the claim is ours: it records the message once published.
        claimed: Option<String>,
    },
    /// An earlier delivery of the run published it.
    Published,
}

/// Publishes through `publish`, at most once per `run` when `marked` (a run ID from the
/// trigger) and a bucket is configured. A create-only marker claims the run first; the claim
/// holds until its claimant's limit for Publish has passed, and records the message once it is
/// published. A delivery that finds the marker publishes nothing when the message went out,
/// waits while another delivery holds a live claim, and takes the run over (a conditional
/// write on the marker it read) when the claim ran out without a message: a crash between the
/// claim and the Publish loses no digest. When the marker cannot be written or read, the digest
/// is published anyway. A failed Publish releases the claim, so that a retry may publish.
async fn once<F, Fut>(
    ctx: &Context<'_>,
    run: &str,
    name: &str,
    marked: bool,
    publish: F,
) -> Result<Sent, AwsError>
where
    F: FnOnce(Option<Duration>) -> Fut,
    Fut: std::future::Future<Output = Result<String, AwsError>>,
{
    let (clients, deadline) = (ctx.clients, &ctx.deadline);
    let marker = bucket(ctx.settings).filter(|_| marked).map(|bucket| {
        let key = bucket.state_key(&format!("runs/{}/{name}.json", store::segment(run)));
        (bucket, key)
    });
    let claimed = match &marker {
        None => None,
        Some((bucket, key)) => match claim(ctx, bucket, key, run).await {
            Turn::Published => return Ok(Sent::AlreadyPublished),
            Turn::Publish { claimed } => claimed.map(|key| (bucket, key)),
        },
    };
    match publish(deadline.delivery_timeout(1)).await {
        Ok(message_id) => {
            if let Some((bucket, key)) = claimed {
                let record = |claim: &mut Claim| claim.published = Some(message_id.clone());
                if let Err(error) = update(ctx, bucket, &key, record).await {
                    tracing::warn!(%error, "the digest was published; its marker could not record it");
                }
            }
            Ok(Sent::Published(message_id))
        }
        Err(error) => {
            if let Some((bucket, key)) = claimed {
                let _ =
                    store::delete(&clients.s3, bucket, &key, deadline.delivery_timeout(1)).await;
            }
            Err(error)
        }
    }
}

/// Claims the run's digest marker at `key` (see [`once`]).
async fn claim(ctx: &Context<'_>, bucket: &Bucket, key: &str, run: &str) -> Turn {
    let claimant = Claimant {
        // The claim names this delivery: a create retried by the SDK after S3 took the first
        // attempt answers 412, and must still count as ours.
        id: format!(
            "{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ),
        publish_limit: ctx
            .deadline
            .delivery_timeout(1)
            .unwrap_or(ctx.settings.call_timeout),
        ctx,
        bucket,
        key,
        run,
    };
    for _ in 0..CLAIM_ATTEMPTS {
        let timeout = ctx.deadline.delivery_timeout(2);
        match store::create(&ctx.clients.s3, bucket, key, claimant.body(), timeout).await {
            Ok(true) => return claimant.ours(),
            Ok(false) => {}
            Err(error) => return anyway("the digest's once-only marker could not be put", &error),
        }
        if let Some(turn) = claimant.watch().await {
            return turn;
        }
    }
    anyway("the digest's marker kept changing", &run)
}

/// The marker could not be used: the digest goes out unclaimed.
fn anyway(why: &str, error: &dyn std::fmt::Display) -> Turn {
    tracing::warn!(%error, "{why}: publishing the digest anyway (better a duplicate than none)");
    Turn::Publish { claimed: None }
}

/// One delivery claiming a run's digest marker.
struct Claimant<'c, 'a> {
    ctx: &'c Context<'a>,
    bucket: &'c Bucket,
    key: &'c str,
    run: &'c str,
    /// This delivery's name in the marker.
    id: String,
    /// The longest its Publish may take.
    publish_limit: Duration,
}

impl Claimant<'_, '_> {
    /// The marker this delivery writes: its claim, until its Publish must be done.
    fn body(&self) -> Vec<u8> {
        let until = Timestamp::now()
            .checked_add(self.publish_limit + CLAIM_MARGIN)
            .ok();
        let claim = Claim {
            run: self.run.to_owned(),
            claim: self.id.clone(),
            until,
            published: None,
        };
        serde_json::to_vec(&claim).unwrap_or_default()
    }

    fn ours(&self) -> Turn {
        Turn::Publish {
            claimed: Some(self.key.to_owned()),
        }
    }

    /// Watches a marker someone else holds: its turn, or `None` when the marker is gone (its
    /// Publish failed) and may be claimed again.
    async fn watch(&self) -> Option<Turn> {
        let (ctx, run) = (self.ctx, self.run);
        loop {
            let (body, etag) = match store::get_tagged(&ctx.clients.s3, self.bucket, self.key).await
            {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(error) => return Some(anyway("the digest's marker could not be read", &error)),
            };
            let Ok(held) = serde_json::from_slice::<Claim>(&body) else {
                // Not a marker this program wrote: leave the run alone.
                return Some(Turn::Published);
            };
            if held.claim == self.id {
                return Some(self.ours());
            }
            if held.published.is_some() || held.until.is_none() {
                // Published; or a marker of an earlier version, which claimed only to publish.
                tracing::warn!(%run, "this run's digest was already published: not publishing it again");
                return Some(Turn::Published);
            }
            if held.until.is_some_and(|until| until <= Timestamp::now()) {
                let etag = etag.unwrap_or_default();
                let timeout = ctx.deadline.delivery_timeout(2);
                let (s3, bucket, key) = (&ctx.clients.s3, self.bucket, self.key);
                match store::replace(s3, bucket, key, self.body(), &etag, timeout).await {
                    Ok(true) => {
                        tracing::warn!(%run, claimant = %held.claim, "a claim on this run's digest ran out without a message: taking it over");
                        return Some(self.ours());
                    }
                    // Someone else took it over first: read it again.
                    Ok(false) => continue,
                    Err(error) => {
                        return Some(anyway(
                            "the digest's marker could not be taken over",
                            &error,
                        ));
                    }
                }
            }
            // Another delivery of the run is publishing now: wait for it, while there is time.
            if ctx
                .deadline
                .delivery_timeout(1)
                .is_some_and(|left| left < CLAIM_POLL * 3)
            {
                let why = "another delivery holds this run's digest and time is running out";
                return Some(anyway(why, &run));
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }
}

/// Changes the run's digest marker at `key` (best effort: the message already went out).
async fn update(
    ctx: &Context<'_>,
    bucket: &Bucket,
    key: &str,
    change: impl FnOnce(&mut Claim),
) -> Result<(), AwsError> {
    let (clients, deadline) = (ctx.clients, &ctx.deadline);
    let Some((body, _)) = store::get_tagged(&clients.s3, bucket, key).await? else {
        return Ok(());
    };
    let Ok(mut claim) = serde_json::from_slice::<Claim>(&body) else {
        return Ok(());
    };
    change(&mut claim);
    let body = serde_json::to_vec(&claim).unwrap_or_default();
    store::put(
        &clients.s3,
        bucket,
        key,
        body,
        "application/json",
        deadline.delivery_timeout(2),
    )
    .await
    .map(drop)
}

/// Sends the digest of a run that ended without its report, when a digest is wanted: at most
/// once per run, like any digest.
pub(super) async fn send_failure_digest(
    ctx: &Context<'_>,
    run_id: Option<&str>,
    failure: &digest::RunFailure<'_>,
) -> Result<Sent, AwsError> {
    let Some(topic_arn) = &ctx.settings.topic_arn else {
        return Ok(Sent::No);
    };
    if ctx.settings.notify == Notify::Never {
        return Ok(Sent::No);
    }
    let digest = digest::render_failure(ctx.now, failure);
    let run = run_id.map_or_else(|| ctx.now.to_string(), str::to_owned);
    let base = &ctx.clients.base;
    once(ctx, &run, "digest", run_id.is_some(), |timeout| {
        notify::publish(base, topic_arn, &digest, &run, timeout)
    })
    .await
}
