//! The authenticated states: [`Authenticated`] binds a resource (RFC 6120 §7) and becomes [`Bound`], which
//! exchanges stanzas and can be split into a [`Sender`] and a [`Receiver`] for two tasks.

use std::time::Duration;

use hestia_proto::stanza::new_id;
use hestia_proto::{Jid, ns};
use hestia_sasl::Mechanism;
use hestia_xml::Element;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};

use crate::ClientError;
use crate::conn::{Conn, Inbound, Outbound, XmppConn};

/// SASL succeeded and the stream restarted; no resource bound yet.
pub struct Authenticated {
    conn: XmppConn,
    features: Element,
    mechanism: Mechanism,
}

impl Authenticated {
    pub(crate) fn new(conn: XmppConn, features: Element, mechanism: Mechanism) -> Authenticated {
        Authenticated {
            conn,
            features,
            mechanism,
        }
    }

    /// The mechanism that authenticated this stream.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The `<stream:features/>` of the restarted stream.
    pub fn features(&self) -> &Element {
        &self.features
    }

    /// Writes bytes as they are (tests probe what the server allows before binding).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn.send_raw(bytes).await
    }

    /// The next element, as [`Connected::recv`](crate::Connected::recv).
    pub async fn recv(&mut self) -> Result<Element, ClientError> {
        self.conn.recv().await
    }

    /// Binds `resource`, or a server-generated one for `None` (RFC 6120 §7), and opens a legacy session if
    /// the server still requires one (RFC 3921 §3, non-optional `<session/>`).
    pub async fn bind(mut self, resource: Option<&str>) -> Result<Bound, ClientError> {
        if self.features.get_child("bind", ns::BIND).is_none() {
            return Err(ClientError::Protocol(
                "server does not offer resource binding".to_owned(),
            ));
        }
        let mut bind = Element::new("bind", ns::BIND);
        if let Some(resource) = resource {
            bind.push_child(Element::new("resource", ns::BIND).with_text(resource));
        }
        let reply = self.conn.iq(iq_set(bind)).await?;
        let text = reply
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(|j| j.text())
            .ok_or_else(|| ClientError::Protocol("bind result without <jid/>".to_owned()))?;
        let jid = Jid::parse(text.trim())
            .ok()
            .filter(Jid::is_full)
            .ok_or_else(|| {
                ClientError::Protocol(format!("server bound an invalid full JID {text:?}"))
            })?;
        let needs_session = self
            .features
            .get_child("session", ns::SESSION)
            .is_some_and(|s| s.get_child("optional", ns::SESSION).is_none());
        if needs_session {
            self.conn
                .iq(iq_set(Element::new("session", ns::SESSION)))
                .await?;
        }
        Ok(Bound {
            conn: self.conn,
            jid,
        })
    }
}

impl Authenticated {
    /// XEP-0198 §5 resumption instead of binding: sends `<resume previd h/>` for the session
    /// bound as `jid` and waits for the answer. On `<resumed/>` this stream carries that session
    /// on (the stanzas it never acknowledged follow); on `<failed/>` the stream is handed back.
    pub async fn resume(
        mut self,
        jid: Jid,
        previd: &str,
        h: u32,
    ) -> Result<Resumption, ClientError> {
        let resume = Element::new("resume", ns::SM)
            .with_attr("previd", previd)
            .with_attr("h", h.to_string());
        self.conn.send(&resume).await?;
        let answer = self.conn.recv().await?;
        if answer.is("resumed", ns::SM) {
            let session = Bound {
                conn: self.conn,
                jid,
            };
            return Ok(Resumption::Resumed { session, answer });
        }
        if answer.is("failed", ns::SM) {
            return Ok(Resumption::Failed {
                stream: self,
                answer,
            });
        }
        Err(ClientError::Protocol(format!(
            "expected <resumed/> or <failed/>, got <{}/>",
            answer.name()
        )))
    }
}

/// The outcome of [`Authenticated::resume`].
pub enum Resumption {
    /// `<resumed/>`: the old session, on this stream.
    Resumed { session: Bound, answer: Element },
    /// `<failed/>`: the stream may still bind a new session.
    Failed {
        stream: Authenticated,
        answer: Element,
    },
}

fn iq_set(payload: Element) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_attr("id", new_id())
        .with_child(payload)
}

/// A bound session: the full JID is known; stanzas go both ways.
pub struct Bound {
    conn: XmppConn,
    jid: Jid,
}

impl Bound {
    /// The full JID the server bound.
    pub fn jid(&self) -> &Jid {
        &self.jid
    }

    /// Sends a stanza (written in the `jabber:client` default namespace).
    pub async fn send(&mut self, stanza: &Element) -> Result<(), ClientError> {
        self.conn.send(stanza).await
    }

    /// Writes bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn.send_raw(bytes).await
    }

    /// The next stanza: queued ones first (see [`Self::iq`]), whitespace skipped; `<stream:error/>` is
    /// [`ClientError::Stream`], `</stream:stream>` is [`ClientError::Closed`], nothing within the per-step
    /// timeout is [`ClientError::Timeout`].
    pub async fn recv(&mut self) -> Result<Element, ClientError> {
        self.conn.recv().await
    }

    /// The next stanza, or `Ok(None)` if none arrives within `limit` (to assert that nothing arrived).
    pub async fn recv_timeout(&mut self, limit: Duration) -> Result<Option<Element>, ClientError> {
        self.conn.recv_timeout(limit).await
    }

    /// Sends an IQ request (given a fresh id if it has none) and returns its result; an error answer is
    /// [`ClientError::Stanza`]. Other stanzas arriving meanwhile are kept for later [`Self::recv`] calls.
    pub async fn iq(&mut self, iq: Element) -> Result<Element, ClientError> {
        self.conn.iq(iq).await
    }

    /// The `<stream:error/>` element that ended the stream, once [`Self::recv`] returned
    /// [`ClientError::Stream`] (its text and any application-specific condition).
    pub fn stream_error(&self) -> Option<&Element> {
        self.conn.stream_error()
    }

    /// Initial presence (RFC 6121 §4.2).
    pub async fn send_presence(&mut self) -> Result<(), ClientError> {
        self.conn.send(&Element::new("presence", ns::CLIENT)).await
    }

    /// XEP-0199 ping to the server's domain.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("to", self.jid.domain())
            .with_child(Element::new("ping", ns::PING));
        self.conn.iq(iq).await.map(drop)
    }

    /// Sends `</stream:stream>` and waits, within the per-step timeout, for the server to close its side.
    pub async fn close(self) -> Result<(), ClientError> {
        self.conn.close().await
    }

    /// Independent halves usable from two tasks (the load generator). Queued stanzas go to the [`Receiver`].
    pub fn into_split(self) -> (Sender, Receiver) {
        let ((write, outbound), (read, inbound)) = self.conn.into_split();
        (
            Sender {
                io: write,
                outbound,
            },
            Receiver { io: read, inbound },
        )
    }
}

/// The writing half of a [`Bound`] session.
pub struct Sender {
    io: WriteHalf<Conn>,
    outbound: Outbound,
}

impl Sender {
    /// Sends a stanza (no timeout: the caller bounds it if it wants to).
    pub async fn send(&mut self, stanza: &Element) -> Result<(), ClientError> {
        self.outbound.send(&mut self.io, stanza).await
    }

    /// Sends `</stream:stream>` and shuts down the writing direction; the [`Receiver`] then sees the
    /// server's close as [`ClientError::Closed`].
    pub async fn close(mut self) -> Result<(), ClientError> {
        Outbound::send_raw(&mut self.io, b"</stream:stream>").await?;
        self.io.shutdown().await?;
        Ok(())
    }
}

/// The reading half of a [`Bound`] session.
pub struct Receiver {
    io: ReadHalf<Conn>,
    inbound: Inbound,
}

impl Receiver {
    /// The next stanza, as [`Bound::recv`] but without a timeout (idle load-generator connections are normal).
    pub async fn recv(&mut self) -> Result<Element, ClientError> {
        self.inbound.recv(&mut self.io).await
    }
}
