//! Every committed input through its target, without libFuzzer: the seed corpus
//! (`corpus/<target>/`) and the inputs that once found a bug (`regressions/<target>/`), so a
//! plain `cargo test` here fails if a fixed bug comes back or the targets stop running the
//! seeds cleanly.

use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut ran = 0;
    for (target, run) in coffer_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            eprintln!("{target}: {}", file.display());
            run(&data);
            ran += 1;
        }
    }
    ran
}

#[test]
fn committed_inputs_run_clean() {
    assert!(replay("corpus") > 100, "the seed corpus is missing");
    // Empty until a fuzzer finds a bug (`scripts/fuzz` replays it too).
    replay("regressions");
}
