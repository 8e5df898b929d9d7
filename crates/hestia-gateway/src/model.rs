//! The one operation model of the HES gateway (ISO/IEC 10192-4-3 §6.2 HES-CLIP, §6.3
//! HES-CLDPE): typed operations and their results, device ids and the stable error codes.
//! The HTTP binding ([`crate::http`]) and, later, the event-bus binding both build an
//! [`Operation`] and get an [`Outcome`] or a [`CuiError`]; neither knows the other.

use std::fmt;
use std::time::Duration;

use axum::http::StatusCode;
use hestia_proto::device::{Property, PropertyType, Value};
use serde::Serialize;

use crate::events::{SubscribeRequest, SubscriptionView};
use crate::operations::OperationView;
use crate::values::Point;

/// The longest cluster name of a [`DeviceId`]: it is a DNS-label-like name chosen by config.
const MAX_CLUSTER_LEN: usize = 32;
/// The longest local id of a [`DeviceId`]: an IGRS localpart is at most 1023 bytes.
const MAX_LOCAL_LEN: usize = 1023;

/// A device as the gateway names it: `cluster:local-id`, never containing `/` so it is one
/// URL path segment and one event-bus topic level.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId {
    cluster: String,
    local: String,
}

impl DeviceId {
    /// A device id from its parts, checked as [`DeviceId::parse`] checks them.
    pub fn new(cluster: &str, local: &str) -> Result<DeviceId, CuiError> {
        let is_cluster_ok = !cluster.is_empty()
            && cluster.len() <= MAX_CLUSTER_LEN
            && cluster
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let is_local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && !local.chars().any(|c| c == '/' || c.is_control());
        if !is_cluster_ok || !is_local_ok {
            return Err(CuiError::bad_request(
                "a device id is cluster:local-id (cluster of a-z, 0-9, -; no /)",
            ));
        }
        Ok(DeviceId {
            cluster: cluster.to_owned(),
            local: local.to_owned(),
        })
    }

    /// Parses `cluster:local-id`, splitting at the first `:` (a local id may hold more).
    pub fn parse(s: &str) -> Result<DeviceId, CuiError> {
        match s.split_once(':') {
            Some((cluster, local)) => DeviceId::new(cluster, local),
            None => Err(CuiError::bad_request("a device id is cluster:local-id")),
        }
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    pub fn local(&self) -> &str {
        &self.local
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.cluster, self.local)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A property name: 1–64 of `a-z 0-9 _ -` (the IGRS rule, so it fits a path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PropertyName(String);

impl PropertyName {
    pub fn parse(s: &str) -> Result<PropertyName, CuiError> {
        if hestia_proto::device::is_valid_name(s) {
            Ok(PropertyName(s.to_owned()))
        } else {
            Err(CuiError::bad_request(
                "a property name is 1-64 of a-z, 0-9, _ and -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One operation of HES-CLIP, on behalf of one signed-in user.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Retrieval of all devices of a user.
    ListDevices { user: String },
    /// Retrieval of a device property.
    GetProperty {
        user: String,
        device: DeviceId,
        property: PropertyName,
    },
    /// Update of a device property.
    SetProperty {
        user: String,
        device: DeviceId,
        property: PropertyName,
        value: Value,
        options: SetOptions,
    },
    /// A deferred or queued update, looked at later.
    GetOperation { user: String, operation: String },
    /// Subscription to an event of a device.
    Subscribe {
        user: String,
        request: SubscribeRequest,
    },
    /// Renewal of a subscription for `expires_in` from now.
    Renew {
        user: String,
        subscription: String,
        expires_in: Duration,
    },
    /// Cancellation of a subscription.
    Cancel { user: String, subscription: String },
    /// The user's live subscriptions.
    ListSubscriptions { user: String },
    /// The recent history of a numeric property, as the gateway heard it.
    History {
        user: String,
        device: DeviceId,
        property: PropertyName,
    },
    /// Sharing a device and resetting its verification code ([`crate::sharing`]).
    Sharing(crate::sharing::SharingOp),
}

/// How long the caller of an update waits, and whether a command for an offline device waits
/// for it instead of failing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetOptions {
    pub wait: Duration,
    pub queue_for: Option<Duration>,
    /// The person confirmed an update of a property that needs confirmation (an unsafe one).
    pub confirmed: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            wait: crate::operations::DEFAULT_WAIT,
            queue_for: None,
            confirmed: false,
        }
    }
}

/// What an [`Operation`] produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Devices(Vec<DeviceView>),
    /// The value read, or the value now set.
    Property(PropertyValue),
    /// The update was not finished when the caller stopped waiting, or was queued.
    Accepted(OperationView),
    Operation(OperationView),
    /// The subscription made or renewed.
    Subscription(SubscriptionView),
    Subscriptions(Vec<SubscriptionView>),
    Cancelled,
    History {
        device: DeviceId,
        property: String,
        points: Vec<Point>,
    },
    Sharing(crate::sharing::SharingOutcome),
}

impl Outcome {
    /// The outcome as both bindings carry it: the HTTP response body and the body of a
    /// HES-CLDPE response event. Sharing answers are the HTTP binding's alone (None).
    pub fn to_json(&self) -> Option<serde_json::Value> {
        use serde_json::{json, to_value};
        let value = match self {
            Outcome::Devices(devices) => json!({ "devices": devices }),
            Outcome::Property(p) => to_value(p).ok()?,
            Outcome::Accepted(view) | Outcome::Operation(view) => to_value(view).ok()?,
            Outcome::Subscription(view) => to_value(view).ok()?,
            Outcome::Subscriptions(views) => json!({ "subscriptions": views }),
            Outcome::Cancelled => json!({}),
            Outcome::History {
                device,
                property,
                points,
            } => json!({ "deviceId": device, "property": property, "points": points }),
            Outcome::Sharing(_) => return None,
        };
        Some(value)
    }
}

/// One device in a user's device list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub id: DeviceId,
    pub cluster: String,
    /// The device type its cluster gives (IGRS: the registered device type).
    #[serde(rename = "type")]
    pub device_type: String,
    pub name: String,
    pub online: bool,
    /// The user's access right on the device (`view`, `control`, `admin`, `owner`).
    pub right: String,
    pub properties: Vec<PropertyView>,
    /// The events it described, beside the `online` and `property` every device has.
    pub events: Vec<String>,
}

/// A described property: type, range, unit, access.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What a `string` holds when it is more than text (an MQTT cluster's Homie `color`,
    /// `date-time`, `duration`, `json`); absent for plain text and the other types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    pub access: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    pub needs_confirmation: bool,
}

impl From<&Property> for PropertyView {
    fn from(p: &Property) -> PropertyView {
        let (mut min, mut max, mut max_length, mut values) = (None, None, None, Vec::new());
        match &p.kind {
            PropertyType::Integer { min: lo, max: hi } => {
                min = lo.map(serde_json::Number::from);
                max = hi.map(serde_json::Number::from);
            }
            PropertyType::Number { min: lo, max: hi } => {
                min = lo.and_then(serde_json::Number::from_f64);
                max = hi.and_then(serde_json::Number::from_f64);
            }
            PropertyType::String { max_length: n } => max_length = Some(*n),
            PropertyType::Enum { values: v } => values = v.clone(),
            PropertyType::Boolean => {}
        }
        PropertyView {
            name: p.name.clone(),
            kind: p.kind.name(),
            format: None,
            access: p.access.as_str(),
            unit: p.unit.clone(),
            min,
            max,
            max_length,
            values,
            needs_confirmation: p.needs_confirmation,
        }
    }
}

/// A property's value as the CUI shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyValue {
    pub device_id: DeviceId,
    pub property: String,
    #[serde(serialize_with = "serialize_value")]
    pub value: Value,
}

fn serialize_value<S: serde::Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    value_to_json(v).serialize(s)
}

/// A value as JSON: booleans and numbers as themselves, strings and enum values as strings.
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        Value::Integer(i) => serde_json::Value::from(*i),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Text(t) => serde_json::Value::String(t.clone()),
    }
}

/// A JSON scalar as a value; null, arrays and objects are no property's value.
pub fn value_from_json(v: &serde_json::Value) -> Result<Value, CuiError> {
    match v {
        serde_json::Value::Bool(b) => Ok(Value::Boolean(*b)),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Value::Integer(i)),
            (None, Some(f)) => Ok(Value::Number(f)),
            (None, None) => Err(CuiError::bad_request("number out of range")),
        },
        serde_json::Value::String(s) => Ok(Value::Text(s.clone())),
        _ => Err(CuiError::bad_request(
            "value must be a boolean, number or string",
        )),
    }
}

/// Whether `value` has the JSON type of `kind` (an integer is also a number); the range is
/// the cluster's to check, so the one rule of the IRSP decides it.
pub fn is_of_type(value: &Value, kind: &PropertyType) -> bool {
    matches!(
        (kind, value),
        (PropertyType::Boolean, Value::Boolean(_))
            | (PropertyType::Integer { .. }, Value::Integer(_))
            | (
                PropertyType::Number { .. },
                Value::Number(_) | Value::Integer(_)
            )
            | (
                PropertyType::String { .. } | PropertyType::Enum { .. },
                Value::Text(_)
            )
    )
}

/// A value in the wire form of a property: the device's description decides how to read it;
/// what does not parse as its type is shown as the text the device sent.
pub fn value_from_wire(raw: &str, kind: Option<&PropertyType>) -> Value {
    let text = || Value::Text(raw.to_owned());
    match kind {
        Some(PropertyType::Boolean) => match raw {
            "true" | "1" => Value::Boolean(true),
            "false" | "0" => Value::Boolean(false),
            _ => text(),
        },
        Some(PropertyType::Integer { .. }) => {
            raw.trim().parse().map_or_else(|_| text(), Value::Integer)
        }
        Some(PropertyType::Number { .. }) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or_else(text, Value::Number),
        _ => text(),
    }
}

/// The stable error codes of the CUI (`../shared/DESIGN.md` §4), each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    ReadOnly,
    OutOfRange,
    ClusterUnreachable,
    Timeout,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    ConfirmationRequired,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::ReadOnly,
        ErrorCode::OutOfRange,
        ErrorCode::ClusterUnreachable,
        ErrorCode::Timeout,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::ConfirmationRequired,
        ErrorCode::Internal,
    ];

    /// The code of its snake_case name (a peer gateway's error keeps its code).
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::ClusterUnreachable => "cluster_unreachable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ConfirmationRequired => "confirmation_required",
            ErrorCode::Internal => "internal",
        }
    }

    /// One status per code, so a client may branch on either.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            // The PUT names a resource that exists but refuses that method.
            ErrorCode::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::OutOfRange => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ClusterUnreachable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            // RFC 6585: the request must be made again with the precondition (`confirmed`).
            ErrorCode::ConfirmationRequired => StatusCode::PRECONDITION_REQUIRED,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation failed: a stable code and a message for people. An internal failure
/// carries its cause for the log only; the message stays generic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CuiError {
    pub code: ErrorCode,
    pub message: String,
    cause: Option<String>,
}

impl CuiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CuiError {
        CuiError {
            code,
            message: message.into(),
            cause: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> CuiError {
        CuiError::new(ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> CuiError {
        CuiError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> CuiError {
        CuiError::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> CuiError {
        CuiError::new(ErrorCode::NotFound, message)
    }

    /// An internal failure: `cause` is logged at the boundary, never sent.
    pub fn internal(cause: impl fmt::Display) -> CuiError {
        CuiError {
            code: ErrorCode::Internal,
            message: "internal error".into(),
            cause: Some(cause.to_string()),
        }
    }

    /// The cause of an internal failure, for the log.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// `{code, message, messageId}`, as every binding writes an error; an internal cause is
    /// logged here, the one place, with the id that ties it to what the client saw.
    pub fn to_json(&self) -> serde_json::Value {
        let message_id = hestia_proto::stanza::new_id();
        if let Some(cause) = self.cause() {
            tracing::error!(message_id = %message_id, cause, "CUI operation failed");
        }
        serde_json::json!({ "code": self.code, "message": self.message, "messageId": message_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_parse_and_refuse_slashes() {
        let id = DeviceId::parse("igrs:lamp-1").expect("valid");
        assert_eq!((id.cluster(), id.local()), ("igrs", "lamp-1"));
        assert_eq!(id.to_string(), "igrs:lamp-1");
        assert_eq!(
            DeviceId::parse("mqtt:home:kitchen").expect("valid").local(),
            "home:kitchen"
        );
        for bad in [
            "",
            "lamp",
            ":lamp",
            "igrs:",
            "igrs:a/b",
            "IGRS:lamp",
            "ig rs:lamp",
            "igrs:a\nb",
        ] {
            let e = DeviceId::parse(bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad}");
        }
    }

    #[test]
    fn every_code_has_its_own_status_and_snake_case_name() {
        let mut statuses: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.status().as_u16()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        assert_eq!(statuses.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
    }

    #[test]
    fn json_values_match_property_types() {
        let int = PropertyType::Integer {
            min: Some(0),
            max: Some(100),
        };
        let num = PropertyType::Number {
            min: None,
            max: None,
        };
        let cases = [
            (serde_json::json!(true), &PropertyType::Boolean, true),
            (serde_json::json!("true"), &PropertyType::Boolean, false),
            (serde_json::json!(40), &int, true),
            (serde_json::json!(40.5), &int, false),
            (serde_json::json!("40"), &int, false),
            (serde_json::json!(40), &num, true),
            (serde_json::json!(21.5), &num, true),
        ];
        for (json, kind, want) in cases {
            let v = value_from_json(&json).expect("scalar");
            assert_eq!(is_of_type(&v, kind), want, "{json} as {}", kind.name());
        }
        for bad in [
            serde_json::json!(null),
            serde_json::json!([1]),
            serde_json::json!({}),
        ] {
            assert!(value_from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wire_values_read_by_their_described_type() {
        let int = PropertyType::Integer {
            min: None,
            max: None,
        };
        assert_eq!(
            value_from_wire("true", Some(&PropertyType::Boolean)),
            Value::Boolean(true)
        );
        assert_eq!(value_from_wire("42", Some(&int)), Value::Integer(42));
        assert_eq!(value_from_wire("x", Some(&int)), Value::Text("x".into()));
        assert_eq!(value_from_wire("42", None), Value::Text("42".into()));
    }
}
