//! The Lambda front end against moto: the real `lambda_runtime` loop served by a small stand-in
//! for the Lambda Runtime API on 127.0.0.1, two invocations in one process, and a tiny time
//! budget.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{Deployed, Moto, demo, temp_dir};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{Value, json};
use stalecreds::lambda::{Function, InvokeError, invoke};
use stalecreds::report::ActionStatus;

/// The function's SDK configuration, pointed at the emulator (built without touching the
/// process environment), under its execution role as deploy/scanner.yaml deploys it for the
/// stack `parameters`: the fixture refuses what that role's policy does not allow, as AWS
/// would (`Moto::deployed_role`).
async fn deployed(moto: &Moto, parameters: &Value) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(moto.deployed_role(parameters).credentials())
        .retry_config(stalecreds::retry_config())
        .load()
        .await
}

/// The stack parameters of a single function that may remediate.
fn remediating() -> Value {
    json!({"RemediationRoleName": "stalecreds-remediate", "AllowApplyFromEvents": "true"})
}

/// The function's environment: the digest topic, the report bucket, and `extra`.
fn environment(moto: &Moto, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("STALECREDS_TOPIC_ARN".to_owned(), moto.topic_arn.clone()),
        (
            "STALECREDS_REPORT_BUCKET".to_owned(),
            moto.report_bucket.clone(),
        ),
        ("STALECREDS_NOTIFY".to_owned(), "always".to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    env
}

/// The function as deployed on an emulator: its SDK configuration under the execution role of
/// the stack's `parameters`, and its environment.
struct Lambda {
    moto: Moto,
    function: Function,
    env: Vec<(String, String)>,
}

impl Lambda {
    /// The function of a plain stack on the demo organization, with `environment(extra)`;
    /// `None` only when the emulator tests were opted out of.
    async fn demo(extra: &[(&str, &str)]) -> Option<Lambda> {
        Some(Lambda::on(demo()?, &json!({}), extra).await)
    }

    /// The function of the stack `parameters` on `moto`, with `environment(extra)`.
    async fn on(moto: Moto, parameters: &Value, extra: &[(&str, &str)]) -> Lambda {
        let function = Function::new(deployed(&moto, parameters).await);
        let env = environment(&moto, extra);
        Lambda {
            moto,
            function,
            env,
        }
    }

    /// The function of a stack that may remediate, on the demo organization, configured to
    /// apply the demo policy.
    async fn applying() -> Option<Lambda> {
        let extra = [
            ("STALECREDS_CONFIG", POLICY),
            ("STALECREDS_ALLOW_APPLY", "true"),
        ];
        Some(Lambda::on(demo()?, &remediating(), &extra).await)
    }

    /// One invocation with `event` and no deadline.
    async fn invoke(&self, event: &Value) -> Result<Value, InvokeError> {
        invoke(&self.function, event, &lookup(&self.env), None).await
    }

    /// One invocation with `event` that must end by `deadline`.
    async fn invoke_by(&self, event: &Value, deadline: SystemTime) -> Result<Value, InvokeError> {
        invoke(&self.function, event, &lookup(&self.env), Some(deadline)).await
    }
}

fn lookup(env: &[(String, String)]) -> impl Fn(&str) -> Option<String> + Sync + '_ {
    move |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_invocations_in_one_process_are_independent_and_read_the_clock_each_time() {
    let Some(lambda) = Lambda::demo(&[]).await else {
        return;
    };
    let moto = &lambda.moto;
    let first = lambda
        .invoke(&json!({"source": "aws.events", "detail-type": "Scheduled Event"}))
        .await
        .expect("first invocation");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = lambda
        .invoke(&Value::Null)
        .await
        .expect("second invocation");

    assert_eq!(first["summary"]["findings"], 7);
    assert_eq!(
        second["summary"]["findings"], 7,
        "nothing carried over from the first run"
    );
    assert_eq!(first["summary"], second["summary"]);
    let at = |response: &Value| {
        response["generated_at"]
            .as_str()
            .expect("generated_at")
            .parse::<jiff::Timestamp>()
            .expect("a timestamp")
    };
    assert!(
        at(&second) > at(&first),
        "the clock is read at every invocation"
    );
    assert_ne!(
        first["report"], second["report"],
        "each run stores its own report"
    );
    assert_eq!(moto.published().len(), 2, "one digest per invocation");
    let reports = moto
        .s3_objects()
        .into_keys()
        .filter(|key| key.ends_with("/report.json"))
        .count();
    assert_eq!(reports, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_event_narrows_the_run_and_apply_needs_the_functions_permission() {
    let Some(lambda) = Lambda::demo(&[]).await else {
        return;
    };
    let moto = &lambda.moto;
    let prod = moto.account("prod");
    let response = lambda
        .invoke(&json!({"accounts": [prod], "max_idle_days": 95}))
        .await
        .expect("an override event");
    assert_eq!(response["summary"]["accounts"], 1);
    // alice's key (100 days) and breakglass-admin's password (300); bob's password is 90.
    assert_eq!(response["summary"]["findings"], 2);
    let refused = lambda.invoke(&json!({"apply": true})).await;
    let error = refused.expect_err("apply is not allowed by this function");
    assert_eq!(error.error_type(), "NonRetryable.Configuration");
    assert!(
        error.to_string().contains("STALECREDS_ALLOW_APPLY"),
        "{error}"
    );
    let typo = lambda.invoke(&json!({"acounts": [prod]})).await;
    assert!(
        typo.expect_err("unknown key")
            .to_string()
            .contains("unknown key `acounts`")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_time_budget_ends_in_time_lists_the_unreached_accounts_and_sends_the_digest() {
    let Some(moto) = demo() else { return };
    // Slow AWS, one account at a time: the budget cannot cover every account.
    moto.configure_json(&json!({"latency_ms": 250}));
    let lambda = Lambda::on(moto, &json!({}), &[("STALECREDS_CONCURRENCY", "1")]).await;
    let moto = &lambda.moto;
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let response = lambda
        .invoke_by(&Value::Null, SystemTime::now() + budget)
        .await
        .expect("a response, even out of time");
    let took = started.elapsed();
    // A real deadline: no new account after the soft phase, the ones in flight abandoned at the
    // hard phase, delivery within the reserve.
    assert!(took < budget, "took {took:?}");
    let not_reached = response["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .find(|cause| cause["code"] == "NotReached")
        .unwrap_or_else(|| panic!("{response}"));
    assert!(not_reached["accounts"].as_u64() > Some(0), "{response}");
    assert_eq!(response["complete"], false);
    let published = moto.published();
    assert_eq!(published.len(), 1, "the digest is still sent: {response}");
    let message: Value = serde_json::from_str(&published[0].1).expect("JSON message");
    assert!(
        message["email"]
            .as_str()
            .expect("text")
            .contains("NotReached")
    );
}

/// A stand-in for the Lambda Runtime API: serves one event, records the response.
struct RuntimeApi {
    address: String,
    /// (path, body) of each response a function posts.
    responses: mpsc::Receiver<(String, String)>,
    /// Events to hand out, in order, to whichever function asks next.
    events: mpsc::Sender<Value>,
}

/// The events waiting for a function, and how many were handed out.
type Queue = std::sync::Arc<std::sync::Mutex<(mpsc::Receiver<Value>, usize)>>;

impl RuntimeApi {
    fn start(deadline_ms: u128) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("address").to_string();
        let (sender, responses) = mpsc::channel();
        let (events, queue) = mpsc::channel();
        let queue: Queue = std::sync::Arc::new(std::sync::Mutex::new((queue, 0)));
        std::thread::spawn(move || {
            for stream in listener.incoming().take(32) {
                let Ok(stream) = stream else { continue };
                let (queue, sender) = (queue.clone(), sender.clone());
                std::thread::spawn(move || serve(stream, &queue, &sender, deadline_ms));
            }
        });
        RuntimeApi {
            address,
            responses,
            events,
        }
    }

    /// Gives the function `event` and waits for its response.
    fn ask(&self, event: Value) -> Value {
        self.events.send(event).expect("queued");
        self.response().1
    }

    /// The next response a function posts.
    fn response(&self) -> (String, Value) {
        let (path, body) = self
            .responses
            .recv_timeout(Duration::from_secs(120))
            .expect("a response within two minutes");
        let value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON: {body}"));
        (path, value)
    }
}

/// One connection: HTTP/1.1 requests, kept alive, bodies by Content-Length or chunked.
fn serve(
    stream: TcpStream,
    queue: &Queue,
    sender: &mpsc::Sender<(String, String)>,
    deadline_ms: u128,
) {
    stream.set_read_timeout(Some(Duration::from_secs(90))).ok();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader) {
        if path.ends_with("/invocation/next") {
            // The next event, when the test gives one; until then the function waits here.
            let next = {
                let mut queue = queue.lock().expect("the queue");
                let event = queue.0.recv_timeout(Duration::from_secs(120)).ok();
                queue.1 += 1;
                event.map(|event| (event, queue.1))
            };
            let Some((event, number)) = next else {
                return;
            };
            let payload = event.to_string();
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-{number}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:stalecreds\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                 Content-Length: {}\r\n\r\n{payload}",
                payload.len()
            );
        } else {
            let _ = sender.send((path, String::from_utf8_lossy(&body).into_owned()));
            let _ = write!(
                writer,
                "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{{}}"
            );
        }
        let _ = writer.flush();
    }
}

/// One HTTP/1.1 request: its path and body; `None` when the connection ends.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return None;
        }
        let header = header.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        chunked |= header.starts_with("transfer-encoding:") && header.contains("chunked");
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    Some((path.to_owned(), body))
}

/// A chunked body.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap_or(0);
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// The function's `bootstrap`, as the Lambda runtime starts it, against `api` and moto, with
/// `accounts.yaml` bundled in `task_root`.
fn bootstrap(
    api: &RuntimeApi,
    moto: &Moto,
    role: &Deployed,
    task_root: &std::path::Path,
) -> std::process::Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "stalecreds")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]0")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/stalecreds")
        .env("LAMBDA_TASK_ROOT", task_root)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("STALECREDS_TOPIC_ARN", &moto.topic_arn)
        .env("STALECREDS_REPORT_BUCKET", &moto.report_bucket)
        .env("STALECREDS_BATCH_SIZE", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    role.apply(&mut command);
    command.spawn().expect("bootstrap starts")
}

/// A deadline five minutes from now, in milliseconds since 1970 (the Runtime API's unit).
fn five_minutes_from_now() -> u128 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.expect("after 1970").as_millis() + 300_000
}

/// The package's task root: it bundles accounts.yaml next to `bootstrap`.
fn task_root() -> tempfile::TempDir {
    let task_root = temp_dir();
    std::fs::write(
        task_root.path().join("accounts.yaml"),
        "exemptions:\n  user_names: [breakglass-*]\nnotification:\n  send: always\nreports:\n  security_hub: true\n",
    )
    .expect("writable");
    task_root
}

/// Issue 10: the same `bootstrap` serves the three steps of a fanned-out run (the event says
/// which), two function instances taking the batches at once; the merged run is the whole run,
/// with one digest, and every response stays small.
#[test]
fn the_function_serves_plan_batches_and_merge_through_the_runtime_api() {
    let Some(moto) = demo() else { return };
    let deadline = five_minutes_from_now();
    let api = RuntimeApi::start(deadline);
    let task_root = task_root();
    let role = moto.deployed_role(&json!({"FanOut": "true", "SecurityHub": "true"}));
    let mut functions = [
        bootstrap(&api, &moto, &role, task_root.path()),
        bootstrap(&api, &moto, &role, task_root.path()),
    ];
    let small = |response: &Value| {
        let size = response.to_string().len();
        assert!(size < 4096, "a {size}-byte response: {response}");
    };
    let plan_event = |claimant: &str| json!({"step": "plan", "run_id": "2026-11-28T10:00:00Z", "claimant": claimant});
    let planned = api.ask(plan_event("execution-1"));
    small(&planned);
    let plan = planned["plan"].as_str().expect("a plan").to_owned();
    let batches = planned["batches"].as_u64().expect("batches");
    assert_eq!(batches, 2, "four accounts to scan, two a batch: {planned}");
    assert_eq!(planned["duplicate"], false);
    // The same scheduled run delivered twice: the second execution stops at its plan ...
    let duplicate = api.ask(plan_event("execution-2"));
    assert_eq!(duplicate["duplicate"], true, "{duplicate}");
    assert_eq!(duplicate["plan"].as_str(), Some(plan.as_str()));
    // ... while the execution that claimed the run, retrying its Plan step, plans again in place.
    let again = api.ask(plan_event("execution-1"));
    assert_eq!(again["duplicate"], false, "{again}");
    assert_eq!(again["plan"].as_str(), Some(plan.as_str()));
    for batch in 0..batches {
        api.events
            .send(json!({"step": "batch", "plan": plan, "batch": batch}))
            .expect("queued");
    }
    for _ in 0..batches {
        let (path, written) = api.response();
        assert!(path.ends_with("/response"), "{path}: {written}");
        small(&written);
        assert_eq!(written["accounts"], 2, "{written}");
    }
    let merged = api.ask(json!({"step": "merge", "plan": plan}));
    small(&merged);
    for function in &mut functions {
        let _ = function.kill();
        let _ = function.wait();
    }
    assert_eq!(
        merged["summary"]["findings"], 6,
        "the whole run's findings: {merged}"
    );
    assert_eq!(merged["summary"]["accounts"], 5);
    assert_eq!(moto.published().len(), 1, "one digest");
    // Issue 11: the merge imports the whole run into Security Hub, once.
    assert_eq!(merged["security_hub"]["imported"], 6, "{merged}");
    assert_eq!(
        moto.security_hub_findings(moto.account("management")).len(),
        6
    );
}

#[test]
fn the_lambda_runtime_loop_serves_a_scheduled_event_end_to_end() {
    let Some(moto) = demo() else { return };
    let deadline = five_minutes_from_now();
    let event = json!({
        "version": "0", "id": "6f7b5e2c", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-28T10:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/stalecreds"], "detail": {}
    });
    let api = RuntimeApi::start(deadline);
    api.events.send(event).expect("queued");
    let task_root = task_root();
    let role = moto.deployed_role(&json!({"SecurityHub": "true"}));
    let mut child = bootstrap(&api, &moto, &role, task_root.path());
    let received = api.responses.recv_timeout(Duration::from_secs(120));
    let _ = child.kill();
    let output = child.wait_with_output().expect("bootstrap ends");
    let logs = String::from_utf8_lossy(&output.stderr);
    let (path, body) =
        received.unwrap_or_else(|_| panic!("no response from the function; its logs:\n{logs}"));
    assert_eq!(
        path, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let response: Value = serde_json::from_str(&body).expect("a JSON response");
    assert_eq!(
        response["summary"]["findings"], 6,
        "7 less breakglass-admin, exempt by the bundled file"
    );
    assert_eq!(response["summary"]["exempt"], 1);
    assert_eq!(
        response["complete"], false,
        "the sandbox account has no audit role"
    );
    stored_imported_and_published(&moto, &response);
    // Structured logs, and no secret in them.
    let first = logs
        .lines()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("JSON logs: {logs}"));
    serde_json::from_str::<Value>(first).expect("a JSON log line");
    assert!(
        !logs.contains(&role.secret_access_key) && !logs.contains(&role.session_token),
        "no credential in the logs"
    );
}

/// The run's report is stored in S3 with its page beside it, its findings are in Security Hub,
/// and its one digest links the report.
fn stored_imported_and_published(moto: &Moto, response: &Value) {
    let report = response["report"].as_str().expect("stored in S3");
    assert!(
        report.starts_with(&format!("s3://{}/stalecreds/", moto.report_bucket)),
        "{report}"
    );
    let objects = moto.s3_objects();
    let key = report.trim_start_matches(&format!("s3://{}/", moto.report_bucket));
    let stored: Value = serde_json::from_str(&objects[key]).expect("the stored report");
    assert_eq!(stored["summary"], response["summary"]);
    // Issue 11: the page beside the report, and the findings in Security Hub.
    let page = &objects[&key.replace("/report.json", "/report.html")];
    assert!(
        page.contains("<h2 id=\"all\">All findings: 6</h2>"),
        "{page}"
    );
    assert_eq!(
        response["security_hub"],
        json!({ "imported": 6, "refused": 0, "not_sent": 0, "calls": 1, "stale_archived": 0 }),
        "{response}"
    );
    let held = moto.security_hub_findings(moto.account("management"));
    assert_eq!(held.len(), 6);
    assert!(
        held.iter()
            .all(|finding| finding["RecordState"] == "ACTIVE")
    );
    let published = moto.published();
    assert_eq!(published.len(), 1);
    assert!(response["digest"]["message_id"].is_string(), "{response}");
    let message: Value = serde_json::from_str(&published[0].1).expect("JSON message");
    let text = message["email"].as_str().expect("text");
    assert!(text.contains(&format!("Full report: {report}")), "{text}");
    // Issue 18: and where a person opens the page, in the S3 console.
    let page = format!(
        "The page (findings to sort and filter, charts): https://us-east-1.console.aws.amazon.com/s3/object/{}?region=us-east-1&prefix={}",
        moto.report_bucket,
        key.replace("/report.json", "/report.html")
    );
    assert!(text.contains(&page), "{text}");
}

/// The demo's remediation policy, bundled as the function's configuration.
const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/remediation/demo.yaml"
);

/// The objects under the run's journal prefix, in order.
fn journal_objects(moto: &Moto) -> Vec<Value> {
    moto.s3_objects()
        .iter()
        .filter(|(key, _)| key.contains("/journal/"))
        .map(|(_, body)| serde_json::from_str(body).expect("an entry"))
        .collect()
}

/// Issue 9: in Lambda the journal was a file in /tmp, uploaded at the end and deleted even when
/// the upload failed. Now each intent and outcome is its own S3 object, put before the next
/// step, and `undo` reads them from their `s3://` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lambda_each_change_is_journaled_in_s3_before_and_after_and_undo_reads_it_there() {
    let Some(lambda) = Lambda::applying().await else {
        return;
    };
    let moto = &lambda.moto;
    let response = lambda
        .invoke(&json!({"apply": true}))
        .await
        .expect("an apply run");
    assert_eq!(response["remediation"]["applied"], 6, "{response}");
    let entries = journal_objects(moto);
    assert_eq!(
        entries.len(),
        12,
        "an intent and an outcome per change: {entries:?}"
    );
    // Object keys sort in the order written: each change's intent comes before its outcome.
    for (index, entry) in entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry["phase"] == "done")
    {
        assert!(
            entries[..index]
                .iter()
                .any(|earlier| earlier["phase"] == "intent"
                    && earlier["user_name"] == entry["user_name"]
                    && earlier["access_key_id"] == entry["access_key_id"]),
            "{entry} has no earlier intent"
        );
    }
    let prefix = response["remediation"]["journal"]
        .as_str()
        .expect("the journal's location");
    assert!(
        prefix.starts_with("s3://") && prefix.ends_with("/journal/"),
        "{prefix}"
    );

    let dir = temp_dir();
    let undo = Command::new(env!("CARGO_BIN_EXE_stalecreds"))
        .env_clear()
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args(["undo", prefix, "--config", POLICY, "--journal"])
        .arg(dir.path().join("undo.jsonl"))
        .output()
        .expect("undo runs");
    let stdout = String::from_utf8_lossy(&undo.stdout);
    assert_eq!(
        undo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&undo.stderr)
    );
    assert_eq!(stdout.matches("-> reactivated").count(), 4, "{stdout}");
}

/// Issue 9: when the journal cannot be stored, no change is made (its intent is not durable),
/// and the run says so in the report, the digest and the response; nothing is lost quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_be_stored_stops_every_change_and_says_so() {
    let Some(lambda) = Lambda::applying().await else {
        return;
    };
    let moto = &lambda.moto;
    let before = moto.iam_state();
    moto.configure_json(&json!({ "deny": [[moto.account("management"), "PutObject"]] }));
    let response = lambda
        .invoke(&json!({"apply": true}))
        .await
        .expect("a response");
    assert_eq!(
        moto.iam_state(),
        before,
        "no change without a durable intent"
    );
    assert_eq!(response["complete"], false);
    assert_eq!(response["remediation"]["applied"], 0, "{response}");
    let error = response["remediation"]["journal_error"]
        .as_str()
        .expect("said");
    assert!(error.contains("AccessDenied"), "{error}");
    let published = moto.published();
    assert_eq!(published.len(), 1, "the digest still goes out");
    let message: Value = serde_json::from_str(&published[0].1).expect("JSON");
    assert!(
        message["email"]
            .as_str()
            .expect("text")
            .contains("THE JOURNAL COULD NOT BE WRITTEN, so no change was made after that"),
        "{}",
        message["email"]
    );
}

/// Issue 9: a scheduled event delivered twice (a retry after a timeout) published a second
/// digest. The event's ID now names the run; the second delivery publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_scheduled_event_delivered_twice_publishes_one_digest() {
    let Some(lambda) = Lambda::demo(&[]).await else {
        return;
    };
    let moto = &lambda.moto;
    let event = json!({
        "version": "0", "id": "b7d5c2e0-6f1a-4c0e-9d0b-2f3e4a5b6c7d",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-11-28T10:00:00Z", "detail": {}
    });
    let first = lambda.invoke(&event).await.expect("first");
    let second = lambda.invoke(&event).await.expect("second");
    assert_eq!(first["digest"]["sent"], true, "{first}");
    assert_eq!(second["digest"]["already_published"], true, "{second}");
    assert_eq!(moto.published().len(), 1);
    let other =
        json!({"id": "another-event", "source": "aws.events", "detail-type": "Scheduled Event"});
    lambda.invoke(&other).await.expect("another day");
    assert_eq!(moto.published().len(), 2, "another event is another run");
}

/// Issue 18: owner messages go out once per run too: the same scheduled event delivered twice
/// sends the digest and each owner's message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_messages_go_out_once_per_run() {
    let dir = temp_dir();
    let config = dir.path().join("owners.yaml");
    let text = "owners:\n  tag_keys: [owner, team]\nnotification:\n  owner_messages: true\n";
    std::fs::write(&config, text).expect("writable");
    let config = config.to_str().expect("utf-8");
    let Some(lambda) = Lambda::demo(&[("STALECREDS_CONFIG", config)]).await else {
        return;
    };
    let event =
        json!({"id": "owners-run", "source": "aws.events", "detail-type": "Scheduled Event"});
    let first = lambda.invoke(&event).await.expect("first");
    let second = lambda.invoke(&event).await.expect("second");
    assert_eq!(first["owner_messages"], 3, "{first}");
    assert_eq!(second["owner_messages"], 0, "{second}");
    let published = lambda.moto.published();
    assert_eq!(
        published.len(),
        4,
        "one digest and three owner messages: {published:?}"
    );
}

/// Issue 9: the stop timer used to start only after the organization was listed. A listing
/// slower than the whole budget now ends the invocation in time, with a failure digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_slower_than_the_budget_ends_in_time_with_a_failure_digest() {
    let Some(moto) = demo() else { return };
    moto.configure_json(&json!({ "slow": [["organizations", "ListAccounts", 5000]] }));
    let lambda = Lambda::on(moto, &json!({}), &[]).await;
    let moto = &lambda.moto;
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let error = lambda
        .invoke_by(&Value::Null, SystemTime::now() + budget)
        .await
        .expect_err("nothing could be scanned");
    assert!(started.elapsed() < budget, "took {:?}", started.elapsed());
    assert!(error.to_string().contains("deadline"), "{error}");
    assert_eq!(moto.published().len(), 1, "the failure digest");
}

/// Issue 9: remediation was not bounded by the deadline. Now no IAM change starts after the hard
/// phase: slow changes leave the rest skipped, said so, and the invocation ends in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_iam_change_starts_after_the_hard_deadline() {
    let Some(lambda) = Lambda::applying().await else {
        return;
    };
    let moto = &lambda.moto;
    moto.configure_json(&json!({
        "slow": [["iam", "UpdateAccessKey", 3000], ["iam", "DeleteLoginProfile", 3000]],
    }));
    // Hard phase at 6.4 s: prod's three changes start at about 1, 4 and 7 s.
    let budget = Duration::from_secs(8);
    let started = Instant::now();
    let response = lambda
        .invoke_by(&json!({"apply": true}), SystemTime::now() + budget)
        .await
        .expect("a response");
    assert!(started.elapsed() < budget, "took {:?}", started.elapsed());
    let remediation = &response["remediation"];
    assert!(remediation["applied"].as_u64() > Some(0), "{remediation}");
    // Not attempted after the hard phase, or cut off in flight (outcome unknown).
    let cut = remediation["skipped"].as_u64().unwrap_or_default()
        + remediation["failed"].as_u64().unwrap_or_default();
    assert!(cut > 0, "{remediation}");
    // Every change made is journaled, intent and outcome; a change cut off in flight keeps its
    // intent; nothing beyond.
    let entries = journal_objects(moto);
    let count = |phase: &str| {
        entries
            .iter()
            .filter(|entry| entry["phase"] == phase)
            .count() as u64
    };
    assert_eq!(
        Some(count("done")),
        remediation["applied"].as_u64(),
        "{entries:?}"
    );
    let attempted = remediation["applied"].as_u64().unwrap_or_default()
        + remediation["failed"].as_u64().unwrap_or_default();
    assert_eq!(count("intent"), attempted, "{entries:?}");
    assert_eq!(moto.published().len(), 1);
}

/// Issue 9: delivery starts with a reserve, and each of its calls gets a timeout cut to fit it:
/// a report upload that hangs cannot take the digest down with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_report_upload_leaves_time_for_the_digest() {
    let Some(moto) = demo() else { return };
    moto.configure_json(&json!({ "slow": [["s3", "PutObject", 10_000]] }));
    let lambda = Lambda::on(moto, &json!({}), &[]).await;
    let moto = &lambda.moto;
    let budget = Duration::from_secs(6);
    let started = Instant::now();
    let response = lambda
        .invoke_by(&Value::Null, SystemTime::now() + budget)
        .await
        .expect("a response");
    assert!(started.elapsed() < budget, "took {:?}", started.elapsed());
    assert_eq!(moto.published().len(), 1, "{response}");
    assert!(
        response["delivery_errors"][0]
            .as_str()
            .is_some_and(|error| error.contains("report")),
        "{response}"
    );
}

/// One `stalecreds::scan` with `--apply`, as if run at `now`.
async fn apply_at(moto: &Moto, now: jiff::Timestamp) -> stalecreds::report::Report {
    let text = std::fs::read_to_string(POLICY).expect("the policy");
    let bucket = moto.report_bucket.clone();
    let env = move |name: &str| (name == "STALECREDS_REPORT_BUCKET").then(|| bucket.clone());
    let settings = stalecreds::resolve(stalecreds::Inputs {
        file: Some((POLICY, &text)),
        env: &env,
        flags: Vec::new(),
        accounts: Vec::new(),
    })
    .expect("valid")
    .settings;
    let clients = stalecreds::Clients::new(deployed(moto, &remediating()).await);
    let request = stalecreds::ScanRequest {
        events: &|_| {},
        apply: Some(stalecreds::JournalPlace::Bucket),
        output: None,
        since: None,
    };
    let ctx = stalecreds::Context::new(&settings, &clients, now, stalecreds::Deadline::none());
    stalecreds::scan(&ctx, request, std::future::pending())
        .await
        .expect("a run")
        .report
}

/// dave's inactive key in `report`: its remediation entry.
fn dave(report: &stalecreds::report::Report) -> stalecreds::report::RemediationEntry {
    report
        .information
        .iter()
        .find(|item| item.user_name == "dave")
        .and_then(|item| item.remediation.clone())
        .expect("dave's key has a remediation entry")
}

/// Issue 9: `delete_inactive_keys_after_days` measured idle time from the last use, so a key
/// idle for 200 days that stalecreds deactivated today was deleted tomorrow. The grace period now
/// counts from when each key became inactive, recorded in the state from run to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_keys_are_deleted_only_after_their_grace_period_across_runs() {
    let Some(moto) = demo() else { return };
    let day = |days: i64| jiff::SignedDuration::from_hours(24 * days);
    let today = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).expect("now");
    let prod = moto.account("prod").to_owned();
    let alice = moto.key("prod/alice", 1).to_owned();
    let dave_key = moto.key("prod/dave", 0).to_owned();
    let has_key = |user: &str, key: &str| {
        moto.iam_state()[prod.as_str()][user]["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|listed| listed[0] == key)
    };

    // Today: dave's key (inactive, idle 500 days) is first seen inactive; alice's is deactivated.
    let first = apply_at(&moto, today).await;
    let waiting = dave(&first);
    assert_eq!(waiting.state, ActionStatus::Waiting, "{waiting:?}");
    assert_eq!(waiting.eligible_on, Some(today + day(90)));
    assert!(has_key("dave", &dave_key) && has_key("alice", &alice));
    let state_keys: Vec<String> = moto
        .s3_objects()
        .into_keys()
        .filter(|key| key.contains("stalecreds/state/"))
        .collect();
    assert!(
        state_keys
            .iter()
            .any(|key| key.ends_with(&format!("{prod}.json"))),
        "{state_keys:?}"
    );

    // A month later: nothing deleted, the same date still ahead.
    let month = apply_at(&moto, today + day(30)).await;
    assert_eq!(dave(&month).eligible_on, Some(today + day(90)));
    assert!(has_key("dave", &dave_key) && has_key("alice", &alice));

    // 91 days later, but the record cannot be read: nothing is deleted.
    moto.configure_json(&json!({ "deny": [[moto.account("management"), "GetObject"]] }));
    let blind = apply_at(&moto, today + day(91)).await;
    let held = dave(&blind);
    assert_eq!(held.state, ActionStatus::Waiting);
    assert!(
        held.reason
            .as_deref()
            .is_some_and(|why| why.contains("could not be read")),
        "{held:?}"
    );
    assert!(has_key("dave", &dave_key) && has_key("alice", &alice));

    // 91 days later: both grace periods are over.
    moto.configure_json(&json!({}));
    let later = apply_at(&moto, today + day(91)).await;
    assert_eq!(dave(&later).state, ActionStatus::Applied);
    assert!(!has_key("dave", &dave_key), "dave's key was deleted");
    assert!(
        !has_key("alice", &alice),
        "alice's key, deactivated 91 days ago, was deleted"
    );
}

/// The report the function stored in S3, from its response.
fn stored_report(moto: &Moto, response: &Value) -> Value {
    let location = response["report"].as_str().expect("a stored report");
    let key = location.trim_start_matches(&format!("s3://{}/", moto.report_bucket));
    serde_json::from_str(&moto.s3_objects()[key]).expect("the stored report")
}

/// The text of the `index`th digest published.
fn digest_text(moto: &Moto, index: usize) -> String {
    let message: Value = serde_json::from_str(&moto.published()[index].1).expect("a JSON message");
    message["email"].as_str().expect("the text").to_owned()
}

/// Issue 16: to a caller that may not list the bucket, S3 answers a missing object 403, not 404.
/// After the first run: one state per scanned account, every finding new, nothing unreadable.
fn each_account_has_its_state(moto: &Moto, first: &Value) {
    let states: Vec<String> = moto
        .s3_objects()
        .into_keys()
        .filter(|key| key.starts_with("stalecreds/state/") && key.ends_with(".json"))
        .filter(|key| !key.contains("/runs/"))
        .collect();
    let scanned = ["management", "prod", "dev"]
        .map(|name| format!("stalecreds/state/{}.json", moto.account(name)));
    assert_eq!(states.len(), 3, "{states:?}");
    assert!(scanned.iter().all(|key| states.contains(key)), "{states:?}");
    let report = stored_report(moto, first);
    assert_eq!(report["changes"]["new"], 7, "{}", report["changes"]);
    assert_eq!(
        report["state"]["unreadable"],
        json!([]),
        "{}",
        report["state"]
    );
}

/// Under the single function's deployed role the first run's state read was "unreadable",
/// nothing was written back, and no later run ever compared. Now the first run creates each
/// account's state and the second compares with it; a read that is really refused is reported,
/// with the permission that fixes it, in the report and the digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_deployed_role_the_first_run_creates_each_state_and_the_next_compares() {
    let Some(lambda) = Lambda::demo(&[]).await else {
        return;
    };
    let moto = &lambda.moto;
    let first = lambda.invoke(&Value::Null).await.expect("the first run");
    assert_eq!(first["state_errors"], 0, "{first}");
    each_account_has_its_state(moto, &first);

    // The next day, the same function: every finding is compared with the first run's.
    moto.expire_reports();
    let second = lambda.invoke(&Value::Null).await.expect("the second run");
    let report = stored_report(moto, &second);
    assert_eq!(report["changes"]["ongoing"], 7, "{}", report["changes"]);
    assert_eq!(
        report["changes"]["accounts_compared"], 3,
        "{}",
        report["changes"]
    );
    assert!(
        report["changes"]["since"].is_string(),
        "{}",
        report["changes"]
    );
    assert!(
        digest_text(moto, 1).contains("Since the last complete scan"),
        "{}",
        digest_text(moto, 1)
    );

    // A bucket policy (or a KMS key) that refuses the read: said, with what fixes it.
    moto.configure_json(&json!({ "deny": [[moto.account("management"), "GetObject"]] }));
    moto.expire_reports();
    let third = lambda.invoke(&Value::Null).await.expect("the third run");
    assert_eq!(third["complete"], false, "{third}");
    let report = stored_report(moto, &third);
    let unreadable = report["state"]["unreadable"].as_array().expect("a list");
    assert_eq!(unreadable.len(), 3, "{}", report["state"]);
    assert!(
        unreadable[0]
            .as_str()
            .is_some_and(|why| why.contains("allow s3:GetObject")),
        "{unreadable:?}"
    );
    let text = digest_text(moto, 2);
    assert!(
        text.contains("THE STATE KEPT FROM RUN TO RUN COULD NOT BE READ for 3 accounts")
            && text.contains("allow s3:GetObject"),
        "{text}"
    );
}

/// Another day's run fails for good: the state machine's `failed` step sends its one failure
/// digest, with the function's error and what to do; a second delivery sends nothing more.
async fn a_run_that_fails_for_good_sends_one_failure_digest(lambda: &Lambda) {
    let moto = &lambda.moto;
    let failed = json!({
        "step": "failed", "run_id": "2026-12-07T10:00:00Z", "failed_step": "plan",
        "error": {
            "Error": "Retryable.Run",
            "Cause": "{\"errorType\":\"Retryable.Run\",\"errorMessage\":\"cannot list the organization's accounts: ListAccounts: AccessDenied. What to do: run from the organization's management account\"}"
        }
    });
    for _ in 0..2 {
        lambda.invoke(&failed).await.expect("the failed step");
    }
    let published = moto.published();
    assert_eq!(published.len(), 2, "one failure digest for the failed run");
    assert!(
        published[1]
            .0
            .starts_with("stalecreds: run failed at its plan step")
    );
    let text = digest_text(moto, 1);
    assert!(
        text.contains("ListAccounts: AccessDenied")
            && text.contains("What to do: run from the organization's management account"),
        "{text}"
    );
}

/// Issue 16: a fanned-out plan step that failed (ListAccounts refused or throttled) published
/// the run's failure digest under its once-only marker; Step Functions retried it, and when the
/// retry succeeded the merge found the marker and never published the real digest. A fanned-out
/// step now returns its error for the state machine to retry, and only its `failed` step, once
/// every retry is spent, sends the failure digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanned_out_plan_that_a_retry_repairs_still_sends_the_real_digest() {
    let Some(moto) = demo() else { return };
    let lambda = Lambda::on(
        moto,
        &json!({"FanOut": "true"}),
        &[("STALECREDS_BATCH_SIZE", "10")],
    )
    .await;
    let moto = &lambda.moto;
    let run_id = "2026-12-06T10:00:00Z";
    let plan_event = json!({"step": "plan", "run_id": run_id, "claimant": "execution-1"});
    moto.configure_json(&json!({ "deny": [[moto.account("management"), "ListAccounts"]] }));
    let error = lambda
        .invoke(&plan_event)
        .await
        .expect_err("ListAccounts is refused");
    assert_eq!(error.error_type(), "Retryable.Run", "{error}");
    assert!(
        error.what_to_do().contains("management account"),
        "{}",
        error.what_to_do()
    );
    assert!(
        moto.published().is_empty(),
        "no digest from an attempt a retry may repair"
    );

    // The state machine retries the plan; it succeeds; the batch and the merge follow.
    moto.configure_json(&json!({}));
    let planned = lambda.invoke(&plan_event).await.expect("the retried plan");
    let plan = planned["plan"].as_str().expect("a plan").to_owned();
    lambda
        .invoke(&json!({"step": "batch", "plan": plan, "batch": 0}))
        .await
        .expect("the batch");
    let merged = lambda
        .invoke(&json!({"step": "merge", "plan": plan}))
        .await
        .expect("the merge");
    assert_eq!(merged["digest"]["sent"], true, "{merged}");
    let published = moto.published();
    assert_eq!(published.len(), 1);
    assert!(
        published[0]
            .0
            .starts_with("stalecreds: 7 unused credentials"),
        "the real digest: {}",
        published[0].0
    );

    a_run_that_fails_for_good_sends_one_failure_digest(&lambda).await;
}

/// Issue 16: a delivery that took the run's digest marker and crashed before publishing left
/// the marker and no message, and every later attempt found it and published nothing; a marker
/// that answered 412 and then could not be read was taken as "already published". Now a claim
/// holds only until its claimant's limit for Publish, a later attempt takes it over, and a
/// marker that cannot be read lets the digest go out anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_marker_left_without_a_message_is_taken_over() {
    let Some(lambda) = Lambda::demo(&[]).await else {
        return;
    };
    let moto = &lambda.moto;
    let scheduled = |id: &str| json!({"id": id, "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let crashed = |run: &str, until: jiff::Timestamp| {
        let claim = json!({ "run": run, "claim": "4242-1", "until": until, "published": null });
        moto.s3_put(
            &format!("stalecreds/state/runs/{run}/digest.json"),
            &claim.to_string(),
        );
    };
    // A claim that ran out a minute ago without a message: taken over.
    let now = jiff::Timestamp::now();
    crashed("crashed-run", now - jiff::SignedDuration::from_mins(1));
    let first = lambda
        .invoke(&scheduled("crashed-run"))
        .await
        .expect("a run");
    assert_eq!(first["digest"]["sent"], true, "{first}");
    assert_eq!(moto.published().len(), 1);
    // The marker now records the message: a second delivery publishes nothing.
    let again = lambda
        .invoke(&scheduled("crashed-run"))
        .await
        .expect("a run");
    assert_eq!(again["digest"]["already_published"], true, "{again}");
    assert_eq!(moto.published().len(), 1);

    // A claim still held by a delivery that then vanishes: waited for, then taken over.
    crashed("held-run", now + jiff::SignedDuration::from_secs(3));
    let started = Instant::now();
    let held = lambda.invoke(&scheduled("held-run")).await.expect("a run");
    assert_eq!(held["digest"]["sent"], true, "{held}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the claim"
    );
    assert_eq!(moto.published().len(), 2);

    // A marker that exists (412) and cannot be read (a bucket policy): published anyway.
    crashed("unreadable-run", now + jiff::SignedDuration::from_hours(1));
    moto.configure_json(&json!({ "deny": [[moto.account("management"), "GetObject"]] }));
    let unreadable = lambda
        .invoke(&scheduled("unreadable-run"))
        .await
        .expect("a run");
    assert_eq!(unreadable["digest"]["sent"], true, "{unreadable}");
    assert_eq!(moto.published().len(), 3);
}
