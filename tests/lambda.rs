//! The Lambda front end against moto: the real `lambda_runtime` loop served by a small stand-in
//! for the Lambda Runtime API on 127.0.0.1, two invocations in one process, and a tiny time
//! budget.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{Value, json};
use stalecreds::lambda::{Function, invoke};
use support::{Moto, skipped, temp_dir};

/// An SDK configuration pointed at the emulator, built without touching the process
/// environment.
async fn sdk_config(moto: &Moto) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(stalecreds::aws::retry_config())
        .load()
        .await
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

fn lookup(env: &[(String, String)]) -> impl Fn(&str) -> Option<String> + Sync + '_ {
    move |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_invocations_in_one_process_are_independent_and_read_the_clock_each_time() {
    if skipped() {
        return;
    }
    let moto = Moto::demo();
    let function = Function::new(sdk_config(&moto).await);
    let env = environment(&moto, &[]);
    let first = invoke(
        &function,
        &json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
        &lookup(&env),
        None,
    )
    .await
    .expect("first invocation");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = invoke(&function, &Value::Null, &lookup(&env), None)
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
    assert_eq!(moto.s3_objects().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_event_narrows_the_run_and_apply_needs_the_functions_permission() {
    if skipped() {
        return;
    }
    let moto = Moto::demo();
    let function = Function::new(sdk_config(&moto).await);
    let env = environment(&moto, &[]);
    let prod = moto.account("prod");
    let response = invoke(
        &function,
        &json!({"accounts": [prod], "max_idle_days": 95}),
        &lookup(&env),
        None,
    )
    .await
    .expect("an override event");
    assert_eq!(response["summary"]["accounts"], 1);
    // alice's key (100 days) and breakglass-admin's password (300); bob's password is 90.
    assert_eq!(response["summary"]["findings"], 2);
    let refused = invoke(&function, &json!({"apply": true}), &lookup(&env), None).await;
    let error = refused.expect_err("apply is not allowed by this function");
    assert_eq!(error.error_type(), "NonRetryable.Configuration");
    assert!(
        error.to_string().contains("STALECREDS_ALLOW_APPLY"),
        "{error}"
    );
    let typo = invoke(&function, &json!({"acounts": [prod]}), &lookup(&env), None).await;
    assert!(
        typo.expect_err("unknown key")
            .to_string()
            .contains("unknown key `acounts`")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_time_budget_ends_in_time_lists_the_unreached_accounts_and_sends_the_digest() {
    if skipped() {
        return;
    }
    let moto = Moto::demo();
    // Slow AWS, one account at a time: the budget cannot cover every account.
    moto.configure_json(&json!({"latency_ms": 250}));
    let function = Function::new(sdk_config(&moto).await);
    let env = environment(&moto, &[("STALECREDS_CONCURRENCY", "1")]);
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let response = invoke(
        &function,
        &Value::Null,
        &lookup(&env),
        Some(SystemTime::now() + budget),
    )
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
    assert_eq!(published.len(), 1, "the digest is still sent");
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
    responses: mpsc::Receiver<(String, String)>,
}

impl RuntimeApi {
    fn start(event: Value, deadline_ms: u128) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("address").to_string();
        let (sender, responses) = mpsc::channel();
        std::thread::spawn(move || {
            let served = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for stream in listener.incoming().take(16) {
                let Ok(stream) = stream else { continue };
                let (served, sender, event) = (served.clone(), sender.clone(), event.clone());
                std::thread::spawn(move || serve(stream, &served, &sender, &event, deadline_ms));
            }
        });
        RuntimeApi { address, responses }
    }
}

/// One connection: HTTP/1.1 requests, kept alive, bodies by Content-Length or chunked.
fn serve(
    stream: TcpStream,
    served: &std::sync::atomic::AtomicBool,
    sender: &mpsc::Sender<(String, String)>,
    event: &Value,
    deadline_ms: u128,
) {
    stream.set_read_timeout(Some(Duration::from_secs(90))).ok();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap_or(0);
                let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if path.ends_with("/invocation/next") {
            if served.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // One event only: hold the runtime here until the test ends it.
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            let payload = event.to_string();
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n\
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

#[test]
fn the_lambda_runtime_loop_serves_a_scheduled_event_end_to_end() {
    if skipped() {
        return;
    }
    let moto = Moto::demo();
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        + 300_000;
    let event = json!({
        "version": "0", "id": "6f7b5e2c", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-28T10:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/stalecreds"], "detail": {}
    });
    let api = RuntimeApi::start(event, deadline);
    // The package bundles accounts.yaml next to `bootstrap`.
    let task_root = temp_dir();
    std::fs::write(
        task_root.path().join("accounts.yaml"),
        "exemptions:\n  user_names: [breakglass-*]\nnotification:\n  send: always\n",
    )
    .expect("writable");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "stalecreds")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]0")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/stalecreds")
        .env("LAMBDA_TASK_ROOT", task_root.path())
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("STALECREDS_TOPIC_ARN", &moto.topic_arn)
        .env("STALECREDS_REPORT_BUCKET", &moto.report_bucket)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bootstrap starts");
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
    let report = response["report"].as_str().expect("stored in S3");
    assert!(
        report.starts_with(&format!("s3://{}/stalecreds/", moto.report_bucket)),
        "{report}"
    );
    let objects = moto.s3_objects();
    let key = report.trim_start_matches(&format!("s3://{}/", moto.report_bucket));
    let stored: Value = serde_json::from_str(&objects[key]).expect("the stored report");
    assert_eq!(stored["summary"], response["summary"]);
    let published = moto.published();
    assert_eq!(published.len(), 1);
    assert!(response["digest"]["message_id"].is_string(), "{response}");
    let message: Value = serde_json::from_str(&published[0].1).expect("JSON message");
    assert!(
        message["email"]
            .as_str()
            .expect("text")
            .contains(&format!("Full report: {report}"))
    );
    // Structured logs, and no secret in them.
    let first = logs
        .lines()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("JSON logs: {logs}"));
    serde_json::from_str::<Value>(first).expect("a JSON log line");
    assert!(!logs.contains("testing"), "no credential in the logs");
}
