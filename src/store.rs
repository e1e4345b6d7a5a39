//! The store stage: keeps the report (and the remediation journal) where they outlive the run.
//!
//! Takes the report and the configured bucket, and returns where each object was put
//! (`s3://bucket/key`). Keys are `<prefix>stalecreds/<YYYY>/<MM>/<DD>/<generated_at>/report.json`
//! (and `journal.jsonl`), so runs never overwrite each other and list by date. With a custom
//! endpoint (`AWS_ENDPOINT_URL`: an emulator, MinIO) requests use path-style addresses.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::AwsError;
use crate::report::Report;

/// A bucket and key prefix for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket.
    pub name: String,
    /// The key prefix (may be empty; a `/` is added when missing).
    pub prefix: String,
}

impl Bucket {
    /// The key of `file` for the run of `report`.
    pub fn key(&self, report: &Report, file: &str) -> String {
        let mut prefix = self.prefix.clone();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let at = report.generated_at;
        format!(
            "{prefix}stalecreds/{}/{}/{file}",
            at.strftime("%Y/%m/%d"),
            at.strftime("%Y%m%dT%H%M%SZ")
        )
    }
}

/// An S3 client for `base`, path-style when a custom endpoint is configured.
pub fn client(base: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = base.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(base)
            .force_path_style(custom_endpoint)
            .build(),
    )
}

/// Puts `body` at `key`; returns `s3://bucket/key`.
pub async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<String, AwsError> {
    s3.put_object()
        .bucket(&bucket.name)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("PutObject", &error))?;
    Ok(format!("s3://{}/{key}", bucket.name))
}

/// Puts the report as JSON; returns where.
pub async fn put_report(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    report: &Report,
) -> Result<String, AwsError> {
    let mut body = Vec::new();
    report
        .write_json(&mut body)
        .map_err(|error| AwsError::invalid_answer("PutObject", error.to_string()))?;
    put(
        s3,
        bucket,
        &bucket.key(report, "report.json"),
        body,
        "application/json",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{RunFacts, build};

    #[test]
    fn keys_sort_by_date_and_never_collide_between_runs() {
        let report = build(
            RunFacts {
                generated_at: "2026-11-28T10:00:05Z".parse().expect("valid"),
                max_idle_days: 45,
                mode: "report".to_owned(),
                caller_account_id: None,
                remediation: None,
            },
            Vec::new(),
        );
        let bucket = |prefix: &str| Bucket {
            name: "audit-reports".to_owned(),
            prefix: prefix.to_owned(),
        };
        assert_eq!(
            bucket("").key(&report, "report.json"),
            "stalecreds/2026/11/28/20261128T100005Z/report.json"
        );
        assert_eq!(
            bucket("security").key(&report, "journal.jsonl"),
            "security/stalecreds/2026/11/28/20261128T100005Z/journal.jsonl"
        );
        assert_eq!(
            bucket("a/b/").key(&report, "x"),
            "a/b/stalecreds/2026/11/28/20261128T100005Z/x"
        );
    }
}
