//! The configuration stage: the validated [`Settings`] a run obeys.
//!
//! Takes the layers a front end gathered (built-in defaults, then the configuration file, the
//! environment and the command line, each overriding the one before) and returns `Settings`
//! with the source of each value ([`Effective`]), or every problem found at once
//! ([`ConfigError`]), each located. Nothing here calls AWS: a configuration error is reported
//! before the first request.

mod display;
mod file;
mod layer;
mod problem;
mod resolve;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::time::Duration;

pub use display::Effective;
pub use layer::{Setting, SettingValue};
pub use problem::{ConfigError, Source};
pub use resolve::{Inputs, LoadError, load, resolve};

pub use crate::assume::Secret;
use crate::assume::{Caller, RoleChain, role_arn};
use crate::remediate::RemediationPolicy;
use crate::rules::{Exemption, Policy};
use crate::scan::Mode;

/// Everything a run needs to know, validated. A setting of the table (config/layer.rs) is one
/// row there and one field here: [`Settings::with_defaults`] applies the rows' defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Which accounts to scan.
    pub selection: Selection,
    /// How to reach an account, and the policy, unless an override says otherwise.
    pub defaults: AccountDefaults,
    /// Per-account overrides, by account ID.
    pub overrides: BTreeMap<String, AccountOverride>,
    /// How IAM is read.
    pub mode: Mode,
    /// Accounts scanned at once (at least 1: the table's range).
    pub concurrency: usize,
    /// AWS requests per second per account (at least 1: the table's range).
    pub rate: u32,
    /// Where the digest goes.
    pub topic_arn: Option<String>,
    /// When the digest is sent.
    pub notify: Notify,
    /// The remediation policy, when the configuration has one.
    pub remediation: Option<Remediation>,
    /// Where reports (and journals) are kept in S3: bucket and key prefix.
    pub report_bucket: Option<(String, String)>,
    /// Where the state kept from run to run lives when there is no report bucket.
    pub state_dir: Option<std::path::PathBuf>,
    /// The longest one attempt of an AWS call may take.
    pub attempt_timeout: Duration,
    /// The longest an AWS call may take, retries included.
    pub call_timeout: Duration,
    /// Accounts per batch of a fanned-out run.
    pub batch_size: usize,
    /// Report-mode findings are confirmed live when the credential report is older than this.
    pub confirm_after: Duration,
    /// Whether the digest groups findings by owner (`owners.group_digest`).
    pub group_digest_by_owner: bool,
    /// Whether findings are imported into AWS Security Hub (`reports.security_hub`).
    pub security_hub: bool,
    /// The CIS AWS Foundations versions findings are mapped to (`reports.cis_versions`).
    pub cis_versions: Vec<crate::rules::cis::CisVersion>,
    /// Whether one message per owner of findings is published too.
    pub owner_messages: bool,
    /// At most this many owner messages a run.
    pub max_owner_messages: usize,
}

/// Apply was asked for, and the configuration has no remediation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "apply needs a `remediation:` section in the configuration file (docs/configuration.md); nothing was done"
)]
pub struct NothingToApply;

/// The `remediation:` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remediation {
    /// The stages, for accounts without an override.
    pub policy: RemediationPolicy,
    /// Which role makes the changes.
    pub role: RemediationRole,
    /// At most this many changes per run.
    pub max_actions: usize,
}

/// Which role makes the changes: never the read-only audit role unless it was granted the
/// remediation policy explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemediationRole {
    /// A separate remediation role of this name in every account.
    Name(String),
    /// The audit role, which was explicitly granted the remediation policy.
    AuditRole,
}

/// When the digest is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notify {
    /// When there is at least one finding, or the run is incomplete.
    #[default]
    OnFindings,
    /// After every run.
    Always,
    /// Never.
    Never,
}

impl Notify {
    /// The name used in the file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Notify::OnFindings => "on_findings",
            Notify::Always => "always",
            Notify::Never => "never",
        }
    }
}

/// Which accounts a run scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The organization's ACTIVE accounts.
    Organization {
        /// Only accounts under these OUs (or roots), nested OUs included; all when empty.
        include_ous: Vec<String>,
        /// Never these accounts.
        exclude_accounts: BTreeSet<String>,
    },
    /// Exactly these accounts; no Organizations call.
    Accounts(Vec<AccountSpec>),
}

/// One explicitly listed account (a c7n-org accounts entry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountSpec {
    /// The 12-digit account ID.
    pub id: String,
    /// A name for reports.
    pub name: Option<String>,
    /// The role (or chain of roles) to assume, instead of the default audit role.
    pub role: Option<RoleSpec>,
    /// The ExternalId for this account.
    pub external_id: Option<Secret>,
    /// An AWS profile whose credentials reach this account (or assume its role).
    pub profile: Option<String>,
    /// Free-form tags (c7n-org), shown by `stalecreds config`.
    pub tags: Vec<String>,
}

/// How to reach accounts, and the policy, by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountDefaults {
    /// The audit role.
    pub role: RoleSpec,
    /// The ExternalId the audit role's trust policy requires, if any.
    pub external_id: Option<Secret>,
    /// The role session name.
    pub session_name: String,
    /// The rules' policy.
    pub policy: Policy,
}

/// Which role to assume in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSpec {
    /// A role name (optionally with a path), the same in every account.
    Name(String),
    /// Role ARNs assumed in turn (a c7n-org `role` list); the last one acts in the account.
    Arns(Vec<String>),
}

impl Default for RoleSpec {
    fn default() -> Self {
        RoleSpec::Name(String::new())
    }
}

impl Default for Selection {
    /// The whole organization.
    fn default() -> Self {
        Selection::Organization {
            include_ous: Vec::new(),
            exclude_accounts: BTreeSet::new(),
        }
    }
}

/// Settings that differ for one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountOverride {
    /// Role ARNs assumed in turn (`role:`), instead of the audit role.
    pub role_arns: Option<Vec<String>>,
    /// The settings of the table an account may override (`role_name`, `external_id`,
    /// `max_idle_days`: the rows that apply to an account), as given.
    pub values: Vec<(Setting, SettingValue)>,
    /// Exemptions added to the default ones for this account.
    pub exemptions: Vec<Exemption>,
    /// Remediation stages replacing the default ones for this account.
    pub remediation: Option<RemediationPolicy>,
}

impl AccountOverride {
    /// How this account is reached and judged: `defaults` with this override's values.
    pub fn applied(&self, defaults: &AccountDefaults) -> AccountDefaults {
        let mut account = defaults.clone();
        for (setting, value) in &self.values {
            setting.apply_to_account(value, &mut account);
        }
        account
            .policy
            .exemptions
            .extend(self.exemptions.iter().cloned());
        account
    }

    /// The role this override names (`role_name` or `role`), if any.
    fn role(&self, account: &AccountDefaults) -> Option<RoleSpec> {
        match &self.role_arns {
            Some(arns) => Some(RoleSpec::Arns(arns.clone())),
            None => self
                .values
                .iter()
                .any(|(setting, _)| *setting == Setting::RoleName)
                .then(|| account.role.clone()),
        }
    }

    /// Whether it sets `setting`.
    fn sets(&self, setting: Setting) -> bool {
        self.values.iter().any(|(given, _)| *given == setting)
    }
}

/// How one account is scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlan {
    /// The account's ID.
    pub id: String,
    /// The account's name, when known.
    pub name: Option<String>,
    /// The AWS profile whose credentials start the chain (or scan directly), if any.
    pub profile: Option<String>,
    /// The roles to assume; `None` to use the starting credentials as they are.
    pub chain: Option<RoleChain>,
    /// The policy applied.
    pub policy: Policy,
    /// The remediation stages, and the roles that make changes (`None`: the starting
    /// credentials); `None` when no stage is on for this account.
    pub remediation: Option<(RemediationPolicy, Option<RoleChain>)>,
}

impl Settings {
    /// Whether any account may have its inactive keys deleted (the default stages, or an
    /// override's).
    pub fn deletes_inactive_keys(&self) -> bool {
        self.remediation.as_ref().is_some_and(|remediation| {
            remediation.policy.delete_inactive_keys_after_days.is_some()
                || self.overrides.values().any(|o| {
                    o.remediation
                        .is_some_and(|stages| stages.delete_inactive_keys_after_days.is_some())
                })
        })
    }

    /// Whether `--apply` (or the Lambda's apply) can be honoured: there must be a remediation
    /// policy to apply. Both front ends refuse before any AWS request.
    pub fn can_apply(&self) -> Result<(), NothingToApply> {
        match self.remediation {
            Some(_) => Ok(()),
            None => Err(NothingToApply),
        }
    }

    /// Settings with every default (the table's) and this selection.
    pub fn with_defaults(selection: Selection) -> Settings {
        let mut settings = Settings {
            selection,
            ..Settings::default()
        };
        layer::apply_defaults(&mut settings);
        settings
    }

    /// Accounts scanned at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency.max(1)
    }

    /// AWS requests per second per account.
    pub fn rate(&self) -> NonZeroU32 {
        NonZeroU32::new(self.rate).unwrap_or(NonZeroU32::MIN)
    }

    /// How to scan `account_id`. The role is, first that applies: the account's override, its
    /// entry in the account list, none when the entry names only a profile, none for the
    /// caller's own account, and the default audit role.
    pub fn plan(&self, account_id: &str, name: Option<String>, caller: &Caller) -> AccountPlan {
        let spec = match &self.selection {
            Selection::Accounts(accounts) => {
                accounts.iter().find(|account| account.id == account_id)
            }
            Selection::Organization { .. } => None,
        };
        let overrides = self.overrides.get(account_id);
        let account =
            overrides.map_or_else(|| self.defaults.clone(), |o| o.applied(&self.defaults));
        let explicit = overrides
            .and_then(|o| o.role(&account))
            .or_else(|| spec.and_then(|s| s.role.clone()));
        let profile = spec.and_then(|s| s.profile.clone());
        let role = match explicit {
            Some(role) => Some(role),
            None if profile.is_some() || account_id == caller.account_id => None,
            None => Some(account.role.clone()),
        };
        // The ExternalId: the override's, then the account entry's, then the default.
        let external_id = match overrides {
            Some(o) if o.sets(Setting::ExternalId) => account.external_id.clone(),
            _ => spec
                .and_then(|s| s.external_id.clone())
                .or_else(|| account.external_id.clone()),
        };
        let chain = role.map(|role| RoleChain {
            role_arns: match role {
                RoleSpec::Name(name) => vec![role_arn(&caller.partition, account_id, &name)],
                RoleSpec::Arns(arns) => arns,
            },
            external_id,
            session_name: account.session_name.clone(),
        });
        let policy = account.policy;
        let stages = overrides.and_then(|o| o.remediation);
        let remediation = self.changes(stages, chain.as_ref(), account_id, caller);
        AccountPlan {
            id: account_id.to_owned(),
            name: name.or_else(|| spec.and_then(|s| s.name.clone())),
            profile,
            chain,
            policy,
            remediation,
        }
    }
}

impl Settings {
    /// An account's remediation: its stages (`stages`, else the default ones) and the roles
    /// that make changes, reached as the audit `chain` is; `None` when no stage is on.
    fn changes(
        &self,
        stages: Option<RemediationPolicy>,
        chain: Option<&RoleChain>,
        account_id: &str,
        caller: &Caller,
    ) -> Option<(RemediationPolicy, Option<RoleChain>)> {
        let remediation = self.remediation.as_ref()?;
        let stages = stages.unwrap_or(remediation.policy);
        if !stages.is_enabled() {
            return None;
        }
        let changes_through = match (&remediation.role, chain) {
            (RemediationRole::AuditRole, _) | (_, None) => chain.cloned(),
            (RemediationRole::Name(name), Some(audit)) => {
                // The same hops, ending in this account's remediation role.
                let mut arns = audit.role_arns.clone();
                arns.pop();
                arns.push(role_arn(&caller.partition, account_id, name));
                Some(RoleChain {
                    role_arns: arns,
                    ..audit.clone()
                })
            }
        };
        Some((stages, changes_through))
    }
}

/// Whether `text` is an AWS account ID: exactly twelve ASCII digits (leading zeros matter).
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Whether `name` is an IAM role name, optionally behind a path (`path/to/Name`): 1–64
/// characters of letters, digits and `+=,.@_-` for the name.
pub fn is_role_name(name: &str) -> bool {
    let valid = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    };
    let mut segments: Vec<&str> = name.split('/').collect();
    let role = segments.pop().unwrap_or_default();
    role.len() <= 64 && valid(role) && segments.into_iter().all(valid) && name.len() <= 576
}

/// Whether `id` is a valid STS ExternalId: 2–1224 characters of letters, digits and `+=,.@:/-_`.
pub fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c))
}

/// Whether `session` is a valid role session name: 2–64 characters of `[\w+=,.@-]`.
pub fn is_session_name(session: &str) -> bool {
    (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// Checks an ARN's shape, `arn:<partition>:<service>:<region>:<account>:<resource>`, for
/// `service`; returns what is wrong.
pub fn check_arn(arn: &str, service: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, found_service, region, account, resource] = parts.as_slice() else {
        return Err(format!(
            "`{arn}` is not an ARN (arn:partition:service:region:account:resource)"
        ));
    };
    if *prefix != "arn" || !partition.starts_with("aws") {
        return Err(format!(
            "`{arn}` is not an ARN: it must start with `arn:aws`"
        ));
    }
    if *found_service != service {
        return Err(format!("`{arn}` is not an {} ARN", service.to_uppercase()));
    }
    let global = service == "iam";
    if global != region.is_empty() {
        return Err(if global {
            format!("`{arn}`: IAM ARNs have no region")
        } else {
            format!("`{arn}` has no region")
        });
    }
    if !is_account_id(account) {
        return Err(format!("`{arn}`: `{account}` is not a 12-digit account ID"));
    }
    if resource.is_empty() {
        return Err(format!("`{arn}` names no resource"));
    }
    if service == "iam" && !resource.strip_prefix("role/").is_some_and(is_role_name) {
        return Err(format!("`{arn}` is not a role ARN (…:role/NAME)"));
    }
    if service == "sns"
        && !(resource.len() <= 256
            && resource
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
    {
        return Err(format!("`{arn}`: `{resource}` is not a topic name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn organization() -> Selection {
        Selection::Organization {
            include_ous: Vec::new(),
            exclude_accounts: BTreeSet::new(),
        }
    }

    fn caller() -> Caller {
        Caller {
            account_id: "000000000001".to_owned(),
            arn: "arn:aws-us-gov:iam::000000000001:user/scanner".to_owned(),
            partition: "aws-us-gov".to_owned(),
        }
    }

    #[test]
    fn account_ids_are_exactly_twelve_digits() {
        assert!(is_account_id("012345678901"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("1234567890123"));
        assert!(!is_account_id("12345678901a"));
        assert!(!is_account_id("１２３４５６７８９０１２"));
    }

    #[test]
    fn names_and_arns_are_checked() {
        assert!(is_role_name("stalecreds-audit"));
        assert!(is_role_name("security/audit/stalecreds"));
        assert!(!is_role_name(""));
        assert!(!is_role_name("has space"));
        assert!(!is_role_name("/leading"));
        assert!(!is_role_name(&"x".repeat(65)));
        assert!(is_external_id("a1:b2/c3"));
        assert!(!is_external_id("x"));
        assert!(is_session_name("stalecreds"));
        assert!(!is_session_name("stale creds"));
        assert_eq!(
            check_arn("arn:aws:sns:eu-west-1:123456789012:digest", "sns"),
            Ok(())
        );
        assert_eq!(
            check_arn("arn:aws-cn:iam::123456789012:role/path/audit", "iam"),
            Ok(())
        );
        assert!(check_arn("arn:aws:sns:eu-west-1:12345:digest", "sns").is_err());
        assert!(check_arn("arn:aws:sqs:eu-west-1:123456789012:digest", "sns").is_err());
        assert!(check_arn("arn:aws:sns::123456789012:digest", "sns").is_err());
        assert!(check_arn("arn:aws:iam::123456789012:user/bob", "iam").is_err());
        assert!(check_arn("not-an-arn", "sns").is_err());
    }

    #[test]
    fn the_callers_own_account_uses_its_own_credentials() {
        let settings = Settings::with_defaults(organization());
        assert_eq!(settings.plan("000000000001", None, &caller()).chain, None);
        let member = settings.plan("000000000002", None, &caller());
        assert_eq!(
            member.chain.expect("a role").role_arns,
            ["arn:aws-us-gov:iam::000000000002:role/stalecreds-audit"]
        );
    }

    #[test]
    fn overrides_replace_role_and_policy_for_one_account() {
        let mut settings = Settings::with_defaults(organization());
        settings.overrides.insert(
            "000000000003".to_owned(),
            AccountOverride {
                role_arns: Some(vec![
                    "arn:aws:iam::000000000009:role/hop".to_owned(),
                    "arn:aws:iam::000000000003:role/audit".to_owned(),
                ]),
                values: vec![
                    (
                        Setting::ExternalId,
                        SettingValue::Secret(Secret::new("x-123")),
                    ),
                    (Setting::MaxIdleDays, SettingValue::Number(90)),
                ],
                exemptions: vec![Exemption::UserName("ci-*".to_owned())],
                remediation: None,
            },
        );
        let plan = settings.plan("000000000003", None, &caller());
        assert_eq!(plan.policy.max_idle_days, 90);
        assert_eq!(
            plan.policy.exemptions,
            [Exemption::UserName("ci-*".to_owned())]
        );
        let chain = plan.chain.expect("a role");
        assert_eq!(chain.role_arns.len(), 2);
        assert_eq!(
            chain.external_id.as_ref().map(Secret::expose),
            Some("x-123")
        );
        assert!(!format!("{settings:?}").contains("x-123"));
        assert_eq!(
            settings
                .plan("000000000002", None, &caller())
                .policy
                .max_idle_days,
            45
        );
    }
}
