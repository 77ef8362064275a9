//! The event stream: `GET /events?app=NAME` upgrades to a WebSocket that carries one JSON
//! object per message (`{"type": "ChannelDtmfReceived", "application": ..., ...}`), and
//! `POST /events/user/{name}` lets applications post their own (`UserEvent`).
//!
//! # Backpressure without silent loss
//!
//! Each client has a bounded queue ([`Hub::new`]'s capacity). Publishing never waits: when
//! a client's queue is full its oldest event is dropped and counted, and before the next
//! event it receives the client gets `{"type": "EventsLost", "count": N}`. The connection
//! stays up; a slow consumer loses the oldest events, knows how many, and catches up.
//!
//! # Which client gets what
//!
//! An event tied to an application (the `app` a channel or bridge was created with, the
//! `application` of a user event) goes to that application's clients; an event tied to none
//! goes to every client.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::{Message, WebSocket};
use serde_json::{Value, json};
use tokio::sync::Notify;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One client's queue.
#[derive(Debug)]
struct Client {
    app: Option<String>,
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Arc<str>>,
    lost: u64,
    closed: bool,
}

/// Fans events out to the connected clients. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Hub {
    capacity: usize,
    clients: Mutex<Vec<Arc<Client>>>,
    published: AtomicU64,
    lost: AtomicU64,
}

/// A client's end: what the WebSocket task drains.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    client: Arc<Client>,
}

/// What a subscription yields next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Events were dropped for this client since it last drained: send the marker first.
    Lost(u64),
    /// An event, serialised.
    Event(Arc<str>),
}

impl Hub {
    /// Default per-client queue capacity, events.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A hub whose clients queue up to `capacity` events each.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            clients: Mutex::new(Vec::new()),
            published: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        })
    }

    /// Registers a client of application `app` (`None`: every event).
    pub fn subscribe(self: &Arc<Self>, app: Option<String>) -> Subscription {
        let client = Arc::new(Client {
            app,
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
        });
        lock(&self.clients).push(Arc::clone(&client));
        Subscription {
            hub: Arc::clone(self),
            client,
        }
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        lock(&self.clients).len()
    }

    /// Events published, and events dropped from full client queues, since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.published.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }

    /// Publishes `event` (a JSON object; `type` set by the caller) for application `app`.
    /// Never waits.
    pub fn publish(&self, app: Option<&str>, mut event: Value) {
        if let (Some(app), Some(map)) = (app, event.as_object_mut()) {
            map.insert("application".into(), Value::String(app.to_owned()));
        }
        if let Some(map) = event.as_object_mut() {
            map.insert(
                "timestamp_ms".into(),
                json!(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64)
                ),
            );
        }
        let text: Arc<str> = event.to_string().into();
        self.published.fetch_add(1, Ordering::Relaxed);
        for client in lock(&self.clients).iter() {
            if app.is_some() && client.app.is_some() && client.app.as_deref() != app {
                continue;
            }
            let mut queue = lock(&client.queue);
            if queue.events.len() >= self.capacity {
                queue.events.pop_front();
                queue.lost += 1;
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
            queue.events.push_back(Arc::clone(&text));
            drop(queue);
            client.ready.notify_one();
        }
    }
}

impl Subscription {
    /// The next thing to send, waiting for one.
    pub async fn next(&self) -> Next {
        loop {
            {
                let mut queue = lock(&self.client.queue);
                if queue.lost > 0 {
                    return Next::Lost(std::mem::take(&mut queue.lost));
                }
                if let Some(event) = queue.events.pop_front() {
                    return Next::Event(event);
                }
            }
            self.client.ready.notified().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.client.queue).closed = true;
        lock(&self.hub.clients).retain(|c| !Arc::ptr_eq(c, &self.client));
    }
}

/// Serves one WebSocket client until it closes: sends what the subscription yields, and
/// reads (and ignores) what the client sends, so a close or a dead peer ends the task.
pub async fn serve_client(mut socket: WebSocket, subscription: Subscription) {
    loop {
        tokio::select! {
            next = subscription.next() => {
                let text = match next {
                    Next::Lost(count) => json!({"type": "EventsLost", "count": count}).to_string(),
                    Next::Event(event) => event.to_string(),
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_says_how_many() {
        let hub = Hub::new(2);
        let sub = hub.subscribe(Some("a".into()));
        for n in 0..5 {
            hub.publish(Some("a"), json!({"type": "UserEvent", "n": n}));
        }
        hub.publish(Some("other"), json!({"type": "UserEvent"}));
        assert_eq!(sub.next().await, Next::Lost(3));
        let Next::Event(e) = sub.next().await else {
            panic!("an event")
        };
        assert!(e.contains("\"n\":3"));
        assert_eq!(hub.totals(), (6, 3));
        drop(sub);
        assert_eq!(hub.clients(), 0);
    }
}
