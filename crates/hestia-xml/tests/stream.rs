//! Stream-level behaviour of the codec: split input, keep-alives, limits, malformed input.

use hestia_xml::{Element, Limits, STREAM_NS, StreamEvent, StreamParser, XmlError, parse_element};

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

const REALISTIC: &str = concat!(
    "<?xml version='1.0' encoding='UTF-8'?>\n",
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' ",
    "to='example.com' from=\"juliet@example.com\" version='1.0' xml:lang='en' id='s&amp;1'>",
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>",
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>",
    "</mechanisms></stream:features>\n \n",
    "<message to='romeo@example.net/orchard' type='chat' id='m1' xml:lang='fr'>",
    "<body>O\u{f9} es-tu, Rom\u{e9}o? &lt;3 &amp; \u{1F495} &#x263A;&#65;</body>",
    "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>",
    "<p style=\"font-weight:bold\">Hi<br/>there</p></body></html>",
    "<x:data xmlns:x='urn:x' x:attr=\"q&quot;\"><![CDATA[<raw> & ]]]]><![CDATA[>]]></x:data>",
    "</message>\t",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>  ",
    "</stream:stream>\n",
);

/// Feeds `chunks` one after another, draining events after each; stops at the first error.
fn run_chunks<'a>(
    parser: &mut StreamParser,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<StreamEvent>, Option<XmlError>) {
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        loop {
            match parser.next() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn run(input: &[u8]) -> (Vec<StreamEvent>, Option<XmlError>) {
    run_chunks(&mut StreamParser::new(Limits::default()), [input])
}

fn stanza(ev: &StreamEvent) -> &Element {
    match ev {
        StreamEvent::Stanza(el) => el,
        other => panic!("expected a stanza, got {other:?}"),
    }
}

#[test]
fn realistic_stream_all_at_once() {
    let (events, err) = run(REALISTIC.as_bytes());
    assert_eq!(err, None);
    assert_eq!(events.len(), 8, "{events:#?}");
    let StreamEvent::Open(header) = &events[0] else {
        panic!("expected Open, got {:?}", events[0]);
    };
    assert!(header.is_stream_ns_ok);
    assert_eq!(header.default_ns, "jabber:client");
    assert_eq!(header.attr("to"), Some("example.com"));
    assert_eq!(header.attr("from"), Some("juliet@example.com"));
    assert_eq!(header.attr("xml:lang"), Some("en"));
    assert_eq!(header.attr("id"), Some("s&1"));
    assert_eq!(header.attrs.len(), 5);

    let features = stanza(&events[1]);
    assert!(features.is("features", STREAM_NS));
    let tls = features
        .get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
        .unwrap();
    assert!(
        tls.get_child("required", "urn:ietf:params:xml:ns:xmpp-tls")
            .is_some()
    );
    assert_eq!(events[2], StreamEvent::Whitespace);

    let msg = stanza(&events[3]);
    assert!(msg.is("message", "jabber:client"));
    assert_eq!(msg.attr("xml:lang"), Some("fr"));
    let body = msg.get_child("body", "jabber:client").unwrap();
    assert_eq!(
        body.text(),
        "O\u{f9} es-tu, Rom\u{e9}o? <3 & \u{1F495} \u{263A}A"
    );
    let html = msg
        .get_child("html", "http://jabber.org/protocol/xhtml-im")
        .unwrap();
    let p = html.children().next().unwrap().children().next().unwrap();
    assert!(p.is("p", "http://www.w3.org/1999/xhtml"));
    assert_eq!(p.attr("style"), Some("font-weight:bold"));
    assert_eq!(p.text(), "Hithere");
    let data = msg.get_child("data", "urn:x").unwrap();
    assert_eq!(data.attr("{urn:x}attr"), Some("q\""));
    assert_eq!(data.text(), "<raw> & ]]>");
    assert_eq!(data.nodes().len(), 1, "adjacent text is merged");

    assert_eq!(events[4], StreamEvent::Whitespace);
    let iq = stanza(&events[5]);
    assert!(iq.get_child("query", "jabber:iq:roster").is_some());
    assert_eq!(events[6], StreamEvent::Whitespace);
    assert_eq!(events[7], StreamEvent::Close);
    assert_eq!(events.len(), 8);
}

#[test]
fn realistic_stream_split_at_every_byte_boundary() {
    let input = REALISTIC.as_bytes();
    let whole = run(input);
    for cut in 0..=input.len() {
        let mut parser = StreamParser::new(Limits::default());
        let split = run_chunks(&mut parser, [&input[..cut], &input[cut..]]);
        assert_eq!(split, whole, "split at byte {cut}");
    }
    let mut parser = StreamParser::new(Limits::default());
    let bytewise = run_chunks(&mut parser, input.chunks(1));
    assert_eq!(bytewise, whole);
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn whitespace_keepalives_one_event_per_run() {
    let mut parser = StreamParser::new(Limits::default());
    let (events, _) = run_chunks(&mut parser, [HEADER.as_bytes(), b" "]);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        StreamEvent::Whitespace,
        "a lone keep-alive is reported at once"
    );
    let (events, _) = run_chunks(&mut parser, [&b"\n"[..], b"<presence/>", b"\n"]);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(stanza(&events[0]).is("presence", "jabber:client"));
    assert_eq!(events[1], StreamEvent::Whitespace);
}

fn err_of(input: &str) -> XmlError {
    let (_, err) = run(input.as_bytes());
    err.unwrap_or_else(|| panic!("no error for {input:?}"))
}

#[test]
fn malformed_inputs_table() {
    let nwf = |s: &str| XmlError::NotWellFormed(s.to_owned());
    let h = HEADER;
    let table: Vec<(String, XmlError)> = vec![
        (format!("{h}<!DOCTYPE x>"), XmlError::RestrictedXml("DTD")),
        ("<!DOCTYPE stream>".into(), XmlError::RestrictedXml("DTD")),
        (
            format!("{h}<a><!ENTITY x 'y'></a>"),
            XmlError::RestrictedXml("DTD"),
        ),
        (
            format!("{h}<!-- hi -->"),
            XmlError::RestrictedXml("comment"),
        ),
        (
            format!("{h}<a><!-- hi --></a>"),
            XmlError::RestrictedXml("comment"),
        ),
        (
            format!("{h}<?foo bar?>"),
            XmlError::RestrictedXml("processing instruction"),
        ),
        (
            format!("{h}<a><?foo?></a>"),
            XmlError::RestrictedXml("processing instruction"),
        ),
        (
            "<?xml version='1.0'?><?xml version='1.0'?>".into(),
            XmlError::RestrictedXml("processing instruction"),
        ),
        (
            format!("{h}<a>&foo;</a>"),
            XmlError::RestrictedXml("entity reference"),
        ),
        (
            format!("{h}<a b='&foo;'/>"),
            XmlError::RestrictedXml("entity reference"),
        ),
        (format!("{h}<message></iq>"), nwf("mismatched end tag")),
        (format!("{h}<<>"), nwf("'<' inside a tag")),
        (format!("{h}<a b=c/>"), nwf("unquoted attribute value")),
        (format!("{h}<a b='1' b='2'/>"), nwf("duplicate attribute")),
        (
            format!("{h}<a xmlns:p='urn:p' xmlns:q='urn:p' p:b='1' q:b='2'/>"),
            nwf("duplicate attribute"),
        ),
        (format!("{h}<a b='<'/>"), nwf("'<' inside a tag")),
        (format!("{h}<a/ >"), nwf("expected whitespace or '>'")),
        (format!("{h}<a:b:c/>"), nwf("malformed qualified name")),
        (
            format!("{h}<a xmlns:p=''/>"),
            nwf("illegal namespace declaration"),
        ),
        (
            format!("{h}<a>&#0;</a>"),
            nwf("character reference to a non-character"),
        ),
        (format!("{h}<a>x & y</a>"), nwf("unterminated reference")),
        (format!("{h}<a>\u{1}</a>"), nwf("control character")),
        (format!("{h}hello"), nwf("character data at stream level")),
        (format!("{h}&amp;"), nwf("character data at stream level")),
        (
            format!("{h}<![CDATA[x]]>"),
            nwf("character data at stream level"),
        ),
        (
            format!("{h}<a><![CDAT[x]]></a>"),
            nwf("malformed CDATA section"),
        ),
        (
            format!("{h}</stream:foo>"),
            nwf("mismatched stream end tag"),
        ),
        (
            format!("{h}</stream:stream><a/>"),
            nwf("data after stream end"),
        ),
        ("hello".into(), nwf("character data before stream header")),
        (
            "</stream:stream>".into(),
            nwf("end tag before stream header"),
        ),
        (format!("{h}<p:a/>"), XmlError::InvalidNamespace),
        (format!("{h}<a p:b='1'/>"), XmlError::InvalidNamespace),
        ("<stream:stream>".into(), XmlError::InvalidNamespace),
        (
            "<stream xmlns='jabber:client'>".into(),
            XmlError::InvalidNamespace,
        ),
        (
            "<?xml version='1.0' encoding='ISO-8859-1'?>".into(),
            XmlError::UnsupportedEncoding,
        ),
    ];
    for (input, want) in &table {
        assert_eq!(err_of(input), *want, "input {input:?}");
    }
}

#[test]
fn invalid_bytes_are_unsupported_encoding() {
    let table: &[&[u8]] = &[
        b"\xFE\xFF\0<",
        b"\xFF\xFE<\0",
        b"\0<\0s",
        b"\xEF\xBB\xBE<",
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a>\xC3\x28</a>",
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a b='\xFF'/>",
    ];
    for input in table {
        assert_eq!(
            run(input).1,
            Some(XmlError::UnsupportedEncoding),
            "{input:?}"
        );
    }
    let bom = b"\xEF\xBB\xBF<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(run(bom).1, None);
}

#[test]
fn wrong_root_reports_header_then_invalid_namespace() {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(b"<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>");
    let Ok(Some(StreamEvent::Open(header))) = parser.next() else {
        panic!("expected the header first");
    };
    assert!(!header.is_stream_ns_ok);
    assert_eq!(parser.next(), Err(XmlError::InvalidNamespace));
    assert_eq!(
        parser.next(),
        Err(XmlError::InvalidNamespace),
        "errors are sticky"
    );
}

#[test]
fn errors_are_sticky_and_reset_revives() {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(format!("{HEADER}<a><!-- x --></a>").as_bytes());
    assert!(matches!(parser.next(), Ok(Some(StreamEvent::Open(_)))));
    let err = parser.next().unwrap_err();
    parser.feed(b"<b/>");
    assert_eq!(parser.next(), Err(err));
    parser.reset();
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.next(), Ok(Some(StreamEvent::Open(_)))));
}

#[test]
fn reset_discards_buffered_input() {
    let mut parser = StreamParser::new(Limits::PRE_AUTH);
    let tls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    let (events, err) = run_chunks(
        &mut parser,
        [format!("{HEADER}{tls}<injected/>").as_bytes()],
    );
    assert_eq!(err, None);
    assert_eq!(events.len(), 3);
    parser.feed(b"<more");
    parser.reset();
    assert_eq!(parser.buffered(), 0);
    let (events, err) = run_chunks(&mut parser, [HEADER.as_bytes()]);
    assert_eq!(err, None);
    assert!(matches!(&events[..], [StreamEvent::Open(_)]));
}

#[test]
fn client_side_features_and_stream_error() {
    let server = concat!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ",
        "xmlns='jabber:client' from='example.com' id='x' version='1.0'>",
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        "</stream:stream>",
    );
    let (events, err) = run(server.as_bytes());
    assert_eq!(err, None);
    assert!(stanza(&events[1]).is("features", STREAM_NS));
    let error = stanza(&events[2]);
    assert!(error.is("error", STREAM_NS));
    assert!(
        error
            .get_child("conflict", "urn:ietf:params:xml:ns:xmpp-streams")
            .is_some()
    );
    assert_eq!(events[3], StreamEvent::Close);
}

#[test]
fn parse_element_standalone() {
    let el = parse_element(
        " <iq type='set' id='1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\n",
        "jabber:client",
    )
    .unwrap();
    assert!(el.is("iq", "jabber:client"));
    assert!(
        el.get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .is_some()
    );
    let xml = el.to_xml("jabber:client");
    assert_eq!(parse_element(&xml, "jabber:client").unwrap(), el);
    assert_eq!(parse_element(&el.to_string(), "").unwrap(), el);

    let bad = ["<a>", "<a/><b/>", "", "text", "<a/>x", "<a/><b>"];
    for input in bad {
        assert!(
            matches!(parse_element(input, ""), Err(XmlError::NotWellFormed(_))),
            "{input:?}"
        );
    }
}

#[test]
fn boundary_is_where_fed_input_ends_between_elements() {
    let cases: [(&[&str], bool); 7] = [
        (&[], true),
        (&["<stream:stream"], false),
        (&[HEADER], true),
        (&[HEADER, "<message><body>hi</body></message>"], true),
        (&[HEADER, "<message><body>hi</body>"], false),
        (&[HEADER, "<message/><iq"], false),
        (&[HEADER, "<message/> ", "</stream:stream>"], true),
    ];
    for (chunks, want) in cases {
        let mut parser = StreamParser::new(Limits::default());
        let (_, err) = run_chunks(&mut parser, chunks.iter().map(|c| c.as_bytes()));
        assert_eq!(err, None, "{chunks:?}");
        assert_eq!(parser.is_at_boundary(), want, "{chunks:?}");
    }
}
