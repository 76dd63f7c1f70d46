//! SimpleIO: a service declares its input and output once, as Rust types, and receives typed
//! input whatever format the caller used.
//!
//! Input comes from up to three sources, merged by [`ParamsPriority`]: the query string, the
//! path parameters of the channel's URL, and the body in the channel's [`DataFormat`]:
//! a JSON object (optionally wrapped in a request element), an XML document (elements matched by
//! local name, whatever their namespace or prefix), a SOAP 1.1 or 1.2 envelope, or a form. A key
//! repeated in the query string is a list; a single value where a list is declared is a list of
//! one.
//!
//! Decoding never stops at the first problem: every missing element and every element of the
//! wrong type is reported, in one [`SioError::InvalidInput`], each a 400.
//!
//! Decoding is strict where leniency would guess: a JSON number or boolean is not text (send
//! `"5"` for a text element; a JSON string does make a number), a JSON object may not repeat a
//! key, a list takes at most [`DEFAULT_MAX_ITEMS`] items unless the channel or the field
//! (`#[sio(max_items = N)]`) says otherwise, and at least as many as its field says
//! (`#[sio(min_items = N)]`, none by default), and only UTF-8 is read. A SOAP envelope has exactly
//! one Body holding exactly one request element; an envelope in another namespace is a
//! `VersionMismatch` fault, and a header block marked `mustUnderstand` for us a `MustUnderstand`
//! fault (we understand no header), both 400 (see [`SioError::status`]).
//!
//! # Examples
//!
//! ```
//! use zato_core::sio::{self, DataFormat};
//! use zato_macros::SimpleIo; // `zato::prelude` re-exports it
//!
//! #[derive(SimpleIo, Debug)]
//! #[sio(crate = "zato_core")]
//! struct Dispatch {
//!     target: Vec<String>,
//!     priority: Option<u8>,
//! }
//!
//! let input: Dispatch = sio::decode_parts(
//!     DataFormat::Json,
//!     Some("target=CRM&target=Billing"),
//!     br#"{"id":"123","priority":"2"}"#,
//! )
//! .unwrap();
//! assert_eq!(input.target, ["CRM", "Billing"]);
//! assert_eq!(input.priority, Some(2));
//! ```

// Dependencies point one way, each module using only those listed after it: `decode` (with
// `SioInput`), `output` (with `SioOutput`) and `types` use `element` (`SioType`, `SioObject`),
// which uses `node`, `writer`, `desc` and `error`; `node` and `writer` use `xml`, which uses
// `error` and `work`; `error`, `desc`, `format` and `work` are leaves. This module only declares
// and re-exports.
mod decode;
mod desc;
mod element;
mod error;
mod format;
pub(crate) mod node;
mod output;
#[cfg(test)]
mod prop_tests;
mod types;
mod work;
mod writer;
mod xml;

pub use decode::{
    Decoded, ParamsPri, ParamsPriority, SioInput, Source, UrlParamsPri, decode, decode_parts,
    soap_payload,
};
pub use desc::{ElementDesc, TextRule, TypeDesc};
pub use element::{SioObject, SioType};
pub use error::{
    DEFAULT_MAX_ITEMS, ElementError, ElementProblem, Errors, FaultCode, InvalidInput, Path,
    SioError,
};
pub use format::DataFormat;
pub use node::{Fields, JSON_MAX_DEPTH, Node, Repeated};
pub use output::{ReplyFormat, SioOutput, SoapVersion, encode_output};
pub(crate) use output::{begin_envelope, end_envelope};
pub use types::{Csv, Raw};
pub(crate) use writer::xml_text;
pub use writer::{RawKind, Writer};
// The one thing SimpleIO takes from outside itself: a leaf module that imports nothing either.
pub use crate::secret::Secret;
pub use xml::{XmlElement, XmlLimits};
