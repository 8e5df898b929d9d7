//! Character data: reference expansion (the five predefined entities and character references
//! only, RFC 6120 §11.1), XML 1.0 line-end and attribute-value normalisation, the `Char`
//! production check, and escaping for output.

use crate::XmlError;

/// Appends `raw` (text or an attribute value, already UTF-8) to `out`, expanding references
/// and normalising line ends. In attribute values tab, CR and LF become spaces and `<` is not
/// well-formed; in text `]]>` is not well-formed.
///
/// A named reference other than the five predefined entities is `RestrictedXml`; a malformed
/// reference is `NotWellFormed`.
pub(crate) fn unescape_into(raw: &str, is_attr: bool, out: &mut String) -> Result<(), XmlError> {
    let b = raw.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let is_special = c < 0x20 || c == b'&' || c == b'<' || c == b'>';
        if !is_special {
            i += 1;
            continue;
        }
        out.push_str(&raw[run..i]);
        i = special(raw, i, is_attr, out)?;
        run = i;
    }
    out.push_str(&raw[run..]);
    Ok(())
}

/// Handles the special byte at `raw[i]`, returning the offset after what it consumed.
fn special(raw: &str, i: usize, is_attr: bool, out: &mut String) -> Result<usize, XmlError> {
    let b = raw.as_bytes();
    let space_or_lf = if is_attr { ' ' } else { '\n' };
    match b[i] {
        b'&' => {
            let (ch, len) = reference(&raw[i..])?;
            out.push(ch);
            Ok(i + len)
        }
        b'<' => Err(XmlError::nwf("'<' in character data")),
        b'>' => {
            if !is_attr && i >= 2 && &b[i - 2..i] == b"]]" {
                return Err(XmlError::nwf("']]>' in character data"));
            }
            out.push('>');
            Ok(i + 1)
        }
        b'\r' => {
            out.push(space_or_lf);
            let is_crlf = b.get(i + 1) == Some(&b'\n');
            Ok(i + if is_crlf { 2 } else { 1 })
        }
        b'\n' | b'\t' => {
            out.push(if is_attr { ' ' } else { b[i] as char });
            Ok(i + 1)
        }
        _ => Err(XmlError::nwf("control character")),
    }
}

/// Decodes the reference at the start of `s` (`&...;`), returning the character and length.
fn reference(s: &str) -> Result<(char, usize), XmlError> {
    let end = s
        .bytes()
        .take(12)
        .position(|c| c == b';')
        .ok_or_else(|| XmlError::nwf("unterminated reference"))?;
    let name = &s[1..end];
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => match name.strip_prefix('#') {
            Some(num) => char_ref(num)?,
            None if is_entity_name(name) => {
                return Err(XmlError::RestrictedXml("entity reference"));
            }
            None => return Err(XmlError::nwf("malformed reference")),
        },
    };
    Ok((ch, end + 1))
}

fn is_entity_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80);
    first_ok && bytes.all(|c| c.is_ascii_alphanumeric() || b"_-.:".contains(&c) || c >= 0x80)
}

/// Decodes the digits of a character reference (`#` already stripped) and checks `Char`.
fn char_ref(num: &str) -> Result<char, XmlError> {
    let (digits, radix) = match num.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (num, 10),
    };
    let valid_digits = !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_hexdigit());
    let code = valid_digits
        .then(|| u32::from_str_radix(digits, radix).ok())
        .flatten()
        .ok_or_else(|| XmlError::nwf("malformed character reference"))?;
    match char::from_u32(code) {
        Some(c) if is_xml_char(c) => Ok(c),
        _ => Err(XmlError::nwf("character reference to a non-character")),
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// Appends `s` to `out` escaped for an attribute value delimited by `"`.
pub(crate) fn escape_attr(s: &str, out: &mut Vec<u8>) {
    escape(s, out, true);
}

/// Appends `s` to `out` escaped for element content.
pub(crate) fn escape_text(s: &str, out: &mut Vec<u8>) {
    escape(s, out, false);
}

fn escape(s: &str, out: &mut Vec<u8>, is_attr: bool) {
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'"' if is_attr => b"&quot;",
            b'\'' if is_attr => b"&apos;",
            b'\t' if is_attr => b"&#9;",
            b'\n' if is_attr => b"&#10;",
            _ => continue,
        };
        out.extend_from_slice(&b[run..i]);
        out.extend_from_slice(rep);
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &str) -> Result<String, XmlError> {
        let mut out = String::new();
        unescape_into(raw, false, &mut out).map(|()| out)
    }

    fn attr(raw: &str) -> Result<String, XmlError> {
        let mut out = String::new();
        unescape_into(raw, true, &mut out).map(|()| out)
    }

    #[test]
    fn unescape_table() {
        let ok: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("a&lt;b&gt;c&amp;d&quot;e&apos;f", "a<b>c&d\"e'f"),
            ("&#65;&#x42;&#x1F600;", "AB\u{1F600}"),
            ("x\r\ny\rz", "x\ny\nz"),
            ("caf\u{e9} \u{263a}", "caf\u{e9} \u{263a}"),
            ("a > b", "a > b"),
        ];
        for (raw, want) in ok {
            assert_eq!(text(raw).as_deref(), Ok(*want), "{raw}");
        }
        assert_eq!(attr("a\tb\r\nc\nd").as_deref(), Ok("a b c d"));
    }

    #[test]
    fn unescape_errors() {
        let table: &[(&str, XmlError)] = &[
            ("&foo;", XmlError::RestrictedXml("entity reference")),
            ("&nbsp;", XmlError::RestrictedXml("entity reference")),
            ("a & b", XmlError::nwf("unterminated reference")),
            (
                "&#0;",
                XmlError::nwf("character reference to a non-character"),
            ),
            (
                "&#xD800;",
                XmlError::nwf("character reference to a non-character"),
            ),
            ("&#xZZ;", XmlError::nwf("malformed character reference")),
            ("&;", XmlError::nwf("malformed reference")),
            ("]]>", XmlError::nwf("']]>' in character data")),
            ("\u{1}", XmlError::nwf("control character")),
        ];
        for (raw, want) in table {
            assert_eq!(text(raw).as_ref(), Err(want), "{raw}");
        }
        assert_eq!(attr("a<b"), Err(XmlError::nwf("'<' in character data")));
    }

    #[test]
    fn escaping_round_trips() {
        let s = "<&>\"'\t\n\r x";
        let mut out = Vec::new();
        escape_attr(s, &mut out);
        let escaped = String::from_utf8(out).unwrap();
        assert_eq!(escaped, "&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13; x");
        assert_eq!(attr(&escaped).unwrap(), s);
        let mut out = Vec::new();
        escape_text("a<b>&\r", &mut out);
        assert_eq!(out, b"a&lt;b&gt;&amp;&#13;");
    }
}
