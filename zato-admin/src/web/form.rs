//! Submitted forms: read from a URL-encoded or multipart body, and turned into a configuration
//! object shaped like the one the form was drawn from.

use bytes::Bytes;
use serde_json::{Map, Value};
use zato_core::config::{ObjectKey, ObjectSchema, SECRET_PLACEHOLDER};

/// A submitted form: its fields in order, and its files.
#[derive(Default)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
    files: Vec<Upload>,
}

/// A file sent with a form.
pub(crate) struct Upload {
    pub(crate) field: String,
    pub(crate) file_name: String,
    pub(crate) bytes: Bytes,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: only the names show.
        f.debug_struct("Form")
            .field(
                "fields",
                &self.fields.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("files", &self.files.len())
            .finish()
    }
}

/// Why a form could not be read.
#[derive(Debug)]
pub(crate) struct FormError(pub(crate) String);

impl Form {
    /// Reads `body` as its `content_type` says: `application/x-www-form-urlencoded` or
    /// `multipart/form-data`.
    pub(crate) async fn read(content_type: &str, body: Bytes) -> Result<Form, FormError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-www-form-urlencoded" | "" => Ok(Form {
                fields: form_urlencoded::parse(&body).into_owned().collect(),
                files: Vec::new(),
            }),
            "multipart/form-data" => multipart(content_type, body).await,
            other => Err(FormError(format!(
                "a form is sent as application/x-www-form-urlencoded or multipart/form-data, not {other}"
            ))),
        }
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first file sent as `name`, when one with content was.
    pub(crate) fn file(&self, name: &str) -> Option<&Upload> {
        self.files
            .iter()
            .find(|f| f.field == name && !f.bytes.is_empty())
    }
}

async fn multipart(content_type: &str, body: Bytes) -> Result<Form, FormError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| FormError("the multipart form names no boundary".into()))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut form = Form::default();
    let bad = |_| FormError("the multipart form could not be read".into());
    while let Some(field) = parts.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let bytes = field.bytes().await.map_err(bad)?;
                form.files.push(Upload {
                    field: name,
                    file_name,
                    bytes,
                });
            }
            None => {
                let text = field.text().await.map_err(bad)?;
                form.fields.push((name, text));
            }
        }
    }
    Ok(form)
}

/// The name of the input holding the object's field `field`.
pub(crate) fn input_name(field: &str) -> String {
    format!("f.{field}")
}

/// How a field is edited, from the value it has in the object the form is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Text,
    /// Text, where empty means none.
    Optional,
    Number,
    Bool,
    /// A list or a table, edited as JSON.
    Json,
}

impl FieldType {
    pub(crate) fn of(value: &Value) -> FieldType {
        match value {
            Value::String(_) => FieldType::Text,
            Value::Null => FieldType::Optional,
            Value::Number(_) => FieldType::Number,
            Value::Bool(_) => FieldType::Bool,
            Value::Array(_) | Value::Object(_) => FieldType::Json,
        }
    }
}

/// A value as the form shows it.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The object the form describes, shaped like `shape`: each field of `shape` but the secret
/// ones, converted by its type. Values of the wrong type are kept as text, for the configuration's
/// own validation to name; only JSON that does not parse is reported here, per field.
pub(crate) fn object_from(
    shape: &Map<String, Value>,
    secrets: &[&str],
    form: &Form,
) -> (Map<String, Value>, Vec<(String, String)>) {
    let mut object = Map::new();
    let mut problems = Vec::new();
    for (field, example) in shape {
        if secrets.contains(&field.as_str()) {
            continue;
        }
        let given = form.get(&input_name(field));
        let value = match FieldType::of(example) {
            FieldType::Bool => Value::Bool(given.is_some_and(|v| v == "true" || v == "on")),
            FieldType::Text => Value::String(given.unwrap_or_default().to_owned()),
            FieldType::Number => number_or_text(given.unwrap_or_default()),
            FieldType::Optional => match given.map(str::trim) {
                None | Some("") => Value::Null,
                Some(v) => number_or_text(v),
            },
            FieldType::Json => {
                let text = given.unwrap_or_default().trim();
                if text.is_empty() {
                    Value::Null
                } else {
                    match serde_json::from_str(text) {
                        Ok(v) => v,
                        Err(e) => {
                            problems.push((field.clone(), format!("not valid JSON: {e}")));
                            continue;
                        }
                    }
                }
            }
        };
        object.insert(field.clone(), value);
    }
    (object, problems)
}

fn number_or_text(text: &str) -> Value {
    let text = text.trim();
    match serde_json::from_str::<Value>(text) {
        Ok(n @ Value::Number(_)) => n,
        _ => Value::String(text.to_owned()),
    }
}

/// The secrets typed into a form, for a new object or a changed secret: only those given.
pub(crate) fn secrets_from(secrets: &[&str], form: &Form) -> Map<String, Value> {
    secrets
        .iter()
        .filter_map(|f| {
            let v = form.get(&input_name(f))?;
            (!v.is_empty()).then(|| ((*f).to_owned(), Value::String(v.to_owned())))
        })
        .collect()
}

/// For an edit: each secret the object has is written back as the placeholder, which keeps it.
pub(crate) fn keep_secrets(object: &mut Map<String, Value>, current: &Value, secrets: &[&str]) {
    for field in secrets {
        if current.get(*field).is_some_and(|v| !v.is_null()) {
            object.insert(
                (*field).to_owned(),
                Value::String(SECRET_PLACEHOLDER.to_owned()),
            );
        }
    }
}

/// The field of the object `key` a problem's path names, and the problem; `None` for a problem
/// about something else (another object, the whole document).
pub(crate) fn field_of(key: &ObjectKey, path: &str) -> Option<String> {
    let own = key.to_string();
    let rest = path.strip_prefix(&own)?.strip_prefix('.')?;
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next().map(str::to_owned);
    }
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// The shape of a new object of a kind, for the create form, from the kind's description
/// ([`ObjectSchema::describe`]): a required field empty, a secret without a value, an optional
/// field with its default (null when it has none); a security definition keeps its `type`.
pub(crate) fn template(
    schema: &dyn ObjectSchema,
    security_type: Option<&str>,
) -> Map<String, Value> {
    let info = schema.describe();
    let mut object = Map::new();
    for field in &info.fields {
        let value = if let (Some(ty), "type") = (security_type, field.name.as_str()) {
            Value::String(ty.to_owned())
        } else if field.secret {
            Value::Null
        } else if field.required {
            Value::String(String::new())
        } else {
            field.default.clone().unwrap_or(Value::Null)
        };
        object.insert(field.name.clone(), value);
    }
    object
        .entry("name")
        .or_insert_with(|| Value::String(String::new()));
    if let Some(ty) = security_type {
        object.insert("type".into(), Value::String(ty.to_owned()));
    }
    object
}

/// What a path segment of the admin's URLs escapes: all but letters, digits and `-._~`.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The object's name as a path segment of the admin's URLs.
pub(crate) fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zato_core::config::Section;

    #[test]
    fn a_problem_is_placed_at_the_field_it_names() {
        let k = ObjectKey::new(Section::Outgoing, "swift", "Invoice Dispatcher");
        assert_eq!(
            field_of(&k, r#"outgoing.swift."Invoice Dispatcher".pool_size"#).as_deref(),
            Some("pool_size")
        );
        let c = ObjectKey::new(Section::Channels, "http", "crm");
        assert_eq!(
            field_of(&c, "channels.http.crm.methods[1]").as_deref(),
            Some("methods")
        );
        assert_eq!(field_of(&c, "channels.http.crmx.url_path"), None);
        assert_eq!(field_of(&c, "security.basic"), None);
    }

    #[test]
    fn a_new_object_s_form_shows_every_field_with_its_default() {
        let kinds = zato_channels::config_schemas();
        let basic = kinds.iter().find(|k| k.kind() == "basic_auth");
        let shape = basic
            .map(|k| template(k.as_ref(), Some("basic_auth")))
            .unwrap_or_default();
        assert_eq!(
            Value::Object(shape),
            serde_json::json!({
                "name": "", "type": "basic_auth", "username": "", "password": null, "realm": "zato"
            }),
            "required fields empty, defaults filled in, the secret without a value"
        );
        let http = template(
            zato_core::kind::schema::<zato_channels::HttpChannelKind>().as_ref(),
            None,
        );
        for (field, default) in [
            ("url_path", serde_json::json!("")),
            ("service", serde_json::json!("")),
            ("is_active", serde_json::json!(true)),
            ("max_items", serde_json::json!(1000)),
        ] {
            assert_eq!(http.get(field), Some(&default), "{field}");
        }
    }

    #[tokio::test]
    async fn fields_keep_their_types_and_wrong_ones_are_left_for_validation() {
        let shape = serde_json::json!({
            "name": "", "is_active": true, "pool_size": 10, "security": null,
            "methods": [], "password": null
        });
        let body =
            "f.name=crm&f.pool_size=abc&f.security=&f.methods=%5B%22POST%22%5D&f.password=s3cret";
        let form = Form::read("application/x-www-form-urlencoded", Bytes::from(body))
            .await
            .unwrap_or_default();
        let shape = shape.as_object().cloned().unwrap_or_default();
        let (object, problems) = object_from(&shape, &["password"], &form);
        assert!(problems.is_empty());
        assert_eq!(
            Value::Object(object),
            serde_json::json!({
                "name": "crm", "is_active": false, "pool_size": "abc", "security": null,
                "methods": ["POST"]
            }),
            "an unchecked box is false; the secret is not taken from the edit fields"
        );
        assert_eq!(
            Value::Object(secrets_from(&["password"], &form)),
            serde_json::json!({"password": "s3cret"})
        );
    }
}
