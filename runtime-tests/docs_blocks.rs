//! The guided tour cannot lie: every `sh` block in docs/internals runs as written
//! (against the shared test store), the output a chapter shows after a block is compared
//! with what the block printed, a refusal the text promises (`! hako import evil.tar`) is
//! asserted, and every exercise has a solution that runs too.
//!
//! Rules for a block, checked before anything runs: no `|| echo` or `|| true` (a block
//! that cannot fail proves nothing), no `sleep` on the host as synchronisation (wait for
//! the thing itself). In a `text` block right after an `sh` block, each line must appear
//! in the output, in order; `…` stands for any run of characters (timings, ids).

use crate::harness::*;
use std::path::{Path, PathBuf};

struct Block {
    file: PathBuf,
    line: usize,
    script: String,
    /// The `text` block that follows it: the output the chapter shows.
    shown: Vec<String>,
}

/// The blocks of one chapter, with the output each one shows.
fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Block> = vec![];
    // Where the last sh block closed: a text block right after it shows its output.
    let mut sh_closed_at = None;
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim();
        if fence == "```sh" || fence == "```text" {
            let start = i + 1;
            let end = start
                + lines[start..]
                    .iter()
                    .position(|l| l.trim() == "```")
                    .unwrap_or_else(|| panic!("{}:{start}: unclosed block", file.display()));
            let body: Vec<String> = lines[start..end].iter().map(|l| l.to_string()).collect();
            if fence == "```sh" {
                out.push(Block {
                    file: file.to_path_buf(),
                    line: start,
                    script: body.join("\n") + "\n",
                    shown: vec![],
                });
                sh_closed_at = Some(end);
            } else if let Some(closed) = sh_closed_at {
                if lines[closed + 1..i].iter().all(|l| l.trim().is_empty()) {
                    out.last_mut().unwrap().shown = body;
                }
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Why a block would prove nothing, if it would.
fn lint(script: &str) -> Option<&'static str> {
    for line in script.lines() {
        let code = strip_quotes(line);
        if code.contains("|| echo") || code.contains("|| true") {
            return Some("`|| echo`/`|| true` makes the block unable to fail; assert the refusal with `! command`");
        }
        let words: Vec<&str> = code.split([';', '&', '|']).map(str::trim).collect();
        if words.iter().any(|w| w.starts_with("sleep ")) {
            return Some("`sleep` on the host is not synchronisation; wait for what you need");
        }
        if code.contains(" /tmp/") {
            return Some("a fixed /tmp path collides with another run; use `$(mktemp)`");
        }
    }
    None
}

/// The line with its quoted parts removed (what runs in a container, or is printed).
fn strip_quotes(line: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// `! command` lines become an assertion: `sh -e` does not stop on a negated command.
fn with_refusals_asserted(script: &str) -> String {
    script
        .lines()
        .map(|l| match l.strip_prefix("! ") {
            Some(cmd) => format!(
                "if {cmd}; then echo 'docs: expected a refusal: {}' >&2; exit 1; fi",
                cmd.replace('\'', "")
            ),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Whether `pattern` (with `…` for any run of characters) matches `line` whole.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.trim_end().split('…').collect();
    let line = line.trim_end();
    let Some(rest) = line.strip_prefix(parts[0]) else {
        return false;
    };
    if parts.len() == 1 {
        return rest.is_empty();
    }
    let mut rest = rest;
    for (n, part) in parts[1..].iter().enumerate() {
        let last = n == parts.len() - 2;
        if last {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Each shown line, in order, among the output's lines: the first one missing.
fn first_missing<'a>(shown: &'a [String], output: &str) -> Option<&'a str> {
    let mut lines = output.lines();
    shown
        .iter()
        .filter(|s| !s.trim().is_empty())
        .find(|s| !lines.any(|l| line_matches(s, l)))
        .map(String::as_str)
}

fn chapters() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(project_dir().join("docs/internals"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn internals_blocks_follow_the_rules() {
    let mut problems = vec![];
    for file in chapters() {
        for b in blocks(&file) {
            if let Some(why) = lint(&b.script) {
                problems.push(format!("{}:{}: {why}", file.display(), b.line));
            }
        }
        // Every exercise is followed by its solution, before the next exercise or heading.
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, part) in text.split("**Exercise.**").enumerate().skip(1) {
            let until = part.find("\n#").unwrap_or(part.len());
            let section = &part[..until];
            if !section.contains("**Solution.**") || !section.contains("```sh") {
                problems.push(format!(
                    "{}: exercise {n} has no **Solution.** with an sh block",
                    file.display()
                ));
            }
        }
        for stale in [
            "will come later",
            "will come in a later",
            "not yet implemented",
        ] {
            if text.contains(stale) {
                problems.push(format!("{}: stale sentence ({stale:?})", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rules_catch_what_they_are_for() {
    assert!(lint("hako import evil.tar || echo refused\n").is_some());
    assert!(lint("hako run -d x busybox sleep 60\nsleep 1\n").is_some());
    assert!(lint("a && sleep 2; b\n").is_some());
    assert!(lint("hako run busybox sh -c 'sleep 1; echo'\n").is_none());
    assert!(lint("hako export -o /tmp/x.tar c\n").is_some());
    assert!(lint("t=$(mktemp)\nhako export -o \"$t\" c\n").is_none());
    assert!(lint("hako run busybox sh -c 'echo > /tmp/x'\n").is_none());
    assert!(line_matches(
        "[… ms] namespaces clone(…) … ms",
        "[   1.2 ms] namespaces clone(CLONE_NEWPID) 0.4 ms"
    ));
    assert!(!line_matches("exit 1", "exit 12"));
    assert!(line_matches("…", "anything"));
    let shown = vec!["b".to_string(), "a".to_string()];
    assert_eq!(first_missing(&shown, "a\nb\n"), Some("a"), "order counts");
    let refusal = with_refusals_asserted("! false\n! true\n");
    let o = std::process::Command::new("sh")
        .args(["-ec", &refusal])
        .output()
        .unwrap();
    assert!(!o.status.success() && stderr(&o).contains("expected a refusal: true"));
}

#[test]
fn internals_command_blocks_run() {
    if !require_root("docs blocks") {
        return;
    }
    let root = shared_root();
    let bin_dir = Path::new(HAKO).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for file in chapters() {
        for b in blocks(&file) {
            // One stream, in the order it was written: shown output mixes both.
            let script = format!("exec 2>&1\n{}", with_refusals_asserted(&b.script));
            let o = std::process::Command::new("timeout")
                .args(["-k", "10", "120", "sh", "-ec", &script])
                .env("PATH", &path)
                .env("HAKO_ROOT", root)
                .current_dir(project_dir())
                .output()
                .unwrap();
            let context = || {
                format!(
                    "{}:{}:\n{}\n--- stdout\n{}\n--- stderr\n{}",
                    b.file.display(),
                    b.line,
                    b.script,
                    stdout(&o),
                    stderr(&o)
                )
            };
            assert!(o.status.success(), "block failed: {}", context());
            let output = stdout(&o);
            if let Some(line) = first_missing(&b.shown, &output) {
                panic!(
                    "the chapter shows {line:?}, the block did not print it: {}",
                    context()
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} blocks found");
}
