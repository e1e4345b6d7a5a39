//! Merging the layers: command-line flag > environment variable > file > built-in default, and
//! the checks that span layers. Every problem of every layer is collected before anything is
//! decided.

use std::collections::{BTreeMap, BTreeSet};

use super::display;
use super::display::Effective;
use super::file::{self, FileConfig};
use super::layer::{Layer, Setting, SettingValue};
use super::problem::{ConfigError, Problem, Source, Sourced};
use super::{
    AccountOverride, AccountSpec, Notify, Remediation, RemediationRole, Selection, Settings,
    is_account_id,
};
use crate::remediate::{DEFAULT_MAX_ACTIONS, Stage};

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

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration has problems.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Reads the configuration file at `path`, if any, and resolves it with the environment
/// (`env`), the `flags` and the `--account` values: what both front ends do before anything
/// else.
pub fn load(
    path: Option<&std::path::Path>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: Vec<(Setting, String)>,
    accounts: Vec<String>,
) -> Result<Effective, LoadError> {
    let text = path
        .map(|path| {
            std::fs::read_to_string(path).map_err(|source| LoadError::File {
                path: path.to_owned(),
                source,
            })
        })
        .transpose()?;
    let shown = path.map(|path| path.display().to_string());
    let inputs = Inputs {
        file: shown.as_deref().zip(text.as_deref()),
        env,
        flags,
        accounts,
    };
    Ok(resolve(inputs)?)
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
    let flags = flag_layer(&inputs.flags, &mut problems);
    let flag_accounts = flag_accounts(&inputs.accounts, &mut problems);
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
    settings.defaults.policy.owner_tags = file.owners.tag_keys.clone();
    settings.group_digest_by_owner = file.owners.group_digest;
    let mut sources = apply(&merged, &mut settings, &mut problems);
    settings.remediation = remediation(
        &file,
        &settings,
        merged(Setting::MaxIdleDays),
        &mut problems,
    );
    cross_checks(&settings, &merged, &mut problems);
    if !problems.is_empty() {
        // The file's problems in the order of the file, then the environment's, then the flags'.
        problems.sort_by_key(|problem| match &problem.source {
            Source::File { at, .. } => (0, *at),
            Source::Default => (0, Default::default()),
            Source::Env(_) => (1, Default::default()),
            Source::Flag(_) => (2, Default::default()),
        });
        return Err(ConfigError {
            problems,
            texts,
            secrets: file.secrets,
            masked_lines: file.masked_lines,
        });
    }
    sources.extend(display::described(
        &settings,
        &file,
        !inputs.accounts.is_empty(),
    ));
    Ok(Effective { settings, sources })
}

/// The command line's layer.
fn flag_layer(given: &[(Setting, String)], problems: &mut Vec<Problem>) -> Layer {
    let mut flags = Layer::default();
    for (setting, text) in given {
        if let Err(problem) = flags.set_text(*setting, text, Source::Flag(setting.flag())) {
            problems.push(problem);
        }
    }
    flags
}

/// Applies every setting's merged value (`merged`) to `settings`: each setting's key, shown
/// value and source, for `stalecreds config`.
fn apply<'a>(
    merged: &dyn Fn(Setting) -> Option<&'a Sourced<SettingValue>>,
    settings: &mut Settings,
    problems: &mut Vec<Problem>,
) -> Vec<(&'static str, String, Source)> {
    let mut sources = Vec::new();
    for setting in Setting::ALL.iter().copied() {
        let Some(Sourced { value, source }) = merged(setting) else {
            sources.push((
                setting.key(),
                setting.default_text().to_owned(),
                Source::Default,
            ));
            continue;
        };
        if let Err(message) = setting.apply(value, settings) {
            problems.push(Problem {
                source: source.clone(),
                message,
            });
        }
        sources.push((setting.key(), setting.shown(value), source.clone()));
    }
    sources
}

/// The `--account` values that are account IDs, each once.
fn flag_accounts(given: &[String], problems: &mut Vec<Problem>) -> Vec<String> {
    let mut accounts: Vec<String> = Vec::new();
    for id in given {
        let source = Source::Flag("--account");
        let message = if !is_account_id(id) {
            format!("expected an account ID of exactly 12 digits, found `{id}`")
        } else if accounts.contains(id) {
            format!("account {id} is given twice")
        } else {
            accounts.push(id.clone());
            continue;
        };
        problems.push(Problem { source, message });
    }
    accounts
}

/// The checks that span settings: a digest needs a topic; a call outlasts one attempt.
fn cross_checks<'a>(
    settings: &Settings,
    merged: &dyn Fn(Setting) -> Option<&'a Sourced<SettingValue>>,
    problems: &mut Vec<Problem>,
) {
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
    if settings.owner_messages
        && let Some(Sourced { source, .. }) = merged(Setting::OwnerMessages)
    {
        let missing = match (
            settings.defaults.policy.owner_tags.is_empty(),
            settings.topic_arn.is_none(),
        ) {
            (true, _) => Some("owners to tell: set `owners.tag_keys`"),
            (false, true) => Some("a topic: set `notification.topic_arn`"),
            (false, false) => None,
        };
        if let Some(missing) = missing {
            problems.push(Problem {
                source: source.clone(),
                message: format!("owner messages are asked for, but there are no {missing}"),
            });
        }
    }
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
}

/// Whether organization mode is off (`organization.enabled: false`, or an `accounts:` list);
/// a problem when the file asks for both, or filters an organization it does not scan.
fn organization_off(file: &FileConfig, problems: &mut Vec<Problem>) -> bool {
    let organization = &file.organization;
    let enabled = organization.enabled.as_ref().map(|enabled| enabled.value);
    if let (Some(true), Some(accounts)) = (enabled, &file.accounts) {
        problems.push(Problem {
            source: accounts.source.clone(),
            message: "`accounts:` lists accounts, but `organization.enabled` is true: choose one"
                .to_owned(),
        });
    }
    let off = enabled == Some(false) || (enabled.is_none() && file.accounts.is_some());
    if off {
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
    off
}

/// The accounts to scan: `--account` beats the file's list, which excludes organization mode.
fn selection(
    file: &FileConfig,
    flag_accounts: Vec<String>,
    problems: &mut Vec<Problem>,
) -> Selection {
    let organization = &file.organization;
    let organization_off = organization_off(file, problems);
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
        let role =
            entry.value.role_arns.is_some() || entry.value.layer.get(Setting::RoleName).is_some();
        if role && listed.contains(id.as_str()) {
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
                role_arns: entry.value.role_arns.clone(),
                values: entry
                    .value
                    .layer
                    .values()
                    .map(|(setting, given)| (setting, given.value.clone()))
                    .collect(),
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
    stages_after_thresholds(file, settings, threshold_source, problems);
    Some(Remediation {
        policy: section.policy,
        role: role?,
        max_actions: section
            .max_actions
            .map_or(DEFAULT_MAX_ACTIONS, |n| n as usize),
    })
}

/// Every stage acts at or after its account's reporting threshold: a problem for each that
/// would change a credential before it is reported.
fn stages_after_thresholds(
    file: &FileConfig,
    settings: &Settings,
    threshold_source: Option<&Sourced<SettingValue>>,
    problems: &mut Vec<Problem>,
) {
    let section = &file.remediation;
    let threshold_from = threshold_source.map_or_else(
        || "the default".to_owned(),
        |value| value.source.to_string(),
    );
    let default_days = settings.defaults.policy.max_idle_days;
    for (stage, source) in &section.stage_sources {
        if stage.follows_idle_threshold()
            && let Some(days) = stage.days(&section.policy)
            && days < default_days
        {
            problems.push(Problem {
                source: source.clone(),
                message: format!(
                    "`remediation.{}` is {days}, below the reporting threshold of {default_days} days ({threshold_from}): a credential would be changed before it is reported",
                    stage.key()
                ),
            });
        }
    }
    for (id, entry) in &file.overrides {
        let days_given = entry.value.layer.get(Setting::MaxIdleDays);
        let threshold = match days_given {
            Some(Sourced {
                value: SettingValue::Number(days),
                ..
            }) => *days,
            _ => default_days,
        };
        let stages = entry
            .value
            .remediation
            .as_ref()
            .map_or(section.policy, |r| r.value);
        for stage in Stage::ALL
            .into_iter()
            .filter(|stage| stage.follows_idle_threshold())
        {
            if let Some(days) = stage.days(&stages)
                && days < threshold
                && (entry.value.remediation.is_some() || days_given.is_some())
            {
                problems.push(Problem {
                    source: entry.value.remediation.as_ref().map_or(entry.source.clone(), |r| r.source.clone()),
                    message: format!(
                        "account {id}: `{}` is {days}, below its reporting threshold of {threshold} days",
                        stage.key()
                    ),
                });
            }
        }
    }
}
