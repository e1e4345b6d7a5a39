//! The `stalecreds` command line: parse, build the clients, run, render, exit.
//!
//! Exit status, the first that applies: 2 usage or configuration error (no AWS call made);
//! 3 incomplete run (an account could not be scanned, or a later step failed); 1 findings;
//! 0 clean.

#![allow(clippy::disallowed_macros)] // The front end talks to the terminal.

use std::io::{IsTerminal, Write};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use stalecreds::config::{self, AccountSpec, RoleSpec, Selection, Settings};
use stalecreds::report::{self, Report};
use stalecreds::scan::Mode;
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
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// Scan only this account (repeatable); no Organizations call is made. The caller's own
    /// account is scanned with the caller's credentials, any other through the audit role.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// The audit role's name in member accounts [default: stalecreds-audit].
    #[arg(long, value_name = "NAME")]
    role_name: Option<String>,
    /// The ExternalId the audit role's trust policy requires.
    #[arg(
        long,
        value_name = "ID",
        env = "STALECREDS_EXTERNAL_ID",
        hide_env_values = true
    )]
    external_id: Option<String>,
    /// A credential unused for this many days or more is a finding [default: 45].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
    max_idle_days: Option<u32>,
    /// How IAM is read: the credential report (few requests) or per-user API calls (live).
    #[arg(long, value_enum, value_name = "MODE")]
    mode: Option<ModeArg>,
    /// Accounts scanned at once [default: 16].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: Option<u32>,
    /// AWS requests per second per account [default: 10].
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u32).range(1..=10000))]
    rate: Option<u32>,
    /// The format of what is printed on standard output.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also write the JSON report to this file (replaced atomically).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The SNS topic that receives the digest.
    #[arg(long, value_name = "ARN")]
    topic_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Report,
    Api,
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
    let settings = match settings(&args) {
        Ok(settings) => settings,
        Err(problems) => {
            for problem in problems {
                eprintln!("stalecreds: {problem}");
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stalecreds: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_INCOMPLETE);
        }
    };
    match runtime.block_on(scan_and_report(&args, &settings)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("stalecreds: {error:#}");
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}

/// The settings from the command line, or every problem with it.
fn settings(args: &ScanArgs) -> Result<Settings, Vec<String>> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for account in &args.accounts {
        if !config::is_account_id(account) {
            problems.push(format!(
                "--account {account}: an account ID is exactly 12 digits"
            ));
        } else if !seen.insert(account.as_str()) {
            problems.push(format!("--account {account}: given twice"));
        }
    }
    if let Some(role) = &args.role_name
        && !config::is_role_name(role)
    {
        problems.push(format!(
            "--role-name {role}: a role name is 1-64 letters, digits or +=,.@_- (optionally behind a path/)"
        ));
    }
    if let Some(id) = &args.external_id
        && !config::is_external_id(id)
    {
        problems.push(
            "--external-id: an external ID is 2-1224 letters, digits or +=,.@:/-_".to_owned(),
        );
    }
    if let Some(arn) = &args.topic_arn
        && let Err(problem) = config::check_arn(arn, "sns")
    {
        problems.push(format!("--topic-arn: {problem}"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let selection = if args.accounts.is_empty() {
        Selection::Organization
    } else {
        Selection::Accounts(
            args.accounts
                .iter()
                .map(|id| AccountSpec {
                    id: id.clone(),
                    name: None,
                })
                .collect(),
        )
    };
    let mut settings = Settings::with_defaults(selection);
    if let Some(role) = &args.role_name {
        settings.defaults.role = RoleSpec::Name(role.clone());
    }
    settings.defaults.external_id = args.external_id.clone();
    if let Some(days) = args.max_idle_days {
        settings.defaults.policy.max_idle_days = days;
    }
    if let Some(mode) = args.mode {
        settings.mode = match mode {
            ModeArg::Report => Mode::Report,
            ModeArg::Api => Mode::Api,
        };
    }
    if let Some(concurrency) = args.concurrency.and_then(|n| NonZeroUsize::new(n as usize)) {
        settings.concurrency = concurrency;
    }
    if let Some(rate) = args.rate.and_then(NonZeroU32::new) {
        settings.rate = rate;
    }
    settings.topic_arn = args.topic_arn.clone();
    Ok(settings)
}

async fn scan_and_report(args: &ScanArgs, settings: &Settings) -> anyhow::Result<u8> {
    let clients = Clients::new(stalecreds::aws::load_sdk_config().await);
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
    let report = stalecreds::run(settings, &clients, now, &on_event, stop).await?;
    progress.finish_and_clear();

    let mut status = exit_status(&report);
    if let Some(path) = &args.output
        && let Err(error) = report.write_file(path)
    {
        eprintln!(
            "stalecreds: cannot write the report to {}: {error}",
            path.display()
        );
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
