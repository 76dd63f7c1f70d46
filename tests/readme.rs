//! The README's embedding example is also the crate documentation's: the two must not drift.

/// The lines of the first fenced block opened by `open` in `text`, with `prefix` removed.
fn block(text: &str, prefix: &str, open: &str) -> Vec<String> {
    let mut lines = text
        .lines()
        .map(|l| {
            l.strip_prefix(prefix)
                .or_else(|| l.strip_prefix(prefix.trim_end()))
                .unwrap_or(l)
                .trim_end()
        })
        .skip_while(|l| l.trim_start() != open)
        .skip(1);
    let found: Vec<String> = lines
        .by_ref()
        .take_while(|l| l.trim_start() != "```")
        .map(str::to_owned)
        .collect();
    assert!(!found.is_empty(), "no {open} block");
    found
}

#[test]
fn the_embedding_example_is_the_same_in_the_readme_and_the_crate_docs() {
    let readme = include_str!("../README.md");
    let docs = include_str!("../src/lib.rs");
    let after = |text: &'static str, heading: &str| {
        let at = text.find(heading).unwrap_or_else(|| panic!("no {heading}"));
        &text[at..]
    };
    let in_readme = block(
        after(readme, "## Embedding it in your own `main`"),
        "",
        "```rust,no_run",
    );
    let in_docs = block(
        after(docs, "//! # Embedding it in your own `main`"),
        "//! ",
        "```no_run",
    );
    assert_eq!(in_readme, in_docs);
    assert!(in_readme.iter().any(|l| l.contains("Node::from_env")));
}
