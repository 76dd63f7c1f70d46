//! What the `#[service]` and `#[derive(SimpleIo)]` expansions call. Not a public API.

pub use crate::context::Context;
pub use crate::error::ServiceError;
pub use crate::service::{Request, Response, Service};
pub use crate::sio::{
    ElementDesc, Errors, Fields, Node, Path, SioObject, SioType, TypeDesc, Writer,
};

use crate::sio::node::{JsonObject, Layer, ScalarText};

/// Decodes the field `name`: its value, or when absent, the type's missing value (None for an
/// `Option`) or a recorded "missing".
pub fn field<T: SioType>(
    fields: &Fields<'_>,
    name: &str,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<T> {
    let here = Path::Field(path, name);
    match fields.get(name) {
        Some(node) => T::decode(node, &here, errors),
        None => T::when_missing().or_else(|| {
            errors.missing(&here);
            None
        }),
    }
}

/// Decodes the field `name`, or `default()` when it is absent.
pub fn field_or<T: SioType>(
    fields: &Fields<'_>,
    name: &str,
    path: &Path<'_>,
    errors: &mut Errors,
    default: impl FnOnce() -> T,
) -> Option<T> {
    match fields.get(name) {
        Some(node) => T::decode(node, &Path::Field(path, name), errors),
        None => Some(default()),
    }
}

/// Encodes the field `name`, unless it is empty and empty keys are skipped and not forced.
pub fn encode_field<T: SioType>(value: &T, name: &str, w: &mut Writer<'_>, skip_empty: bool) {
    if skip_empty && value.is_empty_value() {
        return;
    }
    value.encode(name, w);
}

/// Describes one element.
pub fn element<T: SioType>(name: &'static str, required: bool) -> ElementDesc {
    ElementDesc {
        name,
        ty: T::type_desc(),
        required: required && T::when_missing().is_none(),
        description: None,
        default: None,
    }
}

/// `value` as SimpleIO writes it in JSON, as JSON text: an element's default, for descriptions.
pub fn default_json<T: SioType>(value: &T) -> Option<String> {
    let mut buf = Vec::with_capacity(64);
    let mut w = Writer::new(&mut buf, false);
    w.begin_object("");
    value.encode("v", &mut w);
    w.end_object("");
    let parsed: serde_json::Value = serde_json::from_slice(&buf).ok()?;
    parsed.get("v").map(serde_json::Value::to_string)
}

/// Decodes a nested object from a JSON object or an XML element.
pub fn decode_nested<T: SioObject>(
    node: Node<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<T> {
    match node {
        Node::Json(raw) if raw.get().starts_with('{') => match JsonObject::parse(raw.get()) {
            Ok(obj) => T::decode_fields(&Fields::one(Layer::Json(&obj.0)), path, errors),
            Err(e) => {
                e.record(path, errors);
                None
            }
        },
        Node::Xml(elem, src) => T::decode_fields(&Fields::one(Layer::Xml(elem, src)), path, errors),
        other => {
            let got = match other.scalar_text() {
                ScalarText::Text(t) => t.into_owned(),
                ScalarText::Null => "null".to_owned(),
                ScalarText::NotScalar(what) => what,
            };
            errors.wrong_type(path, "object", &got);
            None
        }
    }
}

/// Encodes a nested object.
pub fn encode_nested<T: SioObject>(value: &T, name: &str, w: &mut Writer<'_>) {
    w.begin_object(name);
    value.encode_fields(w);
    w.end_object(name);
}

/// Turns what a `#[service]` function returned into what [`Service::handle`] returns.
pub fn into_response<O, E: Into<ServiceError>>(
    result: Result<O, E>,
) -> Result<Response<O>, ServiceError> {
    result.map(Response::new).map_err(Into::into)
}

/// The same for a function that returned a [`Response`] itself.
pub fn from_response<O, E: Into<ServiceError>>(
    result: Result<Response<O>, E>,
) -> Result<Response<O>, ServiceError> {
    result.map_err(Into::into)
}

/// What [`Service::handle`] returns for a `#[service]` function: the function's future with its
/// result turned by [`into_response`]. A combinator rather than an `async` block: a block
/// would keep the request it was given beside the function's future holding it, and the
/// future the registry boxes for every request would be twice the size.
pub fn plain_response<F, O, E>(
    fut: F,
) -> impl Future<Output = Result<Response<O>, ServiceError>> + Send
where
    F: Future<Output = Result<O, E>> + Send,
    E: Into<ServiceError>,
{
    futures_util::FutureExt::map(fut, into_response)
}

/// The same for a function that returns a [`Response`] itself, turned by [`from_response`].
pub fn full_response<F, O, E>(
    fut: F,
) -> impl Future<Output = Result<Response<O>, ServiceError>> + Send
where
    F: Future<Output = Result<Response<O>, E>> + Send,
    E: Into<ServiceError>,
{
    futures_util::FutureExt::map(fut, from_response)
}

/// The field operations the `SimpleIo` derive calls, chosen per field type by autoref: for an
/// element type method lookup finds [`ElementOps`] on `FieldOps<T>`; for any other type it takes
/// one more `&` and finds [`NotElementOps`], whose bodies never run, because the derive's
/// assertion on that field's type has already failed the build. Calling [`field`] and the like
/// directly would repeat the assertion's error at every use of the type, one of them pointing at
/// the derive.
#[derive(Debug)]
pub struct FieldOps<T>(std::marker::PhantomData<T>);

impl<T> FieldOps<T> {
    /// The operations for fields of type `T`.
    pub const NEW: Self = FieldOps(std::marker::PhantomData);
}

/// The field operations of an element type.
pub trait ElementOps<T: SioType> {
    /// See [`element`].
    fn __sio_element(&self, name: &'static str, required: bool) -> ElementDesc {
        element::<T>(name, required)
    }

    /// See [`field`].
    fn __sio_field(
        &self,
        fields: &Fields<'_>,
        name: &str,
        path: &Path<'_>,
        errors: &mut Errors,
    ) -> Option<T> {
        field::<T>(fields, name, path, errors)
    }

    /// See [`default_json`].
    fn __sio_default(&self, default: impl FnOnce() -> T) -> Option<String> {
        default_json::<T>(&default())
    }

    /// See [`field_or`].
    fn __sio_field_or(
        &self,
        fields: &Fields<'_>,
        name: &str,
        path: &Path<'_>,
        errors: &mut Errors,
        default: impl FnOnce() -> T,
    ) -> Option<T> {
        field_or::<T>(fields, name, path, errors, default)
    }

    /// See [`encode_field`].
    fn __sio_encode(&self, value: &T, name: &str, w: &mut Writer<'_>, skip_empty: bool) {
        encode_field::<T>(value, name, w, skip_empty)
    }
}

impl<T: SioType> ElementOps<T> for FieldOps<T> {}

/// The stand-in for a type that is not an element: only reached in a build that has already
/// failed.
pub trait NotElementOps<T> {
    /// Never runs.
    fn __sio_element(&self, _: &'static str, _: bool) -> ElementDesc {
        unreachable!("a SimpleIO field of a type that is not an element type")
    }

    /// Never runs.
    fn __sio_field(&self, _: &Fields<'_>, _: &str, _: &Path<'_>, _: &mut Errors) -> Option<T> {
        unreachable!("a SimpleIO field of a type that is not an element type")
    }

    /// Never runs.
    fn __sio_default(&self, _: impl FnOnce() -> T) -> Option<String> {
        unreachable!("a SimpleIO field of a type that is not an element type")
    }

    /// Never runs.
    fn __sio_field_or(
        &self,
        _: &Fields<'_>,
        _: &str,
        _: &Path<'_>,
        _: &mut Errors,
        _: impl FnOnce() -> T,
    ) -> Option<T> {
        unreachable!("a SimpleIO field of a type that is not an element type")
    }

    /// Never runs.
    fn __sio_encode(&self, _: &T, _: &str, _: &mut Writer<'_>, _: bool) {
        unreachable!("a SimpleIO field of a type that is not an element type")
    }
}

impl<T> NotElementOps<T> for &FieldOps<T> {}
