//! The AMQP JMS Mapping, both ways: an AMQP 1.0 message as a service reads it, and
//! [`Amqp10Message`], what a service sends.
//!
//! - A JMS `TextMessage` is an `amqp-value` section holding a string, a `BytesMessage` one or
//!   more `data` sections; a `StreamMessage` is an `amqp-sequence`, a `MapMessage` an
//!   `amqp-value` map. The message annotation `x-opt-jms-msg-type` says which (5 text, 3 bytes).
//! - `JMSMessageID` is `message-id`, `JMSCorrelationID` `correlation-id`, `JMSReplyTo`
//!   `reply-to`, `JMSType` `subject`, `JMSDeliveryMode` the header's `durable`,
//!   `JMSXDeliveryCount` the header's `delivery-count` + 1, and the JMS properties are the
//!   application properties.

use bytes::Bytes;
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    AmqpSequence, AmqpValue, ApplicationProperties, Body, Data, Header, Message,
    MessageAnnotations, MessageId, Properties,
};
use fe2o3_amqp::types::primitives::{Binary, OrderedMap, SimpleValue, Symbol, Value};

/// The message annotation of the JMS message type.
pub(crate) const JMS_MSG_TYPE: &str = "x-opt-jms-msg-type";
const JMS_BYTES_MESSAGE: i8 = 3;
const JMS_TEXT_MESSAGE: i8 = 5;

/// The body of a message a service sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Amqp10Body {
    /// A JMS `TextMessage`: one `amqp-value` section holding the string.
    Text(String),
    /// A JMS `BytesMessage`: one `data` section.
    Bytes(Bytes),
}

/// A message to send through an AMQP 1.0 connection, as the JMS mapping lays it out.
///
/// # Examples
///
/// ```
/// use zato_amqp10::Amqp10Message;
///
/// let msg = Amqp10Message::text(r#"{"id":"123"}"#)
///     .with_correlation_id("order-7")
///     .with_property("target", "CRM");
/// assert_eq!(msg.properties[0], ("target".to_owned(), "CRM".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Amqp10Message {
    /// Its body.
    pub body: Amqp10Body,
    /// `message-id` (JMSMessageID); by default none, and the broker or the reader names it.
    pub message_id: Option<String>,
    /// `correlation-id` (JMSCorrelationID).
    pub correlation_id: Option<String>,
    /// `reply-to` (JMSReplyTo).
    pub reply_to: Option<String>,
    /// `subject` (JMSType).
    pub subject: Option<String>,
    /// `content-type`; a text body is `text/plain` to a JMS reader whatever this says.
    pub content_type: Option<String>,
    /// Application properties (the JMS message's properties), in order.
    pub properties: Vec<(String, String)>,
    /// Whether the broker keeps it on disk (JMSDeliveryMode PERSISTENT); on by default.
    pub durable: bool,
}

impl Amqp10Message {
    /// A text message (JMS `TextMessage`).
    pub fn text(body: impl Into<String>) -> Self {
        Amqp10Message::with_body(Amqp10Body::Text(body.into()))
    }

    /// A bytes message (JMS `BytesMessage`).
    pub fn bytes(body: impl Into<Bytes>) -> Self {
        Amqp10Message::with_body(Amqp10Body::Bytes(body.into()))
    }

    fn with_body(body: Amqp10Body) -> Self {
        Amqp10Message {
            body,
            message_id: None,
            correlation_id: None,
            reply_to: None,
            subject: None,
            content_type: None,
            properties: Vec::new(),
            durable: true,
        }
    }

    /// With `message-id`.
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// With `correlation-id`.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// With `reply-to`.
    pub fn with_reply_to(mut self, address: impl Into<String>) -> Self {
        self.reply_to = Some(address.into());
        self
    }

    /// With `subject`.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// With `content-type`.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// With one more application property.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }

    /// The message as fe2o3-amqp sends it.
    pub(crate) fn to_amqp(&self) -> Message<Body<Value>> {
        let (body, kind) = match &self.body {
            Amqp10Body::Text(s) => (
                Body::Value(AmqpValue(Value::String(s.clone()))),
                JMS_TEXT_MESSAGE,
            ),
            Amqp10Body::Bytes(b) => (
                Body::Data(vec![Data(Binary::from(b.to_vec()))].into()),
                JMS_BYTES_MESSAGE,
            ),
        };
        let mut annotations = OrderedMap::new();
        annotations.insert(
            OwnedKey::Symbol(Symbol::from(JMS_MSG_TYPE)),
            Value::Byte(kind),
        );
        let properties = Properties {
            message_id: self.message_id.clone().map(MessageId::String),
            correlation_id: self.correlation_id.clone().map(MessageId::String),
            reply_to: self.reply_to.clone(),
            subject: self.subject.clone(),
            content_type: self.content_type.as_deref().map(Symbol::from),
            ..Properties::default()
        };
        let application = (!self.properties.is_empty()).then(|| {
            let mut map = OrderedMap::new();
            for (k, v) in &self.properties {
                map.insert(k.clone(), SimpleValue::String(v.clone()));
            }
            ApplicationProperties(map)
        });
        Message {
            header: Some(Header {
                durable: self.durable,
                ..Header::default()
            }),
            delivery_annotations: None,
            message_annotations: Some(MessageAnnotations(annotations)),
            properties: Some(properties),
            application_properties: application,
            body,
            footer: None,
        }
    }
}

/// A message received (a reply, or what a channel hands over), read through the JMS mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Amqp10Received {
    /// The body as bytes: a text as UTF-8, data sections one after the other, any other value
    /// or a sequence as JSON.
    pub body: Bytes,
    /// Whether the body was text (`amqp-value` string).
    pub is_text: bool,
    /// `message-id`, as text.
    pub message_id: Option<String>,
    /// `correlation-id`, as text.
    pub correlation_id: Option<String>,
    /// `reply-to`.
    pub reply_to: Option<String>,
    /// `subject`.
    pub subject: Option<String>,
    /// `content-type`.
    pub content_type: Option<String>,
    /// Application properties, each as text.
    pub properties: Vec<(String, String)>,
    /// The header's `delivery-count`: how many earlier deliveries failed.
    pub delivery_count: u32,
}

impl Amqp10Received {
    /// The application property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A message id as text: a string as it is, a number in decimal, a UUID hyphenated, binary as
/// hex.
pub(crate) fn id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => {
            let b: &[u8] = u.as_ref();
            hex(b)
        }
        MessageId::Binary(b) => hex(b.as_ref()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A simple value as text.
pub(crate) fn simple_text(v: &SimpleValue) -> String {
    match v {
        SimpleValue::Null => String::new(),
        SimpleValue::Bool(b) => b.to_string(),
        SimpleValue::Ubyte(n) => n.to_string(),
        SimpleValue::Ushort(n) => n.to_string(),
        SimpleValue::Uint(n) => n.to_string(),
        SimpleValue::Ulong(n) => n.to_string(),
        SimpleValue::Byte(n) => n.to_string(),
        SimpleValue::Short(n) => n.to_string(),
        SimpleValue::Int(n) => n.to_string(),
        SimpleValue::Long(n) => n.to_string(),
        SimpleValue::Float(n) => n.to_string(),
        SimpleValue::Double(n) => n.to_string(),
        SimpleValue::Char(c) => c.to_string(),
        SimpleValue::Timestamp(t) => t.milliseconds().to_string(),
        SimpleValue::String(s) => s.clone(),
        SimpleValue::Symbol(s) => s.0.clone(),
        SimpleValue::Binary(b) => hex(b.as_ref()),
        other => format!("{other:?}"),
    }
}

/// A value as JSON, for bodies that are neither text nor bytes.
fn json_of(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Ubyte(n) => J::from(*n),
        Value::Ushort(n) => J::from(*n),
        Value::Uint(n) => J::from(*n),
        Value::Ulong(n) => J::from(*n),
        Value::Byte(n) => J::from(*n),
        Value::Short(n) => J::from(*n),
        Value::Int(n) => J::from(*n),
        Value::Long(n) => J::from(*n),
        Value::Float(n) => J::from(f64::from(n.into_inner())),
        Value::Double(n) => J::from(n.into_inner()),
        Value::Char(c) => J::String(c.to_string()),
        Value::Timestamp(t) => J::from(t.milliseconds()),
        Value::String(s) => J::String(s.clone()),
        Value::Symbol(s) => J::String(s.0.clone()),
        Value::Binary(b) => J::String(hex(b.as_ref())),
        Value::List(items) => J::Array(items.iter().map(json_of).collect()),
        Value::Array(items) => J::Array(items.0.iter().map(json_of).collect()),
        Value::Map(map) => J::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        Value::Symbol(s) => s.0.clone(),
                        other => json_of(other).to_string(),
                    };
                    (key, json_of(v))
                })
                .collect(),
        ),
        other => J::String(format!("{other:?}")),
    }
}

/// The body of a received message as bytes, and whether it was text.
pub(crate) fn body_bytes(body: &Body<Value>) -> (Bytes, bool) {
    match body {
        Body::Value(AmqpValue(Value::String(s))) => (Bytes::from(s.clone().into_bytes()), true),
        Body::Value(AmqpValue(Value::Binary(b))) => (Bytes::from(b.to_vec()), false),
        Body::Value(AmqpValue(Value::Null)) | Body::Empty => (Bytes::new(), false),
        Body::Value(AmqpValue(v)) => (Bytes::from(json_of(v).to_string().into_bytes()), false),
        Body::Data(sections) => {
            if let [one] = sections.as_slice() {
                return (Bytes::from(one.0.to_vec()), false);
            }
            let mut all = Vec::new();
            for d in sections.iter() {
                all.extend_from_slice(d.0.as_ref());
            }
            (Bytes::from(all), false)
        }
        Body::Sequence(sections) => {
            let items: Vec<serde_json::Value> = sections
                .iter()
                .flat_map(|s: &AmqpSequence<Value>| s.0.iter().map(json_of))
                .collect();
            (
                Bytes::from(serde_json::Value::Array(items).to_string().into_bytes()),
                false,
            )
        }
    }
}

/// A received message read through the JMS mapping.
pub(crate) fn received(message: &Message<Body<Value>>) -> Amqp10Received {
    let (body, is_text) = body_bytes(&message.body);
    let p = message.properties.as_ref();
    Amqp10Received {
        body,
        is_text,
        message_id: p.and_then(|p| p.message_id.as_ref()).map(id_text),
        correlation_id: p.and_then(|p| p.correlation_id.as_ref()).map(id_text),
        reply_to: p.and_then(|p| p.reply_to.clone()),
        subject: p.and_then(|p| p.subject.clone()),
        content_type: p.and_then(|p| p.content_type.as_ref()).map(|s| s.0.clone()),
        properties: message
            .application_properties
            .as_ref()
            .map(|a| {
                a.0.iter()
                    .map(|(k, v)| (k.clone(), simple_text(v)))
                    .collect()
            })
            .unwrap_or_default(),
        delivery_count: message.header.as_ref().map_or(0, |h| h.delivery_count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_round_trip_with_their_properties() {
        let msg = Amqp10Message::text("héllo")
            .with_correlation_id("c-1")
            .with_reply_to("/queue/r")
            .with_subject("Invoice")
            .with_property("target", "CRM");
        let back = received(&msg.to_amqp());
        assert_eq!(&back.body[..], "héllo".as_bytes());
        assert!(back.is_text);
        assert_eq!(back.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(back.reply_to.as_deref(), Some("/queue/r"));
        assert_eq!(back.subject.as_deref(), Some("Invoice"));
        assert_eq!(back.property("target"), Some("CRM"));
        let amqp = Amqp10Message::bytes(vec![0u8, 1, 2]).to_amqp();
        let kind = amqp
            .message_annotations
            .as_ref()
            .and_then(|a| a.0.get(&OwnedKey::Symbol(Symbol::from(JMS_MSG_TYPE))))
            .cloned();
        assert_eq!(kind, Some(Value::Byte(JMS_BYTES_MESSAGE)));
        let back = received(&amqp);
        assert_eq!(&back.body[..], &[0u8, 1, 2]);
        assert!(!back.is_text);
    }

    #[test]
    fn sequences_and_maps_read_as_json() {
        let seq: Body<Value> = Body::Sequence(
            vec![AmqpSequence(vec![Value::Int(1), Value::String("a".into())])].into(),
        );
        assert_eq!(&body_bytes(&seq).0[..], br#"[1,"a"]"#);
        let mut map = OrderedMap::new();
        map.insert(Value::String("id".into()), Value::Long(7));
        let value: Body<Value> = Body::Value(AmqpValue(Value::Map(map)));
        assert_eq!(&body_bytes(&value).0[..], br#"{"id":7}"#);
        assert_eq!(id_text(&MessageId::Ulong(42)), "42");
    }
}
