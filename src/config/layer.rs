//! The settings that every layer (file, environment, command line) may set: one table,
//! [`settings!`], where each setting is one row (its section and key, environment variable,
//! flag, kind with its range or choices, default, one-line doc, whether an account may override
//! it, and how it applies to [`Settings`]). The CLI's flags, the environment reader, the file's
//! settings sections, `stalecreds config` and the defaults all come from the rows; a test holds
//! docs/configuration.md's table against them. A row missing a field does not compile.

use std::time::Duration;

use super::problem::{Problem, Source, Sourced};
use super::{
    AccountDefaults, Notify, RoleSpec, Secret, Settings, check_arn, is_external_id, is_role_name,
    is_session_name,
};
use crate::scan::Mode;

/// The section of the configuration file a setting is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `defaults:`.
    Defaults,
    /// `notification:`.
    Notification,
    /// `reports:`.
    Reports,
}

impl Section {
    /// Every section, in the file's order.
    pub const ALL: [Section; 3] = [Section::Defaults, Section::Notification, Section::Reports];

    /// Its key in the file.
    pub fn key(self) -> &'static str {
        match self {
            Section::Defaults => "defaults",
            Section::Notification => "notification",
            Section::Reports => "reports",
        }
    }
}

/// What a setting's value is, and how its text is checked.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number in an inclusive range.
    Number {
        /// The least.
        min: u32,
        /// The most.
        max: u32,
    },
    /// `report` or `api`.
    Mode,
    /// `on_findings`, `always` or `never`.
    Notify,
    /// `true` or `false` (a switch on the command line).
    Flag,
    /// Text that `check` accepts; otherwise it says what was expected, and what was found as
    /// its second argument shows it (a secret's is never its value).
    Text {
        /// The check.
        check: fn(&str, &str) -> Result<(), String>,
        /// Never shown: not in errors, not in `stalecreds config`.
        secret: bool,
    },
}

/// A setting's default.
#[derive(Debug, Clone, Copy)]
pub enum Initial {
    /// This value, as its text would be given.
    Value(&'static str),
    /// None: unset, as `stalecreds config` says it.
    Unset(&'static str),
}

/// One row of the table: everything about one setting.
pub struct Row {
    /// Its section of the configuration file.
    pub section: Section,
    /// Its key in that section.
    pub key: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    /// Its command-line flag.
    pub flag: &'static str,
    /// The flag's value, as its help names it (empty for a switch).
    pub value: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its default.
    pub default: Initial,
    /// What it does, in one line (the flag's help).
    pub doc: &'static str,
    /// How a checked value applies, and so whether an account of `overrides:` may set it too.
    pub apply: Apply,
}

/// How a setting's checked value applies.
#[derive(Clone, Copy)]
pub enum Apply {
    /// To the run's settings; an error when it cannot stand.
    Run(fn(&mut Settings, &SettingValue) -> Result<(), String>),
    /// To how an account is reached and judged: the defaults, or one account's under
    /// `overrides:`.
    Account(fn(&mut AccountDefaults, &SettingValue)),
}

/// Defines [`Setting`] (one variant a row) and the rows, in one table.
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $variant:ident => $row:expr ),+ $(,)?) => {
        /// A setting: one row of the table (see the module's documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Setting {
            $( $(#[doc = $doc])* $variant ),+
        }

        impl Setting {
            /// Every setting, in the table's order.
            pub const ALL: &'static [Setting] = &[$(Setting::$variant),+];

            /// Its row.
            pub fn row(self) -> &'static Row {
                // The variants are declared in the rows' order: a variant's index is its row's.
                &ROWS[self as usize]
            }
        }

        static ROWS: &[Row] = &[$($row),+];
    };
}

settings! {
    /// The audit role's name.
    RoleName => Row {
        section: Section::Defaults, key: "role_name",
        env: "STALECREDS_ROLE_NAME", flag: "--role-name", value: "NAME",
        kind: Kind::Text { check: check_role_name, secret: false },
        default: Initial::Value("stalecreds-audit"),
        doc: "The audit role's name in member accounts (may carry a path)",
        apply: Apply::Account(|account, value| account.role = RoleSpec::Name(value.text())),
    },
    /// The audit role's ExternalId.
    ExternalId => Row {
        section: Section::Defaults, key: "external_id",
        env: "STALECREDS_EXTERNAL_ID", flag: "--external-id", value: "ID",
        kind: Kind::Text { check: check_external_id, secret: true },
        default: Initial::Unset("(none)"),
        doc: "The ExternalId the audit role's trust policy requires (prefer STALECREDS_EXTERNAL_ID: a flag shows in the process list)",
        apply: Apply::Account(|account, value| {
            if let SettingValue::Secret(id) = value {
                account.external_id = Some(id.clone());
            }
        }),
    },
    /// The role session name.
    SessionName => Row {
        section: Section::Defaults, key: "session_name",
        env: "STALECREDS_SESSION_NAME", flag: "--session-name", value: "NAME",
        kind: Kind::Text { check: check_session_name, secret: false },
        default: Initial::Value("stalecreds"),
        doc: "The role session name, shown in CloudTrail",
        apply: Apply::Run(|settings, value| {
            settings.defaults.session_name = value.text();
            Ok(())
        }),
    },
    /// The threshold in days.
    MaxIdleDays => Row {
        section: Section::Defaults, key: "max_idle_days",
        env: "STALECREDS_MAX_IDLE_DAYS", flag: "--max-idle-days", value: "N",
        kind: Kind::Number { min: 1, max: 36_500 },
        default: Initial::Value("45"),
        doc: "A credential unused for this many days or more is a finding (CIS 1.12: 45)",
        apply: Apply::Account(|account, value| account.policy.max_idle_days = value.number()),
    },
    /// SSH public keys this many days old or older are findings (0: not read).
    SshKeyMaxAge => Row {
        section: Section::Defaults, key: "ssh_key_max_age_days",
        env: "STALECREDS_SSH_KEY_MAX_AGE_DAYS", flag: "--ssh-key-max-age-days", value: "DAYS",
        kind: Kind::Number { min: 0, max: 36_500 },
        default: Initial::Value("0"),
        doc: "An active SSH public key (CodeCommit) this many days old or older is a finding; 0 (the default) turns the rule off: on, it costs one request per user",
        apply: Apply::Account(|account, value| account.policy.ages.ssh_key_days = value.number()),
    },
    /// Service-specific credentials this many days old or older are findings (0: off).
    ServiceCredentialMaxAge => Row {
        section: Section::Defaults, key: "service_credential_max_age_days",
        env: "STALECREDS_SERVICE_CREDENTIAL_MAX_AGE_DAYS", flag: "--service-credential-max-age-days", value: "DAYS",
        kind: Kind::Number { min: 0, max: 36_500 },
        default: Initial::Value("90"),
        doc: "An active service-specific credential (CodeCommit, Keyspaces, CloudWatch Logs API keys) this many days old or older is a finding; 0 turns the rule off",
        apply: Apply::Account(|account, value| account.policy.ages.service_credential_days = value.number()),
    },
    /// Bedrock long-term API keys this many days old or older are findings (0: off).
    BedrockApiKeyMaxAge => Row {
        section: Section::Defaults, key: "bedrock_api_key_max_age_days",
        env: "STALECREDS_BEDROCK_API_KEY_MAX_AGE_DAYS", flag: "--bedrock-api-key-max-age-days", value: "DAYS",
        kind: Kind::Number { min: 0, max: 36_500 },
        default: Initial::Value("30"),
        doc: "An active Amazon Bedrock long-term API key this many days old or older is a finding; 0 turns the rule off",
        apply: Apply::Account(|account, value| account.policy.ages.bedrock_api_key_days = value.number()),
    },
    /// Bedrock long-term API keys that may live longer than this are findings.
    BedrockApiKeyMaxLifetime => Row {
        section: Section::Defaults, key: "bedrock_api_key_max_lifetime_days",
        env: "STALECREDS_BEDROCK_API_KEY_MAX_LIFETIME_DAYS", flag: "--bedrock-api-key-max-lifetime-days", value: "DAYS",
        kind: Kind::Number { min: 0, max: 36_500 },
        default: Initial::Value("90"),
        doc: "An active Bedrock long-term API key that never expires, or expires more than this many days after its creation, is a finding (0: only one that never expires)",
        apply: Apply::Account(|account, value| account.policy.ages.bedrock_api_key_lifetime_days = value.number()),
    },
    /// Signing certificates this many days old or older are findings (0: off).
    SigningCertificateMaxAge => Row {
        section: Section::Defaults, key: "signing_certificate_max_age_days",
        env: "STALECREDS_SIGNING_CERTIFICATE_MAX_AGE_DAYS", flag: "--signing-certificate-max-age-days", value: "DAYS",
        kind: Kind::Number { min: 0, max: 36_500 },
        default: Initial::Value("90"),
        doc: "An active X.509 signing certificate this many days old or older is a finding; 0 turns the rule off",
        apply: Apply::Account(|account, value| account.policy.ages.signing_certificate_days = value.number()),
    },
    /// Report or api.
    Mode => Row {
        section: Section::Defaults, key: "mode",
        env: "STALECREDS_MODE", flag: "--mode", value: "MODE",
        kind: Kind::Mode,
        default: Initial::Value("report"),
        doc: "How IAM is read: `report` (the credential report, few requests) or `api` (per-user calls, live)",
        apply: Apply::Run(|settings, value| {
            if let SettingValue::Mode(mode) = value {
                settings.mode = *mode;
            }
            Ok(())
        }),
    },
    /// Report-mode findings are confirmed live when the credential report is older than this
    /// many minutes.
    ConfirmAfter => Row {
        section: Section::Defaults, key: "confirm_after_minutes",
        env: "STALECREDS_CONFIRM_AFTER_MINUTES", flag: "--confirm-after-minutes", value: "MINUTES",
        kind: Kind::Number { min: 0, max: 240 },
        default: Initial::Value("15"),
        doc: "Report mode: confirm findings live when the account's credential report is older than this many minutes (0: always)",
        apply: Apply::Run(|settings, value| {
            settings.confirm_after = Duration::from_secs(u64::from(value.number()) * 60);
            Ok(())
        }),
    },
    /// Accounts at once.
    Concurrency => Row {
        section: Section::Defaults, key: "concurrency",
        env: "STALECREDS_CONCURRENCY", flag: "--concurrency", value: "N",
        kind: Kind::Number { min: 1, max: 1024 },
        default: Initial::Value("16"),
        doc: "Accounts scanned at once",
        apply: Apply::Run(|settings, value| {
            settings.concurrency = value.number() as usize;
            Ok(())
        }),
    },
    /// Requests per second per account.
    Rate => Row {
        section: Section::Defaults, key: "rate",
        env: "STALECREDS_RATE", flag: "--rate", value: "R",
        kind: Kind::Number { min: 1, max: 10_000 },
        default: Initial::Value("10"),
        doc: "AWS requests per second per account",
        apply: Apply::Run(|settings, value| {
            settings.rate = value.number();
            Ok(())
        }),
    },
    /// The digest's topic.
    TopicArn => Row {
        section: Section::Notification, key: "topic_arn",
        env: "STALECREDS_TOPIC_ARN", flag: "--topic-arn", value: "ARN",
        kind: Kind::Text { check: check_topic_arn, secret: false },
        default: Initial::Unset("(none: no digest)"),
        doc: "The SNS topic that receives the digest",
        apply: Apply::Run(|settings, value| {
            settings.topic_arn = Some(value.text());
            Ok(())
        }),
    },
    /// When to send the digest.
    Notify => Row {
        section: Section::Notification, key: "send",
        env: "STALECREDS_NOTIFY", flag: "--notify", value: "WHEN",
        kind: Kind::Notify,
        default: Initial::Value("on_findings"),
        doc: "When the digest is sent: on-findings, always or never",
        apply: Apply::Run(|settings, value| {
            if let SettingValue::Notify(notify) = value {
                settings.notify = *notify;
            }
            Ok(())
        }),
    },
    /// Whether a run also sends one message per owner of findings.
    OwnerMessages => Row {
        section: Section::Notification, key: "owner_messages",
        env: "STALECREDS_OWNER_MESSAGES", flag: "--owner-messages", value: "",
        kind: Kind::Flag,
        default: Initial::Value("false"),
        doc: "Also publish one message per owner of findings (owners.tag_keys), with the owner as the message attribute `owner` for subscription filter policies (docs/digest.md)",
        apply: Apply::Run(|settings, value| {
            settings.owner_messages = value == &SettingValue::Flag(true);
            Ok(())
        }),
    },
    /// At most this many owner messages a run.
    MaxOwnerMessages => Row {
        section: Section::Notification, key: "max_owner_messages",
        env: "STALECREDS_MAX_OWNER_MESSAGES", flag: "--max-owner-messages", value: "N",
        kind: Kind::Number { min: 1, max: 10_000 },
        default: Initial::Value("100"),
        doc: "At most this many owner messages a run (the owners with the most findings first; the digest names the others)",
        apply: Apply::Run(|settings, value| {
            settings.max_owner_messages = value.number() as usize;
            Ok(())
        }),
    },
    /// The S3 bucket that keeps reports (and journals).
    ReportBucket => Row {
        section: Section::Reports, key: "bucket",
        env: "STALECREDS_REPORT_BUCKET", flag: "--report-bucket", value: "BUCKET",
        kind: Kind::Text { check: check_bucket_name, secret: false },
        default: Initial::Unset("(none: reports stay local)"),
        doc: "Keep the JSON report (and the remediation journal, and the state between runs) in this S3 bucket",
        apply: Apply::Run(|settings, value| {
            settings.report_bucket = Some((value.text(), String::new()));
            Ok(())
        }),
    },
    /// The key prefix in that bucket.
    ReportPrefix => Row {
        section: Section::Reports, key: "prefix",
        env: "STALECREDS_REPORT_PREFIX", flag: "--report-prefix", value: "PREFIX",
        kind: Kind::Text { check: check_prefix, secret: false },
        default: Initial::Unset("(none)"),
        doc: "The key prefix in the report bucket",
        apply: Apply::Run(|settings, value| match &mut settings.report_bucket {
            Some((_, kept)) => {
                *kept = value.text();
                Ok(())
            }
            None => Err("a report prefix is given without a bucket (`reports.bucket`, STALECREDS_REPORT_BUCKET or --report-bucket)".to_owned()),
        }),
    },
    /// A local directory for the state kept from run to run, when there is no bucket.
    StateDir => Row {
        section: Section::Reports, key: "state_dir",
        env: "STALECREDS_STATE_DIR", flag: "--state-dir", value: "DIR",
        kind: Kind::Text { check: check_directory, secret: false },
        default: Initial::Unset("(none: the report bucket, if any)"),
        doc: "A local directory for the state kept from run to run, when there is no report bucket",
        apply: Apply::Run(|settings, value| {
            settings.state_dir = Some(value.text().into());
            Ok(())
        }),
    },
    /// Whether findings are imported into AWS Security Hub.
    SecurityHub => Row {
        section: Section::Reports, key: "security_hub",
        env: "STALECREDS_SECURITY_HUB", flag: "--security-hub", value: "",
        kind: Kind::Flag,
        default: Initial::Value("false"),
        doc: "Import the findings into AWS Security Hub in the caller's account and region (open ones active, resolved ones archived; docs/outputs.md)",
        apply: Apply::Run(|settings, value| {
            settings.security_hub = value == &SettingValue::Flag(true);
            Ok(())
        }),
    },
    /// The CIS AWS Foundations versions findings are mapped to.
    CisVersions => Row {
        section: Section::Reports, key: "cis_versions",
        env: "STALECREDS_CIS_VERSIONS", flag: "--cis-versions", value: "VERSIONS",
        kind: Kind::Text { check: check_cis_versions, secret: false },
        default: Initial::Value("3.0.0, 5.0.0, 7.0.0"),
        doc: "The CIS AWS Foundations versions each finding is mapped to (of 3.0.0, 4.0.1, 5.0.0, 6.0.0, 7.0.0; docs/rules.md)",
        apply: Apply::Run(|settings, value| {
            settings.cis_versions = crate::rules::cis::parse_versions(&value.text())?;
            Ok(())
        }),
    },
    /// The longest one attempt of an AWS call may take, in seconds.
    AttemptTimeout => Row {
        section: Section::Defaults, key: "attempt_timeout_seconds",
        env: "STALECREDS_ATTEMPT_TIMEOUT", flag: "--attempt-timeout", value: "SECONDS",
        kind: Kind::Number { min: 1, max: 600 },
        default: Initial::Value("30"),
        doc: "The longest one attempt of an AWS call may take, in seconds",
        apply: Apply::Run(|settings, value| {
            settings.attempt_timeout = Duration::from_secs(u64::from(value.number()));
            Ok(())
        }),
    },
    /// The longest an AWS call may take, retries included, in seconds.
    CallTimeout => Row {
        section: Section::Defaults, key: "call_timeout_seconds",
        env: "STALECREDS_CALL_TIMEOUT", flag: "--call-timeout", value: "SECONDS",
        kind: Kind::Number { min: 1, max: 3_600 },
        default: Initial::Value("300"),
        doc: "The longest an AWS call may take, retries included, in seconds",
        apply: Apply::Run(|settings, value| {
            settings.call_timeout = Duration::from_secs(u64::from(value.number()));
            Ok(())
        }),
    },
    /// Accounts per batch of a fanned-out run.
    BatchSize => Row {
        section: Section::Defaults, key: "batch_size",
        env: "STALECREDS_BATCH_SIZE", flag: "--batch-size", value: "N",
        kind: Kind::Number { min: 1, max: 100_000 },
        default: Initial::Value("100"),
        doc: "Accounts per batch of a planned run (`stalecreds plan`)",
        apply: Apply::Run(|settings, value| {
            settings.batch_size = value.number() as usize;
            Ok(())
        }),
    },
}

impl Setting {
    /// The key in the configuration file (under its section).
    pub fn key(self) -> &'static str {
        self.row().key
    }

    /// The environment variable.
    pub fn env(self) -> &'static str {
        self.row().env
    }

    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        self.row().flag
    }

    /// The command-line flag without its dashes (its name for clap).
    pub fn flag_name(self) -> &'static str {
        self.flag().trim_start_matches("--")
    }

    /// Whether it is a switch: on the command line a flag without a value.
    pub fn is_switch(self) -> bool {
        matches!(self.row().kind, Kind::Flag)
    }

    /// The flag's help: the row's doc and, unless it is a switch, its default.
    pub fn help(self) -> String {
        let row = self.row();
        match row.default {
            Initial::Value(text) if !self.is_switch() => format!("{} [default: {text}]", row.doc),
            _ => row.doc.to_owned(),
        }
    }

    /// Whether the value is secret-ish and never printed.
    pub fn is_secret(self) -> bool {
        matches!(self.row().kind, Kind::Text { secret: true, .. })
    }

    /// The section of the configuration file it is under.
    pub fn section(self) -> &'static str {
        self.row().section.key()
    }

    /// The settings of `section`, in table order.
    pub fn of(section: &str) -> impl Iterator<Item = Setting> + '_ {
        Setting::ALL
            .iter()
            .copied()
            .filter(move |setting| setting.section() == section)
    }

    /// Sets `value` (of the kind `check_text` gives this setting) in `settings`; a problem when
    /// it cannot stand (a prefix without a bucket: the bucket comes first in the table).
    pub(crate) fn apply(self, value: &SettingValue, settings: &mut Settings) -> Result<(), String> {
        match self.row().apply {
            Apply::Run(apply) => apply(settings, value),
            Apply::Account(apply) => {
                apply(&mut settings.defaults, value);
                Ok(())
            }
        }
    }

    /// Whether an account of `overrides:` may set it too.
    pub fn per_account(self) -> bool {
        matches!(self.row().apply, Apply::Account(_))
    }

    /// Sets `value` in how one account is reached and judged; nothing for a setting an account
    /// cannot override (the file refuses it there).
    pub(crate) fn apply_to_account(self, value: &SettingValue, account: &mut AccountDefaults) {
        if let Apply::Account(apply) = self.row().apply {
            apply(account, value);
        }
    }

    /// The default, as `stalecreds config` shows it.
    pub(crate) fn default_text(self) -> &'static str {
        match self.row().default {
            Initial::Value(text) | Initial::Unset(text) => text,
        }
    }

    /// A given value, as `stalecreds config` shows it (never a secret).
    pub(crate) fn shown(self, value: &SettingValue) -> String {
        if self.is_secret() {
            return "** set **".to_owned();
        }
        match value {
            SettingValue::Secret(_) => "** set **".to_owned(),
            SettingValue::Text(text) => text.clone(),
            SettingValue::Number(number) => number.to_string(),
            SettingValue::Mode(mode) => mode.as_str().to_owned(),
            SettingValue::Notify(notify) => notify.as_str().to_owned(),
            SettingValue::Flag(on) => on.to_string(),
        }
    }

    /// The inclusive range of a numeric setting.
    pub(crate) fn range(self) -> Option<(u32, u32)> {
        match self.row().kind {
            Kind::Number { min, max } => Some((min, max)),
            _ => None,
        }
    }
}

/// Applies every setting's default to `settings`.
pub(crate) fn apply_defaults(settings: &mut Settings) {
    for setting in Setting::ALL {
        if let Initial::Value(text) = setting.row().default
            && let Ok(value) = check_text(*setting, text)
        {
            // A default stands (a test applies every one); were one refused, the setting's
            // zero value would stay.
            let _ = setting.apply(&value, settings);
        }
    }
}

/// A checked setting value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// A string setting.
    Text(String),
    /// A secret string setting: its `Debug` never shows it.
    Secret(Secret),
    /// A numeric setting.
    Number(u32),
    /// The mode.
    Mode(Mode),
    /// When to notify.
    Notify(Notify),
    /// On or off.
    Flag(bool),
}

impl SettingValue {
    /// The text of a text setting (empty for another kind: the table pairs kinds and rows).
    fn text(&self) -> String {
        match self {
            SettingValue::Text(text) => text.clone(),
            _ => String::new(),
        }
    }

    /// The number of a numeric setting (0 for another kind).
    fn number(&self) -> u32 {
        match self {
            SettingValue::Number(number) => *number,
            _ => 0,
        }
    }
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
    match setting.row().kind {
        Kind::Number { min, max } => text
            .parse::<i128>()
            .map_err(|_| format!("expected a whole number from {min} to {max}, found {shown}"))
            .and_then(|number| check_number(setting, number))
            .map(SettingValue::Number),
        Kind::Mode => match text {
            "report" => Ok(SettingValue::Mode(Mode::Report)),
            "api" => Ok(SettingValue::Mode(Mode::Api)),
            _ => Err(format!("expected `report` or `api`, found {shown}")),
        },
        Kind::Notify => match text.replace('-', "_").as_str() {
            "on_findings" => Ok(SettingValue::Notify(Notify::OnFindings)),
            "always" => Ok(SettingValue::Notify(Notify::Always)),
            "never" => Ok(SettingValue::Notify(Notify::Never)),
            _ => Err(format!(
                "expected `on_findings`, `always` or `never`, found {shown}"
            )),
        },
        Kind::Flag => match text {
            "true" => Ok(SettingValue::Flag(true)),
            "false" => Ok(SettingValue::Flag(false)),
            _ => Err(format!("expected `true` or `false`, found {shown}")),
        },
        Kind::Text { check, secret } => check(text, &shown).map(|()| {
            if secret {
                SettingValue::Secret(Secret::new(text))
            } else {
                SettingValue::Text(text.to_owned())
            }
        }),
    }
}

/// `Ok` when `valid`, else what was `expected` and what was found.
fn expect(valid: bool, expected: &str, shown: &str) -> Result<(), String> {
    if valid {
        return Ok(());
    }
    Err(format!("expected {expected}, found {shown}"))
}

fn check_role_name(text: &str, shown: &str) -> Result<(), String> {
    let expected = "a role name (1-64 letters, digits or +=,.@_-, optionally behind a path/)";
    expect(is_role_name(text), expected, shown)
}

/// The external ID's check says nothing of the value.
fn check_external_id(text: &str, _: &str) -> Result<(), String> {
    if is_external_id(text) {
        return Ok(());
    }
    Err("expected an external ID of 2-1224 letters, digits or +=,.@:/-_".to_owned())
}

fn check_session_name(text: &str, shown: &str) -> Result<(), String> {
    let expected = "a session name of 2-64 letters, digits or +=,.@_-";
    expect(is_session_name(text), expected, shown)
}

fn check_topic_arn(text: &str, _: &str) -> Result<(), String> {
    check_arn(text, "sns")
}

fn check_bucket_name(name: &str, shown: &str) -> Result<(), String> {
    let valid = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let expected = "an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)";
    expect(valid, expected, shown)
}

fn check_prefix(text: &str, shown: &str) -> Result<(), String> {
    let valid = !text.starts_with('/') && !text.chars().any(char::is_control);
    let expected = "a key prefix without a leading `/` or control characters";
    expect(valid, expected, shown)
}

fn check_cis_versions(text: &str, _: &str) -> Result<(), String> {
    crate::rules::cis::parse_versions(text).map(drop)
}

fn check_directory(text: &str, shown: &str) -> Result<(), String> {
    let valid = !text.is_empty() && !text.chars().any(char::is_control);
    let expected = "a directory path without control characters";
    expect(valid, expected, shown)
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

    /// Every value of this layer, in the order set.
    pub fn values(&self) -> impl Iterator<Item = (Setting, &Sourced<SettingValue>)> {
        self.values.iter().map(|(setting, value)| (*setting, value))
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
        for setting in Setting::ALL.iter().copied() {
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
    fn every_row_is_its_variants_and_every_default_stands() {
        assert_eq!(ROWS.len(), Setting::ALL.len());
        let mut settings = Settings::with_defaults(super::super::Selection::Accounts(Vec::new()));
        for setting in Setting::ALL.iter().copied() {
            assert!(setting.flag().starts_with("--"), "{setting:?}");
            assert!(setting.env().starts_with("STALECREDS_"), "{setting:?}");
            if let Initial::Value(text) = setting.row().default {
                let value = check_text(setting, text)
                    .unwrap_or_else(|why| panic!("{setting:?}'s default {text}: {why}"));
                setting
                    .apply(&value, &mut settings)
                    .unwrap_or_else(|why| panic!("{setting:?}'s default {text}: {why}"));
            }
        }
        assert_eq!(
            settings.attempt_timeout,
            crate::aws::DEFAULT_ATTEMPT_TIMEOUT
        );
        assert_eq!(settings.call_timeout, crate::aws::DEFAULT_CALL_TIMEOUT);
    }

    /// docs/configuration.md's precedence table says what the rows say: every setting once, in
    /// the table's order, with its key, variable, flag, default (and range), and whether an
    /// account may override it.
    #[test]
    fn the_documented_table_is_the_table() {
        let doc = include_str!("../../docs/configuration.md");
        let documented: Vec<Vec<&str>> = doc
            .lines()
            .filter(|line| line.starts_with("| `") && line.contains("`STALECREDS_"))
            .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
            .collect();
        assert_eq!(documented.len(), Setting::ALL.len(), "{documented:?}");
        for (setting, cells) in Setting::ALL.iter().copied().zip(&documented) {
            let key = format!("`{}.{}`", setting.section(), setting.key());
            assert_eq!(cells[0], key, "{setting:?}");
            assert_eq!(cells[1], format!("`{}`", setting.env()), "{setting:?}");
            assert_eq!(cells[2], format!("`{}`", setting.flag()), "{setting:?}");
            let default = cells[3];
            match setting.row().default {
                Initial::Value(text) => assert!(
                    default.starts_with(text) || default.starts_with(&format!("`{text}`")),
                    "{setting:?}: the documented default {default} is not {text}"
                ),
                Initial::Unset(_) => assert!(default.starts_with("none"), "{setting:?}"),
            }
            if let Some((low, high)) = setting.range() {
                assert!(
                    default.contains(&format!("({low}–{high})")),
                    "{setting:?}: {default} does not give the range {low}–{high}"
                );
            }
            let per_account = cells[4].trim_end_matches(" |").trim();
            assert_eq!(per_account == "yes", setting.per_account(), "{setting:?}");
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
