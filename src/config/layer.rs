//! The settings that every layer (file, environment, command line) may set, and how a text
//! value becomes a checked one. One table, [`Setting`], names each setting's file key,
//! environment variable and flag, so the three layers cannot drift apart.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use super::problem::{Problem, Source, Sourced};
use super::{
    Notify, RoleSpec, Secret, Settings, check_arn, is_external_id, is_role_name, is_session_name,
};
use crate::scan::Mode;

/// A setting that the file's `defaults`/`notification`, the environment and the command line
/// can all give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    /// The audit role's name.
    RoleName,
    /// The audit role's ExternalId.
    ExternalId,
    /// The role session name.
    SessionName,
    /// The threshold in days.
    MaxIdleDays,
    /// Report or api.
    Mode,
    /// Accounts at once.
    Concurrency,
    /// Requests per second per account.
    Rate,
    /// The digest's topic.
    TopicArn,
    /// When to send the digest.
    Notify,
    /// The S3 bucket that keeps reports (and journals).
    ReportBucket,
    /// The key prefix in that bucket.
    ReportPrefix,
    /// A local directory for the state kept from run to run, when there is no bucket.
    StateDir,
    /// The longest one attempt of an AWS call may take, in seconds.
    AttemptTimeout,
    /// The longest an AWS call may take, retries included, in seconds.
    CallTimeout,
    /// Accounts per batch of a fanned-out run.
    BatchSize,
    /// Whether findings are imported into AWS Security Hub.
    SecurityHub,
    /// Report-mode findings are confirmed live when the credential report is older than this
    /// many minutes.
    ConfirmAfter,
}

impl Setting {
    /// Every setting, in display order.
    pub const ALL: [Setting; 17] = [
        Setting::RoleName,
        Setting::ExternalId,
        Setting::SessionName,
        Setting::MaxIdleDays,
        Setting::Mode,
        Setting::ConfirmAfter,
        Setting::Concurrency,
        Setting::Rate,
        Setting::TopicArn,
        Setting::Notify,
        Setting::ReportBucket,
        Setting::ReportPrefix,
        Setting::StateDir,
        Setting::SecurityHub,
        Setting::AttemptTimeout,
        Setting::CallTimeout,
        Setting::BatchSize,
    ];

    /// The key in the configuration file (under `defaults:`, `notification:` or `reports:`).
    pub fn key(self) -> &'static str {
        match self {
            Setting::RoleName => "role_name",
            Setting::ExternalId => "external_id",
            Setting::SessionName => "session_name",
            Setting::MaxIdleDays => "max_idle_days",
            Setting::Mode => "mode",
            Setting::Concurrency => "concurrency",
            Setting::Rate => "rate",
            Setting::TopicArn => "topic_arn",
            Setting::Notify => "send",
            Setting::ReportBucket => "bucket",
            Setting::ReportPrefix => "prefix",
            Setting::StateDir => "state_dir",
            Setting::AttemptTimeout => "attempt_timeout_seconds",
            Setting::CallTimeout => "call_timeout_seconds",
            Setting::BatchSize => "batch_size",
            Setting::SecurityHub => "security_hub",
            Setting::ConfirmAfter => "confirm_after_minutes",
        }
    }

    /// The environment variable.
    pub fn env(self) -> &'static str {
        match self {
            Setting::RoleName => "STALECREDS_ROLE_NAME",
            Setting::ExternalId => "STALECREDS_EXTERNAL_ID",
            Setting::SessionName => "STALECREDS_SESSION_NAME",
            Setting::MaxIdleDays => "STALECREDS_MAX_IDLE_DAYS",
            Setting::Mode => "STALECREDS_MODE",
            Setting::Concurrency => "STALECREDS_CONCURRENCY",
            Setting::Rate => "STALECREDS_RATE",
            Setting::TopicArn => "STALECREDS_TOPIC_ARN",
            Setting::Notify => "STALECREDS_NOTIFY",
            Setting::ReportBucket => "STALECREDS_REPORT_BUCKET",
            Setting::ReportPrefix => "STALECREDS_REPORT_PREFIX",
            Setting::StateDir => "STALECREDS_STATE_DIR",
            Setting::AttemptTimeout => "STALECREDS_ATTEMPT_TIMEOUT",
            Setting::CallTimeout => "STALECREDS_CALL_TIMEOUT",
            Setting::BatchSize => "STALECREDS_BATCH_SIZE",
            Setting::SecurityHub => "STALECREDS_SECURITY_HUB",
            Setting::ConfirmAfter => "STALECREDS_CONFIRM_AFTER_MINUTES",
        }
    }

    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            Setting::RoleName => "--role-name",
            Setting::ExternalId => "--external-id",
            Setting::SessionName => "--session-name",
            Setting::MaxIdleDays => "--max-idle-days",
            Setting::Mode => "--mode",
            Setting::Concurrency => "--concurrency",
            Setting::Rate => "--rate",
            Setting::TopicArn => "--topic-arn",
            Setting::Notify => "--notify",
            Setting::ReportBucket => "--report-bucket",
            Setting::ReportPrefix => "--report-prefix",
            Setting::StateDir => "--state-dir",
            Setting::AttemptTimeout => "--attempt-timeout",
            Setting::CallTimeout => "--call-timeout",
            Setting::BatchSize => "--batch-size",
            Setting::SecurityHub => "--security-hub",
            Setting::ConfirmAfter => "--confirm-after-minutes",
        }
    }

    /// Whether the value is secret-ish and never printed.
    pub fn is_secret(self) -> bool {
        self == Setting::ExternalId
    }

    /// The section of the configuration file it is under.
    pub fn section(self) -> &'static str {
        match self {
            Setting::TopicArn | Setting::Notify => "notification",
            Setting::ReportBucket
            | Setting::ReportPrefix
            | Setting::StateDir
            | Setting::SecurityHub => "reports",
            _ => "defaults",
        }
    }

    /// The settings of `section`, in table order.
    pub fn of(section: &str) -> impl Iterator<Item = Setting> + '_ {
        Setting::ALL
            .into_iter()
            .filter(move |setting| setting.section() == section)
    }

    /// Sets `value` (of the kind `check_text` gives this setting) in `settings`; a problem when
    /// it cannot stand (a prefix without a bucket: the bucket comes first in the table).
    pub(crate) fn apply(self, value: &SettingValue, settings: &mut Settings) -> Result<(), String> {
        match (self, value) {
            (Setting::RoleName, SettingValue::Text(name)) => {
                settings.defaults.role = RoleSpec::Name(name.clone());
            }
            (Setting::ExternalId, SettingValue::Text(id)) => {
                settings.defaults.external_id = Some(Secret::new(id.clone()));
            }
            (Setting::SessionName, SettingValue::Text(name)) => {
                settings.defaults.session_name = name.clone();
            }
            (Setting::MaxIdleDays, SettingValue::Number(days)) => {
                settings.defaults.policy.max_idle_days = *days;
            }
            (Setting::Mode, SettingValue::Mode(mode)) => settings.mode = *mode,
            (Setting::Concurrency, SettingValue::Number(n)) => {
                settings.concurrency = NonZeroUsize::new(*n as usize).unwrap_or(NonZeroUsize::MIN);
            }
            (Setting::Rate, SettingValue::Number(n)) => {
                settings.rate = NonZeroU32::new(*n).unwrap_or(NonZeroU32::MIN);
            }
            (Setting::TopicArn, SettingValue::Text(arn)) => settings.topic_arn = Some(arn.clone()),
            (Setting::Notify, SettingValue::Notify(notify)) => settings.notify = *notify,
            (Setting::ReportBucket, SettingValue::Text(bucket)) => {
                settings.report_bucket = Some((bucket.clone(), String::new()));
            }
            (Setting::ReportPrefix, SettingValue::Text(prefix)) => match &mut settings.report_bucket {
                Some((_, kept)) => *kept = prefix.clone(),
                None => return Err("a report prefix is given without a bucket (`reports.bucket`, STALECREDS_REPORT_BUCKET or --report-bucket)".to_owned()),
            },
            (Setting::StateDir, SettingValue::Text(dir)) => settings.state_dir = Some(dir.into()),
            (Setting::AttemptTimeout, SettingValue::Number(seconds)) => {
                settings.attempt_timeout = Duration::from_secs(u64::from(*seconds));
            }
            (Setting::CallTimeout, SettingValue::Number(seconds)) => {
                settings.call_timeout = Duration::from_secs(u64::from(*seconds));
            }
            (Setting::BatchSize, SettingValue::Number(size)) => settings.batch_size = *size as usize,
            (Setting::SecurityHub, SettingValue::Flag(on)) => settings.security_hub = *on,
            (Setting::ConfirmAfter, SettingValue::Number(minutes)) => {
                settings.confirm_after = Duration::from_secs(u64::from(*minutes) * 60);
            }
            // The layers only ever hold the value kind `check_text` gives each setting.
            _ => unreachable!("{self:?} holds {value:?}"),
        }
        Ok(())
    }

    /// The default, as `stalecreds config` shows it.
    pub(crate) fn default_text(self, settings: &Settings) -> String {
        match self {
            Setting::RoleName => match &settings.defaults.role {
                RoleSpec::Name(name) => name.clone(),
                RoleSpec::Arns(arns) => arns.join(" → "),
            },
            Setting::ExternalId | Setting::ReportPrefix => "(none)".to_owned(),
            Setting::SessionName => settings.defaults.session_name.clone(),
            Setting::MaxIdleDays => settings.defaults.policy.max_idle_days.to_string(),
            Setting::Mode => settings.mode.as_str().to_owned(),
            Setting::Concurrency => settings.concurrency.to_string(),
            Setting::Rate => settings.rate.to_string(),
            Setting::TopicArn => "(none: no digest)".to_owned(),
            Setting::Notify => settings.notify.as_str().to_owned(),
            Setting::ReportBucket => "(none: reports stay local)".to_owned(),
            Setting::StateDir => "(none: the report bucket, if any)".to_owned(),
            Setting::AttemptTimeout => settings.attempt_timeout.as_secs().to_string(),
            Setting::CallTimeout => settings.call_timeout.as_secs().to_string(),
            Setting::BatchSize => settings.batch_size.to_string(),
            Setting::SecurityHub => "false (no import)".to_owned(),
            Setting::ConfirmAfter => (settings.confirm_after.as_secs() / 60).to_string(),
        }
    }

    /// A given value, as `stalecreds config` shows it (never a secret).
    pub(crate) fn shown(self, value: &SettingValue) -> String {
        if self.is_secret() {
            return "** set **".to_owned();
        }
        match value {
            SettingValue::Text(text) => text.clone(),
            SettingValue::Number(number) => number.to_string(),
            SettingValue::Mode(mode) => mode.as_str().to_owned(),
            SettingValue::Notify(notify) => notify.as_str().to_owned(),
            SettingValue::Flag(on) => on.to_string(),
        }
    }

    /// The inclusive range of a numeric setting.
    pub(crate) fn range(self) -> Option<(u32, u32)> {
        match self {
            Setting::MaxIdleDays => Some((1, 36_500)),
            Setting::Concurrency => Some((1, 1024)),
            Setting::Rate => Some((1, 10_000)),
            Setting::AttemptTimeout => Some((1, 600)),
            Setting::CallTimeout => Some((1, 3_600)),
            Setting::BatchSize => Some((1, 100_000)),
            Setting::ConfirmAfter => Some((0, 240)),
            _ => None,
        }
    }
}

/// A checked setting value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// A string setting.
    Text(String),
    /// A numeric setting.
    Number(u32),
    /// The mode.
    Mode(Mode),
    /// When to notify.
    Notify(Notify),
    /// On or off.
    Flag(bool),
}

/// Checks a number for `setting`.
pub(crate) fn check_number(setting: Setting, number: i128) -> Result<u32, String> {
    let (low, high) = setting.range().unwrap_or((0, u32::MAX));
    u32::try_from(number)
        .ok()
        .filter(|number| (low..=high).contains(number))
        .ok_or_else(|| format!("expected a whole number from {low} to {high}, found {number}"))
}

/// Checks the text of `setting` (from the environment, a flag, or a file scalar).
pub(crate) fn check_text(setting: Setting, text: &str) -> Result<SettingValue, String> {
    let text = text.trim();
    let shown = if setting.is_secret() {
        "the value given".to_owned()
    } else {
        format!("`{text}`")
    };
    match setting {
        Setting::MaxIdleDays
        | Setting::Concurrency
        | Setting::Rate
        | Setting::AttemptTimeout
        | Setting::CallTimeout
        | Setting::BatchSize
        | Setting::ConfirmAfter => text
            .parse::<i128>()
            .map_err(|_| {
                let (low, high) = setting.range().unwrap_or_default();
                format!("expected a whole number from {low} to {high}, found {shown}")
            })
            .and_then(|number| check_number(setting, number))
            .map(SettingValue::Number),
        Setting::Mode => match text {
            "report" => Ok(SettingValue::Mode(Mode::Report)),
            "api" => Ok(SettingValue::Mode(Mode::Api)),
            _ => Err(format!("expected `report` or `api`, found {shown}")),
        },
        Setting::Notify => match text.replace('-', "_").as_str() {
            "on_findings" => Ok(SettingValue::Notify(Notify::OnFindings)),
            "always" => Ok(SettingValue::Notify(Notify::Always)),
            "never" => Ok(SettingValue::Notify(Notify::Never)),
            _ => Err(format!(
                "expected `on_findings`, `always` or `never`, found {shown}"
            )),
        },
        Setting::RoleName if !is_role_name(text) => Err(format!(
            "expected a role name (1-64 letters, digits or +=,.@_-, optionally behind a path/), found {shown}"
        )),
        Setting::ExternalId if !is_external_id(text) => {
            Err("expected an external ID of 2-1224 letters, digits or +=,.@:/-_".to_owned())
        }
        Setting::SessionName if !is_session_name(text) => Err(format!(
            "expected a session name of 2-64 letters, digits or +=,.@_-, found {shown}"
        )),
        Setting::TopicArn => check_arn(text, "sns").map(|()| SettingValue::Text(text.to_owned())),
        Setting::SecurityHub => match text {
            "true" => Ok(SettingValue::Flag(true)),
            "false" => Ok(SettingValue::Flag(false)),
            _ => Err(format!("expected `true` or `false`, found {shown}")),
        },
        Setting::ReportBucket if !is_bucket_name(text) => Err(format!(
            "expected an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens), found {shown}"
        )),
        Setting::ReportPrefix if text.starts_with('/') || text.chars().any(char::is_control) => {
            Err(format!(
                "expected a key prefix without a leading `/` or control characters, found {shown}"
            ))
        }
        Setting::StateDir if text.is_empty() || text.chars().any(char::is_control) => Err(format!(
            "expected a directory path without control characters, found {shown}"
        )),
        Setting::ReportBucket | Setting::ReportPrefix | Setting::StateDir => {
            Ok(SettingValue::Text(text.to_owned()))
        }
        Setting::RoleName | Setting::ExternalId | Setting::SessionName => {
            Ok(SettingValue::Text(text.to_owned()))
        }
    }
}

/// Whether `name` is an S3 bucket name.
fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The settings one layer gives; everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    values: Vec<(Setting, Sourced<SettingValue>)>,
}

impl Layer {
    /// Sets a checked value (the last one set wins).
    pub fn set(&mut self, setting: Setting, value: SettingValue, source: Source) {
        self.values.retain(|(known, _)| *known != setting);
        self.values.push((setting, Sourced { value, source }));
    }

    /// Checks `text` and sets it, or returns the problem.
    pub fn set_text(
        &mut self,
        setting: Setting,
        text: &str,
        source: Source,
    ) -> Result<(), Problem> {
        match check_text(setting, text) {
            Ok(value) => {
                self.set(setting, value, source);
                Ok(())
            }
            Err(message) => Err(Problem { source, message }),
        }
    }

    /// The value of `setting` in this layer.
    pub fn get(&self, setting: Setting) -> Option<&Sourced<SettingValue>> {
        self.values
            .iter()
            .find(|(known, _)| *known == setting)
            .map(|(_, value)| value)
    }

    /// The environment layer: each setting's `STALECREDS_*` variable, read through `lookup`.
    /// An empty variable counts as unset.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> (Layer, Vec<Problem>) {
        let mut layer = Layer::default();
        let mut problems = Vec::new();
        for setting in Setting::ALL {
            if let Some(text) = lookup(setting.env()).filter(|text| !text.trim().is_empty())
                && let Err(problem) = layer.set_text(setting, &text, Source::Env(setting.env()))
            {
                problems.push(problem);
            }
        }
        (layer, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_distinct_names_in_every_layer() {
        let mut keys: Vec<_> = Setting::ALL.iter().map(|s| s.key()).collect();
        let mut envs: Vec<_> = Setting::ALL.iter().map(|s| s.env()).collect();
        let mut flags: Vec<_> = Setting::ALL.iter().map(|s| s.flag()).collect();
        for names in [&mut keys, &mut envs, &mut flags] {
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), Setting::ALL.len());
        }
    }

    #[test]
    fn text_values_are_checked() {
        assert_eq!(
            check_text(Setting::Rate, "25"),
            Ok(SettingValue::Number(25))
        );
        assert!(check_text(Setting::Rate, "0").is_err());
        assert!(check_text(Setting::MaxIdleDays, "forty").is_err());
        assert_eq!(
            check_text(Setting::Notify, "on-findings"),
            Ok(SettingValue::Notify(Notify::OnFindings))
        );
        assert!(check_text(Setting::Mode, "fast").is_err());
        let secret = check_text(Setting::ExternalId, "x").expect_err("too short");
        assert!(
            !secret.contains("`x`"),
            "the external ID is never echoed: {secret}"
        );
    }

    #[test]
    fn the_environment_layer_reads_stalecreds_variables() {
        let lookup = |name: &str| match name {
            "STALECREDS_RATE" => Some("7".to_owned()),
            "STALECREDS_MODE" => Some("sideways".to_owned()),
            "STALECREDS_ROLE_NAME" => Some(String::new()),
            _ => None,
        };
        let (layer, problems) = Layer::from_env(&lookup);
        assert_eq!(
            layer.get(Setting::Rate).map(|v| &v.value),
            Some(&SettingValue::Number(7))
        );
        assert_eq!(layer.get(Setting::RoleName), None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].source, Source::Env("STALECREDS_MODE"));
    }
}
