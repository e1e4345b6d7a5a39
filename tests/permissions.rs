//! The audit role's policy in docs/permissions.md names exactly the IAM actions the code calls:
//! no more (least privilege), no fewer (a scan that would fail with AccessDenied).

use std::collections::BTreeSet;
use std::path::Path;

/// `iam.some_operation()` calls in the library, as IAM action names (`iam:SomeOperation`): those
/// under `src/remediate/` (the remediation role) when `remediation`, the others (the audit role)
/// otherwise.
fn iam_actions_called(remediation: bool) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut pending = vec![root.clone()];
    while let Some(path) = pending.pop() {
        if path.is_file() && path.starts_with(root.join("remediate")) != remediation {
            continue;
        }
        if path.is_dir() {
            pending.extend(
                std::fs::read_dir(&path)
                    .expect("readable")
                    .map(|entry| entry.expect("entry").path()),
            );
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        // Only code outside test modules issues requests; tests name operations as `Client::op`.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("iam") {
            rest = &rest[at + 3..];
            let after = rest.trim_start();
            let Some(call) = after.strip_prefix('.') else {
                continue;
            };
            let name: String = call
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && call[name.len()..].trim_start().starts_with("()") {
                actions.insert(format!("iam:{}", pascal_case(&name)));
            }
        }
    }
    actions
}

fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            // IAM spells this acronym in capitals (ListSSHPublicKeys).
            if word == "ssh" {
                return "SSH".to_owned();
            }
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The actions of the policy in the first JSON block after `heading` in docs/permissions.md.
fn policy_actions(heading: &str) -> BTreeSet<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/permissions.md"))
            .expect("docs/permissions.md");
    let section = doc.split(heading).nth(1).expect("the section");
    let block = section
        .split("```json")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a JSON block");
    let policy: serde_json::Value = serde_json::from_str(block).expect("valid JSON policy");
    policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|statement| statement["Action"].as_array().cloned().unwrap_or_default())
        .map(|action| action.as_str().expect("an action").to_owned())
        .collect()
}

#[test]
fn the_audit_policy_grants_exactly_the_iam_actions_the_scan_calls() {
    let called = iam_actions_called(false);
    assert!(
        called.contains("iam:GenerateCredentialReport"),
        "the scan was found: {called:?}"
    );
    let read_only = |action: &String| {
        action.starts_with("iam:Get")
            || action.starts_with("iam:List")
            || action == "iam:GenerateCredentialReport"
    };
    assert!(called.iter().all(read_only), "read-only: {called:?}");
    assert_eq!(policy_actions("## The audit role"), called);
}

#[test]
fn the_remediation_policy_grants_exactly_the_iam_actions_remediation_calls() {
    let called = iam_actions_called(true);
    assert!(
        called.contains("iam:UpdateAccessKey"),
        "remediation was found: {called:?}"
    );
    assert!(
        !called.contains("iam:DeleteUser"),
        "a user is never deleted"
    );
    assert_eq!(policy_actions("## The remediation role"), called);
}

/// The actions between `# <marker>: begin` and `# <marker>: end` in a template.
fn template_actions(template: &str, marker: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(template))
        .expect("a template");
    let block = text
        .split(&format!("# {marker}: begin"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("# {marker}: end")).next())
        .unwrap_or_else(|| panic!("{template} marks its {marker}"));
    block
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|item| is_action(item))
        .map(str::to_owned)
        .collect()
}

/// `service:Action` (a list item that is an IAM action, not a `Sid:` or a resource).
fn is_action(item: &str) -> bool {
    item.split_once(':').is_some_and(|(service, action)| {
        !service.is_empty()
            && service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && action
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
            && action
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '*')
    })
}

#[test]
fn the_deployed_roles_grant_exactly_the_iam_actions_the_code_calls() {
    let audit = iam_actions_called(false);
    assert_eq!(
        template_actions("deploy/audit-role.yaml", "audit-actions"),
        audit
    );
    // StackSets skip the management account: its execution role carries the same actions.
    assert_eq!(
        template_actions("deploy/scanner.yaml", "audit-actions"),
        audit
    );
    assert_eq!(
        template_actions("deploy/remediation-role.yaml", "remediation-actions"),
        iam_actions_called(true)
    );
}

/// Issue 11: the scanner may import findings into Security Hub and do nothing else there; the
/// template grants exactly the Security Hub operations the code calls.
#[test]
fn the_scanner_grants_exactly_the_security_hub_actions_the_code_calls() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/securityhub.rs"))
            .expect("readable source");
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let called: BTreeSet<String> = code
        .split("client")
        .skip(1)
        .filter_map(|call| call.trim_start().strip_prefix('.'))
        .filter_map(|call| {
            let name: String = call
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            call[name.len()..]
                .starts_with("()")
                .then(|| format!("securityhub:{}", pascal_case(&name)))
        })
        .collect();
    assert_eq!(
        called,
        BTreeSet::from([
            "securityhub:BatchImportFindings".to_owned(),
            "securityhub:GetFindings".to_owned()
        ])
    );
    assert_eq!(
        template_actions("deploy/scanner.yaml", "securityhub-actions"),
        called
    );
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/permissions.md"))
            .expect("docs");
    for action in &called {
        assert!(
            doc.contains(&format!("`{action}`")),
            "{action} is documented"
        );
    }
}

/// Issue 9: a scheduled invocation that timed out was retried by EventBridge's asynchronous
/// invocation (twice, by default): a second run, a second digest.
#[test]
fn the_scheduled_function_is_never_retried() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/scanner.yaml"))
            .expect("the template");
    let config = text
        .split("Type: AWS::Lambda::EventInvokeConfig")
        .nth(1)
        .expect("an EventInvokeConfig for the function");
    let properties: String = config.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(
        properties.contains("FunctionName: !Ref Function"),
        "{properties}"
    );
    assert!(
        properties.contains("MaximumRetryAttempts: 0"),
        "{properties}"
    );
}

/// Issue 10: the state machine's role grants what its definition's states use, and no more: a
/// Lambda task invokes the function, a distributed map runs child executions of the state
/// machine, its ItemReader gets the plan's items, its ResultWriter writes a multipart result.
#[test]
fn the_state_machine_role_grants_exactly_what_its_definition_uses() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/scanner.yaml"))
            .expect("the template");
    let definition = text
        .split("      Definition:")
        .nth(1)
        .and_then(|rest| rest.split("\n  StateMachineRole:").next())
        .expect("the state machine's definition");
    let uses: [(&str, &[&str]); 4] = [
        (
            "Resource: arn:aws:states:::lambda:invoke",
            &["lambda:InvokeFunction"],
        ),
        (
            "Mode: DISTRIBUTED",
            &[
                "states:StartExecution",
                "states:DescribeExecution",
                "states:StopExecution",
            ],
        ),
        ("Resource: arn:aws:states:::s3:getObject", &["s3:GetObject"]),
        (
            "Resource: arn:aws:states:::s3:putObject",
            &[
                "s3:PutObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            ],
        ),
    ];
    let mut needed = BTreeSet::new();
    for (state, actions) in uses {
        if definition.contains(state) {
            needed.extend(actions.iter().map(|action| action.to_string()));
        }
    }
    let resources: BTreeSet<&str> = definition
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Resource: "))
        .collect();
    let known: BTreeSet<&str> = uses
        .iter()
        .filter_map(|(state, _)| state.strip_prefix("Resource: "))
        .collect();
    assert_eq!(
        resources, known,
        "a state uses a resource this test does not know"
    );
    assert!(
        needed.contains("states:StartExecution"),
        "a distributed map"
    );
    assert_eq!(
        template_actions("deploy/scanner.yaml", "state-machine-actions"),
        needed
    );
}
