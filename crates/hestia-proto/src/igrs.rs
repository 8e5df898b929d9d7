//! The IGRS RA wire vocabulary of ISO/IEC 14543-5-8 in one table: namespaces, element names and
//! status codes. The standard's body text is not available to us, so every value here is
//! Hestia's own placeholder (see `docs/protocol.md`); the official values drop in here without
//! touching the logic.

use hestia_xml::Element;

use crate::StanzaErrorCondition;

/// Root of the IGRS RA namespaces.
pub const NS_ROOT: &str = "urn:igrs:ra:0";
/// Registration extension of XEP-0077 (§7).
pub const NS_REGISTER: &str = "urn:igrs:ra:0:register";
/// IGRS detail child of stanza errors.
pub const NS_ERROR: &str = "urn:igrs:ra:0:error";
/// Device information (kind, type) in disco and presence, and device search (§13).
pub const NS_DEVICE: &str = "urn:igrs:ra:0:device";
/// Relationships (§10): the relation child of roster items and subscription requests, and the
/// IQs to the IRSP that bind by verification code, approve, reject, release and transfer.
pub const NS_RELATION: &str = "urn:igrs:ra:0:relation";
/// Device access rights configuration (§9).
pub const NS_RIGHTS: &str = "urn:igrs:ra:0:rights";
/// Verification code management (§10.5).
pub const NS_VCODE: &str = "urn:igrs:ra:0:vcode";
/// Server push payloads (§11.5).
pub const NS_PUSH: &str = "urn:igrs:ra:0:push";

/// Registration response status codes (14543-5-8 §7, 14543-5-9 §8.2), each carried in a
/// `<status code='N'/>` child of the result or of the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationStatus {
    Success,
    IdExists,
    MalformedField,
    IdViolatesAddressRules,
    PolicyFailed,
    NotAllowed,
    TooManyAttempts,
    InternalError,
}

use RegistrationStatus as R;

/// Status, numeric code, the stanza error that carries it (None for success), and meaning.
const REGISTRATION_STATUS: &[(RegistrationStatus, u8, Option<StanzaErrorCondition>, &str)] = &[
    (R::Success, 0, None, "success"),
    (
        R::IdExists,
        1,
        Some(StanzaErrorCondition::Conflict),
        "ID already exists",
    ),
    (
        R::MalformedField,
        2,
        Some(StanzaErrorCondition::BadRequest),
        "malformed or missing field",
    ),
    (
        R::IdViolatesAddressRules,
        3,
        Some(StanzaErrorCondition::JidMalformed),
        "ID violates address rules",
    ),
    (
        R::PolicyFailed,
        4,
        Some(StanzaErrorCondition::NotAcceptable),
        "password or verification code fails policy",
    ),
    (
        R::NotAllowed,
        5,
        Some(StanzaErrorCondition::NotAllowed),
        "registration not allowed",
    ),
    (
        R::TooManyAttempts,
        6,
        Some(StanzaErrorCondition::ResourceConstraint),
        "too many attempts",
    ),
    (
        R::InternalError,
        7,
        Some(StanzaErrorCondition::InternalServerError),
        "internal error",
    ),
];

impl RegistrationStatus {
    fn entry(self) -> (u8, Option<StanzaErrorCondition>, &'static str) {
        REGISTRATION_STATUS
            .iter()
            .find(|(s, ..)| *s == self)
            .map_or(
                (
                    7,
                    Some(StanzaErrorCondition::InternalServerError),
                    "internal error",
                ),
                |(_, c, e, m)| (*c, *e, m),
            )
    }

    pub fn code(self) -> u8 {
        self.entry().0
    }

    /// The RFC 6120 condition of the error that carries this status; None for success.
    pub fn condition(self) -> Option<StanzaErrorCondition> {
        self.entry().1
    }

    pub fn meaning(self) -> &'static str {
        self.entry().2
    }

    pub fn from_code(code: u8) -> Option<RegistrationStatus> {
        REGISTRATION_STATUS
            .iter()
            .find(|(_, c, ..)| *c == code)
            .map(|(s, ..)| *s)
    }

    /// `<status xmlns='…:register' code='N'/>`.
    pub fn to_element(self) -> Element {
        Element::new("status", NS_REGISTER).with_attr("code", self.code().to_string())
    }

    /// Finds a status child anywhere one level below `el` or in its `<error/>` child.
    pub fn find_in(stanza: &Element) -> Option<RegistrationStatus> {
        let direct = stanza
            .children()
            .flat_map(|c| std::iter::once(c).chain(c.children()));
        direct
            .filter(|c| c.is("status", NS_REGISTER))
            .find_map(|c| {
                c.attr("code")?
                    .parse()
                    .ok()
                    .and_then(RegistrationStatus::from_code)
            })
    }

    /// Every status, for docs and tests.
    pub fn all() -> impl Iterator<Item = RegistrationStatus> {
        REGISTRATION_STATUS.iter().map(|(s, ..)| *s)
    }
}

/// Declares a table of IGRS refusals: an enum whose variants each carry a stable numeric code,
/// the RFC 6120 condition of the error that carries it, and a meaning; the code travels in
/// `<detail xmlns='…:error' code='N'/>` beside the condition. One macro so every table of codes
/// round-trips the same way.
macro_rules! refusals {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = ($code:literal, $cond:ident, $meaning:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            pub fn code(self) -> u16 {
                match self { $( $name::$variant => $code, )+ }
            }

            pub fn condition(self) -> StanzaErrorCondition {
                match self { $( $name::$variant => StanzaErrorCondition::$cond, )+ }
            }

            pub fn meaning(self) -> &'static str {
                match self { $( $name::$variant => $meaning, )+ }
            }

            pub fn from_code(code: u16) -> Option<$name> {
                Self::ALL.iter().copied().find(|r| r.code() == code)
            }

            /// Every refusal, for docs and tests.
            pub fn all() -> impl Iterator<Item = $name> {
                Self::ALL.iter().copied()
            }

            /// The stanza error: condition, meaning as text, and the IGRS detail child.
            pub fn to_error(self) -> crate::StanzaError {
                crate::StanzaError::new(self.condition())
                    .with_text(self.meaning())
                    .with_app(
                        Element::new("detail", NS_ERROR).with_attr("code", self.code().to_string()),
                    )
            }

            /// The refusal named by a stanza error's IGRS detail, if any.
            pub fn of(error: &crate::StanzaError) -> Option<$name> {
                let app = error.app.as_ref().filter(|a| a.is("detail", NS_ERROR))?;
                $name::from_code(app.attr("code")?.parse().ok()?)
            }
        }

        impl From<$name> for crate::StanzaError {
            fn from(r: $name) -> Self {
                r.to_error()
            }
        }
    };
}

refusals! {
    /// Why the IRSP refused a relationship, rights or verification-code request.
    pub enum RelationRefusal {
        /// The verification code does not match.
        WrongCode = (101, NotAuthorized, "wrong verification code"),
        /// Too many wrong codes: attempts are locked out for a while.
        CodeLockedOut = (102, ResourceConstraint, "too many wrong codes; try again later"),
        /// There is no pending request to answer (never made, already answered, expired, or the
        /// requester's account is gone).
        NoPendingRequest = (103, ItemNotFound, "no pending request"),
        /// The requester's right on the device is too low for this operation.
        InsufficientRight = (104, Forbidden, "insufficient access right"),
        /// The owner's right cannot be changed or removed except by transfer or release.
        OwnerProtected = (105, NotAllowed, "the owner can only be changed by transfer or release"),
        /// The device admits no newcomers (policy `closed`), or not this way.
        PolicyRefuses = (106, NotAllowed, "the device policy does not admit this"),
        /// The named entity is not related to the requester (or does not exist: the same answer).
        NotRelated = (107, ItemNotFound, "not related"),
        /// A malformed or incomplete request.
        BadRequest = (108, BadRequest, "malformed request"),
    }
}

refusals! {
    /// Why a device property request (`describe`, `get`, `set` in `…:device`) was refused,
    /// by the IRSP checking it against the device's description or by the device itself.
    pub enum DeviceRefusal {
        /// The device describes no property of this name.
        UnknownProperty = (201, ItemNotFound, "no such property"),
        /// The value does not parse as the property's type.
        WrongType = (202, BadRequest, "value has the wrong type"),
        /// The value is outside the property's range, length or list of values.
        OutOfRange = (203, BadRequest, "value out of range"),
        /// The property can be read but not set.
        ReadOnly = (204, NotAllowed, "property is read-only"),
        /// The property can be set but not read.
        WriteOnly = (205, NotAllowed, "property is write-only"),
        /// A description that breaks the rules of `docs/protocol.md` (names, types, limits).
        BadDescription = (206, BadRequest, "malformed device description"),
        /// The device has not published a description.
        NoDescription = (207, ItemNotFound, "the device has not described itself"),
        /// The device describes no event of this name.
        UnknownEvent = (208, ItemNotFound, "no such event"),
        /// A malformed request (no property name, a value on a get, no value on a set).
        BadRequest = (209, BadRequest, "malformed property request"),
        /// Only a device describes itself or publishes its events.
        NotADevice = (210, NotAllowed, "only a device may do this"),
        /// The device could not carry the request out (hardware fault, busy).
        DeviceFailed = (211, InternalServerError, "the device could not carry this out"),
    }
}

/// The IGRS device fields that extend an XEP-0077 registration (element names inside
/// `<device xmlns='…:register'/>`).
pub mod device_field {
    pub const TYPE: &str = "type";
    pub const MODEL: &str = "model";
    pub const MANUFACTURER: &str = "manufacturer";
    pub const SERIAL: &str = "serial";
    pub const VERIFICATION_CODE: &str = "verification-code";
    pub const ALL: [&str; 5] = [TYPE, MODEL, MANUFACTURER, SERIAL, VERIFICATION_CODE];
}

/// Why the IRSP ends a session itself (§12 forced logout), told in a `<logout reason/>` push
/// just before the stream error, so a client can say why rather than just reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedLogout {
    /// Another login of the same device (or the same connection ID) took over.
    Replaced,
    AccountDeleted,
    AccountDisabled,
    /// An operator ended the session (admin API, `hestia session end`).
    EndedByOperator,
}

impl ForcedLogout {
    pub fn reason(self) -> &'static str {
        match self {
            ForcedLogout::Replaced => "replaced",
            ForcedLogout::AccountDeleted => "account-deleted",
            ForcedLogout::AccountDisabled => "account-disabled",
            ForcedLogout::EndedByOperator => "ended-by-operator",
        }
    }

    /// The stream error that follows the push (RFC 6120 §4.9.3).
    pub fn stream_error(self) -> crate::StreamError {
        match self {
            ForcedLogout::Replaced => crate::StreamError::Conflict,
            ForcedLogout::AccountDeleted | ForcedLogout::AccountDisabled => {
                crate::StreamError::NotAuthorized
            }
            ForcedLogout::EndedByOperator => crate::StreamError::PolicyViolation,
        }
    }

    /// The text of the stream error.
    pub fn text(self) -> &'static str {
        match self {
            ForcedLogout::Replaced => "replaced by a new connection",
            ForcedLogout::AccountDeleted => "account deleted",
            ForcedLogout::AccountDisabled => "account disabled",
            ForcedLogout::EndedByOperator => "session ended by an administrator",
        }
    }

    /// `<logout xmlns='…:push' reason='…'/>`, the payload of the push.
    pub fn to_element(self) -> Element {
        Element::new("logout", NS_PUSH).with_attr("reason", self.reason())
    }
}

/// What a device tells the IRSP about itself when it registers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRegistration {
    pub device_type: String,
    pub model: String,
    pub manufacturer: String,
    pub serial: String,
    /// The initial verification code (printed on the device, §10.5).
    pub verification_code: String,
}

impl DeviceRegistration {
    /// The `<device xmlns='…:register'/>` extension of an XEP-0077 registration.
    pub fn to_element(&self) -> Element {
        let f = |name: &str, v: &str| Element::new(name, NS_REGISTER).with_text(v);
        Element::new("device", NS_REGISTER)
            .with_child(f(device_field::TYPE, &self.device_type))
            .with_child(f(device_field::MODEL, &self.model))
            .with_child(f(device_field::MANUFACTURER, &self.manufacturer))
            .with_child(f(device_field::SERIAL, &self.serial))
            .with_child(f(device_field::VERIFICATION_CODE, &self.verification_code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_matches_design() {
        let want = [
            (0, None),
            (1, Some("conflict")),
            (2, Some("bad-request")),
            (3, Some("jid-malformed")),
            (4, Some("not-acceptable")),
            (5, Some("not-allowed")),
            (6, Some("resource-constraint")),
            (7, Some("internal-server-error")),
        ];
        for (code, cond) in want {
            let s = RegistrationStatus::from_code(code).expect("known code");
            assert_eq!(s.code(), code);
            assert_eq!(s.condition().map(|c| c.name()), cond);
        }
        assert!(RegistrationStatus::from_code(8).is_none());
        assert_eq!(RegistrationStatus::all().count(), 8);
    }

    #[test]
    fn relation_refusals_round_trip_through_a_stanza_error() {
        for r in RelationRefusal::all() {
            let error = r.to_error();
            let back = crate::StanzaError::from_stanza(
                &Element::new("iq", crate::ns::CLIENT).with_child(error.to_element()),
            )
            .expect("parses");
            assert_eq!(RelationRefusal::of(&back), Some(r));
            assert_eq!(back.condition, r.condition());
        }
    }

    #[test]
    fn status_found_in_result_and_error() {
        let result = Element::new("iq", crate::ns::CLIENT).with_child(
            Element::new("query", crate::ns::REGISTER)
                .with_child(RegistrationStatus::Success.to_element()),
        );
        assert_eq!(
            RegistrationStatus::find_in(&result),
            Some(RegistrationStatus::Success)
        );
        let err = crate::StanzaError::new(StanzaErrorCondition::Conflict)
            .with_app(RegistrationStatus::IdExists.to_element());
        let stanza = Element::new("iq", crate::ns::CLIENT).with_child(err.to_element());
        assert_eq!(
            RegistrationStatus::find_in(&stanza),
            Some(RegistrationStatus::IdExists)
        );
    }
}
