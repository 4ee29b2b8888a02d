//! The guide and the runbook cannot drift from the code: every relative link leads to a file
//! and a heading that exist, every option written `name = value` is one the attributes take,
//! and every test a page cites exists under that name. (Their Rust blocks are compiled and run
//! as doc tests: `resilience::Guide`.)

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pages checked.
fn pages() -> Vec<PathBuf> {
    ["docs/guide.md", "docs/runbook.md"]
        .iter()
        .map(|p| root().join(p))
        .filter(|p| p.exists())
        .collect()
}

/// GitHub's anchor of a heading: lowercase, spaces to `-`, punctuation other than `-` and `_`
/// dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings, outside code blocks.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// The text outside code blocks.
fn prose(text: &str) -> String {
    let mut in_code = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every `](target)` of the prose.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            found.push(rest[..end].to_owned());
        }
    }
    found
}

#[test]
fn every_link_leads_to_a_file_and_a_heading_that_exist() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = fs::read_to_string(&page).unwrap();
        for link in links(&prose(&text)) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, fragment) = match link.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!(
                    "{}: {link}: no file {}",
                    page.display(),
                    target.display()
                ));
                continue;
            }
            if let Some(fragment) = fragment {
                let text = fs::read_to_string(&target).unwrap();
                if !anchors(&text).contains(fragment) {
                    broken.push(format!(
                        "{}: {link}: no heading #{fragment}",
                        page.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_option_the_pages_name_is_one_the_attributes_take() {
    let known: BTreeSet<&str> = resilience_syntax::options::OPTIONS
        .iter()
        .map(|o| o.name)
        .collect();
    let mut unknown = Vec::new();
    for page in pages() {
        let text = prose(&fs::read_to_string(&page).unwrap());
        // Inline code spans: `threshold = 50%`, `#[bulkhead(max = 20, adaptive = gradient2)]`.
        for (i, span) in text.split('`').enumerate() {
            // Code spans only, and not TOML (`[fleet]`, `resilience = { .. }`).
            if i % 2 == 0 || span.contains('{') || span.starts_with('[') {
                continue;
            }
            let inner =
                span.split_once('(').map_or(
                    span,
                    |(head, args)| if head.starts_with("#[") { args } else { span },
                );
            for part in inner.split(',') {
                let Some((name, _)) = part.split_once(" = ") else {
                    continue;
                };
                let name = name.trim().trim_start_matches("#[");
                let is_word =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                if is_word && !known.contains(name) {
                    unknown.push(format!("{}: `{span}`", page.display()));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "options no attribute takes:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn every_test_a_page_cites_exists() {
    let mut missing = Vec::new();
    for page in pages() {
        let text = prose(&fs::read_to_string(&page).unwrap());
        // `tests/file.rs` (`test_name`, `other_test`): the file, and each name in it.
        let spans: Vec<&str> = text.split('`').collect();
        for (i, span) in spans.iter().enumerate() {
            if i % 2 == 0 || !(span.starts_with("tests/") || span.starts_with("examples/")) {
                continue;
            }
            let path = root().join(span);
            if !Path::new(&path).exists() {
                missing.push(format!("{}: no {span}", page.display()));
                continue;
            }
            let source = fs::read_to_string(&path).unwrap_or_default();
            // The names cited right after it, up to the end of the parenthesis.
            let mut j = i + 1;
            while j + 1 < spans.len() && !spans[j].contains(')') {
                let name = spans[j + 1];
                if name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                    && name.len() > 20
                    && !source.contains(&format!("fn {name}("))
                {
                    missing.push(format!("{}: no fn {name} in {span}", page.display()));
                }
                j += 2;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but missing:\n{}",
        missing.join("\n")
    );
}
