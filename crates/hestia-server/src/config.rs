//! The one configuration file (TOML) with `HESTIA_<SECTION>_<FIELD>` environment overrides,
//! validated as a whole so that every problem is reported at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hestia_config::{Duration, Secret, write_table};
use hestia_features::bytestreams::ProxyConfig;
use hestia_features::registration::RegistrationConfig;
use hestia_features::relationships::RelationshipsConfig;
use hestia_gateway::federation::FederationConfig;
use hestia_gateway::limits::{CuiConfig, Limits};
use hestia_gateway::mqtt::{MqttConfig, MqttSettings};
use hestia_gateway::oauth::{OAuthConfig, OAuthSettings};

hestia_config::section! {
    /// The IRSP itself.
    pub struct ServerSection {
        /// The XMPP domain this IRSP serves (users are name@domain, devices id@domain).
        pub domain: String = "localhost".into(),
        /// Where the embedded database, certificates and admin token live.
        pub data_dir: PathBuf = PathBuf::from("./hestia-data"),
        /// How long a graceful shutdown waits for connections to close.
        pub shutdown_grace: Duration = Duration::secs(10),
    }
}

hestia_config::section! {
    /// Storage backend.
    pub struct StoreSection {
        /// Database URL: empty = embedded SQLite at <data_dir>/hestia.db; or "sqlite:PATH";
        /// or "postgres://user@host/db".
        pub url: String = String::new(),
    }
}

hestia_config::section! {
    /// TLS for client connections (STARTTLS and direct TLS).
    pub struct TlsSection {
        /// Refuse login and registration until the stream is encrypted.
        pub required: bool = true,
        /// PEM certificate chain for the domain; empty = a certificate from the private CA that
        /// Hestia generates in data_dir on first start.
        pub cert_file: String = String::new(),
        /// PEM private key matching cert_file.
        pub key_file: String = String::new(),
    }
}

hestia_config::section! {
    /// Client-to-server XMPP listeners and their limits.
    pub struct C2sSection {
        /// Address of the STARTTLS listener (RFC 6120); empty = disabled.
        pub listen: String = "0.0.0.0:5222".into(),
        /// Address of the direct TLS listener (XEP-0368); empty = disabled.
        pub direct_tls_listen: String = "0.0.0.0:5223".into(),
        /// Largest stanza accepted after authentication, in bytes.
        pub max_stanza_bytes: usize = 262_144,
        /// Largest stanza accepted before authentication, in bytes.
        pub pre_auth_max_stanza_bytes: usize = 8192,
        /// Deepest element nesting accepted inside a stanza.
        pub max_depth: usize = 64,
        /// Most attributes (namespace declarations included) on one element.
        pub max_attributes: usize = 64,
        /// Top-level elements a client may send before authenticating.
        pub max_pre_auth_stanzas: u32 = 32,
        /// A stream that has not logged in and bound a connection ID by then is closed.
        pub auth_timeout: Duration = Duration::secs(60),
        /// A logged-in connection silent this long is sent a XEP-0199 ping (0 = never): how a
        /// device that lost power or network without closing its TCP connection is noticed.
        pub keepalive_interval: Duration = Duration::secs(60),
        /// A connection that sends nothing this long after a keep-alive ping is closed with
        /// `connection-timeout`, and its contacts see it unavailable.
        pub keepalive_timeout: Duration = Duration::secs(30),
        /// Bytes per second one connection may send (0 = unlimited); faster senders are slowed.
        pub max_bytes_per_second: u64 = 131_072,
        /// Burst allowance above that rate, in bytes.
        pub burst_bytes: u64 = 1_048_576,
        /// Simultaneous connections from one source address (0 = unlimited).
        pub max_connections_per_address: usize = 256,
        /// Simultaneous connections of one user account (devices always hold one).
        pub max_user_sessions: usize = 10,
        /// Failed logins allowed per source address within failed_login_window.
        pub max_failed_logins_per_address: u32 = 20,
        /// Failed logins allowed per account within failed_login_window.
        pub max_failed_logins_per_account: u32 = 10,
        /// Window of the failed-login throttles.
        pub failed_login_window: Duration = Duration::secs(300),
        /// Exempt loopback addresses from the per-address login throttle.
        pub loopback_exempt: bool = true,
        /// XEP-0198 stream management: how long a session that enabled resumption stays
        /// routable after its connection is lost (stanzas for it queue, its contacts see it
        /// online) waiting for the client to resume it; then it is logged out and what it never
        /// acknowledged goes to offline storage. 0 = resumption not offered.
        pub resume_timeout: Duration = Duration::secs(300),
        /// XEP-0198: most stanzas a session may have unacknowledged (queued while hibernating
        /// included); one more closes the stream with `resource-constraint`.
        pub max_unacked_stanzas: usize = 500,
    }
}

hestia_config::section! {
    /// HTTP port: the gateway's CUI and OAuth endpoints, the web console, the admin API, XMPP
    /// over WebSocket, health, readiness and Prometheus metrics.
    pub struct HttpSection {
        /// Address of the HTTP listener; empty = disabled.
        pub listen: String = "127.0.0.1:5280".into(),
        /// Bearer token of the admin API; empty = generated into <data_dir>/admin-token.
        pub admin_token: String = String::new(),
        /// TLS on the HTTP port, with the certificate of [tls]: "auto" = plain HTTP on a
        /// loopback address, HTTPS on any other; "on" = always HTTPS; "off" = plain HTTP,
        /// refused on a non-loopback address unless allow_plaintext is true.
        pub tls: HttpTls = HttpTls::Auto,
        /// Serve plain HTTP on a non-loopback address (behind a TLS-terminating proxy): bearer
        /// tokens and passwords cross the network unencrypted otherwise. Logged as a warning.
        pub allow_plaintext: bool = false,
    }
}

/// Whether the HTTP port speaks TLS (`http.tls`); see [`crate::http::transport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpTls {
    Auto,
    On,
    Off,
}

/// When a WebSocket on the (plain) HTTP port counts as encrypted, for `tls.required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsiderSecure {
    /// When the HTTP listener is on a loopback address and so is the peer: a TLS-terminating
    /// proxy on the same host (or a local client).
    Loopback,
    /// Always: a TLS proxy in front of a non-loopback listener.
    Always,
    /// Never: WebSocket clients cannot log in while `tls.required` is true.
    Never,
}

hestia_config::section! {
    /// XMPP over WebSocket (RFC 7395) at /xmpp-websocket on the HTTP port.
    pub struct WebSocketSection {
        /// Accept WebSocket connections (subprotocol "xmpp").
        pub enabled: bool = true,
        /// When a WebSocket counts as encrypted: "loopback", "always" or "never". There is no
        /// STARTTLS over WebSocket; an insecure one is treated as a c2s stream without TLS.
        pub consider_secure: ConsiderSecure = ConsiderSecure::Loopback,
    }
}

hestia_config::section! {
    /// Offline storage: messages and server pushes kept for an account with no available
    /// connection, delivered at its next login with a XEP-0203 delay stamp.
    pub struct OfflineSection {
        /// Stanzas one account may hold; a message beyond it bounces `resource-constraint`.
        pub max_stanzas: u32 = 1000,
        /// Stored stanzas older than this are discarded undelivered.
        pub expiry: Duration = Duration::secs(30 * 24 * 3600),
        /// Also journal messages queued for online connections until the recipient
        /// acknowledges them (XEP-0198 ack, or written to a client without it), committed in
        /// groups before the sender's stream counts them handled: `kill -9` then loses no
        /// message the server acknowledged, at the cost of a commit per batch. Off, as in
        /// ejabberd and Prosody, they live in memory.
        pub durable_delivery: bool = false,
    }
}

hestia_config::section! {
    /// The XEP-0114 external component port of the application-server interface: an
    /// application server connects as `<name>.<domain>` and acts for the accounts that
    /// granted it, with their rights.
    pub struct ComponentSection {
        /// Address of the component listener (`jabber:component:accept`); empty = disabled.
        pub listen: String = "127.0.0.1:5275".into(),
        /// Handshake secret of each application server, by name (1-32 of a-z, 0-9, -); it
        /// connects as `<name>.<server.domain>`. Empty = nobody can connect.
        pub secrets: BTreeMap<String, Secret> = BTreeMap::new(),
        /// A component that has not completed its handshake by then is closed with
        /// `connection-timeout`.
        pub auth_timeout: Duration = Duration::secs(10),
    }
}

hestia_config::section! {
    /// Logging.
    pub struct LogSection {
        /// Filter in tracing's EnvFilter syntax, e.g. "info" or "hestia_session=debug,info".
        pub level: String = "info".into(),
        /// "text" for people, "json" for log collectors.
        pub format: String = "text".into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub store: StoreSection,
    pub tls: TlsSection,
    pub c2s: C2sSection,
    pub http: HttpSection,
    pub websocket: WebSocketSection,
    pub registration: RegistrationConfig,
    pub relationships: RelationshipsConfig,
    pub offline: OfflineSection,
    pub proxy: ProxyConfig,
    pub component: ComponentSection,
    pub oauth: OAuthConfig,
    pub federation: FederationConfig,
    pub cui: CuiConfig,
    pub log: LogSection,
    /// MQTT clusters (`[[mqtt]]`, one per home on a broker), in the order they are added.
    pub mqtt: Vec<MqttConfig>,
}

const SECTIONS: [&str; 15] = [
    "server",
    "store",
    "tls",
    "c2s",
    "http",
    "websocket",
    "registration",
    "relationships",
    "offline",
    "proxy",
    "component",
    "oauth",
    "federation",
    "cui",
    "log",
];

/// Every problem found, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads `path` (if any), applies `HESTIA_*` overrides from `env`, validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(vec![format!("cannot read {}: {e}", p.display())]))?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ConfigError(vec![format!("{}: {e}", p.display())]))?
            }
            None => toml::Table::new(),
        };
        let mut problems = apply_env(&mut table, env);
        let config: Config = match toml::Value::Table(table).try_into() {
            Ok(c) => c,
            Err(e) => {
                problems.push(e.to_string().trim().to_owned());
                return Err(ConfigError(problems));
            }
        };
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Loads with the process environment.
    pub fn load_from_process(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(path, std::env::vars())
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if hestia_proto::Jid::domain_jid(&self.server.domain).is_err()
            || self.server.domain.contains(['@', '/'])
        {
            p.push(format!(
                "server.domain {:?} is not a valid domain",
                self.server.domain
            ));
        }
        for (key, value) in [
            ("c2s.listen", &self.c2s.listen),
            ("c2s.direct_tls_listen", &self.c2s.direct_tls_listen),
            ("http.listen", &self.http.listen),
            ("proxy.listen", &self.proxy.listen),
            ("component.listen", &self.component.listen),
        ] {
            if !value.is_empty() && value.parse::<SocketAddr>().is_err() {
                p.push(format!(
                    "{key} {value:?} is not an address like 0.0.0.0:5222"
                ));
            }
        }
        if let Ok(addr) = self.http.listen.parse() {
            p.extend(self.http_transport(addr).err());
        }
        p.extend(self.proxy_problems());
        p.extend(OAuthSettings::problems(&self.oauth));
        p.extend(self.federation.problems());
        p.extend(MqttSettings::problems(&self.mqtt));
        p.extend(Limits::problems(&self.cui));
        for name in self.component.secrets.keys() {
            if !hestia_router::appserver::is_valid_name(name) {
                p.push(format!(
                    "component.secrets: {name:?} is not a name of 1-32 of a-z, 0-9 and -"
                ));
            }
        }
        if self.component.secrets.values().any(|s| s.is_empty()) {
            p.push("component.secrets: a secret must not be empty".into());
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            p.push("tls.cert_file and tls.key_file must be set together".into());
        }
        let c = &self.c2s;
        for (key, v) in [
            ("c2s.max_stanza_bytes", c.max_stanza_bytes),
            ("c2s.max_depth", c.max_depth),
            ("c2s.max_attributes", c.max_attributes),
            ("c2s.max_user_sessions", c.max_user_sessions),
            ("c2s.max_unacked_stanzas", c.max_unacked_stanzas),
        ] {
            if v == 0 {
                p.push(format!("{key} must be greater than 0"));
            }
        }
        if c.pre_auth_max_stanza_bytes < 1024 || c.pre_auth_max_stanza_bytes > c.max_stanza_bytes {
            p.push(
                "c2s.pre_auth_max_stanza_bytes must be between 1024 and c2s.max_stanza_bytes"
                    .into(),
            );
        }
        if c.max_stanza_bytes < 10_000 {
            p.push("c2s.max_stanza_bytes must be at least 10000 (RFC 6120 §13.12)".into());
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            p.push(format!(
                "log.format {:?} must be \"text\" or \"json\"",
                self.log.format
            ));
        }
        if self.registration.scram_iterations < 4096 {
            p.push("registration.scram_iterations must be at least 4096 (RFC 7677)".into());
        }
        if !self.store.url.is_empty()
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|s| self.store.url.starts_with(s))
        {
            p.push(format!(
                "store.url {:?} must start with sqlite: or postgres://",
                self.store.url
            ));
        }
        p
    }

    fn proxy_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.proxy.enabled {
            return p;
        }
        if self.proxy.listen.is_empty() {
            p.push("proxy.listen must be set when proxy.enabled is true".into());
        }
        // An empty jid derives from server.domain, whose own problems are reported above.
        match self.proxy_jid() {
            _ if self.proxy.jid.is_empty() => {}
            Some(jid) if jid.domain() != self.server.domain => {}
            _ => p.push(format!(
                "proxy.jid {:?} must be a domain (not server.domain itself)",
                self.proxy.jid
            )),
        }
        for (key, v) in [
            ("proxy.max_pending", self.proxy.max_pending),
            ("proxy.max_streams", self.proxy.max_streams),
        ] {
            if v == 0 {
                p.push(format!("{key} must be greater than 0"));
            }
        }
        if self.proxy.pairing_timeout.get().is_zero() {
            p.push("proxy.pairing_timeout must be greater than 0".into());
        }
        p
    }

    /// The bytestream proxy's JID: `proxy.jid`, or proxy.<server.domain>.
    pub fn proxy_jid(&self) -> Option<hestia_proto::Jid> {
        let jid = if self.proxy.jid.is_empty() {
            format!("proxy.{}", self.server.domain)
        } else {
            self.proxy.jid.clone()
        };
        hestia_proto::Jid::domain_jid(&jid)
            .ok()
            .filter(|_| !jid.contains(['@', '/']))
    }

    /// The commented sample written by `hestia config example`.
    pub fn example() -> String {
        let c = Config::default();
        let mut out = String::from(
            "# Hestia configuration. Every setting can be overridden by an environment\n# variable HESTIA_<SECTION>_<SETTING>, e.g. HESTIA_SERVER_DOMAIN=home.example.\n# Generated by `hestia config example`; the values shown are the defaults.\n\n",
        );
        write_table(&mut out, "server", &c.server);
        write_table(&mut out, "store", &c.store);
        write_table(&mut out, "tls", &c.tls);
        write_table(&mut out, "c2s", &c.c2s);
        write_table(&mut out, "http", &c.http);
        write_table(&mut out, "websocket", &c.websocket);
        write_table(&mut out, "registration", &c.registration);
        write_table(&mut out, "relationships", &c.relationships);
        write_table(&mut out, "offline", &c.offline);
        write_table(&mut out, "proxy", &c.proxy);
        write_table(&mut out, "component", &c.component);
        write_table(&mut out, "oauth", &c.oauth);
        write_table(&mut out, "federation", &c.federation);
        write_table(&mut out, "cui", &c.cui);
        write_table(&mut out, "log", &c.log);
        write_mqtt_example(&mut out);
        out
    }

    /// The authorization server's settings: an empty `oauth.issuer` is `http://<http.listen>`.
    pub fn oauth_settings(&self) -> OAuthSettings {
        self.oauth_settings_at(None)
    }

    /// The OAuth settings once the HTTP port is bound: an empty issuer is the address bound
    /// (a port of 0 in `http.listen` is the one the system chose), https when it serves TLS.
    pub fn oauth_settings_at(&self, bound: Option<SocketAddr>) -> OAuthSettings {
        let listen = bound.map_or_else(|| self.http.listen.clone(), |a| a.to_string());
        let scheme = match listen.parse().map(|a| self.http_transport(a)) {
            Ok(Ok(crate::http::Transport::Tls)) => "https",
            _ => "http",
        };
        OAuthSettings::new(&self.oauth, &format!("{scheme}://{listen}"))
    }

    /// How the HTTP port bound at `addr` is served (`http.tls`, `http.allow_plaintext`).
    pub fn http_transport(&self, addr: SocketAddr) -> Result<crate::http::Transport, String> {
        crate::http::transport(self.http.tls, self.http.allow_plaintext, addr)
    }

    /// The SQLite URL (or configured URL) of the store.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!(
                "sqlite:{}",
                self.server.data_dir.join("hestia.db").display()
            )
        } else {
            self.store.url.clone()
        }
    }
}

/// The `[[mqtt]]` entry of the sample, commented out: there is no MQTT cluster by default.
fn write_mqtt_example(out: &mut String) {
    let mut entry = String::new();
    hestia_config::write_table(&mut entry, "[mqtt]", &MqttConfig::default());
    out.push_str(
        "# MQTT clusters, none by default: one [[mqtt]] entry per home on a broker. Override a\n# field of entry i with HESTIA_MQTT_<i>_<FIELD>, e.g. HESTIA_MQTT_0_PASSWORD.\n",
    );
    for line in entry.lines() {
        match line {
            "" => out.push('\n'),
            l if l.starts_with('#') => {
                out.push_str(l);
                out.push('\n');
            }
            l => {
                out.push_str("# ");
                out.push_str(l);
                out.push('\n');
            }
        }
    }
}

/// Applies `HESTIA_MQTT_<i>_<FIELD>=value` to the i-th `[[mqtt]]` entry (i = the number of
/// entries adds one). The field's name, or None when the variable is not of this form.
fn apply_mqtt_env(
    table: &mut toml::Table,
    rest: &str,
    value: toml::Value,
) -> Option<Result<(), String>> {
    let (index, field) = rest.strip_prefix("mqtt_")?.split_once('_')?;
    let index: usize = index.parse().ok()?;
    let entries = match table
        .entry("mqtt")
        .or_insert_with(|| toml::Value::Array(Vec::new()))
    {
        toml::Value::Array(entries) => entries,
        _ => return Some(Err("mqtt must be an array of tables ([[mqtt]])".into())),
    };
    if index == entries.len() {
        entries.push(toml::Value::Table(toml::Table::new()));
    }
    match entries.get_mut(index) {
        Some(toml::Value::Table(entry)) => {
            entry.insert(field.to_owned(), value);
            Some(Ok(()))
        }
        _ => Some(Err(format!(
            "HESTIA_MQTT_{index}_*: there is no [[mqtt]] entry {index}"
        ))),
    }
}

/// Applies `HESTIA_SECTION_FIELD=value`; values parse as TOML (numbers, booleans, quoted
/// strings) and fall back to plain strings.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let vars: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("HESTIA_"))
        .collect();
    for (key, raw) in vars {
        let rest = key["HESTIA_".len()..].to_ascii_lowercase();
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        if let Some(applied) = apply_mqtt_env(table, &rest, value.clone()) {
            problems.extend(applied.err());
            continue;
        }
        let Some((section, field)) = SECTIONS.iter().find_map(|s| {
            rest.strip_prefix(&format!("{s}_"))
                .map(|f| (*s, f.to_owned()))
        }) else {
            // Variables for other purposes (HESTIA_TEST_*, HESTIA_LOG) are not settings.
            continue;
        };
        match table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => {
                t.insert(field, value);
            }
            _ => problems.push(format!("{section} must be a table")),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn committed_example_is_in_sync() {
        let committed = include_str!("../../../hestia.example.toml");
        assert_eq!(
            committed,
            Config::example(),
            "run `cargo run -- config example > hestia.example.toml`"
        );
    }

    #[test]
    fn example_parses_to_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.toml");
        std::fs::write(&path, Config::example()).expect("write");
        assert_eq!(
            Config::load(Some(&path), env(&[])).expect("valid"),
            Config::default()
        );
    }

    #[test]
    fn env_overrides_every_kind_of_value() {
        let c = Config::load(
            None,
            env(&[
                ("HESTIA_SERVER_DOMAIN", "home.example"),
                ("HESTIA_C2S_MAX_STANZA_BYTES", "65536"),
                ("HESTIA_TLS_REQUIRED", "false"),
                ("HESTIA_C2S_AUTH_TIMEOUT", "5s"),
                ("HESTIA_REGISTRATION_POLICY", "closed"),
                ("HESTIA_TEST_POSTGRES_URL", "ignored"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.server.domain, "home.example");
        assert_eq!(c.c2s.max_stanza_bytes, 65536);
        assert!(!c.tls.required);
        assert_eq!(c.c2s.auth_timeout, Duration::secs(5));
        assert_eq!(
            c.registration.policy,
            hestia_features::registration::RegistrationPolicy::Closed
        );
    }

    #[test]
    fn proxy_settings_are_validated_and_its_jid_defaults_to_a_subdomain() {
        let c = Config::load(None, env(&[])).expect("valid");
        assert_eq!(
            c.proxy_jid().map(|j| j.to_string()).as_deref(),
            Some("proxy.localhost")
        );
        let err = Config::load(
            None,
            env(&[
                ("HESTIA_PROXY_JID", "localhost"),
                ("HESTIA_PROXY_MAX_STREAMS", "0"),
                ("HESTIA_PROXY_LISTEN", "anywhere"),
            ]),
        )
        .expect_err("invalid");
        assert_eq!(err.0.len(), 3, "{err}");
        let off = Config::load(
            None,
            env(&[
                ("HESTIA_PROXY_ENABLED", "false"),
                ("HESTIA_PROXY_JID", "localhost"),
            ]),
        );
        assert!(off.is_ok(), "a disabled proxy's settings do not matter");
    }

    #[test]
    fn component_secrets_come_from_the_environment_and_never_show_in_debug() {
        let c = Config::load(
            None,
            env(&[
                ("HESTIA_COMPONENT_LISTEN", "0.0.0.0:15275"),
                ("HESTIA_COMPONENT_SECRETS", "{ gateway = \"s3cret-value\" }"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.component.listen, "0.0.0.0:15275");
        assert_eq!(
            c.component.secrets.get("gateway").map(Secret::expose),
            Some("s3cret-value")
        );
        assert!(!format!("{c:?}").contains("s3cret-value"));
        let bad = Config::load(
            None,
            env(&[("HESTIA_COMPONENT_SECRETS", "{ \"Bad Name\" = \"\" }")]),
        )
        .expect_err("invalid");
        assert_eq!(bad.0.len(), 2, "{bad}");
    }

    #[test]
    fn oauth_settings_come_from_the_environment_and_default_to_the_http_port() {
        let c = Config::load(None, env(&[])).expect("valid");
        let s = c.oauth_settings();
        assert_eq!(s.issuer, "http://127.0.0.1:5280");
        assert_eq!(s.audience, "http://127.0.0.1:5280/cui/v1");
        assert_eq!(s.access_ttl, 600);
        let c = Config::load(
            None,
            env(&[
                ("HESTIA_OAUTH_ISSUER", "https://home-b.example/"),
                ("HESTIA_OAUTH_ACCESS_TOKEN_TTL", "5m"),
            ]),
        )
        .expect("valid");
        let s = c.oauth_settings();
        assert_eq!(s.issuer, "https://home-b.example");
        assert_eq!(s.audience, "https://home-b.example/cui/v1");
        assert_eq!(s.access_ttl, 300);
        let bad = Config::load(None, env(&[("HESTIA_OAUTH_ISSUER", "home-b.example")]))
            .expect_err("invalid");
        assert_eq!(bad.0.len(), 1, "{bad}");
    }

    #[test]
    fn mqtt_clusters_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.toml");
        let file = "[[mqtt]]\nname = \"home\"\nbroker = \"broker.local:1883\"\nusername = \"gw\"\nmembers = [{ user = \"alice\", right = \"control\" }]\n";
        std::fs::write(&path, file).expect("write");
        let c = Config::load(
            Some(&path),
            env(&[
                ("HESTIA_MQTT_0_PASSWORD", "s3cret-value"),
                ("HESTIA_MQTT_0_SET_TIMEOUT", "2s"),
                ("HESTIA_MQTT_1_NAME", "garden"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.mqtt.len(), 2);
        assert_eq!(c.mqtt[0].password.expose(), "s3cret-value");
        assert_eq!(c.mqtt[0].set_timeout, Duration::secs(2));
        assert_eq!(c.mqtt[0].members[0].user, "alice");
        assert_eq!(
            (c.mqtt[1].name.as_str(), c.mqtt[1].root.as_str()),
            ("garden", "homie")
        );
        assert!(!format!("{c:?}").contains("s3cret-value"));
        let bad = Config::load(
            Some(&path),
            env(&[
                ("HESTIA_MQTT_0_ROOT", "a/b"),
                ("HESTIA_MQTT_1_NAME", "home"),
                ("HESTIA_MQTT_5_NAME", "x"),
            ]),
        )
        .expect_err("invalid");
        assert_eq!(bad.0.len(), 3, "{bad}");
    }

    #[test]
    fn plain_http_off_loopback_needs_the_opt_out_and_the_issuer_follows_tls() {
        let refused = Config::load(
            None,
            env(&[
                ("HESTIA_HTTP_LISTEN", "0.0.0.0:5280"),
                ("HESTIA_HTTP_TLS", "off"),
            ]),
        )
        .expect_err("plain off loopback");
        assert_eq!(
            refused.0,
            [
                "http.tls = \"off\" on the non-loopback address 0.0.0.0:5280 needs http.allow_plaintext = true"
            ]
        );
        let allowed = Config::load(
            None,
            env(&[
                ("HESTIA_HTTP_LISTEN", "0.0.0.0:5280"),
                ("HESTIA_HTTP_TLS", "off"),
                ("HESTIA_HTTP_ALLOW_PLAINTEXT", "true"),
            ]),
        )
        .expect("opted out");
        assert_eq!(allowed.oauth_settings().issuer, "http://0.0.0.0:5280");
        let tls = Config::load(None, env(&[("HESTIA_HTTP_LISTEN", "0.0.0.0:5280")])).expect("auto");
        assert_eq!(tls.oauth_settings().issuer, "https://0.0.0.0:5280");
    }

    #[test]
    fn cui_limits_come_from_the_environment_and_are_validated() {
        let c = Config::load(
            None,
            env(&[
                ("HESTIA_CUI_TOKEN_BURST", "5"),
                ("HESTIA_CUI_REQUEST_TIMEOUT", "2s"),
                ("HESTIA_CUI_WEBHOOK_LOOPBACK", "refuse"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.cui.token_burst, 5);
        assert_eq!(c.cui.request_timeout, Duration::secs(2));
        assert_eq!(
            c.cui.webhook_loopback,
            hestia_gateway::limits::WebhookLoopback::Refuse
        );
        let bad = Config::load(
            None,
            env(&[
                ("HESTIA_CUI_MAX_BODY_BYTES", "10"),
                ("HESTIA_CUI_MAX_STREAMS_PER_USER", "0"),
            ]),
        )
        .expect_err("invalid");
        assert_eq!(bad.0.len(), 2, "{bad}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::load(
            None,
            env(&[
                ("HESTIA_SERVER_DOMAIN", "bad domain"),
                ("HESTIA_C2S_LISTEN", "nowhere"),
                ("HESTIA_C2S_MAX_DEPTH", "0"),
                ("HESTIA_TLS_CERT_FILE", "/x.pem"),
            ]),
        )
        .expect_err("invalid");
        assert_eq!(err.0.len(), 4, "{err}");
        let unknown =
            Config::load(None, env(&[("HESTIA_C2S_NO_SUCH", "1")])).expect_err("unknown key");
        assert!(unknown.to_string().contains("no_such"), "{unknown}");
    }
}
