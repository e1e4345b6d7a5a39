//! The Lambda function: `lambda_runtime` around `stalecreds::lambda::invoke`.
//!
//! Built once per container: the SDK clients. Per invocation, everything else (the clock, the
//! environment, the configuration, the results). Logs are JSON lines on standard error, which
//! CloudWatch keeps; `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`) sets the level.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use stalecreds::lambda::{Function, InvokeError, invoke};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .without_time()
        .init();

    let function = Function::new(stalecreds::load_sdk_config(None, None).await);
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let env = |name: &str| std::env::var(name).ok();
        // Boxed: the invocation's future is deep, and rustc's layout queries have a depth limit.
        Box::pin(invoke(
            function,
            &event.payload,
            &env,
            Some(deadline.max(SystemTime::now())),
        ))
        .await
        .map_err(diagnostic)
    }))
    .await
}

/// The error Lambda reports: its type says whether a retry can help.
fn diagnostic(error: InvokeError) -> Diagnostic {
    let message = format!(
        "{}. What to do: {}",
        stalecreds::describe(&error),
        error.what_to_do()
    );
    tracing::error!(error = %message, "invocation failed");
    Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: message,
    }
}
