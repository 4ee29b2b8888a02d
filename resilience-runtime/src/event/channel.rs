//! The subscriptions' sink: a bounded broadcast channel that every [`Subscription`] reads.

use std::sync::OnceLock;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::broadcast;

use super::Event;
use super::wanted::{SUBSCRIPTION_SHIFT, WANTED, subscribed};

/// How many events the channel holds for a subscriber that has not read them yet; past that,
/// the oldest are dropped for it.
pub const CAPACITY: usize = 4096;

/// The channel, made by the first subscription.
static CHANNEL: OnceLock<broadcast::Sender<Event>> = OnceLock::new();

/// Starts receiving every event of every policy, from now on.
///
/// Dropping the subscription stops it; when none is left, publishing costs one relaxed load
/// again.
pub fn subscribe() -> Subscription {
    let sender = CHANNEL.get_or_init(|| broadcast::channel(CAPACITY).0);
    let receiver = sender.subscribe();
    // Relaxed: a hint for publishers; an event racing with the first subscription may be
    // missed, as it would be a moment earlier.
    WANTED.fetch_add(1 << SUBSCRIPTION_SHIFT, Relaxed);
    Subscription {
        receiver,
        missed: 0,
    }
}

/// A stream of [`Event`]s from every policy; made by [`subscribe`].
///
/// A subscriber that falls more than [`CAPACITY`] events behind loses the oldest ones: calls
/// never wait for it. [`missed`](Self::missed) counts what it lost.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Event>,
    missed: u64,
}

impl Subscription {
    /// The next event, waiting for one if none is pending.
    pub async fn recv(&mut self) -> Event {
        loop {
            match self.receiver.recv().await {
                Ok(event) => return event,
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                // The sender lives in a static: never closed. Wait forever rather than spin.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// The next pending event, or `None` at once if there is none.
    pub fn try_recv(&mut self) -> Option<Event> {
        loop {
            match self.receiver.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.missed += n,
                Err(_) => return None,
            }
        }
    }

    /// Every pending event, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }

    /// How many events this subscriber lost by falling behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Relaxed: see `subscribe`.
        WANTED.fetch_sub(1 << SUBSCRIPTION_SHIFT, Relaxed);
    }
}

/// The sink: sends the event to the subscriptions, if there are any.
pub(super) fn sink(event: &Event) {
    if subscribed() {
        publish(*event);
    }
}

#[cold]
#[inline(never)]
fn publish(event: Event) {
    if let Some(sender) = CHANNEL.get() {
        // An error means every receiver is gone: nothing to do.
        let _ = sender.send(event);
    }
}
