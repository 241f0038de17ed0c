//! The SRT gate: a datagram relay in front of srt-tokio's listener, so that one caller can only
//! ever lose its own connection.
//!
//! Why it exists: srt-tokio runs every session on the port through one listener task, and the
//! protocol crate panics inside that task on handshakes it does not implement. The one a real
//! client sends is a caller with a passphrase (and no announced key length, which is what
//! libsrt, so OBS and ffmpeg, do) to a stream without one: the connection request the library
//! hands us does not say that key material came with it, we accept without keys, and the
//! state machine hits `unimplemented!`; the task dies and every SRT session on the port with
//! it. The library cannot be patched from here, so the gate looks at the handshakes itself
//! before the library does, with the library's own packet parser:
//!
//! - it records, per caller, whether its conclusion handshake carried a key-material request
//!   ([`Caller::sent_key_material`]), so the server can refuse such a caller for a stream
//!   without a passphrase through the library's ordinary rejection path;
//! - it drops conclusion handshakes whose key-material extension is anything but a request (the
//!   other `unimplemented!` in the same place): the caller times out, nobody else notices.
//!
//! How: the public UDP socket is ours; srt-tokio listens on a loopback socket; each caller
//! address gets a relay socket of its own on loopback (so the library still sees one address
//! per caller), datagrams go through unchanged both ways, and a relay idle for
//! [`RELAY_IDLE`] is closed. The cost is one extra loopback send and receive per datagram. The
//! number of relays is capped, so a flood of spoofed source addresses cannot open sockets
//! without bound.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use srt_protocol::packet::{ControlPacket, ControlTypes, HandshakeVsInfo, Packet, ShakeType, SrtControlPacket};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A relay that carried nothing either way for this long is closed (SRT sends keep-alives every
/// second, so only dead callers are idle this long).
pub const RELAY_IDLE: Duration = Duration::from_secs(30);

/// The largest datagram relayed (SRT's maximum segment size is 1500).
const MAX_DATAGRAM: usize = 2048;

/// What the gate learned about one caller.
#[derive(Debug)]
pub struct Caller {
    /// The caller's real address.
    pub remote: SocketAddr,
    sent_key_material: AtomicBool,
}

impl Caller {
    /// Whether its conclusion handshake asked for encryption (a KMREQ extension).
    pub fn sent_key_material(&self) -> bool {
        self.sent_key_material.load(Ordering::Acquire)
    }
}

struct Relay {
    socket: Arc<UdpSocket>,
    caller: Arc<Caller>,
    /// Set by the inbound path on every datagram; the relay's task clears it each idle period.
    active: Arc<AtomicBool>,
}

/// The relay table: callers by real address, and by the relay address the library sees.
#[derive(Default)]
struct Table {
    by_remote: HashMap<SocketAddr, Relay>,
    by_relay: HashMap<SocketAddr, Arc<Caller>>,
}

/// The gate of one SRT port.
pub struct SrtGate {
    public: Arc<UdpSocket>,
    /// Where srt-tokio listens (loopback).
    inner: Mutex<SocketAddr>,
    table: Mutex<Table>,
    max_relays: usize,
}

impl std::fmt::Debug for SrtGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtGate").field("inner", &self.inner).field("max_relays", &self.max_relays).finish()
    }
}

impl SrtGate {
    /// A gate on `public` relaying to the library's socket at `inner`.
    pub fn new(public: UdpSocket, inner: SocketAddr, max_relays: usize) -> Arc<Self> {
        Arc::new(Self {
            public: Arc::new(public),
            inner: Mutex::new(inner),
            table: Mutex::new(Table::default()),
            max_relays,
        })
    }

    /// The loopback address of the same family as `public`, for the library's and the relays'
    /// sockets.
    pub fn loopback_for(public: SocketAddr) -> SocketAddr {
        let ip = match public.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, 0)
    }

    /// The caller behind the address the library reports (a relay's).
    pub fn caller(&self, relay_address: SocketAddr) -> Option<Arc<Caller>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).by_relay.get(&relay_address).cloned()
    }

    /// Points the gate at a new library socket (after the listener was bound again); existing
    /// relays, whose sessions died with the old listener, are dropped.
    pub fn retarget(&self, inner: SocketAddr) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = inner;
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.by_remote.clear();
        table.by_relay.clear();
    }

    /// Relays datagrams from the public socket until `shutdown`; each relay's return path is a
    /// task on `tracker`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, tracker: TaskTracker) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut full_logged = false;
        loop {
            let (len, remote) = tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.public.recv_from(&mut buf) => match received {
                    Ok(pair) => pair,
                    Err(e) => {
                        // ICMP errors of earlier sends surface here on some systems: not fatal.
                        tracing::debug!(error = %e, "srt gate receive failed");
                        continue;
                    }
                },
            };
            let datagram = &buf[..len];
            let verdict = inspect(datagram);
            if verdict == Verdict::Drop {
                tracing::warn!(%remote, "srt handshake with key material oxcast cannot handle; dropped");
                continue;
            }
            let Some((socket, caller, active)) = self.relay_for(remote, &shutdown, &tracker).await else {
                if !full_logged {
                    tracing::warn!(%remote, max = self.max_relays, "srt gate full: datagram from a new caller dropped");
                    full_logged = true;
                }
                continue;
            };
            full_logged = false;
            if verdict == Verdict::KeyMaterialRequest {
                caller.sent_key_material.store(true, Ordering::Release);
            }
            active.store(true, Ordering::Relaxed);
            let inner = *self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = socket.send_to(datagram, inner).await {
                tracing::debug!(%remote, error = %e, "srt gate relay send failed");
            }
        }
    }

    /// The relay of `remote`, made (with its return task) if it has none and there is room.
    async fn relay_for(
        self: &Arc<Self>,
        remote: SocketAddr,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Option<(Arc<UdpSocket>, Arc<Caller>, Arc<AtomicBool>)> {
        {
            let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(relay) = table.by_remote.get(&remote) {
                return Some((relay.socket.clone(), relay.caller.clone(), relay.active.clone()));
            }
            if table.by_remote.len() >= self.max_relays {
                return None;
            }
        }
        let inner = *self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let socket = match UdpSocket::bind(Self::loopback_for(inner)).await {
            Ok(socket) => Arc::new(socket),
            Err(e) => {
                tracing::warn!(%remote, error = %e, "srt gate cannot open a relay socket");
                return None;
            }
        };
        let relay_address = socket.local_addr().ok()?;
        let caller = Arc::new(Caller { remote, sent_key_material: AtomicBool::new(false) });
        let active = Arc::new(AtomicBool::new(true));
        {
            let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
            table
                .by_remote
                .insert(remote, Relay { socket: socket.clone(), caller: caller.clone(), active: active.clone() });
            table.by_relay.insert(relay_address, caller.clone());
        }
        tracker.spawn(self.clone().return_path(
            socket.clone(),
            remote,
            relay_address,
            active.clone(),
            shutdown.clone(),
        ));
        Some((socket, caller, active))
    }

    /// Sends what the library answers on `socket` back to `remote`, until the relay is idle for
    /// [`RELAY_IDLE`] either way, or `shutdown`; then forgets the relay.
    async fn return_path(
        self: Arc<Self>,
        socket: Arc<UdpSocket>,
        remote: SocketAddr,
        relay_address: SocketAddr,
        active: Arc<AtomicBool>,
        shutdown: CancellationToken,
    ) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = tokio::time::timeout(RELAY_IDLE, socket.recv_from(&mut buf)) => received,
            };
            match received {
                Ok(Ok((len, _from))) => {
                    active.store(true, Ordering::Relaxed);
                    let _ = self.public.send_to(&buf[..len], remote).await;
                }
                Ok(Err(e)) => tracing::debug!(%remote, error = %e, "srt gate relay receive failed"),
                // Nothing back for a whole period: idle unless the caller sent something.
                Err(_) => {
                    if !active.swap(false, Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.by_relay.remove(&relay_address).is_some() {
            table.by_remote.remove(&remote);
        }
    }
}

/// What the gate does with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    /// A conclusion handshake asking for encryption: pass it, and remember.
    KeyMaterialRequest,
    /// A conclusion handshake whose key-material extension is not a request: the library would
    /// panic on it.
    Drop,
}

/// Looks at a datagram: only handshakes are parsed (the first word of a control packet is
/// `0x8000_0000` for the handshake type), everything else passes untouched.
fn inspect(datagram: &[u8]) -> Verdict {
    if datagram.len() < 16 || datagram[0..4] != [0x80, 0x00, 0x00, 0x00] {
        return Verdict::Pass;
    }
    let mut bytes = datagram;
    let Ok(Packet::Control(ControlPacket { control_type: ControlTypes::Handshake(shake), .. })) =
        Packet::parse(&mut bytes, false)
    else {
        return Verdict::Pass;
    };
    let HandshakeVsInfo::V5(info) = &shake.info else { return Verdict::Pass };
    if shake.shake_type != ShakeType::Conclusion {
        return Verdict::Pass;
    }
    match &info.ext_km {
        None => Verdict::Pass,
        Some(SrtControlPacket::KeyRefreshRequest(_)) => Verdict::KeyMaterialRequest,
        Some(_) => Verdict::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_garbage_pass_untouched() {
        assert_eq!(inspect(&[0u8; 100]), Verdict::Pass, "a data packet");
        assert_eq!(inspect(&[0x80, 0, 0, 0]), Verdict::Pass, "too short to be a handshake");
        let mut junk = vec![0x80, 0, 0, 0];
        junk.extend((0..60).map(|i| i as u8));
        assert_eq!(inspect(&junk), Verdict::Pass, "a handshake that does not parse is the library's to refuse");
    }
}
