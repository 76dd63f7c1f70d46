//! Scenarios against a real Swift (auth v1.0): set `ZATO_SWIFT_TEST_AUTH_URL`,
//! `ZATO_SWIFT_TEST_USER` and `ZATO_SWIFT_TEST_KEY`, and run them with `--include-ignored`: a plain
//! `cargo test` reports them as ignored. `.ci/run` has no real Swift, and skips them by name
//! (`--skip real_swift::`).
//! The same scenarios run against the local endpoint in `local_swift.rs`.
//!
//! A real Swift runs on loopback from PyPI's `swift` package (checked with 2.38.3): one
//! replica rings for account/container/object servers on 127.0.0.1, a proxy with the pipeline
//! `catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl slo dlo
//! tempauth copy proxy-logging proxy-server`, `user_test_tester = testing .admin` and a local
//! memcached; then `ZATO_SWIFT_TEST_AUTH_URL=http://127.0.0.1:PORT/auth/v1.0
//! ZATO_SWIFT_TEST_USER=test:tester ZATO_SWIFT_TEST_KEY=testing cargo test -p zato-swift --test
//! real_swift`.

mod support;

macro_rules! real {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs a real Swift: ZATO_SWIFT_TEST_AUTH_URL, ZATO_SWIFT_TEST_USER, ZATO_SWIFT_TEST_KEY"]
        async fn $name() {
            let config = super::support::real_config().expect(
                "ZATO_SWIFT_TEST_AUTH_URL, ZATO_SWIFT_TEST_USER and ZATO_SWIFT_TEST_KEY name the real Swift",
            );
            super::support::scenarios::$name(config).await;
        }
    )*};
}

mod real_swift {
    real!(
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
}
