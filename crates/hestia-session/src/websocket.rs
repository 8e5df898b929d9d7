//! XMPP over WebSocket (RFC 7395) as the byte pipe of an ordinary c2s stream, so login,
//! binding, routing, stream management, limits and shutdown are the c2s code unchanged.
//!
//! Inbound, each text message is fed to the stream parser, with the framing namespace's
//! `<open/>` read as a stream header and `<close/>` as the stream's end (RFC 7395 §3.4,
//! §3.6). Outbound, the connection writes under [`Framing::WebSocket`](crate::stream::Framing),
//! so everything it writes is a sequence of complete elements; the pipe sends each top-level
//! element as one message (§3.3.3). The transport itself (axum's WebSocket in the server) is
//! behind [`Frames`] and [`FrameSink`], so this crate knows no HTTP.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Sink, Stream};
use hestia_xml::{Element, XML_NS, parse_element};
use tokio::io::ReadBuf;

use crate::stream::{FRAMING_NS, escape_attr};

/// Inbound text messages; the end of the stream is the WebSocket's close.
pub type Frames = Pin<Box<dyn Stream<Item = io::Result<String>> + Send>>;
/// Outbound text messages.
pub type FrameSink = Pin<Box<dyn Sink<String, Error = io::Error> + Send>>;

/// A WebSocket seen as the byte pipe under a c2s stream.
pub struct WebSocketIo {
    rx: Frames,
    tx: FrameSink,
    /// The current inbound message (translated), and how much of it was read.
    inbound: Vec<u8>,
    inbound_at: usize,
    /// Written bytes not yet cut into messages (at most a partial element).
    written: Vec<u8>,
    frames: VecDeque<String>,
}

impl std::fmt::Debug for WebSocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketIo")
            .field("queued_frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

impl WebSocketIo {
    pub fn new(rx: Frames, tx: FrameSink) -> WebSocketIo {
        WebSocketIo {
            rx,
            tx,
            inbound: Vec::new(),
            inbound_at: 0,
            written: Vec::new(),
            frames: VecDeque::new(),
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.inbound_at < self.inbound.len() {
                let rest = &self.inbound[self.inbound_at..];
                let n = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..n]);
                self.inbound_at += n;
                return Poll::Ready(Ok(()));
            }
            match ready!(self.rx.as_mut().poll_next(cx)) {
                // The WebSocket closed: end of stream (a zero-byte read).
                None => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                Some(Ok(frame)) => {
                    self.inbound = translate_inbound(frame);
                    self.inbound_at = 0;
                }
            }
        }
    }

    /// Whether the current inbound message has been read to its end.
    pub(crate) fn is_message_end(&self) -> bool {
        self.inbound_at == self.inbound.len()
    }

    pub(crate) fn poll_write(&mut self, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        split_elements(&mut self.written, &mut self.frames);
        while let Some(frame) = self.frames.pop_front() {
            if self.tx.as_mut().poll_ready(cx)?.is_pending() {
                self.frames.push_front(frame);
                return Poll::Pending;
            }
            self.tx.as_mut().start_send(frame)?;
        }
        self.tx.as_mut().poll_flush(cx)
    }

    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        self.tx.as_mut().poll_close(cx)
    }
}

/// An inbound message as stream bytes: the framing namespace's `<open/>` becomes a stream
/// header carrying its attributes, `<close/>` the closing tag; anything else passes
/// unchanged (so a wrong `<open/>` fails the header checks as a stream header would, and
/// malformed XML reaches the parser, which reports it).
fn translate_inbound(frame: String) -> Vec<u8> {
    // Only a short message starting `<open` or `<close` can be framing; it is parsed as XML,
    // so quoting, spacing and namespace spelling are the client's choice.
    let head = frame.trim_start();
    let is_candidate =
        frame.len() <= 4096 && (head.starts_with("<open") || head.starts_with("<close"));
    let framing = is_candidate
        .then(|| parse_element(&frame, "").ok())
        .flatten()
        .filter(|el| el.ns() == FRAMING_NS);
    match framing {
        Some(el) if el.name() == "open" => stream_header(&el).into_bytes(),
        Some(el) if el.name() == "close" => b"</stream:stream>".to_vec(),
        _ => frame.into_bytes(),
    }
}

/// `<stream:stream …>` with the attributes of `<open/>` (`to`, `version`, `xml:lang`, …).
fn stream_header(open: &Element) -> String {
    let mut header = String::from(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'",
    );
    for (name, value) in open.attrs() {
        let name = match name.strip_prefix('{').and_then(|n| n.split_once('}')) {
            None => name.to_owned(),
            Some((XML_NS, local)) => format!("xml:{local}"),
            // Other namespaced attributes mean nothing on a stream header.
            Some(_) => continue,
        };
        header.push_str(&format!(" {name}='{}'", escape_attr(value)));
    }
    header.push('>');
    header
}

/// Moves each complete top-level element at the front of `buf` into `frames`. `buf` holds
/// only what our own serializer wrote under WebSocket framing (complete elements, escaped
/// text, no comments, CDATA or processing instructions), so tracking tags and quoted
/// attribute values is enough to find where each element ends.
fn split_elements(buf: &mut Vec<u8>, frames: &mut VecDeque<String>) {
    let (mut depth, mut cut, mut i) = (0usize, 0usize, 0usize);
    while let Some(lt) = buf[i..].iter().position(|&c| c == b'<') {
        let start = i + lt;
        let Some(end) = tag_end(&buf[start..]).map(|e| start + e) else {
            break;
        };
        match (buf.get(start + 1), buf[end - 1]) {
            (Some(b'/'), _) => depth = depth.saturating_sub(1),
            (Some(b'?'), _) | (_, b'/') => {}
            _ => depth += 1,
        }
        i = end + 1;
        if depth == 0 {
            let el = String::from_utf8_lossy(&buf[cut..i]).trim().to_owned();
            frames.push_back(with_default_ns(el));
            cut = i;
        }
    }
    buf.drain(..cut);
}

/// Our writer leaves `xmlns` out on an element in the stream's default namespace
/// (jabber:client) and otherwise writes it first; a standalone message must declare it
/// (RFC 7395 §3.3.3). Prefixed elements (`stream:features`) declare their prefix instead.
fn with_default_ns(el: String) -> String {
    let name_end = el
        .get(1..)
        .and_then(|rest| rest.find(|c: char| c.is_whitespace() || c == '/' || c == '>'))
        .map(|i| i + 1);
    match name_end {
        Some(i) if !el[..i].contains(':') && !el[i..].starts_with(" xmlns=") => {
            format!("{} xmlns='jabber:client'{}", &el[..i], &el[i..])
        }
        _ => el,
    }
}

/// Offset of the `>` ending the tag that starts `tag`, outside quoted attribute values.
fn tag_end(tag: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in tag.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_framing_becomes_stream_syntax() {
        const HEAD: &str =
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'";
        let ns = FRAMING_NS;
        let cases = [
            (
                format!("<open xmlns='{ns}' to='d' version='1.0'/>"),
                format!("{HEAD} to='d' version='1.0'>"),
            ),
            (
                format!(" <open to=\"d&amp;'\" xmlns = \"{ns}\" xml:lang='en'></open>\n"),
                format!("{HEAD} to='d&amp;&apos;' xml:lang='en'>"),
            ),
            (format!("<close xmlns='{ns}'/>"), "</stream:stream>".into()),
            ("<open to='d'/>".into(), "<open to='d'/>".into()),
            (
                format!("<open xmlns='{ns}' to='d'>"),
                format!("<open xmlns='{ns}' to='d'>"),
            ),
            (
                "<message xmlns='jabber:client'/>".into(),
                "<message xmlns='jabber:client'/>".into(),
            ),
            ("<close".into(), "<close".into()),
            ("/>".into(), "/>".into()),
            ("<é/>".into(), "<é/>".into()),
        ];
        for (frame, want) in cases {
            let got = translate_inbound(frame.clone());
            assert_eq!(String::from_utf8_lossy(&got), want, "{frame}");
        }
    }

    #[test]
    fn output_is_cut_at_top_level_element_ends() {
        let mut buf = b"<open xmlns='x' id='a>b'/><stream:features xmlns:stream='s'><b/></stream:features> <message a=\"/>\">x &lt; y</message><iq><q".to_vec();
        let mut frames = VecDeque::new();
        split_elements(&mut buf, &mut frames);
        assert_eq!(
            Vec::from(std::mem::take(&mut frames)),
            [
                "<open xmlns='x' id='a>b'/>",
                "<stream:features xmlns:stream='s'><b/></stream:features>",
                "<message xmlns='jabber:client' a=\"/>\">x &lt; y</message>",
            ]
        );
        assert_eq!(buf, b"<iq><q", "a partial element waits for the rest");
        buf.extend_from_slice(b"/></iq><success xmlns='s'/>");
        split_elements(&mut buf, &mut frames);
        assert_eq!(
            Vec::from(frames),
            [
                "<iq xmlns='jabber:client'><q/></iq>",
                "<success xmlns='s'/>"
            ]
        );
        assert!(buf.is_empty());
    }
}
