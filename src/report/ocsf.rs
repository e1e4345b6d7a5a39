//! The `ocsf` format: OCSF 1.8.0 Compliance Finding events (class_uid 2003), one JSON object
//! per line, for SIEMs and security data lakes.
//!
//! Why Compliance Finding and not Detection Finding: a Detection Finding reports something a
//! detection engine saw happen (an alert); stalecreds evaluates each credential against a
//! written control (CIS AWS Foundations 1.12, Security Hub IAM.22) and says whether it passes,
//! which is what a Compliance Finding describes: its `compliance` object carries the standard,
//! the control and the pass/fail status. Each open finding is one event (`Create` when new,
//! `Update` when ongoing, compliance `Fail`); each finding resolved since the last complete
//! scan is one `Close` event (status `Resolved`, compliance `Pass`). The mapping is documented
//! in docs/outputs.md and every event is validated, in the tests, against the class's JSON
//! Schema generated from the OCSF schema files of 1.8.0.

use std::io::{self, Write};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::changes::ResolvedFinding;
use super::controls::{self, Control};
use super::{Finding, Report};
use crate::changes::Change;
use crate::rules::{CredentialKind, Severity};

/// The OCSF version the events follow.
pub const OCSF_VERSION: &str = "1.8.0";
/// Findings (category 2), Compliance Finding (class 3).
const CATEGORY_UID: u32 = 2;
const CLASS_UID: u32 = 2003;

/// Writes one event per finding, then one per resolved finding.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for finding in &report.findings {
        writeln!(out, "{}", finding_event(report, finding))?;
    }
    for resolved in &report.resolved {
        writeln!(out, "{}", resolved_event(report, resolved))?;
    }
    Ok(())
}

fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// The class, activity and time fields every event has.
fn header(report: &Report, activity: (u32, &str), message: String) -> Value {
    let (activity_id, activity_name) = activity;
    json!({
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("Compliance Finding: {activity_name}"),
        "time": millis(report.generated_at),
        "message": message,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {
                "name": "stalecreds",
                "vendor_name": "stalecreds",
                "version": report.tool.version,
            },
        },
    })
}

/// The account, as the cloud profile names it.
fn cloud(account_id: &str, account_name: Option<&str>) -> Value {
    let mut account = json!({ "uid": account_id, "type_id": 10, "type": "AWS Account" });
    if let Some(name) = account_name {
        account["name"] = json!(name);
    }
    json!({ "provider": "AWS", "account": account })
}

fn severity(severity: Severity) -> (u32, &'static str) {
    match severity {
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// The IAM resource a finding is about: the access key, or the user (for its password).
fn resource(
    account_id: &str,
    user_name: &str,
    credential: CredentialKind,
    key: Option<&str>,
) -> Value {
    let kind = match credential {
        CredentialKind::AccessKey => Some("AwsIamAccessKey"),
        CredentialKind::SshKey => Some("AwsIamSshPublicKey"),
        CredentialKind::ServiceCredential => Some("AwsIamServiceSpecificCredential"),
        CredentialKind::BedrockApiKey => Some("AwsBedrockApiKey"),
        CredentialKind::SigningCertificate => Some("AwsIamSigningCertificate"),
        CredentialKind::Password | CredentialKind::RootAccessKey => None,
    };
    match (kind, key) {
        (Some(kind), Some(key)) => json!({
            "type": kind,
            "uid": key,
            "name": user_name,
            "cloud_partition": "aws",
            "role_id": 1,
            "role": "Target",
        }),
        _ => json!({
            "type": "AwsIamUser",
            "uid": format!("arn:aws:iam::{account_id}:user/{user_name}"),
            "name": user_name,
            "cloud_partition": "aws",
            "role_id": 1,
            "role": "Target",
        }),
    }
}

/// The resource of an open finding: its credential and user, with the credential's data.
fn finding_resource(finding: &Finding) -> Value {
    let mut resource = resource(
        &finding.account_id,
        &finding.user_name,
        finding.credential,
        finding.credential_id.as_deref(),
    );
    if finding.credential != CredentialKind::RootAccessKey {
        resource["uid_alt"] = json!(finding.user_arn);
    }
    if let Some(owner) = &finding.owner {
        resource["owner"] = json!({ "name": owner.value });
    }
    resource["data"] = json!({
        "credential": finding.credential,
        "credential_status": finding.credential_status,
        "created": finding.created,
        "last_used": finding.last_used,
        "last_used_service": finding.last_used_service,
        "idle_days": finding.idle_days,
        "user_created": finding.user_created,
    });
    resource
}

fn finding_event(report: &Report, finding: &Finding) -> Value {
    let activity = match finding.change {
        Some(Change::Ongoing) => (2, "Update"),
        Some(Change::New) | None => (1, "Create"),
    };
    let mut event = header(report, activity, controls::description(finding));
    let (severity_id, severity_name) = severity(finding.severity);
    let controls = controls::controls(finding);
    let resource = finding_resource(finding);
    let fields = json!({
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": 1,
        "status": "New",
        "cloud": cloud(&finding.account_id, finding.account_name.as_deref()),
        "finding_info": {
            "uid": finding.finding_id,
            "title": controls::title(finding),
            "desc": controls::description(finding),
            "types": ["Unused credential"],
            "first_seen_time": millis(finding.first_seen.unwrap_or(report.generated_at)),
            "last_seen_time": millis(report.generated_at),
            "product": { "name": "stalecreds", "vendor_name": "stalecreds" },
        },
        "compliance": compliance(&controls, (3, "Fail")),
        "remediation": { "desc": controls::remediation(finding) },
        "resources": [resource],
    });
    merge(&mut event, fields);
    event
}

fn resolved_event(report: &Report, resolved: &ResolvedFinding) -> Value {
    let message = format!(
        "IAM user {}'s {} in account {} is no longer unused: {}.",
        resolved.user_name,
        super::words::credential_words(resolved.credential),
        resolved.account_id,
        resolved.reason.words()
    );
    let mut event = header(report, (3, "Close"), message.clone());
    let rule = crate::rules::Rule::of(resolved.credential);
    let controls = controls::of_rule(rule, None, &report.cis_versions);
    let fields = json!({
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 4,
        "status": "Resolved",
        "status_detail": resolved.reason,
        "cloud": cloud(&resolved.account_id, resolved.account_name.as_deref()),
        "finding_info": {
            "uid": resolved.finding_id,
            "title": "Unused IAM credential resolved",
            "desc": message,
            "types": ["Unused credential"],
            "first_seen_time": millis(resolved.first_seen),
            "last_seen_time": millis(report.generated_at),
        },
        "compliance": compliance(&controls, (1, "Pass")),
        "resources": [resource(
            &resolved.account_id,
            &resolved.user_name,
            resolved.credential,
            resolved.credential_id.as_deref(),
        )],
    });
    merge(&mut event, fields);
    event
}

/// The compliance object: the standards and controls, each check with `status`; no `control`
/// for a kind no standard covers.
fn compliance(controls: &[Control], (status_id, status): (u8, &str)) -> Value {
    let mut compliance = json!({
        "standards": standards(controls),
        "status_id": status_id,
        "status": status,
    });
    if let Some(first) = controls.first() {
        compliance["control"] = json!(first.id);
        compliance["checks"] = controls
            .iter()
            .map(|control| {
                json!({
                    "uid": control.id,
                    "name": control.title,
                    "standards": [control.standard],
                    "status_id": status_id,
                    "status": status,
                })
            })
            .collect();
    }
    compliance
}

/// The standards of `controls`, each once, in order.
fn standards(controls: &[Control]) -> Vec<&'static str> {
    let mut standards: Vec<&'static str> = Vec::new();
    for control in controls {
        if !standards.contains(&control.standard) {
            standards.push(control.standard);
        }
    }
    standards
}

/// Adds `fields`' keys to `event`.
fn merge(event: &mut Value, fields: Value) {
    if let (Value::Object(event), Value::Object(fields)) = (event, fields) {
        event.extend(fields);
    }
}
