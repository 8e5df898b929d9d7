//! Device properties and events (ISO/IEC 14543-5-8 §11.2): the description a device publishes
//! of itself (`describe`: properties with type, unit, range and access; events), and the checks
//! of a `get` or `set` against it. The IRSP checks every request before it reaches the device,
//! so a device only sees requests it described; the SDK uses the same model to answer them.
//!
//! Wire form, in `…:device` ([`crate::igrs::NS_DEVICE`]):
//!
//! ```xml
//! <describe xmlns='urn:igrs:ra:0:device'>
//!   <property name='on' type='boolean' access='read-write'/>
//!   <property name='brightness' type='integer' min='0' max='100' unit='%' access='read-write'/>
//!   <property name='mode' type='enum' access='read-write'><value>eco</value><value>comfort</value></property>
//!   <event name='motion'/>
//! </describe>
//! ```

use std::fmt;

use hestia_xml::Element;

use crate::igrs::{DeviceRefusal, NS_DEVICE};

/// Element names in `…:device`.
pub const DESCRIBE: &str = "describe";
pub const GET: &str = "get";
pub const SET: &str = "set";
pub const PROPERTY: &str = "property";
pub const EVENT: &str = "event";

/// Limits on a description, so a device cannot make the IRSP hold or check without bound.
pub const MAX_PROPERTIES: usize = 64;
pub const MAX_EVENTS: usize = 32;
pub const MAX_ENUM_VALUES: usize = 64;
pub const MAX_NAME_LEN: usize = 64;
/// The longest string value any property may carry, and the default for strings.
pub const MAX_STRING_LEN: usize = 1024;

/// Who may do what with a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::ReadWrite => "read-write",
        }
    }

    fn parse(s: &str) -> Option<Access> {
        [Access::Read, Access::Write, Access::ReadWrite]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn can_read(self) -> bool {
        self != Access::Write
    }

    pub fn can_write(self) -> bool {
        self != Access::Read
    }
}

/// A property's type with its range.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyType {
    Boolean,
    Integer { min: Option<i64>, max: Option<i64> },
    Number { min: Option<f64>, max: Option<f64> },
    String { max_length: usize },
    Enum { values: Vec<String> },
}

impl PropertyType {
    pub fn name(&self) -> &'static str {
        match self {
            PropertyType::Boolean => "boolean",
            PropertyType::Integer { .. } => "integer",
            PropertyType::Number { .. } => "number",
            PropertyType::String { .. } => "string",
            PropertyType::Enum { .. } => "enum",
        }
    }
}

/// A value of a property, in its wire form's meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Boolean(bool),
    Integer(i64),
    Number(f64),
    /// A string or an enum value.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// One property of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub kind: PropertyType,
    pub access: Access,
    /// Free text such as `%`, `°C`, `W`.
    pub unit: Option<String>,
    /// Setting it is unsafe without the person's confirmation (a door lock, an oven); the
    /// gateway asks before it sends the `set` (ISO/IEC 10192-4-3 §10).
    pub needs_confirmation: bool,
}

impl Property {
    pub fn new(name: &str, kind: PropertyType, access: Access) -> Property {
        Property {
            name: name.to_owned(),
            kind,
            access,
            unit: None,
            needs_confirmation: false,
        }
    }

    pub fn with_unit(mut self, unit: &str) -> Property {
        self.unit = Some(unit.to_owned());
        self
    }

    pub fn needing_confirmation(mut self) -> Property {
        self.needs_confirmation = true;
        self
    }

    /// Parses `raw` as this property's type and checks its range.
    pub fn check_value(&self, raw: &str) -> Result<Value, DeviceRefusal> {
        match &self.kind {
            PropertyType::Boolean => match raw {
                "true" | "1" => Ok(Value::Boolean(true)),
                "false" | "0" => Ok(Value::Boolean(false)),
                _ => Err(DeviceRefusal::WrongType),
            },
            PropertyType::Integer { min, max } => {
                let v: i64 = raw.trim().parse().map_err(|_| DeviceRefusal::WrongType)?;
                in_range(v, *min, *max).map(|()| Value::Integer(v))
            }
            PropertyType::Number { min, max } => {
                let v: f64 = raw.trim().parse().map_err(|_| DeviceRefusal::WrongType)?;
                if !v.is_finite() {
                    return Err(DeviceRefusal::WrongType);
                }
                in_range(v, *min, *max).map(|()| Value::Number(v))
            }
            PropertyType::String { max_length } => {
                if raw.chars().count() > *max_length {
                    return Err(DeviceRefusal::OutOfRange);
                }
                Ok(Value::Text(raw.to_owned()))
            }
            PropertyType::Enum { values } => values
                .iter()
                .any(|v| v == raw)
                .then(|| Value::Text(raw.to_owned()))
                .ok_or(DeviceRefusal::OutOfRange),
        }
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new(PROPERTY, NS_DEVICE)
            .with_attr("name", self.name.clone())
            .with_attr("type", self.kind.name())
            .with_attr("access", self.access.as_str());
        match &self.kind {
            PropertyType::Integer { min, max } => {
                el = with_opt(el, "min", *min);
                el = with_opt(el, "max", *max);
            }
            PropertyType::Number { min, max } => {
                el = with_opt(el, "min", *min);
                el = with_opt(el, "max", *max);
            }
            PropertyType::String { max_length } => {
                el.set_attr("max-length", max_length.to_string());
            }
            PropertyType::Enum { values } => {
                for v in values {
                    el.push_child(Element::new("value", NS_DEVICE).with_text(v.clone()));
                }
            }
            PropertyType::Boolean => {}
        }
        if let Some(unit) = &self.unit {
            el.set_attr("unit", unit.clone());
        }
        if self.needs_confirmation {
            el.set_attr("needs-confirmation", "true");
        }
        el
    }

    fn parse(el: &Element) -> Result<Property, DeviceRefusal> {
        let bad = DeviceRefusal::BadDescription;
        let name = el.attr("name").filter(|n| is_valid_name(n)).ok_or(bad)?;
        let access = match el.attr("access") {
            None => Access::Read,
            Some(a) => Access::parse(a).ok_or(bad)?,
        };
        let kind = match el.attr("type").ok_or(bad)? {
            "boolean" => PropertyType::Boolean,
            "integer" => PropertyType::Integer {
                min: opt_attr(el, "min")?,
                max: opt_attr(el, "max")?,
            },
            "number" => PropertyType::Number {
                min: opt_attr::<f64>(el, "min")?.filter(|v| v.is_finite()),
                max: opt_attr::<f64>(el, "max")?.filter(|v| v.is_finite()),
            },
            "string" => PropertyType::String {
                max_length: opt_attr(el, "max-length")?
                    .unwrap_or(MAX_STRING_LEN)
                    .min(MAX_STRING_LEN),
            },
            "enum" => PropertyType::Enum {
                values: enum_values(el)?,
            },
            _ => return Err(bad),
        };
        if !has_sane_range(&kind) {
            return Err(bad);
        }
        Ok(Property {
            name: name.to_owned(),
            kind,
            access,
            unit: el.attr("unit").map(|u| u.chars().take(16).collect()),
            needs_confirmation: el.attr("needs-confirmation") == Some("true"),
        })
    }
}

fn in_range<T: PartialOrd>(v: T, min: Option<T>, max: Option<T>) -> Result<(), DeviceRefusal> {
    let below = min.is_some_and(|m| v < m);
    let above = max.is_some_and(|m| v > m);
    if below || above {
        Err(DeviceRefusal::OutOfRange)
    } else {
        Ok(())
    }
}

fn has_sane_range(kind: &PropertyType) -> bool {
    match kind {
        PropertyType::Integer {
            min: Some(lo),
            max: Some(hi),
        } => lo <= hi,
        PropertyType::Number {
            min: Some(lo),
            max: Some(hi),
        } => lo <= hi,
        PropertyType::Enum { values } => !values.is_empty(),
        _ => true,
    }
}

fn with_opt<T: ToString>(el: Element, name: &str, v: Option<T>) -> Element {
    match v {
        Some(v) => el.with_attr(name, v.to_string()),
        None => el,
    }
}

fn opt_attr<T: std::str::FromStr>(el: &Element, name: &str) -> Result<Option<T>, DeviceRefusal> {
    el.attr(name)
        .map(|v| v.parse().map_err(|_| DeviceRefusal::BadDescription))
        .transpose()
}

fn enum_values(el: &Element) -> Result<Vec<String>, DeviceRefusal> {
    let values: Vec<String> = el
        .children()
        .filter(|c| c.is("value", NS_DEVICE))
        .map(Element::text)
        .collect();
    let too_long = values
        .iter()
        .any(|v| v.is_empty() || v.len() > MAX_NAME_LEN);
    if values.len() > MAX_ENUM_VALUES || too_long {
        return Err(DeviceRefusal::BadDescription);
    }
    Ok(values)
}

/// Property and event names: 1–64 of `a-z 0-9 _ -`, so they fit a URL path segment, an MQTT
/// topic level and a pubsub node name unescaped.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An event a device publishes (as a PEP node `…:device:event:<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub name: String,
}

/// Everything a device says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Description {
    pub properties: Vec<Property>,
    pub events: Vec<EventSpec>,
}

impl Description {
    pub fn new() -> Description {
        Description::default()
    }

    pub fn with_property(mut self, property: Property) -> Description {
        self.properties.push(property);
        self
    }

    pub fn with_event(mut self, name: &str) -> Description {
        self.events.push(EventSpec {
            name: name.to_owned(),
        });
        self
    }

    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn has_event(&self, name: &str) -> bool {
        self.events.iter().any(|e| e.name == name)
    }

    /// `<describe xmlns='…:device'>…</describe>`.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new(DESCRIBE, NS_DEVICE);
        for p in &self.properties {
            el.push_child(p.to_element());
        }
        for e in &self.events {
            el.push_child(Element::new(EVENT, NS_DEVICE).with_attr("name", e.name.clone()));
        }
        el
    }

    /// Parses and checks a `<describe/>` element: valid, unique names; at most
    /// [`MAX_PROPERTIES`] properties and [`MAX_EVENTS`] events.
    pub fn parse(el: &Element) -> Result<Description, DeviceRefusal> {
        let bad = DeviceRefusal::BadDescription;
        if !el.is(DESCRIBE, NS_DEVICE) {
            return Err(bad);
        }
        let mut d = Description::new();
        for child in el.children() {
            if child.is(PROPERTY, NS_DEVICE) {
                d.properties.push(Property::parse(child)?);
            } else if child.is(EVENT, NS_DEVICE) {
                let name = child.attr("name").filter(|n| is_valid_name(n)).ok_or(bad)?;
                d = d.with_event(name);
            }
        }
        let mut names: Vec<&str> = d.properties.iter().map(|p| p.name.as_str()).collect();
        let mut events: Vec<&str> = d.events.iter().map(|e| e.name.as_str()).collect();
        let (props, evs) = (names.len(), events.len());
        names.sort_unstable();
        names.dedup();
        events.sort_unstable();
        events.dedup();
        if props > MAX_PROPERTIES || evs > MAX_EVENTS || names.len() != props || events.len() != evs
        {
            return Err(bad);
        }
        Ok(d)
    }

    /// Checks a `<get/>` payload: every named property exists and is readable. An empty get
    /// asks for every readable property.
    pub fn check_get(&self, get: &Element) -> Result<(), DeviceRefusal> {
        for name in requested_names(get)? {
            let p = self.property(name).ok_or(DeviceRefusal::UnknownProperty)?;
            if !p.access.can_read() {
                return Err(DeviceRefusal::WriteOnly);
            }
        }
        Ok(())
    }

    /// Checks a `<set/>` payload: at least one property, each existing, writable, and given a
    /// value of its type in range.
    pub fn check_set(&self, set: &Element) -> Result<Vec<(String, Value)>, DeviceRefusal> {
        let assignments = assignments(set)?;
        if assignments.is_empty() {
            return Err(DeviceRefusal::BadRequest);
        }
        assignments
            .into_iter()
            .map(|(name, raw)| {
                let p = self.property(name).ok_or(DeviceRefusal::UnknownProperty)?;
                if !p.access.can_write() {
                    return Err(DeviceRefusal::ReadOnly);
                }
                Ok((name.to_owned(), p.check_value(raw)?))
            })
            .collect()
    }
}

/// The property names of a `<get/>`; a `value` there is a malformed request.
pub fn requested_names(get: &Element) -> Result<Vec<&str>, DeviceRefusal> {
    properties_of(get)
        .map(|p| match (p.attr("name"), p.attr("value")) {
            (Some(name), None) => Ok(name),
            _ => Err(DeviceRefusal::BadRequest),
        })
        .collect()
}

/// The `(name, value)` pairs of a `<set/>` or of a `<get/>` answer.
pub fn assignments(el: &Element) -> Result<Vec<(&str, &str)>, DeviceRefusal> {
    properties_of(el)
        .map(|p| match (p.attr("name"), p.attr("value")) {
            (Some(name), Some(value)) => Ok((name, value)),
            _ => Err(DeviceRefusal::BadRequest),
        })
        .collect()
}

fn properties_of(el: &Element) -> impl Iterator<Item = &Element> {
    el.children().filter(|c| c.is(PROPERTY, NS_DEVICE))
}

/// `<get xmlns='…:device'>` asking for `names` (all readable ones when empty).
pub fn get_request<'a>(names: impl IntoIterator<Item = &'a str>) -> Element {
    let mut el = Element::new(GET, NS_DEVICE);
    for name in names {
        el.push_child(Element::new(PROPERTY, NS_DEVICE).with_attr("name", name));
    }
    el
}

/// `<get/>` answer or `<set/>` request carrying `(name, value)` pairs under element `name`.
pub fn with_values<'a>(
    element: &str,
    values: impl IntoIterator<Item = (&'a str, String)>,
) -> Element {
    let mut el = Element::new(element, NS_DEVICE);
    for (name, value) in values {
        el.push_child(
            Element::new(PROPERTY, NS_DEVICE)
                .with_attr("name", name)
                .with_attr("value", value),
        );
    }
    el
}

/// The PEP node of a device event (XEP-0163 over XEP-0060).
pub fn event_node(event: &str) -> String {
    format!("{NS_DEVICE}:event:{event}")
}

/// The event name of a node made by [`event_node`].
pub fn event_of_node(node: &str) -> Option<&str> {
    node.strip_prefix(NS_DEVICE)?
        .strip_prefix(":event:")
        .filter(|e| is_valid_name(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lamp() -> Description {
        Description::new()
            .with_property(Property::new(
                "on",
                PropertyType::Boolean,
                Access::ReadWrite,
            ))
            .with_property(
                Property::new(
                    "brightness",
                    PropertyType::Integer {
                        min: Some(0),
                        max: Some(100),
                    },
                    Access::ReadWrite,
                )
                .with_unit("%"),
            )
            .with_property(Property::new(
                "power",
                PropertyType::Number {
                    min: None,
                    max: None,
                },
                Access::Read,
            ))
            .with_property(Property::new(
                "mode",
                PropertyType::Enum {
                    values: vec!["eco".into(), "comfort".into()],
                },
                Access::ReadWrite,
            ))
            .with_property(Property::new(
                "secret",
                PropertyType::String { max_length: 4 },
                Access::Write,
            ))
            .with_event("motion")
    }

    fn set(pairs: &[(&str, &str)]) -> Element {
        with_values(SET, pairs.iter().map(|(n, v)| (*n, (*v).to_owned())))
    }

    #[test]
    fn description_round_trips_through_xml() {
        let d = lamp();
        let xml = d.to_element().to_string();
        let back =
            Description::parse(&hestia_xml::parse_element(&xml, "").expect("xml")).expect("parses");
        assert_eq!(back, d);
    }

    #[test]
    fn set_is_checked_against_type_range_and_access() {
        let d = lamp();
        assert_eq!(
            d.check_set(&set(&[("on", "false"), ("brightness", "40")])),
            Ok(vec![
                ("on".into(), Value::Boolean(false)),
                ("brightness".into(), Value::Integer(40))
            ])
        );
        let cases = [
            (("brightness", "101"), DeviceRefusal::OutOfRange),
            (("brightness", "-1"), DeviceRefusal::OutOfRange),
            (("brightness", "bright"), DeviceRefusal::WrongType),
            (("on", "yes"), DeviceRefusal::WrongType),
            (("mode", "turbo"), DeviceRefusal::OutOfRange),
            (("secret", "12345"), DeviceRefusal::OutOfRange),
            (("power", "3"), DeviceRefusal::ReadOnly),
            (("colour", "red"), DeviceRefusal::UnknownProperty),
        ];
        for ((name, value), want) in cases {
            assert_eq!(
                d.check_set(&set(&[(name, value)])),
                Err(want),
                "{name}={value}"
            );
        }
        assert_eq!(d.check_set(&set(&[])), Err(DeviceRefusal::BadRequest));
    }

    #[test]
    fn get_refuses_write_only_and_unknown_properties() {
        let d = lamp();
        assert_eq!(d.check_get(&get_request(["on", "power"])), Ok(()));
        assert_eq!(d.check_get(&get_request([])), Ok(()));
        assert_eq!(
            d.check_get(&get_request(["secret"])),
            Err(DeviceRefusal::WriteOnly)
        );
        assert_eq!(
            d.check_get(&get_request(["nope"])),
            Err(DeviceRefusal::UnknownProperty)
        );
        assert_eq!(
            d.check_get(&set(&[("on", "true")])),
            Err(DeviceRefusal::BadRequest)
        );
    }

    #[test]
    fn malformed_descriptions_are_refused() {
        let bad = [
            "<describe xmlns='urn:igrs:ra:0:device'><property name='On' type='boolean'/></describe>",
            "<describe xmlns='urn:igrs:ra:0:device'><property name='a' type='colour'/></describe>",
            "<describe xmlns='urn:igrs:ra:0:device'><property name='a' type='integer' min='5' max='1'/></describe>",
            "<describe xmlns='urn:igrs:ra:0:device'><property name='a' type='enum'/></describe>",
            "<describe xmlns='urn:igrs:ra:0:device'><property name='a' type='boolean'/><property name='a' type='boolean'/></describe>",
            "<describe xmlns='urn:igrs:ra:0:device'><property name='a' type='boolean' access='all'/></describe>",
            "<describe xmlns='urn:igrs:ra:0:device'><event name='a b'/></describe>",
        ];
        for xml in bad {
            let el = hestia_xml::parse_element(xml, "").expect("xml");
            assert_eq!(
                Description::parse(&el),
                Err(DeviceRefusal::BadDescription),
                "{xml}"
            );
        }
        let many: String = (0..=MAX_PROPERTIES)
            .map(|i| format!("<property name='p{i}' type='boolean'/>"))
            .collect();
        let el = hestia_xml::parse_element(
            &format!("<describe xmlns='urn:igrs:ra:0:device'>{many}</describe>"),
            "",
        )
        .expect("xml");
        assert_eq!(Description::parse(&el), Err(DeviceRefusal::BadDescription));
    }

    #[test]
    fn event_nodes_round_trip() {
        assert_eq!(event_of_node(&event_node("motion")), Some("motion"));
        assert_eq!(event_of_node("urn:other:event:motion"), None);
    }
}
