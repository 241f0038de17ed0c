//! A minimal blocking RTMP publisher on rml_rtmp's client session, for sending tags that no
//! encoder on this machine produces (HEVC, Enhanced RTMP).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

pub struct RawPublisher {
    sock: TcpStream,
    session: ClientSession,
}

impl RawPublisher {
    /// Connects to `host:port`, handshakes, connects to app `live` and publishes `key`.
    /// Returns `Err` with a description if the server refuses or closes.
    pub fn publish(addr: &str, key: &str) -> Result<RawPublisher, String> {
        let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut handshake = Handshake::new(PeerType::Client);
        let p0p1 = handshake.generate_outbound_p0_and_p1().map_err(|e| format!("{e:?}"))?;
        sock.write_all(&p0p1).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 8192];
        let leftover = loop {
            let n = sock.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during handshake".into());
            }
            match handshake.process_bytes(&buf[..n]).map_err(|e| format!("{e:?}"))? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    sock.write_all(&response_bytes).map_err(|e| e.to_string())?
                }
                HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                    sock.write_all(&response_bytes).map_err(|e| e.to_string())?;
                    break remaining_bytes;
                }
            }
        };
        let (session, initial) = ClientSession::new(ClientSessionConfig::new()).map_err(|e| format!("{e:?}"))?;
        let mut me = RawPublisher { sock, session };
        me.send_all(initial)?;
        if !leftover.is_empty() {
            let results = me.session.handle_input(&leftover).map_err(|e| format!("{e:?}"))?;
            me.send_all(results)?;
        }
        let connect = me.session.request_connection("live".into()).map_err(|e| format!("{e:?}"))?;
        me.send_all(vec![connect])?;
        me.wait_for(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))?;
        let publish =
            me.session.request_publishing(key.into(), PublishRequestType::Live).map_err(|e| format!("{e:?}"))?;
        me.send_all(vec![publish])?;
        me.wait_for(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))?;
        Ok(me)
    }

    fn send_all(&mut self, results: Vec<ClientSessionResult>) -> Result<(), String> {
        for r in results {
            if let ClientSessionResult::OutboundResponse(packet) = r {
                self.sock.write_all(&packet.bytes).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn wait_for(&mut self, wanted: impl Fn(&ClientSessionEvent) -> bool) -> Result<(), String> {
        let mut buf = vec![0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let n = self.sock.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("server closed the connection".into());
            }
            let results = self.session.handle_input(&buf[..n]).map_err(|e| format!("{e:?}"))?;
            let mut found = false;
            let mut out = Vec::new();
            for r in results {
                match r {
                    ClientSessionResult::RaisedEvent(e) if wanted(&e) => found = true,
                    other => out.push(other),
                }
            }
            self.send_all(out)?;
            if found {
                return Ok(());
            }
        }
        Err("timed out waiting for the server".into())
    }

    /// Sends one video tag body.
    pub fn send_video(&mut self, body: &[u8], timestamp_ms: u32) -> Result<(), String> {
        let packet = self
            .session
            .publish_video_data(Bytes::copy_from_slice(body), RtmpTimestamp::new(timestamp_ms), false)
            .map_err(|e| format!("{e:?}"))?;
        self.send_all(vec![packet])
    }

    /// True if the server closes the connection within `timeout`.
    pub fn closed_by_server(&mut self, timeout: Duration) -> bool {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.sock.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
        false
    }
}
