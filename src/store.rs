//! The store stage: keeps the report (and the remediation journal) where they outlive the run.
//!
//! Takes the report and the configured bucket, and returns where each object was put
//! (`s3://bucket/key`). Keys are `<prefix>stalecreds/<YYYY>/<MM>/<DD>/<generated_at>/report.json`
//! (and `journal.jsonl`), so runs never overwrite each other and list by date. With a custom
//! endpoint (`AWS_ENDPOINT_URL`: an emulator, MinIO) requests use path-style addresses.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::AwsError;

/// A bucket and key prefix for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket.
    pub name: String,
    /// The key prefix (may be empty; a `/` is added when missing).
    pub prefix: String,
}

impl Bucket {
    /// The key of `file` for the run whose `now` is `run`.
    pub fn run_key(&self, run: jiff::Timestamp, file: &str) -> String {
        format!(
            "{}stalecreds/{}/{}/{file}",
            self.prefix(),
            run.strftime("%Y/%m/%d"),
            run.strftime("%Y%m%dT%H%M%SZ")
        )
    }

    /// The key of `file` outside any run (state kept from run to run).
    pub fn state_key(&self, file: &str) -> String {
        format!("{}stalecreds/state/{file}", self.prefix())
    }

    /// The folder of a fanned-out run's records (plan, batches, markers), by its ID.
    pub fn run_folder(&self, run_id: &str) -> String {
        format!("{}stalecreds/runs/{}/", self.prefix(), segment(run_id))
    }

    /// Where a person opens `key` in the S3 console (its object page), in `region`.
    pub fn console_url(&self, key: &str, region: &str) -> String {
        format!(
            "https://{region}.console.aws.amazon.com/s3/object/{}?region={region}&prefix={key}",
            self.name
        )
    }

    /// `s3://bucket/key`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    fn prefix(&self) -> String {
        let mut prefix = self.prefix.clone();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        prefix
    }
}

/// A run ID as an S3 key segment (a scheduled time has colons): letters, digits, `-`, `_` and
/// `.` kept, anything else `_`.
pub(crate) fn segment(run_id: &str) -> String {
    run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Splits `s3://bucket/key` into the bucket and the key.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let (bucket, key) = url.strip_prefix("s3://")?.split_once('/')?;
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
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

/// Puts `body` at `key`; returns `s3://bucket/key`. `timeout`, when given, bounds the call,
/// retries included (delivery near the deadline).
pub async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    timeout: Option<Duration>,
) -> Result<String, AwsError> {
    s3.put_object()
        .bucket(&bucket.name)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .customize()
        .config_override(within(timeout))
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("PutObject", &error))?;
    Ok(bucket.url(key))
}

/// Puts `body` at `key` only if no object is there yet (`If-None-Match: *`): `Ok(true)` when
/// this call created it, `Ok(false)` when it already existed. A marker that says "done once".
pub async fn create(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
    body: Vec<u8>,
    timeout: Option<Duration>,
) -> Result<bool, AwsError> {
    put_if(s3, bucket, key, body, Precondition::Absent, timeout).await
}

/// What a conditional PutObject requires of the object already at its key.
enum Precondition<'a> {
    /// No object (`If-None-Match: *`).
    Absent,
    /// The version whose ETag this is (`If-Match`).
    Version(&'a str),
}

/// PutObject under `precondition`: `Ok(false)` when S3 refuses it for the precondition (412, or
/// 404 for an `If-Match` whose object was deleted meanwhile; for `If-None-Match` a 404 is a
/// missing bucket, an error).
async fn put_if(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
    body: Vec<u8>,
    precondition: Precondition<'_>,
    timeout: Option<Duration>,
) -> Result<bool, AwsError> {
    let request = s3.put_object().bucket(&bucket.name).key(key);
    let (request, refusals): (_, &[u16]) = match precondition {
        Precondition::Absent => (request.if_none_match("*"), &[412]),
        Precondition::Version(etag) => (request.if_match(etag), &[404, 412]),
    };
    let put = request
        .content_type("application/json")
        .body(ByteStream::from(body))
        .customize()
        .config_override(within(timeout))
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .raw_response()
                .is_some_and(|raw| refusals.contains(&raw.status().as_u16())) =>
        {
            Ok(false)
        }
        Err(error) => Err(AwsError::from_sdk("PutObject", &error)),
    }
}

/// Deletes `key` (a marker taken back).
pub async fn delete(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
    timeout: Option<Duration>,
) -> Result<(), AwsError> {
    s3.delete_object()
        .bucket(&bucket.name)
        .key(key)
        .customize()
        .config_override(within(timeout))
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("DeleteObject", &error))?;
    Ok(())
}

/// The object at `key`, or `None` when there is none.
pub async fn get(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
) -> Result<Option<Vec<u8>>, AwsError> {
    Ok(get_tagged(s3, bucket, key).await?.map(|(body, _)| body))
}

/// The object at `key` and its ETag, or `None` when there is none.
///
/// S3 answers a missing object 404 only to a caller that may list the bucket; to any other it
/// answers 403, as for an object it may not read (`../shared/aws-facts.md`, "S3: a missing
/// object"). A 403 is therefore told apart by listing the key itself (`ListObjectsV2` with the
/// key as prefix, which a `s3:ListBucket` statement limited by `s3:prefix` allows): absent is
/// `None`; present is a real refusal, whose error names the permission that fixes it.
pub async fn get_tagged(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
) -> Result<Option<(Vec<u8>, Option<String>)>, AwsError> {
    let output = match s3.get_object().bucket(&bucket.name).key(key).send().await {
        Ok(output) => output,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_no_such_key()) =>
        {
            return Ok(None);
        }
        Err(error)
            if error
                .raw_response()
                .is_some_and(|raw| raw.status().as_u16() == 403) =>
        {
            let refused = AwsError::from_sdk("GetObject", &error);
            return match exists(s3, bucket, key).await {
                Ok(false) => Ok(None),
                Ok(true) => Err(AwsError {
                    message: format!(
                        "{} is there but may not be read: allow s3:GetObject on it (and kms:Decrypt on the bucket's KMS key, when it has one); a bucket policy may refuse it ({})",
                        bucket.url(key),
                        refused.message
                    ),
                    ..refused
                }),
                Err(listing) => Err(AwsError {
                    message: format!(
                        "{} cannot be read, and whether it exists cannot be told: S3 answers 403 for a missing object to a caller that may not list the bucket; allow s3:ListBucket on {} for the prefix `{}` (docs/permissions.md) ({}; {listing})",
                        bucket.url(key),
                        bucket.name,
                        bucket.state_key("").trim_end_matches("state/"),
                        refused.message
                    ),
                    ..refused
                }),
            };
        }
        Err(error) => return Err(AwsError::from_sdk("GetObject", &error)),
    };
    let etag = output.e_tag().map(str::to_owned);
    let body = output
        .body
        .collect()
        .await
        .map_err(|error| AwsError::invalid_answer("GetObject", error.to_string()))?;
    Ok(Some((body.into_bytes().to_vec(), etag)))
}

/// Whether `key` exists, by listing it (the key as prefix: it sorts first among the keys it
/// begins).
async fn exists(s3: &aws_sdk_s3::Client, bucket: &Bucket, key: &str) -> Result<bool, AwsError> {
    let page = s3
        .list_objects_v2()
        .bucket(&bucket.name)
        .prefix(key)
        .max_keys(1)
        .send()
        .await
        .map_err(|error| AwsError::from_sdk("ListObjectsV2", &error))?;
    Ok(page
        .contents()
        .iter()
        .any(|object| object.key() == Some(key)))
}

/// Replaces the object at `key` only if it is still the version whose ETag is `etag`
/// (`If-Match`): `Ok(false)` when it changed meanwhile (another process took it over first).
pub async fn replace(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    key: &str,
    body: Vec<u8>,
    etag: &str,
    timeout: Option<Duration>,
) -> Result<bool, AwsError> {
    put_if(s3, bucket, key, body, Precondition::Version(etag), timeout).await
}

/// The keys under `prefix`, in order, every page read.
pub async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &Bucket,
    prefix: &str,
) -> Result<Vec<String>, AwsError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&bucket.name)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("ListObjectsV2", &error))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    keys.sort();
    Ok(keys)
}

/// A configuration override that bounds one call (retries included) by `timeout`.
fn within(timeout: Option<Duration>) -> aws_sdk_s3::config::Builder {
    let mut config = aws_sdk_s3::config::Builder::new();
    if let Some(timeout) = timeout {
        config = config.timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .build(),
        );
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_date_and_never_collide_between_runs() {
        let run: jiff::Timestamp = "2026-11-28T10:00:05Z".parse().expect("valid");
        let bucket = |prefix: &str| Bucket {
            name: "audit-reports".to_owned(),
            prefix: prefix.to_owned(),
        };
        assert_eq!(
            bucket("").run_key(run, "report.json"),
            "stalecreds/2026/11/28/20261128T100005Z/report.json"
        );
        assert_eq!(
            bucket("security").run_key(run, "journal.jsonl"),
            "security/stalecreds/2026/11/28/20261128T100005Z/journal.jsonl"
        );
        assert_eq!(
            bucket("a/b/").run_key(run, "x"),
            "a/b/stalecreds/2026/11/28/20261128T100005Z/x"
        );
    }
}
