//! What a run shares, built once and passed down: [`Context`] (the settings and clients, the
//! run's one `now`, its deadline, its ID, the state store, whether a failure is final), and,
//! once the run is planned, [`Run`] (its plan, and each account's plan with the way to reach
//! its IAM, computed once).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::plan::{Place, Plan};
use super::{Clients, OnFailure, delivery};
use crate::assume::Caller;
use crate::aws::Pace;
use crate::config::{AccountPlan, Settings};
use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::state;

/// What a run, or one step of a fanned-out run, shares: built once by the front end.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The run's settings.
    pub settings: &'a Settings,
    /// The SDK clients.
    pub clients: &'a Clients,
    /// The run's one `now`, whole seconds: every idle age is measured to it (a step of a
    /// fanned-out run uses its plan's).
    pub now: Timestamp,
    /// When the run must be over.
    pub deadline: Deadline,
    /// The run's ID from its trigger (a scheduled event): its digest goes out at most once per
    /// ID.
    pub run_id: Option<String>,
    /// Whether a failure that leaves the run without its report is final here.
    pub on_failure: OnFailure,
    /// Where the state kept from run to run is, if anywhere.
    pub(super) store: Option<state::Store>,
}

impl<'a> Context<'a> {
    /// Where a run's records go unless told otherwise: `stalecreds/runs/<run>/` in the report
    /// bucket, or `stalecreds-runs/<run>/` in the working directory. The run is the context's
    /// run ID, else its `now`.
    pub fn run_place(&self) -> Place {
        let id = self.run_id.clone().unwrap_or_else(|| self.now.to_string());
        match &self.settings.report_bucket {
            Some((name, prefix)) => {
                let bucket = crate::store::Bucket {
                    name: name.clone(),
                    prefix: prefix.clone(),
                };
                Place::S3 {
                    s3: self.clients.s3.clone(),
                    prefix: bucket.run_folder(&id),
                    bucket: crate::store::Bucket {
                        name: name.clone(),
                        prefix: String::new(),
                    },
                }
            }
            None => Place::Dir(std::path::PathBuf::from(format!(
                "stalecreds-runs/{}/",
                crate::store::segment(&id)
            ))),
        }
    }

    /// A run of `settings` at `now`, under `deadline`; no trigger ID, and failures final (the
    /// CLI, the single function).
    pub fn new(
        settings: &'a Settings,
        clients: &'a Clients,
        now: Timestamp,
        deadline: Deadline,
    ) -> Context<'a> {
        let store = match (delivery::bucket(settings), &settings.state_dir) {
            (Some(bucket), _) => Some(state::Store::S3 {
                s3: clients.s3.clone(),
                bucket,
            }),
            (None, Some(dir)) => Some(state::Store::Dir(dir.clone())),
            (None, None) => None,
        };
        Context {
            settings,
            clients,
            now,
            deadline,
            run_id: None,
            on_failure: OnFailure::Report,
            store,
        }
    }

    /// The same, for the run named `run_id` by its trigger.
    pub fn run_id(self, run_id: Option<String>) -> Context<'a> {
        Context { run_id, ..self }
    }

    /// The same, with `on_failure` (a step that a state machine retries: `Return`).
    pub fn on_failure(self, on_failure: OnFailure) -> Context<'a> {
        Context { on_failure, ..self }
    }

    /// The run's one `now`, whole seconds, read from the clock: what a front end starts a run
    /// with.
    pub fn clock() -> Timestamp {
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
    }
}

/// Which of an account's roles a client acts through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// The read-only audit role (or the starting credentials).
    Audit,
    /// The role that makes the account's changes (remediation, undo); the audit role when the
    /// configuration has none.
    Changes,
}

/// A planned run: its context, its plan, and each planned account's plan, computed once.
#[derive(Debug)]
pub(super) struct Run<'a> {
    /// The run's context.
    pub ctx: &'a Context<'a>,
    /// Who is calling: the plan's caller.
    pub caller: &'a Caller,
    /// The run's one `now` (the plan's).
    pub now: Timestamp,
    accounts: BTreeMap<String, AccountPlan>,
}

impl<'a> Run<'a> {
    /// `plan`'s accounts planned once, each from the settings.
    pub fn new(ctx: &'a Context<'a>, plan: &'a Plan) -> Run<'a> {
        let accounts = plan
            .batches
            .iter()
            .flatten()
            .map(|account| (account.id.clone(), account.name.clone()));
        Run::of(ctx, &plan.caller, plan.now, accounts)
    }

    /// These accounts (ID and name) planned once for `caller`, at `now`.
    pub fn of(
        ctx: &'a Context<'a>,
        caller: &'a Caller,
        now: Timestamp,
        accounts: impl IntoIterator<Item = (String, Option<String>)>,
    ) -> Run<'a> {
        let accounts = accounts
            .into_iter()
            .map(|(id, name)| {
                let plan = ctx.settings.plan(&id, name, caller);
                (id, plan)
            })
            .collect();
        Run {
            ctx,
            caller,
            now,
            accounts,
        }
    }

    /// The plan of `account_id` (an account of the run: every account is planned).
    pub fn account(&self, account_id: &str) -> AccountPlan {
        self.accounts
            .get(account_id)
            .cloned()
            .unwrap_or_else(|| self.ctx.settings.plan(account_id, None, self.caller))
    }

    /// An IAM client in `account`, through its audit role or the role that makes its changes,
    /// paced and counted by `pace`.
    pub async fn iam(
        &self,
        account: &AccountPlan,
        via: Via,
        pace: &Arc<Pace>,
    ) -> Result<aws_sdk_iam::Client, Failure> {
        let chain = match (via, &account.remediation) {
            (Via::Audit, _) | (Via::Changes, None) => account.chain.as_ref(),
            (Via::Changes, Some((_, changes))) => changes.as_ref(),
        };
        self.ctx
            .clients
            .iam_for(
                self.caller,
                &account.id,
                account.profile.as_deref(),
                chain,
                pace,
            )
            .await
    }
}
