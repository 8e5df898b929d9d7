//! Byte-level tokenizer for the XML subset RFC 6120 §11 allows: finding where a token ends
//! (resumably, so input split at any byte costs no rescans) and splitting a complete tag into
//! its qualified name and attributes. Character data handling lives in `text`.

use std::ops::Range;

use crate::XmlError;
use crate::text::unescape_into;

/// Where the scan for the end of an incomplete token stopped, so the next feed resumes there.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ScanState {
    /// Offset from the token start at which scanning resumes.
    resume: usize,
    /// The quote character of an attribute value the scan is inside, or 0.
    quote: u8,
}

/// Finds the end (one past `>`) of a tag starting with `<` at `b[0]`.
/// `Ok(None)` means the tag continues past `b`; a `<` inside a tag is not well-formed.
pub(crate) fn scan_tag(b: &[u8], st: &mut ScanState) -> Result<Option<usize>, XmlError> {
    let mut i = st.resume.max(1);
    let mut quote = st.quote;
    while i < b.len() {
        let c = b[i];
        if c == b'<' {
            return Err(XmlError::nwf("'<' inside a tag"));
        }
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
        } else if c == b'"' || c == b'\'' {
            quote = c;
        } else if c == b'>' {
            *st = ScanState::default();
            return Ok(Some(i + 1));
        }
        i += 1;
    }
    st.resume = i;
    st.quote = quote;
    Ok(None)
}

/// Finds the end of character data starting at `b[0]`: the offset of the next `<`.
pub(crate) fn scan_text(b: &[u8], st: &mut ScanState) -> Option<usize> {
    let from = st.resume.min(b.len());
    match b[from..].iter().position(|&c| c == b'<') {
        Some(i) => {
            *st = ScanState::default();
            Some(from + i)
        }
        None => {
            st.resume = b.len();
            None
        }
    }
}

/// The opening of a CDATA section.
pub(crate) const CDATA_OPEN: &[u8] = b"<![CDATA[";

/// Finds the end (one past `]]>`) of a CDATA section starting at `b[0]`.
pub(crate) fn scan_cdata(b: &[u8], st: &mut ScanState) -> Option<usize> {
    let from = st.resume.max(CDATA_OPEN.len());
    if b.len() >= from + 3
        && let Some(i) = b[from..].windows(3).position(|w| w == b"]]>")
    {
        *st = ScanState::default();
        return Some(from + i + 3);
    }
    // The terminator may straddle the split: re-examine the last two bytes next time.
    st.resume = b.len().saturating_sub(2).max(CDATA_OPEN.len());
    None
}

/// A qualified name inside a token: byte range plus the position of its colon, if prefixed.
#[derive(Debug, Clone)]
pub(crate) struct QName {
    pub range: Range<usize>,
    pub colon: Option<usize>,
}

impl QName {
    /// The prefix ("" when unprefixed).
    pub fn prefix<'a>(&self, tok: &'a str) -> &'a str {
        match self.colon {
            Some(c) => &tok[self.range.start..c],
            None => "",
        }
    }

    /// The local part.
    pub fn local<'a>(&self, tok: &'a str) -> &'a str {
        match self.colon {
            Some(c) => &tok[c + 1..self.range.end],
            None => &tok[self.range.clone()],
        }
    }
}

/// One attribute of a start tag, its value already unescaped and normalised.
#[derive(Debug)]
pub(crate) struct RawAttr {
    pub name: QName,
    pub value: String,
}

/// A parsed start tag; the attributes go into a caller-owned scratch vector.
#[derive(Debug)]
pub(crate) struct StartTag {
    pub name: QName,
    pub is_empty: bool,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_name_char(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == b'-' || c == b'.' || c == b':'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Reads a namespace-well-formed qualified name (at most one colon, not at either end).
fn parse_qname(b: &[u8], start: usize) -> Result<QName, XmlError> {
    if start >= b.len() || !is_name_start(b[start]) {
        return Err(XmlError::nwf("expected a name"));
    }
    let mut i = start + 1;
    let mut colon = None;
    while i < b.len() && is_name_char(b[i]) {
        if b[i] == b':' {
            let next_ok = i + 1 < b.len() && is_name_start(b[i + 1]);
            if colon.is_some() || !next_ok {
                return Err(XmlError::nwf("malformed qualified name"));
            }
            colon = Some(i);
        }
        i += 1;
    }
    Ok(QName {
        range: start..i,
        colon,
    })
}

/// Parses a complete start tag `<name attr='v' ...>` or `<name .../>`.
/// Fails with a policy violation as soon as more than `max_attrs` attributes are seen.
pub(crate) fn parse_start_tag(
    tok: &str,
    attrs: &mut Vec<RawAttr>,
    max_attrs: usize,
) -> Result<StartTag, XmlError> {
    let b = tok.as_bytes();
    attrs.clear();
    let name = parse_qname(b, 1)?;
    let mut i = name.range.end;
    loop {
        let after_ws = skip_ws(b, i);
        match b.get(after_ws) {
            Some(b'>') => {
                return Ok(StartTag {
                    name,
                    is_empty: false,
                });
            }
            Some(b'/') if b.get(after_ws + 1) == Some(&b'>') => {
                return Ok(StartTag {
                    name,
                    is_empty: true,
                });
            }
            _ if after_ws == i => return Err(XmlError::nwf("expected whitespace or '>'")),
            _ => {}
        }
        if attrs.len() >= max_attrs {
            return Err(XmlError::PolicyViolation("too many attributes"));
        }
        let (attr, end) = parse_attr(tok, after_ws)?;
        let raw = &tok[attr.name.range.clone()];
        if attrs.iter().any(|a| &tok[a.name.range.clone()] == raw) {
            return Err(XmlError::nwf("duplicate attribute"));
        }
        attrs.push(attr);
        i = end;
    }
}

/// Parses `name = 'value'` at `start`, returning the attribute and the offset after its quote.
fn parse_attr(tok: &str, start: usize) -> Result<(RawAttr, usize), XmlError> {
    let b = tok.as_bytes();
    let name = parse_qname(b, start)?;
    let mut i = skip_ws(b, name.range.end);
    if b.get(i) != Some(&b'=') {
        return Err(XmlError::nwf("attribute without '='"));
    }
    i = skip_ws(b, i + 1);
    let quote = match b.get(i) {
        Some(&q @ (b'"' | b'\'')) => q,
        _ => return Err(XmlError::nwf("unquoted attribute value")),
    };
    let vstart = i + 1;
    let vlen = b[vstart..]
        .iter()
        .position(|&c| c == quote)
        .ok_or_else(|| XmlError::nwf("unterminated attribute value"))?;
    let mut value = String::new();
    unescape_into(&tok[vstart..vstart + vlen], true, &mut value)?;
    Ok((RawAttr { name, value }, vstart + vlen + 1))
}

/// Parses a complete end tag `</name>` and returns its qualified name.
pub(crate) fn parse_end_tag(tok: &str) -> Result<QName, XmlError> {
    let b = tok.as_bytes();
    let name = parse_qname(b, 2)?;
    let i = skip_ws(b, name.range.end);
    if i + 1 != b.len() {
        return Err(XmlError::nwf("malformed end tag"));
    }
    Ok(name)
}

/// Checks a complete `<?...?>` token: only the XML declaration is allowed (and only where the
/// caller permits it); its encoding, if given, must be UTF-8.
pub(crate) fn check_xml_decl(tok: &str) -> Result<(), XmlError> {
    let b = tok.as_bytes();
    let target =
        parse_qname(b, 2).map_err(|_| XmlError::RestrictedXml("processing instruction"))?;
    let is_decl = &tok[target.range.clone()] == "xml";
    if !is_decl || !tok.ends_with("?>") {
        return Err(XmlError::RestrictedXml("processing instruction"));
    }
    let body = &tok[target.range.end..tok.len() - 2];
    // Pseudo-attributes parse like attributes; reuse the start-tag parser on `<x body>`.
    let synthetic = format!("<x{body}>");
    let mut attrs = Vec::new();
    parse_start_tag(&synthetic, &mut attrs, 8)
        .map_err(|_| XmlError::nwf("malformed XML declaration"))?;
    for attr in &attrs {
        let name = &synthetic[attr.name.range.clone()];
        if name == "encoding" && !attr.value.eq_ignore_ascii_case("utf-8") {
            return Err(XmlError::UnsupportedEncoding);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_scan_resumes_and_respects_quotes() {
        let full = b"<a b='>' c=\"x\">rest";
        let mut st = ScanState::default();
        for cut in 1..full.len() {
            if cut < 15 {
                assert_eq!(scan_tag(&full[..cut], &mut st), Ok(None));
            }
        }
        assert_eq!(scan_tag(full, &mut st), Ok(Some(15)));
    }

    #[test]
    fn cdata_scan_finds_split_terminator() {
        let full = b"<![CDATA[a]]]>x";
        let mut st = ScanState::default();
        for cut in 0..14 {
            assert_eq!(scan_cdata(&full[..cut], &mut st), None, "cut {cut}");
        }
        assert_eq!(scan_cdata(full, &mut st), Some(14));
    }

    #[test]
    fn start_tag_parts() {
        let tok = "<p:x a='1' p:b = \"&lt;\"/>";
        let mut attrs = Vec::new();
        let tag = parse_start_tag(tok, &mut attrs, 8).unwrap();
        assert!(tag.is_empty);
        assert_eq!(tag.name.prefix(tok), "p");
        assert_eq!(tag.name.local(tok), "x");
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].name.local(tok), "b");
        assert_eq!(attrs[1].value, "<");
    }

    #[test]
    fn bad_start_tags() {
        let table: &[(&str, XmlError)] = &[
            ("<a b=c>", XmlError::nwf("unquoted attribute value")),
            (
                "<a b='1'c='2'>",
                XmlError::nwf("expected whitespace or '>'"),
            ),
            ("<a b>", XmlError::nwf("attribute without '='")),
            ("<1a>", XmlError::nwf("expected a name")),
            ("<a:b:c>", XmlError::nwf("malformed qualified name")),
            ("<a: >", XmlError::nwf("malformed qualified name")),
            (
                "<a x='1' y='2'>",
                XmlError::PolicyViolation("too many attributes"),
            ),
            ("<a x='1' x='2'>", XmlError::nwf("duplicate attribute")),
        ];
        for (tok, want) in table {
            let mut attrs = Vec::new();
            let max = if tok.contains("x='2'") { 2 } else { 1 };
            assert_eq!(
                parse_start_tag(tok, &mut attrs, max).unwrap_err(),
                *want,
                "{tok}"
            );
        }
    }

    #[test]
    fn xml_declaration() {
        assert_eq!(check_xml_decl("<?xml version='1.0'?>"), Ok(()));
        assert_eq!(
            check_xml_decl("<?xml version='1.0' encoding='UTF-8'?>"),
            Ok(())
        );
        assert_eq!(
            check_xml_decl("<?xml version='1.0' encoding='ISO-8859-1'?>"),
            Err(XmlError::UnsupportedEncoding)
        );
        assert_eq!(
            check_xml_decl("<?xml-stylesheet href='a'?>"),
            Err(XmlError::RestrictedXml("processing instruction"))
        );
    }
}
