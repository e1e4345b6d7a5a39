//! The configuration: the shipped example, a c7n-org file, precedence, and one snapshot per
//! class of bad input (the message a person sees).

use std::path::Path;

use stalecreds::Exemption;
use stalecreds::Mode;
use stalecreds::{
    ConfigError, Effective, Inputs, Notify, RoleSpec, Selection, Setting, Source, resolve,
};

fn fixture(name: &str) -> (String, String) {
    let path = format!("tests/fixtures/config/{name}");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&path))
        .expect("a fixture");
    (path, text)
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn resolve_file(path: &str, text: &str) -> Result<Effective, ConfigError> {
    resolve(Inputs {
        file: Some((path, text)),
        env: &no_env,
        flags: Vec::new(),
        accounts: Vec::new(),
    })
}

/// The rendered problems of a bad fixture.
fn problems(name: &str) -> String {
    let (path, text) = fixture(name);
    match resolve_file(&path, &text) {
        Ok(effective) => panic!("{name} should not be accepted: {effective:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_shipped_accounts_yaml_is_valid_and_means_what_it_says() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("accounts.yaml"))
        .expect("shipped");
    let settings = resolve_file("accounts.yaml", &text)
        .expect("the example is valid")
        .settings;
    assert_eq!(settings.defaults.policy.max_idle_days, 45);
    assert_eq!(settings.mode, Mode::Report);
    assert_eq!(
        settings.selection,
        Selection::Organization {
            include_ous: Vec::new(),
            exclude_accounts: ["999999999999".to_owned()].into(),
        }
    );
    let account = |id: &str| settings.overrides[id].applied(&settings.defaults);
    assert_eq!(account("111111111111").policy.max_idle_days, 90);
    assert_eq!(
        account("222222222222").role,
        RoleSpec::Name("security/stalecreds-audit".to_owned())
    );
    assert_eq!(
        settings.defaults.policy.exemptions,
        [
            Exemption::UserName("breakglass-*".to_owned()),
            Exemption::Tag {
                key: "stalecreds:exempt".to_owned(),
                value: "true".to_owned()
            }
        ]
    );
    assert_eq!(settings.notify, Notify::OnFindings);
}

#[test]
fn a_c7n_org_accounts_file_is_accepted_as_it_is() {
    let (path, text) = fixture("c7n-org.yaml");
    let settings = resolve_file(&path, &text)
        .expect("a c7n-org file is valid")
        .settings;
    let Selection::Accounts(accounts) = settings.selection else {
        panic!("an accounts list selects those accounts");
    };
    assert_eq!(accounts.len(), 3);
    assert_eq!(accounts[0].id, "123123123123");
    assert_eq!(accounts[0].name.as_deref(), Some("account-1"));
    assert_eq!(
        accounts[0].role,
        Some(RoleSpec::Arns(vec![
            "arn:aws:iam::123123123123:role/CloudCustodian".to_owned()
        ]))
    );
    assert_eq!(
        accounts[0]
            .external_id
            .as_ref()
            .map(stalecreds::Secret::expose),
        Some("c7n-external-id")
    );
    assert_eq!(accounts[0].tags, ["type:prod", "division:some division"]);
    assert_eq!(accounts[1].profile.as_deref(), Some("account-2-profile"));
    assert_eq!(
        accounts[2]
            .role
            .as_ref()
            .map(|role| matches!(role, RoleSpec::Arns(arns) if arns.len() == 2)),
        Some(true)
    );
}

#[test]
fn a_flag_beats_an_environment_variable_which_beats_the_file() {
    let text = "defaults:\n  rate: 3\n  max_idle_days: 60\n  concurrency: 4\n";
    let env = |name: &str| match name {
        "STALECREDS_RATE" => Some("5".to_owned()),
        "STALECREDS_MAX_IDLE_DAYS" => Some("70".to_owned()),
        _ => None,
    };
    let effective = resolve(Inputs {
        file: Some(("stalecreds.yaml", text)),
        env: &env,
        flags: vec![(Setting::Rate, "7".to_owned())],
        accounts: Vec::new(),
    })
    .expect("valid");
    let settings = &effective.settings;
    assert_eq!(settings.rate, 7, "flag over environment over file");
    assert_eq!(
        settings.defaults.policy.max_idle_days, 70,
        "environment over file"
    );
    assert_eq!(settings.concurrency, 4, "file over default");
    assert_eq!(settings.mode, Mode::Report, "default");
    let source = |key: &str| {
        effective
            .sources
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, _, source)| source.to_string())
            .expect("listed")
    };
    assert_eq!(source("rate"), "flag --rate");
    assert_eq!(
        source("max_idle_days"),
        "environment STALECREDS_MAX_IDLE_DAYS"
    );
    assert_eq!(source("concurrency"), "stalecreds.yaml:4:16");
    assert_eq!(source("mode"), "default");
}

#[test]
fn account_flags_select_accounts_and_keep_their_file_entries() {
    let (path, text) = fixture("c7n-org.yaml");
    let settings = resolve(Inputs {
        file: Some((&path, &text)),
        env: &no_env,
        flags: Vec::new(),
        accounts: vec!["456456456456".to_owned(), "000000000001".to_owned()],
    })
    .expect("valid")
    .settings;
    let Selection::Accounts(accounts) = settings.selection else {
        panic!("accounts");
    };
    assert_eq!(accounts[0].profile.as_deref(), Some("account-2-profile"));
    assert_eq!(accounts[1].id, "000000000001");
    assert_eq!(accounts[1].profile, None);
}

#[test]
fn the_external_id_is_never_shown() {
    let env = |name: &str| (name == "STALECREDS_EXTERNAL_ID").then(|| "very-secret-id".to_owned());
    let effective = resolve(Inputs {
        file: None,
        env: &env,
        flags: Vec::new(),
        accounts: Vec::new(),
    })
    .expect("valid");
    assert!(!effective.render().contains("very-secret-id"));
    assert!(!format!("{:?}", effective.settings).contains("very-secret-id"));
    assert!(
        effective
            .sources
            .iter()
            .any(|(name, value, source)| *name == "external_id"
                && value == "** set **"
                && *source == Source::Env("STALECREDS_EXTERNAL_ID"))
    );
}

#[test]
fn a_digest_asked_for_without_a_topic_is_an_error() {
    let error = resolve(Inputs {
        file: Some(("c.yaml", "notification:\n  send: always\n")),
        env: &no_env,
        flags: Vec::new(),
        accounts: Vec::new(),
    })
    .expect_err("no topic");
    assert!(
        error
            .to_string()
            .contains("c.yaml:2:9: the digest is to be sent (always) but no topic")
    );
}

#[test]
fn every_problem_of_every_layer_is_reported_at_once() {
    let (path, text) = fixture("wrong_type.yaml");
    let env = |name: &str| (name == "STALECREDS_CONCURRENCY").then(|| "lots".to_owned());
    let error = resolve(Inputs {
        file: Some((&path, &text)),
        env: &env,
        flags: vec![(Setting::TopicArn, "arn:aws:sns:us-east-1:1:t".to_owned())],
        accounts: vec!["12".to_owned()],
    })
    .expect_err("bad everywhere");
    let sources: Vec<String> = error
        .problems
        .iter()
        .map(|problem| problem.source.to_string())
        .collect();
    assert_eq!(
        sources,
        [
            "tests/fixtures/config/wrong_type.yaml:2:18",
            "tests/fixtures/config/wrong_type.yaml:3:9",
            "tests/fixtures/config/wrong_type.yaml:4:9",
            "tests/fixtures/config/wrong_type.yaml:5:15",
            "environment STALECREDS_CONCURRENCY",
            "flag --topic-arn",
            "flag --account",
        ]
    );
}

macro_rules! snapshot_problems {
    ($($test:ident: $file:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            insta::assert_snapshot!(problems($file));
        }
    )*};
}

snapshot_problems! {
    unknown_keys_are_named_with_what_was_expected: "unknown_key.yaml",
    wrong_types_say_what_was_expected: "wrong_type.yaml",
    account_ids_must_be_twelve_digits: "account_id.yaml",
    malformed_arns_are_located: "malformed_arn.yaml",
    thresholds_below_one_are_refused: "threshold.yaml",
    duplicate_accounts_point_at_the_first: "duplicate_accounts.yaml",
    ou_filters_need_organization_mode: "ou_without_organization.yaml",
    yaml_1_1_booleans_are_refused: "non_strict_boolean.yaml",
    syntax_errors_are_located: "syntax_error.yaml",
    duplicate_keys_are_refused: "duplicate_key.yaml",
    remediation_never_acts_before_the_reporting_threshold: "remediation_below_threshold.yaml",
    remediation_needs_a_role_of_its_own: "remediation_without_role.yaml",
    role_chains_must_end_in_their_own_account: "chain_elsewhere.yaml",
    owner_tag_keys_are_tag_keys_and_grouping_needs_them: "owners.yaml",
}

#[test]
fn remediation_is_configured_per_account_and_through_its_own_role() {
    let text = "remediation:\n  role_name: stalecreds-remediate\n  deactivate_keys_after_days: 90\n  max_actions: 5\n\
                overrides:\n  \"111111111111\":\n    remediation:\n      delete_passwords_after_days: 60\n  \"222222222222\":\n    remediation: {}\n";
    let settings = resolve(Inputs {
        file: Some(("r.yaml", text)),
        env: &no_env,
        flags: Vec::new(),
        accounts: Vec::new(),
    })
    .expect("valid")
    .settings;
    let remediation = settings.remediation.clone().expect("configured");
    assert_eq!(remediation.max_actions, 5);
    assert_eq!(
        remediation.role,
        stalecreds::RemediationRole::Name("stalecreds-remediate".to_owned())
    );
    let caller = stalecreds::Caller {
        account_id: "999999999999".to_owned(),
        arn: "arn:aws:iam::999999999999:user/scanner".to_owned(),
        partition: "aws".to_owned(),
    };
    let (stages, chain) = settings
        .plan("333333333333", None, &caller)
        .remediation
        .expect("default stages");
    assert_eq!(stages.deactivate_keys_after_days, Some(90));
    assert_eq!(
        chain.expect("a role").role_arns,
        ["arn:aws:iam::333333333333:role/stalecreds-remediate"]
    );
    let (stages, _) = settings
        .plan("111111111111", None, &caller)
        .remediation
        .expect("override");
    assert_eq!(
        (
            stages.deactivate_keys_after_days,
            stages.delete_passwords_after_days
        ),
        (None, Some(60))
    );
    assert_eq!(
        settings.plan("222222222222", None, &caller).remediation,
        None,
        "`remediation: {{}}` turns it off"
    );
    // The caller's own account is changed with the caller's own credentials.
    assert_eq!(
        settings
            .plan("999999999999", None, &caller)
            .remediation
            .expect("stages")
            .1,
        None
    );
}

#[test]
fn the_documentation_opens_with_the_shipped_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).expect("docs");
    let example = std::fs::read_to_string(root.join("accounts.yaml")).expect("example");
    let first_block = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a YAML block");
    assert_eq!(
        first_block, example,
        "docs/configuration.md's first example is accounts.yaml"
    );
}

/// Issue 11: `reports.security_hub` is a boolean in the file (nothing else), `true`/`false` in
/// the environment, and `--security-hub` on the command line beats both.
#[test]
fn security_hub_is_a_boolean_in_every_layer() {
    let on = resolve_file("f.yaml", "reports:\n  security_hub: true\n").expect("valid");
    assert!(on.settings.security_hub);
    assert!(
        !resolve_file("f.yaml", "reports: {}\n")
            .expect("valid")
            .settings
            .security_hub
    );
    let error = resolve_file("f.yaml", "reports:\n  security_hub: 1\n")
        .expect_err("a number is not a boolean")
        .to_string();
    assert!(
        error.contains("reports.security_hub") && error.contains("true or false"),
        "{error}"
    );
    let env = |name: &str| (name == "STALECREDS_SECURITY_HUB").then(|| "yes".to_owned());
    let error = resolve(Inputs {
        file: None,
        env: &env,
        flags: Vec::new(),
        accounts: Vec::new(),
    })
    .expect_err("only true or false")
    .to_string();
    assert!(
        error.contains("STALECREDS_SECURITY_HUB") && error.contains("expected `true` or `false`"),
        "{error}"
    );
    let flagged = resolve(Inputs {
        file: Some(("f.yaml", "reports:\n  security_hub: false\n")),
        env: &no_env,
        flags: vec![(Setting::SecurityHub, "true".to_owned())],
        accounts: Vec::new(),
    })
    .expect("valid");
    assert!(flagged.settings.security_hub);
}

/// Issue 16: a configuration error quotes the offending line, so a mistyped key
/// (`externl_id: …`) put the external ID in standard error and in the Lambda's error message. No
/// error quotes an external ID, a value of an unknown key, or a value of a secret-looking key,
/// wherever it is (defaults, accounts, role chains, flow style, a file that is not YAML).
#[test]
fn no_configuration_error_quotes_a_secret() {
    const SECRET: &str = "Sup3r-S3cret-ExternalId";
    let files = [
        format!("defaults:\n  externl_id: {SECRET}\n  max_idle_days: 45\n"),
        format!("defaults:\n  external_id: {SECRET}\n  max_idle_days: ninety\n"),
        format!(
            "accounts:\n  - account_id: '111111111111'\n    role: [{{arn: 'arn:aws:iam::222222222222:role/a', external_id: {SECRET}}}]\n"
        ),
        format!("accounts: [{{account_id: '111111111111', extrnal_id: {SECRET}}}]\n"),
        format!("overrides:\n  '111111111111':\n    external-id: \"{SECRET}\"\n"),
        format!("defaults:\n  max_idle_days: 45\n   external_id: {SECRET}\n"),
        format!("defaults:\n  ext_id: {SECRET}\n"),
    ];
    for text in &files {
        let error = resolve_file("accounts.yaml", text).expect_err(text);
        let shown = error.to_string();
        assert!(!shown.contains(SECRET), "the secret is shown:\n{shown}");
    }
    // Through the CLI, on standard error.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("accounts.yaml");
    std::fs::write(&path, &files[0]).expect("writable");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stalecreds"))
        .args(["config", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown key `externl_id`"), "{stderr}");
    assert!(stderr.contains("externl_id: ***"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

/// README's flag table names every flag `stalecreds scan` takes (the settings' flags come from
/// the one table; the others are the command's own), so that a new flag cannot be left out.
#[test]
fn the_readme_names_every_flag_of_scan() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_stalecreds"))
        .args(["scan", "--help"])
        .output()
        .expect("the binary runs");
    let help = String::from_utf8(help.stdout).expect("UTF-8");
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .filter_map(|rest| rest.split([' ', '=']).next())
        .filter(|flag| !["help", "plan", "batch", "journal"].contains(flag))
        .collect();
    assert!(flags.len() > 30, "{flags:?}");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let table: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| `--"))
        .collect();
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|flag| {
            !table.iter().any(|row| {
                row.starts_with(&format!("| `--{flag} "))
                    || row.starts_with(&format!("| `--{flag}`"))
            })
        })
        .collect();
    assert!(missing.is_empty(), "README's flag table lacks {missing:?}");
}
