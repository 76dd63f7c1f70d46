//! `--set FIELD=VALUE` pairs, and the JSON object (a merge patch, or a new object) they make.

use serde_json::{Map, Value};

/// One `--set FIELD=VALUE`: the field's path (`a.b` is field `b` inside object `a`) and its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Assignment {
    path: Vec<String>,
    value: Value,
}

impl Assignment {
    /// Parses `FIELD=VALUE`. VALUE is JSON when it parses as JSON (`10`, `true`, `null`,
    /// `["a"]`, `{"k": 1}`, `"10"`), else the text as it is (`NEW`, `Invoice Dispatcher`).
    pub(crate) fn parse(arg: &str) -> Result<Assignment, String> {
        let Some((field, text)) = arg.split_once('=') else {
            return Err("expected FIELD=VALUE".to_owned());
        };
        let field = field.trim();
        if field.is_empty() {
            return Err("expected FIELD=VALUE, the FIELD is empty".to_owned());
        }
        let path: Vec<String> = field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("field `{field}` has an empty part"));
        }
        let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        Ok(Assignment { path, value })
    }

    /// The field as given: `pool_size`, `custom_options.region`.
    pub(crate) fn field(&self) -> String {
        self.path.join(".")
    }
}

/// Applies `assignments` in order to `target`; a later one wins over an earlier one for the same
/// field.
///
/// # Errors
///
/// A field that goes through a value that is not an object (`--set a=1 --set a.b=2`).
pub(crate) fn apply(
    target: &mut Map<String, Value>,
    assignments: &[Assignment],
) -> Result<(), String> {
    for a in assignments {
        let (last, parents) = match a.path.split_last() {
            Some(split) => split,
            None => continue,
        };
        let mut object = &mut *target;
        for (depth, key) in parents.iter().enumerate() {
            let slot = object
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            object = match slot {
                Value::Object(inner) => inner,
                _ => {
                    return Err(format!(
                        "--set {}: `{}` is not an object",
                        a.field(),
                        a.path[..=depth].join(".")
                    ));
                }
            };
        }
        object.insert(last.clone(), a.value.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(args: &[&str]) -> Result<Value, String> {
        let parsed: Vec<Assignment> = args.iter().map(|a| Assignment::parse(a).unwrap()).collect();
        let mut map = Map::new();
        apply(&mut map, &parsed)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn values_are_json_when_they_parse_else_text() {
        assert_eq!(
            patch(&[
                "key=NEW",
                "pool_size=10",
                "is_active=false",
                "tenant_name=null",
                "targets=[\"CRM\",\"Billing\"]",
                "name=Invoice Dispatcher",
                "quoted=\"10\"",
                "ratio=0.5",
                "empty=",
                "eq=a=b",
            ])
            .unwrap(),
            json!({
                "key": "NEW", "pool_size": 10, "is_active": false, "tenant_name": null,
                "targets": ["CRM", "Billing"], "name": "Invoice Dispatcher", "quoted": "10",
                "ratio": 0.5, "empty": "", "eq": "a=b"
            })
        );
    }

    #[test]
    fn dotted_fields_are_nested_and_later_pairs_win() {
        assert_eq!(
            patch(&[
                "custom_options.region=eu",
                "custom_options.retries=3",
                "a.b.c=1",
                "a.b.c=2"
            ])
            .unwrap(),
            json!({"custom_options": {"region": "eu", "retries": 3}, "a": {"b": {"c": 2}}})
        );
    }

    #[test]
    fn a_field_through_a_value_is_refused() {
        let err = patch(&["a=1", "a.b=2"]).unwrap_err();
        assert_eq!(err, "--set a.b: `a` is not an object");
    }

    #[test]
    fn malformed_pairs_are_refused() {
        assert_eq!(
            Assignment::parse("pool_size").unwrap_err(),
            "expected FIELD=VALUE"
        );
        assert!(Assignment::parse("=1").is_err());
        assert!(Assignment::parse("a..b=1").is_err());
        assert!(Assignment::parse(".a=1").is_err());
    }
}
