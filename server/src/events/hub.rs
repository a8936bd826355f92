//! Local fan-out: the instance's single broker reader hands every event to the hub, and the hub
//! routes it only to the subscriptions that asked for it — by audience key (`myEvents`) or by
//! subject (`subjectEvents`) — so an event costs as much as its recipients, not as much as all
//! open sockets. Each subscription has a bounded buffer; one that falls further behind is dropped
//! and told it lagged (it resubscribes with `after`), and nobody else waits for it.
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::mpsc;

use crate::events::model::Envelope;

type Routes = HashMap<String, Vec<(u64, mpsc::Sender<Arc<Envelope>>, Arc<AtomicBool>)>>;

#[derive(Clone)]
pub struct Hub {
    routes: Arc<Mutex<Routes>>,
    next_id: Arc<AtomicU64>,
    capacity: usize,
}

/// The key of a `myEvents` subscription.
pub fn audience_route(audience_key: &str) -> String {
    format!("a:{audience_key}")
}

/// The key of a `subjectEvents` subscription.
pub fn subject_route(subject_id: &str) -> String {
    format!("s:{subject_id}")
}

/// A live subscription's end of the hub. Dropping it unregisters it.
pub struct HubSubscription {
    pub receiver: mpsc::Receiver<Arc<Envelope>>,
    lagged: Arc<AtomicBool>,
    route: String,
    id: u64,
    routes: Arc<Mutex<Routes>>,
}

impl HubSubscription {
    /// True when the hub dropped this subscription because its buffer was full.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }
}

impl Drop for HubSubscription {
    fn drop(&mut self) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = routes.get_mut(&self.route) {
            list.retain(|(id, ..)| *id != self.id);
            if list.is_empty() {
                routes.remove(&self.route);
            }
        }
    }
}

impl Hub {
    /// `capacity`: events buffered per subscription.
    pub fn new(capacity: usize) -> Self {
        Self {
            routes: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(AtomicU64::new(1)),
            capacity: capacity.max(1),
        }
    }

    pub fn subscribe(&self, route: String) -> HubSubscription {
        let (sender, receiver) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.clone())
            .or_default()
            .push((id, sender, lagged.clone()));
        HubSubscription {
            receiver,
            lagged,
            route,
            id,
            routes: self.routes.clone(),
        }
    }

    /// Delivers to the subscriptions of the event's audience and subject on this instance.
    pub fn publish(&self, envelope: Arc<Envelope>) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let keys = envelope
            .audience
            .iter()
            .map(|a| audience_route(a))
            .chain(std::iter::once(subject_route(&envelope.subject_id)));
        for key in keys {
            let Some(list) = routes.get_mut(&key) else {
                continue;
            };
            list.retain(
                |(_, sender, lagged)| match sender.try_send(envelope.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        lagged.store(true, Ordering::Relaxed);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                },
            );
            if list.is_empty() {
                routes.remove(&key);
            }
        }
    }

    /// Open subscriptions on this instance.
    pub fn subscriptions(&self) -> usize {
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(audience: &str, subject: &str) -> Arc<Envelope> {
        Arc::new(Envelope {
            id: uuid::Uuid::now_v7(),
            seq: 1,
            position: Some(1),
            kind: "k".into(),
            topic: "account".into(),
            subject_kind: "account".into(),
            subject_id: subject.into(),
            audience: vec![audience.into()],
            payload: serde_json::Value::Null,
            created_at: chrono::Utc::now(),
        })
    }

    #[tokio::test]
    async fn events_reach_only_their_routes_and_a_full_buffer_drops_only_its_owner() {
        let hub = Hub::new(2);
        let mut mine = hub.subscribe(audience_route("resident:a"));
        let mut subject = hub.subscribe(subject_route("s1"));
        let mut slow = hub.subscribe(audience_route("resident:b"));
        hub.publish(envelope("resident:a", "s1"));
        assert!(mine.receiver.try_recv().is_ok());
        assert!(subject.receiver.try_recv().is_ok());
        assert!(slow.receiver.try_recv().is_err(), "not addressed to b");
        for _ in 0..3 {
            hub.publish(envelope("resident:b", "s2"));
        }
        assert!(slow.lagged());
        assert_eq!(hub.subscriptions(), 2, "the lagging subscription is gone");
        hub.publish(envelope("resident:a", "s3"));
        assert!(mine.receiver.try_recv().is_ok(), "the others carry on");
        drop(mine);
        assert_eq!(hub.subscriptions(), 1);
    }
}
