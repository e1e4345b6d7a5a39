//! stalecreds finds IAM credentials nobody uses any more, across an AWS Organization, and says
//! in one report (and one digest) what to remove.
//!
//! # Layout
//!
//! One pipeline, one module per stage, in order:
//!
//! - [`config`]: the validated [`config::Settings`] of a run.
//! - [`org`]: the organization's accounts and which of them to scan.
//! - [`assume`]: an IAM client in each account, through the audit role.
//! - [`scan`](mod@scan): one account's credentials, read into an [`inventory::Inventory`].
//! - [`rules`]: pure verdicts on each credential (CIS AWS Foundations 1.12).
//! - [`report`]: the versioned JSON report, and its table and CSV renderings.
//! - [`digest`]: one message per run, for people and machines, within SNS's size limit.
//! - [`notify`]: publishes the digest to SNS.
//! - [`remediate`]: the opt-in plan of IAM changes, applied with `--apply`, journaled, and its
//!   undo.
//! - [`state`]: what a run keeps for the next (when each inactive key became inactive, the last
//!   complete scan's findings).
//! - [`changes`]: what changed since the last run (new, ongoing, resolved), pure.
//! - [`store`]: the report, journal and state, kept in S3 when a bucket is configured.
//!
//! [`pipeline::scan()`] drives the stages of a run under one [`deadline::Deadline`], and
//! [`pipeline::undo()`] reverses one; both front ends call them. [`lambda::invoke`] is one Lambda
//! invocation; [`aws`] holds the SDK plumbing the adapters share (retries, timeouts, pacing,
//! error shape). The front ends (`src/bin/`) parse their input, build the SDK configuration,
//! call an entry point and turn the outcome into an exit status or a response.

#![deny(missing_docs)]

pub mod assume;
pub mod aws;
pub mod changes;
pub mod config;
pub mod deadline;
pub mod digest;
pub mod failure;
pub mod inventory;
pub mod lambda;
pub mod notify;
pub mod org;
pub mod pipeline;
pub mod remediate;
pub mod report;
pub mod rules;
pub mod scan;
pub mod securityhub;
pub mod state;
pub mod store;

pub use pipeline::{Clients, Delivery, Event, RunError, ScanRequest, Scanned, scan, undo};
