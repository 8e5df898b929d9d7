//! The application-server interface (ISO/IEC 14543-5-9 §7.3, §8.3): application servers act
//! for accounts that granted them, under those accounts' relationships and rights. The
//! interface itself is `hestia_router::appserver`; this declares its clauses.

use hestia_router::{Clause, Feature};

pub fn feature() -> Feature {
    let c = Clause::new;
    Feature {
        name: "appserver",
        clauses: vec![
            c(
                "ISO/IEC 14543-5-9",
                "§7.3",
                "Application server acting on behalf of a granting account (in process)",
            ),
            c(
                "ISO/IEC 14543-5-9",
                "§8.3",
                "Application-server grants: granted, checked on every act, revoked at once",
            ),
        ],
        ..Default::default()
    }
}
