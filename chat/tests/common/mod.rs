//! Test helpers: start a chat node on 127.0.0.1:0, talk to it with real websocket clients.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use oxcast_chat::protocol::ChatMessage;
use oxcast_chat::{BackendChoice, ChatConfig, ChatService, ErrorCode, Identity, Role, ServerFrame, StaticAuth};
use rand::Rng;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub fn auth() -> StaticAuth {
    StaticAuth::new()
        .with("owner", Identity::new("owner-1", "Olive", Role::Owner))
        .with("mod", Identity::new("mod-1", "Mo", Role::Moderator))
        .with("viewer", Identity::new("viewer-1", "Vi", Role::Viewer))
        .with("viewer2", Identity::new("viewer-2", "Val", Role::Viewer))
}

pub fn unique_room() -> String {
    let n: u64 = rand::rng().random();
    format!("t-{n:016x}")
}

pub fn redis_url() -> String {
    std::env::var("OXCAST_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub struct Node {
    pub service: ChatService,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Node {
    pub async fn start(config: ChatConfig, backend: BackendChoice) -> Node {
        let rooms = |s: &str| !s.starts_with("missing");
        let service = ChatService::start(config, auth(), rooms, backend).await.expect("chat service starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = service.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Node { service, addr, server }
    }

    pub fn url(&self, room: &str, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("ws://{}/live/{room}/chat?token={t}", self.addr),
            None => format!("ws://{}/live/{room}/chat", self.addr),
        }
    }

    pub async fn stop(self) {
        self.service.shutdown().await;
        self.server.abort();
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Client {
    pub ws: Ws,
    /// Skip `viewers` frames in `next` (they arrive on a timer).
    pub skip_viewers: bool,
}

/// What a connection attempt ended with.
pub enum Joined {
    Welcome(Box<Client>, ServerFrame),
    Refused(ServerFrame),
}

impl Client {
    /// Opens the websocket (no hello yet).
    pub async fn open(url: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Client { ws, skip_viewers: true })
    }

    /// Opens with a tiny TCP receive buffer, so that not reading makes the server side lag.
    pub async fn open_small_buffer(addr: SocketAddr, url: &str) -> Client {
        let sock = TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let tcp = sock.connect(addr).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await.unwrap();
        Client { ws, skip_viewers: true }
    }

    /// Opens, says hello, returns the welcome or the refusal.
    pub async fn join(url: &str, name: Option<&str>) -> Joined {
        let mut c = Client::open(url).await.expect("websocket connects");
        c.hello(name).await;
        match c.next().await {
            f @ ServerFrame::Welcome { .. } => Joined::Welcome(Box::new(c), f),
            other => Joined::Refused(other),
        }
    }

    pub async fn joined(url: &str, name: Option<&str>) -> (Client, ServerFrame) {
        match Client::join(url, name).await {
            Joined::Welcome(c, w) => (*c, w),
            Joined::Refused(f) => panic!("join refused: {f:?}"),
        }
    }

    /// Joins, retrying for a while while the node answers `unavailable` (a backend reconnecting).
    pub async fn joined_eventually(url: &str, name: Option<&str>) -> (Client, ServerFrame) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match Client::join(url, name).await {
                Joined::Welcome(c, w) => return (*c, w),
                Joined::Refused(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Joined::Refused(f) => panic!("join refused until the deadline: {f:?}"),
            }
        }
    }

    pub async fn hello(&mut self, name: Option<&str>) {
        let frame = match name {
            Some(n) => serde_json::json!({"type": "hello", "v": 1, "name": n}),
            None => serde_json::json!({"type": "hello", "v": 1}),
        };
        self.raw(&frame.to_string()).await;
    }

    pub async fn raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    pub async fn say(&mut self, text: &str) {
        self.raw(&serde_json::json!({"type": "send", "text": text}).to_string()).await;
    }

    /// Next server frame (skipping viewers frames if asked); panics on close or timeout.
    pub async fn next(&mut self) -> ServerFrame {
        match self.next_or_close().await {
            Some(f) => f,
            None => panic!("connection closed while waiting for a frame"),
        }
    }

    /// Next server frame, or `None` when the server closed the connection.
    pub async fn next_or_close(&mut self) -> Option<ServerFrame> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame within the wait time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let f: ServerFrame = serde_json::from_str(&t).expect("valid server frame");
                    if self.skip_viewers && matches!(f, ServerFrame::Viewers(_)) {
                        continue;
                    }
                    return Some(f);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for a frame matching `pred`, skipping others.
    pub async fn until(&mut self, mut pred: impl FnMut(&ServerFrame) -> bool) -> ServerFrame {
        loop {
            let f = self.next().await;
            if pred(&f) {
                return f;
            }
        }
    }

    /// Waits for the message with this text.
    pub async fn until_text(&mut self, text: &str) -> ChatMessage {
        match self.until(|f| matches!(f, ServerFrame::Message(m) if m.text == text)).await {
            ServerFrame::Message(m) => m,
            _ => unreachable!(),
        }
    }

    /// Expects the connection to be closed by the server (frames before the close are skipped).
    pub async fn expect_closed(&mut self) {
        while self.next_or_close().await.is_some() {}
    }
}

pub fn error_code(f: &ServerFrame) -> Option<ErrorCode> {
    match f {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

pub fn history(welcome: &ServerFrame) -> Vec<String> {
    match welcome {
        ServerFrame::Welcome { history, .. } => history.iter().map(|m| m.text.clone()).collect(),
        other => panic!("not a welcome: {other:?}"),
    }
}

/// Deletes what a scenario left of `room` in its backend (nothing to do in process).
pub async fn purge_room(backend: &BackendChoice, room: &str) {
    if let BackendChoice::Redis { url } = backend {
        purge_redis_room(url, room).await;
    }
}

/// Deletes every Redis key of a room.
pub async fn purge_redis_room(url: &str, room: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for pattern in [format!("oxcast:chat:{room}*"), format!("oxcast:presence:{room}*")] {
        let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query_async(&mut conn).await.unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
        }
    }
}
