//! Every `sh` block in docs/internals runs as written (against the shared test store).

use crate::harness::*;

#[test]
fn internals_command_blocks_run() {
    if !require_root("docs blocks") {
        return;
    }
    let root = shared_root();
    let bin_dir = std::path::Path::new(HAKO).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    let mut files: Vec<_> = std::fs::read_dir(project_dir().join("docs/internals"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_block = false;
        let mut block = String::new();
        for line in text.lines() {
            if line.trim() == "```sh" {
                in_block = true;
                block.clear();
            } else if in_block && line.trim() == "```" {
                in_block = false;
                let o = std::process::Command::new("timeout")
                    .args(["-k", "10", "120", "sh", "-ec", &block])
                    .env("PATH", &path)
                    .env("HAKO_ROOT", root)
                    .current_dir(project_dir())
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "{}: block failed:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
                    file.display(),
                    stdout(&o),
                    stderr(&o)
                );
                ran += 1;
            } else if in_block {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(ran >= 10, "only {ran} blocks found");
}
