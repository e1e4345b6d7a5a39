//! Renders a stored JSON report as the HTML page: `cargo run --example render_page -- REPORT PAGE`.
//! The page benchmark (`scripts/bench-page`) uses it to measure the page at scale.

#![allow(clippy::disallowed_macros)] // A program of its own: it talks to the terminal.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [report, page] = args.as_slice() else {
        eprintln!("usage: render_page REPORT.json PAGE.html");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(report) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {report}: {error}");
            return ExitCode::from(2);
        }
    };
    let report: stalecreds::report::Report = match serde_json::from_str(&text) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("not a report: {error}");
            return ExitCode::from(2);
        }
    };
    match stalecreds::report::html::write_file(&report, std::path::Path::new(page)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cannot write {page}: {error}");
            ExitCode::from(1)
        }
    }
}
