//! Merging the layers: command-line flag > environment variable > file > built-in default, and
//! the checks that span layers. Every problem of every layer is collected before anything is
//! decided.

use std::collections::{BTreeMap, BTreeSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use super::file::{self, FileConfig};
use super::layer::{Layer, Setting, SettingValue};
use super::problem::{ConfigError, Problem, Source, Sourced};
use super::{
    AccountOverride, AccountSpec, Notify, Remediation, RemediationRole, RoleSpec, Selection,
    Settings, is_account_id,
};
use crate::remediate::{DEFAULT_MAX_ACTIONS, RemediationPolicy};
use crate::rules::Exemption;

/// What a front end gathered, before any check.
pub struct Inputs<'a> {
    /// The configuration file: the path as the user named it, and its text.
    pub file: Option<(&'a str, &'a str)>,
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Settings given as flags, as text.
    pub flags: Vec<(Setting, String)>,
    /// `--account` values, as text.
    pub accounts: Vec<String>,
}

/// The settings, and where each came from (for `stalecreds config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The settings.
    pub settings: Settings,
    /// Each setting's displayed value and its source, in display order.
    pub sources: Vec<(&'static str, String, Source)>,
}

/// Checks and merges every layer.
pub fn resolve(inputs: Inputs<'_>) -> Result<Effective, ConfigError> {
    let mut problems = Vec::new();
    let mut texts = BTreeMap::new();

    let file = match inputs.file {
        Some((path, text)) => {
            texts.insert(path.to_owned(), text.to_owned());
            let (config, found) = file::read(path, text);
            problems.extend(found);
            config
        }
        None => FileConfig::default(),
    };
    let (env, env_problems) = Layer::from_env(inputs.env);
    problems.extend(env_problems);
    let mut flags = Layer::default();
    for (setting, text) in &inputs.flags {
        if let Err(problem) = flags.set_text(*setting, text, Source::Flag(setting.flag())) {
            problems.push(problem);
        }
    }
    let mut flag_accounts = Vec::new();
    for id in &inputs.accounts {
        let source = Source::Flag("--account");
        if !is_account_id(id) {
            problems.push(Problem {
                source,
                message: format!("expected an account ID of exactly 12 digits, found `{id}`"),
            });
        } else if flag_accounts.contains(id) {
            problems.push(Problem {
                source,
                message: format!("account {id} is given twice"),
            });
        } else {
            flag_accounts.push(id.clone());
        }
    }

    let selection = selection(&file, flag_accounts, &mut problems);
    let overrides = overrides(&file, &selection, &mut problems);
    let merged = |setting: Setting| -> Option<&Sourced<SettingValue>> {
        flags
            .get(setting)
            .or_else(|| env.get(setting))
            .or_else(|| file.layer.get(setting))
    };

    let mut settings = Settings::with_defaults(selection);
    settings.overrides = overrides;
    settings.defaults.policy.exemptions = file.exemptions.clone();
    let mut sources = Vec::new();
    let mut report_prefix = None;
    for setting in Setting::ALL {
        let Some(Sourced { value, source }) = merged(setting) else {
            sources.push((
                setting.key(),
                default_text(&settings, setting),
                Source::Default,
            ));
            continue;
        };
        match (setting, value) {
            (Setting::RoleName, SettingValue::Text(name)) => {
                settings.defaults.role = RoleSpec::Name(name.clone())
            }
            (Setting::ExternalId, SettingValue::Text(id)) => {
                settings.defaults.external_id = Some(id.clone())
            }
            (Setting::SessionName, SettingValue::Text(name)) => {
                settings.defaults.session_name = name.clone()
            }
            (Setting::MaxIdleDays, SettingValue::Number(days)) => {
                settings.defaults.policy.max_idle_days = *days
            }
            (Setting::Mode, SettingValue::Mode(mode)) => settings.mode = *mode,
            (Setting::Concurrency, SettingValue::Number(n)) => {
                settings.concurrency = NonZeroUsize::new(*n as usize).unwrap_or(NonZeroUsize::MIN);
            }
            (Setting::Rate, SettingValue::Number(n)) => {
                settings.rate = NonZeroU32::new(*n).unwrap_or(NonZeroU32::MIN)
            }
            (Setting::TopicArn, SettingValue::Text(arn)) => settings.topic_arn = Some(arn.clone()),
            (Setting::Notify, SettingValue::Notify(notify)) => settings.notify = *notify,
            (Setting::ReportBucket, SettingValue::Text(bucket)) => {
                let prefix = settings
                    .report_bucket
                    .take()
                    .map(|(_, prefix)| prefix)
                    .unwrap_or_default();
                settings.report_bucket = Some((bucket.clone(), prefix));
            }
            (Setting::ReportPrefix, SettingValue::Text(prefix)) => {
                report_prefix = Some(prefix.clone());
            }
            (Setting::StateDir, SettingValue::Text(dir)) => {
                settings.state_dir = Some(dir.into());
            }
            (Setting::AttemptTimeout, SettingValue::Number(seconds)) => {
                settings.attempt_timeout = Duration::from_secs(u64::from(*seconds));
            }
            (Setting::CallTimeout, SettingValue::Number(seconds)) => {
                settings.call_timeout = Duration::from_secs(u64::from(*seconds));
            }
            // The layers only ever hold the value kind `check_text` gives each setting.
            _ => unreachable!("{setting:?} holds {value:?}"),
        }
        let shown = if setting.is_secret() {
            "** set **".to_owned()
        } else {
            display(value)
        };
        sources.push((setting.key(), shown, source.clone()));
    }
    if settings.notify != Notify::Never
        && settings.topic_arn.is_none()
        && let Some(Sourced { source, .. }) = merged(Setting::Notify)
    {
        problems.push(Problem {
            source: source.clone(),
            message: format!(
                "the digest is to be sent ({}) but no topic is given (`notification.topic_arn`, STALECREDS_TOPIC_ARN or --topic-arn)",
                settings.notify.as_str()
            ),
        });
    }
    if let Some(prefix) = report_prefix {
        match &mut settings.report_bucket {
            Some((_, kept)) => *kept = prefix,
            None => problems.push(Problem {
                source: merged(Setting::ReportPrefix).map_or(Source::Default, |value| value.source.clone()),
                message: "a report prefix is given without a bucket (`reports.bucket`, STALECREDS_REPORT_BUCKET or --report-bucket)".to_owned(),
            }),
        }
    }
    settings.remediation = remediation(
        &file,
        &settings,
        merged(Setting::MaxIdleDays),
        &mut problems,
    );
    if settings.call_timeout < settings.attempt_timeout
        && let Some(Sourced { source, .. }) = merged(Setting::CallTimeout)
    {
        problems.push(Problem {
            source: source.clone(),
            message: format!(
                "the call timeout ({} s) is shorter than one attempt ({} s)",
                settings.call_timeout.as_secs(),
                settings.attempt_timeout.as_secs()
            ),
        });
    }
    if !problems.is_empty() {
        // The file's problems in the order of the file, then the environment's, then the flags'.
        problems.sort_by_key(|problem| match &problem.source {
            Source::File { at, .. } => (0, *at),
            Source::Default => (0, Default::default()),
            Source::Env(_) => (1, Default::default()),
            Source::Flag(_) => (2, Default::default()),
        });
        return Err(ConfigError { problems, texts });
    }
    sources.push((
        "accounts",
        describe_selection(&settings.selection),
        selection_source(&file, &inputs),
    ));
    for (id, entry) in &file.overrides {
        let mut parts = Vec::new();
        match &entry.value.role {
            Some(RoleSpec::Name(name)) => parts.push(format!("role {name}")),
            Some(RoleSpec::Arns(arns)) => parts.push(format!("role {}", arns.join(" → "))),
            None => {}
        }
        if entry.value.external_id.is_some() {
            parts.push("external_id ** set **".to_owned());
        }
        if let Some(days) = entry.value.max_idle_days {
            parts.push(format!("max_idle_days {days}"));
        }
        parts.extend(
            entry
                .value
                .exemptions
                .iter()
                .map(|exemption| format!("exempt {}", describe_exemption(exemption))),
        );
        sources.push((
            "override",
            format!("{id}: {}", parts.join(", ")),
            entry.source.clone(),
        ));
    }
    if let Some(remediation) = &settings.remediation {
        let policy = &remediation.policy;
        let mut stages = Vec::new();
        for (name, days) in [
            ("deactivate keys", policy.deactivate_keys_after_days),
            (
                "delete inactive keys",
                policy.delete_inactive_keys_after_days,
            ),
            ("delete passwords", policy.delete_passwords_after_days),
        ] {
            if let Some(days) = days {
                stages.push(format!("{name} after {days} days"));
            }
        }
        let role = match &remediation.role {
            RemediationRole::Name(name) => format!("role {name}"),
            RemediationRole::AuditRole => "the audit role".to_owned(),
        };
        sources.push((
            "remediation",
            format!(
                "{}; through {role}; at most {} changes per run; planned only, unless --apply",
                if stages.is_empty() {
                    "per-account stages only".to_owned()
                } else {
                    stages.join(", ")
                },
                remediation.max_actions
            ),
            file.remediation.source.clone().unwrap_or(Source::Default),
        ));
    }
    if let Some(source) = &file.exemptions_source {
        let shown: Vec<String> = settings
            .defaults
            .policy
            .exemptions
            .iter()
            .map(describe_exemption)
            .collect();
        sources.push(("exemptions", shown.join("; "), source.clone()));
    }
    Ok(Effective { settings, sources })
}

/// The accounts to scan: `--account` beats the file's list, which excludes organization mode.
fn selection(
    file: &FileConfig,
    flag_accounts: Vec<String>,
    problems: &mut Vec<Problem>,
) -> Selection {
    let organization = &file.organization;
    let enabled = organization.enabled.as_ref().map(|enabled| enabled.value);
    if let (Some(true), Some(accounts)) = (enabled, &file.accounts) {
        problems.push(Problem {
            source: accounts.source.clone(),
            message: "`accounts:` lists accounts, but `organization.enabled` is true: choose one"
                .to_owned(),
        });
    }
    let organization_off = enabled == Some(false) || (enabled.is_none() && file.accounts.is_some());
    if organization_off {
        let reason = if enabled == Some(false) {
            "`organization.enabled` is false"
        } else {
            "an `accounts:` list is given"
        };
        for (key, items) in [
            ("include_ous", &organization.include_ous),
            ("exclude_accounts", &organization.exclude_accounts),
        ] {
            if let Some(first) = items.first() {
                problems.push(Problem {
                    source: first.source.clone(),
                    message: format!(
                        "`organization.{key}` filters the organization's accounts, but organization mode is off ({reason})"
                    ),
                });
            }
        }
    }

    let listed: Vec<AccountSpec> = file
        .accounts
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_default();
    if !flag_accounts.is_empty() {
        // The command line names the accounts; the file still says how to reach them.
        return Selection::Accounts(
            flag_accounts
                .into_iter()
                .map(|id| {
                    listed
                        .iter()
                        .find(|spec| spec.id == id)
                        .cloned()
                        .unwrap_or(AccountSpec {
                            id,
                            ..AccountSpec::default()
                        })
                })
                .collect(),
        );
    }
    if organization_off {
        return Selection::Accounts(listed);
    }
    Selection::Organization {
        include_ous: organization
            .include_ous
            .iter()
            .map(|ou| ou.value.clone())
            .collect(),
        exclude_accounts: organization
            .exclude_accounts
            .iter()
            .map(|id| id.value.clone())
            .collect(),
    }
}

fn overrides(
    file: &FileConfig,
    selection: &Selection,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, AccountOverride> {
    let listed: BTreeSet<&str> = match selection {
        Selection::Accounts(accounts) => accounts
            .iter()
            .filter(|spec| spec.role.is_some())
            .map(|spec| spec.id.as_str())
            .collect(),
        Selection::Organization { .. } => BTreeSet::new(),
    };
    let mut overrides = BTreeMap::new();
    for (id, entry) in &file.overrides {
        if entry.value.role.is_some() && listed.contains(id.as_str()) {
            problems.push(Problem {
                source: entry.source.clone(),
                message: format!(
                    "account {id} has a `role` in `accounts:` and another in `overrides:`: keep one"
                ),
            });
        }
        overrides.insert(
            id.clone(),
            AccountOverride {
                role: entry.value.role.clone(),
                external_id: entry.value.external_id.clone(),
                max_idle_days: entry.value.max_idle_days,
                exemptions: entry.value.exemptions.clone(),
                remediation: entry.value.remediation.as_ref().map(|r| r.value),
            },
        );
    }
    overrides
}

/// The remediation settings: a role is required as soon as a stage is on, and every stage is at
/// least its account's reporting threshold (a credential is never changed before it is reported).
fn remediation(
    file: &FileConfig,
    settings: &Settings,
    threshold_source: Option<&Sourced<SettingValue>>,
    problems: &mut Vec<Problem>,
) -> Option<Remediation> {
    let section = &file.remediation;
    let overrides_on = file.overrides.values().any(|entry| {
        entry
            .value
            .remediation
            .as_ref()
            .is_some_and(|policy| policy.value.is_enabled())
    });
    if !section.policy.is_enabled() && !overrides_on {
        return None;
    }
    let here = section.source.clone().or_else(|| {
        file.overrides
            .values()
            .find(|entry| entry.value.remediation.is_some())
            .and_then(|entry| entry.value.remediation.as_ref().map(|r| r.source.clone()))
    });
    let role = match (&section.role_name, &section.use_audit_role) {
        (
            Some(name),
            Some(Sourced {
                value: true,
                source,
            }),
        ) => {
            problems.push(Problem {
                source: source.clone(),
                message: format!(
                    "`remediation`: give either `role_name` ({}) or `use_audit_role: true`, not both",
                    name.value
                ),
            });
            None
        }
        (Some(name), _) => Some(RemediationRole::Name(name.value.clone())),
        (None, Some(Sourced { value: true, .. })) => Some(RemediationRole::AuditRole),
        (None, _) => {
            problems.push(Problem {
                source: here.clone().unwrap_or(Source::Default),
                message: "`remediation`: changes need a role of their own: set `role_name` (a remediation role), or `use_audit_role: true` if you granted the audit role the remediation policy".to_owned(),
            });
            None
        }
    };
    let threshold_from = threshold_source.map_or_else(
        || "the default".to_owned(),
        |value| value.source.to_string(),
    );
    let default_days = settings.defaults.policy.max_idle_days;
    for (stage, source) in &section.stage_sources {
        let days = stage_days(&section.policy, stage);
        if let Some(days) = days
            && days < default_days
        {
            problems.push(Problem {
                source: source.clone(),
                message: format!(
                    "`remediation.{stage}` is {days}, below the reporting threshold of {default_days} days ({threshold_from}): a credential would be changed before it is reported"
                ),
            });
        }
    }
    for (id, entry) in &file.overrides {
        let threshold = entry.value.max_idle_days.unwrap_or(default_days);
        let stages = entry
            .value
            .remediation
            .as_ref()
            .map_or(section.policy, |r| r.value);
        for stage in [
            "deactivate_keys_after_days",
            "delete_inactive_keys_after_days",
            "delete_passwords_after_days",
        ] {
            if let Some(days) = stage_days(&stages, stage)
                && days < threshold
                && (entry.value.remediation.is_some() || entry.value.max_idle_days.is_some())
            {
                problems.push(Problem {
                    source: entry.value.remediation.as_ref().map_or(entry.source.clone(), |r| r.source.clone()),
                    message: format!(
                        "account {id}: `{stage}` is {days}, below its reporting threshold of {threshold} days"
                    ),
                });
            }
        }
    }
    Some(Remediation {
        policy: section.policy,
        role: role?,
        max_actions: section
            .max_actions
            .map_or(DEFAULT_MAX_ACTIONS, |n| n as usize),
    })
}

fn stage_days(policy: &RemediationPolicy, stage: &str) -> Option<u32> {
    match stage {
        "deactivate_keys_after_days" => policy.deactivate_keys_after_days,
        "delete_inactive_keys_after_days" => policy.delete_inactive_keys_after_days,
        _ => policy.delete_passwords_after_days,
    }
}

fn default_text(settings: &Settings, setting: Setting) -> String {
    match setting {
        Setting::RoleName => match &settings.defaults.role {
            RoleSpec::Name(name) => name.clone(),
            RoleSpec::Arns(arns) => arns.join(" → "),
        },
        Setting::ExternalId => "(none)".to_owned(),
        Setting::SessionName => settings.defaults.session_name.clone(),
        Setting::MaxIdleDays => settings.defaults.policy.max_idle_days.to_string(),
        Setting::Mode => settings.mode.as_str().to_owned(),
        Setting::Concurrency => settings.concurrency.to_string(),
        Setting::Rate => settings.rate.to_string(),
        Setting::TopicArn => "(none: no digest)".to_owned(),
        Setting::Notify => settings.notify.as_str().to_owned(),
        Setting::ReportBucket => "(none: reports stay local)".to_owned(),
        Setting::ReportPrefix => "(none)".to_owned(),
        Setting::StateDir => "(none: the report bucket, if any)".to_owned(),
        Setting::AttemptTimeout => settings.attempt_timeout.as_secs().to_string(),
        Setting::CallTimeout => settings.call_timeout.as_secs().to_string(),
    }
}

fn display(value: &SettingValue) -> String {
    match value {
        SettingValue::Text(text) => text.clone(),
        SettingValue::Number(number) => number.to_string(),
        SettingValue::Mode(mode) => mode.as_str().to_owned(),
        SettingValue::Notify(notify) => notify.as_str().to_owned(),
    }
}

fn describe_selection(selection: &Selection) -> String {
    match selection {
        Selection::Organization {
            include_ous,
            exclude_accounts,
        } => {
            let mut text = "every ACTIVE account of the organization".to_owned();
            if !include_ous.is_empty() {
                text.push_str(&format!(" under {}", include_ous.join(", ")));
            }
            if !exclude_accounts.is_empty() {
                let ids: Vec<&str> = exclude_accounts.iter().map(String::as_str).collect();
                text.push_str(&format!(", except {}", ids.join(", ")));
            }
            text
        }
        Selection::Accounts(accounts) => {
            let ids: Vec<String> = accounts
                .iter()
                .map(|account| {
                    let mut text = account.id.clone();
                    if let Some(name) = &account.name {
                        text.push_str(&format!(" ({name})"));
                    }
                    if let Some(profile) = &account.profile {
                        text.push_str(&format!(" profile {profile}"));
                    }
                    if !account.tags.is_empty() {
                        text.push_str(&format!(" [{}]", account.tags.join(", ")));
                    }
                    text
                })
                .collect();
            format!("only {}", ids.join(", "))
        }
    }
}

fn selection_source(file: &FileConfig, inputs: &Inputs<'_>) -> Source {
    if !inputs.accounts.is_empty() {
        return Source::Flag("--account");
    }
    file.accounts
        .as_ref()
        .map(|accounts| accounts.source.clone())
        .or_else(|| {
            file.organization
                .enabled
                .as_ref()
                .map(|enabled| enabled.source.clone())
        })
        .or_else(|| {
            file.organization
                .include_ous
                .first()
                .map(|ou| ou.source.clone())
        })
        .unwrap_or(Source::Default)
}

fn describe_exemption(exemption: &Exemption) -> String {
    match exemption {
        Exemption::UserName(pattern) => format!("user name `{pattern}`"),
        Exemption::Tag { key, value } => format!("tag `{key}={value}`"),
    }
}

impl Effective {
    /// The effective configuration as text, one setting a line with its source.
    pub fn render(&self) -> String {
        let width = self
            .sources
            .iter()
            .map(|(name, _, _)| name.len())
            .max()
            .unwrap_or(0);
        let value_width = self
            .sources
            .iter()
            .map(|(_, value, _)| value.chars().count())
            .max()
            .unwrap_or(0)
            .min(60);
        self.sources
            .iter()
            .map(|(name, value, source)| {
                format!("{name:<width$}  {value:<value_width$}  ({source})\n")
            })
            .collect()
    }
}
