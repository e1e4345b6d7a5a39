//! The configuration file (`accounts.yaml`): its schema, read from the located YAML tree with
//! every problem collected, each with its line and column.
//!
//! The schema is documented in `docs/configuration.md`, and the top-level `accounts.yaml` is a
//! working example of it. The `accounts:` list accepts every field of a Cloud Custodian c7n-org
//! accounts file, so such a file can be passed as it is.

use std::collections::BTreeMap;

use super::layer::{Layer, Section, Setting, SettingValue, check_number, check_text};
use super::problem::{Problem, Source, Sourced};
use super::yaml::{self, Node, Position, Value};
use super::{AccountSpec, RoleSpec, Secret, check_arn, is_account_id};
use crate::remediate::{RemediationPolicy, Stage};
use crate::rules::Exemption;

/// What the configuration file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// `defaults:` and `notification:` settings.
    pub layer: Layer,
    /// `organization:`.
    pub organization: Organization,
    /// `accounts:`, the explicit list, with the position of its key.
    pub accounts: Option<Sourced<Vec<AccountSpec>>>,
    /// `overrides:`, by account ID.
    pub overrides: BTreeMap<String, Sourced<FileOverride>>,
    /// `exemptions:` that apply to every account.
    pub exemptions: Vec<Exemption>,
    /// Where `exemptions:` is.
    pub exemptions_source: Option<Source>,
    /// `remediation:`.
    pub remediation: FileRemediation,
    /// `owners:`.
    pub owners: Owners,
    /// The file's values that an error must never quote: every external ID, every value of a
    /// key that looks like a secret.
    pub(crate) secrets: Vec<String>,
    /// The lines of every unknown key's value (a mistyped `externl_id:` may hold anything): an
    /// error quotes them with the value masked.
    pub(crate) masked_lines: std::collections::BTreeSet<u64>,
}

/// The `owners:` section: which tags name a user's owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    /// Where the section is.
    pub source: Option<Source>,
    /// `tag_keys`, in order of preference.
    pub tag_keys: Vec<String>,
    /// `group_digest: true`: the digest groups findings by owner.
    pub group_digest: bool,
}

/// The `organization:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    /// `enabled:`, if given.
    pub enabled: Option<Sourced<bool>>,
    /// `include_ous:`: OU (or root) IDs whose accounts, nested OUs included, are scanned.
    pub include_ous: Vec<Sourced<String>>,
    /// `exclude_accounts:`: account IDs never scanned.
    pub exclude_accounts: Vec<Sourced<String>>,
}

/// One account's `overrides:` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOverride {
    /// Role ARNs assumed in turn (`role:`).
    pub role_arns: Option<Vec<String>>,
    /// The settings of the table an account may override, as given.
    pub layer: Layer,
    /// Exemptions added for this account.
    pub exemptions: Vec<Exemption>,
    /// Remediation stages for this account, replacing the default ones.
    pub remediation: Option<Sourced<RemediationPolicy>>,
}

/// The `remediation:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRemediation {
    /// Where the section is.
    pub source: Option<Source>,
    /// `role_name`: the remediation role.
    pub role_name: Option<Sourced<String>>,
    /// `use_audit_role: true`: the audit role was granted the remediation policy.
    pub use_audit_role: Option<Sourced<bool>>,
    /// The stages.
    pub policy: RemediationPolicy,
    /// Where each stage is, to point at it when it is below the threshold.
    pub stage_sources: Vec<(Stage, Source)>,
    /// `max_actions`.
    pub max_actions: Option<u32>,
}

const TOP: &[&str] = &[
    "defaults",
    "organization",
    "accounts",
    "overrides",
    "exemptions",
    "notification",
    "remediation",
    "reports",
    "owners",
    "vars",
];
const ORGANIZATION: &[&str] = &["enabled", "include_ous", "exclude_accounts"];
const ACCOUNT: &[&str] = &[
    "account_id",
    "name",
    "display_name",
    "email",
    "org_id",
    "role",
    "profile",
    "external_id",
    "tags",
    "regions",
    "vars",
];
/// An `overrides:` entry's keys besides the settings an account may override.
const OVERRIDE: &[&str] = &["role", "exemptions", "remediation"];
const EXEMPTIONS: &[&str] = &["user_names", "tags"];
const OWNERS: &[&str] = &["tag_keys", "group_digest"];

/// Reads the configuration file `path` whose content is `text`: what it says (the valid part),
/// and every problem found, in the order of the file.
pub fn read(path: &str, text: &str) -> (FileConfig, Vec<Problem>) {
    let mut reader = Reader {
        path,
        problems: Vec::new(),
        // A file that is not valid YAML has no tree: its secrets are found in its lines.
        secrets: secret_like_values(text),
        masked_lines: std::collections::BTreeSet::new(),
    };
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(error) => {
            let problem = Problem {
                source: reader.source(error.at.unwrap_or_default()),
                message: format!("not valid YAML: {}", error.message),
            };
            let config = FileConfig {
                secrets: reader.secrets,
                ..FileConfig::default()
            };
            return (config, vec![problem]);
        }
    };
    external_ids(&root, &mut reader.secrets);
    let mut config = FileConfig::default();
    if root.value == Value::Null {
        config.secrets = reader.secrets;
        return (config, Vec::new());
    }
    if let Some(top) = reader.map(&root, "the file", TOP) {
        reader.top(&top, &mut config);
    }
    // In the order of the file, whatever order the schema was walked in.
    reader
        .problems
        .sort_by_key(|problem| match &problem.source {
            Source::File { at, .. } => *at,
            _ => Position::default(),
        });
    config.secrets = reader.secrets;
    config.masked_lines = reader.masked_lines;
    (config, reader.problems)
}

impl Reader<'_> {
    /// The file's top level: each section into `config`.
    fn top(&mut self, top: &Fields<'_>, config: &mut FileConfig) {
        // The settings' sections: each key comes from the one table of settings.
        for section in Section::ALL.map(Section::key) {
            let keys: Vec<&str> = Setting::of(section).map(Setting::key).collect();
            let Some(fields) = top
                .get(section)
                .and_then(|node| self.map(node, section, &keys))
            else {
                continue;
            };
            for setting in Setting::of(section) {
                if let Some(node) = fields.get(setting.key()) {
                    let context = format!("{section}.{}", setting.key());
                    self.setting(&mut config.layer, setting, node, &context);
                }
            }
        }
        if let Some(node) = top.get("organization") {
            config.organization = self.organization(node);
        }
        if let Some((key, node)) = top.entry("accounts") {
            let accounts = self.accounts(node);
            config.accounts = Some(Sourced {
                value: accounts,
                source: self.source(key.at),
            });
        }
        if let Some(node) = top.get("overrides") {
            config.overrides = self.overrides(node);
        }
        if let Some((key, node)) = top.entry("remediation") {
            config.remediation = self.remediation(node, key.at);
        }
        if let Some((key, node)) = top.entry("exemptions") {
            config.exemptions = self.exemptions(node, "exemptions");
            config.exemptions_source = Some(self.source(key.at));
        }
        if let Some((key, node)) = top.entry("owners") {
            config.owners = self.owners(node, key.at);
        }
        // `vars:` (a c7n-org file's top level) is accepted and ignored.
        if let Some(node) = top.get("vars")
            && !matches!(node.value, Value::Map(_) | Value::Null)
        {
            self.expected(node, "vars", "a mapping");
        }
    }
}

/// Visits `node` and everything under it, keys and values, in the order of the file.
fn walk(node: &Node, visit: &mut dyn FnMut(&Node)) {
    visit(node);
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                walk(key, visit);
                walk(value, visit);
            }
        }
        Value::Seq(items) => items.iter().for_each(|item| walk(item, visit)),
        _ => {}
    }
}

/// The lines of `node` and of everything under it.
fn lines(node: &Node, into: &mut std::collections::BTreeSet<u64>) {
    walk(node, &mut |node| {
        into.insert(node.at.line);
    });
}

/// Every scalar under `node`, as written.
fn scalars(node: &Node, into: &mut Vec<String>) {
    walk(node, &mut |node| match &node.value {
        Value::Map(_) | Value::Seq(_) => {}
        Value::String(text) => into.push(text.clone()),
        _ => into.extend(node.raw.clone()),
    });
}

/// The values of every `external_id` key, wherever it is.
fn external_ids(node: &Node, into: &mut Vec<String>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                if matches!(&key.value, Value::String(name) if name == "external_id") {
                    scalars(value, into);
                } else {
                    external_ids(value, into);
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|item| external_ids(item, into)),
        _ => {}
    }
}

/// Whether a key's name looks like it holds a secret: an external ID however mistyped, a
/// secret, a token.
fn secret_like(key: &str) -> bool {
    let key = key.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    let lower = key.to_ascii_lowercase();
    similar("external_id", &lower)
        || similar("externalid", &lower)
        || ["extern", "secret", "token", "passw"]
            .iter()
            .any(|part| lower.contains(part))
}

/// The values that a line of the file gives a secret-looking key (`key: value`, in block or
/// flow style): found in the text, so that even a file that is not valid YAML never has its
/// secrets quoted.
fn secret_like_values(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(colon) = rest.find(':') {
            let (before, after) = rest.split_at(colon);
            let after = &after[1..];
            rest = after;
            if !(after.is_empty() || after.starts_with(char::is_whitespace)) {
                continue;
            }
            let key = before
                .rsplit(['{', ',', '['])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("- ");
            if !secret_like(key) {
                continue;
            }
            let value = after
                .split([',', '}', ']', '#'])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(|c: char| c == '"' || c == '\'');
            if !value.is_empty() {
                found.push(value.to_owned());
            }
        }
    }
    found
}

/// Collects problems while walking the tree.
struct Reader<'a> {
    path: &'a str,
    problems: Vec<Problem>,
    /// Values never to quote (see [`FileConfig::secrets`]).
    secrets: Vec<String>,
    /// Lines quoted only masked (see [`FileConfig::masked_lines`]).
    masked_lines: std::collections::BTreeSet<u64>,
}

/// A mapping's entries by key, with the key nodes kept for their positions.
struct Fields<'n> {
    entries: BTreeMap<String, (&'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.get(key).map(|(_, value)| *value)
    }

    fn entry(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries.get(key).copied()
    }
}

impl Reader<'_> {
    fn source(&self, at: Position) -> Source {
        Source::File {
            path: self.path.to_owned(),
            at,
        }
    }

    fn problem(&mut self, at: Position, message: impl Into<String>) {
        self.problems.push(Problem {
            source: self.source(at),
            message: message.into(),
        });
    }

    fn expected(&mut self, node: &Node, context: &str, what: &str) {
        let found = match (&node.value, &node.raw) {
            (Value::Map(_) | Value::Seq(_) | Value::Null, _) => node.value.kind().to_owned(),
            (_, Some(raw)) => format!("`{raw}`"),
            (value, None) => value.kind().to_owned(),
        };
        self.problem(
            node.at,
            format!("`{context}`: expected {what}, found {found}"),
        );
    }

    /// A mapping with string keys among `allowed`; unknown keys are problems. An empty value
    /// (a section whose keys are all commented out) is an empty mapping.
    fn map<'n>(&mut self, node: &'n Node, context: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        if node.value == Value::Null {
            return Some(Fields {
                entries: BTreeMap::new(),
            });
        }
        let Value::Map(entries) = &node.value else {
            self.expected(node, context, "a mapping");
            return None;
        };
        let mut fields = Fields {
            entries: BTreeMap::new(),
        };
        for (key, value) in entries {
            let Value::String(name) = &key.value else {
                self.expected(key, context, "a text key");
                continue;
            };
            if allowed.contains(&name.as_str()) {
                fields.entries.insert(name.clone(), (key, value));
            } else {
                // A mistyped key may hold anything, an external ID included: never quoted.
                self.masked_lines.insert(key.at.line);
                lines(value, &mut self.masked_lines);
                let suggestion = allowed
                    .iter()
                    .find(|candidate| similar(candidate, name))
                    .map(|candidate| format!("did you mean `{candidate}`? "))
                    .unwrap_or_default();
                self.problem(
                    key.at,
                    format!(
                        "unknown key `{name}` in {}; {suggestion}expected one of: {}",
                        if context == "the file" {
                            "the file".to_owned()
                        } else {
                            format!("`{context}`")
                        },
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(fields)
    }

    fn list<'n>(&mut self, node: &'n Node, context: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.expected(node, context, "a list");
                None
            }
        }
    }

    fn string(&mut self, node: &Node, context: &str) -> Option<String> {
        match &node.value {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.expected(node, context, "a string");
                None
            }
        }
    }

    /// A scalar's text as written: strings, and numbers or booleans where a tag value or ID is
    /// meant (`tags: {exempt: true}`), so that nothing is reformatted.
    fn scalar_text(&mut self, node: &Node, context: &str) -> Option<String> {
        match (&node.value, &node.raw) {
            (Value::String(text), _) => Some(text.clone()),
            (Value::Int(_) | Value::Bool(_) | Value::Float(_), Some(raw)) => Some(raw.clone()),
            _ => {
                self.expected(node, context, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, context: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(value) => Some(*value),
            _ => {
                self.expected(node, context, "`true` or `false`");
                None
            }
        }
    }

    fn account_id(&mut self, node: &Node, context: &str) -> Option<String> {
        let text = self.scalar_text(node, context)?;
        if is_account_id(&text) {
            Some(text)
        } else {
            self.problem(
                node.at,
                format!("`{context}`: expected an account ID of exactly 12 digits (quote it: '012345678901'), found `{text}`"),
            );
            None
        }
    }

    fn role_arn(&mut self, node: &Node, context: &str) -> Option<String> {
        let text = self.string(node, context)?;
        match check_arn(&text, "iam") {
            Ok(()) => Some(text),
            Err(message) => {
                self.problem(
                    node.at,
                    format!("`{context}`: expected a role ARN: {message}"),
                );
                None
            }
        }
    }

    fn setting(&mut self, layer: &mut Layer, setting: Setting, node: &Node, context: &str) {
        let checked = match (&node.value, setting.range()) {
            (Value::Int(number), Some(_)) => {
                check_number(setting, *number).map(SettingValue::Number)
            }
            (_, Some((low, high))) => {
                self.expected(
                    node,
                    context,
                    &format!("a whole number from {low} to {high}"),
                );
                return;
            }
            (Value::Bool(on), None) if setting.is_switch() => Ok(SettingValue::Flag(*on)),
            (_, None) if setting.is_switch() => {
                self.expected(node, context, "true or false");
                return;
            }
            (Value::String(text), None) => check_text(setting, text),
            (_, None) => {
                self.expected(node, context, "a string");
                return;
            }
        };
        match checked {
            Ok(value) => layer.set(setting, value, self.source(node.at)),
            Err(message) => self.problem(node.at, format!("`{context}`: {message}")),
        }
    }

    fn organization(&mut self, node: &Node) -> Organization {
        let mut organization = Organization::default();
        let Some(fields) = self.map(node, "organization", ORGANIZATION) else {
            return organization;
        };
        if let Some(node) = fields.get("enabled") {
            organization.enabled =
                self.boolean(node, "organization.enabled")
                    .map(|value| Sourced {
                        value,
                        source: self.source(node.at),
                    });
        }
        if let Some(list) = fields
            .get("include_ous")
            .and_then(|node| self.list(node, "organization.include_ous"))
        {
            for (index, item) in list.iter().enumerate() {
                let context = format!("organization.include_ous[{index}]");
                if let Some(id) = self.string(item, &context) {
                    if is_ou_or_root_id(&id) {
                        organization.include_ous.push(Sourced {
                            value: id,
                            source: self.source(item.at),
                        });
                    } else {
                        self.problem(
                            item.at,
                            format!("`{context}`: expected an OU ID (ou-xxxx-xxxxxxxx) or a root ID (r-xxxx), found `{id}`"),
                        );
                    }
                }
            }
        }
        if let Some(list) = fields
            .get("exclude_accounts")
            .and_then(|node| self.list(node, "organization.exclude_accounts"))
        {
            let mut seen: BTreeMap<String, Position> = BTreeMap::new();
            for (index, item) in list.iter().enumerate() {
                let context = format!("organization.exclude_accounts[{index}]");
                if let Some(id) = self.account_id(item, &context) {
                    if let Some(first) = seen.get(&id) {
                        let line = first.line;
                        self.problem(
                            item.at,
                            format!("`{context}`: account {id} is already listed on line {line}"),
                        );
                    } else {
                        seen.insert(id.clone(), item.at);
                        organization.exclude_accounts.push(Sourced {
                            value: id,
                            source: self.source(item.at),
                        });
                    }
                }
            }
        }
        organization
    }

    fn accounts(&mut self, node: &Node) -> Vec<AccountSpec> {
        let mut accounts = Vec::new();
        let Some(list) = self.list(node, "accounts") else {
            return accounts;
        };
        if list.is_empty() {
            self.problem(node.at, "`accounts`: the list is empty; list accounts, or remove it to scan the organization");
        }
        let mut seen: BTreeMap<String, Position> = BTreeMap::new();
        for (index, item) in list.iter().enumerate() {
            let context = format!("accounts[{index}]");
            let Some(fields) = self.map(item, &context, ACCOUNT) else {
                continue;
            };
            let Some(id_node) = fields.get("account_id") else {
                self.problem(item.at, format!("`{context}`: `account_id` is required"));
                continue;
            };
            let Some(id) = self.account_id(id_node, &format!("{context}.account_id")) else {
                continue;
            };
            if let Some(first) = seen.get(&id) {
                let line = first.line;
                self.problem(
                    id_node.at,
                    format!(
                        "`{context}.account_id`: account {id} is already listed on line {line}"
                    ),
                );
                continue;
            }
            seen.insert(id.clone(), id_node.at);
            accounts.push(self.account(&fields, &context, id));
        }
        accounts
    }

    /// One entry of `accounts:` (its `account_id` read and checked already).
    fn account(&mut self, fields: &Fields<'_>, context: &str, id: String) -> AccountSpec {
        let text = |reader: &mut Self, key: &str| {
            fields
                .get(key)
                .and_then(|node| reader.string(node, &format!("{context}.{key}")))
        };
        let name = text(self, "name");
        let display_name = text(self, "display_name");
        let _ = (text(self, "email"), text(self, "org_id"));
        let role = fields.get("role").and_then(|node| {
            let role = self.role(node, &format!("{context}.role"))?;
            self.ends_in(node, &format!("{context}.role"), &role, &id)
                .then_some(role)
        });
        let external_id = fields.get("external_id").and_then(|node| {
            let context = format!("{context}.external_id");
            let id = self.string(node, &context)?;
            match check_text(Setting::ExternalId, &id) {
                Ok(_) => Some(Secret::new(id)),
                Err(message) => {
                    self.problem(node.at, format!("`{context}`: {message}"));
                    None
                }
            }
        });
        let profile = text(self, "profile");
        if let (Some(profile), Some(node)) = (&profile, fields.get("profile"))
            && profile.trim().is_empty()
        {
            self.problem(
                node.at,
                format!("`{context}.profile`: expected a profile name, found an empty one"),
            );
        }
        let tags = fields
            .get("tags")
            .and_then(|node| self.list(node, &format!("{context}.tags")))
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(n, tag)| self.scalar_text(tag, &format!("{context}.tags[{n}]")))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(node) = fields.get("regions") {
            self.list(node, &format!("{context}.regions"));
        }
        // c7n-org's `vars` are free-form: any mapping is accepted, and ignored.
        if let Some(node) = fields.get("vars")
            && !matches!(node.value, Value::Map(_) | Value::Null)
        {
            self.expected(node, &format!("{context}.vars"), "a mapping");
        }
        AccountSpec {
            id,
            name: name.or(display_name),
            role,
            external_id,
            profile,
            tags,
        }
    }

    /// Whether a role (chain) ends in account `id`: the last role's credentials are the ones
    /// that scan, and a chain that ends elsewhere would scan another account under this ID.
    fn ends_in(&mut self, node: &Node, context: &str, role: &RoleSpec, id: &str) -> bool {
        let RoleSpec::Arns(arns) = role else {
            return true;
        };
        let Some(last) = arns.last() else {
            return true;
        };
        let account = last.split(':').nth(4).unwrap_or_default();
        if account == id {
            return true;
        }
        // Point at the last role of a list: that is the one in the wrong account.
        let at = match &node.value {
            Value::Seq(items) => items.last().map_or(node.at, |item| item.at),
            _ => node.at,
        };
        self.problem(
            at,
            format!(
                "`{context}`: the last role, {last}, is in account {account}, not {id}: the scan would report account {account} as {id}"
            ),
        );
        false
    }

    /// A role ARN, or a list of role ARNs assumed in turn (c7n-org's `role`).
    fn role(&mut self, node: &Node, context: &str) -> Option<RoleSpec> {
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.expected(node, context, "a role ARN or a non-empty list of role ARNs");
                None
            }
            Value::Seq(items) => {
                let arns: Vec<Option<String>> = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.role_arn(item, &format!("{context}[{index}]")))
                    .collect();
                arns.into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(RoleSpec::Arns)
            }
            _ => self
                .role_arn(node, context)
                .map(|arn| RoleSpec::Arns(vec![arn])),
        }
    }

    fn overrides(&mut self, node: &Node) -> BTreeMap<String, Sourced<FileOverride>> {
        let mut overrides = BTreeMap::new();
        if node.value == Value::Null {
            return overrides;
        }
        let Value::Map(entries) = &node.value else {
            self.expected(node, "overrides", "a mapping of account IDs");
            return overrides;
        };
        let keys: Vec<&str> = Setting::ALL
            .iter()
            .filter(|setting| setting.per_account())
            .map(|setting| setting.key())
            .chain(OVERRIDE.iter().copied())
            .collect();
        for (key, value) in entries {
            let Some(id) = self.account_id(key, "overrides") else {
                continue;
            };
            let context = format!("overrides.{id}");
            let Some(fields) = self.map(value, &context, &keys) else {
                continue;
            };
            let entry = self.override_entry(&fields, &context, &id);
            overrides.insert(
                id,
                Sourced {
                    value: entry,
                    source: self.source(key.at),
                },
            );
        }
        overrides
    }

    /// One account's entry of `overrides:`.
    fn override_entry(&mut self, fields: &Fields<'_>, context: &str, id: &str) -> FileOverride {
        let mut entry = FileOverride::default();
        if let (Some(_), Some(role)) = (fields.get("role_name"), fields.get("role")) {
            self.problem(
                role.at,
                format!("`{context}`: give either `role_name` or `role`, not both"),
            );
        } else if let Some(node) = fields.get("role") {
            let context = format!("{context}.role");
            entry.role_arns = self
                .role(node, &context)
                .filter(|role| self.ends_in(node, &context, role, id))
                .and_then(|role| match role {
                    RoleSpec::Arns(arns) => Some(arns),
                    RoleSpec::Name(_) => None,
                });
        }
        for setting in Setting::ALL.iter().copied() {
            if setting.per_account()
                && !(setting == Setting::RoleName && fields.get("role").is_some())
                && let Some(node) = fields.get(setting.key())
            {
                let context = format!("{context}.{}", setting.key());
                self.setting(&mut entry.layer, setting, node, &context);
            }
        }
        if let Some(node) = fields.get("exemptions") {
            entry.exemptions = self.exemptions(node, &format!("{context}.exemptions"));
        }
        if let Some(node) = fields.get("remediation") {
            let remediation_context = format!("{context}.remediation");
            if let Some(stages) = self.map(node, &remediation_context, &Stage::ALL.map(Stage::key))
            {
                let mut policy = RemediationPolicy::default();
                self.stages(&stages, &remediation_context, &mut policy, &mut Vec::new());
                entry.remediation = Some(Sourced {
                    value: policy,
                    source: self.source(node.at),
                });
            }
        }
        entry
    }

    fn owners(&mut self, node: &Node, at: Position) -> Owners {
        let mut owners = Owners {
            source: Some(self.source(at)),
            ..Owners::default()
        };
        let Some(fields) = self.map(node, "owners", OWNERS) else {
            return owners;
        };
        if let Some(list) = fields
            .get("tag_keys")
            .and_then(|node| self.list(node, "owners.tag_keys"))
        {
            for (index, item) in list.iter().enumerate() {
                let context = format!("owners.tag_keys[{index}]");
                if let Some(key) = self.string(item, &context) {
                    // IAM tag keys: 1 to 128 characters.
                    if key.trim().is_empty() || key.chars().count() > 128 {
                        self.problem(
                            item.at,
                            format!("`{context}`: expected a tag key (1 to 128 characters)"),
                        );
                    } else {
                        owners.tag_keys.push(key);
                    }
                }
            }
        }
        if let Some(node) = fields.get("group_digest")
            && let Some(group) = self.boolean(node, "owners.group_digest")
        {
            if group && owners.tag_keys.is_empty() {
                self.problem(
                    node.at,
                    "`owners.group_digest`: grouping the digest by owner needs `owners.tag_keys`"
                        .to_owned(),
                );
            }
            owners.group_digest = group;
        }
        owners
    }

    fn exemptions(&mut self, node: &Node, context: &str) -> Vec<Exemption> {
        let mut exemptions = Vec::new();
        let Some(fields) = self.map(node, context, EXEMPTIONS) else {
            return exemptions;
        };
        if let Some(list) = fields
            .get("user_names")
            .and_then(|node| self.list(node, &format!("{context}.user_names")))
        {
            for (index, item) in list.iter().enumerate() {
                let item_context = format!("{context}.user_names[{index}]");
                if let Some(pattern) = self.string(item, &item_context) {
                    if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
                        self.problem(
                            item.at,
                            format!("`{item_context}`: expected a user name or a pattern with `*`"),
                        );
                    } else {
                        exemptions.push(Exemption::UserName(pattern));
                    }
                }
            }
        }
        if let Some(tags) = fields.get("tags") {
            let Value::Map(entries) = &tags.value else {
                self.expected(
                    tags,
                    &format!("{context}.tags"),
                    "a mapping of tag keys to values",
                );
                return exemptions;
            };
            for (key, value) in entries {
                let tag_context = format!("{context}.tags");
                if let (Some(key), Some(value)) = (
                    self.scalar_text(key, &tag_context),
                    self.scalar_text(value, &tag_context),
                ) {
                    exemptions.push(Exemption::Tag { key, value });
                }
            }
        }
        exemptions
    }
}

impl Reader<'_> {
    fn remediation(&mut self, node: &Node, at: Position) -> FileRemediation {
        let mut remediation = FileRemediation {
            source: Some(self.source(at)),
            ..FileRemediation::default()
        };
        let keys = [
            ["role_name", "use_audit_role"].as_slice(),
            &Stage::ALL.map(Stage::key),
            &["max_actions"],
        ]
        .concat();
        let Some(fields) = self.map(node, "remediation", &keys) else {
            return remediation;
        };
        if let Some(node) = fields.get("role_name") {
            let mut layer = Layer::default();
            self.setting(&mut layer, Setting::RoleName, node, "remediation.role_name");
            if let Some(Sourced {
                value: SettingValue::Text(name),
                source,
            }) = layer.get(Setting::RoleName)
            {
                remediation.role_name = Some(Sourced {
                    value: name.clone(),
                    source: source.clone(),
                });
            }
        }
        if let Some(node) = fields.get("use_audit_role") {
            remediation.use_audit_role =
                self.boolean(node, "remediation.use_audit_role")
                    .map(|value| Sourced {
                        value,
                        source: self.source(node.at),
                    });
        }
        let mut stage_sources = Vec::new();
        self.stages(
            &fields,
            "remediation",
            &mut remediation.policy,
            &mut stage_sources,
        );
        remediation.stage_sources = stage_sources;
        if let Some(node) = fields.get("max_actions") {
            match &node.value {
                Value::Int(number) if (1..=10_000).contains(number) => {
                    remediation.max_actions = u32::try_from(*number).ok()
                }
                _ => self.expected(
                    node,
                    "remediation.max_actions",
                    "a whole number from 1 to 10000",
                ),
            }
        }
        remediation
    }

    /// The three stage thresholds of a remediation mapping.
    fn stages(
        &mut self,
        fields: &Fields<'_>,
        context: &str,
        policy: &mut RemediationPolicy,
        sources: &mut Vec<(Stage, Source)>,
    ) {
        for stage in Stage::ALL {
            let Some(node) = fields.get(stage.key()) else {
                continue;
            };
            let days = match &node.value {
                Value::Int(number) => check_number(Setting::MaxIdleDays, *number).ok(),
                _ => None,
            };
            let Some(days) = days else {
                self.expected(
                    node,
                    &format!("{context}.{}", stage.key()),
                    "a whole number of days from 1 to 36500",
                );
                continue;
            };
            sources.push((stage, self.source(node.at)));
            stage.set(policy, days);
        }
    }
}

/// Whether `id` is an OU ID (`ou-` + 4-32 + `-` + 8-32 lower-case letters or digits) or a root
/// ID (`r-` + 4-32).
fn is_ou_or_root_id(id: &str) -> bool {
    let part = |text: &str, low: usize, high: usize| {
        (low..=high).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, ou)| part(root, 4, 32) && part(ou, 8, 32));
    }
    id.strip_prefix("r-").is_some_and(|root| part(root, 4, 32))
}

/// Whether two keys differ by a little (a typo): one edit, or the same letters swapped.
fn similar(known: &str, typed: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (known.chars().collect(), typed.chars().collect());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()] <= 2.max(known.len() / 6)
}
