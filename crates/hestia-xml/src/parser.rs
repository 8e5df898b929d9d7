//! The sans-IO XMPP stream parser: bytes in, [`StreamEvent`]s out (RFC 6120 §4.2–§4.4 stream
//! open and close, §4.8 namespaces, §11 restricted XML). "Need more bytes" is `Ok(None)`.
//! Every limit (stanza bytes, nesting depth, attributes, buffered input) is enforced here, before
//! the offending input is buffered in full, so §13.12 resource exhaustion stops at the codec.

use crate::XmlError;
use crate::element::Element;
use crate::input::{Input, is_ws};
use crate::lexer::scan_text;
use crate::lexer::{CDATA_OPEN, ScanState, check_xml_decl, parse_end_tag, scan_cdata, scan_tag};
use crate::tree::TreeBuilder;

/// Bytes `feed` accepts beyond `max_stanza_bytes` before declaring an overflow; callers should
/// drain `next()` after each feed and feed chunks no larger than this.
pub const FEED_SLACK: usize = 64 * 1024;

/// Resource limits, enforced per stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one top-level child of the stream (stanza or nonza) including its tags; also
    /// caps the stream header and, with [`FEED_SLACK`], unparsed buffered input.
    pub max_stanza_bytes: usize,
    /// Element nesting depth inside a stanza; the stanza itself is depth 1.
    pub max_depth: usize,
    /// Attributes per element, namespace declarations included.
    pub max_attrs: usize,
}

impl Default for Limits {
    /// Post-authentication limits: 256 KiB, depth 64, 64 attributes.
    fn default() -> Limits {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 64,
            max_attrs: 64,
        }
    }
}

impl Limits {
    /// Limits for an unauthenticated peer: 8 KiB, depth 32, 32 attributes.
    pub const PRE_AUTH: Limits = Limits {
        max_stanza_bytes: 8192,
        max_depth: 32,
        max_attrs: 32,
    };
}

/// The attributes of a `<stream:stream>` open tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// Attributes other than namespace declarations, as written (`xml:lang` under "xml:lang").
    pub attrs: Vec<(String, String)>,
    /// The default namespace in effect for stanzas (normally `jabber:client`/`jabber:server`).
    pub default_ns: String,
    /// Whether the root is `stream` in `http://etherx.jabber.org/streams`. When false the
    /// next call to [`StreamParser::next`] fails with [`XmlError::InvalidNamespace`], after the
    /// caller has had the chance to answer with its own header (RFC 6120 §4.9.1.2).
    pub is_stream_ns_ok: bool,
}

impl StreamHeader {
    /// The value of attribute `name` (`to`, `from`, `version`, `id`, `xml:lang`, ...).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One unit of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The stream open tag.
    Open(StreamHeader),
    /// A complete top-level child (stanza or nonza), namespaces resolved.
    Stanza(Element),
    /// Whitespace between stanzas (keep-alive); one event per run.
    Whitespace,
    /// The stream close tag.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Stream,
    Stanza,
    Closed,
    BadRoot,
}

enum Step {
    Event(StreamEvent),
    More,
    Again,
}

/// Incremental parser for one XMPP stream direction.
#[derive(Debug)]
pub struct StreamParser {
    limits: Limits,
    /// The limits snapshotted when the current stanza started.
    active: Limits,
    input: Input,
    tree: TreeBuilder,
    state: State,
    error: Option<XmlError>,
    is_overflow: bool,
    is_ws_run: bool,
    has_decl: bool,
    root_prefix: String,
    root_local: String,
    /// Stream offset of the current stanza's `<`.
    stanza_start: usize,
}

impl StreamParser {
    /// A parser expecting a stream header (optionally preceded by an XML declaration).
    pub fn new(limits: Limits) -> StreamParser {
        StreamParser {
            limits,
            active: limits,
            input: Input::default(),
            tree: TreeBuilder::default(),
            state: State::Header,
            error: None,
            is_overflow: false,
            is_ws_run: false,
            has_decl: false,
            root_prefix: String::new(),
            root_local: String::new(),
            stanza_start: 0,
        }
    }

    /// Changes the limits; they apply from the next stanza on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Appends input. Never fails; if unparsed input would exceed `max_stanza_bytes` plus
    /// [`FEED_SLACK`], the data is dropped and the next [`StreamParser::next`] reports a policy
    /// violation.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() || self.is_overflow {
            return;
        }
        self.input.compact();
        let max = self
            .limits
            .max_stanza_bytes
            .max(self.active.max_stanza_bytes);
        if self.input.buf.len() + data.len() > max.saturating_add(FEED_SLACK) {
            self.is_overflow = true;
            self.input.buf = Vec::new();
            return;
        }
        self.input.buf.extend_from_slice(data);
    }

    /// The next event; `Ok(None)` when more input is needed. After an error the parser is dead
    /// and keeps returning that error until [`StreamParser::reset`].
    // Not `Iterator`: "need more bytes" and errors are values, and the name is the API's.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.run();
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.input.buf = Vec::new();
            self.input.pos = 0;
        }
        result
    }

    fn run(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if self.is_overflow {
            return Err(XmlError::PolicyViolation("too much unparsed input"));
        }
        loop {
            let step = match self.state {
                State::Header => self.step_header()?,
                State::Stream => self.step_stream()?,
                State::Stanza => self.step_stanza()?,
                State::Closed => self.step_closed()?,
                State::BadRoot => return Err(XmlError::InvalidNamespace),
            };
            match step {
                Step::Event(ev) => return Ok(Some(ev)),
                Step::More => return Ok(None),
                Step::Again => {}
            }
        }
    }

    /// Discards all state and buffered input (which must not survive STARTTLS, RFC 6120
    /// §5.4.3.3); a new stream header is expected next. Keeps the limits.
    pub fn reset(&mut self) {
        *self = StreamParser::new(self.limits);
    }

    /// Bytes of unparsed input held.
    pub fn buffered(&self) -> usize {
        self.input.buf.len() - self.input.pos
    }

    /// Whether the input so far ends on an element boundary: all of it parsed and no stanza
    /// left open (RFC 7395 §3.3.3 asks this of every WebSocket message). Meaningful once
    /// [`StreamParser::next`] returned `Ok(None)`.
    pub fn is_at_boundary(&self) -> bool {
        self.buffered() == 0 && self.state != State::Stanza
    }

    /// Before the stream header: whitespace, a byte order mark, one XML declaration.
    fn step_header(&mut self) -> Result<Step, XmlError> {
        let Some(c) = self.input.peek(0) else {
            return Ok(Step::More);
        };
        match c {
            c if is_ws(c) => {
                self.input.skip_ws();
                Ok(Step::Again)
            }
            0xEF => self.skip_bom(),
            0x00 | 0xFE | 0xFF => Err(XmlError::UnsupportedEncoding),
            b'<' => match self.input.peek(1) {
                None => Ok(Step::More),
                Some(b'?') if !self.has_decl => self.xml_decl(),
                Some(b'?') => Err(XmlError::RestrictedXml("processing instruction")),
                Some(b'!') => self.input.bang()?.map_or(Ok(Step::More), |()| {
                    Err(XmlError::nwf("character data before stream header"))
                }),
                Some(b'/') => Err(XmlError::nwf("end tag before stream header")),
                Some(_) => self.stream_header(),
            },
            _ => Err(XmlError::nwf("character data before stream header")),
        }
    }

    fn skip_bom(&mut self) -> Result<Step, XmlError> {
        let rest = &self.input.buf[self.input.pos..];
        if rest.len() < 3 {
            return Ok(Step::More);
        }
        if rest.starts_with(b"\xEF\xBB\xBF") && self.input.abs_pos() == 0 {
            self.input.pos += 3;
            return Ok(Step::Again);
        }
        Err(XmlError::UnsupportedEncoding)
    }

    fn xml_decl(&mut self) -> Result<Step, XmlError> {
        let start = self.input.abs_pos();
        let max = self.limits.max_stanza_bytes;
        let Some(end) = self.input.token(start, max, scan_tag)? else {
            return Ok(Step::More);
        };
        check_xml_decl(self.input.str(end)?)?;
        self.input.pos = end;
        self.has_decl = true;
        Ok(Step::Again)
    }

    fn stream_header(&mut self) -> Result<Step, XmlError> {
        let start = self.input.abs_pos();
        let max = self.limits.max_stanza_bytes;
        let Some(end) = self.input.token(start, max, scan_tag)? else {
            return Ok(Step::More);
        };
        let tok = self.input.str(end)?;
        let (header, prefix, local) = self.tree.open_stream(tok, self.limits.max_attrs)?;
        self.input.pos = end;
        self.root_prefix = prefix;
        self.root_local = local;
        self.has_decl = true;
        self.state = if header.is_stream_ns_ok {
            State::Stream
        } else {
            State::BadRoot
        };
        Ok(Step::Event(StreamEvent::Open(header)))
    }

    /// Between stanzas: whitespace, the start of a stanza, or the stream close tag.
    fn step_stream(&mut self) -> Result<Step, XmlError> {
        let Some(c) = self.input.peek(0) else {
            return Ok(Step::More);
        };
        if is_ws(c) {
            self.input.skip_ws();
            if self.is_ws_run {
                return Ok(Step::Again);
            }
            self.is_ws_run = true;
            return Ok(Step::Event(StreamEvent::Whitespace));
        }
        if c != b'<' {
            return Err(XmlError::nwf("character data at stream level"));
        }
        match self.input.peek(1) {
            None => Ok(Step::More),
            Some(b'/') => self.stream_close(),
            Some(b'?') => Err(XmlError::RestrictedXml("processing instruction")),
            Some(b'!') => self.input.bang()?.map_or(Ok(Step::More), |()| {
                Err(XmlError::nwf("character data at stream level"))
            }),
            Some(_) => {
                self.stanza_start = self.input.abs_pos();
                self.active = self.limits;
                self.state = State::Stanza;
                self.is_ws_run = false;
                Ok(Step::Again)
            }
        }
    }

    fn stream_close(&mut self) -> Result<Step, XmlError> {
        let start = self.input.abs_pos();
        let max = self.limits.max_stanza_bytes;
        let Some(end) = self.input.token(start, max, scan_tag)? else {
            return Ok(Step::More);
        };
        let tok = self.input.str(end)?;
        let name = parse_end_tag(tok)?;
        if name.prefix(tok) != self.root_prefix || name.local(tok) != self.root_local {
            return Err(XmlError::nwf("mismatched stream end tag"));
        }
        self.input.pos = end;
        self.state = State::Closed;
        self.is_ws_run = false;
        Ok(Step::Event(StreamEvent::Close))
    }

    /// Inside a stanza: tags, text and CDATA until the stanza's end tag.
    fn step_stanza(&mut self) -> Result<Step, XmlError> {
        let Some(c) = self.input.peek(0) else {
            return Ok(Step::More);
        };
        let (start, max) = (self.stanza_start, self.active.max_stanza_bytes);
        if c != b'<' {
            let scan = |b: &[u8], st: &mut ScanState| Ok(scan_text(b, st));
            let Some(end) = self.input.token(start, max, scan)? else {
                return Ok(Step::More);
            };
            self.tree.text(self.input.str(end)?)?;
            self.input.pos = end;
            return Ok(Step::Again);
        }
        let scan = match self.input.peek(1) {
            None => return Ok(Step::More),
            Some(b'?') => return Err(XmlError::RestrictedXml("processing instruction")),
            Some(b'!') => match self.input.bang()? {
                None => return Ok(Step::More),
                Some(()) => return self.cdata(),
            },
            Some(_) => scan_tag,
        };
        let Some(end) = self.input.token(start, max, scan)? else {
            return Ok(Step::More);
        };
        let tok = self.input.str(end)?;
        let done = if tok.as_bytes()[1] == b'/' {
            self.tree.end_element(tok)?
        } else {
            let Limits {
                max_attrs,
                max_depth,
                ..
            } = self.active;
            self.tree.start_element(tok, max_attrs, max_depth)?
        };
        self.input.pos = end;
        match done {
            Some(el) => {
                self.state = State::Stream;
                Ok(Step::Event(StreamEvent::Stanza(el)))
            }
            None => Ok(Step::Again),
        }
    }

    fn cdata(&mut self) -> Result<Step, XmlError> {
        let (start, max) = (self.stanza_start, self.active.max_stanza_bytes);
        let scan = |b: &[u8], st: &mut ScanState| Ok(scan_cdata(b, st));
        let Some(end) = self.input.token(start, max, scan)? else {
            return Ok(Step::More);
        };
        let tok = self.input.str(end)?;
        self.tree.cdata(&tok[CDATA_OPEN.len()..tok.len() - 3])?;
        self.input.pos = end;
        Ok(Step::Again)
    }

    /// After `</stream:stream>`: only whitespace may follow.
    fn step_closed(&mut self) -> Result<Step, XmlError> {
        self.input.skip_ws();
        match self.input.peek(0) {
            None => Ok(Step::More),
            Some(_) => Err(XmlError::nwf("data after stream end")),
        }
    }
}

/// Parses one standalone element; unprefixed elements default to namespace `default_ns`.
/// Leading and trailing whitespace is allowed, anything else around the element is not.
pub fn parse_element(xml: &str, default_ns: &str) -> Result<Element, XmlError> {
    let limits = Limits {
        max_stanza_bytes: xml.len().max(Limits::default().max_stanza_bytes),
        ..Limits::default()
    };
    let mut parser = StreamParser::new(limits);
    parser.state = State::Stream;
    parser.tree.scope.declare("", default_ns.to_owned())?;
    parser.input.buf.extend_from_slice(xml.as_bytes());
    let mut found = None;
    while let Some(event) = parser.next()? {
        match event {
            StreamEvent::Stanza(el) if found.is_none() => found = Some(el),
            StreamEvent::Whitespace => {}
            _ => return Err(XmlError::nwf("content after the element")),
        }
    }
    match found {
        Some(el) if parser.state == State::Stream => Ok(el),
        _ => Err(XmlError::nwf("incomplete or missing element")),
    }
}
