//! The Lambda front end's library half: one invocation, from the event to the JSON response.
//! `src/bin/bootstrap.rs` wraps it in `lambda_runtime`; nothing here knows that crate.
//!
//! Every invocation starts from nothing: it reads "now", the environment and the bundled
//! configuration file again, and returns everything it found. Only the SDK clients ([`Function`])
//! outlive an invocation in a warm container; no result ever does.
//!
//! The event is an EventBridge scheduled event (no overrides) or a JSON object with overrides:
//! `accounts` (a list of IDs), `max_idle_days`, `mode`, `apply`. `apply: true` is refused unless
//! the function's own configuration allows it (`STALECREDS_APPLY` or `STALECREDS_ALLOW_APPLY`).
//! The Lambda deadline is taken first, as one absolute [`Deadline`]: listing, scanning,
//! confirming, remediation and delivery all respect it (see `deadline`), so the function always
//! ends with a report and a digest before Lambda would stop it. A scheduled event's `id` is the
//! run's ID: a second delivery of the same event cannot publish a second digest.

use std::path::PathBuf;
use std::time::SystemTime;

use aws_config::SdkConfig;
use serde_json::{Value, json};

use crate::config::{self, LoadError, NothingToApply, Setting, Settings};
use crate::deadline::Deadline;
use crate::digest;
use crate::pipeline::{
    self, Clients, Context, JournalPlace, MergeRequest, Merged, OnFailure, ScanError, ScanRequest,
    Scanned, Sent, StepError,
};

/// The keys an override event may have.
const EVENT_KEYS: [&str; 11] = [
    "accounts",
    "max_idle_days",
    "mode",
    "apply",
    "step",
    "plan",
    "batch",
    "run_id",
    "claimant",
    "failed_step",
    "error",
];
/// The causes of failure named in a response, at most (the response stays small).
const RESPONSE_CAUSES: usize = 10;

/// What lives as long as the container: the SDK configuration, loaded at cold start. Clients
/// are made from it for each invocation, with that invocation's timeouts.
#[derive(Debug)]
pub struct Function {
    base: SdkConfig,
}

impl Function {
    /// A function using this SDK configuration.
    pub fn new(base: SdkConfig) -> Function {
        Function { base }
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The event is not a scheduled event nor a valid override object.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The configuration (environment, bundled file, event overrides) cannot be read or has
    /// problems.
    #[error(transparent)]
    Config(#[from] LoadError),
    /// The event asked for `apply` and the function does not allow it, or it cannot be done.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Nothing could be scanned, or `apply` could not be journaled.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// A step of a fanned-out run could not be done.
    #[error(transparent)]
    Step(#[from] StepError),
}

/// An event that is neither a scheduled event nor a valid override object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not a JSON object.
    #[error("the event is not valid: expected a JSON object, found {found}")]
    NotAnObject {
        /// What was found.
        found: String,
    },
    /// A key no override has.
    #[error("the event is not valid: unknown key `{key}`; expected one of: {}", EVENT_KEYS.join(", "))]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A step with the wrong keys, or an unknown step.
    #[error(
        "the event is not valid: step `{step}` takes: `plan` nothing more, `batch` a `plan` and a `batch`, `merge` a `plan`, `failed` a `failed_step` and an `error`"
    )]
    BadStep {
        /// The step asked for.
        step: String,
    },
    /// A known key with a value of the wrong type.
    #[error("the event is not valid: `{key}` has the wrong type: {found}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What was found.
        found: String,
    },
}

/// Why `apply` cannot be done in this invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The event asks, and the function does not allow events to.
    #[error(
        "the event asks to apply remediation, and this function does not allow it (STALECREDS_ALLOW_APPLY)"
    )]
    NotAllowed,
    /// A switch of the function's environment is neither `true` nor `false`.
    #[error("{name}: expected `true` or `false`, found `{found}`")]
    NotABoolean {
        /// The variable.
        name: &'static str,
        /// What it holds.
        found: String,
    },
    /// Apply is on, and there is nothing to apply.
    #[error(transparent)]
    NoRemediation(#[from] NothingToApply),
    /// Apply is on, and the journal would be lost with /tmp.
    #[error(
        "apply is on, but no report bucket is configured: the journal of changes would be lost with /tmp (STALECREDS_REPORT_BUCKET)"
    )]
    NoBucket,
}

impl InvokeError {
    /// What usually fixes it: the function's error message ends with it, so that a fanned-out
    /// run's failure digest (which quotes that message) says it too.
    pub fn what_to_do(&self) -> String {
        match self {
            InvokeError::Event(_) => "invoke the function with a scheduled event or a valid override object".to_owned(),
            InvokeError::Config(_) | InvokeError::Apply(_) => {
                "fix the function's configuration (its environment or bundled accounts.yaml; docs/configuration.md)".to_owned()
            }
            InvokeError::Scan(error) => error.what_to_do(),
            InvokeError::Step(error) => error.what_to_do(),
        }
    }

    /// The Lambda `errorType`: whether a retry can help.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvokeError::Event(_) | InvokeError::Config(_) | InvokeError::Apply(_) => {
                "NonRetryable.Configuration"
            }
            InvokeError::Scan(ScanError::Run(_))
            | InvokeError::Step(StepError::Place(_) | StepError::Scan(ScanError::Run(_))) => {
                "Retryable.Run"
            }
            InvokeError::Scan(_) | InvokeError::Step(_) => "NonRetryable.Configuration",
        }
    }
}

/// Runs one invocation. `env` reads the function's environment; `deadline` is the Lambda
/// deadline.
pub async fn invoke(
    function: &Function,
    event: &Value,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    deadline: Option<SystemTime>,
) -> Result<Value, InvokeError> {
    // The deadline before anything else: every phase of the run is cut from it.
    let deadline = deadline.map_or_else(Deadline::none, |at| {
        let budget = at.duration_since(SystemTime::now()).unwrap_or_default();
        Deadline::after(tokio::time::Instant::now(), budget)
    });
    // Read once per invocation, never at load: a warm container must not reuse a stale "now".
    let now = Context::clock();
    let overrides = parse_event(event)?;
    let settings = settings(env, &overrides)?;
    let apply = decide_apply(env, overrides.apply, &settings)?;
    let clients = Clients::new(crate::aws::with_timeouts(
        &function.base,
        settings.attempt_timeout,
        settings.call_timeout,
    ));
    let ctx = Context::new(&settings, &clients, now, deadline).run_id(overrides.run_id);
    // A fanned-out step that fails is retried by the state machine, whose `failed` step
    // reports a failure that is final.
    let step = ctx.on_failure(OnFailure::Return);
    let journal = apply.then_some(JournalPlace::Bucket);
    match overrides.step {
        Step::Whole => whole(&step.on_failure(OnFailure::Report), journal).await,
        Step::Plan => plan_step(&step, overrides.claimant).await,
        Step::Batch { plan, batch } => {
            let written = pipeline::scan_batch(&step, &plan, batch, std::future::pending()).await?;
            Ok(json!({
                "step": "batch",
                "batch": batch,
                "partial": written.partial,
                "accounts": written.accounts,
                "cut_short": written.cut_short,
            }))
        }
        Step::Failed {
            step: failed,
            error,
        } => {
            pipeline::report_step_failure(&step, &failed, &error).await;
            Ok(json!({ "step": "failed", "failed_step": failed, "run_id": step.run_id }))
        }
        Step::Merge { plan } => {
            let request = MergeRequest {
                apply: journal,
                output: None,
                since: None,
            };
            match pipeline::merge(&step, &plan, request).await? {
                Merged::Done(scanned) => Ok(response(&scanned, apply)),
                Merged::Already { report } => Ok(json!({
                    "step": "merge",
                    "already_merged": true,
                    "report": report,
                })),
            }
        }
    }
}

/// A whole run in this invocation (the single function).
async fn whole(ctx: &Context<'_>, journal: Option<JournalPlace>) -> Result<Value, InvokeError> {
    let request = ScanRequest {
        events: &|_| {},
        apply: journal.clone(),
        output: None,
        since: None,
    };
    let scanned = pipeline::scan(ctx, request, std::future::pending()).await?;
    tracing::info!(
        findings = scanned.report.summary.findings,
        accounts = scanned.report.summary.accounts,
        complete = scanned.report.is_complete(),
        "run finished"
    );
    Ok(response(&scanned, journal.is_some()))
}

/// The plan step: the run's records go to a folder named after the run in the report bucket
/// (`stalecreds/runs/<run>/`), where the state machine's ItemReader finds the batches. One run
/// per run ID (the scheduled time): the plan claims it first with a create-only marker naming
/// its claimant (the Step Functions execution); a second execution for the same run (a duplicate
/// delivery of the schedule) finds the claim and stops, while a retry of the same execution's
/// Plan task plans again in the same place.
async fn plan_step(ctx: &Context<'_>, claimant: Option<String>) -> Result<Value, InvokeError> {
    let (name, prefix) = ctx
        .settings
        .report_bucket
        .clone()
        .ok_or(ApplyError::NoBucket)?;
    let bucket = crate::store::Bucket { name, prefix };
    let id = ctx.run_id.clone().unwrap_or_else(|| ctx.now.to_string());
    let folder = bucket.run_folder(&id);
    let place = ctx.run_place();
    let claimant = claimant.unwrap_or_else(|| ctx.now.as_nanosecond().to_string());
    let claim = format!("{folder}claim.json");
    if !claim_run(&ctx.clients.s3, &bucket, &claim, &id, &claimant).await? {
        tracing::warn!(run_id = %id, "this run is planned by another execution: not planning it again");
        return Ok(json!({
            "step": "plan",
            "duplicate": true,
            "run_id": id,
            "plan": place.location("plan.json"),
        }));
    }
    let named = ctx.clone().run_id(Some(id));
    let planned = pipeline::plan(&named, &place).await?;
    Ok(json!({
        "step": "plan",
        "duplicate": false,
        "run_id": planned.run_id,
        "plan": planned.plan,
        "bucket": bucket.name,
        "items_key": format!("{folder}items.json"),
        "batches": planned.batches,
        "accounts": planned.accounts,
    }))
}

/// Claims a run for a claimant with a create-only marker: true when the run is (now or already)
/// this claimant's, false when another claimant has it. A marker that cannot be read or
/// written fails the step (to be retried), never passes for either answer.
async fn claim_run(
    s3: &aws_sdk_s3::Client,
    bucket: &crate::store::Bucket,
    key: &str,
    id: &str,
    claimant: &str,
) -> Result<bool, StepError> {
    let failed = |source| {
        StepError::Place(pipeline::PlaceError::Store {
            location: bucket.url(key),
            source,
        })
    };
    let claim = json!({ "run_id": id, "claimant": claimant }).to_string();
    if crate::store::create(s3, bucket, key, claim.into_bytes(), None)
        .await
        .map_err(failed)?
    {
        return Ok(true);
    }
    let body = crate::store::get(s3, bucket, key).await.map_err(failed)?;
    let claimed: Value = body
        .and_then(|body| serde_json::from_slice(&body).ok())
        .unwrap_or(Value::Null);
    Ok(claimed["claimant"].as_str() == Some(claimant))
}

/// The overrides an event carries.
#[derive(Debug, Default, PartialEq, Eq)]
struct Overrides {
    accounts: Vec<String>,
    flags: Vec<(Setting, String)>,
    apply: Option<bool>,
    /// The scheduled event's ID (or a fanned-out run's scheduled time): the run's identity.
    run_id: Option<String>,
    /// The Step Functions execution planning a fanned-out run.
    claimant: Option<String>,
    /// Which step of a run (a whole run by default).
    step: Step,
}

/// The step of a run an event asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Step {
    /// A whole run in this invocation.
    #[default]
    Whole,
    /// Plan a fanned-out run.
    Plan,
    /// Scan one batch of a planned run.
    Batch {
        /// The plan (`s3://…/plan.json`).
        plan: String,
        /// The batch.
        batch: usize,
    },
    /// Merge a planned run.
    Merge {
        /// The plan.
        plan: String,
    },
    /// A step of a fanned-out run failed for good (the state machine caught it after its
    /// retries): send the run's failure digest.
    Failed {
        /// The step that failed (`plan`, `merge`).
        step: String,
        /// Its error, as Step Functions caught it.
        error: String,
    },
}

fn parse_event(event: &Value) -> Result<Overrides, EventError> {
    let object = match event {
        Value::Null => return Ok(Overrides::default()),
        Value::Object(object) => object,
        other => {
            return Err(EventError::NotAnObject {
                found: other.to_string(),
            });
        }
    };
    // An EventBridge schedule: `source: aws.events`, `detail-type: Scheduled Event`.
    if object.get("source").and_then(Value::as_str) == Some("aws.events")
        || object.contains_key("detail-type")
    {
        return Ok(Overrides {
            run_id: object.get("id").and_then(Value::as_str).map(str::to_owned),
            ..Overrides::default()
        });
    }
    let mut overrides = Overrides::default();
    let mut fields = StepFields::default();
    for (key, value) in object {
        overrides.field(&mut fields, key, value)?;
    }
    overrides.step = fields.step()?;
    Ok(overrides)
}

/// The fields of an event that say which step it asks for.
#[derive(Default)]
struct StepFields {
    step: Option<String>,
    plan: Option<String>,
    batch: Option<usize>,
    failed_step: Option<String>,
    caught: Option<String>,
}

impl StepFields {
    /// The step, when the fields name one consistently.
    fn step(self) -> Result<Step, EventError> {
        Ok(
            match (
                self.step.as_deref(),
                self.plan,
                self.batch,
                self.failed_step,
                self.caught,
            ) {
                (None | Some("whole"), None, None, None, None) => Step::Whole,
                (Some("plan"), None, None, None, None) => Step::Plan,
                (Some("batch"), Some(plan), Some(batch), None, None) => Step::Batch { plan, batch },
                (Some("merge"), Some(plan), None, None, None) => Step::Merge { plan },
                (Some("failed"), _, None, Some(step), Some(error)) => Step::Failed { step, error },
                (step, _, _, _, _) => {
                    return Err(EventError::BadStep {
                        step: step.unwrap_or("whole").to_owned(),
                    });
                }
            },
        )
    }
}

impl Overrides {
    /// Reads one field of the event.
    fn field(
        &mut self,
        fields: &mut StepFields,
        key: &str,
        value: &Value,
    ) -> Result<(), EventError> {
        let wrong = |key: &'static str| EventError::WrongType {
            key,
            found: value.to_string(),
        };
        match (key, value) {
            ("accounts", Value::Array(items)) => {
                for item in items {
                    let Value::String(id) = item else {
                        return Err(EventError::WrongType {
                            key: "accounts",
                            found: format!("{item} in the list (expected account ID strings)"),
                        });
                    };
                    self.accounts.push(id.clone());
                }
            }
            ("max_idle_days", Value::Number(number)) => {
                self.flags.push((Setting::MaxIdleDays, number.to_string()));
            }
            ("mode", Value::String(mode)) => self.flags.push((Setting::Mode, mode.clone())),
            ("apply", Value::Bool(apply)) => self.apply = Some(*apply),
            ("step", Value::String(name)) => fields.step = Some(name.clone()),
            ("plan", Value::String(location)) => fields.plan = Some(location.clone()),
            ("batch", Value::Number(index)) => {
                fields.batch = Some(index.as_u64().ok_or_else(|| wrong("batch"))? as usize);
            }
            ("run_id", Value::String(id)) => self.run_id = Some(id.clone()),
            ("claimant", Value::String(id)) => self.claimant = Some(id.clone()),
            ("failed_step", Value::String(name)) => fields.failed_step = Some(name.clone()),
            ("error", error) => fields.caught = Some(caught_error(error)),
            (key, _) => {
                return Err(match EVENT_KEYS.iter().find(|known| **known == key) {
                    Some(key) => wrong(key),
                    None => EventError::UnknownKey {
                        key: key.to_owned(),
                    },
                });
            }
        }
        Ok(())
    }
}

/// The error a Step Functions Catch hands on (`{"Error": ..., "Cause": ...}`, the cause a
/// Lambda error's JSON): its message, which ends with what to do.
fn caught_error(error: &Value) -> String {
    let cause = error.get("Cause").and_then(Value::as_str);
    let message = cause
        .and_then(|cause| serde_json::from_str::<Value>(cause).ok())
        .and_then(|cause| cause["errorMessage"].as_str().map(str::to_owned));
    message
        .or_else(|| cause.map(str::to_owned))
        .or_else(|| {
            error
                .get("Error")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| error.to_string())
}

/// The settings: the environment, the bundled file (`STALECREDS_CONFIG`, or `accounts.yaml` in
/// the package when it is there), and the event's overrides on top.
fn settings(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    overrides: &Overrides,
) -> Result<Settings, InvokeError> {
    let path = env("STALECREDS_CONFIG").map(PathBuf::from).or_else(|| {
        let bundled = PathBuf::from(env("LAMBDA_TASK_ROOT")?).join("accounts.yaml");
        bundled.exists().then_some(bundled)
    });
    let (flags, accounts) = (overrides.flags.clone(), overrides.accounts.clone());
    Ok(config::load(path.as_deref(), env, flags, accounts)?.settings)
}

/// Whether this invocation applies the remediation plan. The function's configuration decides:
/// `STALECREDS_APPLY=true` applies on every run; `STALECREDS_ALLOW_APPLY=true` lets an event ask.
fn decide_apply(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    asked: Option<bool>,
    settings: &Settings,
) -> Result<bool, ApplyError> {
    let flag = |name: &'static str| -> Result<bool, ApplyError> {
        match env(name).as_deref().map(str::trim) {
            None | Some("") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApplyError::NotABoolean {
                name,
                found: other.to_owned(),
            }),
        }
    };
    let (always, allowed) = (flag("STALECREDS_APPLY")?, flag("STALECREDS_ALLOW_APPLY")?);
    let apply = match asked {
        Some(true) if !(always || allowed) => return Err(ApplyError::NotAllowed),
        Some(asked) => asked,
        None => always,
    };
    if apply {
        settings.can_apply()?;
    }
    if apply && settings.report_bucket.is_none() {
        return Err(ApplyError::NoBucket);
    }
    Ok(apply)
}

/// The JSON response: counts and locations only, never a list that grows with the organization
/// (Step Functions refuses states over 256 KiB).
fn response(scanned: &Scanned, apply: bool) -> Value {
    let (report, delivery) = (&scanned.report, &scanned.delivery);
    let groups = digest::groups(report);
    let causes: Vec<Value> = groups
        .iter()
        .take(RESPONSE_CAUSES)
        .map(|group| {
            json!({
                "operation": group.cause.operation,
                "code": group.cause.code,
                "accounts": group.accounts.len(),
            })
        })
        .collect();
    let digest = match &delivery.digest {
        Sent::No => json!({ "sent": false }),
        Sent::Published(id) => json!({ "sent": true, "message_id": id }),
        Sent::AlreadyPublished => json!({ "sent": false, "already_published": true }),
    };
    json!({
        "generated_at": report.generated_at,
        "complete": report.is_complete() && delivery.errors.is_empty(),
        "summary": report.summary,
        "remediation": report.remediation,
        "apply": apply,
        "accounts_not_scanned": groups.iter().map(|group| group.accounts.len()).sum::<usize>(),
        "causes": causes,
        "causes_omitted": groups.len().saturating_sub(RESPONSE_CAUSES),
        "state_errors": report.state.as_ref().map_or(0, |state| state.errors.len()),
        "report": delivery.report,
        "journal": delivery.journal,
        "digest": digest,
        "owner_messages": delivery
            .owner_messages
            .iter()
            .filter(|(_, sent)| matches!(sent, Sent::Published(_)))
            .count(),
        "security_hub": delivery.security_hub.as_ref().map(|imported| json!({
            "imported": imported.succeeded,
            "refused": imported.failed.len(),
            "not_sent": imported.not_sent,
            "calls": imported.calls,
            "stale_archived": imported.stale,
        })),
        "delivery_errors": delivery
            .errors
            .iter()
            .map(|error| crate::aws::describe(error))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_events_carry_no_overrides() {
        let scheduled = json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-28T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/daily"], "detail": {}
        });
        assert_eq!(
            parse_event(&scheduled),
            Ok(Overrides {
                run_id: Some("x".to_owned()),
                ..Overrides::default()
            })
        );
        assert_eq!(parse_event(&Value::Null), Ok(Overrides::default()));
        assert_eq!(parse_event(&json!({})), Ok(Overrides::default()));
    }

    #[test]
    fn override_events_are_checked() {
        let overrides = parse_event(
            &json!({"accounts": ["111111111111"], "max_idle_days": 90, "apply": false}),
        )
        .expect("valid");
        assert_eq!(overrides.accounts, ["111111111111"]);
        assert_eq!(overrides.flags, [(Setting::MaxIdleDays, "90".to_owned())]);
        assert_eq!(overrides.apply, Some(false));
        assert_eq!(
            parse_event(&json!({"acounts": []})),
            Err(EventError::UnknownKey {
                key: "acounts".to_owned()
            })
        );
        assert!(
            parse_event(&json!({"apply": "yes"}))
                .expect_err("type")
                .to_string()
                .contains("`apply` has the wrong type")
        );
        assert!(parse_event(&json!([1])).is_err());
    }

    #[test]
    fn apply_needs_the_functions_own_permission() {
        let mut settings = Settings::with_defaults(config::Selection::Accounts(Vec::new()));
        settings.remediation = Some(config::Remediation {
            policy: Default::default(),
            role: config::RemediationRole::AuditRole,
            max_actions: 1,
        });
        settings.report_bucket = Some(("reports".to_owned(), String::new()));
        let nothing = |_: &str| None;
        let allowed = |name: &str| (name == "STALECREDS_ALLOW_APPLY").then(|| "true".to_owned());
        let always = |name: &str| (name == "STALECREDS_APPLY").then(|| "true".to_owned());
        assert!(!decide_apply(&nothing, None, &settings).expect("off by default"));
        assert_eq!(
            decide_apply(&nothing, Some(true), &settings),
            Err(ApplyError::NotAllowed)
        );
        assert!(decide_apply(&allowed, Some(true), &settings).expect("allowed"));
        assert!(!decide_apply(&allowed, None, &settings).expect("allowed is not on"));
        assert!(decide_apply(&always, None, &settings).expect("on"));
        assert!(!decide_apply(&always, Some(false), &settings).expect("an event may turn it off"));
        settings.report_bucket = None;
        assert_eq!(
            decide_apply(&always, None, &settings),
            Err(ApplyError::NoBucket)
        );
    }
}
