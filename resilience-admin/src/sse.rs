//! `GET /events`: every decision of every policy as server-sent events, while the client is
//! connected.

use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use resilience_runtime::event::{Subscription, subscribe};

use crate::json;

/// Clients connected now.
static CLIENTS: AtomicUsize = AtomicUsize::new(0);
/// Events lost by slow clients, in total.
static MISSED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn clients() -> usize {
    CLIENTS.load(Relaxed)
}

pub(crate) fn missed() -> u64 {
    MISSED.load(Relaxed)
}

/// A connected client: counted while its stream lives.
struct Client(Subscription);

impl Client {
    fn new() -> Self {
        CLIENTS.fetch_add(1, Relaxed);
        Client(subscribe())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        CLIENTS.fetch_sub(1, Relaxed);
    }
}

/// A subscription per client: a bounded buffer of its own (see `event::CAPACITY`); what a
/// slow client loses is counted and told in a `missed` event before the next one.
pub(crate) async fn events() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let state = (Client::new(), 0u64, None::<Event>);
    let stream = futures_util::stream::unfold(
        state,
        |(mut client, told, pending): (Client, u64, Option<Event>)| async move {
            if let Some(event) = pending {
                return Some((Ok(event), (client, told, None)));
            }
            let sub = &mut client.0;
            let event = sub.recv().await;
            let data = json::event(&event, json::now_ms()).to_string();
            let next = Event::default().event("policy").data(data);
            let missed = sub.missed();
            if missed > told {
                MISSED.fetch_add(missed - told, Relaxed);
                let note = Event::default()
                    .event("missed")
                    .data(serde_json::json!({ "missed": missed - told }).to_string());
                return Some((Ok(note), (client, missed, Some(next))));
            }
            Some((Ok(next), (client, told, None)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
