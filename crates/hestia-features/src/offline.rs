//! Offline storage (14543-5-8 §11.7.3, XEP-0160): what the router does with a message for an
//! account that has no available connection (`hestia_router::route`, `push::store_offline`)
//! and how stored stanzas come back at the next initial presence (`hestia_router::presence`).
//! The behaviour lives in the router because every message passes there; this module declares
//! it to disco and to the conformance table.

use hestia_proto::ns;
use hestia_router::{Clause, Feature};

pub fn feature() -> Feature {
    let c = Clause::new;
    Feature {
        name: "offline",
        clauses: vec![
            c(
                "ISO/IEC 14543-5-8",
                "§11.7.3",
                "Instant transmission and offline storage (quota, expiry, in order)",
            ),
            c(
                "RFC 6121",
                "§8.5.2.2.1",
                "Message to a bare JID with no available resource: stored",
            ),
            c(
                "XEP-0160",
                "§3",
                "Offline messages delivered at the next presence",
            ),
            c("XEP-0203", "§3", "Delay stamp on stored stanzas"),
            c(
                "XEP-0334",
                "§4",
                "no-store and no-permanent-store hints honoured",
            ),
        ],
        disco_features: vec![ns::OFFLINE],
        ..Default::default()
    }
}
