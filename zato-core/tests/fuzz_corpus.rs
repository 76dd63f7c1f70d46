//! Replays the fuzz targets' seed corpus (`fuzz/corpus/<target>/*`) through the functions the
//! targets run, on the stable toolchain: no input panics, each is decoded or refused with a 4xx.
mod support;

use support::fuzz_targets as targets;

use std::path::Path;

type Target = fn(&[u8]) -> Option<u16>;

#[test]
fn every_seed_is_decoded_or_refused_with_a_4xx() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let runs: [(&str, Target); 4] = [
        ("query", targets::query),
        ("json", targets::json),
        ("xml", targets::xml),
        ("soap", targets::soap),
    ];
    for (name, target) in runs {
        let dir = corpus.join(name);
        let mut seen = 0;
        let mut decoded = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            // `target` asserts the outcome itself; a panic names the file through this message.
            let outcome = std::panic::catch_unwind(|| target(&data));
            match outcome {
                Ok(None) => decoded += 1,
                Ok(Some(status)) => assert!((400..500).contains(&status)),
                Err(_) => panic!("{name}: {} panicked", path.display()),
            }
            seen += 1;
        }
        assert!(seen > 0, "no seeds in {}", dir.display());
        // Each corpus holds at least one well-formed request that decodes.
        assert!(decoded > 0, "{name}: no seed decoded");
    }
}
