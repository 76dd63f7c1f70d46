//! Channel parameters against the body, query string against path: Zato's rules and defaults.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use support::*;
use zato_core::DataFormat;
use zato_core::sio::{ParamsPri, ParamsPriority, UrlParamsPri};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Lookup {
    id: String,
    #[sio(default)]
    lang: String,
}

fn id_with(params: ParamsPriority) -> String {
    let raw = request_with(
        DataFormat::Json,
        params,
        Some("id=from-query"),
        &[("id", "from-path")],
        r#"{"id":"from-body"}"#,
        None,
    );
    decode::<Lookup>(&raw).unwrap().id
}

#[test]
fn defaults_are_zatos_channel_params_over_msg_and_qs_over_path() {
    let d = ParamsPriority::default();
    assert!(d.merge_url_params_req);
    assert_eq!(d.params_pri, ParamsPri::ChannelParamsOverMsg);
    assert_eq!(d.url_params_pri, UrlParamsPri::QsOverPath);
    assert_eq!(id_with(d), "from-query");
}

#[test]
fn path_over_qs() {
    let p = ParamsPriority {
        url_params_pri: UrlParamsPri::PathOverQs,
        ..Default::default()
    };
    assert_eq!(id_with(p), "from-path");
}

#[test]
fn msg_over_channel_params() {
    let p = ParamsPriority {
        params_pri: ParamsPri::MsgOverChannelParams,
        ..Default::default()
    };
    assert_eq!(id_with(p), "from-body");
}

#[test]
fn channel_params_ignored_unless_merged() {
    let p = ParamsPriority {
        merge_url_params_req: false,
        ..Default::default()
    };
    assert_eq!(id_with(p), "from-body");
}

#[test]
fn lower_priority_sources_fill_what_higher_ones_lack() {
    let raw = request_with(
        DataFormat::Json,
        ParamsPriority::default(),
        None,
        &[("id", "from-path")],
        r#"{"lang":"en"}"#,
        None,
    );
    assert_eq!(
        decode::<Lookup>(&raw).unwrap(),
        Lookup {
            id: "from-path".into(),
            lang: "en".into()
        }
    );
}

#[test]
fn priority_names_are_zatos_in_config() {
    let p: ParamsPriority = serde_json::from_str(
        r#"{"params_pri":"msg-over-channel-params","url_params_pri":"path-over-qs"}"#,
    )
    .unwrap();
    assert_eq!(p.params_pri, ParamsPri::MsgOverChannelParams);
    assert_eq!(p.url_params_pri, UrlParamsPri::PathOverQs);
    assert!(p.merge_url_params_req);
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core", request_elem = "request")]
struct Wrapped {
    id: String,
}

#[test]
fn json_may_be_wrapped_in_the_declared_request_element() {
    for body in [r#"{"request":{"id":"7"}}"#, r#"{"id":"7"}"#] {
        let raw = request(DataFormat::Json, None, body, None);
        assert_eq!(
            decode::<Wrapped>(&raw).unwrap(),
            Wrapped { id: "7".into() },
            "{body}"
        );
    }
    let raw = request(DataFormat::Json, None, r#"{"request":"7"}"#, None);
    assert!(decode::<Wrapped>(&raw).is_err());
}

#[test]
fn a_default_function_fills_an_absent_element() {
    fn english() -> String {
        "en".into()
    }
    #[derive(SimpleIo, Debug, PartialEq)]
    #[sio(crate = "zato_core")]
    struct L {
        #[sio(default = "english")]
        lang: String,
        #[sio(rename = "type")]
        kind: Option<String>,
    }
    let raw = request(DataFormat::Json, Some("type=x"), "", None);
    assert_eq!(
        decode::<L>(&raw).unwrap(),
        L {
            lang: "en".into(),
            kind: Some("x".into())
        }
    );
}
