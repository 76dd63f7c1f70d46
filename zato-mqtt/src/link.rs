//! What the outgoing connections and the channels share: the client options of a
//! configuration, and [`Link`], which tells each publication when the broker took it.
//!
//! rumqttc's `publish` returns once the request is queued; the broker's acknowledgement comes
//! later as an event of the event loop, by packet id. The event loop takes requests in the
//! order they were queued and reports each publication's packet id as it sends it
//! (`Outgoing::Publish`), so a queue of waiters in the same order pairs each publication with
//! its packet id, and the `PUBACK` (QoS 1) or `PUBCOMP` (QoS 2) with that id settles it. A
//! publication sent again after a reconnect carries an id already waiting and is not paired
//! twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, LastWill, MqttOptions, Outgoing, QoS};
use tokio::sync::oneshot;

use crate::config::{MqttConfig, qos_of, valid_topic};

/// The client options of `config`, under `client_id`.
pub(crate) fn options(
    config: &MqttConfig,
    client_id: &str,
    clean_session: bool,
) -> Result<MqttOptions, zato_core::ConfigError> {
    let (host, port, user) = config.endpoint()?;
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_keep_alive(Duration::from_secs(u64::from(config.keep_alive.max(5))))
        .set_inflight(config.max_in_flight.max(1))
        .set_request_channel_capacity(usize::try_from(config.queue_size).unwrap_or(100).max(1))
        .set_max_packet_size(
            usize::try_from(config.max_packet_size).unwrap_or(usize::MAX),
            usize::try_from(config.max_packet_size).unwrap_or(usize::MAX),
        );
    // A persistent session needs a client id; the config's checks make sure there is one.
    options.set_clean_session(clean_session || client_id.is_empty());
    if user.is_some() || config.password.is_some() {
        options.set_credentials(
            user.unwrap_or_default(),
            config
                .password
                .as_ref()
                .map(|p| p.expose().clone())
                .unwrap_or_default(),
        );
    }
    if let Some(will) = &config.will {
        options.set_last_will(LastWill::new(
            will.topic.clone(),
            will.payload.clone(),
            qos_of(will.qos),
            will.retain,
        ));
    }
    Ok(options)
}

/// Why a publication was not confirmed.
#[derive(Debug)]
pub(crate) enum Unconfirmed {
    /// The client refused it (an invalid topic) or its event loop is gone.
    Refused(String),
    /// No confirmation within the limit.
    TimedOut,
    /// The queue of publications (`queue_size`) stayed full for the whole limit.
    Full,
}

type Waiter = oneshot::Sender<()>;

#[derive(Default)]
struct Waiters {
    /// Publications queued, not yet sent: their QoS, in order.
    queued: VecDeque<(QoS, Waiter)>,
    /// Publications sent at QoS 1 or 2, by packet id.
    sent: HashMap<u16, Waiter>,
}

/// A client whose publications are confirmed; feed it every event of its event loop.
pub(crate) struct Link {
    pub(crate) client: AsyncClient,
    waiters: Mutex<Waiters>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

impl Link {
    pub(crate) fn new(client: AsyncClient) -> Self {
        Link {
            client,
            waiters: Mutex::new(Waiters::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes and waits, up to `limit` in all, until the broker acknowledged it (QoS 1, 2)
    /// or it was written (QoS 0).
    pub(crate) async fn publish(
        &self,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: Vec<u8>,
        limit: Duration,
    ) -> Result<(), Unconfirmed> {
        let started = tokio::time::Instant::now();
        let mut payload = payload;
        let rx = loop {
            let (tx, rx) = oneshot::channel();
            // The waiter and the request are queued together, under the lock, so both queues
            // keep one order; queueing never waits under the lock.
            let refused = {
                let mut w = self.lock();
                w.queued.push_back((qos, tx));
                match self.client.try_publish(topic, qos, retain, payload) {
                    Ok(()) => None,
                    Err(e) => {
                        w.queued.pop_back();
                        Some(e)
                    }
                }
            };
            match refused {
                None => break rx,
                Some(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(p)))
                    if valid_topic(topic) =>
                {
                    // The queue (`queue_size`) is full: wait for room, within the limit.
                    if started.elapsed() >= limit {
                        return Err(Unconfirmed::Full);
                    }
                    payload = p.payload.to_vec();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Some(e) => return Err(Unconfirmed::Refused(e.to_string())),
            }
        };
        let limit = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Unconfirmed::Refused("the connection was closed".to_owned())),
            Err(_) => Err(Unconfirmed::TimedOut),
        }
    }

    /// Settles the publications `event` tells of.
    pub(crate) fn on_event(&self, event: &Event) {
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let mut w = self.lock();
                if *pkid != 0 && w.sent.contains_key(pkid) {
                    return; // sent again after a reconnect
                }
                if let Some((qos, waiter)) = w.queued.pop_front() {
                    if qos == QoS::AtMostOnce || *pkid == 0 {
                        let _ = waiter.send(());
                    } else {
                        w.sent.insert(*pkid, waiter);
                    }
                }
            }
            Event::Incoming(Incoming::PubAck(ack)) => self.settle(ack.pkid),
            Event::Incoming(Incoming::PubComp(comp)) => self.settle(comp.pkid),
            _ => {}
        }
    }

    fn settle(&self, pkid: u16) {
        if let Some(waiter) = self.lock().sent.remove(&pkid) {
            let _ = waiter.send(());
        }
    }
}
