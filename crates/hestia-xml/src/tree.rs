//! Namespace scoping (Namespaces in XML 1.0) and building stanza trees from tag and text
//! tokens with an explicit stack, so nesting depth never turns into recursion.

use std::mem;

use crate::XmlError;
use crate::element::{Element, XML_NS};
use crate::lexer::{QName, RawAttr, StartTag, parse_end_tag, parse_start_tag};
use crate::parser::StreamHeader;
use crate::text::unescape_into;

/// The streams namespace of RFC 6120 §4.8.1.
pub const STREAM_NS: &str = "http://etherx.jabber.org/streams";

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// In-scope namespace declarations, innermost last; prefix "" is the default namespace.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    decls: Vec<(String, String)>,
}

impl Scope {
    /// The URI bound to `prefix`; the default namespace is "" unless declared.
    pub fn resolve(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        let found = self.decls.iter().rev().find(|(p, _)| p == prefix);
        match found {
            Some((_, uri)) => Some(uri),
            None if prefix.is_empty() => Some(""),
            None => None,
        }
    }

    /// Declares `prefix`, rejecting the bindings Namespaces in XML 1.0 forbids.
    pub fn declare(&mut self, prefix: &str, uri: String) -> Result<(), XmlError> {
        let is_xml_uri = uri == XML_NS;
        let is_bad = prefix == "xmlns"
            || (prefix == "xml") != is_xml_uri
            || uri == XMLNS_NS
            || (!prefix.is_empty() && uri.is_empty());
        if is_bad {
            return Err(XmlError::nwf("illegal namespace declaration"));
        }
        self.decls.push((prefix.to_owned(), uri));
        Ok(())
    }

    pub fn mark(&self) -> usize {
        self.decls.len()
    }

    pub fn truncate(&mut self, mark: usize) {
        self.decls.truncate(mark);
    }

    pub fn clear(&mut self) {
        self.decls.clear();
    }
}

/// An element whose end tag has not been seen yet.
#[derive(Debug)]
struct Open {
    el: Element,
    /// The prefix as written, to match the end tag.
    prefix: String,
    /// Scope length before this element's declarations.
    mark: usize,
}

/// Builds one stanza at a time from tokens.
#[derive(Debug, Default)]
pub(crate) struct TreeBuilder {
    pub scope: Scope,
    stack: Vec<Open>,
    /// Scratch space reused across start tags to avoid a per-tag allocation.
    attrs: Vec<RawAttr>,
}

/// Whether `name` is a namespace declaration; returns the prefix it declares.
fn declared_prefix<'a>(tok: &'a str, name: &QName) -> Option<&'a str> {
    match name.prefix(tok) {
        "" if name.local(tok) == "xmlns" => Some(""),
        "xmlns" => Some(name.local(tok)),
        _ => None,
    }
}

/// The attribute key convention of [`Element`]: see its docs.
fn attr_key(scope: &Scope, tok: &str, name: &QName) -> Result<String, XmlError> {
    let (prefix, local) = (name.prefix(tok), name.local(tok));
    if prefix.is_empty() || (prefix == "xml" && local == "lang") {
        return Ok(tok[name.range.clone()].to_owned());
    }
    let uri = scope.resolve(prefix).ok_or(XmlError::InvalidNamespace)?;
    Ok(format!("{{{uri}}}{local}"))
}

impl TreeBuilder {
    /// Drops any partial stanza and all declarations.
    pub fn clear(&mut self) {
        self.stack.clear();
        self.scope.clear();
    }

    /// Parses the stream root start tag, declaring its namespaces for the whole stream.
    /// Returns the header and the root's prefix and local name (to match `</stream:stream>`).
    pub fn open_stream(
        &mut self,
        tok: &str,
        max_attrs: usize,
    ) -> Result<(StreamHeader, String, String), XmlError> {
        self.clear();
        let tag = parse_start_tag(tok, &mut self.attrs, max_attrs)?;
        if tag.is_empty {
            return Err(XmlError::nwf("empty stream root element"));
        }
        self.declare_all(tok)?;
        let (prefix, local) = (tag.name.prefix(tok), tag.name.local(tok));
        let is_stream_ns_ok = local == "stream" && self.scope.resolve(prefix) == Some(STREAM_NS);
        let mut attrs = Vec::with_capacity(self.attrs.len());
        for attr in self.attrs.drain(..) {
            if declared_prefix(tok, &attr.name).is_none() {
                attrs.push((attr_key(&self.scope, tok, &attr.name)?, attr.value));
            }
        }
        let default_ns = self.scope.resolve("").unwrap_or_default().to_owned();
        let header = StreamHeader {
            attrs,
            default_ns,
            is_stream_ns_ok,
        };
        Ok((header, prefix.to_owned(), local.to_owned()))
    }

    /// Handles a start tag inside (or opening) a stanza; returns the stanza if it is complete.
    pub fn start_element(
        &mut self,
        tok: &str,
        max_attrs: usize,
        max_depth: usize,
    ) -> Result<Option<Element>, XmlError> {
        if self.stack.len() >= max_depth {
            return Err(XmlError::PolicyViolation("stanza nested too deeply"));
        }
        let tag = parse_start_tag(tok, &mut self.attrs, max_attrs)?;
        let mark = self.scope.mark();
        self.declare_all(tok)?;
        let el = self.resolve_element(tok, &tag)?;
        if tag.is_empty {
            self.scope.truncate(mark);
            return Ok(self.close(el));
        }
        let prefix = tag.name.prefix(tok).to_owned();
        self.stack.push(Open { el, prefix, mark });
        Ok(None)
    }

    fn declare_all(&mut self, tok: &str) -> Result<(), XmlError> {
        for attr in &mut self.attrs {
            if let Some(prefix) = declared_prefix(tok, &attr.name) {
                self.scope.declare(prefix, mem::take(&mut attr.value))?;
            }
        }
        Ok(())
    }

    fn resolve_element(&mut self, tok: &str, tag: &StartTag) -> Result<Element, XmlError> {
        let ns = self
            .scope
            .resolve(tag.name.prefix(tok))
            .ok_or(XmlError::InvalidNamespace)?;
        let mut el = Element::new(tag.name.local(tok), ns);
        for attr in self.attrs.drain(..) {
            if declared_prefix(tok, &attr.name).is_some() {
                continue;
            }
            let key = attr_key(&self.scope, tok, &attr.name)?;
            // Unprefixed duplicates were caught by the lexer; prefixed ones can collide only
            // after resolution (`a:x` and `b:x` with a and b bound to one URI).
            if key.starts_with('{') && el.attr(&key).is_some() {
                return Err(XmlError::nwf("duplicate attribute"));
            }
            el.set_attr(key, attr.value);
        }
        Ok(el)
    }

    /// Handles an end tag; returns the stanza if this closed it.
    pub fn end_element(&mut self, tok: &str) -> Result<Option<Element>, XmlError> {
        let name = parse_end_tag(tok)?;
        let open = self
            .stack
            .pop()
            .ok_or_else(|| XmlError::nwf("unexpected end tag"))?;
        if open.prefix != name.prefix(tok) || open.el.name() != name.local(tok) {
            return Err(XmlError::nwf("mismatched end tag"));
        }
        self.scope.truncate(open.mark);
        Ok(self.close(open.el))
    }

    fn close(&mut self, el: Element) -> Option<Element> {
        match self.stack.last_mut() {
            Some(parent) => {
                parent.el.push_child(el);
                None
            }
            None => Some(el),
        }
    }

    fn top(&mut self) -> Result<&mut Element, XmlError> {
        match self.stack.last_mut() {
            Some(open) => Ok(&mut open.el),
            None => Err(XmlError::nwf("character data outside an element")),
        }
    }

    /// Appends raw character data (references unexpanded) to the innermost open element.
    pub fn text(&mut self, raw: &str) -> Result<(), XmlError> {
        self.top()?
            .append_text(|out| unescape_into(raw, false, out))
    }

    /// Appends the content of a CDATA section to the innermost open element.
    pub fn cdata(&mut self, content: &str) -> Result<(), XmlError> {
        let is_bad = content
            .bytes()
            .any(|c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'));
        if is_bad {
            return Err(XmlError::nwf("control character"));
        }
        self.top()?.append_text(|out| {
            if content.contains('\r') {
                out.push_str(&content.replace("\r\n", "\n").replace('\r', "\n"));
            } else {
                out.push_str(content);
            }
            Ok(())
        })
    }
}
