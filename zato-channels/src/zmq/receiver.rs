//! One open channel socket: a thread receiving from it, and a task handing each message to the
//! service, at most `max_concurrency` at a time.
//!
//! The thread blocks in libzmq (with a short receive timeout, to see its stop flag) and hands
//! each message over a channel of one slot; the task takes a permit before each message, so when
//! the service is saturated the thread waits, ZeroMQ's queue fills up to `rcv_hwm`, and a PUSH
//! peer waits in turn (a PUB peer drops, as ZeroMQ's publishers do). Nothing is unbounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use zato_core::metrics::ChannelMeter;
use zato_core::{ChannelInfo, Cid, Platform, RawRequest};

use super::config::{SocketMethod, ZmqChannelConfig, ZmqChannelType};
use super::socket::{OpenError, POLL, attach, context};

/// What a channel's socket is made of: a change to any of it reopens the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SocketSpec {
    pub(super) socket_type: ZmqChannelType,
    pub(super) address: String,
    pub(super) socket_method: SocketMethod,
    pub(super) sub_prefixes: Vec<String>,
    pub(super) rcv_hwm: u32,
    pub(super) max_msg_size: u64,
    pub(super) max_concurrency: u32,
}

impl SocketSpec {
    pub(super) fn of(config: &ZmqChannelConfig) -> Self {
        SocketSpec {
            socket_type: config.socket_type,
            address: config.address.clone(),
            socket_method: config.socket_method,
            sub_prefixes: config.sub_prefixes.clone(),
            rcv_hwm: config.rcv_hwm,
            max_msg_size: config.max_msg_size,
            max_concurrency: config.max_concurrency,
        }
    }

    fn binds(&self) -> bool {
        self.socket_method == SocketMethod::Bind
    }

    /// Whether both bind the same address: the new socket can only bind once the old one let go.
    pub(super) fn binds_same(&self, other: &SocketSpec) -> bool {
        self.binds() && other.binds() && self.address == other.address
    }
}

/// What a channel's messages are handed to: swapped in place when only these change, with no
/// message lost.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) service: String,
    pub(super) info: Arc<ChannelInfo>,
    pub(super) timeout: std::time::Duration,
    pub(super) meter: ChannelMeter,
}

impl Settings {
    pub(super) fn of(config: &ZmqChannelConfig, platform: &Platform) -> Self {
        Settings {
            service: config.service.clone(),
            info: Arc::new(
                ChannelInfo::new(
                    config.name.as_str(),
                    super::config::ZMQ_KIND,
                    config.data_format,
                )
                .with_max_items(config.max_items),
            ),
            timeout: config.timeout,
            meter: platform
                .metrics()
                .channel(super::config::ZMQ_KIND, &config.name),
        }
    }
}

/// An open socket with its thread and its dispatching task.
#[derive(Debug)]
pub(super) struct Receiver {
    pub(super) spec: SocketSpec,
    /// Where it ended up: the port libzmq picked for `tcp://host:*`.
    pub(super) endpoint: String,
    stop: watch::Sender<bool>,
    closed: Option<oneshot::Receiver<()>>,
    drained: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Opens the socket on a thread of its own and starts handing its messages to the service
    /// in `settings`; the thread reads only while `serving` is set.
    pub(super) async fn open(
        spec: SocketSpec,
        settings: Arc<ArcSwap<Settings>>,
        serving: Arc<AtomicBool>,
        platform: Platform,
    ) -> Result<Receiver, OpenError> {
        let name = settings.load().info.name.clone();
        let (tx, rx) = mpsc::channel::<Vec<Vec<u8>>>(1);
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (closed_tx, closed) = oneshot::channel();
        let thread_spec = spec.clone();
        let thread_name = name.clone();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("zato-zmq-channel".to_owned())
            .spawn(move || {
                let socket = match open_socket(&thread_spec) {
                    Ok(pair) => pair,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(socket.1));
                receive(
                    socket.0,
                    &thread_name,
                    &serving,
                    stop_rx,
                    &tx,
                    &runtime,
                    closed_tx,
                );
            })
            .map_err(|e| OpenError::Thread(format!("cannot start the socket's thread: {e}")))?;
        let endpoint = ready_rx
            .await
            .map_err(|_| OpenError::Thread("the socket's thread ended".to_owned()))??;
        let max = spec.max_concurrency;
        let drained = tokio::spawn(dispatch(rx, settings, platform, max));
        tracing::info!(channel = %name, socket_type = %spec.socket_type, socket_method = %spec.socket_method, %endpoint, "zmq channel socket open");
        Ok(Receiver {
            spec,
            endpoint,
            stop,
            closed: Some(closed),
            drained: Some(drained),
        })
    }

    /// Stops receiving and waits until the socket is closed (its address free again, as soon as
    /// libzmq's I/O thread has let go of it). Messages already received still go to the service.
    pub(super) async fn close(&mut self) {
        let _ = self.stop.send(true);
        if let Some(closed) = self.closed.take() {
            let _ = closed.await;
        }
    }

    /// Closes the socket, then waits until every message received has been handled.
    pub(super) async fn drain(mut self) {
        self.close().await;
        if let Some(drained) = self.drained.take() {
            let _ = drained.await;
        }
    }

    /// Closes the socket and lets the messages received finish in the background.
    pub(super) fn retire(self) {
        let _ = self.stop.send(true);
        tokio::spawn(self.drain());
    }
}

fn open_socket(spec: &SocketSpec) -> Result<(::zmq::Socket, String), OpenError> {
    let bind = spec.binds();
    let err = |error| OpenError::Zmq {
        bind,
        address: spec.address.clone(),
        error,
    };
    let kind = match spec.socket_type {
        ZmqChannelType::Pull => ::zmq::PULL,
        ZmqChannelType::Sub => ::zmq::SUB,
    };
    let socket = context().socket(kind).map_err(err)?;
    let hwm = i32::try_from(spec.rcv_hwm).unwrap_or(i32::MAX);
    let max_msg = i64::try_from(spec.max_msg_size).unwrap_or(i64::MAX);
    let poll = i32::try_from(POLL.as_millis()).unwrap_or(50);
    socket.set_rcvhwm(hwm).map_err(err)?;
    socket.set_maxmsgsize(max_msg).map_err(err)?;
    // Nothing is sent on these sockets: closing them must not wait.
    socket.set_linger(0).map_err(err)?;
    socket.set_rcvtimeo(poll).map_err(err)?;
    if spec.socket_type == ZmqChannelType::Sub {
        if spec.sub_prefixes.is_empty() {
            socket.set_subscribe(b"").map_err(err)?;
        }
        for prefix in &spec.sub_prefixes {
            socket.set_subscribe(prefix.as_bytes()).map_err(err)?;
        }
    }
    let endpoint = attach(&socket, &spec.address, bind).map_err(err)?;
    Ok((socket, endpoint))
}

/// The thread's loop: receive while serving, hand over, stop when told. A message received
/// when the stop comes is handed over after the socket is closed, so it is not lost and the
/// address is freed at once.
fn receive(
    socket: ::zmq::Socket,
    name: &str,
    serving: &AtomicBool,
    mut stop: watch::Receiver<bool>,
    tx: &mpsc::Sender<Vec<Vec<u8>>>,
    runtime: &tokio::runtime::Handle,
    closed: oneshot::Sender<()>,
) {
    let mut leftover = None;
    // A dropped sender (its channel gone without a stop) stops the thread too.
    while !*stop.borrow() && stop.has_changed().is_ok() {
        if !serving.load(Ordering::Acquire) {
            std::thread::sleep(POLL);
            continue;
        }
        let frames = match socket.recv_multipart(0) {
            Ok(frames) => frames,
            Err(::zmq::Error::EAGAIN | ::zmq::Error::EINTR) => continue,
            Err(::zmq::Error::ETERM) => break,
            Err(e) => {
                tracing::error!(channel = %name, error = %e, "zmq channel receive failed");
                std::thread::sleep(POLL);
                continue;
            }
        };
        // Wait for room, or for the stop.
        let handed = runtime.block_on(async {
            tokio::select! {
                permit = tx.reserve() => match permit {
                    Ok(permit) => { permit.send(frames); None }
                    Err(_) => None,
                },
                _ = stop.wait_for(|s| *s) => Some(frames),
            }
        });
        if handed.is_some() {
            leftover = handed;
            break;
        }
        if tx.is_closed() {
            break;
        }
    }
    drop(socket);
    let _ = closed.send(());
    if let Some(frames) = leftover {
        let _ = tx.blocking_send(frames);
    }
    tracing::debug!(channel = %name, "zmq channel socket closed");
}

/// Hands each message to the service, at most `max` at once; returns when the thread has ended
/// and every invocation has finished.
async fn dispatch(
    mut rx: mpsc::Receiver<Vec<Vec<u8>>>,
    settings: Arc<ArcSwap<Settings>>,
    platform: Platform,
    max: u32,
) {
    let limit = Arc::new(Semaphore::new(max as usize));
    while let Some(frames) = rx.recv().await {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let settings = settings.load_full();
        let platform = platform.clone();
        tokio::spawn(async move {
            handle(&platform, &settings, frames).await;
            drop(permit);
        });
    }
    let _all_done = limit.acquire_many(max).await;
}

/// The channel parameters and the body of a message: every frame but the last is a parameter
/// `frame0`, `frame1`, …, which must be UTF-8 text.
pub(super) fn split_frames(
    mut frames: Vec<Vec<u8>>,
) -> Result<(Vec<(String, String)>, Bytes), String> {
    let body = Bytes::from(frames.pop().unwrap_or_default());
    let mut params = Vec::with_capacity(frames.len());
    for (i, frame) in frames.into_iter().enumerate() {
        match String::from_utf8(frame) {
            Ok(text) => params.push((format!("frame{i}"), text)),
            Err(_) => return Err(format!("frame {i} is not UTF-8 text")),
        }
    }
    Ok((params, body))
}

/// Invokes the service with one message. There is no one to answer: the outcome goes to the
/// logs (with the cid) and the channel's metrics.
async fn handle(platform: &Platform, settings: &Settings, frames: Vec<Vec<u8>>) {
    let started = Instant::now();
    let cid = Cid::new();
    let channel = &settings.info.name;
    let (params, body) = match split_frames(frames) {
        Ok(split) => split,
        Err(problem) => {
            tracing::warn!(%cid, %channel, problem, "zmq message refused");
            settings.meter.record(400, started.elapsed());
            return;
        }
    };
    let raw = RawRequest::new(cid, settings.info.clone(), body).with_channel_params(params);
    let status = match tokio::time::timeout(
        settings.timeout,
        platform.invoke_raw(&settings.service, raw),
    )
    .await
    {
        Ok(invocation) => match invocation.result {
            Ok(reply) => {
                tracing::debug!(%cid, %channel, service = %settings.service, status = reply.status.as_u16(), "zmq message handled");
                reply.status.as_u16()
            }
            Err(e) => {
                let status = e.status();
                // `?`: the message may quote the sender's input, CR and LF included.
                if status.is_client_error() {
                    tracing::warn!(%cid, %channel, service = %settings.service, status = status.as_u16(), error = ?e.to_string(), "zmq message refused by the service");
                } else {
                    tracing::error!(%cid, %channel, service = %settings.service, status = status.as_u16(), error = ?e.to_string(), "zmq message failed in the service");
                }
                status.as_u16()
            }
        },
        Err(_) => {
            tracing::error!(%cid, %channel, service = %settings.service, timeout_ms = u64::try_from(settings.timeout.as_millis()).unwrap_or(u64::MAX), "zmq message: the service timed out");
            504
        }
    };
    settings.meter.record(status, started.elapsed());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn leading_frames_are_parameters_and_the_last_is_the_body() {
        let (params, body) =
            split_frames(vec![b"invoices".to_vec(), b"v2".to_vec(), b"{}".to_vec()]).unwrap();
        assert_eq!(
            params,
            [
                ("frame0".to_owned(), "invoices".to_owned()),
                ("frame1".to_owned(), "v2".to_owned())
            ]
        );
        assert_eq!(&body[..], b"{}");
        let err = split_frames(vec![vec![0xff], b"{}".to_vec()]).unwrap_err();
        assert_eq!(err, "frame 0 is not UTF-8 text");
    }
}
