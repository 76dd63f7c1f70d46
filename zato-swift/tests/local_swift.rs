//! The scenarios of `real_swift.rs`, run against the local Swift-compatible endpoint so they run
//! on every `cargo test`.
#![cfg(feature = "local")]

mod support;

use zato_swift::SwiftConfig;
use zato_swift::local::{LocalSwift, LocalSwiftConfig};

#[allow(
    clippy::expect_used,
    reason = "a test helper, outside #[test]: a test fails on an endpoint that cannot start"
)]
async fn with_local<F, Fut>(scenario: F)
where
    F: FnOnce(SwiftConfig) -> Fut,
    Fut: Future<Output = ()>,
{
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .expect("local swift");
    let config = SwiftConfig {
        retries: 0,
        ..SwiftConfig::v1("local", local.auth_url(), local.user(), local.key())
    };
    scenario(config).await;
    local.shutdown().await;
}

macro_rules! local {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            with_local(support::scenarios::$name).await;
        }
    )*};
}

local!(
    round_trip_1_byte_and_1_mib,
    static_large_object_of_3_segments,
    metadata_round_trip,
    listings_with_prefix_delimiter_marker,
    server_side_copy,
    bulk_delete,
    temp_url_without_token,
    not_found_names_the_object,
    bad_credentials_and_bad_token_are_401,
    awkward_names_round_trip,
    ranges_conflicts_and_refused_etags,
);
