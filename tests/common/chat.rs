//! A chat websocket client for the end-to-end tests: join a room, wait for a frame of a kind,
//! send a frame.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::Server;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn ws_url(server: &Server, stream: &str, query: &str) -> String {
    format!("{}/live/{stream}/chat?{query}", server.http.replacen("http://", "ws://", 1))
}

/// Connects, says hello, and returns the socket with its `welcome` frame.
pub async fn join(url: &str, name: Option<&str>) -> (Socket, serde_json::Value) {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = match name {
        Some(n) => serde_json::json!({ "type": "hello", "v": 1, "name": n }),
        None => serde_json::json!({ "type": "hello", "v": 1 }),
    };
    socket.send(Message::text(hello.to_string())).await.unwrap();
    let welcome = next_of(&mut socket, "welcome").await;
    (socket, welcome)
}

/// The next frame of `kind`, skipping others (viewer pushes arrive any time).
pub async fn next_of(socket: &mut Socket, kind: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, socket.next()).await.expect("a frame in time").unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

pub async fn send(socket: &mut Socket, frame: serde_json::Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}
