//! The IRSP's protocol features, one module per clause area, each returning its handlers and
//! disco features as data. [`all`] is the one place they are registered.

pub mod appserver;
pub mod bytestreams;
pub mod device;
pub mod disco;
pub mod multicast;
pub mod offline;
pub mod ping;
pub mod registration;
pub mod relationships;
pub mod time;
pub mod version;

use std::sync::Arc;

use hestia_router::Feature;

/// Options of every feature, one section each in the config file.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    pub registration: registration::RegistrationConfig,
    pub relationships: relationships::RelationshipsConfig,
}

/// Every feature of the IRSP. Adding a feature = adding one line here. `proxy` is the running
/// bytestream proxy (None when disabled, or when only the clause lists are wanted).
pub fn all(cfg: &FeaturesConfig, proxy: Option<Arc<bytestreams::Proxy>>) -> Vec<Feature> {
    vec![
        registration::feature(&cfg.registration),
        relationships::feature(
            &cfg.relationships,
            cfg.registration.min_verification_code_length,
        ),
        device::feature(),
        appserver::feature(),
        multicast::feature(),
        offline::feature(),
        disco::feature(),
        ping::feature(),
        version::feature(),
        time::feature(),
        bytestreams::feature(proxy),
    ]
}
