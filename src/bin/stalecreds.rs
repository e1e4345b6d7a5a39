//! The `stalecreds` command line: parse, build the clients, run, render, exit.
//!
//! Exit status, the first that applies: 2 usage or configuration error (no AWS call made);
//! 3 incomplete run (an account could not be scanned, or a later step failed); 1 findings;
//! 0 clean.

#![allow(clippy::disallowed_macros)] // The front end talks to the terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use stalecreds::aws::describe;
use stalecreds::config::{self, Effective, Inputs, Setting};
use stalecreds::deadline::Deadline;
use stalecreds::pipeline::{JournalPlace, ScanError, Scanned, Sent};
use stalecreds::remediate::apply::UndoState;
use stalecreds::remediate::journal::Journal;
use stalecreds::report;
use stalecreds::{Clients, Event, ScanRequest};

const EXIT_FINDINGS: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_INCOMPLETE: u8 = 3;

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
    /// Scan the organization (or the given accounts) for unused credentials.
    Scan(ScanArgs),
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
    /// The format of what is printed on standard output.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also write the JSON report to this file (replaced atomically).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Apply the configuration's remediation plan. Without it nothing in IAM changes: the plan
    /// is only shown.
    #[arg(long)]
    apply: bool,
    /// Where applied changes are journaled (appended), for `stalecreds undo`.
    #[arg(long, value_name = "FILE", default_value = "stalecreds-journal.jsonl")]
    journal: PathBuf,
}

/// The settings every command shares. Each beats its STALECREDS_* environment variable, which
/// beats the configuration file, which beats the built-in default.
#[derive(Debug, Args)]
struct ConfigArgs {
    /// The configuration file (see docs/configuration.md).
    #[arg(long = "config", value_name = "FILE", env = "STALECREDS_CONFIG")]
    config_file: Option<PathBuf>,
    /// Scan only this account (repeatable); no Organizations call is made. The caller's own
    /// account is scanned with the caller's credentials, any other through the audit role.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// The audit role's name in member accounts [default: stalecreds-audit].
    #[arg(long, value_name = "NAME")]
    role_name: Option<String>,
    /// The ExternalId the audit role's trust policy requires (prefer STALECREDS_EXTERNAL_ID:
    /// a flag shows in the process list).
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    /// The role session name, shown in CloudTrail [default: stalecreds].
    #[arg(long, value_name = "NAME")]
    session_name: Option<String>,
    /// A credential unused for this many days or more is a finding [default: 45].
    #[arg(long, value_name = "N")]
    max_idle_days: Option<String>,
    /// How IAM is read: `report` (the credential report, few requests) or `api` (per-user
    /// calls, live) [default: report].
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Accounts scanned at once [default: 16].
    #[arg(long, value_name = "N")]
    concurrency: Option<String>,
    /// AWS requests per second per account [default: 10].
    #[arg(long, value_name = "R")]
    rate: Option<String>,
    /// The SNS topic that receives the digest.
    #[arg(long, value_name = "ARN")]
    topic_arn: Option<String>,
    /// When the digest is sent: on-findings, always or never [default: on-findings].
    #[arg(long, value_name = "WHEN")]
    notify: Option<String>,
    /// Keep the JSON report (and the remediation journal) in this S3 bucket.
    #[arg(long, value_name = "BUCKET")]
    report_bucket: Option<String>,
    /// The key prefix in the report bucket.
    #[arg(long, value_name = "PREFIX")]
    report_prefix: Option<String>,
    /// A local directory for the state kept from run to run, when there is no report bucket.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<String>,
    /// The longest one attempt of an AWS call may take, in seconds [default: 30].
    #[arg(long, value_name = "SECONDS")]
    attempt_timeout: Option<String>,
    /// The longest an AWS call may take, retries included, in seconds [default: 300].
    #[arg(long, value_name = "SECONDS")]
    call_timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Scan(args) => scan(args),
        Command::Undo(args) => undo(&args),
        Command::Config(args) => match effective(&args) {
            Ok(effective) => {
                print!("{}", effective.render());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
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

fn scan(args: ScanArgs) -> ExitCode {
    let settings = match effective(&args.config) {
        Ok(effective) => effective.settings,
        Err(code) => return code,
    };
    if args.apply && settings.remediation.is_none() {
        eprintln!(
            "stalecreds: --apply needs a `remediation:` section in the configuration file (docs/configuration.md); nothing was scanned"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let scanned = runtime.block_on(async {
        let base = stalecreds::aws::load_sdk_config(None, None).await;
        let clients = Clients::new(stalecreds::aws::with_timeouts(&base, &settings));
        // The run's single "now", whole seconds: every idle age is measured to it.
        let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
            .unwrap_or_else(|_| jiff::Timestamp::now());
        let progress = progress_bar();
        let on_event = |event: Event| match event {
            Event::Planned { accounts } => progress.set_length(accounts as u64),
            Event::AccountDone { .. } => progress.inc(1),
        };
        let stop = async {
            if tokio::signal::ctrl_c().await.is_ok() {
                progress.suspend(|| {
                    eprintln!("stalecreds: interrupted; finishing the accounts in flight")
                });
            } else {
                std::future::pending::<()>().await;
            }
        };
        let request = ScanRequest {
            now,
            deadline: Deadline::none(),
            events: &on_event,
            apply: args.apply.then(|| JournalPlace::File(args.journal.clone())),
            output: args.output.clone(),
            run_id: None,
        };
        let scanned = stalecreds::scan(&settings, &clients, request, stop).await;
        progress.finish_and_clear();
        scanned
    });
    let scanned = match scanned {
        Ok(scanned) => scanned,
        Err(error) => {
            eprintln!("stalecreds: {}", describe(&error));
            return ExitCode::from(match error {
                ScanError::Journal(_) | ScanError::NoBucket | ScanError::NoStateStore => EXIT_USAGE,
                ScanError::Run(_) => EXIT_INCOMPLETE,
            });
        }
    };
    tell(&scanned);
    let mut stdout = std::io::stdout().lock();
    let report = &scanned.report;
    let written = match args.format {
        Format::Table => report::table::write(report, &mut stdout),
        Format::Json => report.write_json(&mut stdout),
        Format::Csv => report::csv::write(report, &mut stdout),
    }
    .and_then(|()| stdout.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(error) => {
            eprintln!("stalecreds: cannot write to standard output: {error}");
            return ExitCode::from(EXIT_INCOMPLETE);
        }
        Ok(()) => {}
    }
    ExitCode::from(exit_status(&scanned))
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
    if let Sent::Published(message_id) = &delivery.digest {
        tracing::info!(%message_id, "digest published");
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

/// The effective configuration, or exit status 2 after printing every problem.
fn effective(args: &ConfigArgs) -> Result<Effective, ExitCode> {
    let text = match &args.config_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some((path.display().to_string(), text)),
            Err(error) => {
                eprintln!(
                    "stalecreds: cannot read the configuration file {}: {error}",
                    path.display()
                );
                return Err(ExitCode::from(EXIT_USAGE));
            }
        },
        None => None,
    };
    let flags = [
        (Setting::RoleName, &args.role_name),
        (Setting::ExternalId, &args.external_id),
        (Setting::SessionName, &args.session_name),
        (Setting::MaxIdleDays, &args.max_idle_days),
        (Setting::Mode, &args.mode),
        (Setting::Concurrency, &args.concurrency),
        (Setting::Rate, &args.rate),
        (Setting::TopicArn, &args.topic_arn),
        (Setting::Notify, &args.notify),
        (Setting::ReportBucket, &args.report_bucket),
        (Setting::ReportPrefix, &args.report_prefix),
        (Setting::StateDir, &args.state_dir),
        (Setting::AttemptTimeout, &args.attempt_timeout),
        (Setting::CallTimeout, &args.call_timeout),
    ]
    .into_iter()
    .filter_map(|(setting, value)| value.clone().map(|value| (setting, value)))
    .collect();
    let env = |name: &str| std::env::var(name).ok();
    let inputs = Inputs {
        file: text
            .as_ref()
            .map(|(path, text)| (path.as_str(), text.as_str())),
        env: &env,
        flags,
        accounts: args.accounts.clone(),
    };
    config::resolve(inputs).map_err(|error| {
        eprint!("stalecreds: {error}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn undo(args: &UndoArgs) -> ExitCode {
    let settings = match effective(&args.config) {
        Ok(effective) => effective.settings,
        Err(code) => return code,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        if args.journal.starts_with("s3://") {
            PathBuf::from("stalecreds-undo-journal.jsonl")
        } else {
            PathBuf::from(&args.journal)
        }
    });
    let out = match Journal::open(&out) {
        Ok(out) => out,
        Err(error) => {
            eprintln!("stalecreds: {}", describe(&error));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let base = stalecreds::aws::load_sdk_config(None, None).await;
        let clients = Clients::new(stalecreds::aws::with_timeouts(&base, &settings));
        stalecreds::undo(
            &settings,
            &clients,
            &args.journal,
            args.run.as_deref(),
            &out,
        )
        .await
    });
    let mut outcomes = match result {
        Ok(outcomes) => outcomes,
        Err(error) => {
            eprintln!("stalecreds: {}", describe(&error));
            return ExitCode::from(match error {
                stalecreds::pipeline::UndoError::Journal(_) => EXIT_USAGE,
                stalecreds::pipeline::UndoError::Run(_) => EXIT_INCOMPLETE,
            });
        }
    };
    outcomes.sort_by(|(a, _), (b, _)| {
        (&a.account_id, &a.user_name, &a.access_key_id).cmp(&(
            &b.account_id,
            &b.user_name,
            &b.access_key_id,
        ))
    });
    let mut failed = false;
    for (entry, state) in &outcomes {
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
    if outcomes.is_empty() {
        println!("nothing to undo in {}", args.journal);
    }
    ExitCode::from(if failed { EXIT_INCOMPLETE } else { 0 })
}

/// The async runtime, or exit status 3.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("stalecreds: cannot start the async runtime: {error}");
            ExitCode::from(EXIT_INCOMPLETE)
        })
}

/// 3 when the run is incomplete (or something could not be delivered), 1 when there are
/// findings, 0 when clean.
fn exit_status(scanned: &Scanned) -> u8 {
    let report = &scanned.report;
    if !report.is_complete() || !scanned.delivery.errors.is_empty() {
        EXIT_INCOMPLETE
    } else if report.summary.findings > 0 {
        EXIT_FINDINGS
    } else {
        0
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
