//! Topic patterns: `invoices.*` matches one segment in place of the star, `invoices.**` one
//! segment or more.

/// Whether the topic `name` matches `pattern`. Segments are separated by dots; `*` stands for
/// exactly one segment and `**` for one or more. A pattern without stars matches itself only.
///
/// # Examples
///
/// ```
/// use zato_pubsub::matches;
///
/// assert!(matches("invoices.*", "invoices.stored"));
/// assert!(!matches("invoices.*", "invoices.stored.crm"));
/// assert!(matches("invoices.**", "invoices.stored.crm"));
/// assert!(!matches("invoices.**", "invoices"));
/// assert!(matches("invoices.stored", "invoices.stored"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let name: Vec<&str> = name.split('.').collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[&str], name: &[&str]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((&"**", rest)), Some(_)) => {
            // One segment or more: try every split that leaves at least one to the `**`.
            (1..=name.len()).any(|taken| matches_from(rest, &name[taken..]))
        }
        (Some((&"*", rest)), Some((_, names))) => matches_from(rest, names),
        (Some((p, rest)), Some((n, names))) => p == n && matches_from(rest, names),
    }
}

/// Whether `pattern` is well formed: non-empty segments, stars only as whole segments.
pub(crate) fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("must not be empty".into());
    }
    if pattern.len() > 200 {
        return Err("must be at most 200 characters".into());
    }
    for segment in pattern.split('.') {
        if segment.is_empty() {
            return Err(format!("`{pattern}` has an empty segment"));
        }
        if segment.contains('*') && segment != "*" && segment != "**" {
            return Err(format!(
                "`{pattern}`: a star stands for whole segments only (`*` or `**`)"
            ));
        }
        if segment.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{pattern}` holds whitespace"));
        }
    }
    Ok(())
}

/// Whether `name` is a topic name: a pattern without stars.
pub(crate) fn check_topic(name: &str) -> Result<(), String> {
    check(name)?;
    if name.contains('*') {
        return Err(format!("`{name}`: a topic's name has no stars"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_segments() {
        assert!(matches("*.stored", "invoices.stored"));
        assert!(matches("a.**.z", "a.b.c.z"));
        assert!(!matches("a.**.z", "a.z"));
        assert!(matches("**", "anything.at.all"));
        assert!(!matches("invoices.*", "orders.stored"));
    }

    #[test]
    fn malformed_patterns_are_named() {
        assert!(check("a..b").is_err());
        assert!(check("a.b*").is_err());
        assert!(check("").is_err());
        assert!(check_topic("a.*").is_err());
        assert!(check_topic("invoices.stored").is_ok());
    }
}
