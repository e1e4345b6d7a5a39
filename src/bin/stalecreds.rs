//! The `stalecreds` command line: parse, build the clients, run, render, exit.
//!
//! Exit status, the first that applies: 2 usage or configuration error (no AWS call made);
//! 3 incomplete run (an account could not be scanned, or a later step failed); 1 findings;
//! 0 clean.

#![allow(clippy::disallowed_macros)] // The front end talks to the terminal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use stalecreds::Baseline;
use stalecreds::Deadline;
use stalecreds::Journal;
use stalecreds::UndoState;
use stalecreds::describe;
use stalecreds::report;
use stalecreds::{Clients, Event, ScanRequest};
use stalecreds::{
    Context, JournalPlace, MergeRequest, Merged, Place, ScanError, Scanned, Sent, StepError,
    UndoError,
};
use stalecreds::{Effective, Setting, Settings};

/// How a command ended when it did not fail; `main` alone turns it, or a [`Failure`], into the
/// exit status.
enum Ended {
    /// Done, with nothing to report (exit 0).
    Clean,
    /// The run found unused credentials (exit 1).
    Findings,
    /// The run is incomplete, or something could not be delivered (exit 3).
    Incomplete,
}

#[derive(Debug, Parser)]
#[command(
    name = "stalecreds",
    version,
    about = "Find IAM credentials nobody uses any more, across an AWS Organization"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan the organization (or the given accounts) for unused credentials; with `--plan` and
    /// `--batch`, scan one batch of a planned run.
    Scan(ScanArgs),
    /// Plan a run for a fan-out: list the accounts once and cut them into batches.
    Plan(PlanArgs),
    /// Merge a planned run's batches: the one report, remediation, state and digest.
    Merge(MergeArgs),
    /// Print the effective configuration and where each value came from; calls no AWS API.
    Config(ConfigArgs),
    /// Reactivate the access keys that a run's journal says were deactivated.
    Undo(UndoArgs),
}

#[derive(Debug, Args)]
struct UndoArgs {
    /// The journal written by `stalecreds scan --apply`: a file, an `s3://bucket/key` object of
    /// JSON lines, or an `s3://bucket/prefix/` of entries (the Lambda's).
    #[arg(value_name = "JOURNAL")]
    journal: String,
    /// Undo only the changes of this run (its `generated_at`, as in the journal's `run`).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Where the reactivations are journaled [default: JOURNAL itself when it is a local file,
    /// stalecreds-undo-journal.jsonl otherwise].
    #[arg(long = "journal", value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Args)]
struct ScanArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Scan one batch of this planned run (`stalecreds plan`), writing its results beside the
    /// plan; needs `--batch`.
    #[arg(long, value_name = "PLAN", requires = "batch", conflicts_with_all = ["apply", "output", "html", "since"])]
    plan: Option<String>,
    /// The batch of `--plan` to scan, from 0.
    #[arg(long, value_name = "I", requires = "plan")]
    batch: Option<usize>,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where the run's records go: a directory, or an s3://bucket/prefix/ [default:
    /// stalecreds/runs/RUN/ in the report bucket, or stalecreds-runs/RUN/ here].
    #[arg(long, value_name = "PLACE")]
    out: Option<String>,
    /// The run's ID [default: the run's time].
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
}

#[derive(Debug, Args)]
struct MergeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The plan of the run (`…/plan.json`, a file or an s3:// object).
    #[arg(long, value_name = "PLAN")]
    plan: String,
    #[command(flatten)]
    run: RunArgs,
}

/// What a whole run (`scan`, or `merge` of a planned one) prints, writes and applies.
#[derive(Debug, Args)]
struct RunArgs {
    /// The format of what is printed on standard output.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also write the JSON report to this file (replaced atomically).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page to this file (replaced atomically).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Apply the configuration's remediation plan (for `merge`, the whole run's). Without it
    /// nothing in IAM changes: the plan is only shown.
    #[arg(long)]
    apply: bool,
    /// Where applied changes are journaled (appended), for `stalecreds undo`.
    #[arg(long, value_name = "FILE", default_value = "stalecreds-journal.jsonl")]
    journal: PathBuf,
    /// Say what changed since this previous JSON report (new, ongoing, resolved) rather than
    /// since the state kept in `--report-bucket` or `--state-dir`.
    #[arg(long, value_name = "REPORT")]
    since: Option<PathBuf>,
}

impl RunArgs {
    /// The baselines of `--since`'s report, read before any AWS call.
    fn since(&self) -> Result<Option<BTreeMap<String, Baseline>>, Failure> {
        self.since
            .as_deref()
            .map(stalecreds::report::changes::baselines_in_file)
            .transpose()
            .map_err(Failure::usage)
    }

    /// Where `--apply` journals, or none without it; a usage failure when there is no policy
    /// to apply.
    fn apply(&self, settings: &Settings) -> Result<Option<JournalPlace>, Failure> {
        if self.apply {
            settings.can_apply().map_err(Failure::usage)?;
        }
        Ok(self.apply.then(|| JournalPlace::File(self.journal.clone())))
    }

    /// Prints the run's report in `--format`, writes `--html`, and gives the exit status.
    fn render(&self, scanned: &Scanned, session: &Session) -> Result<Ended, Failure> {
        render(
            scanned,
            self.format,
            self.html.as_deref(),
            &session.clients.base,
        )
    }
}

/// The settings every command shares: the file, `--account`, and one flag per row of the
/// settings table (config/layer.rs), generated from the rows. Each beats its STALECREDS_*
/// environment variable, which beats the configuration file, which beats the built-in default.
#[derive(Debug, Clone, Default)]
struct ConfigArgs {
    /// The configuration file (see docs/configuration.md).
    config_file: Option<PathBuf>,
    /// The accounts given with `--account`.
    accounts: Vec<String>,
    /// The settings given as flags, as given.
    flags: Vec<(Setting, String)>,
}

impl Args for ConfigArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        let command = command
            .arg(
                Arg::new("config")
                    .long("config")
                    .value_name("FILE")
                    .env("STALECREDS_CONFIG")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("The configuration file (see docs/configuration.md)"),
            )
            .arg(
                Arg::new("account")
                    .long("account")
                    .value_name("ID")
                    .action(ArgAction::Append)
                    .help(
                        "Scan only this account (repeatable); no Organizations call is made. \
                         The caller's own account is scanned with the caller's credentials, \
                         any other through the audit role",
                    ),
            );
        Setting::ALL.iter().fold(command, |command, setting| {
            let arg = Arg::new(setting.flag_name())
                .long(setting.flag_name())
                .help(setting.help());
            command.arg(if setting.is_switch() {
                arg.action(ArgAction::SetTrue)
            } else {
                arg.value_name(setting.row().value)
            })
        })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for ConfigArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ConfigArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.config_file = matches.get_one::<PathBuf>("config").cloned();
        self.accounts = matches
            .get_many::<String>("account")
            .map(|ids| ids.cloned().collect())
            .unwrap_or_default();
        self.flags = Setting::ALL
            .iter()
            .filter_map(|&setting| {
                let given = if setting.is_switch() {
                    matches
                        .get_flag(setting.flag_name())
                        .then(|| "true".to_owned())
                } else {
                    matches.get_one::<String>(setting.flag_name()).cloned()
                };
                given.map(|text| (setting, text))
            })
            .collect();
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    /// OCSF 1.8.0 Compliance Finding events, one per line.
    Ocsf,
    /// AWS Security Finding Format: a JSON array of findings for Security Hub's
    /// BatchImportFindings, in the caller's account and region.
    Asff,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let status = match cli.command {
        Command::Scan(args) => scan(&args),
        Command::Plan(args) => plan(&args),
        Command::Merge(args) => merge(&args),
        Command::Undo(args) => undo(&args),
        Command::Config(args) => effective(&args).map(|effective| {
            print!("{}", effective.render());
            Ended::Clean
        }),
    };
    // The one place where failures are printed and the exit status is chosen.
    ExitCode::from(match status {
        Ok(Ended::Clean) => 0,
        Ok(Ended::Findings) => 1,
        Err(Failure::Usage(error)) => {
            eprint!(
                "stalecreds: {}",
                ends_with_newline(&describe(error.as_ref()))
            );
            2
        }
        Ok(Ended::Incomplete) => 3,
        Err(Failure::Incomplete(error)) => {
            eprintln!("stalecreds: {}", describe(error.as_ref()));
            3
        }
    })
}

/// Why a command ended early: a usage or configuration error (exit 2, no AWS request made), or
/// something that left the run incomplete (exit 3).
enum Failure {
    Usage(Box<dyn std::error::Error>),
    Incomplete(Box<dyn std::error::Error>),
}

impl Failure {
    fn usage(error: impl Into<Box<dyn std::error::Error>>) -> Failure {
        Failure::Usage(error.into())
    }

    fn incomplete(error: impl Into<Box<dyn std::error::Error>>) -> Failure {
        Failure::Incomplete(error.into())
    }
}

impl From<ScanError> for Failure {
    fn from(error: ScanError) -> Failure {
        match error {
            ScanError::Run(_) => Failure::incomplete(error),
            ScanError::Journal(_) | ScanError::NoBucket | ScanError::NoStateStore => {
                Failure::usage(error)
            }
        }
    }
}

impl From<StepError> for Failure {
    fn from(error: StepError) -> Failure {
        match error {
            StepError::Scan(error) => error.into(),
            StepError::Place(_) => Failure::incomplete(error),
            _ => Failure::usage(error),
        }
    }
}

fn ends_with_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The settings, the clients and the runtime a command works with.
struct Session {
    settings: Settings,
    clients: Clients,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    fn start(args: &ConfigArgs) -> Result<Session, Failure> {
        let settings = effective(args)?.settings;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(Failure::incomplete)?;
        let base = runtime.block_on(stalecreds::load_sdk_config(None, None));
        let clients = Clients::new(stalecreds::with_timeouts(
            &base,
            settings.attempt_timeout,
            settings.call_timeout,
        ));
        Ok(Session {
            settings,
            clients,
            runtime,
        })
    }
}

impl Session {
    /// The run's context: its settings and clients, its one `now` (read here), no deadline
    /// (Ctrl-C stops it), and failures final (no retry follows a command).
    fn context(&self) -> Context<'_> {
        Context::new(
            &self.settings,
            &self.clients,
            Context::clock(),
            Deadline::none(),
        )
    }
}

/// Resolves when Ctrl-C is pressed, after saying what happens then.
async fn interrupted(progress: &ProgressBar) {
    if tokio::signal::ctrl_c().await.is_ok() {
        progress.suspend(|| eprintln!("stalecreds: interrupted; finishing the accounts in flight"));
    } else {
        std::future::pending::<()>().await;
    }
}

fn scan(args: &ScanArgs) -> Result<Ended, Failure> {
    if let (Some(plan), Some(batch)) = (&args.plan, args.batch) {
        return scan_batch(&args.config, plan, batch);
    }
    let since = args.run.since()?;
    let session = Session::start(&args.config)?;
    let apply = args.run.apply(&session.settings)?;
    let progress = progress_bar();
    let on_event = |event: Event| match event {
        Event::Planned { accounts } => progress.set_length(accounts as u64),
        Event::AccountDone { .. } => progress.inc(1),
    };
    let request = ScanRequest {
        events: &on_event,
        apply,
        output: args.run.output.clone(),
        since,
    };
    let scanned = session.runtime.block_on(stalecreds::scan(
        &session.context(),
        request,
        interrupted(&progress),
    ));
    progress.finish_and_clear();
    args.run.render(&scanned?, &session)
}

fn scan_batch(config: &ConfigArgs, plan: &str, batch: usize) -> Result<Ended, Failure> {
    let session = Session::start(config)?;
    let progress = ProgressBar::hidden();
    let written = session.runtime.block_on(stalecreds::scan_batch(
        &session.context(),
        plan,
        batch,
        interrupted(&progress),
    ))?;
    println!("{}", written.partial);
    eprintln!(
        "stalecreds: batch {batch}: {} account{} scanned{}",
        written.accounts,
        if written.accounts == 1 { "" } else { "s" },
        written
            .cut_short
            .map(|why| format!(", cut short: {why}"))
            .unwrap_or_default()
    );
    Ok(Ended::Clean)
}

fn plan(args: &PlanArgs) -> Result<Ended, Failure> {
    let session = Session::start(&args.config)?;
    let ctx = session.context().run_id(args.run_id.clone());
    let place = match &args.out {
        Some(out) => Place::of(out, &session.clients.s3),
        None => ctx.run_place(),
    };
    let planned = session.runtime.block_on(stalecreds::plan(&ctx, &place))?;
    println!("{}", planned.plan);
    eprintln!(
        "stalecreds: run {}: {} account{} in {} batch{}: stalecreds scan --plan {} --batch I, for I in 0..{}; then stalecreds merge --plan {}",
        planned.run_id,
        planned.accounts,
        if planned.accounts == 1 { "" } else { "s" },
        planned.batches,
        if planned.batches == 1 { "" } else { "es" },
        planned.plan,
        planned.batches,
        planned.plan,
    );
    Ok(Ended::Clean)
}

fn merge(args: &MergeArgs) -> Result<Ended, Failure> {
    let since = args.run.since()?;
    let session = Session::start(&args.config)?;
    let apply = args.run.apply(&session.settings)?;
    let request = MergeRequest {
        apply,
        output: args.run.output.clone(),
        since: since.as_ref(),
    };
    let merged =
        session
            .runtime
            .block_on(stalecreds::merge(&session.context(), &args.plan, request))?;
    match merged {
        Merged::Done(scanned) => args.run.render(&scanned, &session),
        Merged::Already { report } => {
            eprintln!(
                "stalecreds: this run was merged already; nothing was done again (its report: {})",
                report.as_deref().unwrap_or("not stored")
            );
            Ok(Ended::Clean)
        }
    }
}

/// Prints the report in `format`, writes the HTML page when asked, says where the results went,
/// and gives the exit status.
fn render(
    scanned: &Scanned,
    format: Format,
    html: Option<&std::path::Path>,
    base: &aws_config::SdkConfig,
) -> Result<Ended, Failure> {
    tell(scanned);
    let page = html.map(|path| {
        report::html::write_file(&scanned.report, path).map_err(|error| {
            eprintln!(
                "stalecreds: cannot write the HTML page to {}: {error}",
                path.display()
            );
        })
    });
    let mut stdout = std::io::stdout().lock();
    let report = &scanned.report;
    let written = match format {
        Format::Table => report::table::write(report, &mut stdout),
        Format::Json => report.write_json(&mut stdout),
        Format::Csv => report::csv::write(report, &mut stdout),
        Format::Ocsf => report::ocsf::write(report, &mut stdout),
        Format::Asff => {
            let target =
                stalecreds::security_hub_target(report, base).map_err(Failure::incomplete)?;
            report::asff::write(report, &target, &mut stdout)
        }
    }
    .and_then(|()| stdout.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(error) => return Err(Failure::incomplete(error)),
        Ok(()) => {}
    }
    if let Some(Err(())) = page {
        return Ok(Ended::Incomplete);
    }
    Ok(ended(scanned))
}

/// Says on standard error where the results went, and what could not be delivered.
fn tell(scanned: &Scanned) {
    let delivery = &scanned.delivery;
    if let Some(location) = delivery
        .report
        .as_deref()
        .filter(|location| location.starts_with("s3://"))
    {
        eprintln!("stalecreds: report stored at {location}");
    }
    if let Some(imported) = &delivery.security_hub {
        eprintln!(
            "stalecreds: Security Hub: {} finding{} imported in {} call{}{}",
            imported.succeeded,
            if imported.succeeded == 1 { "" } else { "s" },
            imported.calls,
            if imported.calls == 1 { "" } else { "s" },
            if imported.stale > 0 {
                format!(
                    " ({} archived: no longer open in a complete scan, or their account left the organization)",
                    imported.stale
                )
            } else {
                String::new()
            }
        );
    }
    if let Sent::Published(message_id) = &delivery.digest {
        tracing::info!(%message_id, "digest published");
    }
    let to_owners = delivery.owner_messages.len();
    if to_owners > 0 {
        eprintln!(
            "stalecreds: {to_owners} owner message{} published",
            if to_owners == 1 { "" } else { "s" }
        );
    }
    if let Some(remediation) = &scanned.report.remediation {
        if let Some(journal) = &remediation.journal_error {
            eprintln!(
                "stalecreds: the journal could not be written, no change was made after that: {journal}"
            );
        }
        if let Some(why) = &remediation.withheld {
            eprintln!("stalecreds: --apply made no change: {why}");
        }
    }
    for error in &delivery.errors {
        eprintln!("stalecreds: {}", describe(error));
    }
}

/// The effective configuration, or a usage failure naming every problem.
fn effective(args: &ConfigArgs) -> Result<Effective, Failure> {
    let env = |name: &str| std::env::var(name).ok();
    let (flags, accounts) = (args.flags.clone(), args.accounts.clone());
    stalecreds::load(args.config_file.as_deref(), &env, flags, accounts).map_err(Failure::usage)
}

fn undo(args: &UndoArgs) -> Result<Ended, Failure> {
    let session = Session::start(&args.config)?;
    let out = args.out.clone().unwrap_or_else(|| {
        if args.journal.starts_with("s3://") {
            PathBuf::from("stalecreds-undo-journal.jsonl")
        } else {
            PathBuf::from(&args.journal)
        }
    });
    let out = Journal::open(&out).map_err(Failure::usage)?;
    let mut outcomes = session
        .runtime
        .block_on(stalecreds::undo(
            &session.context(),
            &args.journal,
            args.run.as_deref(),
            &out,
        ))
        .map_err(|error| match error {
            UndoError::Journal(_) => Failure::usage(error),
            UndoError::Run(_) => Failure::incomplete(error),
        })?;
    outcomes.sort_by(|(a, _), (b, _)| {
        (&a.account_id, &a.user_name, &a.access_key_id).cmp(&(
            &b.account_id,
            &b.user_name,
            &b.access_key_id,
        ))
    });
    let failed = say_undone(&outcomes);
    if outcomes.is_empty() {
        println!("nothing to undo in {}", args.journal);
    }
    Ok(if failed {
        Ended::Incomplete
    } else {
        Ended::Clean
    })
}

/// Says what undo did to each journaled change; whether any failed.
fn say_undone(outcomes: &[(stalecreds::JournalEntry, UndoState)]) -> bool {
    let mut failed = false;
    for (entry, state) in outcomes {
        let what = format!(
            "{} {} {}",
            entry.account_id,
            entry.user_name,
            entry
                .access_key_id
                .as_deref()
                .unwrap_or(entry.credential.as_str())
        );
        let said = match state {
            UndoState::Reactivated => "reactivated".to_owned(),
            UndoState::Skipped(reason) => format!("nothing to do: {reason}"),
            UndoState::Irreversible => {
                format!(
                    "cannot be undone: {} was deleted",
                    entry.credential.as_str()
                )
            }
            UndoState::Failed(error) => {
                failed = true;
                format!("FAILED: {error}")
            }
        };
        println!("{what}: {} -> {said}", entry.action.as_str());
    }
    failed
}

/// How a run ended: incomplete (or something could not be delivered), with findings, or clean.
fn ended(scanned: &Scanned) -> Ended {
    let report = &scanned.report;
    if !report.is_complete() || !scanned.delivery.errors.is_empty() {
        Ended::Incomplete
    } else if report.summary.findings > 0 {
        Ended::Findings
    } else {
        Ended::Clean
    }
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} scanning accounts {pos}/{len} [{bar:30}] {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
