//! The axum glue: `GET /live/{name}/chat` upgrades to a websocket and runs one connection.
//!
//! Before the upgrade: the room must exist (404) and the `?token=` must identify someone
//! (401/403/503), since browsers cannot set headers on websockets. After it, a connection has
//! three phases: wait for `hello` (bounded by `hello_timeout`), join (subscribe, ban check,
//! presence, `welcome`), then two halves: this task reads client frames and runs them through
//! the sans-I/O [`Session`]; a writer task owns the socket's sink and forwards room events.
//! The writer's only queue is its position in the room's bounded broadcast: when the client is
//! slow, it lags, skips ahead and is told `lagged {skipped}`; it is never disconnected for that.
//! Replies to the client's own frames go through a small bounded queue (dropped when full: a
//! client that does not read its replies loses them, not the room). The server pings every
//! `heartbeat_interval` and closes a connection silent for `idle_timeout` or whose single write
//! takes longer than `write_timeout`. Everything runs on the service's tracker and ends on
//! shutdown with a 1001 close.

use std::collections::HashSet;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::identity::{ChatAuthError, Identity};
use crate::protocol::{ErrorCode, ServerFrame};
use crate::room::RoomSubscription;
use crate::service::{ChatService, JoinOutcome, Joined, valid_room_name};
use crate::session::{Route, Session, Step, route_event};

/// Replies to a client's own frames waiting to be written.
const DIRECT_QUEUE: usize = 32;
/// Close code for protocol-level refusals (ban, bad frames).
const CLOSE_POLICY: u16 = close_code::POLICY;

/// The chat routes with their state applied. Mount with `Router::merge`.
pub fn router(service: ChatService) -> Router {
    // `any`: GET for HTTP/1.1 upgrades, CONNECT for websockets over HTTP/2 (RFC 8441).
    Router::new().route("/live/{name}/chat", any(upgrade)).with_state(service)
}

#[derive(Debug, Deserialize)]
struct ChatQuery {
    token: Option<String>,
    /// The browser's viewer id, shared with its player: presence is counted under it, so one
    /// viewer with a player and a chat socket counts once. Without it, the identity id is used.
    viewer: Option<String>,
}

async fn upgrade(
    State(service): State<ChatService>,
    Path(name): Path<String>,
    Query(query): Query<ChatQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let inner = &service.inner;
    if !valid_room_name(&name) || !inner.rooms.room_exists(&name).await {
        return (StatusCode::NOT_FOUND, "no such stream").into_response();
    }
    if inner.cancel.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let token = query.token.as_deref().filter(|t| !t.is_empty());
    let identity = match inner.auth.identify(&name, token).await {
        Ok(i) => i,
        Err(ChatAuthError::InvalidToken) => {
            return (StatusCode::UNAUTHORIZED, "invalid token").into_response();
        }
        Err(ChatAuthError::Forbidden) => {
            return (StatusCode::FORBIDDEN, "not allowed in this chat").into_response();
        }
        Err(e @ ChatAuthError::Unavailable(_)) => {
            tracing::warn!(stream = %name, error = %e, "chat auth unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response();
        }
    };
    let presence_key =
        query.viewer.as_deref().and_then(crate::service::viewer_presence_key).unwrap_or_else(|| identity.id.clone());
    let limit = inner.config.codec_limit();
    let tracker = inner.tracker.clone();
    // tungstenite's default 128 KiB read buffer is allocated (and zeroed) per connection: with
    // thousands of viewers that alone is over 1 GB. Client frames are a few KiB at most.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| tracker.track_future(connection(service, name, identity, presence_key, socket)))
}

/// Per-connection read buffer (client frames are bounded by `max_frame_bytes`, 4 KiB by default).
const READ_BUFFER_BYTES: usize = 8 * 1024;

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

enum Outbound {
    Text(Utf8Bytes),
    Ping,
    Close(u16, &'static str),
}

fn text(frame: &ServerFrame) -> Outbound {
    Outbound::Text(Utf8Bytes::from(frame.to_json()))
}

async fn write(sink: &mut Sink, out: Outbound, timeout: Duration) -> bool {
    let msg = match out {
        Outbound::Text(t) => Message::Text(t),
        Outbound::Ping => Message::Ping(Default::default()),
        Outbound::Close(code, reason) => {
            Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
        }
    };
    matches!(tokio::time::timeout(timeout, sink.send(msg)).await, Ok(Ok(())))
}

async fn connection(service: ChatService, room: String, identity: Identity, presence_key: String, socket: WebSocket) {
    let cfg = &service.inner.config;
    let (mut sink, mut stream) = socket.split();
    let mut session = Session::new(identity, cfg, Instant::now());
    if !await_hello(&service, &mut session, &mut sink, &mut stream).await {
        return;
    }
    let joined = match service.join(&room, session.identity(), &presence_key).await {
        Ok(JoinOutcome::Joined(j)) => *j,
        Ok(JoinOutcome::Banned) => {
            let f = ServerFrame::error(ErrorCode::Banned, "you are banned from this chat");
            if write(&mut sink, text(&f), cfg.write_timeout).await {
                write(&mut sink, Outbound::Close(CLOSE_POLICY, "banned"), cfg.write_timeout).await;
            }
            return;
        }
        Err(e) => {
            tracing::warn!(room, error = %e, "chat join failed");
            let f = ServerFrame::error(ErrorCode::Unavailable, "chat is temporarily unavailable");
            if write(&mut sink, text(&f), cfg.write_timeout).await {
                write(&mut sink, Outbound::Close(close_code::ERROR, "unavailable"), cfg.write_timeout).await;
            }
            return;
        }
    };
    session.set_joined();
    run_joined(&service, &room, session, joined, sink, stream).await;
    service.leave(&room, &presence_key).await;
}

/// Phase one: only `hello` (and `ping`) are accepted. Returns false when the connection ended.
async fn await_hello(service: &ChatService, session: &mut Session, sink: &mut Sink, stream: &mut Stream) -> bool {
    let cfg = &service.inner.config;
    let deadline = tokio::time::sleep(cfg.hello_timeout);
    tokio::pin!(deadline);
    loop {
        let step = tokio::select! {
            () = service.inner.cancel.cancelled() => {
                write(sink, Outbound::Close(close_code::AWAY, "server shutting down"), cfg.write_timeout).await;
                return false;
            }
            () = &mut deadline => Step::Close(ServerFrame::error(ErrorCode::BadRequest, "no hello received")),
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => session.on_text(&t, Instant::now()),
                Some(Ok(Message::Binary(_))) => session.on_binary(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return false,
            },
        };
        match step {
            Step::Join => return true,
            Step::Reply(f) => {
                if !write(sink, text(&f), cfg.write_timeout).await {
                    return false;
                }
            }
            // Commands are refused by the session before `hello`; treat one as a bug, not a crash.
            Step::Close(_) | Step::Command(_) => {
                if let Step::Close(f) = step
                    && write(sink, text(&f), cfg.write_timeout).await
                {
                    write(sink, Outbound::Close(CLOSE_POLICY, "protocol error"), cfg.write_timeout).await;
                }
                return false;
            }
        }
    }
}

/// Phase three: reader here, writer in its own task.
async fn run_joined(
    service: &ChatService,
    room: &str,
    mut session: Session,
    joined: Joined,
    sink: Sink,
    mut stream: Stream,
) {
    let cfg = &service.inner.config;
    let conn = service.inner.cancel.child_token();
    let (direct_tx, direct_rx) = mpsc::channel(DIRECT_QUEUE);
    // The welcome goes first: the writer prefers the direct queue over room events.
    let _ = direct_tx.try_send(text(&joined.welcome));
    let mut writer = service.inner.tracker.spawn(writer(
        sink,
        joined.subscription,
        direct_rx,
        session.identity().clone(),
        joined.history_ids,
        conn.clone(),
        service.inner.cancel.clone(),
        cfg.write_timeout,
    ));

    let mut heartbeat = tokio::time::interval_at(Instant::now() + cfg.heartbeat_interval, cfg.heartbeat_interval);
    let mut last_seen = Instant::now();
    let mut closing = false;
    loop {
        tokio::select! {
            () = conn.cancelled() => break,
            _ = heartbeat.tick() => {
                if last_seen.elapsed() >= cfg.idle_timeout {
                    tracing::debug!(room, "closing silent connection");
                    closing = direct_tx.try_send(Outbound::Close(close_code::AWAY, "idle")).is_ok();
                    break;
                }
                let _ = direct_tx.try_send(Outbound::Ping);
            }
            msg = stream.next() => {
                last_seen = Instant::now();
                let step = match msg {
                    Some(Ok(Message::Text(t))) => session.on_text(&t, Instant::now()),
                    Some(Ok(Message::Binary(_))) => session.on_binary(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                match step {
                    Step::Reply(f) => {
                        let _ = direct_tx.try_send(text(&f));
                    }
                    Step::Close(f) => {
                        closing = direct_tx.try_send(text(&f)).is_ok()
                            && direct_tx.try_send(Outbound::Close(CLOSE_POLICY, "protocol error")).is_ok();
                        break;
                    }
                    Step::Join => {}
                    Step::Command(cmd) => {
                        if let Err(refusal) = service.execute(room, session.identity(), cmd).await {
                            let _ = direct_tx.try_send(text(&refusal.to_frame()));
                        }
                    }
                }
            }
        }
    }
    if !closing {
        conn.cancel();
    }
    // Let the writer flush a final error and close frame, but not forever.
    if tokio::time::timeout(cfg.write_timeout, &mut writer).await.is_err() {
        conn.cancel();
        let _ = writer.await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn writer(
    mut sink: Sink,
    mut events: RoomSubscription,
    mut direct: mpsc::Receiver<Outbound>,
    me: Identity,
    mut history_ids: HashSet<u64>,
    conn: CancellationToken,
    shutdown: CancellationToken,
    write_timeout: Duration,
) {
    loop {
        let out = tokio::select! {
            biased;
            () = conn.cancelled() => {
                if shutdown.is_cancelled() {
                    write(&mut sink, Outbound::Close(close_code::AWAY, "server shutting down"), write_timeout).await;
                }
                break;
            }
            d = direct.recv() => match d {
                Some(Outbound::Close(code, reason)) => {
                    write(&mut sink, Outbound::Close(code, reason), write_timeout).await;
                    break;
                }
                Some(o) => o,
                None => break,
            },
            ev = events.rx.recv() => match ev {
                Ok(ev) => match route_event(&ev.frame, &me, &mut history_ids) {
                    Route::Skip => continue,
                    Route::Forward => Outbound::Text(ev.json),
                    Route::ForwardThenClose => {
                        if write(&mut sink, Outbound::Text(ev.json), write_timeout).await {
                            write(&mut sink, Outbound::Close(CLOSE_POLICY, "banned"), write_timeout).await;
                        }
                        break;
                    }
                },
                // Fell behind the room: skip ahead, tell the client, stay connected.
                Err(RecvError::Lagged(skipped)) => text(&ServerFrame::Lagged { skipped }),
                Err(RecvError::Closed) => break,
            },
        };
        if !write(&mut sink, out, write_timeout).await {
            break;
        }
    }
    conn.cancel();
}
