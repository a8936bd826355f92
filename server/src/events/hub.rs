//! Local fan-out: the instance's single broker reader publishes into one broadcast channel and
//! every live subscription of the instance reads from it. A subscriber that falls more than the
//! channel's capacity behind gets `Lagged` and is closed (it reconnects with `after`).
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::events::Envelope;

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Envelope>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }

    /// Delivers to every current subscriber of this instance (none is fine).
    pub fn publish(&self, envelope: Arc<Envelope>) {
        let _ = self.sender.send(envelope);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.sender.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}
