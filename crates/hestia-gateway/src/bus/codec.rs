//! The body of a HES-CLDPE request event, read into the one operation model: the same
//! operations, fields and checks as the HTTP binding, named by an `operation` field instead
//! of a method and a path.

use std::time::Duration;

use serde::Deserialize;

use crate::events::{self, Filter, SubscribeRequest};
use crate::http::{expires_in, seconds_within};
use crate::model::{CuiError, DeviceId, Operation, PropertyName, SetOptions, value_from_json};
use crate::oauth::Scope;
use crate::operations;

/// A request event's body. Sharing and verification codes are not here: only the person,
/// with their own sign-in, does those (the HTTP binding's `acting_in_person`).
#[derive(Debug, Deserialize)]
#[serde(
    tag = "operation",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum RequestBody {
    // Braces, so that a field it does not take is refused like any other.
    ListDevices {},
    GetProperty {
        device_id: String,
        property: String,
    },
    SetProperty {
        device_id: String,
        property: String,
        value: serde_json::Value,
        /// Seconds to wait for the device before a deferred result (0: at once).
        wait: Option<u64>,
        /// Seconds a command for an offline device may wait for it.
        queue_for: Option<u64>,
        #[serde(default)]
        confirmed: bool,
    },
    GetOperation {
        operation_id: String,
    },
    Subscribe {
        device_id: String,
        event: String,
        filter: Option<serde_json::Value>,
        expires_in: Option<u64>,
    },
    Renew {
        subscription_id: String,
        expires_in: Option<u64>,
    },
    Cancel {
        subscription_id: String,
    },
    ListSubscriptions {},
    History {
        device_id: String,
        property: String,
    },
}

impl RequestBody {
    /// Reads a request event's body.
    pub fn parse(body: serde_json::Value) -> Result<RequestBody, CuiError> {
        serde_json::from_value(body)
            .map_err(|e| CuiError::bad_request(format!("request body: {e}")))
    }

    /// The OAuth scope a token needs for it, as on the HTTP route of the same operation.
    pub fn scope(&self) -> Scope {
        match self {
            RequestBody::ListDevices {}
            | RequestBody::GetProperty { .. }
            | RequestBody::History { .. } => Scope::DevicesRead,
            RequestBody::SetProperty { .. } | RequestBody::GetOperation { .. } => {
                Scope::DevicesWrite
            }
            RequestBody::Subscribe { .. }
            | RequestBody::Renew { .. }
            | RequestBody::Cancel { .. }
            | RequestBody::ListSubscriptions {} => Scope::Events,
        }
    }

    /// The operation `user` asks for; `grant` is the OAuth grant of the asking token.
    pub fn into_operation(
        self,
        user: String,
        grant: Option<String>,
    ) -> Result<Operation, CuiError> {
        let op = match self {
            RequestBody::ListDevices {} => Operation::ListDevices { user },
            RequestBody::GetProperty {
                device_id,
                property,
            } => Operation::GetProperty {
                user,
                device: DeviceId::parse(&device_id)?,
                property: PropertyName::parse(&property)?,
            },
            RequestBody::SetProperty {
                device_id,
                property,
                value,
                wait,
                queue_for,
                confirmed,
            } => Operation::SetProperty {
                user,
                device: DeviceId::parse(&device_id)?,
                property: PropertyName::parse(&property)?,
                value: value_from_json(&value)?,
                options: SetOptions {
                    wait: wait.map_or(operations::DEFAULT_WAIT, |s| {
                        Duration::from_secs(s).min(operations::MAX_WAIT)
                    }),
                    queue_for: queue_for
                        .map(|s| seconds_within("queueFor", s, operations::MAX_QUEUE_FOR))
                        .transpose()?,
                    confirmed,
                },
            },
            RequestBody::GetOperation { operation_id } => Operation::GetOperation {
                user,
                operation: operation_id,
            },
            RequestBody::Subscribe {
                device_id,
                event,
                filter,
                expires_in: seconds,
            } => {
                events::check_event_name(&event)?;
                let request = SubscribeRequest {
                    device: DeviceId::parse(&device_id)?,
                    event,
                    filter: Filter::parse(filter.as_ref())?,
                    expires_in: expires_in(seconds)?,
                    // Notifications go to the user's event streams; webhooks are HTTP's.
                    callback: None,
                    grant,
                };
                Operation::Subscribe { user, request }
            }
            RequestBody::Renew {
                subscription_id,
                expires_in: seconds,
            } => Operation::Renew {
                user,
                subscription: subscription_id,
                expires_in: expires_in(seconds)?,
            },
            RequestBody::Cancel { subscription_id } => Operation::Cancel {
                user,
                subscription: subscription_id,
            },
            RequestBody::ListSubscriptions {} => Operation::ListSubscriptions { user },
            RequestBody::History {
                device_id,
                property,
            } => Operation::History {
                user,
                device: DeviceId::parse(&device_id)?,
                property: PropertyName::parse(&property)?,
            },
        };
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_read_into_operations_with_the_http_checks() {
        let set = RequestBody::parse(json!({
            "operation": "setProperty", "deviceId": "igrs:lamp-1", "property": "on",
            "value": true, "wait": 60
        }))
        .expect("valid");
        assert_eq!(set.scope(), Scope::DevicesWrite);
        let Operation::SetProperty { options, .. } =
            set.into_operation("alice".into(), None).expect("valid")
        else {
            panic!("not a set");
        };
        assert_eq!(options.wait, operations::MAX_WAIT, "the wait is capped");

        let unknown = RequestBody::parse(json!({"operation": "reboot"})).expect_err("unknown");
        assert_eq!(unknown.code, crate::model::ErrorCode::BadRequest);
        let extra = RequestBody::parse(json!({"operation": "listDevices", "user": "bob"}))
            .expect_err("a request never names another user in its body");
        assert_eq!(extra.code, crate::model::ErrorCode::BadRequest);
        let slash = RequestBody::parse(
            json!({"operation": "getProperty", "deviceId": "igrs/x", "property": "on"}),
        )
        .expect("well-formed")
        .into_operation("alice".into(), None)
        .expect_err("device ids never hold a /");
        assert_eq!(slash.code, crate::model::ErrorCode::BadRequest);
    }
}
