//! What `stalecreds config` shows: each setting's value and where it came from, and the
//! selection, overrides, remediation and exemptions in words. Never a secret.

use super::file::FileConfig;
use super::problem::Source;
use super::{RemediationRole, Selection, Setting, Settings};
use crate::remediate::Stage;
use crate::rules::Exemption;

/// The lines after the settings: the accounts, each override, remediation and exemptions.
pub(super) fn described(
    settings: &Settings,
    file: &FileConfig,
    by_flag: bool,
) -> Vec<(&'static str, String, Source)> {
    let mut sources = vec![(
        "accounts",
        describe_selection(&settings.selection),
        selection_source(file, by_flag),
    )];
    sources.extend(overrides(file));
    sources.extend(remediation(settings, file));
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
    if let Some(source) = &file.owners.source {
        let keys = &settings.defaults.policy.owner_tags;
        let grouped = if settings.group_digest_by_owner {
            "; the digest groups findings by owner"
        } else {
            ""
        };
        sources.push((
            "owners",
            format!("tag keys {}{grouped}", keys.join(", ")),
            source.clone(),
        ));
    }
    sources
}

/// One line per account of `overrides:`.
fn overrides(file: &FileConfig) -> impl Iterator<Item = (&'static str, String, Source)> + '_ {
    file.overrides.iter().map(|(id, entry)| {
        let mut parts = Vec::new();
        if let Some(arns) = &entry.value.role_arns {
            parts.push(format!("role {}", arns.join(" → ")));
        }
        for (setting, given) in entry.value.layer.values() {
            let name = match setting {
                Setting::RoleName => "role",
                _ => setting.key(),
            };
            parts.push(format!("{name} {}", setting.shown(&given.value)));
        }
        parts.extend(
            entry
                .value
                .exemptions
                .iter()
                .map(|exemption| format!("exempt {}", describe_exemption(exemption))),
        );
        (
            "override",
            format!("{id}: {}", parts.join(", ")),
            entry.source.clone(),
        )
    })
}

/// The remediation line, when remediation is configured.
fn remediation(settings: &Settings, file: &FileConfig) -> Option<(&'static str, String, Source)> {
    let remediation = settings.remediation.as_ref()?;
    let stages: Vec<String> = Stage::ALL
        .iter()
        .filter_map(|stage| {
            let days = stage.days(&remediation.policy)?;
            Some(format!("{} after {days} days", stage.words()))
        })
        .collect();
    let role = match &remediation.role {
        RemediationRole::Name(name) => format!("role {name}"),
        RemediationRole::AuditRole => "the audit role".to_owned(),
    };
    let stages = if stages.is_empty() {
        "per-account stages only".to_owned()
    } else {
        stages.join(", ")
    };
    Some((
        "remediation",
        format!(
            "{stages}; through {role}; at most {} changes per run; planned only, unless --apply",
            remediation.max_actions
        ),
        file.remediation.source.clone().unwrap_or(Source::Default),
    ))
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

fn selection_source(file: &FileConfig, by_flag: bool) -> Source {
    if by_flag {
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

/// The settings, and where each came from (for `stalecreds config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The settings.
    pub settings: super::Settings,
    /// Each setting's displayed value and its source, in display order.
    pub sources: Vec<(&'static str, String, super::Source)>,
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
