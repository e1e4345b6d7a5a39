//! The `stalecreds` command line: parse, build the clients, run, render, exit.
//!
//! Exit status, the first that applies: 2 usage or configuration error (no AWS call made);
//! 3 incomplete run (an account could not be scanned, or a later step failed); 1 findings;
//! 0 clean.

#![allow(clippy::disallowed_macros)] // The front end talks to the terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use stalecreds::config::{self, Effective, Inputs, Setting, Settings};
use stalecreds::remediate::apply::UndoState;
use stalecreds::remediate::journal::Journal;
use stalecreds::report::{self, Report};
use stalecreds::{Clients, Event};

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
    /// The journal written by `stalecreds scan --apply`.
    #[arg(value_name = "JOURNAL")]
    journal: PathBuf,
    /// Undo only the changes of this run (its `generated_at`, as in the journal's `run`).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
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
    match runtime.block_on(scan_and_report(&args, &settings)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("stalecreds: {error:#}");
            ExitCode::from(EXIT_INCOMPLETE)
        }
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

async fn scan_and_report(args: &ScanArgs, settings: &Settings) -> anyhow::Result<u8> {
    let clients = Clients::new(stalecreds::aws::load_sdk_config(None).await);
    // The run's single "now", whole seconds: every idle age is measured to it.
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())?;
    let progress = progress_bar();
    let on_event = |event: Event| match event {
        Event::Planned { accounts } => progress.set_length(accounts as u64),
        Event::AccountDone { .. } => progress.inc(1),
    };
    let stop = async {
        if tokio::signal::ctrl_c().await.is_ok() {
            progress
                .suspend(|| eprintln!("stalecreds: interrupted; finishing the accounts in flight"));
        } else {
            std::future::pending::<()>().await;
        }
    };
    // Opened before the first request: a journal that cannot be written stops the run before
    // anything changes.
    let journal = if args.apply {
        Some(
            Journal::open(&args.journal)
                .with_context(|| format!("cannot open the journal {}", args.journal.display()))?,
        )
    } else {
        None
    };
    let report =
        match stalecreds::run(settings, &clients, now, &on_event, stop, journal.as_ref()).await {
            Ok(report) => report,
            Err(error) => {
                progress.finish_and_clear();
                if let Err(publish) =
                    stalecreds::send_failure_digest(settings, &clients, now, &error).await
                {
                    eprintln!("stalecreds: the digest could not be published: {publish}");
                }
                return Err(error.into());
            }
        };
    progress.finish_and_clear();

    let mut status = exit_status(&report);
    let mut written_to = None;
    if let Some(path) = &args.output {
        match report.write_file(path) {
            Ok(()) => written_to = Some(path.display().to_string()),
            Err(error) => {
                eprintln!(
                    "stalecreds: cannot write the report to {}: {error}",
                    path.display()
                );
                status = EXIT_INCOMPLETE;
            }
        }
    }
    // The report is written first: a digest that cannot be published loses nothing.
    let delivery = stalecreds::deliver(
        settings,
        &clients,
        &report,
        written_to.as_deref(),
        journal.as_ref().map(Journal::path),
    )
    .await;
    if let Some(message_id) = &delivery.message_id {
        tracing::info!(%message_id, "digest published");
    }
    if let Some(location) = delivery
        .report
        .as_deref()
        .filter(|location| location.starts_with("s3://"))
    {
        eprintln!("stalecreds: report stored at {location}");
    }
    for error in &delivery.errors {
        let what = if error.operation == "Publish" {
            "the digest could not be published"
        } else {
            "the report could not be stored"
        };
        eprintln!("stalecreds: {what}: {error}");
        status = EXIT_INCOMPLETE;
    }
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        Format::Table => report::table::write(&report, &mut stdout),
        Format::Json => report.write_json(&mut stdout),
        Format::Csv => report::csv::write(&report, &mut stdout),
    }
    .and_then(|()| stdout.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("cannot write to standard output")?,
    }
    Ok(status)
}

fn undo(args: &UndoArgs) -> ExitCode {
    let settings = match effective(&args.config) {
        Ok(effective) => effective.settings,
        Err(code) => return code,
    };
    let entries = match stalecreds::remediate::journal::read(&args.journal) {
        Ok(entries) => entries,
        Err(problem) => {
            eprintln!("stalecreds: {problem}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let clients = Clients::new(stalecreds::aws::load_sdk_config(None).await);
        let journal = Journal::open(&args.journal)
            .with_context(|| format!("cannot append to the journal {}", args.journal.display()))?;
        let outcome =
            stalecreds::undo(&settings, &clients, entries, args.run.as_deref(), &journal).await?;
        anyhow::Ok(outcome)
    });
    match result {
        Ok(mut outcomes) => {
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
                    entry.access_key_id.as_deref().unwrap_or(&entry.credential)
                );
                let said = match state {
                    UndoState::Reactivated => "reactivated".to_owned(),
                    UndoState::Skipped(reason) => format!("nothing to do: {reason}"),
                    UndoState::Irreversible => {
                        format!("cannot be undone: {} was deleted", entry.credential)
                    }
                    UndoState::Failed(error) => {
                        failed = true;
                        format!("FAILED: {error}")
                    }
                };
                println!("{what}: {} -> {said}", entry.action);
            }
            if outcomes.is_empty() {
                println!("nothing to undo in {}", args.journal.display());
            }
            ExitCode::from(if failed { EXIT_INCOMPLETE } else { 0 })
        }
        Err(error) => {
            eprintln!("stalecreds: {error:#}");
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
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

/// 3 when the run is incomplete, 1 when there are findings, 0 when clean.
fn exit_status(report: &Report) -> u8 {
    if !report.is_complete() {
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
