//! The trait every channel adapter implements.

use std::future::Future;

use zato_core::ChannelKind;

use crate::error::ChannelError;

/// A transport bringing requests to services: HTTP now, AMQP and ZeroMQ next.
///
/// An adapter is created bound to its resources (a listening socket, a broker connection) but
/// idle; [`start`](Self::start) begins serving, [`apply`](Self::apply) replaces its configuration
/// while it serves, with no restart and no failed request, and [`stop`](Self::stop) ends it
/// gracefully, finishing the requests in flight.
///
/// # Examples
///
/// ```
/// use zato_channels::{ChannelAdapter, HttpConfig, HttpServer};
/// use zato_core::Platform;
///
/// async fn run<A: ChannelAdapter>(adapter: &A, config: A::Config) -> Result<(), zato_channels::ChannelError> {
///     adapter.apply(config)?;
///     adapter.start().await?;
///     adapter.stop().await;
///     Ok(())
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let http = HttpServer::bind("127.0.0.1:0", Platform::new()).await.unwrap();
/// run(&http, HttpConfig::default()).await.unwrap();
/// # });
/// ```
pub trait ChannelAdapter: Send + Sync {
    /// The adapter's whole configuration.
    type Config;

    /// The transport.
    fn kind(&self) -> ChannelKind;

    /// Begins serving. Returns once serving has begun, not when it ends.
    ///
    /// # Errors
    ///
    /// [`ChannelError::AlreadyStarted`] when the adapter is serving or was stopped.
    fn start(&self) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// Stops gracefully: no new request is taken, those in flight are answered, then it returns.
    fn stop(&self) -> impl Future<Output = ()> + Send;

    /// Replaces the configuration while serving. Validated as a whole first; on error nothing
    /// changes.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Config`] listing every problem.
    fn apply(&self, config: Self::Config) -> Result<(), ChannelError>;
}
