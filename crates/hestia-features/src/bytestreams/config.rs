//! Options of the SOCKS5 bytestream proxy.

use hestia_config::Duration;

hestia_config::section! {
    /// SOCKS5 bytestream proxy (XEP-0065) hosted at proxy.<domain>: relays bulk streams between
    /// related entities that cannot reach each other directly (14543-5-8 §11.6 NAT traversal).
    pub struct ProxyConfig {
        /// Host the proxy: list it in the domain's disco#items and listen for SOCKS5.
        pub enabled: bool = true,
        /// Address of the SOCKS5 listener ("127.0.0.1:0" picks a free port).
        pub listen: String = "127.0.0.1:7777".into(),
        /// Host clients are told to connect to; empty = the listen address's IP, or
        /// server.domain when listening on every address.
        pub host: String = String::new(),
        /// The proxy's JID; empty = proxy.<server.domain>.
        pub jid: String = String::new(),
        /// Connections that may wait unactivated at once; more are closed as they arrive.
        pub max_pending: usize = 256,
        /// A connection not activated this long after it was accepted is closed.
        pub pairing_timeout: Duration = Duration::secs(30),
        /// Streams relayed at once; an activation beyond it gets `resource-constraint`.
        pub max_streams: usize = 64,
        /// Bytes one stream may carry, both directions together (0 = unlimited); a stream
        /// that has carried them is closed.
        pub max_bytes_per_stream: u64 = 0,
    }
}
