//! Characters that do not show: control characters (C0, DEL, C1) and the invisible and
//! bidirectional format characters (zero-width space, right-to-left override, …).
//!
//! Names in a config document may hold none of them (the checker refuses them), and what shows
//! names or values to a person (the CLI, the metrics) writes them escaped, so that a value can
//! neither clear a terminal, set its title, nor reorder what it shows.
//!
//! # Examples
//!
//! ```
//! use zato_core::text::{escape_invisible, invisible};
//!
//! assert_eq!(invisible("orders\u{202e}txt.exe"), Some('\u{202e}'));
//! assert_eq!(invisible("orders"), None);
//! assert_eq!(escape_invisible("a\u{1b}[2Jb", &[]), "a\\u001b[2Jb");
//! assert_eq!(escape_invisible("one\ntwo", &['\n']), "one\ntwo");
//! ```

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` does not show: a control character or an invisible or bidirectional format
/// character.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// The first character of `text` that does not show, if any.
pub fn invisible(text: &str) -> Option<char> {
    text.chars().find(|c| is_invisible(*c))
}

/// `text` with each character that does not show, except those in `keep`, written as `\uXXXX`
/// (as JSON writes it: valid inside a JSON string and harmless on a terminal).
pub fn escape_invisible<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !text.chars().any(|c| is_invisible(c) && !keep.contains(&c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_invisible(c) && !keep.contains(&c) {
            // Every such character is in the Basic Multilingual Plane: four digits.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
