//! Point-to-multipoint (14543-5-8 §11.7.2): bare-JID fan-out and XEP-0033 address lists. The
//! behaviour is routing (`hestia_router::multicast`); this declares the clauses and the disco
//! feature that tells clients the IRSP expands address lists.

use hestia_proto::ns;
use hestia_router::{Clause, Feature};

pub fn feature() -> Feature {
    let c = Clause::new;
    Feature {
        name: "multicast",
        clauses: vec![
            c(
                "ISO/IEC 14543-5-8",
                "§11.7.2",
                "Point-to-multipoint: bare-JID fan-out and explicit address lists",
            ),
            c(
                "XEP-0033",
                "§4",
                "Extended stanza addressing: to/cc/bcc expanded, bcc hidden, delivered marked",
            ),
        ],
        disco_features: vec![ns::ADDRESS],
        ..Default::default()
    }
}
