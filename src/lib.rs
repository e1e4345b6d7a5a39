//! stalecreds finds IAM credentials nobody uses any more, across an AWS Organization, and says
//! in one report (and one digest) what to remove.
//!
//! # Layout
//!
//! One pipeline, one module per stage, in order (docs/ARCHITECTURE.md is the map):
//!
//! - `config`: the validated [`Settings`] of a run.
//! - `org`: the organization's accounts and which of them to scan.
//! - `assume`: an IAM client in each account, through the audit role.
//! - `scan`: one account's credentials, read into an inventory.
//! - `rules`: pure verdicts on each credential (CIS AWS Foundations 1.12).
//! - [`report`]: the versioned JSON report, and its renderings.
//! - `digest`: one message per run, for people and machines, within SNS's size limit.
//! - `notify`: publishes the digest to SNS.
//! - `remediate`: the opt-in plan of IAM changes, applied with `--apply`, journaled, and its
//!   undo.
//! - `state`: what a run keeps for the next (when each inactive key became inactive, the last
//!   complete scan's findings).
//! - `changes`: what changed since the last run (new, ongoing, resolved), pure.
//! - `store`: the report, journal and state, kept in S3 when a bucket is configured.
//!
//! [`scan()`] drives the stages of a run under one [`Deadline`], and [`undo()`] reverses one;
//! both front ends call them. [`lambda::invoke`] is one Lambda invocation; `aws` holds the SDK
//! plumbing the adapters share (retries, timeouts, pacing, error shape). The front ends
//! (`src/bin/`) parse their input, build the SDK configuration, call an entry point and turn
//! the outcome into an exit status or a response.
//!
//! The public surface is what the front ends and the tests call, and the report's types;
//! every other module is the crate's own, so that rustc reports what nothing uses.

#![deny(missing_docs)]

pub mod report;

pub(crate) mod assume;
pub(crate) mod aws;
pub(crate) mod changes;
pub(crate) mod config;
pub(crate) mod deadline;
pub(crate) mod digest;
pub(crate) mod failure;
pub(crate) mod inventory;
pub(crate) mod notify;
pub(crate) mod org;
pub(crate) mod pipeline;
pub(crate) mod remediate;
pub(crate) mod rules;
pub(crate) mod scan;
pub(crate) mod securityhub;
pub(crate) mod state;
pub(crate) mod store;

pub use assume::{Caller, Secret};
pub use aws::{describe, load_sdk_config, retry_config, with_timeouts};
pub use changes::Baseline;
pub use config::{
    ConfigError, Effective, Inputs, LoadError, NothingToApply, Notify, RemediationRole, RoleSpec,
    Selection, Setting, Settings, Source, load, resolve,
};
pub use deadline::Deadline;
pub use pipeline::{
    Clients, Context, Delivery, Event, JournalPlace, MergeRequest, Merged, Place, RunError,
    ScanError, ScanRequest, Scanned, Sent, StepError, UndoError, lambda, merge, plan, scan,
    scan_batch, undo,
};
pub use remediate::apply::UndoState;
pub use remediate::journal::{Entry as JournalEntry, Journal};
pub use rules::Exemption;
pub use scan::Mode;
pub use securityhub::target as security_hub_target;
pub use store::Bucket;
