//! The subscriptions' counters in the node's metrics: delivered, redelivered, failed and dead
//! messages per subscription since the node started.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use zato_core::Platform;
use zato_core::metrics::{Collector, Labels, Scrape};

use crate::pubsub::PubSub;

#[derive(Debug)]
struct Counts(PubSub);

impl Collector for Counts {
    fn collect(&self, scrape: &mut Scrape) {
        let families = [
            (
                "pubsub_delivered",
                "Messages a subscription's subscriber took",
            ),
            (
                "pubsub_redelivered",
                "Of those, messages taken again after a failure or a lapsed lease",
            ),
            (
                "pubsub_failed",
                "Deliveries that failed, to be retried or dead-lettered",
            ),
            ("pubsub_dead", "Messages whose attempts ran out"),
        ];
        let all: Vec<(String, [u64; 4])> = match self.0.inner.counters.lock() {
            Ok(all) => all
                .iter()
                .map(|(name, c)| {
                    (
                        name.clone(),
                        [
                            c.delivered.load(Ordering::Relaxed),
                            c.redelivered.load(Ordering::Relaxed),
                            c.failed.load(Ordering::Relaxed),
                            c.dead.load(Ordering::Relaxed),
                        ],
                    )
                })
                .collect(),
            Err(_) => return,
        };
        for (i, (name, help)) in families.into_iter().enumerate() {
            let family = scrape.counters(name, help);
            for (sub, values) in &all {
                let labels: Labels = vec![("subscription", Cow::Owned(sub.clone()))];
                family.get_or_create(&labels).inc_by(values[i]);
            }
        }
    }
}

pub(crate) fn register(platform: &Platform, pubsub: &PubSub) {
    platform
        .metrics()
        .register_collector("pubsub", Box::new(Counts(pubsub.clone())));
}
