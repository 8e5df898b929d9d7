//! The IRSP's routing core (ISO/IEC 14543-5-8 §11 message exchange between connected
//! entities): the session directory, the feature registry and the decision of where each
//! stanza goes. `docs/routing.md` is the decision table this crate implements.
//!
//! Dependency direction: codec/proto/store ← router ← session, features ← server.

pub mod appserver;
pub mod components;
pub mod directory;
pub mod events;
pub mod feature;
pub mod feed;
pub mod irsp;
pub mod journal;
pub mod multicast;
pub mod presence;
pub mod properties;
pub mod push;
pub mod relations;
pub mod route;
pub mod throttle;
pub mod undelivered;

pub use directory::{Directory, Outbound, SessionHandle, SessionInfo};
pub use feature::{
    Clause, Feature, Identity, IqHandler, IqKey, IqRequest, IqResult, Registry, RegistryError,
    Service, SubscriptionHandler,
};
pub use irsp::Irsp;
