//! The page: its policy holds (one hashed style, one hashed script, no inline attributes), every
//! text is escaped, and it says what is new, resolved and not scanned.

use super::*;
use crate::digest::tests::small_organization_compared;

/// The text between the first `open` and the next `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).expect("open") + open.len();
    let end = text[start..].find(close).expect("close") + start;
    &text[start..end]
}

/// The findings' data block: JSON, with no `<` that could end it.
fn data(page: &str) -> &str {
    between(
        page,
        "<script type=\"application/json\" id=\"findings-data\">",
        "</script>",
    )
}

/// The page with its style, script and data taken out: what is left is markup and text.
fn markup(page: &str) -> String {
    let mut markup = page
        .replace(between(page, "<style>", "</style>"), "")
        .replace(between(page, "<script>", "</script>"), "");
    if page.contains("findings-data") {
        markup = markup.replace(data(page), "");
    }
    markup
}

/// Every tag's text, from `<` to `>`.
fn tags(markup: &str) -> Vec<&str> {
    markup
        .split('<')
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or(rest))
        .collect()
}

#[test]
fn the_policy_names_the_hashes_of_its_one_style_and_one_script_and_nothing_else_loads() {
    let page = render(&small_organization_compared());
    assert_eq!(page.matches("<style>").count(), 1);
    assert_eq!(page.matches("<script>").count(), 1);
    let policy = between(&page, "Content-Security-Policy\" content=\"", "\"");
    let style = between(&page, "<style>", "</style>");
    let script = between(&page, "<script>", "</script>");
    assert!(policy.starts_with("default-src 'none'; "), "{policy}");
    assert!(
        policy.contains(&format!("style-src '{}'", hash(style))),
        "{policy}"
    );
    assert!(
        policy.contains(&format!("script-src '{}'", hash(script))),
        "{policy}"
    );
    // A known digest, so the hash is the standard one (echo -n abc | sha256sum | base64).
    assert_eq!(
        hash("abc"),
        "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    );
    for tag in tags(&markup(&page)) {
        let lower = tag.to_ascii_lowercase();
        assert!(!lower.contains(" style="), "a style attribute in <{tag}>");
        assert!(
            !lower
                .split_whitespace()
                .skip(1)
                .filter_map(|word| word.split_once('=').map(|(name, _)| name))
                .any(|name| name.starts_with("on")),
            "an event handler attribute in <{tag}>"
        );
        assert!(
            !lower.contains("src=") && !lower.contains("href="),
            "something to load in <{tag}>"
        );
    }
}

/// The tags the page itself writes.
const PAGE_TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p",
    "section", "div", "b", "ul", "li", "span", "svg", "text", "rect", "input", "select", "option",
    "table", "thead", "tbody", "tr", "th", "td", "button", "code", "script", "nav",
];

#[test]
fn names_from_accounts_and_iam_are_escaped_everywhere() {
    let hostile = "<script>alert(\"x\")</script> & 'quoted'";
    let mut report = small_organization_compared();
    for account in &mut report.accounts {
        account.name = Some(hostile.to_owned());
    }
    for finding in &mut report.findings {
        finding.account_name = Some(hostile.to_owned());
        finding.user_name = "a\"b<c>'d".to_owned();
    }
    for resolved in &mut report.resolved {
        resolved.account_name = Some(hostile.to_owned());
        resolved.user_name = "<img src=x>".to_owned();
    }
    let whole = render(&report);
    let data = data(&whole);
    assert!(!data.contains(['<', '>', '&']), "{data}");
    assert!(
        data.contains(r#"\u003cscript\u003ealert(\"x\")\u003c/script\u003e \u0026 'quoted'"#),
        "{data}"
    );
    let page = markup(&whole);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("a\"b<c>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;")
    );
    assert!(page.contains("a&quot;b&lt;c&gt;&#39;d"));
    assert!(page.contains("&lt;img src=x&gt;"));
    // Nothing hostile became a tag: the tags are the page's own.
    for tag in tags(&page) {
        let name = tag.trim_start_matches('/').split([' ', '/']).next();
        assert!(
            name.is_some_and(|name| PAGE_TAGS.contains(&name)),
            "unexpected tag <{tag}>"
        );
    }
}

#[test]
fn the_page_says_what_is_new_resolved_and_not_scanned() {
    let page = render(&small_organization_compared());
    assert!(
        page.contains("Since the last complete scan (2026-11-27): 2 new, 2 ongoing, 2 resolved.")
    );
    let new = between(&page, "<h2 id=\"new\">", "<h2 id=\"resolved\">");
    assert!(new.starts_with("New: 2 unused credentials"), "{new}");
    assert!(
        new.contains("alice access key AKIAALICE2 (100 days idle)"),
        "{new}"
    );
    assert!(
        new.contains("&lt;root_account&gt; root access key"),
        "{new}"
    );
    assert!(!new.contains("bob"), "bob's password is ongoing: {new}");
    let resolved = between(&page, "<h2 id=\"resolved\">", "</ul>");
    assert!(resolved.contains(
        "prod (111111111111): frank access key AKIAFRANK, first seen 2026-10-29: <span class=\"resolved\">used again</span>"
    ), "{resolved}");
    assert!(resolved.contains("gina console password"), "{resolved}");
    assert!(resolved.contains("deleted by stalecreds"), "{resolved}");
    let data: serde_json::Value = serde_json::from_str(data(&page)).expect("JSON data");
    let changes: Vec<&str> = data["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row[7].as_str())
        .collect();
    assert_eq!(changes.iter().filter(|change| **change == "new").count(), 2);
    assert_eq!(
        changes
            .iter()
            .filter(|change| **change == "ongoing")
            .count(),
        2
    );
    let accounts = between(&page, "<table id=\"accounts\">", "</table>");
    assert!(accounts.contains(
        "<td>sandbox (444444444444)</td><td>not scanned</td><td>AssumeRole AccessDenied: not authorized to perform: sts:AssumeRole</td>"
    ), "{accounts}");
    assert!(accounts.contains("<td>dev (333333333333)</td><td>incomplete</td><td>1 user unreadable, e.g. eve: ListAccessKeys AccessDenied</td>"), "{accounts}");
    assert!(
        accounts.contains("<td>closed (555555555555)</td><td>skipped</td><td>state SUSPENDED</td>"),
        "{accounts}"
    );
    assert!(page.contains("This run is incomplete"));
}

#[test]
fn the_charts_count_findings_by_days_idle_and_by_account() {
    let page = render(&small_organization_compared());
    let by_age = between(&page, "aria-label=\"Findings by days idle\">", "</svg>");
    let count = |chart: &str, label: &str| -> String {
        let after = &chart[chart.find(&format!(">{label}</text>")).expect(label)..];
        let last = between(after, "<text x=\"348\"", "</text>");
        last.rsplit('>').next().expect("count").to_owned()
    };
    // Dan's key (60 days) and the root key (30 days); alice (100) and bob (90).
    assert_eq!(count(by_age, "under 90 days"), "2");
    assert_eq!(count(by_age, "90 to 179 days"), "2");
    assert_eq!(count(by_age, "180 to 364 days"), "0");
    assert_eq!(count(by_age, "no recorded use or date"), "0");
    let by_account = between(&page, "aria-label=\"Findings by account\">", "</svg>");
    assert_eq!(count(by_account, "prod (111111111111)"), "2");
    assert_eq!(count(by_account, "payments (222222222222)"), "2");
    assert!(!by_account.contains("dev (333333333333)"));
}

#[test]
fn a_clean_run_has_no_table_and_says_so() {
    let mut report = small_organization_compared();
    report.findings.clear();
    let page = render(&report);
    assert!(page.contains("<p>No unused credentials.</p>"));
    assert!(!page.contains("<table id=\"findings\">"));
    assert!(!page.contains("Findings by days idle"));
}
