//! The peer gateways this one federates with (`[federation]`), as the administrator registers
//! them: each side registers the other as an OAuth client first (`hestia oauth client add` or
//! the admin API) and names here the credentials it was given.

use std::collections::BTreeMap;

use hestia_config::Secret;

use super::Peer;

hestia_config::section! {
    /// One peer gateway: where it is and this gateway's client there.
    pub struct PeerConfig {
        /// The peer's OAuth issuer, also the base URL of its /cui/v1, e.g.
        /// "https://home-b.example".
        pub issuer: String = String::new(),
        /// This gateway's client id at the peer.
        pub client_id: String = String::new(),
        /// That client's secret, as the peer issued it.
        pub client_secret: Secret = Secret::new(""),
        /// The peer's client id at this gateway: whom callback grants are issued to.
        pub peer_client_id: String = String::new(),
    }
}

hestia_config::section! {
    /// User identity federation with peer gateways (ISO/IEC 10192-4-3 §8, §9).
    pub struct FederationConfig {
        /// Peer gateways by cluster name (a-z, 0-9, -; its devices are `<name>:<id there>`),
        /// e.g. [federation.peers.home-b] with issuer, client_id, client_secret and
        /// peer_client_id. Empty = users cannot link identities elsewhere.
        pub peers: BTreeMap<String, PeerConfig> = BTreeMap::new(),
    }
}

impl FederationConfig {
    /// The configured peers, ready to register.
    pub fn peers(&self) -> Vec<Peer> {
        self.peers
            .iter()
            .map(|(name, p)| Peer {
                name: name.clone(),
                issuer: p.issuer.clone(),
                client_id: p.client_id.clone(),
                client_secret: p.client_secret.expose().to_owned(),
                peer_client_id: p.peer_client_id.clone(),
            })
            .collect()
    }

    /// What is wrong with it, one problem per entry.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, p) in &self.peers {
            if crate::model::DeviceId::new(name, "x").is_err() {
                problems.push(format!(
                    "federation.peers.{name}: a peer's name is a cluster name (a-z, 0-9, -)"
                ));
            }
            if !(p.issuer.starts_with("https://") || p.issuer.starts_with("http://")) {
                problems.push(format!(
                    "federation.peers.{name}.issuer {:?} is not an http(s) URL",
                    p.issuer
                ));
            }
            for (key, value) in [
                ("client_id", p.client_id.as_str()),
                ("client_secret", p.client_secret.expose()),
                ("peer_client_id", p.peer_client_id.as_str()),
            ] {
                if value.is_empty() {
                    problems.push(format!("federation.peers.{name}.{key} is required"));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_incomplete_ones_are_named() {
        let config: FederationConfig = toml::from_str(
            r#"
            [peers.home-b]
            issuer = "https://home-b.example"
            client_id = "home-a"
            client_secret = "s3cret"
            peer_client_id = "home-b"

            [peers."Bad_Name"]
            issuer = "ftp://x"
            "#,
        )
        .expect("toml");
        let peers = config.peers();
        assert_eq!(peers.len(), 2);
        let b = peers.iter().find(|p| p.name == "home-b").expect("home-b");
        assert_eq!(b.client_secret, "s3cret");
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "secrets stay out of logs"
        );
        let problems = config.problems();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.starts_with("federation.peers.Bad_Name"))
        );
    }
}
