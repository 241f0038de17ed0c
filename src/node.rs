//! Who this node is among the nodes sharing one database: a name for leases and logs, and the
//! URL where the others reach its HTTP listener (to relay the live streams published here).
//!
//! The name is the configured `[cluster] node_id`, or one made on the first start and kept in
//! `DATA_DIR/node-id`, so a restarted node is the same node (its leases are its own again).

use std::net::SocketAddr;

use anyhow::Context;

use crate::config::Config;

/// This node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub id: String,
    /// `http://HOST:PORT`, no trailing slash.
    pub url: String,
}

impl NodeIdentity {
    /// The node `config` describes, whose HTTP listener is bound to `http`.
    pub fn of(config: &Config, http: SocketAddr) -> anyhow::Result<Self> {
        let id = match &config.cluster.node_id {
            Some(id) => id.clone(),
            None => kept_node_id(config)?,
        };
        let url = match &config.cluster.advertise_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => default_url(http),
        };
        Ok(Self { id, url })
    }
}

fn kept_node_id(config: &Config) -> anyhow::Result<String> {
    let path = config.data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_owned());
    }
    let id = oxcast_store::Secret::id("node_");
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// A listener on every address (or on loopback) is reached on loopback: right for nodes on one
/// machine; nodes on several machines set `[cluster] advertise_url`.
fn default_url(http: SocketAddr) -> String {
    let ip = http.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        format!("http://127.0.0.1:{}", http.port())
    } else {
        format!("http://{http}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_is_loopback_for_wildcard_listeners_and_the_address_otherwise() {
        assert_eq!(default_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080");
        assert_eq!(default_url("[::]:81".parse().unwrap()), "http://127.0.0.1:81");
        assert_eq!(default_url("10.0.0.5:8080".parse().unwrap()), "http://10.0.0.5:8080");
    }

    #[test]
    fn a_node_keeps_its_made_up_name_across_starts_and_a_configured_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        let http: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let first = NodeIdentity::of(&config, http).unwrap();
        assert!(first.id.starts_with("node_"));
        assert_eq!(NodeIdentity::of(&config, http).unwrap().id, first.id);
        config.cluster.node_id = Some("edge-1".into());
        config.cluster.advertise_url = Some("http://10.1.2.3:8080/".into());
        let set = NodeIdentity::of(&config, http).unwrap();
        assert_eq!((set.id.as_str(), set.url.as_str()), ("edge-1", "http://10.1.2.3:8080"));
    }
}
