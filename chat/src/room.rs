//! The node-local fan-out of room events to this node's sockets.
//!
//! One bounded `tokio::sync::broadcast` per room that has sockets on this node. Publishing never
//! waits for a reader: a socket that falls more than `room_buffer` events behind gets
//! `RecvError::Lagged` and skips ahead (the connection turns that into a `lagged` frame and
//! stays connected). Events carry their JSON already serialized once, so fan-out is a cheap
//! clone per socket. Backends feed this hub: the in-process one directly, the Redis one from its
//! pub/sub loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::protocol::ServerFrame;

/// Locks a mutex, ignoring poisoning (our critical sections leave the data consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One event for a room: the frame (to inspect) and its JSON (to send).
#[derive(Debug, Clone)]
pub struct RoomEvent {
    pub frame: Arc<ServerFrame>,
    pub json: Utf8Bytes,
}

impl RoomEvent {
    pub fn new(frame: ServerFrame) -> Self {
        let json = Utf8Bytes::from(frame.to_json());
        Self { frame: Arc::new(frame), json }
    }

    /// From JSON received from another node.
    pub fn from_json(json: String) -> Result<Self, serde_json::Error> {
        let frame: ServerFrame = serde_json::from_str(&json)?;
        Ok(Self { frame: Arc::new(frame), json: Utf8Bytes::from(json) })
    }
}

/// Rooms with sockets on this node.
#[derive(Debug)]
pub struct RoomHub {
    capacity: usize,
    rooms: Mutex<HashMap<String, broadcast::Sender<RoomEvent>>>,
}

impl RoomHub {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { capacity: capacity.max(1), rooms: Mutex::new(HashMap::new()) })
    }

    /// Subscribes to a room. The bool is true when the room is new on this node.
    pub fn subscribe(self: &Arc<Self>, room: &str) -> (RoomSubscription, bool) {
        let mut rooms = lock(&self.rooms);
        let (rx, new) = match rooms.get(room) {
            Some(tx) => (tx.subscribe(), false),
            None => {
                let (tx, rx) = broadcast::channel(self.capacity);
                rooms.insert(room.to_owned(), tx);
                (rx, true)
            }
        };
        (RoomSubscription { hub: Arc::clone(self), room: room.to_owned(), rx }, new)
    }

    /// Delivers an event to this node's sockets of the room; returns how many receive it.
    pub fn send(&self, room: &str, event: RoomEvent) -> usize {
        let rooms = lock(&self.rooms);
        rooms.get(room).map_or(0, |tx| tx.send(event).unwrap_or(0))
    }

    /// Rooms with at least one socket on this node.
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.rooms).keys().cloned().collect()
    }

    pub fn has_room(&self, room: &str) -> bool {
        lock(&self.rooms).contains_key(room)
    }
}

/// A socket's place in a room; leaving the room is dropping it.
#[derive(Debug)]
pub struct RoomSubscription {
    hub: Arc<RoomHub>,
    room: String,
    pub rx: broadcast::Receiver<RoomEvent>,
}

impl Drop for RoomSubscription {
    fn drop(&mut self) {
        let mut rooms = lock(&self.hub.rooms);
        if let Some(tx) = rooms.get(&self.room)
            && tx.receiver_count() <= 1
        {
            rooms.remove(&self.room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::RecvError;

    #[tokio::test]
    async fn fan_out_lag_and_cleanup() {
        let hub = RoomHub::new(4);
        let (mut a, new_a) = hub.subscribe("r");
        let (mut b, new_b) = hub.subscribe("r");
        assert!(new_a && !new_b);
        for i in 0..6 {
            assert_eq!(hub.send("r", RoomEvent::new(ServerFrame::Deleted { id: i })), 2);
        }
        // `a` fell behind: it skips ahead instead of blocking the sender.
        assert!(matches!(a.rx.recv().await, Err(RecvError::Lagged(2))));
        let ev = a.rx.recv().await.unwrap();
        assert_eq!(*ev.frame, ServerFrame::Deleted { id: 2 });
        assert_eq!(&*ev.json, r#"{"type":"deleted","id":2}"#);
        drop(a);
        assert!(hub.has_room("r"));
        let _ = b.rx.try_recv();
        drop(b);
        assert!(!hub.has_room("r"));
        assert_eq!(hub.send("r", RoomEvent::new(ServerFrame::Pong)), 0);
    }
}
