//! A small owned DOM for stanzas: an element has a local name, a namespace URI, attributes
//! and ordered child nodes. Serialisation (RFC 6120 §11 restricted XML, UTF-8) lives here too.

use std::fmt;

use crate::text::{escape_attr, escape_text};

/// The namespace bound to the `xml` prefix.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An XML element with its namespace resolved.
///
/// Attribute keys are the names as written for unprefixed attributes, `"xml:lang"` for
/// `xml:lang`, and `"{nsuri}local"` for any other namespaced attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    ns: String,
    attrs: Vec<(String, String)>,
    nodes: Vec<Node>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data, references already expanded.
    Text(String),
}

impl Element {
    /// A new empty element with local name `name` in namespace `ns`.
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            ns: ns.into(),
            attrs: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Builder: sets attribute `name` to `value`.
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Element {
        self.set_attr(name, value);
        self
    }

    /// Builder: appends a child element.
    pub fn with_child(mut self, child: Element) -> Element {
        self.push_child(child);
        self
    }

    /// Builder: appends character data.
    pub fn with_text(mut self, text: impl Into<String>) -> Element {
        self.push_text(text);
        self
    }

    /// The local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace URI.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Whether this element has local name `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The value of attribute `name` (see the type docs for how keys are spelled).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets attribute `name`, replacing any previous value.
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    /// Removes attribute `name`, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let i = self.attrs.iter().position(|(k, _)| k == name)?;
        Some(self.attrs.remove(i).1)
    }

    /// All attributes in document order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// All child nodes in document order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The element children only.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with local name `name` in namespace `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// Mutable access to the first child element with local name `name` in namespace `ns`.
    pub fn get_child_mut(&mut self, name: &str, ns: &str) -> Option<&mut Element> {
        self.nodes.iter_mut().find_map(|n| match n {
            Node::Element(e) if e.is(name, ns) => Some(e),
            _ => None,
        })
    }

    /// Appends a child element.
    pub fn push_child(&mut self, child: Element) {
        self.nodes.push(Node::Element(child));
    }

    /// Appends character data, merging with a directly preceding text node.
    pub fn push_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        if text.is_empty() {
            return;
        }
        match self.nodes.last_mut() {
            Some(Node::Text(prev)) => prev.push_str(&text),
            _ => self.nodes.push(Node::Text(text)),
        }
    }

    /// Appends character data produced by `fill`, merging with a preceding text node without
    /// an intermediate copy.
    pub(crate) fn append_text<E>(
        &mut self,
        fill: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(Node::Text(prev)) = self.nodes.last_mut() {
            return fill(prev);
        }
        let mut text = String::new();
        fill(&mut text)?;
        if !text.is_empty() {
            self.nodes.push(Node::Text(text));
        }
        Ok(())
    }

    /// Removes all child nodes.
    pub fn clear_children(&mut self) {
        self.nodes.clear();
    }

    /// The concatenation of the direct text children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            if let Node::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }

    /// Serialises into `out`. `parent_ns` is the default namespace in scope where the element
    /// is written (e.g. `jabber:client` for a stanza on a c2s stream): `xmlns` is written only
    /// when this element's namespace differs from it. Namespaced attributes other than `xml:*`
    /// get a generated prefix declared on the element.
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        out.push(b'<');
        out.extend_from_slice(self.name.as_bytes());
        if self.ns != parent_ns {
            out.extend_from_slice(b" xmlns=\"");
            escape_attr(&self.ns, out);
            out.push(b'"');
        }
        self.write_attrs(out);
        if self.nodes.is_empty() {
            out.extend_from_slice(b"/>");
            return;
        }
        out.push(b'>');
        for node in &self.nodes {
            match node {
                Node::Element(child) => child.write_to(out, &self.ns),
                Node::Text(t) => escape_text(t, out),
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(self.name.as_bytes());
        out.push(b'>');
    }

    fn write_attrs(&self, out: &mut Vec<u8>) {
        let mut generated = 0usize;
        for (key, value) in &self.attrs {
            out.push(b' ');
            let expanded = key.strip_prefix('{').and_then(|k| k.split_once('}'));
            match expanded {
                Some((XML_NS, local)) => {
                    out.extend_from_slice(b"xml:");
                    out.extend_from_slice(local.as_bytes());
                }
                Some((uri, local)) => {
                    let prefix = format!("ns{generated}");
                    generated += 1;
                    out.extend_from_slice(format!("xmlns:{prefix}=\"").as_bytes());
                    escape_attr(uri, out);
                    out.extend_from_slice(format!("\" {prefix}:{local}").as_bytes());
                }
                None => out.extend_from_slice(key.as_bytes()),
            }
            out.extend_from_slice(b"=\"");
            escape_attr(value, out);
            out.push(b'"');
        }
    }

    /// Serialises to a string; see [`Element::write_to`].
    pub fn to_xml(&self, parent_ns: &str) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out, parent_ns);
        // Only UTF-8 strings and ASCII markup were written, so this never takes the lossy path.
        match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Element {
        Element::new("message", "jabber:client")
            .with_attr("to", "bob@example.net")
            .with_attr("type", "chat")
            .with_child(Element::new("body", "jabber:client").with_text("hi & <bye> \"q\""))
            .with_child(Element::new(
                "active",
                "http://jabber.org/protocol/chatstates",
            ))
    }

    #[test]
    fn accessors() {
        let mut m = message();
        assert!(m.is("message", "jabber:client"));
        assert_eq!(m.attr("to"), Some("bob@example.net"));
        m.set_attr("to", "carol@example.net");
        assert_eq!(m.attr("to"), Some("carol@example.net"));
        assert_eq!(m.remove_attr("type").as_deref(), Some("chat"));
        assert_eq!(m.attrs().count(), 1);
        assert_eq!(m.children().count(), 2);
        let body = m.get_child("body", "jabber:client").unwrap();
        assert_eq!(body.text(), "hi & <bye> \"q\"");
        assert!(m.get_child("body", "other").is_none());
        m.get_child_mut("body", "jabber:client")
            .unwrap()
            .push_text("!");
        assert_eq!(
            m.get_child("body", "jabber:client").unwrap().nodes().len(),
            1
        );
        m.clear_children();
        assert!(m.nodes().is_empty());
    }

    #[test]
    fn serialises_with_inherited_namespace() {
        let xml = message().to_xml("jabber:client");
        assert_eq!(
            xml,
            "<message to=\"bob@example.net\" type=\"chat\"><body>hi &amp; &lt;bye&gt; \"q\"</body>\
             <active xmlns=\"http://jabber.org/protocol/chatstates\"/></message>"
        );
        assert!(
            message()
                .to_string()
                .starts_with("<message xmlns=\"jabber:client\"")
        );
    }

    #[test]
    fn serialises_namespaced_attributes() {
        let e = Element::new("x", "")
            .with_attr("xml:lang", "en")
            .with_attr(format!("{{{XML_NS}}}space"), "preserve")
            .with_attr("{urn:a}k", "v'");
        assert_eq!(
            e.to_xml(""),
            "<x xml:lang=\"en\" xml:space=\"preserve\" xmlns:ns0=\"urn:a\" ns0:k=\"v&apos;\"/>"
        );
    }

    #[test]
    fn empty_namespace_under_default_is_undeclared() {
        let e = Element::new("a", "urn:x").with_child(Element::new("b", ""));
        assert_eq!(e.to_xml("urn:x"), "<a><b xmlns=\"\"/></a>");
    }
}
