//! The Homie convention v5 (homieiot.github.io, "Homie 5.0"), as far as a controller needs it:
//! a device's `$state`, its `$description` document (nodes and their properties with datatype,
//! format, settable, retained, unit), and property payloads read and written by their
//! datatype. Parse apart from serving: nothing here touches the network.
//!
//! A Homie property `<node>/<property>` is the CUI property `<node>_<property>`: Homie ids are
//! `a-z 0-9 -` only, so the `_` between them is unambiguous.

use std::collections::BTreeMap;

use hestia_proto::device::{Value, is_valid_name};
use serde::Deserialize;

use super::formats::{check_color, is_datetime, is_duration};
use crate::model::{CuiError, ErrorCode, PropertyView};

/// The convention's major version, the second topic level (`<root>/5/<device>/…`).
pub const VERSION_LEVEL: &str = "5";

/// Whether `id` is a Homie topic id: `^[a-z0-9]+(-[a-z0-9]+)*$`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A device's `$state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    Init,
    Ready,
    Disconnected,
    Sleeping,
    Lost,
}

impl DeviceState {
    pub fn parse(payload: &str) -> Option<DeviceState> {
        Some(match payload {
            "init" => DeviceState::Init,
            "ready" => DeviceState::Ready,
            "disconnected" => DeviceState::Disconnected,
            "sleeping" => DeviceState::Sleeping,
            "lost" => DeviceState::Lost,
            _ => return None,
        })
    }

    /// Only a `ready` device takes commands; a sleeping one gets its queued commands when it
    /// wakes.
    pub fn is_online(self) -> bool {
        self == DeviceState::Ready
    }
}

/// A Homie datatype with what its `format` says.
#[derive(Debug, Clone, PartialEq)]
pub enum Datatype {
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    String,
    Enum(Vec<String>),
    /// The color formats allowed (`rgb`, `hsv`, `xyz`).
    Color(Vec<String>),
    Datetime,
    Duration,
    Json,
}

/// One property of a node, as described.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub node: String,
    pub id: String,
    pub datatype: Datatype,
    pub is_settable: bool,
    pub is_retained: bool,
    pub unit: Option<String>,
}

/// A device's `$description`: its name, type and properties by CUI property name.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub name: Option<String>,
    pub device_type: Option<String>,
    pub properties: BTreeMap<String, Property>,
}

#[derive(Deserialize)]
struct RawDescription {
    name: Option<String>,
    #[serde(rename = "type")]
    device_type: Option<String>,
    #[serde(default)]
    nodes: BTreeMap<String, RawNode>,
}

#[derive(Deserialize)]
struct RawNode {
    #[serde(default)]
    properties: BTreeMap<String, RawProperty>,
}

#[derive(Deserialize)]
struct RawProperty {
    datatype: String,
    format: Option<String>,
    #[serde(default)]
    settable: bool,
    #[serde(default = "yes")]
    retained: bool,
    unit: Option<String>,
}

fn yes() -> bool {
    true
}

impl Description {
    /// Parses a `$description` payload. A node or property whose id or format breaks the
    /// convention is left out (the rest of the device stays usable); a document that is not a
    /// description at all is an error.
    pub fn parse(payload: &[u8]) -> Result<Description, String> {
        let raw: RawDescription =
            serde_json::from_slice(payload).map_err(|e| format!("not a description: {e}"))?;
        let mut properties = BTreeMap::new();
        for (node, n) in raw.nodes {
            for (id, p) in n.properties {
                let name = format!("{node}_{id}");
                let Some(datatype) =
                    (is_valid_id(&node) && is_valid_id(&id) && is_valid_name(&name))
                        .then(|| Datatype::parse(&p.datatype, p.format.as_deref()))
                        .flatten()
                else {
                    tracing::debug!(node, id, "a Homie property the gateway cannot use");
                    continue;
                };
                let property = Property {
                    node: node.clone(),
                    id,
                    datatype,
                    is_settable: p.settable,
                    is_retained: p.retained,
                    unit: p.unit.filter(|u| !u.is_empty()),
                };
                properties.insert(name, property);
            }
        }
        Ok(Description {
            name: raw.name.filter(|n| !n.is_empty()),
            device_type: raw.device_type,
            properties,
        })
    }

    /// The property whose value `<node>/<id>` carries, with its CUI name.
    pub fn by_topic(&self, node: &str, id: &str) -> Option<(&str, &Property)> {
        self.properties
            .iter()
            .find(|(_, p)| p.node == node && p.id == id)
            .map(|(name, p)| (name.as_str(), p))
    }
}

impl Datatype {
    /// A datatype and its format; None when the format breaks the convention.
    fn parse(datatype: &str, format: Option<&str>) -> Option<Datatype> {
        let format = format.filter(|f| !f.is_empty());
        Some(match datatype {
            "integer" => {
                let (min, max) = range(format, |s| s.parse::<i64>().ok())?;
                Datatype::Integer { min, max }
            }
            "float" => {
                let (min, max) =
                    range(format, |s| s.parse::<f64>().ok().filter(|f| f.is_finite()))?;
                Datatype::Float { min, max }
            }
            "boolean" => Datatype::Boolean,
            "string" => Datatype::String,
            "enum" => Datatype::Enum(list(format?)?),
            "color" => {
                let formats = list(format?)?;
                if !formats
                    .iter()
                    .all(|f| ["rgb", "hsv", "xyz"].contains(&f.as_str()))
                {
                    return None;
                }
                Datatype::Color(formats)
            }
            "datetime" => Datatype::Datetime,
            "duration" => Datatype::Duration,
            "json" => Datatype::Json,
            _ => return None,
        })
    }
}

/// `min:max[:step]`, each part optional; the step is the device's to round to.
fn range<T: PartialOrd + Copy>(
    format: Option<&str>,
    number: impl Fn(&str) -> Option<T>,
) -> Option<(Option<T>, Option<T>)> {
    let Some(format) = format else {
        return Some((None, None));
    };
    let mut parts = format.split(':');
    let mut bound = || match parts.next().map(str::trim) {
        None | Some("") => Some(None),
        Some(s) => number(s).map(Some),
    };
    let (min, max) = (bound()?, bound()?);
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return None;
    }
    Some((min, max))
}

/// A comma-separated list with no empty or repeated entry.
fn list(format: &str) -> Option<Vec<String>> {
    let items: Vec<String> = format.split(',').map(|s| s.trim().to_owned()).collect();
    let mut sorted = items.clone();
    sorted.sort();
    sorted.dedup();
    (items.iter().all(|i| !i.is_empty()) && sorted.len() == items.len()).then_some(items)
}

impl Property {
    /// The property as the CUI's device list shows it.
    pub fn view(&self, name: &str) -> PropertyView {
        let (kind, format, values) = match &self.datatype {
            Datatype::Integer { .. } => ("integer", None, Vec::new()),
            Datatype::Float { .. } => ("number", None, Vec::new()),
            Datatype::Boolean => ("boolean", None, Vec::new()),
            Datatype::String => ("string", None, Vec::new()),
            Datatype::Enum(values) => ("enum", None, values.clone()),
            Datatype::Color(formats) => ("string", Some("color"), formats.clone()),
            Datatype::Datetime => ("string", Some("date-time"), Vec::new()),
            Datatype::Duration => ("string", Some("duration"), Vec::new()),
            Datatype::Json => ("string", Some("json"), Vec::new()),
        };
        let (min, max) = match &self.datatype {
            Datatype::Integer { min, max } => (
                min.map(serde_json::Number::from),
                max.map(serde_json::Number::from),
            ),
            Datatype::Float { min, max } => (
                min.and_then(serde_json::Number::from_f64),
                max.and_then(serde_json::Number::from_f64),
            ),
            _ => (None, None),
        };
        PropertyView {
            name: name.to_owned(),
            kind,
            format,
            access: if self.is_settable {
                "read-write"
            } else {
                "read"
            },
            unit: self.unit.clone(),
            min,
            max,
            max_length: None,
            values,
            needs_confirmation: false,
        }
    }

    /// A payload the device published, as a value; None when it breaks the datatype.
    pub fn read(&self, payload: &str) -> Option<Value> {
        match &self.datatype {
            Datatype::Integer { .. } => payload.trim().parse().ok().map(Value::Integer),
            Datatype::Float { .. } => payload
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::Number),
            Datatype::Boolean => match payload {
                "true" => Some(Value::Boolean(true)),
                "false" => Some(Value::Boolean(false)),
                _ => None,
            },
            _ => Some(Value::Text(payload.to_owned())),
        }
    }

    /// The `/set` payload of `value`, checked against the datatype: a value of the wrong kind
    /// or form is `bad_request`, one outside the format's range or list `out_of_range` (the
    /// codes of IGRS 202 and 203).
    pub fn payload(&self, value: &Value) -> Result<String, CuiError> {
        let wrong = || {
            CuiError::bad_request(format!(
                "{}/{} is a Homie {} property",
                self.node,
                self.id,
                self.datatype.name()
            ))
        };
        let outside = |what: &str| CuiError::new(ErrorCode::OutOfRange, what.to_owned());
        match (&self.datatype, value) {
            (Datatype::Integer { min, max }, Value::Integer(i)) => {
                within(*i, *min, *max).ok_or_else(|| outside("the value is out of range"))?;
                Ok(i.to_string())
            }
            (Datatype::Float { min, max }, Value::Integer(_) | Value::Number(_)) => {
                let f = match value {
                    Value::Integer(i) => *i as f64,
                    Value::Number(f) => *f,
                    _ => return Err(wrong()),
                };
                within(f, *min, *max).ok_or_else(|| outside("the value is out of range"))?;
                Ok(value.to_string())
            }
            (Datatype::Boolean, Value::Boolean(b)) => Ok(b.to_string()),
            (Datatype::String, Value::Text(t)) => Ok(t.clone()),
            (Datatype::Enum(values), Value::Text(t)) => values
                .contains(t)
                .then(|| t.clone())
                .ok_or_else(|| outside("the value is not one of the property's values")),
            (Datatype::Color(formats), Value::Text(t)) => {
                check_color(t, formats).map(|()| t.clone())
            }
            (Datatype::Datetime, Value::Text(t)) if is_datetime(t) => Ok(t.clone()),
            (Datatype::Duration, Value::Text(t)) if is_duration(t) => Ok(t.clone()),
            (Datatype::Json, Value::Text(t))
                if serde_json::from_str::<serde_json::Value>(t)
                    .is_ok_and(|j| j.is_object() || j.is_array()) =>
            {
                Ok(t.clone())
            }
            _ => Err(wrong()),
        }
    }
}

impl Datatype {
    pub fn name(&self) -> &'static str {
        match self {
            Datatype::Integer { .. } => "integer",
            Datatype::Float { .. } => "float",
            Datatype::Boolean => "boolean",
            Datatype::String => "string",
            Datatype::Enum(_) => "enum",
            Datatype::Color(_) => "color",
            Datatype::Datetime => "datetime",
            Datatype::Duration => "duration",
            Datatype::Json => "json",
        }
    }
}

fn within<T: PartialOrd>(v: T, min: Option<T>, max: Option<T>) -> Option<()> {
    (min.is_none_or(|lo| v >= lo) && max.is_none_or(|hi| v <= hi)).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMP: &str = r#"{
        "homie": "5.0", "version": 3, "name": "Kitchen lamp", "type": "light",
        "nodes": {
            "light": {"name": "Light", "properties": {
                "on": {"datatype": "boolean", "settable": true},
                "brightness": {"datatype": "integer", "format": "0:100:5", "unit": "%", "settable": true},
                "color": {"datatype": "color", "format": "rgb,hsv", "settable": true},
                "power": {"datatype": "float", "format": ":2500", "unit": "W"},
                "mode": {"datatype": "enum", "format": "eco,comfort"},
                "bad-enum": {"datatype": "enum"},
                "Bad": {"datatype": "string"},
                "odd": {"datatype": "vector"},
                "range": {"datatype": "integer", "format": "9:1"},
                "button": {"datatype": "enum", "format": "press", "settable": true, "retained": false}
            }},
            "$meta": {"properties": {"x": {"datatype": "string"}}}
        }
    }"#;

    #[test]
    fn a_description_keeps_what_the_convention_allows() {
        let d = Description::parse(LAMP.as_bytes()).expect("description");
        assert_eq!(d.name.as_deref(), Some("Kitchen lamp"));
        assert_eq!(d.device_type.as_deref(), Some("light"));
        let names: Vec<&str> = d.properties.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "light_brightness",
                "light_button",
                "light_color",
                "light_mode",
                "light_on",
                "light_power"
            ]
        );
        let b = &d.properties["light_brightness"];
        assert_eq!(
            b.datatype,
            Datatype::Integer {
                min: Some(0),
                max: Some(100)
            }
        );
        assert!(b.is_settable && b.is_retained);
        assert_eq!(
            d.properties["light_power"].datatype,
            Datatype::Float {
                min: None,
                max: Some(2500.0)
            }
        );
        assert!(
            !d.properties["light_mode"].is_settable,
            "settable defaults to false"
        );
        assert!(!d.properties["light_button"].is_retained);
        assert_eq!(d.by_topic("light", "on").map(|(n, _)| n), Some("light_on"));
        assert!(Description::parse(b"[1]").is_err());
        assert!(
            Description::parse(b"{}")
                .expect("empty")
                .properties
                .is_empty()
        );
    }

    #[test]
    fn views_map_datatypes_onto_the_cui_types() {
        let d = Description::parse(LAMP.as_bytes()).expect("description");
        let json = |n: &str| serde_json::to_value(d.properties[n].view(n)).expect("json");
        assert_eq!(
            json("light_brightness"),
            serde_json::json!({"name": "light_brightness", "type": "integer", "access": "read-write",
                "unit": "%", "min": 0, "max": 100, "needsConfirmation": false})
        );
        assert_eq!(
            json("light_color"),
            serde_json::json!({"name": "light_color", "type": "string", "format": "color",
                "access": "read-write", "values": ["rgb", "hsv"], "needsConfirmation": false})
        );
        assert_eq!(json("light_power")["access"], "read");
        assert_eq!(json("light_power")["type"], "number");
    }

    fn property(datatype: Datatype) -> Property {
        Property {
            node: "n".into(),
            id: "p".into(),
            datatype,
            is_settable: true,
            is_retained: true,
            unit: None,
        }
    }

    #[test]
    fn set_values_are_checked_against_the_datatype() {
        let int = property(Datatype::Integer {
            min: Some(0),
            max: Some(100),
        });
        let float = property(Datatype::Float {
            min: Some(5.0),
            max: Some(30.0),
        });
        let enumeration = property(Datatype::Enum(vec!["eco".into(), "comfort".into()]));
        let color = property(Datatype::Color(vec!["rgb".into()]));
        let text = |s: &str| Value::Text(s.into());
        let ok = [
            (&int, Value::Integer(40), "40"),
            (&float, Value::Number(21.5), "21.5"),
            (&float, Value::Integer(21), "21"),
            (&enumeration, text("eco"), "eco"),
            (&color, text("rgb,255,0,10"), "rgb,255,0,10"),
        ];
        for (p, v, want) in ok {
            assert_eq!(p.payload(&v).expect("valid").as_str(), want);
        }
        let boolean = property(Datatype::Boolean);
        assert_eq!(
            boolean.payload(&Value::Boolean(false)).expect("bool"),
            "false"
        );
        let refused = [
            (&int, Value::Integer(101), ErrorCode::OutOfRange),
            (&int, Value::Number(4.5), ErrorCode::BadRequest),
            (&int, text("40"), ErrorCode::BadRequest),
            (&float, Value::Number(4.0), ErrorCode::OutOfRange),
            (&boolean, text("true"), ErrorCode::BadRequest),
            (&enumeration, text("away"), ErrorCode::OutOfRange),
            (&color, text("hsv,10,10,10"), ErrorCode::OutOfRange),
            (&color, text("rgb,256,0,0"), ErrorCode::OutOfRange),
            (&color, text("rgb,1,2"), ErrorCode::BadRequest),
            (&color, text("red"), ErrorCode::BadRequest),
        ];
        for (p, v, code) in refused {
            assert_eq!(p.payload(&v).expect_err("refused").code, code, "{v:?}");
        }
        let json = property(Datatype::Json);
        assert!(json.payload(&text(r#"{"a":1}"#)).is_ok());
        assert!(json.payload(&text("1")).is_err());
        let when = property(Datatype::Datetime);
        assert!(when.payload(&text("2024-01-02T03:04:05Z")).is_ok());
        assert!(when.payload(&text("yesterday")).is_err());
    }

    #[test]
    fn published_payloads_read_by_datatype() {
        let int = property(Datatype::Integer {
            min: None,
            max: None,
        });
        assert_eq!(int.read("42"), Some(Value::Integer(42)));
        assert_eq!(int.read("4.2"), None);
        let boolean = property(Datatype::Boolean);
        assert_eq!(boolean.read("true"), Some(Value::Boolean(true)));
        assert_eq!(
            boolean.read("1"),
            None,
            "Homie booleans are true/false only"
        );
        let float = property(Datatype::Float {
            min: None,
            max: None,
        });
        assert_eq!(float.read("1e3"), Some(Value::Number(1000.0)));
        assert_eq!(float.read("NaN"), None);
    }

    #[test]
    fn ids_and_states() {
        for ok in ["lamp", "lamp-1", "a1-b2"] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", "Lamp", "-a", "a-", "a--b", "$state", "a_b", "a/b"] {
            assert!(!is_valid_id(bad), "{bad}");
        }
        assert_eq!(DeviceState::parse("ready"), Some(DeviceState::Ready));
        assert!(DeviceState::Ready.is_online());
        assert!(!DeviceState::parse("lost").expect("lost").is_online());
        assert_eq!(DeviceState::parse("alert"), None);
    }
}
