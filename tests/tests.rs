//! The integration tests: one test target, so that the AWS SDK is linked into one test binary,
//! not one per file. Each module is a file beside this one.
//!
//! The emulator tests (everything that starts moto) fail, never skip, when moto is missing:
//! `scripts/setup` installs it. `STALECREDS_SKIP_EMULATOR=1` skips them explicitly.

// The code's structure: imports only go down (no module cycle).
mod architecture;
// The configuration: the shipped example, a c7n-org file, precedence, one snapshot per class
// of bad input.
mod config;
// The `stalecreds` binary against a seeded moto organization: scanning, selection, the digest,
// identities, stale reports and faults.
mod emulator;
// The fan-out: plan, batches as separate processes, merge.
mod fanout;
// The credentials AWS records no use for: SSH keys, service-specific credentials (Bedrock and
// CloudWatch Logs API keys), signing certificates.
mod kinds;
// The Lambda function: the runtime loop, invocations, deadlines, the S3 journal, grace periods.
mod lambda;
// Where security teams look: what changed since the last run, and the other outputs.
mod outputs;
// The policies in the docs and templates against the code's calls.
mod permissions;
// Remediation: the plan, `--apply`, the journal, `undo`, crashes and faults.
mod remediation;
// The harness: moto in a child process, the binary pointed at it.
mod support;
