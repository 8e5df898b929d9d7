//! The records of relationships (14543-5-8 §10), device access rights (§9) and stored pushes:
//! roster items with their presence subscription state (RFC 6121), the IGRS relationship kind,
//! rights per (user, device), and each device's policy for newcomers.

use serde::{Deserialize, Serialize};

/// Generates `as_str` / `parse` for a fieldless enum stored as text.
macro_rules! stored_text {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The stored (and wire) text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),*
                }
            }

            /// The value named by its text, if any.
            pub fn parse(text: &str) -> Option<$ty> {
                match text {
                    $($text => Some($ty::$variant),)*
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                $ty::parse(&text).ok_or_else(|| format!("unknown {} {text:?}", stringify!($ty)))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The presence subscription state of a roster item (RFC 6121 §2.1.2.5), from the roster owner's side:
/// `to` = the owner sees the contact's presence, `from` = the contact sees the owner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    /// Neither sees the other's presence.
    #[default]
    None,
    /// The owner sees the contact's presence.
    To,
    /// The contact sees the owner's presence.
    From,
    /// Both see each other's presence.
    Both,
}

stored_text!(Subscription { None => "none", To => "to", From => "from", Both => "both" });

impl Subscription {
    /// The owner receives the contact's presence.
    pub fn has_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// The contact receives the owner's presence.
    pub fn has_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }

    /// The state with the `to` and `from` halves given.
    pub fn from_halves(to: bool, from: bool) -> Subscription {
        match (to, from) {
            (false, false) => Subscription::None,
            (true, false) => Subscription::To,
            (false, true) => Subscription::From,
            (true, true) => Subscription::Both,
        }
    }
}

/// The IGRS kind of a relationship (14543-5-8 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelationKind {
    /// user → device, the user owns the device.
    Owner,
    /// user → device, a user the owner (or an admin) shared the device with.
    Shared,
    /// user ↔ user.
    Friend,
    /// device ↔ device.
    Peer,
}

stored_text!(RelationKind { Owner => "owner", Shared => "shared", Friend => "friend", Peer => "peer" });

/// A user's access right on a device (14543-5-8 §9); each includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessRight {
    /// Read properties, see presence, receive events.
    View,
    /// Also change properties (`set`).
    Control,
    /// Also change other users' rights (below admin) and the device policy.
    Admin,
    /// Everything, including granting admin; exactly one per device at most.
    Owner,
}

stored_text!(AccessRight { View => "view", Control => "control", Admin => "admin", Owner => "owner" });

/// How a device admits newcomers (14543-5-8 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DevicePolicy {
    /// Anyone may relate without approval and gets `view`.
    Open,
    /// The owner (or an admin) approves each request; a verification code alone does not suffice once the
    /// device has an owner.
    Approval,
    /// A valid verification code relates at once; requests without one go to the owner for approval.
    #[default]
    Code,
    /// No new relationships.
    Closed,
}

stored_text!(DevicePolicy { Open => "open", Approval => "approval", Code => "code", Closed => "closed" });

/// An inbound subscription request waiting for an answer (RFC 6121 §3.1.3: stored while the contact is offline,
/// redelivered until answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// The request as received (the `<presence type='subscribe'/>` XML, `from` stamped), redelivered verbatim.
    pub stanza: String,
    /// The right asked for, when the request is for a device.
    pub requested_right: Option<AccessRight>,
    /// When it arrived, unix seconds (requests expire).
    pub received_at: i64,
}

/// One item of an account's roster. Only accounts of this IRSP can be contacts (there are no server-to-server
/// links), so a contact is named by its localpart; it need not exist (RFC 6121 lets a roster name anyone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RosterItem {
    /// The contact's localpart.
    pub contact: String,
    /// The owner's name for the contact.
    pub name: Option<String>,
    /// The owner's groups for the contact, in the order given.
    pub groups: Vec<String>,
    /// The subscription state.
    pub subscription: Subscription,
    /// The owner asked to see the contact's presence and has no answer yet (`ask='subscribe'`).
    pub ask: bool,
    /// The contact asked to see the owner's presence and has no answer yet.
    pub pending_in: Option<PendingRequest>,
    /// The owner approved the contact's subscription before it was asked for (RFC 6121 §3.4).
    pub preapproved: bool,
    /// The IGRS relationship kind, once established.
    pub relation: Option<RelationKind>,
}

/// One change of [`crate::Store::apply_relationship_changes`]; a batch is applied in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationshipChange {
    /// Inserts or replaces the owner's item for `item.contact`.
    PutItem {
        /// The roster owner's localpart; must be an account.
        owner: String,
        /// The new item.
        item: RosterItem,
    },
    /// Removes the owner's item for `contact` (no error if there is none).
    RemoveItem {
        /// The roster owner's localpart.
        owner: String,
        /// The contact whose item goes.
        contact: String,
    },
    /// Grants `user` the `right` on `device`, replacing any earlier right.
    SetRight {
        /// The device's localpart; must be an account.
        device: String,
        /// The user's localpart; must be an account.
        user: String,
        /// The right granted.
        right: AccessRight,
    },
    /// Revokes whatever right `user` holds on `device` (no error if none).
    RemoveRight {
        /// The device's localpart.
        device: String,
        /// The user's localpart.
        user: String,
    },
}

/// A device's access control list: its policy and every grant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceAccess {
    /// The policy for newcomers.
    pub policy: DevicePolicy,
    /// `(user localpart, right)` ordered by user.
    pub grants: Vec<(String, AccessRight)>,
}

/// A stanza stored for an account while it was offline, delivered when it next connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStanza {
    /// The stanza as it was to be delivered (XML text).
    pub stanza: String,
    /// When it was stored, unix seconds.
    pub stored_at: i64,
}
