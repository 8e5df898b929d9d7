//! Resource limits (RFC 6120 §13.12): stanza size, nesting depth, attribute count, buffering.

use hestia_xml::{FEED_SLACK, Limits, StreamEvent, StreamParser, XmlError};

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams'>";

fn small(max_stanza_bytes: usize, max_depth: usize, max_attrs: usize) -> Limits {
    Limits {
        max_stanza_bytes,
        max_depth,
        max_attrs,
    }
}

/// Feeds `input` after a header in one go; returns the events after Open, or the error.
fn run(limits: Limits, input: &str) -> Result<Vec<StreamEvent>, XmlError> {
    let mut parser = StreamParser::new(limits);
    parser.feed(HEADER.as_bytes());
    parser.feed(input.as_bytes());
    let mut events = Vec::new();
    while let Some(ev) = parser.next()? {
        events.push(ev);
    }
    Ok(events.split_off(1))
}

const TOO_LARGE: XmlError = XmlError::PolicyViolation("stanza too large");

#[test]
fn stanza_size_limit_is_exact() {
    let stanza = |len: usize| {
        let fill = len - "<m><b></b></m>".len();
        format!("<m><b>{}</b></m>", "x".repeat(fill))
    };
    let limits = small(100, 8, 8);
    assert_eq!(run(limits, &stanza(100)).map(|e| e.len()), Ok(1));
    assert_eq!(run(limits, &stanza(101)), Err(TOO_LARGE));
    let attr = format!("<m a='{}'/>", "x".repeat(200));
    assert_eq!(run(limits, &attr), Err(TOO_LARGE));
    // The size counts the whole stanza, not one token.
    let many = format!("<m>{}</m>", "<b/>".repeat(30));
    assert_eq!(run(limits, &many), Err(TOO_LARGE));
}

#[test]
fn huge_stanza_fails_early_without_buffering_it() {
    let limits = Limits::default();
    let mut parser = StreamParser::new(limits);
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(StreamEvent::Open(_)))));
    parser.feed(b"<message><body>");
    let chunk = [b'a'; 4096];
    let mut fed = 0;
    let err = loop {
        parser.feed(&chunk);
        fed += chunk.len();
        assert!(parser.buffered() <= limits.max_stanza_bytes + FEED_SLACK);
        match parser.next() {
            Ok(None) => assert!(fed < 1024 * 1024, "1 MiB accepted"),
            other => break other,
        }
    };
    assert_eq!(err, Err(TOO_LARGE));
    assert!(fed <= limits.max_stanza_bytes + chunk.len());
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn huge_single_feed_is_refused() {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER.as_bytes());
    parser.feed(&vec![b'a'; 1024 * 1024]);
    assert!(parser.buffered() < 1024);
    assert_eq!(
        parser.next(),
        Err(XmlError::PolicyViolation("too much unparsed input"))
    );
}

#[test]
fn oversized_header_is_refused() {
    let mut parser = StreamParser::new(Limits::PRE_AUTH);
    let header = format!(
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='{}'>",
        "x".repeat(9000)
    );
    parser.feed(header.as_bytes());
    assert_eq!(parser.next(), Err(TOO_LARGE));
}

#[test]
fn depth_limit() {
    let deep = XmlError::PolicyViolation("stanza nested too deeply");
    let limits = small(1024, 3, 8);
    assert_eq!(run(limits, "<a><b><c/></b></a>").map(|e| e.len()), Ok(1));
    assert_eq!(run(limits, "<a><b><c><d/></c></b></a>"), Err(deep.clone()));
    assert_eq!(run(limits, "<a><b><c><d>"), Err(deep.clone()));
    let bomb = "<a>".repeat(10_000);
    assert_eq!(run(Limits::default(), &bomb), Err(deep));
}

#[test]
fn attribute_limit_counts_namespace_declarations() {
    let many = XmlError::PolicyViolation("too many attributes");
    let limits = small(1024, 8, 2);
    assert_eq!(run(limits, "<a x='1' y='2'/>").map(|e| e.len()), Ok(1));
    assert_eq!(run(limits, "<a x='1' y='2' z='3'/>"), Err(many.clone()));
    assert_eq!(run(limits, "<a xmlns='urn:a' x='1' y='2'/>"), Err(many));
}

#[test]
fn raised_limits_apply_from_next_stanza() {
    let mut parser = StreamParser::new(Limits::PRE_AUTH);
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(StreamEvent::Open(_)))));
    parser.set_limits(Limits::default());
    let big = format!("<message><body>{}</body></message>", "x".repeat(20_000));
    parser.feed(big.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(StreamEvent::Stanza(_)))));
    parser.set_limits(Limits::PRE_AUTH);
    parser.feed(big.as_bytes());
    assert_eq!(parser.next(), Err(TOO_LARGE));
}

#[test]
fn deep_element_serialises_and_drops() {
    let limits = small(1 << 20, 300, 8);
    let input = format!("{}{}", "<a>".repeat(300), "</a>".repeat(300));
    let events = run(limits, &input).unwrap();
    let [StreamEvent::Stanza(el)] = &events[..] else {
        panic!("expected one stanza");
    };
    assert_eq!(
        el.to_xml("jabber:client").len(),
        299 * 3 + "<a/>".len() + 299 * 4
    );
}
