//! HTTP servers owned by the platform: channels listed and changed through `Platform` alone, and
//! servers started and drained with it.
#![cfg(feature = "http")]

mod support;

use serde_json::json;
use support::*;
use zato_channels::{
    ChannelChange, ChannelError, HTTP_KIND, HttpChannelConfig, HttpConfig, HttpServer,
};
use zato_core::Platform;

fn upsert(config: serde_json::Value) -> ChannelChange {
    ChannelChange::Upsert {
        kind: HTTP_KIND,
        config,
        adapter: None,
    }
}

fn remove(name: &str) -> ChannelChange {
    ChannelChange::Remove {
        kind: HTTP_KIND,
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn two_channels_are_listed_and_reconfigured_through_the_platform_alone() {
    let platform = platform();
    let config = HttpConfig::new(
        vec![
            HttpChannelConfig::new("invoice.json", "/invoice.dispatcher", "invoice.dispatcher")
                .with_methods(["POST", "GET"]),
            HttpChannelConfig::new("lookup", "/lookup/{id}", "demo.lookup"),
        ],
        vec![],
    );
    let server = HttpServer::serve("127.0.0.1:0", platform.clone(), config)
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let adapter = format!("http@{}", server.local_addr());
    // From here on only the platform holds the server.
    drop(server);
    let client = reqwest::Client::new();

    let listed = platform.channels().list();
    let shown: Vec<(&str, &str, &str, &str, bool)> = listed
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.adapter.as_str(),
                c.service.as_str(),
                c.endpoint.as_str(),
                c.is_active,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "invoice.json",
                adapter.as_str(),
                "invoice.dispatcher",
                "POST,GET /invoice.dispatcher",
                true
            ),
            (
                "lookup",
                adapter.as_str(),
                "demo.lookup",
                "/lookup/{id}",
                true
            ),
        ]
    );
    assert!(listed.iter().all(|c| c.kind == HTTP_KIND));
    let mut json_channel = platform
        .channels()
        .config(HTTP_KIND, "invoice.json")
        .unwrap();
    assert_eq!(json_channel["url_path"], "/invoice.dispatcher");
    assert_eq!(
        get(&client, &format!("{base}/invoice.dispatcher?target=CRM"))
            .await
            .status,
        200
    );

    // Move one channel to another path.
    json_channel["url_path"] = json!("/v2/invoice.dispatcher");
    platform
        .channels()
        .apply(upsert(json_channel))
        .await
        .unwrap();
    assert_eq!(
        get(&client, &format!("{base}/invoice.dispatcher?target=CRM"))
            .await
            .status,
        404
    );
    let moved = get(&client, &format!("{base}/v2/invoice.dispatcher?target=CRM")).await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.json()["stored"][0], "CRM");

    // Deactivate the other.
    let mut lookup_channel = platform.channels().config(HTTP_KIND, "lookup").unwrap();
    assert_eq!(get(&client, &format!("{base}/lookup/7")).await.status, 200);
    lookup_channel["is_active"] = json!(false);
    platform
        .channels()
        .apply(upsert(lookup_channel))
        .await
        .unwrap();
    assert_eq!(get(&client, &format!("{base}/lookup/7")).await.status, 503);

    // Add a third.
    platform
        .channels()
        .apply(upsert(json!({
            "name": "orders.v2",
            "url_path": "/orders/{id}",
            "service": "demo.lookup",
        })))
        .await
        .unwrap();
    let third = get(&client, &format!("{base}/orders/42")).await;
    assert_eq!(third.status, 200, "{third:?}");
    assert_eq!(third.json()["channel"], "orders.v2");

    // Remove one.
    platform.channels().apply(remove("lookup")).await.unwrap();
    assert_eq!(get(&client, &format!("{base}/lookup/7")).await.status, 404);
    let names: Vec<String> = platform
        .channels()
        .list()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["invoice.json", "orders.v2"]);

    // A refused change names the channel and the field, and changes nothing.
    let err = platform
        .channels()
        .apply(upsert(json!({
            "name": "orders.v2",
            "url_path": "/v2/invoice.dispatcher",
            "service": "demo.lookup",
            "timeout": "soon",
        })))
        .await
        .unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, [r#"channels.http."orders.v2".timeout"#], "{err}");
    let err = platform
        .channels()
        .apply(upsert(json!({
            "name": "orders.v2",
            "url_path": "/v2/invoice.dispatcher",
            "service": "demo.lookup",
        })))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid configuration: channels.http."orders.v2".url_path: `/v2/invoice.dispatcher` and its methods are already served by channel `invoice.json`"#
    );
    let err = platform
        .channels()
        .apply(remove("lookup"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: channels.http.lookup: no such channel"
    );
    assert_eq!(get(&client, &format!("{base}/orders/43")).await.status, 200);

    platform.shutdown().await;
    assert!(platform.channels().list().is_empty());
    assert!(
        client
            .get(format!("{base}/orders/43"))
            .send()
            .await
            .is_err(),
        "still serving after the platform shut down"
    );
}

#[tokio::test]
async fn a_new_channel_goes_to_the_server_the_change_names() {
    let platform = platform();
    let a = HttpServer::bind_named("a", "127.0.0.1:0", platform.clone())
        .await
        .unwrap();
    let b = HttpServer::bind_named("b", "127.0.0.1:0", platform.clone())
        .await
        .unwrap();
    assert_eq!(platform.channels().names(), ["a", "b"]);
    let err = HttpServer::bind_named("a", "127.0.0.1:0", platform.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChannelError::DuplicateAdapter(name) if name == "a"),
        "{err}"
    );
    platform.start().await.unwrap();

    let channel = json!({"name": "lookup", "url_path": "/lookup/{id}", "service": "demo.lookup"});
    let err = platform
        .channels()
        .apply(upsert(channel.clone()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name one"), "{err}");
    platform
        .channels()
        .apply(ChannelChange::Upsert {
            kind: HTTP_KIND,
            config: channel,
            adapter: Some("b".to_owned()),
        })
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let on_b = get(&client, &format!("http://{}/lookup/1", b.local_addr())).await;
    assert_eq!(on_b.status, 200, "{on_b:?}");
    let on_a = get(&client, &format!("http://{}/lookup/1", a.local_addr())).await;
    assert_eq!(on_a.status, 404);
    assert_eq!(platform.channels().list()[0].adapter, "b");

    // Channel names are unique within a kind across the platform: `a` cannot take `lookup`, by
    // any of its own ways of adding a channel.
    let err = a
        .add_channel(HttpChannelConfig::new("lookup", "/other", "demo.lookup"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: channels.http.lookup.name: `lookup` is a channel of the adapter `b` on the same platform"
    );
    let err = a
        .apply_config(HttpConfig::new(
            vec![HttpChannelConfig::new("lookup", "/other", "demo.lookup")],
            vec![],
        ))
        .unwrap_err();
    assert_eq!(err.problems()[0].path, "http.channels[0].name", "{err}");
    // Its own channels of that name stay changeable where they are.
    b.update_channel(HttpChannelConfig::new(
        "lookup",
        "/lookup/{id}",
        "demo.lookup",
    ))
    .unwrap();

    // A server shut down on its own leaves the platform, and its name is free again.
    a.shutdown().await;
    assert_eq!(platform.channels().names(), ["b"]);
    let again = HttpServer::bind_named("a", "127.0.0.1:0", platform.clone())
        .await
        .unwrap();
    assert_eq!(platform.channels().names(), ["a", "b"]);
    platform.shutdown().await;
    assert!(platform.channels().names().is_empty());
    // Already drained by the platform: shutting it down again returns at once.
    tokio::time::timeout(std::time::Duration::from_secs(20), again.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn starting_and_shutting_down_the_platform_starts_and_drains_its_servers() {
    let platform = platform();
    let gate = Gate::new();
    platform.services().deploy(gate.clone()).unwrap();
    let mut servers = Vec::new();
    for name in ["first", "second"] {
        let server = HttpServer::bind_named(name, "127.0.0.1:0", platform.clone())
            .await
            .unwrap();
        server
            .apply_config(HttpConfig::new(
                vec![
                    HttpChannelConfig::new(format!("{name}.gate"), "/gate", "demo.gate"),
                    HttpChannelConfig::new(format!("{name}.empty"), "/empty", "demo.empty"),
                ],
                vec![],
            ))
            .unwrap();
        servers.push(server);
    }
    let adapters = platform.channels().adapters();
    assert!(adapters.iter().all(|a| !a.is_serving()));

    platform.start().await.unwrap();
    assert!(adapters.iter().all(|a| a.is_serving()));
    // Starting again leaves the running servers alone.
    platform.start().await.unwrap();
    let client = reqwest::Client::new();
    for s in &servers {
        let r = get(&client, &format!("http://{}/empty", s.local_addr())).await;
        assert_eq!(r.status, 204, "{r:?}");
    }

    // A request in flight on the first server while the platform shuts down.
    let first = servers[0].local_addr();
    let mut kept_alive = RawConn::connect(first).await.unwrap();
    assert_eq!(kept_alive.get("/empty").await.unwrap().0, 204);
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { get(&client, &format!("http://{first}/gate")).await })
    };
    gate.wait_entered(1).await;
    let done = tokio::spawn({
        let platform = platform.clone();
        async move { platform.shutdown().await }
    });

    // Draining has begun: a kept-alive connection is told so.
    let (status, _, body) = kept_alive.get("/empty").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        !done.is_finished(),
        "the platform shut down with a request in flight"
    );
    gate.open(1);
    let answered = in_flight.await.unwrap();
    assert_eq!(answered.status, 200, "{answered:?}");
    done.await.unwrap();

    assert!(platform.channels().names().is_empty());
    assert!(adapters.iter().all(|a| !a.is_serving()));
    for s in &servers {
        assert!(
            RawConn::connect(s.local_addr()).await.is_err(),
            "{} still listening",
            s.name()
        );
    }
}

#[tokio::test]
async fn a_server_whose_configuration_is_refused_is_not_left_on_the_platform() {
    let platform = Platform::new();
    let bad = HttpConfig::new(vec![HttpChannelConfig::new("x", "no-slash", "s")], vec![]);
    let err = HttpServer::serve("127.0.0.1:0", platform.clone(), bad)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: http.channels[0].url_path: `no-slash` must start with `/`"
    );
    assert!(platform.channels().names().is_empty());
}
