//! The first client state: TCP connected, TLS set up as asked (RFC 6120 §5, XEP-0368), stream open, features
//! read, not yet authenticated. In-band registration (XEP-0077) happens here.

use hestia_proto::ns;
use hestia_proto::stanza::new_id;
use hestia_sasl::Mechanism;
use hestia_xml::Element;
use tokio::net::{TcpSocket, TcpStream};

use crate::conn::{Conn, XmppConn, bounded};
use crate::{Authenticated, ClientError, ConnectOptions, Transport, sasl, tls};

/// Stream open (and TLS secured if asked), features read, not yet authenticated.
pub struct Connected {
    conn: XmppConn,
    features: Element,
    /// RFC 9266 `tls-exporter` data; `None` without TLS.
    exporter: Option<Vec<u8>>,
    forced: Option<Mechanism>,
}

impl Connected {
    /// Connects over TCP (from `local_addr` if set), sets up TLS as `transport` says (STARTTLS fails if the
    /// server does not offer it), opens the stream and reads its features.
    pub async fn connect(opts: &ConnectOptions) -> Result<Connected, ClientError> {
        let tcp = bounded(opts.timeout, tcp_connect(opts)).await?;
        let io = match opts.transport {
            Transport::DirectTls => Conn::Tls(Box::new(
                bounded(opts.timeout, tls::handshake(tcp, opts)).await?,
            )),
            Transport::Plain | Transport::StartTls => Conn::Plain(tcp),
        };
        let mut conn = XmppConn::new(io, opts);
        let mut features = conn.open_stream().await?;
        if opts.transport == Transport::StartTls {
            if features.get_child("starttls", ns::TLS).is_none() {
                return Err(ClientError::Tls(
                    "server does not offer STARTTLS".to_owned(),
                ));
            }
            conn = conn.start_tls(opts).await?;
            features = conn.open_stream().await?;
        }
        let exporter = conn.tls_exporter()?;
        Ok(Connected {
            conn,
            features,
            exporter,
            forced: opts.mechanism,
        })
    }

    /// The current `<stream:features/>`.
    pub fn features(&self) -> &Element {
        &self.features
    }

    /// The SASL mechanism names the server offers.
    pub fn mechanisms(&self) -> Vec<String> {
        sasl::offered_mechanisms(&self.features)
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        self.exporter.is_some()
    }

    /// In-band registration before authentication (XEP-0077 §3.1): an IQ set of `jabber:iq:register` with
    /// `username`, `password` and then `extra` (the IGRS device fields) inside `<query/>`. Returns the result IQ;
    /// an error answer is [`ClientError::Stanza`], whose `app` holds the IGRS status.
    pub async fn register(
        &mut self,
        username: &str,
        password: &str,
        extra: Vec<Element>,
    ) -> Result<Element, ClientError> {
        let mut query = Element::new("query", ns::REGISTER)
            .with_child(Element::new("username", ns::REGISTER).with_text(username))
            .with_child(Element::new("password", ns::REGISTER).with_text(password));
        for child in extra {
            query.push_child(child);
        }
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", new_id())
            .with_child(query);
        self.conn.iq(iq).await
    }

    /// Writes bytes as they are (tests send malformed input).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn.send_raw(bytes).await
    }

    /// The next element; `<stream:error/>` is [`ClientError::Stream`], `</stream:stream>` is
    /// [`ClientError::Closed`], nothing within the timeout is [`ClientError::Timeout`].
    pub async fn recv(&mut self) -> Result<Element, ClientError> {
        self.conn.recv().await
    }

    /// SASL with the forced or best offered mechanism (see [`ConnectOptions::mechanism`]); SCRAM verifies the
    /// server's signature. Restarts the stream on success.
    pub async fn authenticate(
        mut self,
        username: &str,
        password: &str,
    ) -> Result<Authenticated, ClientError> {
        let offered = self.mechanisms();
        let mechanism = sasl::choose_mechanism(&offered, self.forced, self.exporter.is_some())?;
        match mechanism {
            Mechanism::Plain => sasl::plain(&mut self.conn, username, password).await?,
            Mechanism::External => sasl::external(&mut self.conn).await?,
            scram => {
                let binding = sasl::binding_for(scram, &offered, self.exporter.as_deref());
                sasl::scram(&mut self.conn, scram, username, password, binding).await?;
            }
        }
        self.restart(mechanism).await
    }

    /// SASL EXTERNAL with the TLS client certificate (XEP-0178), initial response `=`.
    pub async fn authenticate_external(mut self) -> Result<Authenticated, ClientError> {
        sasl::external(&mut self.conn).await?;
        self.restart(Mechanism::External).await
    }

    async fn restart(mut self, mechanism: Mechanism) -> Result<Authenticated, ClientError> {
        let features = self.conn.open_stream().await?;
        Ok(Authenticated::new(self.conn, features, mechanism))
    }
}

async fn tcp_connect(opts: &ConnectOptions) -> Result<TcpStream, ClientError> {
    let socket = if opts.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = opts.local_addr {
        socket.bind((ip, 0).into())?;
    }
    let tcp = socket.connect(opts.addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}
