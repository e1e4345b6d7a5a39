//! The CIS AWS Foundations Benchmark, version by version: which recommendation each rule's
//! findings fail, and its number in each version (the numbers move: 1.12 in v3.0.0, 1.11 in
//! v5.0.0, 2.11 in v7.0.0). docs/rules.md has the table; a test holds the two together.

use serde::{Deserialize, Serialize};

use super::Rule;

/// A version of the CIS AWS Foundations Benchmark that findings can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CisVersion {
    /// v3.0.0 (a Security Hub CSPM standard).
    #[serde(rename = "3.0.0")]
    V3_0_0,
    /// v4.0.1.
    #[serde(rename = "4.0.1")]
    V4_0_1,
    /// v5.0.0 (the newest Security Hub CSPM offers).
    #[serde(rename = "5.0.0")]
    V5_0_0,
    /// v6.0.0.
    #[serde(rename = "6.0.0")]
    V6_0_0,
    /// v7.0.0.
    #[serde(rename = "7.0.0")]
    V7_0_0,
}

impl CisVersion {
    /// Every supported version, oldest first.
    pub const ALL: [CisVersion; 5] = [
        CisVersion::V3_0_0,
        CisVersion::V4_0_1,
        CisVersion::V5_0_0,
        CisVersion::V6_0_0,
        CisVersion::V7_0_0,
    ];

    /// Its number, as the benchmark writes it (`3.0.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            CisVersion::V3_0_0 => "3.0.0",
            CisVersion::V4_0_1 => "4.0.1",
            CisVersion::V5_0_0 => "5.0.0",
            CisVersion::V6_0_0 => "6.0.0",
            CisVersion::V7_0_0 => "7.0.0",
        }
    }

    /// The version numbered `text` (`3.0.0`, or `v3.0.0`).
    pub fn parse(text: &str) -> Option<CisVersion> {
        let text = text.trim().trim_start_matches('v');
        CisVersion::ALL
            .into_iter()
            .find(|version| version.as_str() == text)
    }

    /// The standard's name, as Security Hub and OCSF name it.
    pub fn standard(self) -> &'static str {
        match self {
            CisVersion::V3_0_0 => "CIS AWS Foundations Benchmark v3.0.0",
            CisVersion::V4_0_1 => "CIS AWS Foundations Benchmark v4.0.1",
            CisVersion::V5_0_0 => "CIS AWS Foundations Benchmark v5.0.0",
            CisVersion::V6_0_0 => "CIS AWS Foundations Benchmark v6.0.0",
            CisVersion::V7_0_0 => "CIS AWS Foundations Benchmark v7.0.0",
        }
    }

    /// `versions` as a setting writes them: `3.0.0, 5.0.0`.
    pub fn list(versions: &[CisVersion]) -> String {
        let names: Vec<&str> = versions.iter().map(|version| version.as_str()).collect();
        names.join(", ")
    }
}

/// A CIS recommendation a finding can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recommendation {
    /// "Ensure credentials unused for 45 days or more are disabled".
    UnusedCredentials,
    /// "Ensure no 'root' user account access key exists".
    NoRootAccessKey,
}

impl Recommendation {
    /// The recommendation's title.
    pub fn title(self) -> &'static str {
        match self {
            Recommendation::UnusedCredentials => {
                "Ensure credentials unused for 45 days or more are disabled"
            }
            Recommendation::NoRootAccessKey => "Ensure no 'root' user account access key exists",
        }
    }

    /// Its number in `version`.
    pub fn id(self, version: CisVersion) -> &'static str {
        use CisVersion::{V3_0_0, V4_0_1, V5_0_0, V6_0_0, V7_0_0};
        match (self, version) {
            (Recommendation::UnusedCredentials, V3_0_0 | V4_0_1) => "1.12",
            (Recommendation::UnusedCredentials, V5_0_0) => "1.11",
            (Recommendation::UnusedCredentials, V6_0_0 | V7_0_0) => "2.11",
            (Recommendation::NoRootAccessKey, V3_0_0 | V4_0_1) => "1.4",
            (Recommendation::NoRootAccessKey, V5_0_0) => "1.3",
            (Recommendation::NoRootAccessKey, V6_0_0) => "2.3",
            (Recommendation::NoRootAccessKey, V7_0_0) => "2.4",
        }
    }

    /// The recommendation `rule`'s findings fail, if any: the benchmark covers passwords,
    /// access keys and root keys, not the credentials AWS records no use for.
    pub fn of(rule: Rule) -> Option<Recommendation> {
        match rule {
            Rule::AccessKeyUnused | Rule::PasswordUnused => Some(Recommendation::UnusedCredentials),
            Rule::RootAccessKey => Some(Recommendation::NoRootAccessKey),
            Rule::SshKeyOld
            | Rule::ServiceCredentialOld
            | Rule::BedrockApiKeyLongLived
            | Rule::SigningCertificateOld => None,
        }
    }
}

/// A finding's control in one CIS version (the report's `cis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CisControl {
    /// The benchmark's version.
    pub version: CisVersion,
    /// The recommendation's number in it.
    pub control: String,
}

/// The controls `rule`'s findings fail, in each of `versions`.
pub fn controls(rule: Rule, versions: &[CisVersion]) -> Vec<CisControl> {
    let Some(recommendation) = Recommendation::of(rule) else {
        return Vec::new();
    };
    versions
        .iter()
        .map(|&version| CisControl {
            version,
            control: recommendation.id(version).to_owned(),
        })
        .collect()
}

/// Parses a setting's list of versions (`3.0.0, 5.0.0`): each once, in the given order.
pub fn parse_versions(text: &str) -> Result<Vec<CisVersion>, String> {
    let mut versions = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let version = CisVersion::parse(part).ok_or_else(|| {
            format!(
                "expected CIS AWS Foundations versions from {}, found `{part}`",
                CisVersion::list(&CisVersion::ALL)
            )
        })?;
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err(format!(
            "expected at least one CIS AWS Foundations version from {}",
            CisVersion::list(&CisVersion::ALL)
        ));
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/rules.md's table of CIS numbers is the one the findings carry, cell for cell.
    #[test]
    fn the_documented_cis_table_is_the_mapping() {
        let doc = include_str!("../../docs/rules.md");
        let table: Vec<Vec<&str>> = doc
            .split("<!-- cis-table -->")
            .nth(1)
            .expect("docs/rules.md has the CIS table")
            .lines()
            .filter(|line| line.starts_with('|'))
            .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
        let header = &table[0];
        let versions: Vec<CisVersion> = header[1..]
            .iter()
            .map(|cell| CisVersion::parse(cell).unwrap_or_else(|| panic!("a version: {cell}")))
            .collect();
        assert_eq!(
            versions,
            CisVersion::ALL,
            "one column per supported version"
        );
        let rows = &table[2..];
        for (recommendation, title) in [
            (
                Recommendation::UnusedCredentials,
                "credentials unused 45 days or more",
            ),
            (Recommendation::NoRootAccessKey, "no root user access key"),
        ] {
            let row = rows
                .iter()
                .find(|row| row[0] == title)
                .unwrap_or_else(|| panic!("a row for {title}"));
            for (version, cell) in versions.iter().zip(&row[1..]) {
                assert_eq!(*cell, recommendation.id(*version), "{title} in {version:?}");
            }
        }
    }

    #[test]
    fn versions_are_parsed_once_each_and_refused_when_unknown() {
        assert_eq!(
            parse_versions("5.0.0, v3.0.0,5.0.0"),
            Ok(vec![CisVersion::V5_0_0, CisVersion::V3_0_0])
        );
        assert!(parse_versions("1.2.0").is_err());
        assert!(parse_versions(" , ").is_err());
        let mapped = controls(Rule::PasswordUnused, &CisVersion::ALL);
        let ids: Vec<&str> = mapped.iter().map(|c| c.control.as_str()).collect();
        assert_eq!(ids, ["1.12", "1.12", "1.11", "2.11", "2.11"]);
    }
}
