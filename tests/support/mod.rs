//! The harness of the emulator tests: a seeded moto organization in a child process, and the
//! `stalecreds` binary pointed at it.
//!
//! moto is required: without it every emulator test fails with a message naming the setup
//! command. `STALECREDS_SKIP_EMULATOR=1` is the only way to skip them, and CI never sets it.

#![allow(clippy::disallowed_macros)] // A test harness may print.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The command that installs moto.
pub const SETUP: &str = "scripts/setup";

/// A running, seeded moto server.
pub struct Moto {
    child: Child,
    // Held open: the fixture stops when its standard input closes.
    _stdin: ChildStdin,
    /// The endpoint URL (http://127.0.0.1:PORT).
    pub endpoint: String,
    /// Account IDs by scenario name (`management`, `prod`, …).
    pub accounts: BTreeMap<String, String>,
    /// The SNS topic the fixture created.
    pub topic_arn: String,
    /// Access key IDs by `account/user`, in creation order.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Organizational unit IDs by name.
    pub ous: BTreeMap<String, String>,
    /// The S3 bucket the fixture created for reports.
    pub report_bucket: String,
}

/// Whether the emulator tests were explicitly opted out of.
pub fn skipped() -> bool {
    if std::env::var_os("STALECREDS_SKIP_EMULATOR").is_some_and(|value| value == "1") {
        eprintln!("STALECREDS_SKIP_EMULATOR=1: emulator test skipped");
        return true;
    }
    false
}

/// The demo organization on a fresh emulator; `None` only when the emulator tests were
/// explicitly opted out of (a test then returns at once).
pub fn demo() -> Option<Moto> {
    emulator(&["--scenario", "demo"])
}

/// A fresh emulator started with `args`; `None` only when the emulator tests were explicitly
/// opted out of.
pub fn emulator(args: &[&str]) -> Option<Moto> {
    (!skipped()).then(|| Moto::start(args))
}

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Python script of `tests/emulator/` run with the emulator's interpreter (in `.venv`).
pub fn emulator_script(script: &str) -> Command {
    python_script(&format!("tests/emulator/{script}"))
}

/// A Python script of the project (a path from its root) run with `.venv`'s interpreter.
pub fn python_script(script: &str) -> Command {
    let mut command = Command::new(python());
    command.current_dir(project()).arg(project().join(script));
    command
}

fn python() -> PathBuf {
    let python = project().join(".venv/bin/python");
    assert!(
        python.exists(),
        "moto is not installed ({} is missing): run `{SETUP}` first",
        python.display()
    );
    python
}

impl Moto {
    /// Starts the fixture with `args` (for example `["--scenario", "demo"]`).
    pub fn start(args: &[&str]) -> Moto {
        let mut child = Command::new(python())
            .arg(project().join("tests/emulator/moto_fixture.py"))
            .args(args)
            .args(["--max-seconds", "900"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start the moto fixture (run `{SETUP}`): {error}")
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fixture writes its ready line");
        if line.trim().is_empty() {
            let status = child.wait().ok();
            panic!(
                "the moto fixture exited before it was ready ({status:?}); is moto installed? run `{SETUP}`"
            );
        }
        let ready: Value = serde_json::from_str(&line).expect("the ready line is JSON");
        let strings = |value: &Value| -> BTreeMap<String, String> {
            serde_json::from_value(value.clone()).expect("a map of strings")
        };
        Moto {
            endpoint: ready["endpoint"].as_str().expect("endpoint").to_owned(),
            accounts: strings(&ready["accounts"]),
            topic_arn: ready["topic_arn"].as_str().expect("topic").to_owned(),
            keys: serde_json::from_value(ready["keys"].clone()).expect("keys"),
            ous: strings(&ready["ous"]),
            report_bucket: ready["report_bucket"].as_str().expect("bucket").to_owned(),
            child,
            _stdin: stdin,
        }
    }

    /// The demo organization.
    pub fn demo() -> Moto {
        Moto::start(&["--scenario", "demo"])
    }

    /// An account ID by scenario name.
    pub fn account(&self, name: &str) -> &str {
        self.accounts
            .get(name)
            .unwrap_or_else(|| panic!("no account {name}"))
    }

    /// An OU ID by name.
    pub fn ou(&self, name: &str) -> &str {
        self.ous.get(name).unwrap_or_else(|| panic!("no OU {name}"))
    }

    /// A key ID by `account/user` and creation index.
    pub fn key(&self, user: &str, index: usize) -> &str {
        &self.keys[user][index]
    }

    /// `stalecreds` with the environment pointing at this emulator, as the management account.
    pub fn stalecreds(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stalecreds"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        command
    }

    /// Requests the emulator received, as (account, service, action, count).
    pub fn requests(&self) -> Vec<(String, String, String, u64)> {
        let stats: Value =
            serde_json::from_str(&self.http("GET", "/_fixture/stats", "")).expect("JSON stats");
        stats["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|row| {
                (
                    row["account"].as_str().unwrap_or_default().to_owned(),
                    row["service"].as_str().unwrap_or_default().to_owned(),
                    row["action"].as_str().unwrap_or_default().to_owned(),
                    row["count"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// How many `action` requests the emulator served, in every account.
    pub fn calls(&self, action: &str) -> u64 {
        self.requests()
            .iter()
            .filter(|(_, _, name, _)| name == action)
            .map(|(_, _, _, count)| count)
            .sum()
    }

    /// The faults injected so far, as (when, action, kind, count).
    pub fn faults(&self) -> Vec<(String, String, String, u64)> {
        let stats: Value =
            serde_json::from_str(&self.http("GET", "/_fixture/stats", "")).expect("JSON stats");
        stats["faults"]
            .as_array()
            .expect("faults")
            .iter()
            .map(|row| {
                let text = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
                (
                    text("when"),
                    text("action"),
                    text("kind"),
                    row["count"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Forgets the requests counted so far.
    pub fn reset_requests(&self) {
        self.http("POST", "/_fixture/reset", "");
    }

    /// Sets the latency added to every request and the share of IAM requests throttled.
    pub fn configure(&self, latency_ms: u64, throttle_rate: f64) {
        let body = format!(r#"{{"latency_ms": {latency_ms}, "throttle_rate": {throttle_rate}}}"#);
        self.http("POST", "/_fixture/config", &body);
    }

    /// Sets the fixture's AWS-like behaviour from a JSON object: `latency_ms`, `throttle_rate`,
    /// `deny` ([account, action] pairs answered AccessDenied), `touch_on_read` (key IDs marked
    /// used when next read with GetAccessKeyLastUsed, or `{key: n}` after n reads),
    /// `slow` ([service, action, ms] answered that much later), `faults` (a seeded random mix:
    /// `rate`, `kinds` among 500, 503, drop and slow, `after_rate` for IAM changes after the
    /// emulator acted, `slow_ms`, `seed`), `before` and `after` (scripted faults per action,
    /// `{action: [kind, ...]}`, consumed in order). `deny` covers S3 too (`PutObject`, ...).
    pub fn configure_json(&self, body: &Value) {
        self.http("POST", "/_fixture/config", &body.to_string());
    }

    /// Marks a credential used now, in the account named `account` (a scenario name): the key
    /// `key_id`, or the user's password when `key_id` is `None`.
    pub fn touch(&self, account: &str, user: &str, key_id: Option<&str>) {
        let body = serde_json::json!({
            "account": self.account(account), "user": user, "key_id": key_id,
        });
        self.http("POST", "/_fixture/touch", &body.to_string());
    }

    /// Changes a credential behind stalecreds' back, as an administrator would: `action` is
    /// `deactivate`, `activate` or `delete` for the key `key_id`, or `delete` for the user's
    /// password when `key_id` is `None`.
    pub fn change(&self, account: &str, user: &str, key_id: Option<&str>, action: &str) {
        let body = serde_json::json!({
            "account": self.account(account), "user": user, "key_id": key_id, "action": action,
        });
        self.http("POST", "/_fixture/change", &body.to_string());
    }

    /// Makes every credential report four hours old, as on the next day: the next run has
    /// each account generate a new one.
    pub fn expire_reports(&self) {
        self.http("POST", "/_fixture/reports", r#"{"expire": true}"#);
    }

    /// Makes every credential report `seconds` older: the next run reuses them, as AWS does
    /// for four hours, and they no longer look fresh.
    pub fn age_reports(&self, seconds: u64) {
        self.http(
            "POST",
            "/_fixture/reports",
            &format!(r#"{{"age_seconds": {seconds}}}"#),
        );
    }

    /// Resets a user's console password now, as an administrator would (UpdateLoginProfile):
    /// the report's `password_last_changed` moves, the login profile's CreateDate does not.
    pub fn reset_password(&self, account: &str, user: &str, required: bool) {
        let body = serde_json::json!({
            "account": self.account(account), "user": user, "required": required,
        });
        self.http("POST", "/_fixture/reset-password", &body.to_string());
    }

    /// The scanner's execution role as deploy/scanner.yaml defines it for the stack
    /// `parameters` (`{"FanOut": "true", ...}`): the fixture creates it and judges every
    /// request made with its credentials against its policy, as AWS would.
    pub fn deployed_role(&self, parameters: &Value) -> Deployed {
        let body = serde_json::json!({ "parameters": parameters, "topic_arn": self.topic_arn });
        let answer: Value =
            serde_json::from_str(&self.http("POST", "/_fixture/deployed-role", &body.to_string()))
                .expect("JSON credentials");
        let text = |name: &str| answer[name].as_str().expect("a credential").to_owned();
        Deployed {
            access_key_id: text("access_key_id"),
            secret_access_key: text("secret_access_key"),
            session_token: text("session_token"),
        }
    }

    /// Removes the account named `account` from the organization (it stops being listed).
    pub fn leave_organization(&self, account: &str) {
        let body = serde_json::json!({ "account": self.account(account) });
        self.http("POST", "/_fixture/leave-organization", &body.to_string());
    }

    /// Deletes a user (and its credentials) behind the credential report's back.
    pub fn delete_user(&self, account: &str, user: &str) {
        let body = serde_json::json!({ "account": self.account(account), "user": user });
        self.http("POST", "/_fixture/delete-user", &body.to_string());
    }

    /// Every account's users, keys (ID and status) and whether each has a password.
    pub fn iam_state(&self) -> Value {
        serde_json::from_str(&self.http("GET", "/_fixture/iam-state", "")).expect("JSON state")
    }

    /// The objects of the report bucket: key -> text.
    pub fn s3_objects(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.http("GET", "/_fixture/s3-objects", "")).expect("JSON objects")
    }

    /// Puts an object in the report bucket behind stalecreds' back (a record an earlier,
    /// crashed delivery left).
    pub fn s3_put(&self, key: &str, body: &str) {
        let request = serde_json::json!({ "key": key, "body": body });
        self.http("POST", "/_fixture/s3-put", &request.to_string());
    }

    /// The findings moto's Security Hub holds for `account` (in us-east-1).
    pub fn security_hub_findings(&self, account: &str) -> Vec<Value> {
        let answer: Value = serde_json::from_str(&self.http(
            "GET",
            &format!("/_fixture/securityhub-findings?account={account}"),
            "",
        ))
        .expect("JSON findings");
        answer["findings"].as_array().cloned().unwrap_or_default()
    }

    /// The moto state, as its `/moto-api/data.json` shows it.
    pub fn data(&self) -> Value {
        serde_json::from_str(&self.http("GET", "/moto-api/data.json", "")).expect("JSON data")
    }

    /// The messages published to the fixture's topic: (subject, message).
    pub fn published(&self) -> Vec<(String, String)> {
        let data = self.data();
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        topics
            .iter()
            .filter(|topic| topic["arn"] == self.topic_arn.as_str())
            .flat_map(|topic| {
                topic["sent_notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|sent| {
                (
                    sent[2].as_str().unwrap_or_default().to_owned(),
                    sent[1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn http(&self, method: &str, path: &str, body: &str) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connects to the fixture");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        body.to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deployed scanner role's session, and the policy it runs under.
pub struct Deployed {
    /// The session's access key ID.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// Its session token.
    pub session_token: String,
}

impl Deployed {
    /// The session's credentials for the SDK.
    pub fn credentials(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            Some(self.session_token.clone()),
            None,
            "deployed-role",
        )
    }

    /// Points `command` at these credentials (a process started as the function).
    pub fn apply(&self, command: &mut Command) {
        command
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("AWS_SESSION_TOKEN", &self.session_token);
    }
}

/// A finished run of the binary.
pub struct Run {
    /// The exit status code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Runs `command` to completion.
    pub fn of(command: &mut Command) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("the binary runs");
        Run {
            code: status.code().expect("exited, not killed"),
            stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
        }
    }

    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }
}

/// The finding of `user` in a JSON report (its first).
pub fn finding<'r>(report: &'r Value, user: &str) -> &'r Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|finding| finding["user_name"] == user)
        .unwrap_or_else(|| panic!("no finding of {user} in the report"))
}

/// A temporary directory, removed on drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Reads a file of JSON lines (a journal).
pub fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}
